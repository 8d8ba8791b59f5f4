// SPDX-License-Identifier: GPL-2.0-or-later
//! gem5's m5ops in their instruction form, so that programs annotated for
//! gem5 run under ht-user as they are and their markers become hypertrace
//! region events.
//!
//! An m5op is an instruction the CPU does not define (x86_64 `0f 04` and a
//! 16-bit function; aarch64 `0xff000110 | func << 16`; arm `0xee000110 |
//! func << 16` in Arm and Thumb state; riscv64 `0x7b | func << 25`): it
//! traps as an illegal instruction, and before that becomes the guest's
//! SIGILL, [`try_emulate`] asks the architecture ([`Abi::m5op`]) whether
//! it is one. If so ht-user performs it and the guest goes on after it.
//!
//! | m5op | event |
//! |---|---|
//! | `m5_work_begin(workid, threadid)` | a region named `m5 work WORKID` opens |
//! | `m5_work_end(workid, threadid)` | it closes |
//! | `m5_reset_stats(delay, period)` | a region `m5 stats` opens (closing one still open) |
//! | `m5_dump_stats(delay, period)` | it closes (a point `m5 dump_stats` if none is open) |
//! | `m5_dump_reset_stats(delay, period)` | it closes and a new one opens |
//! | `m5_exit(delay)` | a point `m5 exit`; the program goes on |
//! | `m5_rpns()` | returns the host's CLOCK_MONOTONIC ns; no event |
//! | any other | a point `m5 op 0xNN`; no effect |
//!
//! The events are the guest library's named events (arg1 `op::BEGIN`,
//! `op::END` or `op::POINT`, arg2 the name's id, arg3 and arg4 the m5op's
//! two arguments) on the client numbered like the guest thread, with
//! names ht-user registers itself (ids from `HOST_NAME_IDS`). They are
//! recorded when the run has a hypertrace channel, whose events carry
//! the arguments; without one the ops still run and do nothing else.
//! Only `m5_rpns` writes a result register: gem5's other ops return
//! nothing and leave the caller's registers as they were.

use crate::arch::Abi;
use crate::hypertrace::op;
use crate::machine::Engine;

/// gem5's function numbers (include/gem5/asm/generic/m5ops.h).
pub mod func {
    pub const RPNS: u8 = 0x07;
    pub const EXIT: u8 = 0x21;
    pub const RESET_STATS: u8 = 0x40;
    pub const DUMP_STATS: u8 = 0x41;
    pub const DUMP_RESET_STATS: u8 = 0x42;
    pub const WORK_BEGIN: u8 = 0x5a;
    pub const WORK_END: u8 = 0x5b;
}

/// The m5op state of a process: the clients with a statistics interval
/// open (between `m5_reset_stats` and `m5_dump_stats`).
#[derive(Clone, Debug, Default)]
pub struct M5State {
    stats_open: Vec<u32>,
}

/// One named event an m5op becomes.
struct NamedEvent {
    arg1: u64,
    name: String,
}

impl M5State {
    /// The events of m5op `func` on `client`.
    fn events(&mut self, client: u32, func: u8, args: [u64; 2]) -> Vec<NamedEvent> {
        let ev = |arg1, name: &str| NamedEvent {
            arg1,
            name: name.to_string(),
        };
        let open = self.stats_open.iter().position(|&c| c == client);
        match func {
            func::WORK_BEGIN => vec![ev(op::BEGIN, &format!("m5 work {}", args[0]))],
            func::WORK_END => vec![ev(op::END, &format!("m5 work {}", args[0]))],
            func::RESET_STATS | func::DUMP_RESET_STATS | func::DUMP_STATS => {
                let mut out = Vec::new();
                match open {
                    Some(i) => {
                        self.stats_open.swap_remove(i);
                        out.push(ev(op::END, "m5 stats"));
                    }
                    None if func != func::RESET_STATS => out.push(ev(op::POINT, "m5 dump_stats")),
                    None => {}
                }
                if func != func::DUMP_STATS {
                    self.stats_open.push(client);
                    out.push(ev(op::BEGIN, "m5 stats"));
                }
                out
            }
            func::EXIT => vec![ev(op::POINT, "m5 exit")],
            func::RPNS => Vec::new(),
            other => vec![ev(op::POINT, &format!("m5 op {other:#04x}"))],
        }
    }
}

/// Performs the m5op the current thread trapped on, if the instruction at
/// its pc is one; false leaves the trap to signal delivery.
pub fn try_emulate(uc: &mut Engine<'_>) -> bool {
    let abi: &'static dyn Abi = uc.get_data().abi;
    let Some(m5) = abi.m5op(uc) else {
        return false;
    };
    let counts = if uc.get_data().trace.insn_counting {
        crate::machine::engine_ctl::insn_counters(uc)
            .ok()
            .map(|c| crate::trace::file::InsnCounts {
                insns: c.insns,
                blocks: c.blocks,
            })
    } else {
        None
    };
    let m = uc.get_data_mut();
    let client = m.thread_index;
    for event in m.m5.events(client, m5.func, m5.args) {
        m.on_host_named_event(client, event.arg1, &event.name, m5.args, counts);
    }
    if m5.func == func::RPNS {
        let ns = crate::trace::monotonic_ns();
        abi.write_syscall_result(uc, ns as i64);
    }
    abi.advance_pc(uc, m5.len);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(s: &mut M5State, client: u32, f: u8, a: u64) -> Vec<(u64, String)> {
        s.events(client, f, [a, 0])
            .into_iter()
            .map(|e| (e.arg1, e.name))
            .collect()
    }

    #[test]
    fn work_items_and_statistics_intervals_become_regions() {
        let mut s = M5State::default();
        let begin = |n: &str| (op::BEGIN, n.to_string());
        let end = |n: &str| (op::END, n.to_string());
        assert_eq!(
            names(&mut s, 0, func::WORK_BEGIN, 3),
            vec![begin("m5 work 3")]
        );
        assert_eq!(names(&mut s, 0, func::WORK_END, 3), vec![end("m5 work 3")]);
        assert_eq!(
            names(&mut s, 0, func::DUMP_STATS, 0),
            vec![(op::POINT, "m5 dump_stats".to_string())],
            "a dump with no interval open"
        );
        assert_eq!(
            names(&mut s, 0, func::RESET_STATS, 0),
            vec![begin("m5 stats")]
        );
        assert_eq!(
            names(&mut s, 1, func::RESET_STATS, 0),
            vec![begin("m5 stats")],
            "per client"
        );
        assert_eq!(
            names(&mut s, 0, func::RESET_STATS, 0),
            vec![end("m5 stats"), begin("m5 stats")],
            "a reset restarts the interval"
        );
        assert_eq!(
            names(&mut s, 0, func::DUMP_RESET_STATS, 0),
            vec![end("m5 stats"), begin("m5 stats")]
        );
        assert_eq!(names(&mut s, 0, func::DUMP_STATS, 0), vec![end("m5 stats")]);
        assert_eq!(names(&mut s, 1, func::DUMP_STATS, 0), vec![end("m5 stats")]);
        assert!(names(&mut s, 0, func::RPNS, 0).is_empty());
        assert_eq!(
            names(&mut s, 0, 0x55, 0),
            vec![(op::POINT, "m5 op 0x55".to_string())]
        );
    }
}
