// SPDX-License-Identifier: GPL-2.0-or-later
//! POSIX timers with the posix-timers test guest
//! (guest/tests/posix-timers.c): timer_create and the other timer calls,
//! their errors, sigevent kinds, the delivered siginfo, overruns,
//! TIMER_ABSTIME, CPU-time clocks, timers across fork and timers waking
//! calls that block. Compared with what Linux prints and with qemu-user.

mod common;

use common::*;

/// What the checks print on Linux (x86_64 natively; the same on every
/// architecture), but for the alarm clocks: Linux refuses them with EPERM
/// to a process without CAP_WAKE_ALARM, as ht-user's guests are (a host
/// without a real-time clock says EOPNOTSUPP first).
const CHECKS: &str = "\
bad clock: EINVAL
CLOCK_MONOTONIC_RAW: EOPNOTSUPP
CLOCK_REALTIME_ALARM: EPERM
CLOCK_BOOTTIME_ALARM: EPERM
sigevent at a bad address: EFAULT
timer id at a bad address: EFAULT
bad sigev_notify: EINVAL
signal 0: EINVAL
signal 200: EINVAL
SIGEV_THREAD_ID of another process's thread: EINVAL
tv_nsec 1000000000: EINVAL
tv_nsec -1: EINVAL
negative interval: EINVAL
new value NULL: EINVAL
new value at a bad address: EFAULT
gettime at a bad address: EFAULT
settime of a bad id: EINVAL
gettime of a bad id: EINVAL
getoverrun of a bad id: EINVAL
delete of a bad id: EINVAL
delete: 0
gettime after delete: EINVAL
delete again: EINVAL
timer ids: first 8, second 9
id after a delete: 10
NULL sigevent: SIGALRM: yes, SI_TIMER: yes, si_value is the id: yes, si_timerid is the id: yes
periodic SIGUSR1: 3 signals: yes, SI_TIMER: yes, si_value: yes
gettime: interval 0.010000000, remaining within it: yes
old value: interval 0.010000000, remaining within it: yes
re-armed one-shot: interval 0: yes, remaining 1.9-2 s: yes
disarmed: old remaining 1.9-2 s: yes, now zero: yes
blocked periodic timer: pending: yes, getoverrun before delivery: 0, delivered: yes, first si_overrun >= 10: yes, getoverrun then: yes
real-time signal taken by sigwaitinfo: yes, si_overrun >= 5: yes, getoverrun is si_overrun: yes, queued once: yes
SIGEV_NONE: runs: yes, expired to zero: yes
TIMER_ABSTIME: fired after the time: yes; a past time fires at once: yes
CLOCK_REALTIME absolute: fired, value 2: yes
CLOCK_BOOTTIME: fired, value 3: yes
CLOCK_PROCESS_CPUTIME_ID timer fired while computing: yes
CLOCK_THREAD_CPUTIME_ID timer fired while computing: yes
read from an empty pipe: EINTR, handler ran: yes
pause: EINTR, handler ran: yes
nanosleep of 5 s: EINTR, time left 4-5 s: yes
futex wait: EINTR, handler ran: yes
read with SA_RESTART: 0, got 'x': yes, handler ran: yes
read while the timer's signal is blocked: 0, got 'y': yes
nanosleep while the timer's signal is blocked: 0, slept it all: yes
child after fork: parent's timer: EINVAL, child's first timer id: 0
parent's timer after the fork: 0
C long itimerspec: 0, remaining 2-3 s: yes
SIGEV_THREAD_ID: created: 0, handler ran in the target thread: yes, value 77: yes
SIGEV_THREAD: created: 0, notified 3 times with value 42: yes
";

/// Lines where qemu-user 7.2 differs from Linux: its timer ids are
/// 0x0caf0000 plus a slot (reused after a delete), a timer created without
/// a sigevent carries the host's id, and the alarm clocks are the host's
/// answer. qemu-mipsel and qemu-mips64el give timer signals the generic SI_TIMER (-2, which
/// is SI_ASYNCIO on MIPS), so musl's SIGEV_THREAD thread ignores them.
fn qemu_differs(line: &str) -> bool {
    let mips =
        is_mips() && (line.starts_with("periodic SIGUSR1:") || line.starts_with("SIGEV_THREAD:"));
    mips || line.starts_with("timer ids:")
        || line.starts_with("id after a delete:")
        || line.starts_with("NULL sigevent:")
        || line.starts_with("child after fork:")
        || line.contains("_ALARM:")
}

#[test]
fn posix_timer_checks_match_linux_and_qemu() {
    let g = guest("posix-timers");
    let r = run_ht([&g]);
    r.assert_code(0);
    assert_eq!(r.stdout, CHECKS, "on {}", arch());
    assert_like_qemu(&g, "posix-timers", &r, qemu_differs);
}

/// `-strace` names the timer calls with their arguments and shows a
/// timer's signal as qemu-user does (id and overrun in the sender's
/// fields).
#[test]
fn strace_shows_timer_calls() {
    let g = guest("posix-timers");
    let r = run_ht(["-strace".as_ref(), g.as_os_str()]);
    r.assert_code(0);
    let lines = r.stderr_lines();
    let has = |prefix: &str| lines.iter().any(|l| l.contains(prefix));
    // The generic 32-bit ABIs' C libraries use the 64-bit time calls.
    for call in [
        " timer_create(123,",
        " timer_getoverrun(",
        " timer_delete(",
        " timer_settime",
        " timer_gettime",
    ] {
        assert!(has(call), "no {call} in {}", r.stderr);
    }
    assert!(
        has("--- SIGUSR1 {si_signo=SIGUSR1, si_code=SI_TIMER, si_pid=")
            && has(", si_sigval=4660} ---"),
        "{}",
        r.stderr
    );
}
