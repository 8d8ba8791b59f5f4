// SPDX-License-Identifier: GPL-2.0-or-later
//! Guests that hand the kernel what a careless or hostile program would
//! (`guest/tests/hostile.c`): ht-user answers as Linux does and never
//! panics, whatever the guest passes.

mod common;

use common::*;

/// Whether the guest architecture under test has 64-bit addresses.
fn guest_is_64_bit() -> bool {
    matches!(arch().as_str(), "x86_64" | "aarch64" | "riscv64")
}

#[test]
fn a_control_mapping_past_the_largest_file_offset_is_refused() {
    let (_dir, base) = temp_base();
    let b = base.to_str().unwrap();
    let r = run_ht([
        "-hypertrace",
        b,
        guest("hostile").to_str().unwrap(),
        "control-offset",
        b,
    ]);
    r.assert_code(0);
    if guest_is_64_bit() {
        assert_eq!(
            r.stdout,
            "mmap at offset 0xfffffffffffff000: EOVERFLOW\nmmap at offset 0: ok\n"
        );
    } else {
        assert_eq!(r.stdout, "skipped (32-bit guest)\n");
    }
    assert_no_channel_files(&base);
}

#[test]
fn ranges_that_wrap_around_the_address_space_are_errors() {
    let r = run_ht([guest("hostile").to_str().unwrap(), "wrap"]);
    r.assert_code(0);
    if guest_is_64_bit() {
        // As Linux answers (checked natively on x86_64).
        assert_eq!(
            r.stdout,
            "msync across the top: ENOMEM\nmadvise across the top: EINVAL\n"
        );
    } else {
        assert_eq!(r.stdout, "skipped (32-bit guest)\n");
    }
}

#[test]
fn a_signal_frame_that_cannot_fit_below_the_stack_kills_with_sigsegv() {
    let r = run_ht([guest("hostile").to_str().unwrap(), "low-sp"]);
    if !guest_is_64_bit() {
        r.assert_code(0);
        assert_eq!(r.stdout, "skipped\n");
        return;
    }
    r.assert_code(128 + libc::SIGSEGV);
    assert_eq!(r.stdout, "", "the handler must not run");
    assert!(
        r.stderr.contains("uncaught target signal 11"),
        "{}",
        r.stderr
    );
    if let Some(q) = qemu_or_skip("hostile low-sp") {
        let qr = run(qemu(&q, [guest("hostile").to_str().unwrap(), "low-sp"]));
        assert_eq!(qr.exit(), r.code(), "qemu-user: {}", qr.stderr);
    }
}
