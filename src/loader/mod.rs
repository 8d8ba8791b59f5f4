// SPDX-License-Identifier: GPL-2.0-or-later
//! ELF loading (goblin) and the initial stack: argv, envp and auxv.

mod properties;
mod stack;

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use goblin::elf::program_header::{ProgramHeader, PF_R, PF_W, PF_X, PT_INTERP, PT_LOAD, PT_PHDR};
use goblin::elf::Elf;

use crate::arch::{self, Abi};
use crate::mem::{page_ceil, page_floor, AddressSpace, HostMapping, Perms, RegionKind};

pub use stack::{build_stack, StackInfo};

/// A one-line reason the program cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LoadError(pub String);

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
    /// The ELF header flags (e_flags): the ABI variant and, on MIPS, the
    /// instruction set the program was built for.
    pub flags: u32,
    /// The program interpreter (PT_INTERP) of a dynamic executable.
    pub interp: Option<PathBuf>,
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

/// The largest executable or interpreter read into memory: far beyond any
/// real program, and a clear error instead of exhausting the host's memory.
pub const MAX_IMAGE_BYTES: u64 = 1 << 32;

/// Reads an executable or interpreter as `execve` would accept it: a
/// regular file (not a device, FIFO or directory, which Linux refuses with
/// EACCES), at most [`MAX_IMAGE_BYTES`] long, read up to the size it had
/// when opened. The open never blocks (a FIFO is refused, not waited on).
/// `execute` also requires an execute bit, as `execve` does.
pub fn read_image(path: &Path, execute: bool) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other(if meta.is_dir() {
            "is a directory"
        } else {
            "not a regular file"
        }));
    }
    if execute && meta.permissions().mode() & 0o111 == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "no execute permission",
        ));
    }
    if meta.len() > MAX_IMAGE_BYTES {
        return Err(std::io::Error::other(format!(
            "too large ({} bytes; at most {MAX_IMAGE_BYTES})",
            meta.len()
        )));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(meta.len()).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The largest program header table Linux's ELF loader accepts, in bytes
/// (`load_elf_phdrs`: at most 64 KiB and one page).
const MAX_PHDR_TABLE_BYTES: usize = 4096;

/// Parses and validates an executable. Every failure is a one-line error.
pub fn inspect(path: &Path, bytes: &[u8]) -> Result<ElfInfo, LoadError> {
    let name = path.display();
    if bytes.len() < 4 || &bytes[..4] != b"\x7fELF" {
        return Err(LoadError(format!("{name}: not an ELF executable")));
    }
    // Only the ELF header and the program headers matter for running a
    // program, as for Linux: bad section headers alone are no reason to
    // refuse it. goblin checks bounds, but a malformed file must never take
    // ht-user down: a panic inside the parser is a parse error.
    let parsed =
        std::panic::catch_unwind(|| parse_headers(bytes)).unwrap_or(Err(HeaderError::Unparsable));
    let elf = parsed.map_err(|e| LoadError(format!("{name}: malformed ELF: {e}")))?;
    let abi = arch::for_elf(elf.header.e_machine, elf.is_64, elf.little_endian)
        .map_err(|e| LoadError(format!("{name}: {e}")))?;
    abi.check_elf_flags(elf.header.e_flags)
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
    let interp = match elf.program_headers.iter().find(|ph| ph.p_type == PT_INTERP) {
        Some(ph) => {
            let start = usize::try_from(ph.p_offset).unwrap_or(usize::MAX);
            let end = start.saturating_add(usize::try_from(ph.p_filesz).unwrap_or(usize::MAX));
            let raw = bytes.get(start..end).ok_or_else(|| {
                LoadError(format!(
                    "{name}: truncated ELF: the interpreter name lies past the end of the file"
                ))
            })?;
            // Linux wants the name NUL-terminated within the segment.
            if raw.last() != Some(&0) {
                return Err(LoadError(format!(
                    "{name}: malformed ELF: the interpreter name is not NUL-terminated"
                )));
            }
            let raw = raw.split(|b| *b == 0).next().unwrap_or_default();
            if raw.is_empty() || raw.len() >= 4096 {
                return Err(LoadError(format!(
                    "{name}: malformed ELF: bad interpreter name"
                )));
            }
            Some(PathBuf::from(std::ffi::OsStr::from_bytes(raw)))
        }
        None => None,
    };
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
        // The file offset is mapped at the address: both must lie at the
        // same place within a page (Linux's mmap fails with EINVAL).
        if ph.p_filesz > 0 && (ph.p_vaddr ^ ph.p_offset) & (crate::mem::PAGE_SIZE - 1) != 0 {
            return Err(LoadError(format!(
                "{name}: malformed ELF: segment at {:#x} and its file offset {:#x} \
                 differ within a page",
                ph.p_vaddr, ph.p_offset
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
    // A program built for branch target identification gets its code on
    // guarded pages, as Linux gives them: the kernel does it for the
    // program it starts (the interpreter when there is one, which guards
    // the libraries and the program itself).
    if abi.has_guarded_pages() && interp.is_none() {
        let bti = elf
            .program_headers
            .iter()
            .filter(|ph| ph.p_type == properties::PT_GNU_PROPERTY)
            .any(|ph| {
                let start = usize::try_from(ph.p_offset).unwrap_or(usize::MAX);
                let end = start.saturating_add(usize::try_from(ph.p_filesz).unwrap_or(0));
                bytes.get(start..end).is_some_and(|note| {
                    properties::aarch64_bti(note, if elf.is_64 { 8 } else { 4 })
                })
            });
        if bti {
            for seg in segments.iter_mut().filter(|s| s.perms.executable()) {
                seg.perms = seg.perms.with_guard(true);
            }
        }
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
        flags: elf.header.e_flags,
        interp,
    })
}

/// Why the ELF header or program headers are malformed.
#[derive(Debug, thiserror::Error)]
enum HeaderError {
    /// goblin refused them.
    #[error("{0}")]
    Goblin(#[from] goblin::error::Error),
    /// goblin panicked on them.
    #[error("unparsable headers")]
    Unparsable,
    /// Program header entries of another size than the class's.
    #[error("program header entries of {size} bytes, expected {expected}")]
    EntrySize { size: u16, expected: usize },
    /// No program header, or more than Linux reads.
    #[error("{count} program headers (Linux loads 1 to {max})")]
    Count { count: usize, max: usize },
    /// A table offset beyond the host's address range.
    #[error("program headers out of range")]
    Offset,
}

/// The ELF header and program headers only, checked as Linux's loader
/// checks them: the program header entry size of the file's class and a
/// table of at most [`MAX_PHDR_TABLE_BYTES`].
fn parse_headers(bytes: &[u8]) -> Result<Elf<'_>, HeaderError> {
    let header = Elf::parse_header(bytes)?;
    let mut elf = Elf::lazy_parse(header)?;
    let ctx = goblin::container::Ctx::new(header.container()?, header.endianness()?);
    let entry_size = ProgramHeader::size(ctx);
    if usize::from(header.e_phentsize) != entry_size {
        return Err(HeaderError::EntrySize {
            size: header.e_phentsize,
            expected: entry_size,
        });
    }
    let count = usize::from(header.e_phnum);
    if count == 0 || count * entry_size > MAX_PHDR_TABLE_BYTES {
        return Err(HeaderError::Count {
            count,
            max: MAX_PHDR_TABLE_BYTES / entry_size,
        });
    }
    let offset = usize::try_from(header.e_phoff).map_err(|_| HeaderError::Offset)?;
    elf.program_headers = ProgramHeader::parse(bytes, offset, count, ctx)?;
    Ok(elf)
}

/// Bytes from the lowest page of the image to the end of its last segment.
pub fn span(info: &ElfInfo) -> u64 {
    let lowest = lowest_page(info);
    let end = info
        .segments
        .iter()
        .map(|s| s.vaddr.saturating_add(s.memsz))
        .max()
        .unwrap_or(lowest);
    page_ceil(end).unwrap_or(u64::MAX).saturating_sub(lowest)
}

fn lowest_page(info: &ElfInfo) -> u64 {
    info.segments
        .iter()
        .map(|s| page_floor(s.vaddr))
        .min()
        .unwrap_or(0)
}

/// Maps the segments into `mem` and returns where things are. A
/// position-independent image (ET_DYN) goes to `base`, or to the
/// architecture's PIE base when `base` is `None`; ET_EXEC stays put.
/// `name` labels the mappings (/proc/self/maps).
pub fn load(
    info: &ElfInfo,
    bytes: &[u8],
    mem: &mut AddressSpace,
    base: Option<u64>,
    name: &str,
) -> Result<LoadedImage, LoadError> {
    let bias = if info.is_pie {
        base.unwrap_or_else(|| info.abi.pie_base())
            .wrapping_sub(lowest_page(info))
    } else {
        0
    };
    let limit: u64 = if info.abi.is_64bit() {
        1 << 47
    } else {
        1 << 32
    };
    let mut image_end = 0;
    for seg in &info.segments {
        let placed = seg
            .vaddr
            .checked_add(bias)
            .filter(|v| v.checked_add(seg.memsz).is_some_and(|e| e <= limit))
            .ok_or_else(|| {
                LoadError(format!(
                    "a segment at {:#x} lies outside the address space",
                    seg.vaddr
                ))
            })?;
        let start = page_floor(placed);
        let end = page_ceil(placed + seg.memsz)
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
                    name: name.to_string(),
                },
                Some(Arc::new(host)),
                0,
            );
        }
        let file = &bytes[seg.offset as usize..(seg.offset + seg.filesz) as usize];
        mem.write_privileged(placed, file)
            .map_err(|f| LoadError(format!("cannot place segment: {f}")))?;
        image_end = image_end.max(end);
    }
    let phdr = match info.phdr_vaddr {
        Some(v) => v.wrapping_add(bias),
        None => info
            .segments
            .iter()
            .find(|s| s.offset <= info.phoff && info.phoff < s.offset + s.filesz)
            .map(|s| (s.vaddr + (info.phoff - s.offset)).wrapping_add(bias))
            .unwrap_or(0),
    };
    Ok(LoadedImage {
        entry: info.entry.wrapping_add(bias),
        phdr,
        phent: info.phent,
        phnum: info.phnum,
        brk_start: image_end,
        bias,
    })
}

/// Finds the program interpreter `interp` named by `program`: under the
/// sysroot first, then on the host. A missing one is a one-line error that
/// names where it was looked for and suggests `-L`.
pub fn find_interpreter(
    program: &Path,
    interp: &Path,
    sysroot: Option<&Path>,
) -> Result<PathBuf, LoadError> {
    let raw = interp.as_os_str().as_bytes();
    if let Some(found) = crate::kernel::sysroot::lookup(sysroot, raw) {
        return Ok(found);
    }
    if std::fs::symlink_metadata(interp).is_ok() {
        return Ok(interp.to_path_buf());
    }
    let name = program.display();
    let interp_name = interp.display();
    Err(LoadError(match sysroot {
        Some(root) => format!(
            "{name}: interpreter {interp_name} not found in the sysroot {} nor on the host; \
             give the guest's sysroot with -L PATH (or QEMU_LD_PREFIX)",
            root.display()
        ),
        None => format!(
            "{name}: interpreter {interp_name} not found; a dynamically linked program \
             needs the guest's sysroot: -L PATH (or QEMU_LD_PREFIX)"
        ),
    }))
}

/// Reads, checks and maps the interpreter at `path` for a program of
/// `abi`, at the top of the mmap area as Linux places it. Errors name the
/// program and the interpreter.
pub fn load_interpreter(
    program: &Path,
    path: &Path,
    abi: &'static dyn Abi,
    mem: &mut AddressSpace,
) -> Result<LoadedImage, LoadError> {
    let name = program.display();
    // Like qemu-user (and unlike execve), no execute bit is needed: sysroots
    // unpacked by hand often lack it.
    let bytes = read_image(path, false).map_err(|e| {
        LoadError(format!(
            "{name}: cannot read its interpreter {}: {e}",
            path.display()
        ))
    })?;
    // Mappings carry the file's real name, as in Linux.
    let label = std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string();
    load_interpreter_image(program, path, &label, &bytes, abi, mem)
}

/// [`load_interpreter`] for an interpreter already read: `bytes` is the
/// file at `path`, `label` names its mappings.
pub fn load_interpreter_image(
    program: &Path,
    path: &Path,
    label: &str,
    bytes: &[u8],
    abi: &'static dyn Abi,
    mem: &mut AddressSpace,
) -> Result<LoadedImage, LoadError> {
    let name = program.display();
    let info =
        inspect(path, bytes).map_err(|e| LoadError(format!("{name}: bad interpreter: {e}")))?;
    if info.abi.name() != abi.name() {
        return Err(LoadError(format!(
            "{name}: its interpreter {} is for {}, the program for {}",
            path.display(),
            info.abi.name(),
            abi.name()
        )));
    }
    if info.interp.is_some() {
        return Err(LoadError(format!(
            "{name}: its interpreter {} is itself dynamically linked",
            path.display()
        )));
    }
    let base = if info.is_pie {
        Some(mem.find_free(span(&info)).ok_or_else(|| {
            LoadError(format!(
                "{name}: no room for its interpreter {}",
                path.display()
            ))
        })?)
    } else {
        None
    };
    load(&info, bytes, mem, base, label)
        .map_err(|e| LoadError(format!("{name}: bad interpreter {label}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpreter_from_the_sysroot_then_the_host() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("lib")).unwrap();
        std::fs::write(root.join("lib/ld-test.so"), b"x").unwrap();
        let prog = Path::new("/bin/prog");
        assert_eq!(
            find_interpreter(prog, Path::new("/lib/ld-test.so"), Some(root)).unwrap(),
            root.join("lib/ld-test.so")
        );
        // Not in the sysroot: the host's, if it has one.
        let host = root.join("lib/ld-test.so");
        assert_eq!(
            find_interpreter(prog, &host, Some(Path::new("/nonexistent"))).unwrap(),
            host
        );
        let err = find_interpreter(prog, Path::new("/lib/ld-missing.so"), Some(root)).unwrap_err();
        assert!(
            err.0.contains("/lib/ld-missing.so") && err.0.contains("-L"),
            "{err}"
        );
        assert!(err.0.contains(root.to_str().unwrap()), "{err}");
        let err = find_interpreter(prog, Path::new("/lib/ld-missing.so"), None).unwrap_err();
        assert!(
            err.0.starts_with("/bin/prog: ") && err.0.contains("-L"),
            "{err}"
        );
    }

    #[test]
    fn interpreter_name_is_read_from_pt_interp() {
        let bytes = std::fs::read("/bin/true");
        let Ok(bytes) = bytes else { return };
        if Elf::parse(&bytes).map_or(true, |e| {
            e.header.e_machine != goblin::elf::header::EM_X86_64
        }) {
            return;
        }
        let info = inspect(Path::new("/bin/true"), &bytes).unwrap();
        assert_eq!(
            info.interp.as_deref(),
            Some(Path::new("/lib64/ld-linux-x86-64.so.2"))
        );
        let hello = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/x86_64/hello"
        ))
        .unwrap();
        assert_eq!(inspect(Path::new("hello"), &hello).unwrap().interp, None);
    }
}
