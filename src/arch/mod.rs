// SPDX-License-Identifier: GPL-2.0-or-later
//! Per-architecture differences behind one trait. Nothing outside this
//! module names a register.

pub mod aarch64;
pub mod arm;
pub mod cpu;
pub mod cpuinfo;
pub mod i386;
pub mod mipsel;
pub mod riscv64;
pub mod x86_64;

use unicorn_engine::unicorn_const::{Arch, Mode};

use crate::abi::{Outcome, Sys, SyscallTable};
use crate::machine::Engine;
use crate::mem::{Endian, Fault, Layout};

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
}

impl Trap {
    /// A trap reported at the pc.
    pub fn at_pc(signal: i32) -> Self {
        Trap { signal, addr: None }
    }

    /// An alignment fault (SIGBUS, BUS_ADRALN) at address `addr`.
    pub fn misaligned(addr: u64) -> Self {
        Trap {
            signal: libc::SIGBUS,
            addr: Some(addr),
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
) -> Result<(), String> {
    let host = crate::mem::HostMapping::anonymous(4096)
        .map_err(|e| format!("cannot allocate the {name} page: {e}"))?;
    mem.map(
        addr,
        4096,
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
pub fn insn_word(uc: &Engine<'_>, at: u64) -> u32 {
    uc.get_data()
        .process
        .mem
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
}

/// `n` bytes below the stack pointer `sp`: where a signal frame goes. A
/// stack pointer too low to hold the frame is a fault at `sp`, which
/// Linux answers with SIGSEGV, as for a frame it cannot write.
pub fn below(sp: u64, n: u64) -> Result<u64, Fault> {
    sp.checked_sub(n).ok_or(Fault { addr: sp })
}

/// What describes an architecture as plain data.
pub struct AbiInfo {
    /// Name as QEMU and Linux use it (`x86_64`).
    pub name: &'static str,
    pub elf_machine: u16,
    pub is_64bit: bool,
    pub endian: Endian,
    pub unicorn: (Arch, Mode),
    /// Where mmap(NULL) allocations go.
    pub layout: Layout,
    pub stack_top: u64,
    /// Load address of a position-independent executable.
    pub pie_base: u64,
    /// AT_PLATFORM string.
    pub platform: &'static str,
    /// uname's machine field.
    pub uname_machine: &'static str,
    /// The register where the original pipe(2) returns its second
    /// descriptor, on ABIs that return both in registers (MIPS: v1).
    pub pipe_second_result: Option<i32>,
    /// The kernel ABI's numbers and layouts.
    pub kernel: KernelAbi,
    /// The registers `thread_start` and `set_sp` write.
    pub regs: ThreadRegs,
    /// The ABI's system call numbers.
    pub syscalls: fn() -> &'static SyscallTable,
    /// Whether clone(2) takes (flags, stack, ptid, ctid, tls), as x86_64
    /// does, rather than (flags, stack, ptid, tls, ctid).
    pub clone_ctid_before_tls: bool,
    pub cpus: &'static dyn CpuSupport,
    pub frames: &'static dyn SignalFrames,
}

/// How an ABI numbers and lays out what its kernel and the guest share,
/// as data: `dyn Abi`'s methods of the same names read it. Most ABIs
/// take [`KernelAbi::GENERIC`] and change a few fields.
pub struct KernelAbi {
    /// Size of the kernel's `struct sigaction`.
    pub sigaction_size: usize,
    /// Where its fields are; `None`: handler, flags, restorer, mask in
    /// words.
    pub sigaction_layout: Option<SigactionLayout>,
    /// `SA_SIGINFO` (MIPS has its own value).
    pub sa_siginfo: u64,
    /// `si_code` of SIGTRAP from a breakpoint instruction: TRAP_BRKPT with
    /// the address where Linux reports one, SI_KERNEL (no address) where
    /// it sends a plain SIGTRAP (x86 int3, MIPS break and trap).
    pub trap_si_code: i32,
    /// Whether a handler without SA_SIGINFO gets the old, non-rt frame
    /// (and returns through sigreturn, not rt_sigreturn).
    pub has_legacy_frame: bool,
    /// The smallest alternate signal stack (MINSIGSTKSZ).
    pub min_signal_stack: u64,
    /// Whether `stack_t` has `ss_size` before `ss_flags` (MIPS).
    pub stack_t_size_first: bool,
    /// Bytes of the kernel's `sigset_t` (rt_sigprocmask's sigsetsize).
    pub sigset_size: usize,
    /// Whether `siginfo_t` has `si_code` before `si_errno` (MIPS).
    pub siginfo_code_first: bool,
    /// The guest's `si_code` for SI_TIMER (-2; MIPS numbers it -3).
    pub si_timer: i32,
    /// Signal numbers that differ from the host's: (guest, host). A host
    /// number two guest signals share maps back to the first listed.
    pub signals: &'static [(u64, u64)],
    /// rt_sigprocmask's SIG_BLOCK (SIG_UNBLOCK and SIG_SETMASK follow);
    /// the host's is 0.
    pub sig_block: u64,
    /// getrlimit/setrlimit resources that differ: (guest, host).
    pub rlimits: &'static [(u64, u64)],
    /// open(2)/fcntl flag bits that differ: (guest, host).
    pub open_flags: &'static [(u64, u64)],
    /// mmap(2) flag bits that differ: (guest, host).
    pub mmap_flags: &'static [(u64, u64)],
    /// ioctl requests as the host's (x86) numbers, where the ABI numbers
    /// them its own way; requests not listed are refused. `None`: the
    /// host's numbering.
    pub ioctls: Option<&'static [(u64, u64)]>,
    /// fcntl commands that differ: (guest, host); `u64::MAX` refuses.
    pub fcntl_cmds: &'static [(u64, u64)],
    /// Socket types that differ: (guest, host).
    pub socket_types: &'static [(u64, u64)],
    /// Where SOL_SOCKET and its option names differ: the guest's level
    /// and (guest name, host name) pairs; other names are refused.
    pub sol_socket: Option<(u64, &'static [(u64, i32)])>,
    /// Whether `struct epoll_event` is packed (12 bytes: x86_64, i386) or
    /// has 4 bytes of padding between `events` and `data` (16 bytes).
    pub epoll_event_packed: bool,
    /// The layout of the SysV IPC structures (`shmid64_ds`, `semid64_ds`,
    /// `msqid64_ds`) beyond the word size.
    pub ipc_layout: IpcLayout,
    /// SHMLBA (the alignment `shmat` rounds to with SHM_RND) and whether
    /// `shmat` refuses an address not aligned to it without SHM_RND
    /// (`__ARCH_FORCE_SHMLBA`: arm, mips) rather than only to a page.
    pub shmlba: (u64, bool),
    /// Whether 64-bit arguments start at an even register on 32-bit ABIs
    /// (arm EABI, mips o32).
    pub pairs_aligned: bool,
}

impl KernelAbi {
    /// The kernel's generic ABI (asm-generic), x86's numbering.
    pub const GENERIC: KernelAbi = KernelAbi {
        sigaction_size: 32,
        sigaction_layout: None,
        sa_siginfo: 4,
        trap_si_code: crate::abi::signal::TRAP_BRKPT,
        has_legacy_frame: false,
        min_signal_stack: 2048,
        stack_t_size_first: false,
        sigset_size: 8,
        siginfo_code_first: false,
        si_timer: crate::abi::signal::SI_TIMER,
        signals: &[],
        sig_block: 0,
        rlimits: &[],
        open_flags: &[],
        mmap_flags: &[],
        ioctls: None,
        fcntl_cmds: &[],
        socket_types: &[],
        sol_socket: None,
        epoll_event_packed: false,
        ipc_layout: IpcLayout::Generic,
        shmlba: (crate::mem::PAGE_SIZE, false),
        pairs_aligned: false,
    };
}

fn lookup(pairs: &[(u64, u64)], guest: u64) -> Option<u64> {
    pairs.iter().find(|(g, _)| *g == guest).map(|&(_, h)| h)
}

fn reverse_lookup(pairs: &[(u64, u64)], host: u64) -> Option<u64> {
    pairs.iter().find(|(_, h)| *h == host).map(|&(g, _)| g)
}

/// The ABI's data (`AbiInfo`, `KernelAbi`) read as methods, and the
/// translations to and from the host's numbering its tables drive.
impl<'a> dyn Abi + 'a {
    /// Name as QEMU and Linux use it (`x86_64`).
    pub fn name(&self) -> &'static str {
        self.info().name
    }
    pub fn elf_machine(&self) -> u16 {
        self.info().elf_machine
    }
    pub fn is_64bit(&self) -> bool {
        self.info().is_64bit
    }
    pub fn endian(&self) -> Endian {
        self.info().endian
    }
    pub fn unicorn(&self) -> (Arch, Mode) {
        self.info().unicorn
    }
    pub fn layout(&self) -> Layout {
        self.info().layout
    }
    pub fn stack_top(&self) -> u64 {
        self.info().stack_top
    }
    pub fn pie_base(&self) -> u64 {
        self.info().pie_base
    }
    pub fn platform(&self) -> &'static str {
        self.info().platform
    }
    pub fn uname_machine(&self) -> &'static str {
        self.info().uname_machine
    }
    pub fn syscall_table(&self) -> &'static SyscallTable {
        (self.info().syscalls)()
    }
    /// The registers `thread_start` and `set_sp` write.
    pub fn thread_regs(&self) -> ThreadRegs {
        self.info().regs
    }
    /// Sets the stack pointer (a clone child's new stack).
    pub fn set_sp(&self, uc: &mut Engine<'_>, sp: u64) {
        let _ = uc.reg_write(self.thread_regs().sp, sp);
    }
    /// clone(2)'s arguments.
    pub fn clone_args(&self, a: &[u64; 6]) -> CloneArgs {
        let (tls, ctid) = if self.info().clone_ctid_before_tls {
            (a[4], a[3])
        } else {
            (a[3], a[4])
        };
        CloneArgs {
            flags: a[0],
            stack: a[1],
            ptid: a[2],
            tls,
            ctid,
        }
    }
    /// Moves the pc back by `len` (a restarted system call). Writes the
    /// resume address, which on arm carries the Thumb bit the pc write sets.
    pub fn rewind_pc(&self, uc: &mut Engine<'_>, len: u64) {
        let pc = self.resume_address(uc);
        let _ = uc.reg_write(self.thread_regs().pc, pc - len);
    }
    /// Moves the pc forward by `len`, past an instruction ht-user
    /// performed itself (an m5op).
    pub fn advance_pc(&self, uc: &mut Engine<'_>, len: u64) {
        let pc = self.resume_address(uc);
        let _ = uc.reg_write(self.thread_regs().pc, pc.wrapping_add(len));
    }
    /// The CPU models `-cpu` may choose (see [`cpu`]).
    pub fn cpu_models(&self) -> &'static [cpu::CpuModel] {
        self.info().cpus.models()
    }
    pub fn default_cpu(&self) -> cpu::Cpu {
        self.info().cpus.default_cpu()
    }
    pub fn default_cpu_for(&self, flags: u32) -> cpu::Cpu {
        self.info().cpus.default_cpu_for(flags)
    }
    pub fn check_elf_flags(&self, flags: u32) -> Result<(), String> {
        self.info().cpus.check_elf_flags(flags)
    }
    pub fn cpu_facts(&self, cpu: cpu::Cpu) -> Result<cpu::CpuFacts, String> {
        self.info().cpus.facts(cpu)
    }
    pub fn cpuinfo(&self, cpu: cpu::Cpu, facts: &cpu::CpuFacts) -> String {
        self.info().cpus.cpuinfo(cpu, facts)
    }
    pub fn push_signal_frame(
        &self,
        uc: &mut Engine<'_>,
        f: &SignalFrame<'_>,
    ) -> Result<(u64, u64), Fault> {
        self.info().frames.push_signal_frame(uc, f)
    }
    pub fn signal_frame_at_return(&self, uc: &Engine<'_>, rt: bool) -> u64 {
        self.info().frames.signal_frame_at_return(uc, rt)
    }
    pub fn pop_signal_frame(
        &self,
        uc: &mut Engine<'_>,
        frame: u64,
        rt: bool,
    ) -> Result<(u64, u64), Fault> {
        self.info().frames.pop_signal_frame(uc, frame, rt)
    }
    pub fn sigreturn_code(&self, rt: bool) -> Vec<u32> {
        self.info().frames.sigreturn_code(rt)
    }
    fn kernel(&self) -> &'static KernelAbi {
        &self.info().kernel
    }
    pub fn sigaction_size(&self) -> usize {
        self.kernel().sigaction_size
    }
    pub fn sigaction_layout(&self) -> SigactionLayout {
        let w = if self.is_64bit() { 8 } else { 4 };
        self.kernel().sigaction_layout.unwrap_or(SigactionLayout {
            handler: 0,
            flags: w,
            flags_size: w,
            restorer: Some(2 * w),
            mask: 3 * w,
        })
    }
    pub fn sa_siginfo(&self) -> u64 {
        self.kernel().sa_siginfo
    }
    pub fn trap_si_code(&self) -> i32 {
        self.kernel().trap_si_code
    }
    pub fn has_legacy_frame(&self) -> bool {
        self.kernel().has_legacy_frame
    }
    pub fn min_signal_stack(&self) -> u64 {
        self.kernel().min_signal_stack
    }
    pub fn stack_t_size_first(&self) -> bool {
        self.kernel().stack_t_size_first
    }
    pub fn sigset_size(&self) -> usize {
        self.kernel().sigset_size
    }
    pub fn siginfo_code_first(&self) -> bool {
        self.kernel().siginfo_code_first
    }
    pub fn si_timer(&self) -> i32 {
        self.kernel().si_timer
    }
    pub fn epoll_event_packed(&self) -> bool {
        self.kernel().epoll_event_packed
    }
    pub fn ipc_layout(&self) -> IpcLayout {
        self.kernel().ipc_layout
    }
    pub fn shmlba(&self) -> (u64, bool) {
        self.kernel().shmlba
    }
    /// A 64-bit argument starting at register slot `slot`: one register on
    /// 64-bit ABIs, a register pair (aligned as the ABI requires) on 32-bit.
    pub fn regpair(&self, args: &[u64; 6], slot: usize) -> u64 {
        if self.is_64bit() {
            args[slot]
        } else {
            regpair32(args, slot, self.kernel().pairs_aligned)
        }
    }
    /// A guest signal number in the host's numbering.
    pub fn host_signal(&self, sig: u64) -> u64 {
        lookup(self.kernel().signals, sig).unwrap_or(sig)
    }
    /// A host signal number in the guest's numbering.
    pub fn guest_signal(&self, host: u64) -> u64 {
        reverse_lookup(self.kernel().signals, host).unwrap_or(host)
    }
    /// rt_sigprocmask's `how` in the host's numbering (0, 1, 2).
    pub fn sigprocmask_how_to_host(&self, how: u64) -> u64 {
        how.wrapping_sub(self.kernel().sig_block)
    }
    /// A guest getrlimit/setrlimit resource number in the host's numbering.
    pub fn rlimit_resource_to_host(&self, resource: u64) -> u64 {
        lookup(self.kernel().rlimits, resource).unwrap_or(resource)
    }
    /// Guest open(2)/fcntl flags in the host's encoding.
    pub fn open_flags_to_host(&self, flags: u64) -> i32 {
        translate_bits(flags, self.kernel().open_flags, true) as i32
    }
    /// Host open(2)/fcntl flags in the guest's encoding.
    pub fn open_flags_from_host(&self, flags: i32) -> u64 {
        translate_bits(flags as u32 as u64, self.kernel().open_flags, false)
    }
    /// Guest mmap(2) flags in the host's encoding.
    pub fn mmap_flags_to_host(&self, flags: u64) -> u64 {
        translate_bits(flags, self.kernel().mmap_flags, true)
    }
    /// A guest ioctl request as the host's (x86) number; 0 for requests
    /// ht-user does not translate for this ABI.
    pub fn ioctl_to_host(&self, request: u64) -> u64 {
        match self.kernel().ioctls {
            None => request,
            Some(table) => lookup(table, request).unwrap_or(0),
        }
    }
    /// A guest fcntl command as the host's (`u64::MAX`: refused).
    pub fn fcntl_cmd_to_host(&self, cmd: u64) -> u64 {
        lookup(self.kernel().fcntl_cmds, cmd).unwrap_or(cmd)
    }
    /// A guest socket type (`SOCK_STREAM`, ... without the flag bits) in
    /// the host's numbering, and back.
    pub fn socket_type_to_host(&self, ty: u64) -> u64 {
        lookup(self.kernel().socket_types, ty).unwrap_or(ty)
    }
    pub fn socket_type_from_host(&self, ty: u64) -> u64 {
        reverse_lookup(self.kernel().socket_types, ty).unwrap_or(ty)
    }
    /// A guest setsockopt/getsockopt (level, name) in the host's numbering
    /// (a name the host cannot take becomes `u64::MAX`).
    pub fn sockopt_to_host(&self, level: u64, name: u64) -> (u64, u64) {
        match self.kernel().sol_socket {
            Some((guest_level, names)) if level == guest_level => {
                let host = names
                    .iter()
                    .find(|(guest, _)| *guest == name)
                    .map_or(u64::MAX, |&(_, host)| host as u64);
                (libc::SOL_SOCKET as u64, host)
            }
            _ => (level, name),
        }
    }
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
    fn check_elf_flags(&self, _flags: u32) -> Result<(), String> {
        Ok(())
    }
    /// What `cpu` tells the guest (AT_HWCAP, AT_HWCAP2, its identity).
    fn facts(&self, cpu: cpu::Cpu) -> Result<cpu::CpuFacts, String> {
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
        uc: &mut Engine<'_>,
        f: &SignalFrame<'_>,
    ) -> Result<(u64, u64), Fault>;
    /// The frame a sigreturn (`rt`) or legacy sigreturn at the current
    /// stack pointer returns from.
    /// Default: the stack pointer (the handler returned with it where
    /// the frame starts).
    fn signal_frame_at_return(&self, uc: &Engine<'_>, _rt: bool) -> u64 {
        let abi = uc.get_data().abi;
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
        uc: &mut Engine<'_>,
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
    fn map_special_pages(&self, _mem: &mut crate::mem::AddressSpace) -> Result<(), String> {
        Ok(())
    }
    /// Sets the CPU model (the process's `cpu`) and installs the trap
    /// hooks that call
    /// [`crate::machine::on_syscall`] and [`crate::machine::on_trap`].
    fn prepare(&self, uc: &mut Engine<'_>) -> Result<(), String>;
    /// Registers at process entry.
    fn init_registers(&self, uc: &mut Engine<'_>, entry: u64, sp: u64) -> Result<(), String>;
    fn read_syscall(&self, uc: &Engine<'_>) -> SyscallRequest;
    /// Writes a result: a value or `-errno` as the kernel returns it.
    fn write_syscall_result(&self, uc: &mut Engine<'_>, ret: i64);
    /// Syscalls that touch registers (TLS setup and the like).
    /// Calls that need registers (TLS setup and the like), by kernel number
    /// and, where the number is one ht-user knows, by name.
    fn arch_syscall(
        &self,
        uc: &mut Engine<'_>,
        nr: u64,
        sys: Option<Sys>,
        args: &[u64; 6],
    ) -> Option<Outcome>;
    fn pc(&self, uc: &Engine<'_>) -> u64;
    /// Whether the pc is not aligned for the instruction set it is in (a
    /// fetch there is an alignment fault, SIGBUS, not SIGILL).
    fn misaligned_pc(&self, _uc: &Engine<'_>) -> bool {
        false
    }
    /// Where `emu_start` resumes the stopped guest: the pc, plus whatever
    /// the engine encodes in a start address (the Thumb bit on arm).
    fn resume_address(&self, uc: &Engine<'_>) -> u64 {
        self.pc(uc)
    }
    /// Turns the registers (a copy of the parent's, just after clone) into
    /// a new thread's: clone returns 0, the stack pointer is `stack`
    /// unless 0, and with CLONE_SETTLS the thread pointer comes from `tls`.
    fn thread_start(
        &self,
        uc: &mut Engine<'_>,
        stack: u64,
        tls: Option<u64>,
    ) -> Result<(), String> {
        let regs = self.info().regs;
        let set = |uc: &mut Engine<'_>, reg: i32, value: u64, what: &str| {
            uc.reg_write(reg, value)
                .map_err(|e| format!("cannot set the new thread's {what}: {e:?}"))
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
    fn dump_registers(&self, uc: &Engine<'_>) -> String;
    /// Length of the system call instruction that trapped (to run it
    /// again after a handler: SA_RESTART).
    fn syscall_insn_len(&self, _uc: &Engine<'_>) -> u64 {
        4
    }
    /// The gem5 m5op at the pc, if the instruction the CPU trapped on is
    /// one (on the architectures gem5 defines them for).
    fn m5op(&self, _uc: &Engine<'_>) -> Option<M5Op> {
        None
    }
    /// `struct statfs64` of a 32-bit ABI (statfs64, fstatfs64); `None` where
    /// ht-user does not know the layout.
    fn encode_statfs64(
        &self,
        s: &crate::abi::types::StatFs,
        enc: crate::mem::Encoder,
    ) -> Option<Vec<u8>> {
        (!self.info().is_64bit).then(|| crate::abi::types::encode_statfs64_32(s, enc))
    }
    /// Converts a guest `struct stat` request into bytes of this ABI's layout.
    fn encode_stat(&self, st: &crate::abi::types::Stat, enc: crate::mem::Encoder) -> Vec<u8>;
}

pub use crate::abi::types::IpcLayout;

impl std::fmt::Debug for dyn Abi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Every architecture, in the order `-cpu help` lists them.
pub fn all() -> [&'static dyn Abi; 6] {
    [
        &x86_64::X86_64,
        &i386::I386,
        &aarch64::Aarch64,
        &arm::Arm,
        &riscv64::Riscv64,
        &mipsel::Mipsel,
    ]
}

/// Picks the ABI for an ELF header's machine and class.
pub fn for_elf(machine: u16, is_64: bool, little_endian: bool) -> Result<&'static dyn Abi, String> {
    use goblin::elf::header::*;
    match (machine, is_64, little_endian) {
        (EM_X86_64, true, true) => Ok(&x86_64::X86_64),
        (EM_AARCH64, true, true) => Ok(&aarch64::Aarch64),
        (EM_RISCV, true, true) => Ok(&riscv64::Riscv64),
        (EM_ARM, false, true) => Ok(&arm::Arm),
        (EM_386, false, true) => Ok(&i386::I386),
        (EM_MIPS, false, true) => Ok(&mipsel::Mipsel),
        _ => Err(format!(
            "unsupported guest architecture: {} ({}-bit, {}-endian); ht-user runs x86_64, i386, aarch64, arm, riscv64 and mipsel guests",
            machine_to_str(machine),
            if is_64 { 64 } else { 32 },
            if little_endian { "little" } else { "big" }
        )),
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
