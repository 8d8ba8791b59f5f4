// SPDX-License-Identifier: GPL-2.0-or-later
//! aarch64: the CPU feature registers user space reads with `mrs`, served
//! as Linux serves them (guest/tests/cpu-features.c): AT_HWCAP's `cpuid`,
//! MIDR/MPIDR/REVIDR and the ID_AA64* registers sanitised so that they
//! agree with AT_HWCAP, every other EL1 register SIGILL (the guest runs at
//! EL0). qemu-aarch64 7.2 shows fields Linux hides, so the values are
//! checked against Linux's rules here rather than against it. Skipped on
//! the other architectures (the guest is built for aarch64 only).

mod common;

use common::*;

fn on_aarch64() -> bool {
    if arch() != "aarch64" {
        eprintln!("note: the ID register emulation is aarch64's: skipped");
        return false;
    }
    true
}

/// The value the guest printed for `reg`.
fn value(out: &str, reg: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(reg).filter(|rest| rest.starts_with(' ')))
        .unwrap_or_else(|| panic!("{reg} missing from:\n{out}"))
        .trim()
        .to_string()
}

/// What stays the same on every model: Linux's fixed and hidden values,
/// and the registers Linux does not emulate.
fn assert_linux_rules(out: &str, midr: &str) {
    assert!(out.starts_with("hwcap cpuid 1\n"), "{out}");
    assert_eq!(value(out, "midr_el1"), midr, "{out}");
    assert_eq!(value(out, "mpidr_el1"), "0000000080000000", "{out}");
    assert_eq!(value(out, "revidr_el1"), "0000000000000000", "{out}");
    // TGran4 and TGran64 read "not implemented", the rest hidden.
    assert_eq!(value(out, "id_aa64mmfr0_el1"), "00000000ff000000", "{out}");
    assert_eq!(value(out, "id_aa64dfr0_el1"), "0000000000000006", "{out}");
    // SVE is not announced in AT_HWCAP: its register reads as zero.
    assert_eq!(value(out, "id_aa64zfr0_el1"), "0000000000000000", "{out}");
    assert_eq!(value(out, "unallocated_c7_7"), "0000000000000000", "{out}");
    for refused in [
        "sctlr_el1",
        "id_mmfr0_el1",
        "mvfr0_el1",
        "CurrentEL",
        "aidr_el1",
    ] {
        assert_eq!(value(out, refused), "SIGILL", "{out}");
    }
    // ILL_ILLOPC, as arm64 Linux's do_undefinstr gives.
    assert!(out.contains("SIGILL si_code 1\n"), "{out}");
    assert!(out.ends_with("0 mismatches\n"), "{out}");
}

#[test]
fn id_registers_read_as_linux_sanitises_them() {
    if !on_aarch64() {
        return;
    }
    let r = run_ht([guest("cpu-features")]);
    r.assert_code(0);
    assert_linux_rules(&r.stdout, "00000000411fd070");
    // "max": AES+PMULL, SHA1, SHA2, CRC32, LSE atomics; QARMA address and
    // generic authentication; BTI; EL0 and EL1 AArch64-only.
    assert_eq!(value(&r.stdout, "id_aa64isar0_el1"), "0000000000211120");
    assert_eq!(value(&r.stdout, "id_aa64isar1_el1"), "0000000001000010");
    assert_eq!(value(&r.stdout, "id_aa64pfr0_el1"), "0000000000000011");
    assert_eq!(value(&r.stdout, "id_aa64pfr1_el1"), "0000000000000001");
}

#[test]
fn id_registers_follow_the_chosen_model() {
    if !on_aarch64() {
        return;
    }
    let r = run_ht([
        "-cpu".as_ref(),
        "cortex-a53".as_ref(),
        guest("cpu-features").as_os_str(),
    ]);
    r.assert_code(0);
    assert_linux_rules(&r.stdout, "00000000410fd034");
    // ARMv8.0 with the crypto extension: no atomics, no pointer
    // authentication, no BTI.
    assert_eq!(value(&r.stdout, "id_aa64isar0_el1"), "0000000000011120");
    assert_eq!(value(&r.stdout, "id_aa64isar1_el1"), "0000000000000000");
    assert_eq!(value(&r.stdout, "id_aa64pfr1_el1"), "0000000000000000");
}
