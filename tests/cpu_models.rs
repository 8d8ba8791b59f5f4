// SPDX-License-Identifier: GPL-2.0-or-later
//! `-cpu MODEL` and `QEMU_CPU`: the model list, unknown models, a model
//! that changes what the guest sees (aarch64: cortex-a53 has no pointer
//! authentication), and programs the guest executes keeping the model.

mod common;

use common::*;

/// The pauth guest's output on a CPU without pointer authentication
/// (Linux and qemu-aarch64 refuse PR_PAC_RESET_KEYS there).
const NO_PAUTH: &str = "hwcap paca 0 pacg 0\nPR_PAC_RESET_KEYS: -1 Invalid argument\n";

#[test]
fn cpu_help_lists_every_architectures_models() {
    let r = run_ht(["-cpu", "help"]);
    r.assert_code(0);
    for want in [
        "x86_64:\n",
        "  Haswell (default)\n",
        "  qemu64\n",
        "aarch64:\n  cortex-a57\n  cortex-a53\n  cortex-a72\n  max (default)\n",
        "arm:\n",
        "  cortex-a15 (default)\n",
        "riscv64:\n",
        "  sifive-u54 (default)\n",
        "mipsel:\n",
        "  74Kf (default)\n",
        "mips64el:\n",
        "  5KEf (default)\n",
        "ppc64le:\n  power9 (default)\n",
        "s390x:\n  qemu (default)\n",
    ] {
        assert!(
            r.stdout.contains(want),
            "{want:?} missing from:\n{}",
            r.stdout
        );
    }
    // QEMU_CPU=help too, and with no program.
    let mut cmd = ht(Vec::<&str>::new());
    cmd.env("QEMU_CPU", "help");
    let e = run(cmd);
    e.assert_code(0);
    assert_eq!(e.stdout, r.stdout);
}

#[test]
fn an_unknown_model_is_an_error_listing_the_valid_ones() {
    let r = run_ht([
        "-cpu".as_ref(),
        "no-such-cpu".as_ref(),
        guest("hello").as_os_str(),
    ]);
    r.assert_code(1);
    let want = format!(
        "ht-user: unknown CPU model 'no-such-cpu' for {}; valid models: ",
        arch()
    );
    assert!(r.stderr.starts_with(&want), "{}", r.stderr);
    let default = match arch().as_str() {
        "x86_64" | "i386" => "Haswell",
        "aarch64" => "max",
        "arm" => "cortex-a15",
        "riscv64" => "sifive-u54",
        "mips64el" => "5KEf",
        "ppc64le" => "power9",
        "s390x" => "qemu",
        _ => "74Kf",
    };
    assert!(r.stderr.contains(default), "{}", r.stderr);
    assert!(r.stdout.is_empty());
}

#[test]
fn the_default_named_in_another_case_runs_as_without_cpu() {
    let name = match arch().as_str() {
        "x86_64" | "i386" => "HASWELL",
        "aarch64" => "MAX",
        "arm" => "Cortex-A15",
        "riscv64" => "SiFive-U54",
        "mips64el" => "5kef",
        "ppc64le" => "POWER9",
        "s390x" => "QEMU",
        _ => "74kf",
    };
    let r = run_ht(["-cpu".as_ref(), name.as_ref(), guest("hello").as_os_str()]);
    r.assert_code(0);
    let plain = run_ht([guest("hello")]);
    assert_eq!(r.stdout, plain.stdout);
}

#[test]
fn cortex_a53_has_no_pointer_authentication() {
    if arch() != "aarch64" {
        return;
    }
    let g = guest("pauth");
    let r = run_ht(["-cpu".as_ref(), "cortex-a53".as_ref(), g.as_os_str()]);
    r.assert_code(0);
    assert_eq!(r.stdout, NO_PAUTH);
    if let Some(q) = qemu_or_skip("cortex_a53_has_no_pointer_authentication") {
        let qr = run(qemu(
            &q,
            ["-cpu".as_ref(), "cortex-a53".as_ref(), g.as_os_str()],
        ));
        assert_eq!(qr.stdout, r.stdout);
    }
    // QEMU_CPU does the same; -cpu wins over it.
    let mut cmd = ht([&g]);
    cmd.env("QEMU_CPU", "cortex-a53");
    assert_eq!(run(cmd).stdout, NO_PAUTH);
    let mut cmd = ht(["-cpu".as_ref(), "max".as_ref(), g.as_os_str()]);
    cmd.env("QEMU_CPU", "cortex-a53");
    let r = run(cmd);
    assert!(
        r.stdout.starts_with("hwcap paca 1 pacg 1\n"),
        "{}",
        r.stdout
    );
}

#[test]
fn an_executed_program_keeps_the_model() {
    if arch() != "aarch64" {
        return;
    }
    let g = guest("pauth");
    let fe = guest("fork-exec");
    let r = run_ht([
        "-cpu".as_ref(),
        "cortex-a53".as_ref(),
        fe.as_os_str(),
        "exec".as_ref(),
        g.as_os_str(),
    ]);
    r.assert_code(0);
    assert_eq!(r.stdout, NO_PAUTH);
    // A program of another architecture runs on that one's default.
    let arm_hello = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/arm/hello");
    let r = run_ht([
        "-cpu".as_ref(),
        "cortex-a53".as_ref(),
        fe.as_os_str(),
        "exec".as_ref(),
        arm_hello.as_os_str(),
    ]);
    r.assert_code(0);
    assert_eq!(r.stdout, "hello from the guest\n");
    // The same from QEMU_CPU (which the guest's environment need not keep).
    let mut cmd = ht([fe.as_os_str(), "exec".as_ref(), g.as_os_str()]);
    cmd.env("QEMU_CPU", "cortex-a53");
    assert_eq!(run(cmd).stdout, NO_PAUTH);
}

/// x86's "max" (engine patch 0033): every extension the translator has;
/// programs run on it as on the default.
#[test]
fn x86_max_model_runs_programs() {
    if !matches!(arch().as_str(), "x86_64" | "i386") {
        return;
    }
    let r = run_ht(["-cpu".as_ref(), "max".as_ref(), guest("hello").as_os_str()]);
    r.assert_code(0);
    assert_eq!(r.stdout, run_ht([guest("hello")]).stdout);
    let help = run_ht(["-cpu", "help"]);
    assert!(help.stdout.contains("  max\n"), "{}", help.stdout);
}
