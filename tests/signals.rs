// SPDX-License-Identifier: GPL-2.0-or-later
//! Signal delivery with the signals test guest (guest/tests/signals.c):
//! handlers, masks, real-time queues, faults with their exact si_addr
//! (SIGBUS past the end of a mapped file),
//! returning to a faulting store after fixing the page, a handler that
//! moves the saved pc, alternate stacks, interrupted and restarted system
//! calls, sigsuspend/pause/sigtimedwait, default actions, a signal to
//! another thread; SIGINT from the host to a guest handler. Compared with
//! what Linux prints and with qemu-user.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use common::*;

/// What the checks print on Linux (x86_64 natively; the same on every
/// architecture but the three lines of `arch_lines` and, with glibc, those
/// of `libc_line`).
const CHECKS: &str = "\
raise: handler ran 1 time(s), signo SIGUSR1, code SI_TKILL: yes, pid: yes
kill: handler ran 1 time(s), code SI_USER: yes
blocked: ran 0 time(s), pending: yes
unblocked: ran 1 time(s) (standard signals merge)
real-time signal queued 3 times: ran 3 time(s), last value 30, code SI_QUEUE: yes
inside the handler: own signal blocked: yes, sa_mask signal blocked: yes
with SA_NODEFER: own signal blocked: no
after the handlers: SIGUSR1 blocked: no, SIGUSR2 blocked: no
SA_RESETHAND: handler afterwards is SIG_DFL: yes
handler added SIGUSR2 to uc_sigmask: blocked after return: yes
read of an unmapped address: SIGSEGV, SEGV_MAPERR: yes, si_addr exact: yes
write to an unmapped address: SIGSEGV, si_addr exact: yes
write to a read-only page: SIGSEGV, SEGV_ACCERR: yes, si_addr exact: yes, faulted 3 times, then the store completed: 42
shared file mapping: first page 'h', past the end of the file: SIGBUS, BUS_ADRERR: yes, si_addr exact: yes
private file mapping: first page 'h', past the end of the file: SIGBUS, BUS_ADRERR: yes, si_addr exact: yes
__builtin_trap: SIGILL
undefined instruction: SIGILL, ILL_ILLOPN
integer division by zero: SIGFPE
handler changed the saved pc: resumed there: yes
SA_ONSTACK handler on the alternate stack: yes, SS_ONSTACK: yes
handler without SA_ONSTACK on the alternate stack: no
sigaltstack of 16 bytes: -1 Out of memory
read interrupted by a handler without SA_RESTART: -1 Interrupted system call, handler ran 1
read with SA_RESTART: restarted, got 1 byte 'x', handler ran 1
nanosleep with SA_RESTART: -1 Interrupted system call (never restarted)
pause: -1 Interrupted system call, handler ran 1
sigsuspend: -1 Interrupted system call, handler ran 1, mask restored (SIGALRM blocked): yes
sigwaitinfo took SIGALRM, code SI_TKILL: yes, handler ran: no
sigtimedwait with nothing pending: -1 Resource temporarily unavailable
child raising SIGUSR1 (default): killed by SIGUSR1
child raising SIGCHLD (default: ignored): exited 6
child faulting with SIGSEGV blocked: killed by SIGSEGV
child raising SIGSTOP: stopped by SIGSTOP
after SIGCONT: exited 8
thread's read: -1 Interrupted system call
pthread_kill: handler ran in the target thread: yes
";

/// The lines that depend on the architecture's instructions and kernel:
/// what `__builtin_trap` executes, the si_code Linux gives SIGILL for an
/// undefined instruction (x86's #UD: ILL_ILLOPN; arm, arm64, riscv and
/// PowerPC: ILL_ILLOPC; MIPS's reserved instruction: a plain SIGILL, SI_KERNEL)
/// and whether integer division traps.
fn arch_lines() -> [&'static str; 3] {
    match arch().as_str() {
        "aarch64" => [
            "__builtin_trap: SIGTRAP",
            "undefined instruction: SIGILL, ILL_ILLOPC",
            "integer division by zero: none (result 0)",
        ],
        // PowerPC's divide instructions leave an undefined result.
        "riscv64" | "ppc64le" => [
            "__builtin_trap: SIGTRAP",
            "undefined instruction: SIGILL, ILL_ILLOPC",
            "integer division by zero: none (other result)",
        ],
        "mipsel" | "mips64el" => [
            "__builtin_trap: SIGTRAP",
            "undefined instruction: SIGILL, SI_KERNEL",
            "integer division by zero: SIGFPE",
        ],
        // gcc's s390x __builtin_trap is a compare-and-trap that always
        // traps: a data exception, SIGFPE on Linux.
        "s390x" => [
            "__builtin_trap: SIGFPE",
            "undefined instruction: SIGILL, ILL_ILLOPC",
            "integer division by zero: SIGFPE",
        ],
        // arm's division helper raises SIGFPE.
        "arm" => [
            "__builtin_trap: SIGILL",
            "undefined instruction: SIGILL, ILL_ILLOPC",
            "integer division by zero: SIGFPE",
        ],
        _ => [
            "__builtin_trap: SIGILL",
            "undefined instruction: SIGILL, ILL_ILLOPN",
            "integer division by zero: SIGFPE",
        ],
    }
}

/// riscv64 guests are built with glibc (Debian has no musl for it):
/// glibc words ENOMEM differently, and its sigwaitinfo reports SI_TKILL
/// as SI_USER.
fn libc_line(line: &str) -> Option<&'static str> {
    if arch() != "riscv64" {
        return None;
    }
    if line.starts_with("sigaltstack of 16 bytes") {
        Some("sigaltstack of 16 bytes: -1 Cannot allocate memory")
    } else if line.starts_with("sigwaitinfo took") {
        Some("sigwaitinfo took SIGALRM, code SI_TKILL: no, handler ran: no")
    } else {
        None
    }
}

/// Lines where qemu-user itself differs from Linux: qemu-riscv64 7.2
/// leaves a handler's sa_mask signals unblocked while it runs;
/// qemu-mipsel and qemu-mips64el 7.2 raise SIGTRAP for the divide-by-zero trap (code 7),
/// where Linux raises SIGFPE; qemu-arm and qemu-aarch64 7.2 give an
/// undefined instruction's SIGILL ILL_ILLOPN, where Linux gives ILL_ILLOPC
/// (arm's and arm64's do_undefinstr); qemu-ppc64le 7.2 reports a store to
/// a read-only page as SEGV_MAPERR, where Linux gives SEGV_ACCERR.
fn qemu_wrong(line: &str) -> bool {
    // qemu-user 7.2 on 32-bit guests reports SIGBUS past the end of a
    // file with a wrong si_addr.
    let bus_addr = line.contains("past the end of the file");
    let undefined = line.starts_with("undefined instruction:");
    match arch().as_str() {
        "riscv64" => line.starts_with("inside the handler:"),
        "mipsel" => line.starts_with("integer division") || bus_addr,
        "mips64el" => line.starts_with("integer division"),
        "i386" => bus_addr,
        "arm" => bus_addr || undefined,
        "aarch64" => undefined,
        "ppc64le" => line.starts_with("write to a read-only page"),
        _ => false,
    }
}

fn expected() -> String {
    let [trap, ill, div] = arch_lines();
    CHECKS
        .lines()
        .map(|l| {
            if l.starts_with("__builtin_trap") {
                trap
            } else if l.starts_with("undefined instruction") {
                ill
            } else if l.starts_with("integer division") {
                div
            } else {
                libc_line(l).unwrap_or(l)
            }
        })
        .map(|l| {
            // s390 reports the page of a memory fault, not the byte.
            if guest_is_big_endian() {
                l.replace("si_addr exact: yes", "si_addr exact: no")
            } else {
                l.to_string()
            }
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn signal_checks_match_linux() {
    let g = guest("signals");
    let r = run_ht([&g]);
    r.assert_code(0);
    assert_eq!(r.stdout, expected(), "on {}", arch());
    // The one child that dies of a fault reports it like qemu-user.
    assert!(
        r.stderr
            .contains("uncaught target signal 11 (Segmentation fault)"),
        "{}",
        r.stderr
    );
    let Some(q) = qemu_or_skip("signals") else {
        return;
    };
    let qr = run(qemu(&q, [&g]));
    if qr.exit() != 0 {
        // qemu-arm 7.2 aborts when a handler moves the saved pc; compare
        // what it printed before.
        eprintln!(
            "qemu exited {}; comparing its {} lines",
            qr.exit(),
            qr.stdout.lines().count()
        );
        let n = qr.stdout.lines().count();
        let ours: Vec<&str> = r
            .stdout
            .lines()
            .take(n)
            .filter(|l| !qemu_wrong(l))
            .collect();
        assert_eq!(ours, lines_except(&qr.stdout, qemu_wrong));
        return;
    }
    assert_eq!(
        lines_except(&r.stdout, qemu_wrong),
        lines_except(&qr.stdout, qemu_wrong)
    );
}

/// Starts the guest in `mode`, waits for its first line, sends SIGINT to
/// ht-user and returns the run.
fn interrupt_guest(mode: &str, first_line: &str) -> Run {
    let g = guest("signals");
    let mut cmd = ht([g.as_os_str(), mode.as_ref()]);
    cmd.stdout(Stdio::piped());
    let mut child = spawn(&mut cmd);
    let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("first line");
    assert_eq!(line.trim_end(), first_line);
    // Let the guest reach its wait (or loop) before the signal.
    std::thread::sleep(Duration::from_millis(200));
    send_signal(child.id(), libc::SIGINT);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).expect("rest of stdout");
    let mut r = finish_within(child, Duration::from_secs(30));
    r.stdout = rest;
    r
}

#[test]
fn sigint_reaches_a_handler_waiting_in_pause() {
    let r = interrupt_guest("wait-int", "waiting");
    r.assert_code(3);
    assert_eq!(r.stdout, "got SIGINT in pause\n");
    assert!(!r.stderr.contains("interrupted"), "{}", r.stderr);
}

#[test]
fn sigint_reaches_a_handler_while_the_guest_computes() {
    let r = interrupt_guest("spin-int", "spinning");
    r.assert_code(4);
    assert_eq!(r.stdout, "got SIGINT while computing\n");
}

/// Host signals reach the handlers of a guest that computes without
/// system calls, one after the other: each is taken while the loop runs
/// (the watcher thread stops the engine for it), none is lost or taken
/// twice, and nothing else stops the guest.
#[test]
fn host_signals_reach_a_computing_guest_one_by_one() {
    const SIGNALS: usize = 200;
    let g = guest("signals");
    let mut cmd = ht([g.as_os_str(), "count-usr1".as_ref()]);
    cmd.stdout(Stdio::piped());
    let mut child = spawn(&mut cmd);
    let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("first line");
    assert_eq!(line.trim_end(), "counting");
    for n in 1..=SIGNALS {
        send_signal(child.id(), libc::SIGUSR1);
        line.clear();
        out.read_line(&mut line).expect("a count");
        assert_eq!(line.trim_end(), n.to_string(), "after signal {n}");
    }
    send_signal(child.id(), libc::SIGINT);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).expect("rest of stdout");
    let r = finish_within(child, Duration::from_secs(30));
    r.assert_code(6);
    assert_eq!(rest, format!("got SIGINT after {SIGNALS} SIGUSR1\n"));
}

#[test]
fn sigint_ignored_by_the_guest_changes_nothing() {
    let r = interrupt_guest("ignore-int", "ignoring");
    r.assert_code(5);
    assert_eq!(r.stdout, "still here\n");
}

/// `-strace` shows each signal taken as qemu-user does: `--- SIG {...} ---`.
#[test]
fn strace_shows_signals_like_qemu() {
    let g = guest("signals");
    let r = run_ht(["-strace".as_ref(), g.as_os_str()]);
    r.assert_code(0);
    let normalise = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with("--- "))
            .map(|l| {
                let l = regex_lite_replace(l, "si_pid=", ',');
                regex_lite_replace(&l, "si_addr=", '}')
            })
            .collect()
    };
    let ours = normalise(&r.stderr);
    assert!(
        ours.iter().any(
            |l| l == "--- SIGUSR1 {si_signo=SIGUSR1, si_code=SI_TKILL, si_pid=_, si_uid=0} ---"
        ),
        "{ours:#?}"
    );
    assert!(
        ours.iter()
            .any(|l| l == "--- SIGSEGV {si_signo=SIGSEGV, si_code=2, si_addr=_} ---"),
        "{ours:#?}"
    );
    let Some(q) = qemu_or_skip("strace of signals") else {
        return;
    };
    let qr = run(qemu(&q, ["-strace".as_ref(), g.as_os_str()]));
    if qr.exit() == 0 {
        // qemu-mipsel 7.2 raises SIGTRAP for the divide-by-zero trap.
        let keep = |lines: Vec<String>| -> Vec<String> {
            lines
                .into_iter()
                .filter(|l| !(is_mips() && (l.contains("SIGFPE") || l.contains("SIGTRAP"))))
                // qemu-user prints SIGBUS's fields as a sender's.
                .filter(|l| !l.starts_with("--- SIGBUS"))
                // qemu-arm and qemu-aarch64 give an undefined instruction
                // ILL_ILLOPN, Linux ILL_ILLOPC (see qemu_wrong).
                .filter(|l| {
                    !(matches!(arch().as_str(), "arm" | "aarch64") && l.starts_with("--- SIGILL"))
                })
                // qemu-ppc64le gives a store to a read-only page
                // SEGV_MAPERR (see qemu_wrong).
                .filter(|l| !(arch() == "ppc64le" && l.starts_with("--- SIGSEGV")))
                .collect()
        };
        let (ours, theirs) = (keep(ours), keep(normalise(&qr.stderr)));
        // qemu-user writes its -strace lines in pieces, so a forked
        // child's line can land inside one of the parent's: then there
        // is nothing to compare with.
        // A stray pid from another process's line can also land in front
        // of the signal's name ("--- 15844 SIGSEGV {...").
        let well_formed = |l: &String| {
            l.ends_with("} ---")
                && l.matches('{').count() == 1
                && l.matches('}').count() == 1
                && !l.contains('(')
                && l.strip_prefix("--- ")
                    .and_then(|rest| rest.split_once(" {"))
                    .is_some_and(|(name, _)| !name.contains(' '))
        };
        if !theirs.iter().all(well_formed) {
            eprintln!("qemu's -strace lines are interleaved; not compared");
            return;
        }
        // qemu-user now and then prints no line for the signal another
        // thread takes (the last one): then its lines are our prefix.
        if theirs.len() + 1 == ours.len() {
            assert_eq!(ours[..theirs.len()], theirs[..]);
        } else if ours != theirs {
            // A forked child's lines reach the log through its own stream:
            // on a loaded machine one may land after a later line of the
            // parent's. The same lines must still be there.
            let sorted = |v: &[String]| {
                let mut v = v.to_vec();
                v.sort();
                v
            };
            assert_eq!(sorted(&ours), sorted(&theirs), "{ours:#?}\n{theirs:#?}");
        }
    }
}

/// Replaces the value after `key` (up to `end`) with `_`.
fn regex_lite_replace(line: &str, key: &str, end: char) -> String {
    match line.find(key) {
        Some(at) => {
            let from = at + key.len();
            let to = line[from..].find(end).map_or(line.len(), |i| from + i);
            format!("{}_{}", &line[..from], &line[to..])
        }
        None => line.to_string(),
    }
}
