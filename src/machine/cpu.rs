// SPDX-License-Identifier: GPL-2.0-or-later
//! The engine as the architectures see it ([`GuestCpu`]), and the hooks
//! through which the CPU's exceptions reach the system-call and signal
//! paths: the architecture says what an exception is, this layer acts.

use unicorn_engine::unicorn_const::uc_error;
use unicorn_engine::{Context, RegisterARM64CP, X86Insn};

use crate::arch::cpu::{Cpu, CpuFacts};
use crate::arch::{Abi, ArchError, ArchSlot, CpuEvent, EngineResult, GuestCpu, Trap};
use crate::arch::{MemMut, MemRef};
use crate::kernel::Process;
use crate::machine::{engine_ctl, on_syscall, on_trap, Engine, Machine, StopReason};
use crate::mem::AddressSpace;

/// The process's memory while its lock is held.
struct ProcessMemory<'a>(std::sync::MutexGuard<'a, Process>);

impl std::ops::Deref for ProcessMemory<'_> {
    type Target = AddressSpace;
    fn deref(&self) -> &AddressSpace {
        &self.0.mem
    }
}

impl std::ops::DerefMut for ProcessMemory<'_> {
    fn deref_mut(&mut self) -> &mut AddressSpace {
        &mut self.0.mem
    }
}

impl GuestCpu for Engine<'_> {
    fn abi(&self) -> &'static dyn Abi {
        self.get_data().abi
    }
    fn model(&self) -> Cpu {
        self.get_data().cpu_model
    }
    fn facts(&self) -> &CpuFacts {
        &self.get_data().cpu_facts
    }
    fn read_reg(&self, reg: i32) -> Result<u64, uc_error> {
        self.reg_read(reg)
    }
    fn write_reg(&mut self, reg: i32, value: u64) -> Result<(), uc_error> {
        self.reg_write(reg, value)
    }
    fn write_reg_bytes(&mut self, reg: i32, value: &[u8]) -> Result<(), uc_error> {
        self.reg_write_long(reg, value)
    }
    fn read_arm64_sysreg(&self, reg: &mut RegisterARM64CP) -> Result<(), uc_error> {
        self.reg_read_arm64_coproc(reg)
    }
    fn write_arm64_sysreg(&mut self, reg: &RegisterARM64CP) -> Result<(), uc_error> {
        self.reg_write_arm64_coproc(reg)
    }
    fn set_engine_model(&mut self, model: i32) -> Result<(), uc_error> {
        self.ctl_set_cpu_model(model)
    }
    fn set_engine_page_size(&mut self, size: u32) -> Result<(), uc_error> {
        self.ctl_set_page_size(size)
    }
    fn save_state(&mut self) -> Result<Context, uc_error> {
        let mut state = self.context_alloc()?;
        self.context_save(&mut state)?;
        Ok(state)
    }
    fn restore_state(&mut self, state: &Context) -> Result<(), uc_error> {
        self.context_restore(state)
    }
    fn mem(&self) -> MemRef<'_> {
        Box::new(ProcessMemory(self.get_data().lock_process()))
    }
    fn mem_mut(&mut self) -> MemMut<'_> {
        Box::new(ProcessMemory(self.get_data().lock_process()))
    }
    fn page_was_refused(&self) -> bool {
        self.get_data().fault.last_fault.is_some()
    }
    fn take_fault_pc(&mut self) -> Option<u64> {
        self.get_data_mut().fault.fault_pc.take()
    }
    fn slot(&mut self) -> &mut ArchSlot {
        &mut self.get_data_mut().arch
    }
    fn raise_trap(&mut self, trap: Trap) {
        on_trap(self, trap);
    }
}

/// The guest's instruction-cache maintenance by instruction (aarch64's
/// `ic ivau`) drops the engines' translations of that code. An engine
/// detects stores into code it translated only through the same mapping:
/// not a store through another view of the same memory (a JIT's
/// write-xor-execute double mapping), nor one another engine made
/// (`-sched parallel`).
fn watch_icache_instructions(uc: &mut Engine<'_>) -> Result<(), uc_error> {
    // The engine keeps its data in one place for its whole life.
    let machine: *mut Machine = uc.get_data_mut();
    // SAFETY: on_sys_instruction takes the Machine, which lives as long
    // as the engine.
    unsafe { engine_ctl::add_sys_insn_hook(uc, on_sys_instruction, machine.cast()) }
}

/// A SYS instruction: one that invalidates instruction-cache lines stops
/// the engine after it, and the flush is done before the guest runs on
/// ([`apply_code_flushes`]). Every instruction runs as it would (0).
extern "C" fn on_sys_instruction(
    uc: *mut unicorn_engine_sys::uc_engine,
    _reg: unicorn_engine::RegisterARM64,
    op: *const RegisterARM64CP,
    data: *mut std::ffi::c_void,
) -> u32 {
    // SAFETY: `data` is the engine's Machine (see watch_icache_instructions),
    // which lives as long as the engine; callbacks run only inside
    // emu_start on this thread, where nothing else touches the Machine
    // while the callback runs. `op` points at the engine's operands for
    // the duration of the call.
    let (machine, op) = unsafe { (&mut *data.cast::<Machine>(), &*op) };
    let sys = crate::arch::SysInstruction {
        op0: op.op0,
        op1: op.op1,
        crn: op.crn,
        crm: op.crm,
        op2: op.op2,
        value: op.val,
    };
    if let Some(flush) = machine.abi.icache_flush(&sys) {
        machine.tlb.code_flushes.push(flush);
        // SAFETY: the engine is the one running this callback; stopping
        // it only sets its exit request (it stops before its next block).
        unsafe { unicorn_engine::unicorn_const::uc_emu_stop(uc) };
    }
    0
}

/// Drops every engine's translations of the code the guest invalidated by
/// instruction since the engine last stopped, as Linux's broadcast
/// maintenance does before the guest's next instruction runs.
pub fn apply_code_flushes(uc: &mut Engine<'_>) -> Result<(), StopReason> {
    let flushes = std::mem::take(&mut uc.get_data_mut().tlb.code_flushes);
    if flushes.is_empty() {
        return Ok(());
    }
    {
        let mut p = uc.get_data().lock_process();
        for (start, len) in flushes {
            p.mem.invalidate_code(start, len);
        }
    }
    crate::machine::memory::apply_pending(uc)
        .map(|_| ())
        .map_err(|e| StopReason::Internal(e.to_string()))
}

/// Sets the process's CPU up in a new engine (model and the architecture's
/// settings) and installs the hooks that turn its exceptions into system
/// calls and signals.
pub fn prepare(uc: &mut Engine<'_>) -> Result<(), ArchError> {
    let abi = uc.get_data().abi;
    abi.prepare(uc)?;
    uc.add_intr_hook(move |uc, intno| match abi.exception(uc, intno) {
        CpuEvent::Syscall => on_syscall(uc),
        CpuEvent::Trap(trap) => on_trap(uc, trap),
        CpuEvent::Handled => {}
    })
    .engine("hook exceptions")?;
    let hooks = abi.trap_hooks();
    if hooks.syscall_instruction {
        uc.add_insn_sys_hook(X86Insn::SYSCALL, 1, 0, on_syscall)
            .engine("hook syscall")?;
    }
    if hooks.invalid_instruction {
        uc.add_insn_invalid_hook(move |uc| match abi.invalid_instruction(uc) {
            Some(trap) => {
                on_trap(uc, trap);
                true
            }
            None => false,
        })
        .engine("hook invalid instructions")?;
    }
    if hooks.icache_instruction {
        watch_icache_instructions(uc).engine("hook instruction-cache maintenance")?;
    }
    Ok(())
}
