// SPDX-License-Identifier: GPL-2.0-or-later
//! The C guest library's build (guest/Makefile) as a user runs it: from
//! another directory, with their own CFLAGS, installed with pkg-config.

use std::path::Path;
use std::process::Command;

fn make(dir: &Path, args: &[&str]) -> String {
    let makefile = Path::new(env!("CARGO_MANIFEST_DIR")).join("guest/Makefile");
    let out = Command::new("make")
        .current_dir(dir)
        .arg("-f")
        .arg(&makefile)
        .args(args)
        .output()
        .expect("make runs");
    assert!(
        out.status.success(),
        "make {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Out of tree, with CFLAGS=-g: the object still gets -fPIC, nothing is
/// written into the source tree, and the installed pkg-config file gives
/// the crate's version.
#[test]
fn the_guest_library_builds_out_of_tree_with_the_users_cflags() {
    if Command::new("make").arg("--version").output().is_err() {
        eprintln!("make not found: skipping the guest library build");
        return;
    }
    let guest = Path::new(env!("CARGO_MANIFEST_DIR")).join("guest");
    let before: Vec<_> = std::fs::read_dir(&guest)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let build = dir.path().join("out");
    let build_arg = format!("BUILD={}", build.display());
    let commands = make(dir.path(), &[&build_arg, "CFLAGS=-g", "-n", "-B"]);
    let compile = commands
        .lines()
        .find(|l| l.contains("qemu-hypertrace.c"))
        .expect("a compile command");
    assert!(
        compile.contains(" -g ") && compile.contains("-fPIC"),
        "{compile}"
    );
    let prefix = dir.path().join("prefix");
    make(
        dir.path(),
        &[
            &build_arg,
            "CFLAGS=-g",
            "install",
            &format!("PREFIX={}", prefix.display()),
        ],
    );
    assert!(prefix.join("lib/libqemu-hypertrace-guest.a").is_file());
    assert!(prefix.join("include/qemu-hypertrace.h").is_file());
    let pc = std::fs::read_to_string(prefix.join("lib/pkgconfig/qemu-hypertrace.pc")).unwrap();
    assert!(
        pc.contains(&format!("\nVersion: {}\n", env!("CARGO_PKG_VERSION"))),
        "{pc}"
    );
    let after: Vec<_> = std::fs::read_dir(&guest)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after, "the build wrote into the source tree");
}
