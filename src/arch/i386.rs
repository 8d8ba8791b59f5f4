// SPDX-License-Identifier: GPL-2.0-or-later
//! i386: `int $0x80`, number in eax, arguments ebx ecx edx esi edi ebp,
//! result in eax, TLS through set_thread_area and a GS descriptor in a GDT
//! that ht-user keeps in a page above the guest's address space.

use super::KernelAbi;
use crate::arch::{ArchError, EngineResult};
use unicorn_engine::unicorn_const::{Arch, Mode};
use unicorn_engine::RegisterX86;

use super::{below, Abi, AbiInfo, SyscallRequest, MMAP_TOP_32};
use crate::abi::types::Stat;
use crate::abi::{Errno, Outcome, Sys, SyscallTable};
use crate::arch::{CpuEvent, GuestCpu, TrapHooks};
use crate::mem::{AddressSpace, Encoder, Endian, Fault, Layout, Perms, StructBuilder};

pub struct I386;

/// The page holding the GDT (above 3 GiB, where Linux keeps the kernel).
const GDT_PAGE: u64 = 0xffff_e000;
/// GDT slots for set_thread_area, as on Linux/i386.
const GDT_ENTRY_TLS_MIN: u32 = 6;
const GDT_ENTRY_TLS_ENTRIES: u32 = 3;
const GDT_ENTRIES: u64 = 16;
/// The local descriptor table modify_ldt writes: Linux's 8192 entries, in
/// pages below the GDT's.
const LDT_BASE: u64 = 0xfffc_0000;
const LDT_ENTRIES: u32 = 8192;
const INT_SYSCALL: u32 = 0x80;
/// Flat 4 GiB user code and data segments: ring 3 descriptors in GDT
/// slots 4 and 5, selectors 0x23 and 0x2b as a 64-bit Linux gives a
/// 32-bit process (`__USER32_CS`, `__USER_DS`) and qemu-i386 does. The
/// guest runs at privilege level 3 as under Linux, so privileged
/// instructions fault and far returns to the user code segment work.
const USER_CODE: u64 = 0x00cf_fb00_0000_ffff;
const USER_DATA: u64 = 0x00cf_f300_0000_ffff;
const USER_CS: u64 = 4 << 3 | 3;
const USER_DS: u64 = 5 << 3 | 3;

/// `struct sigcontext` of i386, in order; `None` for trapno, err,
/// esp_at_signal, fpstate, oldmask and cr2, which are not registers.
const SIGCONTEXT: [Option<RegisterX86>; 22] = [
    Some(RegisterX86::GS),
    Some(RegisterX86::FS),
    Some(RegisterX86::ES),
    Some(RegisterX86::DS),
    Some(RegisterX86::EDI),
    Some(RegisterX86::ESI),
    Some(RegisterX86::EBP),
    Some(RegisterX86::ESP),
    Some(RegisterX86::EBX),
    Some(RegisterX86::EDX),
    Some(RegisterX86::ECX),
    Some(RegisterX86::EAX),
    None,
    None,
    Some(RegisterX86::EIP),
    Some(RegisterX86::CS),
    Some(RegisterX86::EFLAGS),
    None,
    Some(RegisterX86::SS),
    None,
    None,
    None,
];
const SC_TRAPNO: usize = 4 * 12;
const SC_ERR: usize = 4 * 13;
const SC_EIP: usize = 4 * 14;
const SC_OLDMASK: usize = 4 * 20;
const SC_CR2: usize = 4 * 21;
/// rt_sigframe: siginfo after pretcode, sig, pinfo and puc; then the
/// ucontext (flags, link, stack_t, sigcontext, sigmask).
const RT_INFO: usize = 16;
const RT_UC: usize = RT_INFO + 128;
const UC_MCONTEXT: usize = 20;
const UC_SIGMASK: usize = UC_MCONTEXT + 88;
const UCONTEXT_SIZE: usize = UC_SIGMASK + 8;
/// sigframe: the 624-byte `struct _fpstate` after the sigcontext stays
/// unused (the kernel puts the FP state after the frame), then extramask
/// (the mask's high word) and retcode.
const LEGACY_EXTRAMASK: usize = 8 + 88 + 624;
const LEGACY_RETCODE: usize = LEGACY_EXTRAMASK + 4;
const LEGACY_SIZE: usize = LEGACY_RETCODE + 8;

fn table() -> &'static SyscallTable {
    super::syscall_table!(syscalls::x86::Sysno, false)
}

/// An 8-byte segment descriptor from set_thread_area's `struct user_desc`.
fn descriptor(base: u32, limit: u32, flags: u32) -> u64 {
    let seg_32bit = flags & 1;
    let contents = (flags >> 1) & 3;
    let read_exec_only = (flags >> 3) & 1;
    let limit_in_pages = (flags >> 4) & 1;
    let not_present = (flags >> 5) & 1;
    let useable = (flags >> 6) & 1;
    let base = u64::from(base);
    let limit = u64::from(limit);
    // Type: accessed (so loading it never writes the read-only GDT),
    // data/code per `contents`, writable unless read_exec_only; S=1
    // (code/data), DPL=3, P unless seg_not_present.
    let typ = u64::from((contents << 2) | ((read_exec_only ^ 1) << 1) | 1);
    let access = typ | 1 << 4 | 3 << 5 | u64::from(not_present ^ 1) << 7;
    let flags_nibble =
        u64::from(useable) | u64::from(seg_32bit) << 2 | u64::from(limit_in_pages) << 3;
    (limit & 0xffff)
        | (base & 0xff_ffff) << 16
        | access << 40
        | ((limit >> 16) & 0xf) << 48
        | flags_nibble << 52
        | ((base >> 24) & 0xff) << 56
}

/// The words of a guest `struct user_desc` (set_thread_area, modify_ldt):
/// entry number, base, limit and the flag bits.
fn read_user_desc(mem: &AddressSpace, addr: u64) -> Result<[u32; 4], Errno> {
    let raw = mem.read_vec(addr, 16).map_err(|_| Errno::EFAULT)?;
    let enc = mem.encoder();
    Ok(std::array::from_fn(|i| {
        enc.decode_u32(raw[i * 4..i * 4 + 4].try_into().unwrap())
    }))
}

/// A descriptor-table register (GDTR, LDTR) as the engine takes it:
/// uc_x86_mmr {u16 selector, u64 base, u32 limit, u32 flags} with C
/// alignment.
fn table_register(base: u64, limit: u32, flags: u32) -> [u8; 24] {
    let mut mmr = [0u8; 24];
    mmr[8..16].copy_from_slice(&base.to_le_bytes());
    mmr[16..20].copy_from_slice(&limit.to_le_bytes());
    mmr[20..24].copy_from_slice(&flags.to_le_bytes());
    mmr
}

fn set_thread_area(uc: &mut dyn GuestCpu, u_info: u64) -> Outcome {
    let [mut entry, base, limit, flags] = match read_user_desc(&uc.mem(), u_info) {
        Ok(words) => words,
        Err(e) => return Outcome::Error(e),
    };
    if entry == u32::MAX {
        // First free TLS slot; ht-user hands out the first one each time,
        // which is what a single-threaded process asks for.
        entry = GDT_ENTRY_TLS_MIN;
        let mem = &mut uc.mem_mut();
        if mem.write_u32(u_info, entry).is_err() {
            return Outcome::Error(Errno::EFAULT);
        }
    }
    if !(GDT_ENTRY_TLS_MIN..GDT_ENTRY_TLS_MIN + GDT_ENTRY_TLS_ENTRIES).contains(&entry) {
        return Outcome::Error(Errno::EINVAL);
    }
    let desc = descriptor(base, limit, flags);
    let slot = GDT_PAGE + u64::from(entry) * 8;
    let mem = &mut uc.mem_mut();
    let bytes = mem.encoder().u64(desc);
    if mem.write_privileged(slot, &bytes).is_err() {
        return Outcome::Error(Errno::EFAULT);
    }
    Outcome::Value(0)
}

/// modify_ldt(func, ptr, bytecount) as Linux/i386 does it: 0 reads the
/// table (up to its last used entry), 2 reads the (empty) default one, 1
/// and 0x11 write one `struct user_desc` (1 in the old mode, which clears
/// the "useable" bit and treats base 0 limit 0 as "clear the entry").
fn modify_ldt(uc: &mut dyn GuestCpu, func: u64, ptr: u64, bytecount: u64) -> Outcome {
    let mem = &mut uc.mem_mut();
    match func {
        0 => {
            let mut table = match mem.read_vec(LDT_BASE, LDT_ENTRIES as usize * 8) {
                Ok(t) => t,
                Err(_) => return Outcome::Error(Errno::EFAULT),
            };
            let used = table
                .chunks(8)
                .rposition(|d| d.iter().any(|&b| b != 0))
                .map_or(0, |last| (last + 1) * 8);
            table.truncate(used.min(bytecount as usize));
            match mem.write(ptr, &table) {
                Ok(()) => Outcome::Value(table.len() as u64),
                Err(_) => Outcome::Error(Errno::EFAULT),
            }
        }
        2 => {
            let len = bytecount.min(5 * 8) as usize;
            match mem.write(ptr, &vec![0; len]) {
                Ok(()) => Outcome::Value(len as u64),
                Err(_) => Outcome::Error(Errno::EFAULT),
            }
        }
        1 | 0x11 => {
            if bytecount != 16 {
                return Outcome::Error(Errno::EINVAL);
            }
            let [entry, base, limit, mut flags] = match read_user_desc(mem, ptr) {
                Ok(words) => words,
                Err(e) => return Outcome::Error(e),
            };
            let old_mode = func == 1;
            let contents = (flags >> 1) & 3;
            let not_present = (flags >> 5) & 1;
            if entry >= LDT_ENTRIES || contents == 3 && (old_mode || not_present == 0) {
                return Outcome::Error(Errno::EINVAL);
            }
            // read_exec_only and seg_not_present set, nothing else.
            let empty = base == 0 && limit == 0 && flags & 0x7f == 0x28;
            let desc = if (old_mode && base == 0 && limit == 0) || empty {
                0
            } else {
                if old_mode {
                    flags &= !(1 << 6);
                }
                descriptor(base, limit, flags)
            };
            let bytes = mem.encoder().u64(desc);
            match mem.write_privileged(LDT_BASE + u64::from(entry) * 8, &bytes) {
                Ok(()) => Outcome::Value(0),
                Err(_) => Outcome::Error(Errno::EFAULT),
            }
        }
        _ => Outcome::Error(Errno::ENOSYS),
    }
}

const INFO: AbiInfo = AbiInfo {
    name: "i386",
    elf_machine: goblin::elf::header::EM_386,
    is_64bit: false,
    endian: Endian::Little,
    unicorn: (Arch::X86, Mode::MODE_32),
    layout: Layout {
        mmap_top: MMAP_TOP_32,
        mmap_bottom: 0x1_0000,
    },
    stack_top: 0xbf00_0000,
    pie_base: 0x5655_5000,
    platform: "i686",
    uname_machine: "i686",
    pipe_second_result: None,
    kernel: KernelAbi {
        ipc_parse_version: true,
        sigaction_size: 20,
        trap_si_code: crate::abi::signal::SI_KERNEL,
        ill_si_code: crate::abi::signal::ILL_ILLOPN,
        has_legacy_frame: true,
        epoll_event_packed: true,
        ..KernelAbi::GENERIC
    },
    // tls: thread_start below loads it through set_thread_area.
    regs: super::ThreadRegs {
        result: RegisterX86::EAX as i32,
        sp: RegisterX86::ESP as i32,
        pc: RegisterX86::EIP as i32,
        tls: RegisterX86::GS as i32,
    },
    syscalls: table,
    clone_order: crate::arch::CloneOrder::TlsBeforeCtid,
    cpus: &I386,
    frames: &I386,
    hooks: TrapHooks {
        syscall_instruction: false,
        invalid_instruction: false,
        icache_instruction: false,
        coherent_icache: true,
    },
};

impl Abi for I386 {
    fn info(&self) -> &'static AbiInfo {
        &INFO
    }

    fn map_special_pages(&self, mem: &mut AddressSpace) -> Result<(), ArchError> {
        super::map_kernel_page(mem, GDT_PAGE, Perms::R, "[gdt]")?;
        super::map_kernel_pages(mem, LDT_BASE, LDT_ENTRIES as usize * 8, Perms::R, "[ldt]")?;
        let enc = mem.encoder();
        for (slot, desc) in [(USER_CS >> 3, USER_CODE), (USER_DS >> 3, USER_DATA)] {
            mem.write_privileged(GDT_PAGE + slot * 8, &enc.u64(desc))
                .map_err(|e| ArchError::Host(e.to_string()))?;
        }
        Ok(())
    }

    fn prepare(&self, uc: &mut dyn GuestCpu) -> Result<(), ArchError> {
        super::x86_64::select_model(uc)
    }

    fn exception(&self, uc: &mut dyn GuestCpu, intno: u32) -> CpuEvent {
        if intno == INT_SYSCALL {
            CpuEvent::Syscall
        } else {
            CpuEvent::Trap(super::x86_64::trap_for_interrupt(uc, intno))
        }
    }

    fn init_registers(&self, uc: &mut dyn GuestCpu, entry: u64, sp: u64) -> Result<(), ArchError> {
        let gdt = table_register(GDT_PAGE, (GDT_ENTRIES * 8 - 1) as u32, 0);
        uc.reg_write_long(RegisterX86::GDTR, &gdt)
            .engine("set the GDT")?;
        // Flags: present, type LDT.
        let ldt = table_register(LDT_BASE, LDT_ENTRIES * 8 - 1, 0x8200);
        uc.reg_write_long(RegisterX86::LDTR, &ldt)
            .engine("set the LDT")?;
        // Load the segments from the GDT so their cached descriptors
        // (32-bit code and stack included) stay right when the guest loads
        // GS. The stack segment is loaded once at privilege level 3
        // (engine patch 0035), which it must match.
        uc.reg_write(RegisterX86::CS, USER_CS).engine("load CS")?;
        for seg in [RegisterX86::DS, RegisterX86::ES] {
            uc.reg_write(seg, USER_DS).engine(format!("load {seg:?}"))?;
        }
        uc.reg_write(RegisterX86::CPL, 3)
            .engine("enter user mode")?;
        uc.reg_write(RegisterX86::SS, USER_DS).engine("load SS")?;
        for r in [
            RegisterX86::EAX,
            RegisterX86::EBX,
            RegisterX86::ECX,
            RegisterX86::EDX,
            RegisterX86::ESI,
            RegisterX86::EDI,
            RegisterX86::EBP,
        ] {
            uc.reg_write(r, 0).engine(format!("set {r:?}"))?;
        }
        uc.reg_write(RegisterX86::ESP, sp).engine("set esp")?;
        uc.reg_write(RegisterX86::EIP, entry).engine("set eip")?;
        super::x86_64::init_fp_state(uc)
    }

    fn read_syscall(&self, uc: &dyn GuestCpu) -> SyscallRequest {
        let r = |reg| uc.reg_read(reg).unwrap_or(0) & 0xffff_ffff;
        SyscallRequest {
            nr: r(RegisterX86::EAX),
            args: [
                r(RegisterX86::EBX),
                r(RegisterX86::ECX),
                r(RegisterX86::EDX),
                r(RegisterX86::ESI),
                r(RegisterX86::EDI),
                r(RegisterX86::EBP),
            ],
        }
    }

    fn write_syscall_result(&self, uc: &mut dyn GuestCpu, ret: i64) {
        let _ = uc.reg_write(RegisterX86::EAX, ret as u64 & 0xffff_ffff);
    }

    fn arch_syscall(
        &self,
        uc: &mut dyn GuestCpu,
        _nr: u64,
        sys: Option<Sys>,
        args: &[u64; 6],
    ) -> Option<Outcome> {
        match sys {
            Some(Sys::set_thread_area) => Some(set_thread_area(uc, args[0])),
            Some(Sys::modify_ldt) => Some(modify_ldt(uc, args[0], args[1], args[2])),
            _ => None,
        }
    }

    fn thread_start(
        &self,
        uc: &mut dyn GuestCpu,
        stack: u64,
        tls: Option<u64>,
    ) -> Result<(), ArchError> {
        let set = |uc: &mut dyn GuestCpu, r: RegisterX86, v: u64| {
            uc.reg_write(r, v).engine(format!("set {r:?}"))
        };
        set(uc, RegisterX86::EAX, 0)?;
        if stack != 0 {
            set(uc, RegisterX86::ESP, stack)?;
        }
        if let Some(u_info) = tls {
            // CLONE_SETTLS passes a `struct user_desc` as set_thread_area
            // does; reloading GS makes the thread's segment base the new one.
            if let Outcome::Error(e) = set_thread_area(uc, u_info) {
                return Err(ArchError::Unsupported(format!(
                    "clone: bad TLS descriptor ({})",
                    e.name()
                )));
            }
            let gs = uc.reg_read(RegisterX86::GS).unwrap_or(0);
            set(uc, RegisterX86::GS, gs)?;
        }
        Ok(())
    }

    fn syscall_insn_len(&self, _uc: &dyn GuestCpu) -> u64 {
        // int $0x80
        2
    }

    fn pc(&self, uc: &dyn GuestCpu) -> u64 {
        uc.reg_read(RegisterX86::EIP).unwrap_or(0)
    }

    fn dump_registers(&self, uc: &dyn GuestCpu) -> String {
        use RegisterX86::*;
        let regs = [
            ("EAX", EAX),
            ("EBX", EBX),
            ("ECX", ECX),
            ("EDX", EDX),
            ("ESI", ESI),
            ("EDI", EDI),
            ("EBP", EBP),
            ("ESP", ESP),
            ("EIP", EIP),
            ("EFL", EFLAGS),
            ("GS", GS),
        ];
        regs.iter()
            .map(|(n, r)| format!("{n}={:08x}", uc.reg_read(*r).unwrap_or(0)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `struct stat64` of i386 (96 bytes, 64-bit fields 4-aligned).
    fn encode_stat(&self, st: &Stat, enc: Encoder) -> Vec<u8> {
        let mut b = StructBuilder::new(96, enc);
        b.u64(0, st.dev)
            .u32(12, st.ino as u32)
            .u32(16, st.mode)
            .u32(20, st.nlink as u32)
            .u32(24, st.uid)
            .u32(28, st.gid)
            .u64(32, st.rdev)
            .u64(44, st.size as u64)
            .u32(52, st.blksize as u32)
            .u64(56, st.blocks as u64)
            .u32(64, st.atime.0 as u32)
            .u32(68, st.atime.1 as u32)
            .u32(72, st.mtime.0 as u32)
            .u32(76, st.mtime.1 as u32)
            .u32(80, st.ctime.0 as u32)
            .u32(84, st.ctime.1 as u32)
            .u64(88, st.ino);
        b.bytes
    }
}

impl super::CpuSupport for I386 {
    fn models(&self) -> &'static [super::cpu::CpuModel] {
        super::cpu::X86
    }
    fn default_cpu(&self) -> super::cpu::Cpu {
        &super::cpu::X86[super::cpu::X86_DEFAULT]
    }
    fn facts(&self, cpu: super::cpu::Cpu) -> Result<super::cpu::CpuFacts, ArchError> {
        let mut facts = super::x86_64::cpu_facts(cpu)?;
        // i486 to i686 by the CPU's family, as Linux's ELF_PLATFORM.
        facts.platform = facts.x86.as_ref().map(|id| match id.family {
            0..=4 => "i486",
            5 => "i586",
            _ => "i686",
        });
        Ok(facts)
    }
    fn cpuinfo(&self, _cpu: super::cpu::Cpu, facts: &super::cpu::CpuFacts) -> String {
        super::cpuinfo::x86(facts.hwcap, false, facts.x86.as_ref())
    }
}

impl super::SignalFrames for I386 {
    fn push_signal_frame(
        &self,
        uc: &mut dyn GuestCpu,
        f: &super::SignalFrame<'_>,
    ) -> Result<(u64, u64), Fault> {
        // rt_sigframe: pretcode, sig, pinfo, puc, siginfo, ucontext,
        // retcode; sigframe: pretcode, sig, sigcontext, the unused fpstate,
        // extramask, retcode.
        let (size, sc, retcode) = if f.rt {
            (
                RT_INFO + 128 + UCONTEXT_SIZE + 8,
                RT_UC + UC_MCONTEXT,
                RT_UC + UCONTEXT_SIZE,
            )
        } else {
            (LEGACY_SIZE, 8, LEGACY_RETCODE)
        };
        // As after a call: (esp + 4) is 16-byte aligned at the handler.
        let frame = below((below(f.sp, size as u64)? + 4) & !15, 4)?;
        let enc = uc.mem().encoder();
        let mut b = StructBuilder::new(size, enc);
        b.u32(0, f.return_to as u32).u32(4, f.sig as u32);
        for (i, reg) in SIGCONTEXT.iter().enumerate() {
            let v = reg.map_or(0, |r| uc.reg_read(r).unwrap_or(0));
            b.u32(sc + 4 * i, v as u32);
        }
        if let Some(trap) = f.trap {
            b.u32(sc + SC_TRAPNO, trap.number)
                .u32(sc + SC_ERR, trap.error_code);
        } else if f.sig == libc::SIGILL as u64 {
            // An invalid opcode (#UD, trapno 6) that the engine reports
            // as an error rather than through the interrupt hook.
            b.u32(sc + SC_TRAPNO, 6);
        } else if let Some((addr, write)) = f.fault {
            // A user-mode page fault (trapno 14), with the write bit.
            b.u32(sc + SC_TRAPNO, 14)
                .u32(sc + SC_ERR, 4 | if write { 2 } else { 0 })
                .u32(sc + SC_CR2, addr as u32);
        }
        b.u32(sc + SC_OLDMASK, f.saved_mask as u32);
        if f.rt {
            let uc_addr = frame + RT_UC as u64;
            b.u32(8, (frame + RT_INFO as u64) as u32)
                .u32(12, uc_addr as u32)
                .bytes_at(RT_INFO, f.info)
                .u32(RT_UC + 8, f.altstack.sp as u32)
                .u32(RT_UC + 12, f.altstack.flags)
                .u32(RT_UC + 16, f.altstack.size as u32)
                .u32(RT_UC + UC_SIGMASK, f.saved_mask as u32)
                .u32(RT_UC + UC_SIGMASK + 4, (f.saved_mask >> 32) as u32);
            // movl $173, %eax; int $0x80 (for debuggers; pretcode is used).
            b.bytes_at(retcode, &[0xb8, 173, 0, 0, 0, 0xcd, 0x80]);
        } else {
            b.u32(LEGACY_EXTRAMASK, (f.saved_mask >> 32) as u32);
            // popl %eax; movl $119, %eax; int $0x80
            b.bytes_at(retcode, &[0x58, 0xb8, 119, 0, 0, 0, 0xcd, 0x80]);
        }
        uc.mem_mut().write(frame, &b.bytes)?;
        let set = |uc: &mut dyn GuestCpu, r, v| {
            let _ = uc.reg_write(r, v);
        };
        // Also in registers, for handlers built with -mregparm=3.
        set(uc, RegisterX86::EAX, f.sig);
        let (info, ucp) = if f.rt {
            (frame + RT_INFO as u64, frame + RT_UC as u64)
        } else {
            (0, 0)
        };
        set(uc, RegisterX86::EDX, info);
        set(uc, RegisterX86::ECX, ucp);
        set(uc, RegisterX86::ESP, frame);
        let flags = uc.reg_read(RegisterX86::EFLAGS).unwrap_or(0);
        set(
            uc,
            RegisterX86::EFLAGS,
            flags & !(super::x86_64::EFLAGS_DF | super::x86_64::EFLAGS_TF),
        );
        // The interrupted code's FP state is in the engine context saved at
        // delivery; the handler starts afresh, as on Linux.
        let _ = super::x86_64::init_fp_state(uc);
        set(uc, RegisterX86::EIP, f.handler);
        Ok((frame, f.handler))
    }
    fn signal_frame_at_return(&self, uc: &dyn GuestCpu, rt: bool) -> u64 {
        // The handler's `ret` popped pretcode; the legacy restorer also
        // pops sig before its system call.
        let esp = uc.reg_read(RegisterX86::ESP).unwrap_or(0);
        esp.wrapping_sub(if rt { 4 } else { 8 }) & 0xffff_ffff
    }
    fn pop_signal_frame(
        &self,
        uc: &mut dyn GuestCpu,
        frame: u64,
        rt: bool,
    ) -> Result<(u64, u64), Fault> {
        let size = if rt {
            RT_UC + UCONTEXT_SIZE
        } else {
            LEGACY_SIZE
        };
        let raw = uc.mem().read_vec(frame, size)?;
        let word =
            |off: usize| u64::from(u32::from_le_bytes(raw[off..off + 4].try_into().unwrap()));
        let sc = if rt { RT_UC + UC_MCONTEXT } else { 8 };
        // Segment registers stay as the saved engine state has them.
        for (i, reg) in SIGCONTEXT.iter().enumerate() {
            let Some(reg) = *reg else { continue };
            if matches!(
                reg,
                RegisterX86::GS
                    | RegisterX86::FS
                    | RegisterX86::ES
                    | RegisterX86::DS
                    | RegisterX86::CS
                    | RegisterX86::SS
            ) {
                continue;
            }
            let v = word(sc + 4 * i);
            if reg == RegisterX86::EFLAGS {
                let user = super::x86_64::EFLAGS_USER;
                let old = uc.reg_read(reg).unwrap_or(0);
                let _ = uc.reg_write(reg, (old & !user) | (v & user));
            } else {
                let _ = uc.reg_write(reg, v);
            }
        }
        let mask = if rt {
            word(RT_UC + UC_SIGMASK) | word(RT_UC + UC_SIGMASK + 4) << 32
        } else {
            word(sc + SC_OLDMASK) | word(LEGACY_EXTRAMASK) << 32
        };
        Ok((mask, word(sc + SC_EIP)))
    }
    fn sigreturn_code(&self, rt: bool) -> Vec<u32> {
        super::x86_64::le_words(if rt {
            // movl $173, %eax; int $0x80
            &[0xb8, 173, 0, 0, 0, 0xcd, 0x80]
        } else {
            // popl %eax (sig); movl $119, %eax; int $0x80
            &[0x58, 0xb8, 119, 0, 0, 0, 0xcd, 0x80]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_descriptor_like_linux() {
        // glibc's TLS request: 32-bit, limit in pages, useable, limit 0xfffff.
        let d = descriptor(0x1234_5678, 0xfffff, 0x51);
        assert_eq!(d & 0xffff, 0xffff);
        assert_eq!((d >> 16) & 0xff_ffff, 0x34_5678);
        assert_eq!((d >> 56) & 0xff, 0x12);
        assert_eq!((d >> 40) & 0xff, 0xf3); // present, DPL 3, data, writable, accessed
        assert_eq!((d >> 52) & 0xf, 0xd); // G, D/B, AVL
    }
}
