// SPDX-License-Identifier: GPL-2.0-or-later
//! ELF loading (goblin) and the initial stack: argv, envp and auxv.

mod stack;

use std::path::Path;
use std::sync::Arc;

use goblin::elf::program_header::{PF_R, PF_W, PF_X, PT_INTERP, PT_LOAD, PT_PHDR};
use goblin::elf::Elf;

use crate::arch::{self, Abi};
use crate::mem::{page_ceil, page_floor, AddressSpace, HostMapping, Perms, RegionKind};

pub use stack::{build_stack, StackInfo};

/// A one-line reason the program cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError(pub String);

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadError {}

/// The parts of an ELF file the loader needs, checked.
#[derive(Debug, Clone)]
pub struct ElfInfo {
    pub abi: &'static dyn Abi,
    pub is_pie: bool,
    pub entry: u64,
    pub phoff: u64,
    pub phent: u64,
    pub phnum: u64,
    pub segments: Vec<Segment>,
    pub phdr_vaddr: Option<u64>,
}

#[derive(Debug, Clone, Copy)]
pub struct Segment {
    pub vaddr: u64,
    pub memsz: u64,
    pub offset: u64,
    pub filesz: u64,
    pub perms: Perms,
}

/// Where the image landed.
#[derive(Debug, Clone, Copy)]
pub struct LoadedImage {
    pub entry: u64,
    pub phdr: u64,
    pub phent: u64,
    pub phnum: u64,
    pub brk_start: u64,
    pub bias: u64,
}

/// Parses and validates an executable. Every failure is a one-line error.
pub fn inspect(path: &Path, bytes: &[u8]) -> Result<ElfInfo, LoadError> {
    let name = path.display();
    if bytes.len() < 4 || &bytes[..4] != b"\x7fELF" {
        return Err(LoadError(format!("{name}: not an ELF executable")));
    }
    // goblin checks bounds, but a malformed file must never take ht-user
    // down: treat a panic inside the parser as a parse error.
    let parsed = std::panic::catch_unwind(|| Elf::parse(bytes).map_err(|e| e.to_string()))
        .unwrap_or_else(|_| Err("unparsable headers".to_string()));
    let elf = parsed.map_err(|e| LoadError(format!("{name}: malformed ELF: {e}")))?;
    let abi = arch::for_elf(elf.header.e_machine, elf.is_64, elf.little_endian)
        .map_err(|e| LoadError(format!("{name}: {e}")))?;
    let is_pie = match elf.header.e_type {
        goblin::elf::header::ET_EXEC => false,
        goblin::elf::header::ET_DYN => true,
        t => {
            return Err(LoadError(format!(
                "{name}: not an executable (ELF type {})",
                goblin::elf::header::et_to_str(t)
            )))
        }
    };
    if let Some(interp) = elf.program_headers.iter().find(|ph| ph.p_type == PT_INTERP) {
        let start = interp.p_offset as usize;
        let end = start
            .saturating_add(interp.p_filesz as usize)
            .min(bytes.len());
        let interp_name = bytes
            .get(start..end)
            .map(|b| {
                String::from_utf8_lossy(b)
                    .trim_end_matches('\0')
                    .to_string()
            })
            .unwrap_or_default();
        return Err(LoadError(format!(
            "{name}: dynamically linked (interpreter {interp_name}); ht-user runs static executables (link with -static)"
        )));
    }
    let mut segments = Vec::new();
    for ph in elf.program_headers.iter().filter(|ph| ph.p_type == PT_LOAD) {
        if ph.p_filesz > ph.p_memsz {
            return Err(LoadError(format!(
                "{name}: malformed ELF: segment file size exceeds memory size"
            )));
        }
        let file_end = ph.p_offset.checked_add(ph.p_filesz);
        if file_end.is_none_or(|e| e > bytes.len() as u64) {
            return Err(LoadError(format!(
                "{name}: truncated ELF: a segment needs bytes up to {:#x}, the file has {:#x}",
                file_end.unwrap_or(u64::MAX),
                bytes.len()
            )));
        }
        if ph.p_vaddr.checked_add(ph.p_memsz).is_none() || ph.p_memsz > (1 << 40) {
            return Err(LoadError(format!(
                "{name}: malformed ELF: segment at {:#x} is too large",
                ph.p_vaddr
            )));
        }
        let mut perms = Perms::NONE;
        if ph.p_flags & PF_R != 0 {
            perms.0 |= Perms::R.0;
        }
        if ph.p_flags & PF_W != 0 {
            perms.0 |= Perms::W.0;
        }
        if ph.p_flags & PF_X != 0 {
            perms.0 |= Perms::X.0;
        }
        segments.push(Segment {
            vaddr: ph.p_vaddr,
            memsz: ph.p_memsz,
            offset: ph.p_offset,
            filesz: ph.p_filesz,
            perms,
        });
    }
    if segments.is_empty() {
        return Err(LoadError(format!(
            "{name}: malformed ELF: no loadable segments"
        )));
    }
    Ok(ElfInfo {
        abi,
        is_pie,
        entry: elf.header.e_entry,
        phoff: elf.header.e_phoff,
        phent: u64::from(elf.header.e_phentsize),
        phnum: elf.program_headers.len() as u64,
        segments,
        phdr_vaddr: elf
            .program_headers
            .iter()
            .find(|ph| ph.p_type == PT_PHDR)
            .map(|ph| ph.p_vaddr),
    })
}

/// Maps the segments into `mem` and returns where things are.
pub fn load(
    info: &ElfInfo,
    bytes: &[u8],
    mem: &mut AddressSpace,
) -> Result<LoadedImage, LoadError> {
    let lowest = info
        .segments
        .iter()
        .map(|s| page_floor(s.vaddr))
        .min()
        .unwrap_or(0);
    let bias = if info.is_pie {
        info.abi.pie_base().wrapping_sub(lowest)
    } else {
        0
    };
    let mut image_end = 0;
    for seg in &info.segments {
        let start = page_floor(seg.vaddr + bias);
        let end = page_ceil(seg.vaddr + bias + seg.memsz)
            .ok_or_else(|| LoadError("segment end overflows".into()))?;
        // Segments may share a page with the previous one: that page keeps
        // both permissions and is not mapped twice.
        let mut map_from = start;
        while map_from < end {
            match mem.region_at(map_from) {
                Some(r) => {
                    let merged = Perms(r.perms.0 | seg.perms.0);
                    let upto = r.end.min(end);
                    let _ = mem.protect(map_from, upto - map_from, merged);
                    map_from = upto;
                }
                None => break,
            }
        }
        if map_from < end {
            if !mem.is_free(map_from, end) {
                return Err(LoadError(format!("segments overlap at {map_from:#x}")));
            }
            let host = HostMapping::anonymous((end - map_from) as usize).map_err(|e| {
                LoadError(format!(
                    "cannot allocate {} bytes for a segment: {e}",
                    end - map_from
                ))
            })?;
            mem.map(
                map_from,
                end - map_from,
                seg.perms,
                Perms(7),
                RegionKind::Memory {
                    name: String::new(),
                },
                Some(Arc::new(host)),
                0,
            );
        }
        let file = &bytes[seg.offset as usize..(seg.offset + seg.filesz) as usize];
        mem.write_privileged(seg.vaddr + bias, file)
            .map_err(|f| LoadError(format!("cannot place segment: {f}")))?;
        image_end = image_end.max(end);
    }
    let phdr = match info.phdr_vaddr {
        Some(v) => v + bias,
        None => info
            .segments
            .iter()
            .find(|s| s.offset <= info.phoff && info.phoff < s.offset + s.filesz)
            .map(|s| s.vaddr + (info.phoff - s.offset) + bias)
            .unwrap_or(0),
    };
    Ok(LoadedImage {
        entry: info.entry + bias,
        phdr,
        phent: info.phent,
        phnum: info.phnum,
        brk_start: image_end,
        bias,
    })
}
