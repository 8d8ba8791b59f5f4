// SPDX-License-Identifier: GPL-2.0-or-later
//! The engine hooks behind trace events that need them:
//! `guest_mem_before_exec` (a memory hook) and `guest_exec_tb` (a block
//! hook). A hook exists only while its event is enabled: Unicorn takes its
//! slow path for every access while any memory hook is installed, so a
//! disabled event costs nothing.
//!
//! Hooks change only between `emu_start` calls (the runner calls [`sync`]
//! when `Machine::reconfigure_due` is set), and the translated code is
//! dropped with them: code translated without a hook would never call it.

use unicorn_engine::unicorn_const::{uc_error, HookType, MemType};
use unicorn_engine::UcHookId;

use crate::machine::Engine;
use crate::trace::{EventKind, EventSet};

/// Events backed by engine hooks.
pub const HOOKED: EventSet = EventSet(EventKind::MemAccess.bit() | EventKind::ExecTb.bit());

/// Hooks currently installed.
#[derive(Debug, Default)]
pub struct Hooks {
    mem: Option<UcHookId>,
    block: Option<UcHookId>,
}

/// Installs or removes hooks so they match the enabled events.
pub fn sync(uc: &mut Engine<'_>) -> Result<(), uc_error> {
    let m = uc.get_data_mut();
    m.reconfigure_due = false;
    let enabled = m.enabled;
    let want_mem = enabled.contains(EventKind::MemAccess);
    let want_block = enabled.contains(EventKind::ExecTb);
    let have_mem = m.hooks.mem.is_some();
    let have_block = m.hooks.block.is_some();
    if want_mem == have_mem && want_block == have_block {
        return Ok(());
    }
    if want_mem && !have_mem {
        let abi = uc.get_data().abi;
        let id = uc.add_mem_hook(
            HookType::MEM_READ | HookType::MEM_WRITE,
            1,
            0,
            move |uc: &mut Engine<'_>, kind: MemType, vaddr: u64, size: usize, value: i64| {
                let pc = abi.pc(uc);
                let is_store = kind == MemType::WRITE;
                uc.get_data_mut()
                    .on_mem_access(pc, vaddr, size, is_store, value as u64);
                true
            },
        )?;
        uc.get_data_mut().hooks.mem = Some(id);
    } else if !want_mem && have_mem {
        let id = uc.get_data_mut().hooks.mem.take().expect("checked");
        uc.remove_hook(id)?;
    }
    if want_block && !have_block {
        let id = uc.add_block_hook(1, 0, |uc: &mut Engine<'_>, pc: u64, size: u32| {
            uc.get_data_mut().on_block(pc, size);
        })?;
        uc.get_data_mut().hooks.block = Some(id);
    } else if !want_block && have_block {
        let id = uc.get_data_mut().hooks.block.take().expect("checked");
        uc.remove_hook(id)?;
    }
    uc.ctl_flush_tb()
}
