// SPDX-License-Identifier: GPL-2.0-or-later
//! Engine patch 0032 (`UC_CTL_TCG_PARALLEL`, engine/PATCHES.md): engine
//! instances on separate host threads that map the same host memory as
//! guest memory. Each test runs one small loop of an architecture's atomic
//! instructions in four instances at once and checks that no update was
//! lost. Without the patch the engine translates every atomic as a plain
//! load and store (about 40% of increments were lost when measured), and
//! the control does not exist.

use std::sync::{Arc, Barrier};
use std::thread;

use memmap2::MmapMut;
use unicorn_engine::unicorn_const::{Arch, Mode, Prot};
use unicorn_engine::Unicorn;
use unicorn_engine::{RegisterARM, RegisterARM64, RegisterMIPS, RegisterRISCV, RegisterX86};
use unicorn_engine_sys::Arm64CpuModel;

use ht_user::machine::engine_ctl;

const CODE: u64 = 0x10000;
const DATA: u64 = 0x20000;
const PAGE: usize = 0x1000;
const THREADS: u64 = 4;

/// One guest loop: `setup` points the loop at `DATA + word` and gives it
/// its iteration count; the loop ends at the end of `code`.
struct AtomicLoop {
    arch: Arch,
    mode: Mode,
    cpu_model: Option<i32>,
    code: Vec<u8>,
    word: u64,
    setup: fn(&mut Unicorn<'_, ()>, u64, u64),
}

fn words(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// Runs the loop `iterations` times in each of `THREADS` instances at once
/// and returns the shared page afterwards.
fn run_in_parallel(guest: &AtomicLoop, iterations: u64) -> Vec<u8> {
    run_in_parallel_from(guest, iterations, &[])
}

/// The same, with the shared page starting with `initial`.
fn run_in_parallel_from(guest: &AtomicLoop, iterations: u64, initial: &[u8]) -> Vec<u8> {
    let mut shared = MmapMut::map_anon(PAGE).expect("shared page");
    shared[..initial.len()].copy_from_slice(initial);
    // Carried to the threads as an address: the page outlives them (they
    // are joined below) and the engine only ever touches it through the
    // guest's own (atomic or plain) accesses.
    let host = shared.as_mut_ptr() as usize;
    let start = Arc::new(Barrier::new(THREADS as usize));
    let runners: Vec<_> = (0..THREADS)
        .map(|_| {
            let start = Arc::clone(&start);
            let (arch, mode, model) = (guest.arch, guest.mode, guest.cpu_model);
            let (code, word, setup) = (guest.code.clone(), guest.word, guest.setup);
            thread::spawn(move || {
                let mut uc = Unicorn::new(arch, mode).expect("engine");
                if let Some(model) = model {
                    uc.ctl_set_cpu_model(model).expect("cpu model");
                }
                engine_ctl::set_tcg_parallel(&mut uc, true).expect("parallel translation");
                uc.mem_map(CODE, PAGE as u64, Prot::READ | Prot::EXEC)
                    .unwrap();
                uc.mem_write(CODE, &code).unwrap();
                // SAFETY: the page is PAGE bytes, page-aligned, and stays
                // mapped until every runner has been joined.
                unsafe {
                    uc.mem_map_ptr(DATA, PAGE as u64, Prot::READ | Prot::WRITE, host as *mut _)
                }
                .unwrap();
                setup(&mut uc, DATA + word, iterations);
                start.wait();
                uc.emu_start(CODE, CODE + code.len() as u64, 0, 0)
                    .expect("the loop runs to its end");
            })
        })
        .collect();
    for runner in runners {
        runner.join().expect("runner thread");
    }
    shared.to_vec()
}

fn u64_at(page: &[u8], offset: usize) -> u64 {
    u64::from_le_bytes(page[offset..offset + 8].try_into().unwrap())
}

fn u32_at(page: &[u8], offset: usize) -> u32 {
    u32::from_le_bytes(page[offset..offset + 4].try_into().unwrap())
}

fn x86_64(code: &[u8], word: u64) -> AtomicLoop {
    AtomicLoop {
        arch: Arch::X86,
        mode: Mode::MODE_64,
        cpu_model: None,
        code: code.to_vec(),
        word,
        setup: |uc, addr, n| {
            uc.reg_write(RegisterX86::RDI, addr).unwrap();
            uc.reg_write(RegisterX86::RCX, n).unwrap();
            uc.reg_write(RegisterX86::R8, n).unwrap();
        },
    }
}

#[test]
fn x86_64_lock_xadd_loses_no_increment() {
    // 1: mov eax, 1; lock xadd [rdi], rax; dec rcx; jnz 1b
    let code = [
        0xb8, 0x01, 0x00, 0x00, 0x00, 0xf0, 0x48, 0x0f, 0xc1, 0x07, 0x48, 0xff, 0xc9, 0x75, 0xf1,
    ];
    let page = run_in_parallel(&x86_64(&code, 0), 100_000);
    assert_eq!(u64_at(&page, 0), THREADS * 100_000);
}

#[test]
fn x86_64_lock_cmpxchg_loop_loses_no_increment() {
    // 1: mov rax, [rdi]
    // 2: lea rdx, [rax+1]; lock cmpxchg [rdi], rdx; jnz 2b
    //    dec rcx; jnz 1b
    let code = [
        0x48, 0x8b, 0x07, 0x48, 0x8d, 0x50, 0x01, 0xf0, 0x48, 0x0f, 0xb1, 0x17, 0x75, 0xf5, 0x48,
        0xff, 0xc9, 0x75, 0xed,
    ];
    let page = run_in_parallel(&x86_64(&code, 0), 100_000);
    assert_eq!(u64_at(&page, 0), THREADS * 100_000);
}

/// An atomic the host cannot do as one operation runs alone under the
/// engine's lock: here a misaligned `lock add`.
#[test]
fn x86_64_misaligned_lock_add_runs_under_the_lock() {
    // 1: lock add dword ptr [rdi], 1; dec rcx; jnz 1b
    let code = [0xf0, 0x83, 0x07, 0x01, 0x48, 0xff, 0xc9, 0x75, 0xf7];
    let page = run_in_parallel(&x86_64(&code, 1), 20_000);
    assert_eq!(u32_at(&page, 1), (THREADS * 20_000) as u32);
}

/// `lock cmpxchg16b` has no 16-byte host atomic in this build of the
/// engine, so it takes the locked path too.
#[test]
fn x86_64_lock_cmpxchg16b_loop_loses_no_increment() {
    // 1: mov rax, [rdi]; mov rdx, [rdi+8]
    // 2: lea rbx, [rax+1]; mov rcx, rdx; lock cmpxchg16b [rdi]; jnz 2b
    //    dec r8; jnz 1b
    let code = [
        0x48, 0x8b, 0x07, 0x48, 0x8b, 0x57, 0x08, 0x48, 0x8d, 0x58, 0x01, 0x48, 0x89, 0xd1, 0xf0,
        0x48, 0x0f, 0xc7, 0x0f, 0x75, 0xf2, 0x49, 0xff, 0xc8, 0x75, 0xe6,
    ];
    let page = run_in_parallel(&x86_64(&code, 0), 20_000);
    assert_eq!(u64_at(&page, 0), THREADS * 20_000);
    assert_eq!(u64_at(&page, 8), 0);
}

/// `xchg` as a spinlock around a plain increment: two threads that both
/// took the lock would lose increments.
#[test]
fn x86_64_xchg_spinlock_excludes() {
    // 1: mov eax, 1
    // 2: xchg [rdi], eax; test eax, eax; jnz 2b
    //    inc qword ptr [rdi+8]; mov dword ptr [rdi], 0
    //    dec rcx; jnz 1b
    let code = [
        0xb8, 0x01, 0x00, 0x00, 0x00, 0x87, 0x07, 0x85, 0xc0, 0x75, 0xfa, 0x48, 0xff, 0x47, 0x08,
        0xc7, 0x07, 0x00, 0x00, 0x00, 0x00, 0x48, 0xff, 0xc9, 0x75, 0xe6,
    ];
    let page = run_in_parallel(&x86_64(&code, 0), 50_000);
    assert_eq!(u64_at(&page, 8), THREADS * 50_000);
    assert_eq!(u32_at(&page, 0), 0, "the lock is free at the end");
}

fn aarch64(code: &[u32]) -> AtomicLoop {
    AtomicLoop {
        arch: Arch::ARM64,
        mode: Mode::ARM,
        // LSE atomics (ldadd, cas, swp, ldumax) need the "max" model.
        cpu_model: Some(Arm64CpuModel::MAX as i32),
        code: words(code),
        word: 0,
        setup: |uc, addr, n| {
            uc.reg_write(RegisterARM64::X0, addr).unwrap();
            uc.reg_write(RegisterARM64::X1, n).unwrap();
        },
    }
}

#[test]
fn aarch64_exclusive_pair_loses_no_increment() {
    // 1: ldaxr x2, [x0]; add x2, x2, #1; stlxr w3, x2, [x0]; cbnz w3, 1b
    //    subs x1, x1, #1; b.ne 1b
    let code = [
        0xc85ffc02, 0x91000442, 0xc803fc02, 0x35ffffa3, 0xf1000421, 0x54ffff61,
    ];
    let page = run_in_parallel(&aarch64(&code), 100_000);
    assert_eq!(u64_at(&page, 0), THREADS * 100_000);
}

#[test]
fn aarch64_ldaddal_loses_no_increment() {
    // mov x2, #1; 1: ldaddal x2, x3, [x0]; subs x1, x1, #1; b.ne 1b
    let code = [0xd2800022, 0xf8e20003, 0xf1000421, 0x54ffffc1];
    let page = run_in_parallel(&aarch64(&code), 100_000);
    assert_eq!(u64_at(&page, 0), THREADS * 100_000);
}

#[test]
fn aarch64_casal_loop_loses_no_increment() {
    // 1: ldr x2, [x0]
    // 2: add x3, x2, #1; mov x4, x2; casal x4, x3, [x0]; cmp x4, x2
    //    mov x2, x4; b.ne 2b
    //    subs x1, x1, #1; b.ne 1b
    let code = [
        0xf9400002, 0x91000443, 0xaa0203e4, 0xc8e4fc03, 0xeb02009f, 0xaa0403e2, 0x54ffff61,
        0xf1000421, 0x54ffff01,
    ];
    let page = run_in_parallel(&aarch64(&code), 100_000);
    assert_eq!(u64_at(&page, 0), THREADS * 100_000);
}

/// A spinlock taken with an atomic unsigned maximum (`ldumaxa` of 1 gives
/// the old value: 0 means taken): a maximum that was a plain load and store
/// would let two threads in.
#[test]
fn aarch64_ldumax_spinlock_excludes() {
    // mov w2, #1; 1: ldumaxa w2, w3, [x0]; cbnz w3, 1b
    // ldr x4, [x0, #8]; add x4, x4, #1; str x4, [x0, #8]; stlr wzr, [x0]
    // subs x1, x1, #1; b.ne 1b
    let code = [
        0x52800022, 0xb8a26003, 0x35ffffe3, 0xf9400404, 0x91000484, 0xf9000404, 0x889ffc1f,
        0xf1000421, 0x54ffff21,
    ];
    let page = run_in_parallel(&aarch64(&code), 50_000);
    assert_eq!(u64_at(&page, 8), THREADS * 50_000);
}

#[test]
fn aarch64_swp_spinlock_excludes() {
    // As above with swpa w2, w3, [x0].
    let code = [
        0x52800022, 0xb8a28003, 0x35ffffe3, 0xf9400404, 0x91000484, 0xf9000404, 0x889ffc1f,
        0xf1000421, 0x54ffff21,
    ];
    let page = run_in_parallel(&aarch64(&code), 50_000);
    assert_eq!(u64_at(&page, 8), THREADS * 50_000);
}

/// An Arm loop with the word's address in r0 and the iterations in r1.
fn arm(code: &[u32]) -> AtomicLoop {
    AtomicLoop {
        arch: Arch::ARM,
        mode: Mode::ARM,
        cpu_model: None,
        code: words(code),
        word: 0,
        setup: |uc, addr, n| {
            uc.reg_write(RegisterARM::R0, addr).unwrap();
            uc.reg_write(RegisterARM::R1, n).unwrap();
        },
    }
}

#[test]
fn arm_ldrex_strex_loses_no_increment() {
    // 1: ldrex r2, [r0]; add r2, r2, #1; strex r3, r2, [r0]; cmp r3, #0
    //    bne 1b; subs r1, r1, #1; bne 1b
    let code = [
        0xe1902f9f, 0xe2822001, 0xe1803f92, 0xe3530000, 0x1afffffa, 0xe2511001, 0x1afffff8,
    ];
    let guest = arm(&code);
    let page = run_in_parallel(&guest, 100_000);
    assert_eq!(u32_at(&page, 0), (THREADS * 100_000) as u32);
}

fn riscv64(code: &[u32]) -> AtomicLoop {
    AtomicLoop {
        arch: Arch::RISCV,
        mode: Mode::RISCV64,
        cpu_model: None,
        code: words(code),
        word: 0,
        setup: |uc, addr, n| {
            uc.reg_write(RegisterRISCV::A0, addr).unwrap();
            uc.reg_write(RegisterRISCV::A1, n).unwrap();
        },
    }
}

#[test]
fn riscv64_amoadd_loses_no_increment() {
    // li t0, 1; 1: amoadd.d.aqrl zero, t0, (a0); addi a1, a1, -1; bnez a1, 1b
    let code = [0x00100293, 0x0655302f, 0xfff58593, 0xfe059ce3];
    let page = run_in_parallel(&riscv64(&code), 100_000);
    assert_eq!(u64_at(&page, 0), THREADS * 100_000);
}

#[test]
fn riscv64_lr_sc_loses_no_increment() {
    // 1: lr.d.aq t0, (a0); addi t0, t0, 1; sc.d.rl t1, t0, (a0); bnez t1, 1b
    //    addi a1, a1, -1; bnez a1, 1b
    let code = [
        0x140532af, 0x00128293, 0x1a55332f, 0xfe031ae3, 0xfff58593, 0xfe0596e3,
    ];
    let page = run_in_parallel(&riscv64(&code), 100_000);
    assert_eq!(u64_at(&page, 0), THREADS * 100_000);
}

#[test]
fn riscv64_amomaxu_spinlock_excludes() {
    // li t0, 1; 1: amomaxu.w.aq t1, t0, (a0); bnez t1, 1b
    // ld t2, 8(a0); addi t2, t2, 1; sd t2, 8(a0); amoswap.w.rl zero, zero, (a0)
    // addi a1, a1, -1; bnez a1, 1b
    let code = [
        0x00100293, 0xe455232f, 0xfe031ee3, 0x00853383, 0x00138393, 0x00753423, 0x0a05202f,
        0xfff58593, 0xfe0592e3,
    ];
    let page = run_in_parallel(&riscv64(&code), 50_000);
    assert_eq!(u64_at(&page, 8), THREADS * 50_000);
}

#[test]
fn riscv64_amoswap_spinlock_excludes() {
    // As above with amoswap.w.aq t1, t0, (a0).
    let code = [
        0x00100293, 0x0c55232f, 0xfe031ee3, 0x00853383, 0x00138393, 0x00753423, 0x0a05202f,
        0xfff58593, 0xfe0592e3,
    ];
    let page = run_in_parallel(&riscv64(&code), 50_000);
    assert_eq!(u64_at(&page, 8), THREADS * 50_000);
}

#[test]
fn mipsel_ll_sc_loses_no_increment() {
    // 1: sync; ll t0, 0(a0); addiu t0, t0, 1; sc t0, 0(a0); beqz t0, 1b; nop
    //    addiu a1, a1, -1; bnez a1, 1b; nop
    let code = [
        0x0000000f, 0xc0880000, 0x25080001, 0xe0880000, 0x1100fffb, 0x00000000, 0x24a5ffff,
        0x14a0fff8, 0x00000000,
    ];
    let guest = AtomicLoop {
        arch: Arch::MIPS,
        mode: Mode::MIPS32 | Mode::LITTLE_ENDIAN,
        cpu_model: None,
        code: words(&code),
        word: 0,
        setup: |uc, addr, n| {
            uc.reg_write(RegisterMIPS::A0, addr).unwrap();
            uc.reg_write(RegisterMIPS::A1, n).unwrap();
        },
    };
    let page = run_in_parallel(&guest, 100_000);
    assert_eq!(u32_at(&page, 0), (THREADS * 100_000) as u32);
}

/// The control is off by default and reads back what was written.
#[test]
fn parallel_translation_is_a_readable_switch() {
    let mut uc = Unicorn::new(Arch::X86, Mode::MODE_64).unwrap();
    assert!(!engine_ctl::tcg_parallel(&uc).unwrap());
    engine_ctl::set_tcg_parallel(&mut uc, true).unwrap();
    assert!(engine_ctl::tcg_parallel(&uc).unwrap());
    engine_ctl::set_tcg_parallel(&mut uc, false).unwrap();
    assert!(!engine_ctl::tcg_parallel(&uc).unwrap());
}

/// The low half starts 2^16 below a carry, so the loops must carry into
/// the high half atomically too.
const NEAR_CARRY_32: u64 = 0xffff_0000;
const NEAR_CARRY_64: u64 = 0xffff_ffff_ffff_0000;

/// i386 `lock cmpxchg8b` (a 64-bit compare-and-swap on a 32-bit CPU).
#[test]
fn i386_lock_cmpxchg8b_loop_loses_no_increment() {
    // 1: mov eax, [edi]; mov edx, [edi+4]
    // 2: mov ebx, eax; mov ecx, edx; add ebx, 1; adc ecx, 0
    //    lock cmpxchg8b [edi]; jnz 2b; dec esi; jnz 1b
    let code = [
        0x8b, 0x07, 0x8b, 0x57, 0x04, 0x89, 0xc3, 0x89, 0xd1, 0x83, 0xc3, 0x01, 0x83, 0xd1, 0x00,
        0xf0, 0x0f, 0xc7, 0x0f, 0x75, 0xf0, 0x4e, 0x75, 0xe8,
    ];
    let guest = AtomicLoop {
        arch: Arch::X86,
        mode: Mode::MODE_32,
        cpu_model: None,
        code: code.to_vec(),
        word: 0,
        setup: |uc, addr, n| {
            uc.reg_write(RegisterX86::EDI, addr).unwrap();
            uc.reg_write(RegisterX86::ESI, n).unwrap();
        },
    };
    let page = run_in_parallel_from(&guest, 50_000, &NEAR_CARRY_32.to_le_bytes());
    assert_eq!(u64_at(&page, 0), NEAR_CARRY_32 + THREADS * 50_000);
}

/// Arm `ldrexd`/`strexd`: a 64-bit exclusive pair on a 32-bit CPU.
#[test]
fn arm_ldrexd_strexd_loses_no_increment() {
    // 1: ldrexd r2, r3, [r0]; adds r2, r2, #1; adc r3, r3, #0
    //    strexd r4, r2, r3, [r0]; cmp r4, #0; bne 1b
    //    subs r1, r1, #1; bne 1b
    let code = [
        0xe1b02f9f, 0xe2922001, 0xe2a33000, 0xe1a04f92, 0xe3540000, 0x1afffff9, 0xe2511001,
        0x1afffff7,
    ];
    let guest = arm(&code);
    let page = run_in_parallel_from(&guest, 50_000, &NEAR_CARRY_32.to_le_bytes());
    assert_eq!(u64_at(&page, 0), NEAR_CARRY_32 + THREADS * 50_000);
}

/// AArch64 128-bit exclusive pair (`ldaxp`/`stlxp` of two doublewords).
#[test]
fn aarch64_128_bit_exclusive_pair_loses_no_increment() {
    // 1: ldaxp x2, x3, [x0]; adds x2, x2, #1; adc x3, x3, xzr
    //    stlxp w4, x2, x3, [x0]; cbnz w4, 1b; subs x1, x1, #1; b.ne 1b
    let code = [
        0xc87f8c02, 0xb1000442, 0x9a1f0063, 0xc8248c02, 0x35ffff84, 0xf1000421, 0x54ffff41,
    ];
    let page = run_in_parallel_from(&aarch64(&code), 50_000, &NEAR_CARRY_64.to_le_bytes());
    let total = u128::from(NEAR_CARRY_64) + u128::from(THREADS * 50_000);
    assert_eq!(u64_at(&page, 0), total as u64);
    assert_eq!(u64_at(&page, 8), (total >> 64) as u64);
}

/// AArch64 LSE `caspal`: a 128-bit compare-and-swap of a register pair.
#[test]
fn aarch64_caspal_loop_loses_no_increment() {
    //    ldp x2, x3, [x0]
    // 1: adds x4, x2, #1; adc x5, x3, xzr; mov x6, x2; mov x7, x3
    //    caspal x2, x3, x4, x5, [x0]; cmp x2, x6; ccmp x3, x7, #0, eq
    //    b.ne 1b; mov x2, x4; mov x3, x5; subs x1, x1, #1; b.ne 1b
    let code = [
        0xa9400c02, 0xb1000444, 0x9a1f0065, 0xaa0203e6, 0xaa0303e7, 0x4862fc04, 0xeb06005f,
        0xfa470060, 0x54ffff21, 0xaa0403e2, 0xaa0503e3, 0xf1000421, 0x54fffea1,
    ];
    let page = run_in_parallel_from(&aarch64(&code), 50_000, &NEAR_CARRY_64.to_le_bytes());
    let total = u128::from(NEAR_CARRY_64) + u128::from(THREADS * 50_000);
    assert_eq!(u64_at(&page, 0), total as u64);
    assert_eq!(u64_at(&page, 8), (total >> 64) as u64);
}
