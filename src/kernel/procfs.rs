// SPDX-License-Identifier: GPL-2.0-or-later
//! /proc files that describe the guest rather than ht-user: opening them
//! yields generated contents (in a memfd) instead of the host's files:
//! /proc/self/maps and auxv, /proc/cpuinfo (the emulated CPU); and
//! /proc/self/fd and fdinfo show the guest's descriptors, not ht-user's.

use super::Process;
use crate::mem::RegionKind;

/// The part after `/proc/self/` (or `/proc/PID/`, `/proc/thread-self/`)
/// of a path about the guest process itself.
fn self_entry<'a>(p: &Process, path: &'a [u8]) -> Option<&'a str> {
    let path = std::str::from_utf8(path).ok()?;
    path.strip_prefix("/proc/self/")
        .or_else(|| path.strip_prefix(&format!("/proc/{}/", p.pid)))
        .or_else(|| path.strip_prefix("/proc/thread-self/"))
}

/// The per-descriptor directories of /proc/self.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdDir {
    /// `fd`: a symbolic link per descriptor.
    Fd,
    /// `fdinfo`: a text file per descriptor.
    FdInfo,
}

impl FdDir {
    fn name(self) -> &'static str {
        match self {
            FdDir::Fd => "fd",
            FdDir::FdInfo => "fdinfo",
        }
    }
}

/// What a guest path names under the guest's fd or fdinfo directory: the
/// directory itself (`None`) or one entry (its name).
pub fn fd_path<'a>(p: &Process, path: &'a [u8]) -> Option<(FdDir, Option<&'a str>)> {
    let rest = self_entry(p, path)?.trim_end_matches('/');
    for dir in [FdDir::Fd, FdDir::FdInfo] {
        if rest == dir.name() {
            return Some((dir, None));
        }
        if let Some(entry) = rest
            .strip_prefix(dir.name())
            .and_then(|r| r.strip_prefix('/'))
        {
            return Some((dir, Some(entry)));
        }
    }
    None
}

/// The host path of the entry for guest descriptor `entry` (a number) in
/// `dir`: ht-user's own entry for the host descriptor behind it. ENOENT
/// when the guest has no such descriptor, as Linux answers.
pub fn host_fd_path(p: &Process, dir: FdDir, entry: &str) -> Result<String, crate::abi::Errno> {
    let guest: u64 = entry.parse().map_err(|_| crate::abi::Errno(libc::ENOENT))?;
    let host = p
        .fds
        .raw(guest)
        .map_err(|_| crate::abi::Errno(libc::ENOENT))?;
    Ok(format!("/proc/self/{}/{host}", dir.name()))
}

/// The entries of the guest's fd or fdinfo directory now.
pub fn fd_listing(p: &Process, dir: FdDir) -> super::Listing {
    let kind = match dir {
        FdDir::Fd => libc::DT_LNK,
        FdDir::FdInfo => libc::DT_REG,
    };
    let mut entries = vec![
        (libc::DT_DIR, ".".to_string()),
        (libc::DT_DIR, "..".to_string()),
    ];
    entries.extend(p.fds.numbers().map(|n| (kind, n.to_string())));
    super::Listing { entries, next: 0 }
}

/// Whether `path` names the guest's executable (`/proc/self/exe`).
pub fn is_self_exe(p: &Process, path: &[u8]) -> bool {
    self_entry(p, path) == Some("exe")
}

/// Contents of a /proc file ht-user answers itself, if `path` is one.
pub fn synthetic_file(p: &Process, path: &[u8]) -> Option<Vec<u8>> {
    if path == b"/proc/cpuinfo" {
        let one = p.abi.cpuinfo(p.cpu, &p.cpu_facts);
        let text = crate::arch::cpuinfo::for_cpus(&one, &p.guest_cpus());
        return Some(text.into_bytes());
    }
    match self_entry(p, path)? {
        "maps" => Some(maps(p)),
        "auxv" => Some(auxv(p)),
        _ => None,
    }
}

/// The guest's mappings in /proc/PID/maps format, adjacent regions with
/// the same permissions and name merged as the kernel merges VMAs.
pub fn maps(p: &Process) -> Vec<u8> {
    let mut rows: Vec<(u64, u64, String, String)> = Vec::new();
    for r in p.mem.regions() {
        let name = r.name().to_string();
        let shared = r.kind == RegionKind::HypertraceControl
            || name == "/dev/zero (deleted)"
            || r.backing
                .as_ref()
                .is_some_and(|b| b.sysv_shm_id().is_some() || b.is_shared_file());
        let perms = format!("{}{}", r.perms, if shared { 's' } else { 'p' });
        match rows.last_mut() {
            Some(last) if last.1 == r.start && last.2 == perms && last.3 == name => last.1 = r.end,
            _ => rows.push((r.start, r.end, perms, name)),
        }
    }
    // The kernel pads the name to a fixed column: 25 + 6 * pointer size - 1.
    let column = 25 + 6 * p.word_size() - 1;
    let mut out = String::new();
    for (start, end, perms, name) in rows {
        let mut line = format!("{start:08x}-{end:08x} {perms} 00000000 00:00 0");
        if !name.is_empty() {
            while line.len() < column {
                line.push(' ');
            }
            line.push_str(&name);
        }
        out.push_str(&line);
        out.push('\n');
    }
    out.into_bytes()
}

/// The auxiliary vector the process started with, AT_NULL included.
pub(crate) fn auxv(p: &Process) -> Vec<u8> {
    let enc = p.mem.encoder();
    let mut out = Vec::new();
    for (k, v) in p.auxv.iter().chain(std::iter::once(&(0, 0))) {
        for w in [*k, *v] {
            if p.word_size() == 8 {
                out.extend_from_slice(&enc.u64(w));
            } else {
                out.extend_from_slice(&enc.u32(w as u32));
            }
        }
    }
    out
}
