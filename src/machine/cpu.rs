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
use crate::machine::{on_syscall, on_trap, Engine};
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
    Ok(())
}
