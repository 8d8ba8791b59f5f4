// SPDX-License-Identifier: GPL-2.0-or-later
//! Per-architecture differences behind one trait. Nothing outside this
//! module names a register.

pub mod aarch64;
mod aarch64_idregs;
pub mod arm;
pub mod cpu;
pub mod cpuinfo;
#[cfg(test)]
mod frame_tests;
mod guest;
pub mod i386;
mod info;
pub mod mips64el;
pub mod mipsel;
pub mod ppc64le;
pub mod riscv64;
pub mod s390x;
pub mod x86_64;

use crate::abi::{Outcome, Sys};
use crate::mem::Fault;

/// Why an architecture could not set up a process or refuses a program.
#[derive(Debug, thiserror::Error)]
pub enum ArchError {
    /// The engine refused an operation: what ht-user asked, and its error.
    #[error("cannot {what}: {err:?}")]
    Engine {
        what: String,
        err: unicorn_engine::unicorn_const::uc_error,
    },
    /// A program, CPU model or setting this architecture's Linux does not
    /// take.
    #[error("{0}")]
    Unsupported(String),
    /// A set-up step the host could not do (memory for a kernel page,
    /// random bytes), as one line.
    #[error("{0}")]
    Host(String),
}

/// Names what an engine call was for, in its error.
pub(crate) trait EngineResult<T> {
    fn engine(self, what: impl Into<String>) -> Result<T, ArchError>;
}

impl<T> EngineResult<T> for Result<T, unicorn_engine::unicorn_const::uc_error> {
    fn engine(self, what: impl Into<String>) -> Result<T, ArchError> {
        self.map_err(|err| ArchError::Engine {
            what: what.into(),
            err,
        })
    }
}

pub use guest::{ArchSlot, CpuEvent, GuestCpu, MemMut, MemRef, SysInstruction, TrapHooks};
pub use info::{AbiInfo, KernelAbi};

/// Offset of the mmap area's top from a round address. The engine's TLB is
/// indexed by low page-number bits: with the stack and the mmap area both
/// ending on round addresses, the stack's top page and the first pages the
/// guest maps (such as the hypertrace control page) shared a TLB slot and
/// evicted each other on every event. Half a 256-entry TLB apart, they don't.
pub const TLB_STAGGER: u64 = 0x80 << 12;
pub const MMAP_TOP_64: u64 = 0x7fff_f000_0000 - TLB_STAGGER;
pub const MMAP_TOP_32: u64 = 0xb000_0000 - TLB_STAGGER;

/// A system call as the guest made it.
#[derive(Clone, Copy, Debug)]
pub struct SyscallRequest {
    pub nr: u64,
    pub args: [u64; 6],
}

/// How an ABI orders clone(2)'s arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloneOrder {
    /// (flags, stack, ptid, tls, ctid): the generic order.
    TlsBeforeCtid,
    /// (flags, stack, ptid, ctid, tls): x86_64.
    CtidBeforeTls,
    /// (stack, flags, ptid, ctid, tls): s390 (CLONE_BACKWARDS2).
    StackFirst,
}

/// clone(2)'s arguments, whatever order the ABI passes them in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CloneArgs {
    pub flags: u64,
    pub stack: u64,
    pub ptid: u64,
    pub ctid: u64,
    pub tls: u64,
}

/// The registers a new thread or forked child starts from: where clone's
/// result goes, the stack pointer, the thread pointer (engine register ids).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadRegs {
    pub result: i32,
    pub sp: i32,
    pub pc: i32,
    pub tls: i32,
}

/// Why the CPU stopped outside a system call, mapped to the Linux signal
/// the kernel would deliver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trap {
    pub signal: i32,
    /// The fault address the signal reports (`si_addr`) when it is not
    /// the pc: the misaligned address of an alignment fault.
    pub addr: Option<u64>,
    /// x86: the exception vector and its error code, which the signal
    /// frame reports (sigcontext trapno and err).
    pub vector: Option<TrapVector>,
    /// The signal's `si_code` where the architecture's kernel gives one
    /// of its own; `None`: the usual code for the signal (see
    /// `machine::delivery::catch_trap`).
    pub code: Option<i32>,
}

/// An x86 exception as the CPU raised it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrapVector {
    pub number: u32,
    pub error_code: u32,
}

impl Trap {
    /// A trap reported at the pc.
    pub fn at_pc(signal: i32) -> Self {
        Trap {
            signal,
            addr: None,
            vector: None,
            code: None,
        }
    }

    /// An alignment fault (SIGBUS, BUS_ADRALN) at address `addr`.
    pub fn misaligned(addr: u64) -> Self {
        Trap {
            signal: libc::SIGBUS,
            addr: Some(addr),
            vector: None,
            code: None,
        }
    }
}

/// A gem5 m5op in its instruction form, found where the CPU trapped
/// ([`Abi::m5op`]; performed by `crate::machine::m5ops`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct M5Op {
    /// gem5's function number.
    pub func: u8,
    /// The op's first two (64-bit) arguments.
    pub args: [u64; 2],
    /// Length of the instruction, to go on after it.
    pub len: u64,
}

/// gem5's m5op encodings (util/m5/src/abi/*/m5op.S): the function number
/// of an instruction that is one.
pub mod m5op_encoding {
    /// x86_64: `0f 04` and the function as a 16-bit word.
    pub fn x86(bytes: [u8; 4]) -> Option<u8> {
        (bytes[..2] == [0x0f, 0x04] && bytes[3] == 0).then_some(bytes[2])
    }
    /// aarch64: `0xff000110 | func << 16`.
    pub fn aarch64(word: u32) -> Option<u8> {
        (word & 0xff00_ffff == 0xff00_0110).then_some((word >> 16) as u8)
    }
    /// arm in Arm state: `0xee000110 | func << 16`.
    pub fn arm(word: u32) -> Option<u8> {
        (word & 0xff00_ffff == 0xee00_0110).then_some((word >> 16) as u8)
    }
    /// arm in Thumb state: the halfwords `0xee00 | func`, `0x0110`.
    pub fn thumb(first: u16, second: u16) -> Option<u8> {
        (first & 0xff00 == 0xee00 && second == 0x0110).then_some(first as u8)
    }
    /// riscv: `0x7b | func << 25` (the custom-3 opcode).
    pub fn riscv(word: u32) -> Option<u8> {
        (word & 0x01ff_ffff == 0x7b).then_some((word >> 25) as u8)
    }
}

/// Maps one page the kernel provides (arm's vectors, i386's GDT, x86_64's
/// vsyscall page) at `addr`, zeroed, with `perms` that mprotect cannot
/// widen, named `name` in /proc/self/maps.
pub fn map_kernel_page(
    mem: &mut crate::mem::AddressSpace,
    addr: u64,
    perms: crate::mem::Perms,
    name: &str,
) -> Result<(), ArchError> {
    map_kernel_pages(mem, addr, 4096, perms, name)
}

/// As [`map_kernel_page`], `len` bytes (whole pages).
pub fn map_kernel_pages(
    mem: &mut crate::mem::AddressSpace,
    addr: u64,
    len: usize,
    perms: crate::mem::Perms,
    name: &str,
) -> Result<(), ArchError> {
    let host = crate::mem::HostMapping::anonymous(len)
        .map_err(|e| ArchError::Host(format!("cannot allocate the {name} pages: {e}")))?;
    mem.map(
        addr,
        len as u64,
        perms,
        perms,
        crate::mem::RegionKind::Memory { name: name.into() },
        Some(std::sync::Arc::new(host)),
        0,
    );
    Ok(())
}

/// The little-endian instruction word at guest address `at` (0 if it
/// cannot be read): for decoding the instruction that trapped.
pub fn insn_word(uc: &dyn GuestCpu, at: u64) -> u32 {
    uc.mem()
        .read_vec(at, 4)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Offsets in the guest's `struct sigaction`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SigactionLayout {
    pub handler: usize,
    pub flags: usize,
    /// 4 or 8 bytes.
    pub flags_size: usize,
    pub restorer: Option<usize>,
    pub mask: usize,
}

/// One signal delivery, as the generic code prepared it.
#[derive(Clone, Copy, Debug)]
pub struct SignalFrame<'a> {
    /// Guest signal number.
    pub sig: u64,
    /// The encoded `siginfo_t` (128 bytes).
    pub info: &'a [u8],
    pub handler: u64,
    /// Where the handler returns: the restorer or the sigreturn page.
    pub return_to: u64,
    /// The stack to build the frame below, and whether it is the
    /// interrupted code's own stack (a red zone applies) or the
    /// alternate signal stack.
    pub sp: u64,
    pub on_own_stack: bool,
    /// The mask the frame saves (restored by sigreturn).
    pub saved_mask: u64,
    /// `uc_stack`: the alternate stack's settings.
    pub altstack: crate::abi::signal::AltStack,
    /// rt frame (siginfo and ucontext) or the legacy one.
    pub rt: bool,
    /// For faults: the address, and whether the access was a write.
    pub fault: Option<(u64, bool)>,
    /// x86: the exception that raised the signal, when a CPU trap did.
    pub trap: Option<TrapVector>,
}

/// `n` bytes below the stack pointer `sp`: where a signal frame goes. A
/// stack pointer too low to hold the frame is a fault at `sp`, which
/// Linux answers with SIGSEGV, as for a frame it cannot write.
pub fn below(sp: u64, n: u64) -> Result<u64, Fault> {
    sp.checked_sub(n).ok_or(Fault { addr: sp })
}

/// An architecture's CPU models (`-cpu`) and what each tells the guest.
pub trait CpuSupport: Sync {
    /// The CPU models `-cpu` may choose (see [`cpu`]).
    fn models(&self) -> &'static [cpu::CpuModel];
    /// The model used without `-cpu`.
    fn default_cpu(&self) -> cpu::Cpu;
    /// The model used without `-cpu` for a program whose ELF header flags
    /// (e_flags) are `flags`: they may ask for a newer instruction set.
    fn default_cpu_for(&self, _flags: u32) -> cpu::Cpu {
        self.default_cpu()
    }
    /// Refuses ELF header flags naming an ABI this architecture's Linux
    /// does not run (its `elf_check_arch`).
    fn check_elf_flags(&self, _flags: u32) -> Result<(), ArchError> {
        Ok(())
    }
    /// What `cpu` tells the guest (AT_HWCAP, AT_HWCAP2, its identity).
    fn facts(&self, cpu: cpu::Cpu) -> Result<cpu::CpuFacts, ArchError> {
        Ok(cpu::CpuFacts {
            hwcap: cpu.hwcap,
            ..Default::default()
        })
    }
    /// /proc/cpuinfo as the guest reads it (see [`cpuinfo`]).
    fn cpuinfo(&self, _cpu: cpu::Cpu, _facts: &cpu::CpuFacts) -> String {
        "processor\t: 0\n\n".to_string()
    }
}

/// An architecture's signal frames: built for a handler, read back by
/// sigreturn.
pub trait SignalFrames: Sync {
    /// Builds the signal frame below `f.sp` and points the registers at
    /// the handler: returns (frame address, address to start at).
    fn push_signal_frame(
        &self,
        uc: &mut dyn GuestCpu,
        f: &SignalFrame<'_>,
    ) -> Result<(u64, u64), Fault>;
    /// The frame a sigreturn (`rt`) or legacy sigreturn at the current
    /// stack pointer returns from.
    /// Default: the stack pointer (the handler returned with it where
    /// the frame starts).
    fn signal_frame_at_return(&self, uc: &dyn GuestCpu, _rt: bool) -> u64 {
        let abi = uc.abi();
        let sp = uc.reg_read(abi.thread_regs().sp).unwrap_or(0);
        if abi.is_64bit() {
            sp
        } else {
            sp & 0xffff_ffff
        }
    }
    /// Restores the registers saved in the frame at `frame` (as the
    /// handler may have changed them) and returns the saved signal mask
    /// and where to resume.
    fn pop_signal_frame(
        &self,
        uc: &mut dyn GuestCpu,
        frame: u64,
        rt: bool,
    ) -> Result<(u64, u64), Fault>;
    /// Code that makes the rt_sigreturn (or, `rt` false, the legacy
    /// sigreturn) system call, for handlers without a restorer.
    fn sigreturn_code(&self, rt: bool) -> Vec<u32>;
}

pub trait Abi: Sync {
    fn info(&self) -> &'static AbiInfo;

    /// Pages the kernel provides in every process (arm's kuser helpers).
    fn map_special_pages(&self, _mem: &mut crate::mem::AddressSpace) -> Result<(), ArchError> {
        Ok(())
    }
    /// Sets the CPU model (the process's `cpu`) and what else the engine
    /// needs before the first instruction.
    fn prepare(&self, uc: &mut dyn GuestCpu) -> Result<(), ArchError>;
    /// What the CPU exception `intno` (the engine's number) is to the
    /// process; the engine layer's exception hook carries it out.
    fn exception(&self, uc: &mut dyn GuestCpu, intno: u32) -> CpuEvent;
    /// The code a system instruction invalidates in the instruction
    /// cache, as (start, length) (with [`TrapHooks::icache_instruction`]).
    fn icache_flush(&self, _sys: &SysInstruction) -> Option<(u64, u64)> {
        None
    }
    /// An instruction the engine stopped at as invalid that the
    /// architecture's Linux traps on (with [`TrapHooks::invalid_instruction`]).
    fn invalid_instruction(&self, _uc: &mut dyn GuestCpu) -> Option<Trap> {
        None
    }
    /// Registers at process entry.
    fn init_registers(&self, uc: &mut dyn GuestCpu, entry: u64, sp: u64) -> Result<(), ArchError>;
    fn read_syscall(&self, uc: &dyn GuestCpu) -> SyscallRequest;
    /// Writes a result: a value or `-errno` as the kernel returns it.
    fn write_syscall_result(&self, uc: &mut dyn GuestCpu, ret: i64);
    /// Calls that need registers (TLS setup and the like), by kernel number
    /// and, where the number is one ht-user knows, by name; `None`: the
    /// call is the portable one (the default).
    fn arch_syscall(
        &self,
        _uc: &mut dyn GuestCpu,
        _nr: u64,
        _sys: Option<Sys>,
        _args: &[u64; 6],
    ) -> Option<Outcome> {
        None
    }
    fn pc(&self, uc: &dyn GuestCpu) -> u64;
    /// Whether the pc is not aligned for the instruction set it is in (a
    /// fetch there is an alignment fault, SIGBUS, not SIGILL).
    fn misaligned_pc(&self, _uc: &dyn GuestCpu) -> bool {
        false
    }
    /// Where `emu_start` resumes the stopped guest: the pc, plus whatever
    /// the engine encodes in a start address (the Thumb bit on arm).
    fn resume_address(&self, uc: &dyn GuestCpu) -> u64 {
        self.pc(uc)
    }
    /// Turns the registers (a copy of the parent's, just after clone) into
    /// a new thread's: clone returns 0, the stack pointer is `stack`
    /// unless 0, and with CLONE_SETTLS the thread pointer comes from `tls`.
    fn thread_start(
        &self,
        uc: &mut dyn GuestCpu,
        stack: u64,
        tls: Option<u64>,
    ) -> Result<(), ArchError> {
        let regs = self.info().regs;
        let set = |uc: &mut dyn GuestCpu, reg: i32, value: u64, what: &str| {
            uc.reg_write(reg, value)
                .engine(format!("set the new thread's {what}"))
        };
        set(uc, regs.result, 0, "clone result")?;
        if stack != 0 {
            set(uc, regs.sp, stack, "stack pointer")?;
        }
        if let Some(tls) = tls {
            set(uc, regs.tls, tls, "thread pointer")?;
        }
        Ok(())
    }
    /// One line per register, for crash reports.
    fn dump_registers(&self, uc: &dyn GuestCpu) -> String;
    /// Length of the system call instruction that trapped (to run it
    /// again after a handler: SA_RESTART).
    fn syscall_insn_len(&self, _uc: &dyn GuestCpu) -> u64 {
        4
    }
    /// The gem5 m5op at the pc, if the instruction the CPU trapped on is
    /// one (on the architectures gem5 defines them for).
    fn m5op(&self, _uc: &dyn GuestCpu) -> Option<M5Op> {
        None
    }
    /// `struct statfs64` (statfs64, fstatfs64); `None` where ht-user does
    /// not know the layout. A 64-bit ABI that has the calls (ppc64) uses
    /// its `struct statfs`: the generic words are already 64 bits wide.
    fn encode_statfs64(
        &self,
        s: &crate::abi::types::StatFs,
        enc: crate::mem::Encoder,
    ) -> Option<Vec<u8>> {
        Some(if self.info().is_64bit {
            self.encode_statfs(s, enc)
        } else {
            crate::abi::types::encode_statfs64_32(s, enc)
        })
    }
    /// `struct statfs` of a 64-bit ABI (statfs, fstatfs): the generic
    /// layout unless the architecture has its own.
    fn encode_statfs(&self, s: &crate::abi::types::StatFs, enc: crate::mem::Encoder) -> Vec<u8> {
        crate::abi::types::encode_statfs_64(s, enc)
    }
    /// Converts a guest `struct stat` request into bytes of this ABI's layout.
    fn encode_stat(&self, st: &crate::abi::types::Stat, enc: crate::mem::Encoder) -> Vec<u8>;
}

pub use crate::abi::ipc_types::IpcLayout;

impl std::fmt::Debug for dyn Abi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Every architecture, in the order `-cpu help` lists them.
pub fn all() -> [&'static dyn Abi; 9] {
    [
        &x86_64::X86_64,
        &i386::I386,
        &aarch64::Aarch64,
        &arm::Arm,
        &riscv64::Riscv64,
        &mipsel::Mipsel,
        &mips64el::Mips64el,
        &ppc64le::Ppc64le,
        &s390x::S390x,
    ]
}

/// Picks the ABI for an ELF header's machine and class.
pub fn for_elf(
    machine: u16,
    is_64: bool,
    little_endian: bool,
) -> Result<&'static dyn Abi, ArchError> {
    use goblin::elf::header::machine_to_str;
    // Each ABI says which ELF files it runs (AbiInfo's machine, word size
    // and byte order).
    let found = all().into_iter().find(|abi| {
        abi.elf_machine() == machine
            && abi.is_64bit() == is_64
            && (abi.endian() == crate::mem::Endian::Little) == little_endian
    });
    match found {
        Some(abi) => Ok(abi),
        _ => Err(ArchError::Unsupported(format!(
            "unsupported guest architecture: {} ({}-bit, {}-endian); ht-user runs x86_64, i386, aarch64, arm, riscv64, mipsel, mips64el, ppc64le and s390x guests",
            machine_to_str(machine),
            if is_64 { 64 } else { 32 },
            if little_endian { "little" } else { "big" }
        ))),
    }
}

/// The syscall table of one architecture, built once from the `syscalls`
/// crate's list for it.
macro_rules! syscall_table {
    ($sysno:path, $is_64bit:expr) => {{
        static TABLE: std::sync::OnceLock<$crate::abi::SyscallTable> = std::sync::OnceLock::new();
        TABLE.get_or_init(|| {
            use $sysno as Sysno;
            $crate::abi::SyscallTable::from_names(
                Sysno::iter().map(|s| (s.id() as u64, s.name())),
                $is_64bit,
            )
        })
    }};
}
pub(crate) use syscall_table;

/// A 64-bit argument in two 32-bit registers starting at `slot`, low word
/// first; `aligned` ABIs (arm EABI, mips o32) start pairs on an even slot.
pub fn regpair32(args: &[u64; 6], slot: usize, aligned: bool) -> u64 {
    let s = if aligned { (slot + 1) & !1 } else { slot };
    if s + 1 >= args.len() {
        return 0;
    }
    (args[s + 1] & 0xffff_ffff) << 32 | (args[s] & 0xffff_ffff)
}

/// Flag bits whose values differ between a guest ABI and the host:
/// (guest bit, host bit) pairs; other bits are the same on both.
pub fn translate_bits(value: u64, pairs: &[(u64, u64)], to_host: bool) -> u64 {
    let mut out = value;
    for (guest, host) in pairs {
        out &= !if to_host { *guest } else { *host };
    }
    for (guest, host) in pairs {
        let (from, to) = if to_host {
            (*guest, *host)
        } else {
            (*host, *guest)
        };
        if value & from != 0 {
            out |= to;
        }
    }
    out
}

/// open(2) flags of arm and aarch64 that differ from x86's.
pub const ARM_OPEN_FLAGS: &[(u64, u64)] = &[
    (0o40000, 0o200000),  // O_DIRECTORY
    (0o100000, 0o400000), // O_NOFOLLOW
    (0o200000, 0o40000),  // O_DIRECT
    (0o400000, 0o100000), // O_LARGEFILE
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn m5op_encodings_match_gem5s() {
        use super::m5op_encoding as e;
        assert_eq!(e::x86([0x0f, 0x04, 0x5a, 0x00]), Some(0x5a));
        assert_eq!(e::x86([0x0f, 0x04, 0x5a, 0x01]), None);
        assert_eq!(e::x86([0x0f, 0x05, 0x5a, 0x00]), None);
        assert_eq!(e::aarch64(0xff5a_0110), Some(0x5a));
        assert_eq!(
            e::aarch64(0xff00_5a10),
            None,
            "func in bits 15:8 is not one"
        );
        assert_eq!(e::arm(0xee5b_0110), Some(0x5b));
        assert_eq!(e::arm(0xee5b_0111), None);
        assert_eq!(e::thumb(0xee40, 0x0110), Some(0x40));
        assert_eq!(e::thumb(0xee40, 0x0111), None);
        assert_eq!(e::riscv(0xb400_007b), Some(0x5a));
        assert_eq!(e::riscv(0x0000_007b), Some(0));
        assert_eq!(e::riscv(0xb400_00fb), None);
    }

    #[test]
    fn arm_open_flags_round_trip() {
        let guest_dir_cloexec = 0o40000 | 0o2000000;
        let host = translate_bits(guest_dir_cloexec, ARM_OPEN_FLAGS, true);
        assert_eq!(host, libc::O_DIRECTORY as u64 | libc::O_CLOEXEC as u64);
        assert_eq!(
            translate_bits(host, ARM_OPEN_FLAGS, false),
            guest_dir_cloexec
        );
        let swapped = translate_bits(0o200000 | 0o40000, ARM_OPEN_FLAGS, true);
        assert_eq!(swapped, 0o40000 | 0o200000);
    }

    fn abi(name: &str) -> &'static dyn Abi {
        all().into_iter().find(|a| a.name() == name).unwrap()
    }

    #[test]
    fn numbering_tables_translate_both_ways() {
        let (mips, x86) = (abi("mipsel"), abi("x86_64"));
        // Signals: MIPS's SIGUSR1 is 16; the host's SIGBUS is MIPS's 10,
        // although SIGEMT (7) is reported as SIGBUS too.
        assert_eq!(mips.host_signal(16), libc::SIGUSR1 as u64);
        assert_eq!(mips.guest_signal(libc::SIGUSR1 as u64), 16);
        assert_eq!(mips.host_signal(7), libc::SIGBUS as u64);
        assert_eq!(mips.guest_signal(libc::SIGBUS as u64), 10);
        assert_eq!(x86.guest_signal(libc::SIGBUS as u64), libc::SIGBUS as u64);
        // SIG_BLOCK is 1 on MIPS, 0 elsewhere.
        assert_eq!(mips.sigprocmask_how_to_host(1), libc::SIG_BLOCK as u64);
        assert_eq!(x86.sigprocmask_how_to_host(2), libc::SIG_SETMASK as u64);
        assert_eq!(mips.rlimit_resource_to_host(5), libc::RLIMIT_NOFILE as u64);
        assert_eq!(mips.fcntl_cmd_to_host(14), libc::F_GETLK as u64);
        assert_eq!(mips.fcntl_cmd_to_host(5), u64::MAX);
        assert_eq!(x86.fcntl_cmd_to_host(5), 5);
        // MIPS's MAP_ANONYMOUS is 0x800.
        assert_eq!(mips.mmap_flags_to_host(0x802), 0x22);
        assert_eq!(mips.ioctl_to_host(0x467f), libc::FIONREAD);
        assert_eq!(mips.ioctl_to_host(0x5401), 0);
        assert_eq!(x86.ioctl_to_host(0x5401), 0x5401);
        // 64-bit arguments: arm and mips start pairs on an even slot.
        let args = [0, 1, 2, 3, 4, 5];
        assert_eq!(abi("i386").regpair(&args, 1), 2 << 32 | 1);
        assert_eq!(abi("arm").regpair(&args, 1), 3 << 32 | 2);
        assert_eq!(x86.regpair(&args, 1), 1);
        // struct sigaction: MIPS puts the flags first, riscv has no
        // restorer.
        assert_eq!(mips.sigaction_layout().handler, 4);
        assert_eq!(abi("riscv64").sigaction_layout().restorer, None);
        assert_eq!(x86.sigaction_layout().restorer, Some(16));
    }
}
