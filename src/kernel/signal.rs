// SPDX-License-Identifier: GPL-2.0-or-later
//! Guest signals as the emulated kernel keeps them: dispositions, pending
//! signals with their `siginfo`, per-thread masks and alternate stacks,
//! and Linux's default actions. Plain data: delivery (frames, registers)
//! is `crate::machine::delivery`'s.
//!
//! Signal numbers here are the guest's (they differ on MIPS); a bit set
//! has bit `n - 1` for signal `n`.

use std::collections::VecDeque;

pub use crate::abi::signal::*;

/// A disposition, decoded from the guest's `struct sigaction`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Action {
    pub handler: u64,
    pub flags: u64,
    /// `sa_restorer`, where the ABI has one (0 otherwise).
    pub restorer: u64,
    /// Signals blocked while the handler runs (first 64).
    pub mask: u64,
}

impl Action {
    pub fn is_handler(&self) -> bool {
        self.handler > SIG_IGN
    }
}

/// The name of host signal `sig` (`SIGSEGV`; real-time ones by number,
/// as qemu-user prints them).
pub fn name(sig: i32) -> String {
    match nix::sys::signal::Signal::try_from(sig) {
        Ok(signal) => signal.as_str().to_string(),
        Err(_) => sig.to_string(),
    }
}

/// `si_code` as qemu-user's -strace prints it: the generic codes by
/// name, the per-signal ones (SEGV_MAPERR, CLD_EXITED, ...) as numbers.
fn code_name(code: i32) -> String {
    match code {
        SI_USER => "SI_USER".into(),
        SI_KERNEL => "SI_KERNEL".into(),
        SI_QUEUE => "SI_QUEUE".into(),
        SI_TIMER => "SI_TIMER".into(),
        SI_TKILL => "SI_TKILL".into(),
        _ => code.to_string(),
    }
}

/// A delivered signal as -strace prints it (qemu-user's
/// `--- SIG {si_signo=..., ...} ---` line).
pub fn strace_line(host_sig: i32, info: &Info, word_size: usize) -> String {
    let sig = name(host_sig);
    let fields = match info.fields {
        InfoFields::Sender { pid, uid, value } => {
            let value = if info.code == SI_QUEUE || info.code == SI_TIMER {
                format!(", si_sigval={value}")
            } else {
                String::new()
            };
            format!("si_pid={pid}, si_uid={uid}{value}")
        }
        InfoFields::Fault { addr } => {
            format!("si_addr={addr:#0width$x}", width = 2 + 2 * word_size)
        }
        InfoFields::Child { pid, uid, status } => {
            format!("si_pid={pid}, si_uid={uid}, si_status={status}")
        }
        // qemu-user prints a timer's id and overrun where a sender's pid
        // and uid would be.
        InfoFields::Timer {
            timer,
            overrun,
            value,
        } => format!("si_pid={timer}, si_uid={overrun}, si_sigval={value}"),
    };
    format!(
        "--- {sig} {{si_signo={sig}, si_code={}, {fields}}} ---\n",
        code_name(info.code)
    )
}

/// Signals the kernel raises for the instruction that caused them: they
/// are taken before any other pending signal.
pub fn is_synchronous(host_sig: i32) -> bool {
    matches!(
        host_sig,
        libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGTRAP | libc::SIGFPE | libc::SIGSYS
    )
}

/// The union part of `siginfo_t` that a signal carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InfoFields {
    /// kill, tkill, sigqueue, timers: sender and (queued) value.
    Sender { pid: u32, uid: u32, value: u64 },
    /// Faults: the address.
    Fault { addr: u64 },
    /// SIGCHLD: the child and its status.
    Child { pid: u32, uid: u32, status: i32 },
    /// A POSIX timer's expiration: its id, the expirations missed while
    /// the signal was pending (filled in when it is taken) and the
    /// sigevent's value.
    Timer {
        timer: i32,
        overrun: i32,
        value: u64,
    },
}

/// A `siginfo_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Info {
    pub signo: u64,
    pub code: i32,
    pub errno: i32,
    pub fields: InfoFields,
}

impl Info {
    pub fn sent(signo: u64, code: i32, pid: u32, uid: u32) -> Self {
        Info {
            signo,
            code,
            errno: 0,
            fields: InfoFields::Sender { pid, uid, value: 0 },
        }
    }

    pub fn fault(signo: u64, code: i32, addr: u64) -> Self {
        Info {
            signo,
            code,
            errno: 0,
            fields: InfoFields::Fault { addr },
        }
    }
}

/// Pending signals: standard signals are pending at most once (a second
/// one is merged), real-time ones (from 32) queue.
#[derive(Clone, Debug, Default)]
pub struct Pending {
    set: u64,
    queue: VecDeque<Info>,
}

/// First real-time signal number (the kernel's SIGRTMIN).
const FIRST_RT: u64 = 32;

impl Pending {
    pub fn set(&self) -> u64 {
        self.set
    }

    pub fn add(&mut self, info: Info) {
        // A timer's signal has its own queue entry, as Linux preallocates
        // it (the timer counts overruns instead of queuing it twice).
        let timer = matches!(info.fields, InfoFields::Timer { .. });
        if info.signo < FIRST_RT && self.set & bit(info.signo) != 0 && !timer {
            return;
        }
        self.set |= bit(info.signo);
        self.queue.push_back(info);
    }

    /// Takes the oldest pending instance of `sig`.
    pub fn take(&mut self, sig: u64) -> Option<Info> {
        let at = self.queue.iter().position(|i| i.signo == sig)?;
        let info = self.queue.remove(at)?;
        if !self.queue.iter().any(|i| i.signo == sig) {
            self.set &= !bit(sig);
        }
        Some(info)
    }

    /// Whether the signal of POSIX timer `id` is queued here.
    pub fn has_timer(&self, id: i32) -> bool {
        self.queue
            .iter()
            .any(|i| matches!(i.fields, InfoFields::Timer { timer, .. } if timer == id))
    }

    /// Drops every pending instance of `sig` (its action became ignore).
    pub fn discard(&mut self, sig: u64) {
        self.queue.retain(|i| i.signo != sig);
        self.set &= !bit(sig);
    }

    pub fn clear(&mut self) {
        *self = Pending::default();
    }
}

/// Which pending signal of `ready` (pending and not blocked) goes first:
/// synchronous ones, then the lowest number, as Linux picks.
pub fn next_of(ready: u64, synchronous: impl Fn(u64) -> bool) -> Option<u64> {
    if ready == 0 {
        return None;
    }
    let lowest = |set: u64| u64::from(set.trailing_zeros()) + 1;
    let sync: u64 = (1..=64u64)
        .filter(|&s| ready & bit(s) != 0 && synchronous(s))
        .fold(0, |m, s| m | bit(s));
    Some(if sync != 0 {
        lowest(sync)
    } else {
        lowest(ready)
    })
}

/// A thread's signal state.
#[derive(Clone, Debug, Default)]
pub struct ThreadSignals {
    pub mask: u64,
    /// Signals sent to this thread (tgkill, faults).
    pub pending: Pending,
    pub altstack: AltStack,
    /// The mask to restore when a sigsuspend/ppoll/pselect with a
    /// temporary mask returns through a handler.
    pub saved_mask: Option<u64>,
}

/// The process's dispositions and process-directed pending signals.
#[derive(Clone, Debug)]
pub struct ProcessSignals {
    actions: Vec<Action>,
    pub pending: Pending,
}

impl Default for ProcessSignals {
    fn default() -> Self {
        ProcessSignals {
            actions: vec![Action::default(); 65],
            pending: Pending::default(),
        }
    }
}

impl ProcessSignals {
    pub fn action(&self, sig: u64) -> Action {
        self.actions.get(sig as usize).copied().unwrap_or_default()
    }

    pub fn set_action(&mut self, sig: u64, action: Action) {
        if let Some(a) = self.actions.get_mut(sig as usize) {
            *a = action;
        }
    }

    /// Guest signals whose action is SIG_IGN.
    pub fn ignored(&self) -> u64 {
        (1..=64u64)
            .filter(|&s| self.action(s).handler == SIG_IGN)
            .fold(0, |m, s| m | bit(s))
    }

    /// Guest signals with a handler.
    pub fn handled(&self) -> u64 {
        (1..=64u64)
            .filter(|&s| self.action(s).is_handler())
            .fold(0, |m, s| m | bit(s))
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn signal_names_as_qemu_prints_them() {
        let names: Vec<String> = (1..=31).map(name).collect();
        assert_eq!(names[0], "SIGHUP");
        assert_eq!(names[15], "SIGSTKFLT");
        assert_eq!(names[28..], ["SIGIO", "SIGPWR", "SIGSYS"]);
        assert!(names.iter().all(|n| n.starts_with("SIG")));
        // Real-time signals and out-of-range numbers by number.
        assert_eq!(name(34), "34");
        assert_eq!(name(0), "0");
        assert_eq!(name(-3), "-3");
    }

    use super::*;

    #[test]
    fn standard_signals_merge_and_realtime_ones_queue() {
        let mut p = Pending::default();
        p.add(Info::sent(10, SI_USER, 1, 0));
        p.add(Info::sent(10, SI_USER, 2, 0));
        p.add(Info::sent(40, SI_QUEUE, 3, 0));
        p.add(Info::sent(40, SI_QUEUE, 4, 0));
        assert_eq!(p.set(), bit(10) | bit(40));
        assert!(matches!(
            p.take(10).unwrap().fields,
            InfoFields::Sender { pid: 1, .. }
        ));
        assert_eq!(p.take(10), None);
        assert!(matches!(
            p.take(40).unwrap().fields,
            InfoFields::Sender { pid: 3, .. }
        ));
        assert_eq!(p.set(), bit(40));
        assert!(matches!(
            p.take(40).unwrap().fields,
            InfoFields::Sender { pid: 4, .. }
        ));
        assert_eq!(p.set(), 0);
    }

    #[test]
    fn synchronous_signals_first_then_lowest() {
        let sync = |s: u64| s == 11;
        assert_eq!(next_of(bit(2) | bit(11), sync), Some(11));
        assert_eq!(next_of(bit(14) | bit(2), sync), Some(2));
        assert_eq!(next_of(0, sync), None);
    }

    #[test]
    fn alternate_stack_bounds() {
        let s = AltStack {
            sp: 0x1000,
            size: 0x1000,
            flags: 0,
        };
        assert!(s.contains(0x2000) && s.contains(0x1001));
        assert!(!s.contains(0x1000) && !s.contains(0x2001));
        assert!(!AltStack::default().contains(0x10));
        assert_eq!(s.top(), 0x2000);
    }

    #[test]
    fn a_wild_alternate_stack_wraps_instead_of_overflowing() {
        // sigaltstack takes any numbers; the frame below the top faults.
        let s = AltStack {
            sp: u64::MAX - 0xf,
            size: 0x1_0000,
            flags: 0,
        };
        assert_eq!(s.top(), 0xfff0);
        assert!(s.contains(u64::MAX) && !s.contains(0x10));
    }
}
