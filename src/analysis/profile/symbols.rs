// SPDX-License-Identifier: GPL-2.0-or-later
//! Block addresses to guest functions: the ELF symbols of the modules a
//! trace saw mapped for execution, placed where their executable segment
//! was mapped.

use std::collections::HashMap;

use super::{FuncId, Function};

/// The largest module file read for its symbols.
const MAX_MODULE_BYTES: u64 = 1 << 30;

/// A file mapped for execution at [start, end): its virtual address `v`
/// is at `v + bias`.
#[derive(Clone, Debug)]
struct Mapping {
    start: u64,
    end: u64,
    bias: u64,
    module: usize,
}

/// A function symbol, its range in the file's virtual addresses.
#[derive(Clone, Debug)]
struct Symbol {
    start: u64,
    end: u64,
    name: String,
    /// ppc64 ELFv2: the local entry point's offset from `start` (calls
    /// within a module skip the TOC set-up), else 0.
    local_entry: u64,
}

impl Symbol {
    /// Whether `v` is where a call enters the function.
    fn is_entry(&self, v: u64) -> bool {
        v == self.start || (self.local_entry != 0 && v == self.start + self.local_entry)
    }
}

/// The ELFv2 local entry offset in a ppc64 symbol's `st_other` (bits 5-7:
/// 0 and 1 mean none, n means 2^n / 4 instructions).
fn ppc64_local_entry(st_other: u8) -> u64 {
    ((1u64 << (st_other >> 5 & 7)) >> 2) << 2
}

/// An ELF file's symbols and the segments that place file offsets at
/// virtual addresses.
#[derive(Debug, Default)]
struct Module {
    path: String,
    /// (virtual address, size in memory) of each executable PT_LOAD.
    exec_segments: Vec<(u64, u64)>,
    /// Sorted by start.
    symbols: Vec<Symbol>,
    /// Function ids of the symbols (filled in on first use).
    ids: Vec<Option<FuncId>>,
    /// Function ids of `module+offset` names, by offset.
    unnamed: HashMap<u64, FuncId>,
}

impl Module {
    fn load(path: &str, arm: bool) -> Module {
        let mut m = Module {
            path: path.to_string(),
            ..Default::default()
        };
        // A trace names its modules: read only a regular file of a sane
        // size (a name such as /dev/zero must not hang the profile).
        let regular =
            std::fs::metadata(path).is_ok_and(|md| md.is_file() && md.len() <= MAX_MODULE_BYTES);
        let Some(bytes) = regular.then(|| std::fs::read(path).ok()).flatten() else {
            return m;
        };
        let Ok(elf) = goblin::elf::Elf::parse(&bytes) else {
            return m;
        };
        for ph in &elf.program_headers {
            if ph.p_type == goblin::elf::program_header::PT_LOAD && ph.is_executable() {
                m.exec_segments.push((ph.p_vaddr, ph.p_memsz));
            }
        }
        let ppc64 = elf.header.e_machine == goblin::elf::header::EM_PPC64;
        let mut add = |syms: &goblin::elf::Symtab<'_>, strs: &goblin::strtab::Strtab<'_>| {
            for s in syms.iter() {
                if s.st_type() != goblin::elf::sym::STT_FUNC || s.st_value == 0 {
                    continue;
                }
                let Some(name) = strs.get_at(s.st_name) else {
                    continue;
                };
                // arm: Thumb functions' symbols carry the Thumb bit.
                let start = if arm { s.st_value & !1 } else { s.st_value };
                m.symbols.push(Symbol {
                    start,
                    end: start + s.st_size.max(1),
                    name: name.to_string(),
                    local_entry: if ppc64 {
                        ppc64_local_entry(s.st_other)
                    } else {
                        0
                    },
                });
            }
        };
        add(&elf.syms, &elf.strtab);
        add(&elf.dynsyms, &elf.dynstrtab);
        // One symbol per address: the first name (symtab before dynsym).
        m.symbols.sort_by_key(|s| s.start);
        m.symbols.dedup_by_key(|s| s.start);
        m.ids = vec![None; m.symbols.len()];
        m
    }

    /// Where the module's virtual addresses are, given an executable
    /// mapping of `len` bytes at `start`: the executable segment of that
    /// page-rounded length (the first one if none has it).
    fn bias(&self, start: u64, len: u64) -> Option<u64> {
        const PAGE: u64 = 4096;
        let rounded = |(v, size): (u64, u64)| {
            let first = v & !(PAGE - 1);
            (first, (v + size).div_ceil(PAGE) * PAGE - first)
        };
        let (first, _) = self
            .exec_segments
            .iter()
            .map(|&s| rounded(s))
            .find(|&(_, l)| l == len)
            .or_else(|| self.exec_segments.first().map(|&s| rounded(s)))?;
        Some(start.wrapping_sub(first))
    }

    /// The symbol covering virtual address `v`.
    fn symbol(&self, v: u64) -> Option<usize> {
        let i = self.symbols.partition_point(|s| s.start <= v);
        let i = i.checked_sub(1)?;
        (v < self.symbols[i].end).then_some(i)
    }

    fn basename(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// Maps block addresses to functions.
pub(super) struct Symbolizer {
    arm: bool,
    modules: Vec<Module>,
    by_path: HashMap<String, usize>,
    /// Sorted by start.
    mappings: Vec<Mapping>,
    pub(super) functions: Vec<Function>,
    by_name: HashMap<(String, String), FuncId>,
    cache: HashMap<u64, (FuncId, bool)>,
}

impl Symbolizer {
    pub(super) fn new(arm: bool) -> Self {
        Symbolizer {
            arm,
            modules: Vec::new(),
            by_path: HashMap::new(),
            mappings: Vec::new(),
            functions: Vec::new(),
            by_name: HashMap::new(),
            cache: HashMap::new(),
        }
    }

    /// A module mapped for execution at [start, end) (`end` 0: unknown,
    /// up to the next mapping).
    pub(super) fn add_mapping(&mut self, path: &str, start: u64, end: u64) {
        let module = match self.by_path.get(path) {
            Some(&m) => m,
            None => {
                self.modules.push(Module::load(path, self.arm));
                self.by_path
                    .insert(path.to_string(), self.modules.len() - 1);
                self.modules.len() - 1
            }
        };
        let end = if end > start { end } else { u64::MAX };
        // Without the file's segments, addresses are shown as offsets
        // from the mapping's start.
        let bias = self.modules[module]
            .bias(start, end.saturating_sub(start))
            .unwrap_or(start);
        let mapping = Mapping {
            start,
            end,
            bias,
            module,
        };
        let at = self.mappings.partition_point(|m| m.start < start);
        if self.mappings.get(at).is_some_and(|m| m.start == start) {
            self.mappings[at] = mapping;
        } else {
            self.mappings.insert(at, mapping);
        }
        // Addresses may name other code now.
        self.cache.clear();
    }

    fn function(&mut self, name: String, module: String) -> FuncId {
        let key = (name, module);
        if let Some(&id) = self.by_name.get(&key) {
            return id;
        }
        let id = self.functions.len() as FuncId;
        self.functions.push(Function {
            name: key.0.clone(),
            module: key.1.clone(),
        });
        self.by_name.insert(key, id);
        id
    }

    /// The function of address `pc`, and whether `pc` is its first
    /// instruction (a symbol's start).
    pub(super) fn lookup(&mut self, pc: u64) -> (FuncId, bool) {
        if let Some(&hit) = self.cache.get(&pc) {
            return hit;
        }
        let found = self.resolve(pc);
        self.cache.insert(pc, found);
        found
    }

    fn resolve(&mut self, pc: u64) -> (FuncId, bool) {
        let i = self.mappings.partition_point(|m| m.start <= pc);
        let map = i
            .checked_sub(1)
            .map(|i| self.mappings[i].clone())
            .filter(|m| pc < m.end);
        let Some(map) = map else {
            return (self.function(format!("{pc:#x}"), String::new()), false);
        };
        let m = &self.modules[map.module];
        let vaddr = pc.wrapping_sub(map.bias);
        if let Some(s) = m.symbol(vaddr) {
            let entry = m.symbols[s].is_entry(vaddr);
            if let Some(id) = m.ids[s] {
                return (id, entry);
            }
            let (name, path) = (m.symbols[s].name.clone(), m.path.clone());
            let id = self.function(name, path);
            self.modules[map.module].ids[s] = Some(id);
            return (id, entry);
        }
        // No symbol: the module and the offset of the block, one entry
        // per address (so a stripped program still shows its hot code).
        let shown = pc.wrapping_sub(map.bias);
        if let Some(&id) = m.unnamed.get(&shown) {
            return (id, false);
        }
        let (name, path) = (format!("{}+{shown:#x}", m.basename()), m.path.clone());
        let id = self.function(name, path);
        self.modules[map.module].unnamed.insert(shown, id);
        (id, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_are_read_for_symbols() {
        // A device that never ends, a directory, a missing file: no
        // symbols, at once.
        for path in ["/dev/zero", "/", "/nonexistent/module.so"] {
            let m = Module::load(path, false);
            assert!(m.symbols.is_empty() && m.exec_segments.is_empty(), "{path}");
        }
        let mut s = Symbolizer::new(false);
        s.add_mapping("/dev/zero", 0x1000, 0x2000);
        let (f, entry) = s.lookup(0x1234);
        assert_eq!(s.functions[f as usize].name, "zero+0x234");
        assert!(!entry);
    }

    #[test]
    fn a_ppc64_call_may_enter_at_the_local_entry_point() {
        // gcc's usual two-instruction TOC set-up: st_other 3 << 5.
        assert_eq!(ppc64_local_entry(3 << 5), 8);
        assert_eq!(ppc64_local_entry(0), 0);
        assert_eq!(ppc64_local_entry(1 << 5), 0);
        let f = Symbol {
            start: 0x1000,
            end: 0x1040,
            name: "f".into(),
            local_entry: 8,
        };
        assert!(f.is_entry(0x1000) && f.is_entry(0x1008) && !f.is_entry(0x1004));
    }
}
