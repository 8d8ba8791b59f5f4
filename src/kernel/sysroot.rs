// SPDX-License-Identifier: GPL-2.0-or-later
//! The guest's sysroot (`-L PATH` or `QEMU_LD_PREFIX`): absolute paths the
//! guest names are looked up under it first, then on the host, as
//! qemu-user does. /proc, /dev and /sys always stay the host's (procfs
//! answers the guest's own /proc files).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Paths that never go to the sysroot.
const HOST_ONLY: &[&[u8]] = &[b"/proc", b"/dev", b"/sys"];

fn host_only(path: &[u8]) -> bool {
    HOST_ONLY.iter().any(|prefix| {
        path.strip_prefix(*prefix)
            .is_some_and(|rest| rest.is_empty() || rest[0] == b'/')
    })
}

/// `<sysroot><path>` when `path` is absolute, not under /proc, /dev or
/// /sys, and the sysroot has an entry of that name (a dangling symbolic
/// link counts: readlink must see it). Otherwise `None`: the host's path.
pub fn lookup(sysroot: Option<&Path>, path: &[u8]) -> Option<PathBuf> {
    let root = sysroot?;
    if path.first() != Some(&b'/') || host_only(path) {
        return None;
    }
    let mut full = root.as_os_str().as_bytes().to_vec();
    while full.last() == Some(&b'/') {
        full.pop();
    }
    full.extend_from_slice(path);
    let full = PathBuf::from(OsStr::from_bytes(&full));
    std::fs::symlink_metadata(&full).is_ok().then_some(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysroot_first_then_host() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("lib")).unwrap();
        std::fs::write(root.join("lib/ld.so"), b"x").unwrap();
        std::os::unix::fs::symlink("/nowhere", root.join("lib/dangling")).unwrap();
        std::fs::create_dir_all(root.join("proc/self")).unwrap();
        assert_eq!(
            lookup(Some(root), b"/lib/ld.so"),
            Some(root.join("lib/ld.so"))
        );
        assert_eq!(
            lookup(Some(root), b"/lib/dangling"),
            Some(root.join("lib/dangling"))
        );
        // Trailing slashes on the sysroot do not matter.
        let mut slashed = root.as_os_str().to_owned();
        slashed.push("/");
        assert_eq!(
            lookup(Some(Path::new(&slashed)), b"/lib/ld.so"),
            Some(root.join("lib/ld.so"))
        );
        assert_eq!(lookup(Some(root), b"/lib/missing"), None);
        assert_eq!(lookup(Some(root), b"lib/ld.so"), None);
        assert_eq!(lookup(Some(root), b"/proc/self"), None);
        assert_eq!(lookup(None, b"/lib/ld.so"), None);
        assert!(host_only(b"/dev") && host_only(b"/sys/devices"));
        assert!(!host_only(b"/devices") && !host_only(b"/process"));
    }
}
