// SPDX-License-Identifier: GPL-2.0-or-later
//! Per-architecture differences behind one trait. Nothing outside this
//! module names a register.

pub mod x86_64;

use unicorn_engine::unicorn_const::{Arch, Mode};

use crate::machine::Engine;
use crate::mem::{Endian, Layout};
use crate::syscall::{Outcome, Sys, SyscallTable};

/// A system call as the guest made it.
#[derive(Clone, Copy, Debug)]
pub struct SyscallRequest {
    pub nr: u64,
    pub args: [u64; 6],
}

/// Why the CPU stopped outside a system call, mapped to the Linux signal
/// the kernel would deliver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trap {
    pub signal: i32,
}

pub trait Abi: Sync {
    /// Name as QEMU and Linux use it (`x86_64`).
    fn name(&self) -> &'static str;
    fn elf_machine(&self) -> u16;
    fn is_64bit(&self) -> bool;
    fn endian(&self) -> Endian;
    fn unicorn(&self) -> (Arch, Mode);
    /// Where mmap(NULL) allocations and the stack go.
    fn layout(&self) -> Layout;
    fn stack_top(&self) -> u64;
    /// Load address of a position-independent executable.
    fn pie_base(&self) -> u64;
    /// AT_PLATFORM string and AT_HWCAP / AT_HWCAP2 bits for the CPU model used.
    fn platform(&self) -> &'static str;
    fn hwcap(&self) -> u64;
    fn hwcap2(&self) -> u64 {
        0
    }
    /// uname's machine field.
    fn uname_machine(&self) -> &'static str;

    fn syscall_table(&self) -> &'static SyscallTable;

    /// Sets the CPU model and installs the trap hooks that call
    /// [`crate::machine::on_syscall`] and [`crate::machine::on_trap`].
    fn prepare(&self, uc: &mut Engine<'_>) -> Result<(), String>;
    /// Registers at process entry.
    fn init_registers(&self, uc: &mut Engine<'_>, entry: u64, sp: u64) -> Result<(), String>;
    fn read_syscall(&self, uc: &Engine<'_>) -> SyscallRequest;
    /// Writes a result: a value or `-errno` as the kernel returns it.
    fn write_syscall_result(&self, uc: &mut Engine<'_>, ret: i64);
    /// Syscalls that touch registers (TLS setup and the like).
    fn arch_syscall(&self, uc: &mut Engine<'_>, sys: Sys, args: &[u64; 6]) -> Option<Outcome>;
    fn pc(&self, uc: &Engine<'_>) -> u64;
    /// One line per register, for crash reports.
    fn dump_registers(&self, uc: &Engine<'_>) -> String;
    /// Size of the kernel's `struct sigaction` for this ABI.
    fn sigaction_size(&self) -> usize;
    /// Converts a guest `struct stat` request into bytes of this ABI's layout.
    fn encode_stat(&self, st: &crate::syscall::types::Stat, enc: crate::mem::Encoder) -> Vec<u8>;
}

/// Picks the ABI for an ELF header's machine and class.
pub fn for_elf(machine: u16, is_64: bool, little_endian: bool) -> Result<&'static dyn Abi, String> {
    use goblin::elf::header::*;
    match (machine, is_64, little_endian) {
        (EM_X86_64, true, true) => Ok(&x86_64::X86_64),
        _ => Err(format!(
            "unsupported guest architecture: {} ({}-bit, {}-endian); ht-user runs x86_64 guests",
            machine_to_str(machine),
            if is_64 { 64 } else { 32 },
            if little_endian { "little" } else { "big" }
        )),
    }
}
