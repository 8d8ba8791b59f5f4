// SPDX-License-Identifier: GPL-2.0-or-later
//! The engine hooks behind trace events that need them:
//! `guest_mem_before_exec` (the engine's memory-trace hook, engine patch
//! 0009: a call from translated code before each access, which keeps the
//! fast path and restores no CPU state) and `guest_exec_tb` (a block hook).
//! A hook exists only while its event is enabled or hypertrace rules
//! switch it (`Machine::resident_hooks`), so an event nothing can enable
//! costs nothing.
//!
//! Hooks change only between `emu_start` calls (the runner calls [`sync`]
//! when `Machine::reconfigure_due` is set), and the translated code is
//! dropped with them: code translated without a hook would never call it.

use crate::machine::blocks::{self, BlockUse};
use std::ffi::c_void;

use unicorn_engine::unicorn_const::uc_error;

use crate::machine::engine_ctl::{self, MemTraceHook, MEM_TRACE_STORE};
use crate::machine::{Engine, Machine};
use crate::trace::{EventKind, EventSet};

/// Events backed by engine hooks.
pub const HOOKED: EventSet = EventSet(EventKind::MemAccess.bit() | EventKind::ExecTb.bit());

/// Hooks currently installed.
#[derive(Debug, Default)]
pub struct Hooks {
    mem: Option<MemTraceHook>,
}

/// Installs or removes hooks so they match the enabled events.
pub fn sync(uc: &mut Engine<'_>) -> Result<(), uc_error> {
    let m = uc.get_data_mut();
    m.trace.reconfigure_due = false;
    let wanted = EventSet(m.trace.enabled.0 | m.trace.resident_hooks.0);
    let want_mem = wanted.contains(EventKind::MemAccess);
    let want_block = wanted.contains(EventKind::ExecTb) || m.trace.debug.needs_block_hook();
    let have_mem = m.trace.hooks.mem.is_some();
    let have_block = m.blocks.serves(BlockUse::Trace);
    if want_mem == have_mem && want_block == have_block {
        return Ok(());
    }
    if want_mem && !have_mem {
        // The engine keeps its data in one place for its whole life.
        let machine: *mut Machine = uc.get_data_mut();
        // SAFETY: on_mem_trace takes the Machine, which lives as long as
        // the engine.
        let hook = unsafe { engine_ctl::add_mem_trace_hook(uc, on_mem_trace, machine.cast())? };
        uc.get_data_mut().trace.hooks.mem = Some(hook);
    } else if !want_mem && have_mem {
        let hook = uc.get_data_mut().trace.hooks.mem.take().expect("checked");
        engine_ctl::remove_mem_trace_hook(uc, hook)?;
    }
    if want_block && !have_block {
        blocks::need(uc, BlockUse::Trace)?;
    } else if !want_block && have_block {
        blocks::release(uc, BlockUse::Trace)?;
    }
    uc.ctl_flush_tb()
}

/// The memory-trace callback: translated code calls it before each guest
/// load or store while `guest_mem_before_exec` is enabled.
extern "C" fn on_mem_trace(
    _uc: *mut unicorn_engine_sys::uc_engine,
    pc: u64,
    address: u64,
    value: u64,
    info: u32,
    data: *mut c_void,
) {
    // SAFETY: `data` is the engine's Machine (see sync), which lives as
    // long as the engine; callbacks run only inside emu_start on this
    // thread, where (as for the engine crate's own hooks) nothing else
    // touches the Machine while the callback runs.
    let machine = unsafe { &mut *data.cast::<Machine>() };
    let size = (info & 0xff) as usize;
    machine.on_mem_access(pc, address, size, info & MEM_TRACE_STORE != 0, value);
}
