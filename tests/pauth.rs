// SPDX-License-Identifier: GPL-2.0-or-later
//! aarch64 pointer authentication with the pauth test guest
//! (guest/tests/pauth.c): AT_HWCAP, pacia/autia, a corrupted signed
//! pointer, keys kept by fork and threads and new after execve,
//! prctl(PR_PAC_RESET_KEYS); compared with qemu-aarch64. Skipped on the
//! other architectures (the guest is built for aarch64 only).

mod common;

use common::*;

/// What the checks print (qemu-aarch64 prints the same, but for the exec
/// line: it cannot execute an aarch64 program without binfmt_misc).
const CHECKS: &str = "\
hwcap paca 1 pacg 1
pacia changed the pointer for some modifiers: 1
autia round trips: 16 of 16
xpaci strips the code: 16 of 16
corrupted code: pointer poisoned 1, xpaci gives it back 1
wrong modifier: pointer poisoned 1
poisoned pointer error bits: 1
branch to the poisoned pointer: killed by Segmentation fault
fork keeps the keys: 1
a thread has the same keys: 1
exec: new keys: 1 1
reset APGA: 0, generic code changed 1, APIA code kept 1
reset APIA: 0, APIA code changed 1, generic code kept 1
reset all: 0, generic code changed 1
reset unknown key: -1 Invalid argument
reset with arg3: -1 Invalid argument
";

fn on_aarch64() -> bool {
    if arch() != "aarch64" {
        eprintln!("note: pointer authentication is aarch64's: skipped");
        return false;
    }
    true
}

fn without_exec_line(s: &str) -> Vec<&str> {
    s.lines().filter(|l| !l.starts_with("exec:")).collect()
}

#[test]
fn pointer_authentication_as_linux_gives_it() {
    if !on_aarch64() {
        return;
    }
    let g = guest("pauth");
    let r = run_ht([&g]);
    r.assert_code(0);
    assert_eq!(r.stdout, CHECKS);
    let Some(q) = qemu_or_skip("pauth") else {
        return;
    };
    let qr = run(qemu(&q, [&g]));
    assert_eq!(qr.exit(), 0, "{}", qr.stderr);
    assert_eq!(without_exec_line(&r.stdout), without_exec_line(&qr.stdout));
}
