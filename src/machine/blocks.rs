// SPDX-License-Identifier: GPL-2.0-or-later
//! The one block hook. Every purpose that needs a callback per translated
//! block shares it: the scheduler's time slices, block tracing and
//! `-d in_asm`, and, when no watcher thread stops the engine, the polls
//! for host signals and monitor requests. It is installed while one of
//! them needs it and removed when none does; either change drops the
//! translations made without it (the engine calls block hooks from
//! translated code).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use unicorn_engine::unicorn_const::uc_error;
use unicorn_engine::UcHookId;

use super::{Engine, Machine};

/// What the block hook is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockUse {
    /// Time slices between guest threads (`sched`).
    Slices = 1,
    /// `guest_exec_tb` records and `-d in_asm`/`exec` (`instrument`).
    Trace = 2,
    /// Host signals for the guest while it computes (`delivery`).
    SignalPoll = 4,
    /// Monitor requests (`runner`).
    MonitorPoll = 8,
}

/// The hook's state, in [`Machine`].
#[derive(Default)]
pub struct BlockHook {
    id: Option<UcHookId>,
    uses: u8,
    /// Set by the monitor's thread when it has requests.
    monitor_attention: Option<Arc<AtomicBool>>,
}

impl BlockHook {
    pub fn serves(&self, purpose: BlockUse) -> bool {
        self.uses & purpose as u8 != 0
    }
}

/// Adds `purpose` to the hook, installing it if it is the first.
pub fn need(uc: &mut Engine<'_>, purpose: BlockUse) -> Result<(), uc_error> {
    let hook = &mut uc.get_data_mut().blocks;
    hook.uses |= purpose as u8;
    if hook.id.is_none() {
        let id = uc.add_block_hook(1, 0, on_block)?;
        uc.get_data_mut().blocks.id = Some(id);
        uc.ctl_flush_tb()?;
    }
    Ok(())
}

/// Removes `purpose`; the hook goes with the last one.
pub fn release(uc: &mut Engine<'_>, purpose: BlockUse) -> Result<(), uc_error> {
    let hook = &mut uc.get_data_mut().blocks;
    hook.uses &= !(purpose as u8);
    if hook.uses == 0 {
        if let Some(id) = hook.id.take() {
            uc.remove_hook(id)?;
            uc.ctl_flush_tb()?;
        }
    }
    Ok(())
}

/// Polls `attention` at every block: the monitor's requests stop the
/// engine when no watcher thread does.
pub fn poll_monitor(uc: &mut Engine<'_>, attention: Arc<AtomicBool>) -> Result<(), uc_error> {
    uc.get_data_mut().blocks.monitor_attention = Some(attention);
    need(uc, BlockUse::MonitorPoll)
}

fn on_block(uc: &mut Engine<'_>, pc: u64, size: u32) {
    let uses = uc.get_data().blocks.uses;
    if uses & BlockUse::Slices as u8 != 0 {
        super::sched::on_block(uc);
    }
    if uses & BlockUse::Trace as u8 != 0 {
        if uc.get_data().trace.debug.needs_block_hook() {
            Machine::log_block(uc, pc, size);
        }
        uc.get_data_mut().on_block(pc, size);
    }
    if uses & BlockUse::SignalPoll as u8 != 0 && crate::signals::guest_signal_waiting() {
        super::delivery::request(uc);
    }
    if uses & BlockUse::MonitorPoll as u8 != 0 {
        let m = uc.get_data_mut();
        if m.blocks
            .monitor_attention
            .as_ref()
            .is_some_and(|a| a.load(Ordering::Acquire))
        {
            m.monitor_due = true;
            let _ = uc.emu_stop();
        }
    }
}
