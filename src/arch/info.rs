// SPDX-License-Identifier: GPL-2.0-or-later
//! An architecture as data: [`AbiInfo`] and its [`KernelAbi`] (numbering
//! and layouts), and `dyn Abi`'s methods that read them and translate
//! guest numbers to the host's.

use crate::arch::ArchError;
use unicorn_engine::unicorn_const::{Arch, Mode};

use super::{
    cpu, regpair32, translate_bits, Abi, CloneArgs, CloneOrder, CpuSupport, GuestCpu, IpcLayout,
    SigactionLayout, SignalFrame, SignalFrames, ThreadRegs, TrapHooks,
};
use crate::abi::SyscallTable;
use crate::mem::{Endian, Fault, Layout, Perms};

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
    /// The order of clone(2)'s arguments.
    pub clone_order: CloneOrder,
    pub cpus: &'static dyn CpuSupport,
    pub frames: &'static dyn SignalFrames,
    /// The engine hooks besides the exception hook.
    pub hooks: TrapHooks,
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
    /// `si_code` of SIGILL from an undefined instruction: ILL_ILLOPC
    /// (asm-generic, arm, arm64, riscv), ILL_ILLOPN (x86's #UD), SI_KERNEL
    /// (MIPS's reserved instruction, a plain force_sig).
    pub ill_si_code: i32,
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
    /// Whether the `*ctl` calls take the `IPC_64` flag (0x100) in their
    /// command and the kernel strips it (ARCH_WANT_IPC_PARSE_VERSION: the
    /// 32-bit ABIs and MIPS); elsewhere a flagged command is unknown.
    pub ipc_parse_version: bool,
    /// SHMLBA (the alignment `shmat` rounds to with SHM_RND) and whether
    /// `shmat` refuses an address not aligned to it without SHM_RND
    /// (`__ARCH_FORCE_SHMLBA`: arm, mips) rather than only to a page.
    pub shmlba: (u64, bool),
    /// Whether 64-bit arguments start at an even register on 32-bit ABIs
    /// (arm EABI, mips o32).
    pub pairs_aligned: bool,
    /// The mmap/mprotect protection bit that makes pages guarded
    /// (arm64's PROT_BTI), or 0.
    pub prot_guarded: u64,
    /// Whether a memory fault's `si_addr` is its page's address (s390:
    /// the CPU reports only the page of a translation or protection
    /// exception) rather than the byte's.
    pub fault_addr_is_page: bool,
}

impl KernelAbi {
    /// The kernel's generic ABI (asm-generic), x86's numbering.
    pub const GENERIC: KernelAbi = KernelAbi {
        sigaction_size: 32,
        sigaction_layout: None,
        sa_siginfo: 4,
        trap_si_code: crate::abi::signal::TRAP_BRKPT,
        ill_si_code: crate::abi::signal::ILL_ILLOPC,
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
        ipc_parse_version: false,
        shmlba: (crate::mem::PAGE_SIZE, false),
        pairs_aligned: false,
        prot_guarded: 0,
        fault_addr_is_page: false,
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
    /// The engine hooks besides the exception hook.
    pub fn trap_hooks(&self) -> TrapHooks {
        self.info().hooks
    }
    /// The registers `thread_start` and `set_sp` write.
    pub fn thread_regs(&self) -> ThreadRegs {
        self.info().regs
    }
    /// Sets the stack pointer (a clone child's new stack).
    pub fn set_sp(&self, uc: &mut dyn GuestCpu, sp: u64) {
        let _ = uc.reg_write(self.thread_regs().sp, sp);
    }
    /// clone(2)'s arguments.
    pub fn clone_args(&self, a: &[u64; 6]) -> CloneArgs {
        let (flags, stack, ptid) = (a[0], a[1], a[2]);
        match self.info().clone_order {
            CloneOrder::TlsBeforeCtid => CloneArgs {
                flags,
                stack,
                ptid,
                tls: a[3],
                ctid: a[4],
            },
            CloneOrder::CtidBeforeTls => CloneArgs {
                flags,
                stack,
                ptid,
                tls: a[4],
                ctid: a[3],
            },
            CloneOrder::StackFirst => CloneArgs {
                flags: a[1],
                stack: a[0],
                ptid,
                tls: a[4],
                ctid: a[3],
            },
        }
    }
    /// Moves the pc back by `len` (a restarted system call). Writes the
    /// resume address, which on arm carries the Thumb bit the pc write sets.
    pub fn rewind_pc(&self, uc: &mut dyn GuestCpu, len: u64) {
        let pc = self.resume_address(uc);
        let _ = uc.reg_write(self.thread_regs().pc, pc - len);
    }
    /// Moves the pc forward by `len`, past an instruction ht-user
    /// performed itself (an m5op).
    pub fn advance_pc(&self, uc: &mut dyn GuestCpu, len: u64) {
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
    pub fn check_elf_flags(&self, flags: u32) -> Result<(), ArchError> {
        self.info().cpus.check_elf_flags(flags)
    }
    pub fn cpu_facts(&self, cpu: cpu::Cpu) -> Result<cpu::CpuFacts, ArchError> {
        self.info().cpus.facts(cpu)
    }
    pub fn cpuinfo(&self, cpu: cpu::Cpu, facts: &cpu::CpuFacts) -> String {
        self.info().cpus.cpuinfo(cpu, facts)
    }
    pub fn push_signal_frame(
        &self,
        uc: &mut dyn GuestCpu,
        f: &SignalFrame<'_>,
    ) -> Result<(u64, u64), Fault> {
        self.info().frames.push_signal_frame(uc, f)
    }
    pub fn signal_frame_at_return(&self, uc: &dyn GuestCpu, rt: bool) -> u64 {
        self.info().frames.signal_frame_at_return(uc, rt)
    }
    pub fn pop_signal_frame(
        &self,
        uc: &mut dyn GuestCpu,
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
    pub fn ill_si_code(&self) -> i32 {
        self.kernel().ill_si_code
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
    /// Whether the engine's memory-mapped I/O callbacks see values in the
    /// other byte order than the guest's: ppc64le runs little-endian
    /// (`MSR[LE]`) on the engine's big-endian PowerPC, whose I/O values are
    /// big-endian.
    pub fn mmio_byte_swapped(&self) -> bool {
        let engine_big_endian = self.info().unicorn.1 .0 & Mode::BIG_ENDIAN.0 != 0;
        engine_big_endian != (self.info().endian == Endian::Big)
    }
    pub fn ipc_layout(&self) -> IpcLayout {
        self.kernel().ipc_layout
    }
    pub fn ipc_parse_version(&self) -> bool {
        self.kernel().ipc_parse_version
    }
    /// The `si_addr` a memory fault at `addr` reports.
    pub fn fault_si_addr(&self, addr: u64) -> u64 {
        if self.kernel().fault_addr_is_page {
            addr & !(crate::mem::PAGE_SIZE - 1)
        } else {
            addr
        }
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
    /// Whether the ABI has guarded pages (arm64's PROT_BTI).
    pub fn has_guarded_pages(&self) -> bool {
        self.kernel().prot_guarded != 0
    }
    /// The pages mmap(2) or mprotect(2) with protection `prot` give.
    pub fn perms_from_prot(&self, prot: u64) -> Perms {
        let guarded = self.kernel().prot_guarded;
        Perms::from_prot(prot).with_guard(guarded != 0 && prot & guarded != 0)
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
