// SPDX-License-Identifier: GPL-2.0-or-later
//! The guest CPU as the per-architecture code sees it: the engine's
//! registers and controls and the process's memory, behind one trait that
//! the engine layer implements. The architectures never name the engine
//! layer's types, so `arch` sits below it.

use unicorn_engine::unicorn_const::uc_error;
use unicorn_engine::{Context, RegisterARM64CP};

use super::cpu::{Cpu, CpuFacts};
use super::{Abi, Trap};
use crate::mem::AddressSpace;

/// The process's memory as [`GuestCpu::mem`] hands it out: a guard on the
/// state every thread of the process shares.
pub type MemRef<'a> = Box<dyn std::ops::Deref<Target = AddressSpace> + 'a>;
/// The same, for changing it ([`GuestCpu::mem_mut`]).
pub type MemMut<'a> = Box<dyn std::ops::DerefMut<Target = AddressSpace> + 'a>;

/// A guest CPU stopped in a hook or between runs, with its process's
/// memory.
pub trait GuestCpu {
    /// The ABI of the process.
    fn abi(&self) -> &'static dyn Abi;
    /// The CPU model the process runs on (`-cpu`).
    fn model(&self) -> Cpu;
    /// What that model tells the guest (AT_HWCAP and the rest).
    fn facts(&self) -> &CpuFacts;
    /// Register `reg` (an engine register id).
    fn read_reg(&self, reg: i32) -> Result<u64, uc_error>;
    fn write_reg(&mut self, reg: i32, value: u64) -> Result<(), uc_error>;
    /// A register wider than 64 bits, or a table register, as bytes.
    fn write_reg_bytes(&mut self, reg: i32, value: &[u8]) -> Result<(), uc_error>;
    /// An aarch64 system register (`reg.val` is read or written).
    fn read_arm64_sysreg(&self, reg: &mut RegisterARM64CP) -> Result<(), uc_error>;
    fn write_arm64_sysreg(&mut self, reg: &RegisterARM64CP) -> Result<(), uc_error>;
    /// Selects the engine's CPU model (before the first instruction).
    fn set_engine_model(&mut self, model: i32) -> Result<(), uc_error>;
    /// The engine's page size (before the first instruction).
    fn set_engine_page_size(&mut self, size: u32) -> Result<(), uc_error>;
    /// The whole CPU state, including what no register shows (MIPS's
    /// delay-slot state).
    fn save_state(&mut self) -> Result<Context, uc_error>;
    fn restore_state(&mut self, state: &Context) -> Result<(), uc_error>;
    /// The process's memory, held (other threads' system calls wait) until
    /// the returned handle is dropped: keep it for one statement or a few.
    fn mem(&self) -> MemRef<'_>;
    fn mem_mut(&mut self) -> MemMut<'_>;
    /// Whether the access that stopped the CPU is one the TLB refused (a
    /// page fault), not an alignment fault.
    fn page_was_refused(&self) -> bool;
    /// Takes the pc the last faulting access was made at, when the engine
    /// told it (MIPS: the branch whose delay slot faulted may have been
    /// completed since).
    fn take_fault_pc(&mut self) -> Option<u64>;
    /// State this architecture keeps across engine runs.
    fn slot(&mut self) -> &mut ArchSlot;
    /// Delivers `trap` as the kernel does (its signal), from inside a
    /// system call (arm's `breakpoint`).
    fn raise_trap(&mut self, trap: Trap);
}

impl dyn GuestCpu + '_ {
    /// Register `reg`, named by the engine's register enum.
    pub fn reg_read(&self, reg: impl Into<i32>) -> Result<u64, uc_error> {
        self.read_reg(reg.into())
    }

    pub fn reg_write(&mut self, reg: impl Into<i32>, value: u64) -> Result<(), uc_error> {
        self.write_reg(reg.into(), value)
    }

    pub fn reg_write_long(&mut self, reg: impl Into<i32>, value: &[u8]) -> Result<(), uc_error> {
        self.write_reg_bytes(reg.into(), value)
    }
}

/// State one architecture keeps across engine runs.
#[derive(Default)]
pub struct ArchSlot {
    /// An engine state outside any branch delay slot (MIPS), for leaving
    /// one: see `arch::mipsel`.
    pub clean_context: Option<Context>,
}

/// What a CPU exception is to the process: the architecture decides, the
/// engine layer carries it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuEvent {
    /// A system call: the engine layer reads and runs it.
    Syscall,
    /// A trap the kernel turns into a signal.
    Trap(Trap),
    /// Emulated where it happened (MIPS `rdhwr`): the guest runs on.
    Handled,
}

/// The engine hooks an architecture needs besides the exception hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TrapHooks {
    /// x86_64: system calls come through the `syscall` instruction's hook.
    pub syscall_instruction: bool,
    /// The engine stops at instructions the architecture interprets
    /// ([`Abi::invalid_instruction`]: riscv's `ebreak`).
    pub invalid_instruction: bool,
    /// User code invalidates the instruction cache by instruction
    /// (aarch64's `ic ivau`, see [`Abi::icache_flush`]): with parallel
    /// threads every engine must drop its translations of that code.
    pub icache_instruction: bool,
    /// The CPU fetches what stores wrote without being told (x86, POWER's
    /// snooping instruction cache): with
    /// parallel threads a store to code another engine has translated
    /// must drop that translation (`machine::code_watch`).
    pub coherent_icache: bool,
}

/// A system instruction's operands (aarch64's SYS: `op0, op1, CRn, CRm,
/// op2` and the value of its register).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SysInstruction {
    pub op0: u32,
    pub op1: u32,
    pub crn: u32,
    pub crm: u32,
    pub op2: u32,
    pub value: u64,
}
