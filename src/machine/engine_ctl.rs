// SPDX-License-Identifier: GPL-2.0-or-later
//! Controls that ht-user's engine patches add (engine/PATCHES.md) and the
//! `unicorn-engine` crate has no wrapper for. They are used through
//! `uc_ctl`, as the crate's own controls are.

use std::ffi::c_void;

use unicorn_engine::unicorn_const::uc_error;
use unicorn_engine::Unicorn;
use unicorn_engine_sys::{
    uc_ctl, uc_engine, uc_hook, uc_hook_add, uc_hook_del, ControlType, HookType,
};

/// `UC_CTL_WRITE(type, nr)` / `UC_CTL_READ(type, nr)` of unicorn.h: the
/// argument count and direction ride in the control word's top bits.
fn ctl_word(control: ControlType, args: u32, write: bool) -> ControlType {
    let io = if write { 1u32 << 30 } else { 2u32 << 30 };
    ControlType(control.0 | (args << 26) | io)
}

/// Writes a control that takes one int argument.
fn ctl_write_int<D>(
    uc: &mut Unicorn<'_, D>,
    control: ControlType,
    value: i32,
) -> Result<(), uc_error> {
    let word = ctl_word(control, 1, true);
    // SAFETY: the handle is live for `uc`'s lifetime; these controls take
    // one int argument, passed as the C ABI's promoted int.
    unsafe { uc_ctl(uc.get_handle(), word, value as libc::c_int) }.into()
}

/// Reads a control that writes one int.
fn ctl_read_int<D>(uc: &Unicorn<'_, D>, control: ControlType) -> Result<libc::c_int, uc_error> {
    let word = ctl_word(control, 1, false);
    let mut value: libc::c_int = -1;
    // SAFETY: the handle is live; these controls write one int through the
    // pointer, which points to a local that outlives the call.
    let result: Result<(), uc_error> =
        unsafe { uc_ctl(uc.get_handle(), word, &mut value as *mut libc::c_int) }.into();
    result.map(|()| value)
}

/// Patch 0005: translated code checks for a pending stop only at the start
/// of each block (inline, as QEMU does) instead of after every guest memory
/// access. Stops then land on block boundaries with every instruction
/// before them complete, so no store is ever executed twice. Flushes the
/// translated code.
pub fn set_exit_check_at_block_start<D>(uc: &mut Unicorn<'_, D>) -> Result<(), uc_error> {
    ctl_write_int(uc, ControlType::TCG_EXIT_CHECK, 0)
}

/// Whether stops are checked only at block start (see
/// [`set_exit_check_at_block_start`]).
pub fn exit_check_at_block_start<D>(uc: &Unicorn<'_, D>) -> Result<bool, uc_error> {
    ctl_read_int(uc, ControlType::TCG_EXIT_CHECK).map(|mode| mode == 0)
}

/// Patch 0006: MMIO regions mapped afterwards receive aligned 8-byte
/// accesses as one callback (the pristine engine splits them in two 4-byte
/// callbacks), dispatched straight to the callback.
pub fn set_mmio_wide_access<D>(uc: &mut Unicorn<'_, D>) -> Result<(), uc_error> {
    ctl_write_int(uc, ControlType::MMIO_WIDE_ACCESS, 1)
}

/// Patch 0009's `UC_MEM_TRACE_STORE`: the bit of a memory-trace callback's
/// `info` that marks a store (the low bits are the size in bytes).
pub const MEM_TRACE_STORE: u32 = 1 << 8;

/// A memory-trace callback (patch 0009's `uc_cb_mem_trace_t`): called from
/// translated code before each guest load or store, with the instruction's
/// pc, the address, the value stored (0 for a load) and size | store flag.
pub type MemTraceCallback = extern "C" fn(
    uc: *mut uc_engine,
    pc: u64,
    address: u64,
    value: u64,
    info: u32,
    data: *mut c_void,
);

/// An installed memory-trace hook.
#[derive(Debug, PartialEq, Eq)]
pub struct MemTraceHook(uc_hook);

/// Patch 0009: installs `callback` for every guest load and store of
/// instructions at any address; it applies to code translated from now on
/// (the caller flushes the translated code).
///
/// # Safety
///
/// `data` is handed to `callback` on every access: it must be what the
/// callback expects and stay valid until [`remove_mem_trace_hook`] or the
/// engine's end.
pub unsafe fn add_mem_trace_hook<D>(
    uc: &mut Unicorn<'_, D>,
    callback: MemTraceCallback,
    data: *mut c_void,
) -> Result<MemTraceHook, uc_error> {
    let mut hook: uc_hook = 0;
    // SAFETY: the handle is live; `hook` outlives the call; the callback
    // has the C signature the engine calls for this hook type; begin > end
    // means every address. `data` is only handed back to the callback.
    let result: Result<(), uc_error> = unsafe {
        uc_hook_add(
            uc.get_handle(),
            &mut hook,
            HookType::MEM_TRACE.0 as libc::c_int,
            callback as *mut c_void,
            data,
            1u64,
            0u64,
        )
    }
    .into();
    result.map(|()| MemTraceHook(hook))
}

/// An aarch64 system-instruction callback (`uc_cb_insn_sys_t`): a
/// non-zero result skips the instruction. The `unicorn-engine` crate's own
/// wrapper returns a Rust `bool` where the engine reads a `uint32_t`, so
/// that the instruction is skipped whenever the register's upper bits hold
/// garbage; hooks are added here, with the engine's signature, instead.
pub type SysInsnCallback = extern "C" fn(
    uc: *mut uc_engine,
    reg: unicorn_engine::RegisterARM64,
    op: *const unicorn_engine::RegisterARM64CP,
    data: *mut c_void,
) -> u32;

/// Installs `callback` for aarch64's SYS instructions (`dc`, `ic`, `at`,
/// `tlbi`) at any address, in code translated from now on.
///
/// # Safety
///
/// `data` is handed to `callback` on every such instruction: it must be
/// what the callback expects and stay valid for the engine's life.
pub unsafe fn add_sys_insn_hook<D>(
    uc: &mut Unicorn<'_, D>,
    callback: SysInsnCallback,
    data: *mut c_void,
) -> Result<(), uc_error> {
    let mut hook: uc_hook = 0;
    // SAFETY: the handle is live; `hook` outlives the call; the callback
    // has the C signature the engine calls for UC_HOOK_INSN with
    // UC_ARM64_INS_SYS, the instruction id the variadic argument carries;
    // begin > end means every address.
    unsafe {
        uc_hook_add(
            uc.get_handle(),
            &mut hook,
            HookType::INSN.0 as libc::c_int,
            callback as *mut c_void,
            data,
            1u64,
            0u64,
            unicorn_engine::Arm64Insn::UC_ARM64_INS_SYS as libc::c_int,
        )
    }
    .into()
}

/// Removes a hook [`add_mem_trace_hook`] installed.
pub fn remove_mem_trace_hook<D>(
    uc: &mut Unicorn<'_, D>,
    hook: MemTraceHook,
) -> Result<(), uc_error> {
    // SAFETY: the handle is live and the hook was added to this engine.
    unsafe { uc_hook_del(uc.get_handle(), hook.0) }.into()
}

/// Patch 0025: mapping a region where nothing is mapped, or unmapping one
/// whole, changes the engine's memory map in place (a binary search and
/// the region's own pages) instead of rebuilding it from every region.
pub fn set_incremental_memory_map<D>(uc: &mut Unicorn<'_, D>) -> Result<(), uc_error> {
    ctl_write_int(uc, ControlType::INCREMENTAL_MEMORY_MAP, 1)
}

/// Patch 0031: block hooks get the block's instruction count in bits
/// 16-31 of their size argument (the size in bytes in bits 0-15), which
/// `guest_exec_tb` records keep in their `aux`. Flushes translated code.
pub fn set_block_hook_insns<D>(uc: &mut Unicorn<'_, D>, on: bool) -> Result<(), uc_error> {
    ctl_write_int(uc, ControlType::BLOCK_HOOK_INSNS, i32::from(on))
}

/// Patch 0032: translated code is safe to run while other instances on
/// other host threads share the guest memory (QEMU's CF_PARALLEL): guest
/// atomics become host atomics, and an atomic the host cannot do as one
/// operation (misaligned, 128 bits, on MMIO) runs alone under a
/// process-wide lock. Flushes the translated code when it changes.
pub fn set_tcg_parallel<D>(uc: &mut Unicorn<'_, D>, on: bool) -> Result<(), uc_error> {
    ctl_write_int(uc, ControlType::TCG_PARALLEL, i32::from(on))
}

/// Whether patch 0032's parallel translation is on.
pub fn tcg_parallel<D>(uc: &Unicorn<'_, D>) -> Result<bool, uc_error> {
    ctl_read_int(uc, ControlType::TCG_PARALLEL).map(|on| on != 0)
}

/// Patch 0023: translated code counts retired guest instructions and
/// executed blocks, inline at the start of each block (see
/// [`insn_counters`]). Flushes the translated code when it changes.
pub fn set_insn_count<D>(uc: &mut Unicorn<'_, D>, on: bool) -> Result<(), uc_error> {
    ctl_write_int(uc, ControlType::INSN_COUNT, i32::from(on))
}

/// Guest instructions retired and translation blocks executed by the
/// engine's CPU so far, as patch 0023 counts them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InsnCounters {
    pub insns: u64,
    pub blocks: u64,
}

/// The CPU's counters. Called from an MMIO callback, the instructions of
/// the accessing block after the accessing one are left out, so the count
/// is exact at the access.
pub fn insn_counters<D>(uc: &Unicorn<'_, D>) -> Result<InsnCounters, uc_error> {
    let word = ctl_word(ControlType::INSN_COUNTERS, 2, false);
    let mut counters = InsnCounters::default();
    // SAFETY: the handle is live; the control writes one u64 through each
    // pointer, both to fields of a local that outlives the call.
    let result: Result<(), uc_error> = unsafe {
        uc_ctl(
            uc.get_handle(),
            word,
            &mut counters.insns as *mut u64,
            &mut counters.blocks as *mut u64,
        )
    }
    .into();
    result.map(|()| counters)
}

/// Sets the CPU's counters: guest threads that share the CPU each keep
/// their own, switched with the thread.
pub fn set_insn_counters<D>(
    uc: &mut Unicorn<'_, D>,
    counters: InsnCounters,
) -> Result<(), uc_error> {
    let word = ctl_word(ControlType::INSN_COUNTERS, 2, true);
    // SAFETY: the handle is live; the control takes two u64 arguments.
    unsafe { uc_ctl(uc.get_handle(), word, counters.insns, counters.blocks) }.into()
}

/// Patch 0042's `uc_code_page_event`: a block was translated from the page.
pub const CODE_PAGE_TRANSLATED: u32 = 0;
/// Patch 0042's `uc_code_page_event`: a store to the executable page took
/// the TLB's slow path.
pub const CODE_PAGE_WRITTEN: u32 = 1;

/// A code-page watch (patch 0042's `uc_cb_code_page_t`): told of each page
/// a block is translated from and of stores reaching executable pages
/// through the TLB's slow path; a non-zero result to a store leaves the
/// block before it.
pub type CodePageCallback =
    extern "C" fn(uc: *mut uc_engine, event: u32, page: u64, data: *mut c_void) -> libc::c_int;

/// Patch 0042: installs the engine's code-page watch.
///
/// # Safety
///
/// `data` is handed to `callback` on every event: it must be what the
/// callback expects and stay valid for the engine's life.
pub unsafe fn set_code_page_watch<D>(
    uc: &mut Unicorn<'_, D>,
    callback: CodePageCallback,
    data: *mut c_void,
) -> Result<(), uc_error> {
    let word = ctl_word(ControlType::CODE_PAGE_WATCH, 2, true);
    // SAFETY: the handle is live; the control takes a callback with the C
    // signature above and a pointer the engine only hands back to it.
    unsafe { uc_ctl(uc.get_handle(), word, callback as *mut c_void, data) }.into()
}
