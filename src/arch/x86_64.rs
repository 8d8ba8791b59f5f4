// SPDX-License-Identifier: GPL-2.0-or-later
//! x86_64: `syscall` instruction, rax/rdi/rsi/rdx/r10/r8/r9, TLS in FS_BASE.

use super::KernelAbi;
use crate::arch::{ArchError, EngineResult};
use unicorn_engine::unicorn_const::{Arch, Mode};
use unicorn_engine::RegisterX86;

use super::{below, Abi, AbiInfo, SyscallRequest, MMAP_TOP_64};
use crate::abi::types::Stat;
use crate::abi::{Errno, Outcome, Sys, SyscallTable};
use crate::arch::{CpuEvent, GuestCpu, TrapHooks};
use crate::mem::{AddressSpace, Encoder, Endian, Fault, Layout, Perms, StructBuilder};

pub struct X86_64;

/// `struct ucontext` of the kernel: flags, link, stack, mcontext, mask.
const UCONTEXT_SIZE: u64 = 304;
const MCONTEXT: usize = 40;
const UC_SIGMASK: usize = 296;
/// `uc_mcontext.gregs` in the kernel's order (csgsfs, err, trapno,
/// oldmask and cr2 follow; they are not restored).
const GREGS: [RegisterX86; 18] = [
    RegisterX86::R8,
    RegisterX86::R9,
    RegisterX86::R10,
    RegisterX86::R11,
    RegisterX86::R12,
    RegisterX86::R13,
    RegisterX86::R14,
    RegisterX86::R15,
    RegisterX86::RDI,
    RegisterX86::RSI,
    RegisterX86::RBP,
    RegisterX86::RBX,
    RegisterX86::RDX,
    RegisterX86::RAX,
    RegisterX86::RCX,
    RegisterX86::RSP,
    RegisterX86::RIP,
    RegisterX86::EFLAGS,
];
pub(crate) const EFLAGS_TF: u64 = 0x100;
pub(crate) const EFLAGS_DF: u64 = 0x400;
/// Flags a handler may change in the saved context (the kernel's
/// FIX_EFLAGS): CF PF AF ZF SF TF DF OF RF AC.
pub(crate) const EFLAGS_USER: u64 =
    0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800 | 0x1_0000 | 0x4_0000;

/// Little-endian code bytes as the words `sigreturn_code` returns.
pub(crate) fn le_words(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks(4)
        .map(|c| {
            let mut w = [0u8; 4];
            w[..c.len()].copy_from_slice(c);
            u32::from_le_bytes(w)
        })
        .collect()
}

/// The x87 and SSE state Linux gives a new process and a signal handler
/// (the kernel's `init_fpstate`): round to nearest, 64-bit precision and
/// every exception masked, an empty register stack. The engine resets
/// these to 0, which selects single precision and unmasks every exception.
const FP_INIT: [(RegisterX86, u64); 4] = [
    (RegisterX86::FPCW, 0x037f),
    (RegisterX86::FPSW, 0),
    (RegisterX86::FPTAG, 0xffff),
    (RegisterX86::MXCSR, 0x1f80),
];

/// Sets the x87 and SSE control state Linux starts a process and a signal
/// handler with (the data registers keep their values, as on Linux).
pub(super) fn init_fp_state(uc: &mut dyn GuestCpu) -> Result<(), ArchError> {
    for (reg, value) in FP_INIT {
        uc.reg_write(reg, value).engine(format!("set {reg:?}"))?;
    }
    Ok(())
}

/// The legacy vsyscall page: gettimeofday at +0, time at +0x400, getcpu
/// at +0x800, each `mov rax, NR; syscall; ret` as Linux's emulated page
/// behaves (vsyscall=emulate); int3 everywhere else.
const VSYSCALL_PAGE: u64 = 0xffff_ffff_ff60_0000;
const VSYSCALL_ENTRIES: [(u64, u32); 3] = [(0x000, 96), (0x400, 201), (0x800, 309)];

const ARCH_SET_GS: u64 = 0x1001;
const ARCH_SET_FS: u64 = 0x1002;
const ARCH_GET_FS: u64 = 0x1003;
const ARCH_GET_GS: u64 = 0x1004;

fn table() -> &'static SyscallTable {
    super::syscall_table!(syscalls::x86_64::Sysno, true)
}

/// Interrupt vectors to the signal Linux delivers for them.
pub(crate) fn signal_for_interrupt(intno: u32) -> i32 {
    match intno {
        0 => libc::SIGFPE, // #DE divide error
        1 | 3 => libc::SIGTRAP,
        4 | 5 => libc::SIGSEGV,  // into, bound
        6 => libc::SIGILL,       // #UD
        11 | 12 => libc::SIGBUS, // segment not present, stack segment
        16 | 19 => libc::SIGFPE,
        17 => libc::SIGBUS, // alignment check
        _ => libc::SIGSEGV, // #GP, #PF and software interrupts
    }
}

/// The trap for interrupt `intno`, with its vector and error code for the
/// signal frame (engine patch 0035 reads the code).
pub(crate) fn trap_for_interrupt(uc: &dyn GuestCpu, intno: u32) -> super::Trap {
    let error_code = uc.reg_read(RegisterX86::EXCP_ERROR_CODE).unwrap_or(0) as u32;
    super::Trap {
        vector: Some(super::TrapVector {
            number: intno,
            error_code,
        }),
        // Segment not present and stack faults: SIGBUS from the kernel
        // itself, not an alignment fault.
        code: matches!(intno, 11 | 12).then_some(crate::abi::signal::SI_KERNEL),
        ..super::Trap::at_pc(signal_for_interrupt(intno))
    }
}

/// AT_HWCAP without `-cpu`: CPUID.1:EDX of qemu-user's default CPU
/// (qemu64: fpu, tsc, cx8, cmov, mmx, fxsr, sse, sse2, ...), what
/// qemu-x86_64 and qemu-i386 announce. The engine runs its own default,
/// Haswell, which has all of these.
pub(crate) const X86_HWCAP: u64 = 0x078b_fbfd;

/// Selects the process's CPU model in the engine; the default is the
/// engine's own.
pub(crate) fn select_model(uc: &mut dyn GuestCpu) -> Result<(), ArchError> {
    let cpu = uc.model();
    if *cpu == super::cpu::X86[super::cpu::X86_DEFAULT] {
        return Ok(());
    }
    uc.set_engine_model(cpu.id)
        .engine(format!("select the x86 CPU model {}", cpu.name))?;
    // The engine turns SSE on (CR4.OSFXSR) only for models with XSAVE;
    // Linux does for every CPU with FXSR.
    const CR4_OSFXSR: u64 = 1 << 9;
    let cr4 = uc.reg_read(RegisterX86::CR4).engine("read CR4")?;
    uc.reg_write(RegisterX86::CR4, cr4 | CR4_OSFXSR)
        .engine("enable SSE")
}

/// AT_HWCAP and /proc/cpuinfo's identity of `cpu`: for the default as
/// qemu-user gives them, for a chosen model from its CPUID.
pub(crate) fn cpu_facts(cpu: super::cpu::Cpu) -> Result<super::cpu::CpuFacts, ArchError> {
    if *cpu == super::cpu::X86[super::cpu::X86_DEFAULT] {
        return Ok(super::cpu::CpuFacts {
            hwcap: X86_HWCAP,
            ..Default::default()
        });
    }
    let cpuid =
        probe_cpuid(cpu.id).engine(format!("read CPUID of the x86 CPU model {}", cpu.name))?;
    let text = |regs: &[u32]| -> String {
        let bytes: Vec<u8> = regs.iter().flat_map(|r| r.to_le_bytes()).collect();
        String::from_utf8_lossy(&bytes)
            .trim_matches(char::from(0))
            .trim()
            .to_string()
    };
    let [_, b0, c0, d0] = cpuid[0];
    let [eax1, _, _, edx1] = cpuid[1];
    let family = (eax1 >> 8) & 0xf;
    let ext_family = if family == 0xf {
        (eax1 >> 20) & 0xff
    } else {
        0
    };
    let model = (eax1 >> 4) & 0xf;
    let ext_model = if family == 6 || family == 0xf {
        (eax1 >> 16) & 0xf
    } else {
        0
    };
    let brand: Vec<u32> = cpuid[3..].iter().flatten().copied().collect();
    let name = if cpuid[2][0] >= 0x8000_0004 {
        text(&brand)
    } else {
        cpu.name.to_string()
    };
    Ok(super::cpu::CpuFacts {
        hwcap: u64::from(edx1),
        hwcap2: 0,
        x86: Some(super::cpu::X86Ident {
            vendor: text(&[b0, d0, c0]),
            family: family + ext_family,
            model: ext_model << 4 | model,
            stepping: eax1 & 0xf,
            name,
        }),
        platform: None,
        auxv: &[],
    })
}

/// CPUID leaves 0, 1, 0x80000000 and 0x80000002-4 (eax, ebx, ecx, edx) as
/// the engine answers them for `model`, from a scratch engine of its own
/// (the guest's engine and memory map are not touched).
fn probe_cpuid(model: i32) -> Result<[[u32; 4]; 6], unicorn_engine::unicorn_const::uc_error> {
    use unicorn_engine::unicorn_const::Prot;
    const AT: u64 = 0x1000;
    let mut uc = unicorn_engine::Unicorn::new(Arch::X86, Mode::MODE_32)?;
    uc.ctl_set_cpu_model(model)?;
    uc.mem_map(AT, 0x1000, Prot::ALL)?;
    uc.mem_write(AT, &[0x0f, 0xa2])?; // cpuid
    let mut out = [[0u32; 4]; 6];
    for (slot, leaf) in [0, 1, 0x8000_0000, 0x8000_0002, 0x8000_0003, 0x8000_0004]
        .into_iter()
        .enumerate()
    {
        uc.reg_write(RegisterX86::EAX, leaf)?;
        uc.reg_write(RegisterX86::ECX, 0)?;
        uc.emu_start(AT, AT + 2, 0, 1)?;
        for (i, r) in [
            RegisterX86::EAX,
            RegisterX86::EBX,
            RegisterX86::ECX,
            RegisterX86::EDX,
        ]
        .into_iter()
        .enumerate()
        {
            out[slot][i] = uc.reg_read(r)? as u32;
        }
    }
    Ok(out)
}

const INFO: AbiInfo = AbiInfo {
    name: "x86_64",
    elf_machine: goblin::elf::header::EM_X86_64,
    is_64bit: true,
    endian: Endian::Little,
    unicorn: (Arch::X86, Mode::MODE_64),
    layout: Layout {
        mmap_top: MMAP_TOP_64,
        mmap_bottom: 0x1_0000,
    },
    stack_top: 0x7fff_ffff_f000,
    pie_base: 0x5555_5555_4000,
    platform: "x86_64",
    uname_machine: "x86_64",
    pipe_second_result: None,
    kernel: KernelAbi {
        trap_si_code: crate::abi::signal::SI_KERNEL,
        ill_si_code: crate::abi::signal::ILL_ILLOPN,
        epoll_event_packed: true,
        ipc_layout: super::IpcLayout::X86_64,
        ..KernelAbi::GENERIC
    },
    regs: super::ThreadRegs {
        result: RegisterX86::RAX as i32,
        sp: RegisterX86::RSP as i32,
        pc: RegisterX86::RIP as i32,
        tls: RegisterX86::FS_BASE as i32,
    },
    syscalls: table,
    clone_order: crate::arch::CloneOrder::CtidBeforeTls,
    cpus: &X86_64,
    frames: &X86_64,
    hooks: TrapHooks {
        syscall_instruction: true,
        invalid_instruction: false,
        icache_instruction: false,
        coherent_icache: true,
    },
};

impl Abi for X86_64 {
    fn info(&self) -> &'static AbiInfo {
        &INFO
    }

    fn syscall_insn_len(&self, _uc: &dyn GuestCpu) -> u64 {
        2
    }

    fn map_special_pages(&self, mem: &mut AddressSpace) -> Result<(), ArchError> {
        super::map_kernel_page(mem, VSYSCALL_PAGE, Perms::RX, "[vsyscall]")?;
        mem.write_privileged(VSYSCALL_PAGE, &[0xcc; 4096])
            .map_err(|e| ArchError::Host(e.to_string()))?;
        for (offset, nr) in VSYSCALL_ENTRIES {
            // mov rax, imm32 (sign-extended); syscall; ret
            let mut code = vec![0x48, 0xc7, 0xc0];
            code.extend_from_slice(&nr.to_le_bytes());
            code.extend_from_slice(&[0x0f, 0x05, 0xc3]);
            mem.write_privileged(VSYSCALL_PAGE + offset, &code)
                .map_err(|e| ArchError::Host(e.to_string()))?;
        }
        Ok(())
    }

    fn prepare(&self, uc: &mut dyn GuestCpu) -> Result<(), ArchError> {
        select_model(uc)
    }

    fn exception(&self, uc: &mut dyn GuestCpu, intno: u32) -> CpuEvent {
        CpuEvent::Trap(trap_for_interrupt(uc, intno))
    }

    fn init_registers(&self, uc: &mut dyn GuestCpu, entry: u64, sp: u64) -> Result<(), ArchError> {
        let set = |uc: &mut dyn GuestCpu, r: RegisterX86, v: u64| {
            uc.reg_write(r, v).engine(format!("set {r:?}"))
        };
        for r in [
            RegisterX86::RAX,
            RegisterX86::RBX,
            RegisterX86::RCX,
            RegisterX86::RDX,
            RegisterX86::RSI,
            RegisterX86::RDI,
            RegisterX86::RBP,
            RegisterX86::R8,
            RegisterX86::R9,
            RegisterX86::R10,
            RegisterX86::R11,
            RegisterX86::R12,
            RegisterX86::R13,
            RegisterX86::R14,
            RegisterX86::R15,
        ] {
            set(uc, r, 0)?;
        }
        set(uc, RegisterX86::RSP, sp)?;
        set(uc, RegisterX86::RIP, entry)?;
        init_fp_state(uc)
    }

    fn read_syscall(&self, uc: &dyn GuestCpu) -> SyscallRequest {
        let r = |reg| uc.reg_read(reg).unwrap_or(0);
        SyscallRequest {
            nr: r(RegisterX86::RAX),
            args: [
                r(RegisterX86::RDI),
                r(RegisterX86::RSI),
                r(RegisterX86::RDX),
                r(RegisterX86::R10),
                r(RegisterX86::R8),
                r(RegisterX86::R9),
            ],
        }
    }

    fn write_syscall_result(&self, uc: &mut dyn GuestCpu, ret: i64) {
        let _ = uc.reg_write(RegisterX86::RAX, ret as u64);
    }

    fn arch_syscall(
        &self,
        uc: &mut dyn GuestCpu,
        _nr: u64,
        sys: Option<Sys>,
        args: &[u64; 6],
    ) -> Option<Outcome> {
        if sys != Some(Sys::arch_prctl) {
            return None;
        }
        let (code, addr) = (args[0], args[1]);
        let base_reg = |code| {
            if code == ARCH_SET_FS || code == ARCH_GET_FS {
                RegisterX86::FS_BASE
            } else {
                RegisterX86::GS_BASE
            }
        };
        Some(match code {
            ARCH_SET_FS | ARCH_SET_GS => {
                if addr >= 0x8000_0000_0000 {
                    Outcome::Error(Errno::EPERM)
                } else {
                    match uc.reg_write(base_reg(code), addr) {
                        Ok(()) => Outcome::Value(0),
                        Err(_) => Outcome::Error(Errno::EINVAL),
                    }
                }
            }
            ARCH_GET_FS | ARCH_GET_GS => {
                let value = uc.reg_read(base_reg(code)).unwrap_or(0);
                match uc.mem_mut().write_u64(addr, value) {
                    Ok(()) => Outcome::Value(0),
                    Err(_) => Outcome::Error(Errno::EFAULT),
                }
            }
            _ => Outcome::Error(Errno::EINVAL),
        })
    }

    fn pc(&self, uc: &dyn GuestCpu) -> u64 {
        uc.reg_read(RegisterX86::RIP).unwrap_or(0)
    }

    fn m5op(&self, uc: &dyn GuestCpu) -> Option<super::M5Op> {
        let code = super::insn_word(uc, self.pc(uc)).to_le_bytes();
        let func = super::m5op_encoding::x86(code)?;
        let r = |reg| uc.reg_read(reg).unwrap_or(0);
        Some(super::M5Op {
            func,
            args: [r(RegisterX86::RDI), r(RegisterX86::RSI)],
            len: 4,
        })
    }

    fn dump_registers(&self, uc: &dyn GuestCpu) -> String {
        use RegisterX86::*;
        let regs = [
            ("RAX", RAX),
            ("RBX", RBX),
            ("RCX", RCX),
            ("RDX", RDX),
            ("RSI", RSI),
            ("RDI", RDI),
            ("RBP", RBP),
            ("RSP", RSP),
            ("R8", R8),
            ("R9", R9),
            ("R10", R10),
            ("R11", R11),
            ("R12", R12),
            ("R13", R13),
            ("R14", R14),
            ("R15", R15),
            ("RIP", RIP),
            ("EFL", EFLAGS),
            ("FS_BASE", FS_BASE),
        ];
        let mut out = String::new();
        for (i, (name, reg)) in regs.iter().enumerate() {
            let v = uc.reg_read(*reg).unwrap_or(0);
            out.push_str(&format!("{name}={v:016x}"));
            out.push(if i % 4 == 3 { '\n' } else { ' ' });
        }
        out.trim_end().to_string()
    }

    fn encode_stat(&self, st: &Stat, enc: Encoder) -> Vec<u8> {
        crate::abi::types::encode_stat_x86_64(st, enc)
    }
}

impl super::CpuSupport for X86_64 {
    fn models(&self) -> &'static [super::cpu::CpuModel] {
        super::cpu::X86
    }
    fn default_cpu(&self) -> super::cpu::Cpu {
        &super::cpu::X86[super::cpu::X86_DEFAULT]
    }
    fn facts(&self, cpu: super::cpu::Cpu) -> Result<super::cpu::CpuFacts, ArchError> {
        cpu_facts(cpu)
    }
    fn cpuinfo(&self, _cpu: super::cpu::Cpu, facts: &super::cpu::CpuFacts) -> String {
        super::cpuinfo::x86(facts.hwcap, true, facts.x86.as_ref())
    }
}

impl super::SignalFrames for X86_64 {
    fn push_signal_frame(
        &self,
        uc: &mut dyn GuestCpu,
        f: &super::SignalFrame<'_>,
    ) -> Result<(u64, u64), Fault> {
        // rt_sigframe: pretcode, ucontext, siginfo.
        let red_zone = if f.on_own_stack { 128 } else { 0 };
        let size = 8 + UCONTEXT_SIZE + 128;
        // As after a call: (rsp + 8) is 16-byte aligned at the handler.
        let frame = below(below(f.sp, red_zone + size)? & !15, 8)?;
        let uc_addr = frame + 8;
        let info_addr = uc_addr + UCONTEXT_SIZE;
        let enc = uc.mem().encoder();
        let mut b = StructBuilder::new(size as usize, enc);
        b.u64(0, f.return_to);
        b.u64(8 + 16, f.altstack.sp)
            .u32(8 + 24, f.altstack.flags)
            .u64(8 + 32, f.altstack.size);
        for (i, reg) in GREGS.iter().enumerate() {
            b.u64(8 + MCONTEXT + 8 * i, uc.reg_read(*reg).unwrap_or(0));
        }
        let (addr, write) = f.fault.unwrap_or((0, false));
        if let Some(trap) = f.trap {
            b.u64(8 + MCONTEXT + 8 * 19, u64::from(trap.error_code))
                .u64(8 + MCONTEXT + 8 * 20, u64::from(trap.number));
        } else if f.sig == libc::SIGILL as u64 {
            // #UD, which the engine reports as an error, not a trap.
            b.u64(8 + MCONTEXT + 8 * 20, 6);
        } else if f.fault.is_some() {
            // err: a user-mode page fault, with the write bit; trapno 14.
            b.u64(8 + MCONTEXT + 8 * 19, 4 | if write { 2 } else { 0 })
                .u64(8 + MCONTEXT + 8 * 20, 14)
                .u64(8 + MCONTEXT + 8 * 22, addr);
        }
        b.u64(8 + MCONTEXT + 8 * 21, f.saved_mask)
            .u64(8 + UC_SIGMASK, f.saved_mask)
            .bytes_at(8 + UCONTEXT_SIZE as usize, f.info);
        uc.mem_mut().write(frame, &b.bytes)?;
        let set = |uc: &mut dyn GuestCpu, r, v| {
            let _ = uc.reg_write(r, v);
        };
        set(uc, RegisterX86::RDI, f.sig);
        set(uc, RegisterX86::RSI, info_addr);
        set(uc, RegisterX86::RDX, uc_addr);
        set(uc, RegisterX86::RAX, 0);
        set(uc, RegisterX86::RSP, frame);
        // The handler starts with the direction and trap flags clear.
        let flags = uc.reg_read(RegisterX86::EFLAGS).unwrap_or(0);
        set(uc, RegisterX86::EFLAGS, flags & !(EFLAGS_DF | EFLAGS_TF));
        // The interrupted code's FP state is in the engine context saved at
        // delivery; the handler starts afresh, as on Linux.
        let _ = init_fp_state(uc);
        set(uc, RegisterX86::RIP, f.handler);
        Ok((frame, f.handler))
    }
    fn signal_frame_at_return(&self, uc: &dyn GuestCpu, _rt: bool) -> u64 {
        // The handler's `ret` popped pretcode.
        uc.reg_read(RegisterX86::RSP).unwrap_or(0).wrapping_sub(8)
    }
    fn pop_signal_frame(
        &self,
        uc: &mut dyn GuestCpu,
        frame: u64,
        _rt: bool,
    ) -> Result<(u64, u64), Fault> {
        let raw = uc.mem().read_vec(frame + 8, UCONTEXT_SIZE as usize)?;
        let word = |off: usize| u64::from_le_bytes(raw[off..off + 8].try_into().unwrap());
        for (i, reg) in GREGS.iter().enumerate() {
            let v = word(MCONTEXT + 8 * i);
            if *reg == RegisterX86::EFLAGS {
                let old = uc.reg_read(RegisterX86::EFLAGS).unwrap_or(0);
                let _ = uc.reg_write(*reg, (old & !EFLAGS_USER) | (v & EFLAGS_USER));
            } else {
                let _ = uc.reg_write(*reg, v);
            }
        }
        Ok((word(UC_SIGMASK), word(MCONTEXT + 8 * 16)))
    }
    fn sigreturn_code(&self, _rt: bool) -> Vec<u32> {
        // mov $15, %eax; syscall
        le_words(&[0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05])
    }
}
