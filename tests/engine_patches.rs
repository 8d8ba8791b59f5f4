// SPDX-License-Identifier: GPL-2.0-or-later
//! The engine's patch series (engine/PATCHES.md), each checked on the
//! engine alone with a small guest program: every test here fails (or
//! crashes) on the pristine Unicorn 2.1.5 and passes with the patch.

use unicorn_engine::unicorn_const::HookType;
use unicorn_engine::unicorn_const::{Arch, MemType, Mode, Prot, TlbEntry, TlbType};
use unicorn_engine::{RegisterARM, RegisterMIPS, RegisterRISCV, RegisterX86, Unicorn};

use ht_user::engine_ctl;

const CODE: u64 = 0x10000;
const DATA: u64 = 0x20000;
const PAGE: u64 = 0x1000;

/// Maps a code and a data page and switches to the virtual TLB with a fill
/// hook granting each page's real permissions, as ht-user does.
fn engine_with_virtual_tlb(arch: Arch, mode: Mode, code: &[u8]) -> Unicorn<'static, ()> {
    let mut uc = Unicorn::new(arch, mode).expect("engine");
    uc.mem_map(CODE, PAGE, Prot::READ | Prot::EXEC).unwrap();
    uc.mem_map(DATA, PAGE, Prot::READ | Prot::WRITE).unwrap();
    uc.mem_write(CODE, code).unwrap();
    uc.ctl_set_tlb_type(TlbType::VIRTUAL).unwrap();
    uc.add_tlb_hook(0, u64::MAX, |_, addr, _: MemType| {
        let perms = if (CODE..CODE + PAGE).contains(&addr) {
            Prot::READ | Prot::EXEC
        } else {
            Prot::READ | Prot::WRITE
        };
        Some(TlbEntry { paddr: addr, perms })
    })
    .unwrap();
    uc
}

fn le_words(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// 0002: a MIPS block of more than about 380 instructions overran the
/// translator's temporaries (one leaked per instruction) and crashed.
#[test]
fn mips_long_block_translates() {
    const ADDIU_T0_1: u32 = 0x2508_0001; // addiu $t0, $t0, 1
    const COUNT: usize = 1000;
    let code = le_words(&vec![ADDIU_T0_1; COUNT]);
    let mut uc = Unicorn::new(Arch::MIPS, Mode::MIPS32 | Mode::LITTLE_ENDIAN).unwrap();
    uc.mem_map(CODE, 0x4000, Prot::ALL).unwrap();
    uc.mem_write(CODE, &code).unwrap();
    uc.emu_start(CODE, CODE + code.len() as u64, 0, 0).unwrap();
    assert_eq!(uc.reg_read(RegisterMIPS::T0).unwrap(), COUNT as u64);
}

/// 0003: a TLB fill in the middle of a Thumb IT block restored the IT state
/// of the loading instruction and left it behind the block's end, so the
/// next block ran as if inside an IT block.
#[test]
fn arm_it_state_survives_tlb_fill() {
    let code = [
        0x80, 0x42, // cmp r0, r0           (Z = 1)
        0x0c, 0xbf, // ite eq
        0x11, 0x68, // ldreq r1, [r2]       (first touch of the data page: TLB fill)
        0x01, 0x24, // movne r4, #1         (skipped)
        0xff, 0xe7, // b next               (ends the block)
        0x02, 0x24, // next: movs r4, #2    (outside any IT block)
        0x6d, 0x1c, // adds r5, r5, #1
    ];
    let mut uc = engine_with_virtual_tlb(Arch::ARM, Mode::THUMB, &code);
    uc.mem_write(DATA, &0x1234_5678u32.to_le_bytes()).unwrap();
    uc.reg_write(RegisterARM::R2, DATA).unwrap();
    uc.emu_start(CODE | 1, CODE + code.len() as u64, 0, 0)
        .unwrap();
    assert_eq!(uc.reg_read(RegisterARM::R1).unwrap(), 0x1234_5678);
    assert_eq!(
        uc.reg_read(RegisterARM::R4).unwrap(),
        2,
        "movs after the IT block"
    );
    assert_eq!(
        uc.reg_read(RegisterARM::R5).unwrap(),
        1,
        "adds after the IT block"
    );
}

/// 0003, with a memory hook instead of a TLB fill: the hook's pc sync did
/// the same damage.
#[test]
fn arm_it_state_survives_memory_hook() {
    let code = [
        0x80, 0x42, 0x0c, 0xbf, 0x11, 0x68, 0x01, 0x24, 0xff, 0xe7, 0x02, 0x24, 0x6d, 0x1c,
    ];
    let mut uc = Unicorn::new(Arch::ARM, Mode::THUMB).unwrap();
    uc.mem_map(CODE, PAGE, Prot::ALL).unwrap();
    uc.mem_map(DATA, PAGE, Prot::ALL).unwrap();
    uc.mem_write(CODE, &code).unwrap();
    let loads = std::rc::Rc::new(std::cell::Cell::new(0));
    let seen = loads.clone();
    uc.add_mem_hook(
        HookType::MEM_READ,
        DATA,
        DATA + PAGE,
        move |_, _, addr, _, _| {
            seen.set(seen.get() + 1);
            assert_eq!(addr, DATA);
            true
        },
    )
    .unwrap();
    uc.reg_write(RegisterARM::R2, DATA).unwrap();
    uc.emu_start(CODE | 1, CODE + code.len() as u64, 0, 0)
        .unwrap();
    assert_eq!(loads.get(), 1, "the hooked load ran once");
    assert_eq!(uc.reg_read(RegisterARM::R4).unwrap(), 2);
    assert_eq!(uc.reg_read(RegisterARM::R5).unwrap(), 1);
}

/// 0003: a TLB fill for a load in a MIPS branch delay slot restored the
/// delay-slot flags, which outlived the block: the branch target ran as a
/// second delay slot (raising "reserved instruction" or running twice).
#[test]
fn mips_delay_slot_state_survives_tlb_fill() {
    let code = le_words(&[
        0x1000_0002, // beq $zero, $zero, target (+2 instructions after the slot)
        0x8c89_0000, // lw $t1, 0($a0)   (delay slot; first touch of the data page)
        0x2508_0064, // addiu $t0, $t0, 100  (skipped)
        0x2508_0001, // target: addiu $t0, $t0, 1
        0x254a_0001, // addiu $t2, $t2, 1
    ]);
    let mut uc = engine_with_virtual_tlb(Arch::MIPS, Mode::MIPS32 | Mode::LITTLE_ENDIAN, &code);
    uc.mem_write(DATA, &0xcafe_f00du32.to_le_bytes()).unwrap();
    uc.reg_write(RegisterMIPS::A0, DATA).unwrap();
    uc.emu_start(CODE, CODE + code.len() as u64, 0, 0).unwrap();
    assert_eq!(uc.reg_read(RegisterMIPS::T1).unwrap(), 0xcafe_f00d);
    assert_eq!(
        uc.reg_read(RegisterMIPS::T0).unwrap(),
        1,
        "the branch target ran once"
    );
    assert_eq!(uc.reg_read(RegisterMIPS::T2).unwrap(), 1);
}

/// The pc an interrupt hook sees for the first exception `code` raises
/// (run from CODE, a1/$a0 pointing one byte into the data page).
fn pc_seen_by_interrupt_hook(arch: Arch, mode: Mode, code: &[u8]) -> u64 {
    let mut uc = engine_with_virtual_tlb(arch, mode, code);
    let (base, pc_reg): (i32, i32) = if arch == Arch::MIPS {
        (RegisterMIPS::A0.into(), RegisterMIPS::PC.into())
    } else {
        (RegisterRISCV::A1.into(), RegisterRISCV::PC.into())
    };
    uc.reg_write(base, DATA + 1).unwrap();
    let seen = std::rc::Rc::new(std::cell::Cell::new(None));
    let record = seen.clone();
    uc.add_intr_hook(move |uc, _intno| {
        if record.get().is_none() {
            record.set(Some(uc.reg_read(pc_reg).unwrap()));
        }
        uc.emu_stop().unwrap();
    })
    .unwrap();
    let _ = uc.emu_start(CODE, CODE + code.len() as u64, 0, 0);
    seen.get().expect("the exception reached the hook")
}

/// 0011: a misaligned access is reported at the instruction that made it
/// (the engine moved every riscv exception's pc on by 4 and set MIPS's to
/// the address after the last system call, as if each were a syscall).
#[test]
fn faults_keep_their_pc_riscv_and_mips() {
    let riscv = le_words(&[
        0x0000_0013, // nop
        0x1005_a52f, // lr.w a0, (a1)   (misaligned)
        0x0000_0013, // nop
    ]);
    let pc = pc_seen_by_interrupt_hook(Arch::RISCV, Mode::RISCV64, &riscv);
    assert_eq!(pc, CODE + 4, "riscv: pc at the lr.w");
    let mips = le_words(&[
        0x0000_0000, // nop
        0x8c82_0000, // lw $v0, 0($a0)   (misaligned)
        0x0000_0000, // nop
    ]);
    let pc = pc_seen_by_interrupt_hook(Arch::MIPS, Mode::MIPS32 | Mode::LITTLE_ENDIAN, &mips);
    assert_eq!(pc, CODE + 4, "mips: pc at the lw");
}

/// 0001: the linked engine is the one built from this tree's series.
#[test]
fn linked_engine_has_our_patch_series() {
    let linked = unicorn_engine_sys::linked_patch_series();
    assert_eq!(linked, unicorn_engine_sys::PATCH_SERIES);
    assert!(linked == "local" || linked.starts_with("ht-"), "{linked:?}");
}

const MMIO: u64 = 0x30000;

fn x86_64_engine(code: &[u8]) -> Unicorn<'static, ()> {
    let mut uc = Unicorn::new(Arch::X86, Mode::MODE_64).unwrap();
    uc.mem_map(CODE, PAGE, Prot::ALL).unwrap();
    uc.mem_map(DATA, PAGE, Prot::READ | Prot::WRITE).unwrap();
    uc.mem_write(CODE, code).unwrap();
    uc.reg_write(RegisterX86::RBX, DATA).unwrap();
    uc.reg_write(RegisterX86::RCX, MMIO).unwrap();
    uc
}

fn counter(uc: &Unicorn<'_, ()>) -> u64 {
    let mut word = [0u8; 8];
    uc.mem_read(DATA, &mut word).unwrap();
    u64::from_le_bytes(word)
}

/// 0005: with the stop check at block start only, a stop asked for by an
/// MMIO callback takes effect at the next block boundary: the store is not
/// executed again when emulation resumes (the pristine engine resumes at
/// the store and runs it twice).
#[test]
fn stop_from_mmio_callback_lands_on_block_start() {
    let code = [
        0x48, 0xff, 0x03, // loop: inc qword ptr [rbx]
        0x89, 0x01, //             mov dword ptr [rcx], eax   (MMIO)
        0xeb, 0xf9, //             jmp loop
    ];
    let mut uc = x86_64_engine(&code);
    engine_ctl::set_exit_check_at_block_start(&mut uc).unwrap();
    assert!(engine_ctl::exit_check_at_block_start(&uc).unwrap());
    let stores = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let seen = stores.clone();
    uc.mmio_map(
        MMIO,
        PAGE,
        None::<fn(&mut Unicorn<'_, ()>, u64, usize) -> u64>,
        Some(
            move |uc: &mut Unicorn<'_, ()>, _addr: u64, _size: usize, _value: u64| {
                seen.set(seen.get() + 1);
                if seen.get() % 10 == 0 {
                    uc.emu_stop().unwrap();
                }
            },
        ),
    )
    .unwrap();
    let mut pc = CODE;
    for round in 1..=5 {
        uc.emu_start(pc, 0, 0, 0).unwrap();
        pc = uc.reg_read(RegisterX86::RIP).unwrap();
        assert_eq!(pc, CODE, "round {round}: stopped at the loop's block start");
        assert_eq!(
            stores.get(),
            10 * round,
            "round {round}: one callback per store"
        );
        assert_eq!(
            counter(&uc),
            stores.get(),
            "round {round}: no instruction ran twice"
        );
    }
}

/// 0005: a stop from another thread (here the engine's own timeout) also
/// lands on a block boundary; the pristine engine stops right after a
/// store and runs that instruction again on resume.
/// The engine's handle, for `uc_emu_stop` from another thread.
struct StopHandle(*mut unicorn_engine::unicorn_const::uc_engine);
// SAFETY: used only for uc_emu_stop, which the engine's own timeout thread
// calls too, and only while the engine is alive (joined before it goes).
unsafe impl Send for StopHandle {}

/// Runs the endless loop at `pc` while another thread stops the engine
/// every 300 us until `emu_start` returns. (The engine's own timeout stops
/// once: on a loaded machine that one stop can land before the run has
/// started and be dropped, and the loop never ends.)
fn stop_every_300_us_until_the_run_ends(uc: &mut Unicorn<'static, ()>, pc: u64) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let handle = StopHandle(uc.get_handle());
    let finished = done.clone();
    let stopper = std::thread::spawn(move || {
        let handle = handle;
        while !finished.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_micros(300));
            // SAFETY: the engine outlives this thread (joined below).
            unsafe { unicorn_engine::unicorn_const::uc_emu_stop(handle.0) };
        }
    });
    let result = uc.emu_start(pc, 0, 0, 0);
    done.store(true, Ordering::SeqCst);
    stopper.join().unwrap();
    result.unwrap();
}

#[test]
fn asynchronous_stops_never_repeat_an_instruction() {
    let code = [
        0x48, 0xff, 0x03, // loop: inc qword ptr [rbx]
        0x48, 0xff, 0xc2, //       inc rdx
        0xeb, 0xf8, //             jmp loop
    ];
    let mut uc = x86_64_engine(&code);
    engine_ctl::set_exit_check_at_block_start(&mut uc).unwrap();
    let mut pc = CODE;
    for round in 0..40 {
        stop_every_300_us_until_the_run_ends(&mut uc, pc);
        pc = uc.reg_read(RegisterX86::RIP).unwrap();
        let rdx = uc.reg_read(RegisterX86::RDX).unwrap();
        assert!(rdx > 0);
        assert_eq!(
            counter(&uc),
            rdx,
            "round {round}: memory and register counts agree"
        );
        assert!(
            pc == CODE,
            "round {round}: stopped at {pc:#x}, not a block start"
        );
    }
}

/// 0004: a store that faults leaves the block at once, with the pc at the
/// store; the instructions after it do not run. (Before, the rest of the
/// block ran when the per-access check was off.)
#[test]
fn faulting_store_leaves_the_block_at_once() {
    let code = [
        0x48, 0x89, 0x01, // mov qword ptr [rcx], rax   (unmapped)
        0x48, 0xff, 0xc2, // inc rdx
        0x48, 0xff, 0xc2, // inc rdx
    ];
    let mut uc = x86_64_engine(&code);
    engine_ctl::set_exit_check_at_block_start(&mut uc).unwrap();
    let faults = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let seen = faults.clone();
    uc.add_mem_hook(
        HookType::MEM_WRITE_UNMAPPED,
        0,
        u64::MAX,
        move |_, _, addr, _, _| {
            assert_eq!(addr, MMIO);
            seen.set(seen.get() + 1);
            false
        },
    )
    .unwrap();
    let result = uc.emu_start(CODE, CODE + code.len() as u64, 0, 0);
    assert!(result.is_err(), "the store faults");
    assert_eq!(faults.get(), 1);
    assert_eq!(
        uc.reg_read(RegisterX86::RIP).unwrap(),
        CODE,
        "pc at the store"
    );
    assert_eq!(
        uc.reg_read(RegisterX86::RDX).unwrap(),
        0,
        "nothing after the store ran"
    );
}

/// 0006: with wide MMIO accesses on, an aligned 8-byte store or load is
/// one callback of size 8 with the whole value (the pristine engine makes
/// two 4-byte callbacks); narrower accesses are unchanged.
#[test]
fn mmio_eight_byte_accesses_are_one_callback() {
    let code = [
        0x48, 0x89, 0x01, // mov qword ptr [rcx], rax
        0x89, 0x41, 0x08, // mov dword ptr [rcx+8], eax
        0x48, 0x8b, 0x51, 0x10, // mov rdx, qword ptr [rcx+16]
    ];
    let mut uc = x86_64_engine(&code);
    engine_ctl::set_mmio_wide_access(&mut uc).unwrap();
    let writes = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let reads = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let (w, r) = (writes.clone(), reads.clone());
    uc.mmio_map(
        MMIO,
        PAGE,
        Some(
            move |_: &mut Unicorn<'_, ()>, addr: u64, size: usize| -> u64 {
                r.borrow_mut().push((addr, size));
                0x1122_3344_5566_7788
            },
        ),
        Some(
            move |_: &mut Unicorn<'_, ()>, addr: u64, size: usize, value: u64| {
                w.borrow_mut().push((addr, size, value));
            },
        ),
    )
    .unwrap();
    uc.reg_write(RegisterX86::RAX, 0x0123_4567_89ab_cdef)
        .unwrap();
    uc.emu_start(CODE, CODE + code.len() as u64, 0, 0).unwrap();
    assert_eq!(
        *writes.borrow(),
        vec![(0, 8, 0x0123_4567_89ab_cdef), (8, 4, 0x89ab_cdef)]
    );
    assert_eq!(*reads.borrow(), vec![(16, 8)]);
    assert_eq!(
        uc.reg_read(RegisterX86::RDX).unwrap(),
        0x1122_3344_5566_7788
    );
}

/// 0008 (a speed-up: only the TLB entries that can map a newly translated
/// block's page are reset to "not dirty"): code written on a page whose
/// TLB entry was already dirty when a block of it was translated is still
/// seen, the next store to it invalidating the block.
#[test]
fn store_to_freshly_translated_page_invalidates_its_code() {
    const TARGET: u64 = CODE + PAGE; // a second code page, written to
    let writer = [
        0xc7, 0x03, 0x07, 0x00, 0x00, 0x00, // mov dword ptr [rbx], 7  (dirties the page)
        0xff, 0xd1, //                         call rcx                (translates target)
        0x89, 0xc6, //                         mov esi, eax
        0xc7, 0x03, 0x09, 0x00, 0x00, 0x00, // mov dword ptr [rbx], 9  (must invalidate it)
        0xff, 0xd1, //                         call rcx
    ];
    let target = [
        0xb8, 0x00, 0x00, 0x00, 0x00, // mov eax, imm32
        0xc3, //                         ret
    ];
    let mut uc = Unicorn::new(Arch::X86, Mode::MODE_64).unwrap();
    uc.mem_map(CODE, 2 * PAGE, Prot::ALL).unwrap();
    uc.mem_map(DATA, PAGE, Prot::READ | Prot::WRITE).unwrap();
    uc.mem_write(CODE, &writer).unwrap();
    uc.mem_write(TARGET, &target).unwrap();
    uc.ctl_set_tlb_type(TlbType::VIRTUAL).unwrap();
    uc.add_tlb_hook(0, u64::MAX, |_, addr, _: MemType| {
        Some(TlbEntry {
            paddr: addr,
            perms: Prot::ALL,
        })
    })
    .unwrap();
    uc.reg_write(RegisterX86::RBX, TARGET + 1).unwrap();
    uc.reg_write(RegisterX86::RCX, TARGET).unwrap();
    uc.reg_write(RegisterX86::RSP, DATA + PAGE).unwrap();
    uc.emu_start(CODE, CODE + writer.len() as u64, 0, 0)
        .unwrap();
    assert_eq!(
        uc.reg_read(RegisterX86::RSI).unwrap(),
        7,
        "first version of the code"
    );
    assert_eq!(
        uc.reg_read(RegisterX86::RAX).unwrap(),
        9,
        "rewritten code ran"
    );
}

type TraceLog = std::cell::RefCell<Vec<(u64, u64, u64, u32)>>;

extern "C" fn record_access(
    _uc: *mut unicorn_engine_sys::uc_engine,
    pc: u64,
    address: u64,
    value: u64,
    info: u32,
    data: *mut std::ffi::c_void,
) {
    // SAFETY: the tests pass a TraceLog that outlives the engine run.
    let log = unsafe { &*data.cast::<TraceLog>() };
    log.borrow_mut().push((pc, address, value, info));
}

/// 0009: the memory-trace hook sees every load and store of translated
/// code, before it, with the instruction's pc, the address, the size, the
/// store flag and a store's value; accesses inside the engine's helpers
/// (here `fxsave`, which writes 512 bytes) are not seen.
#[test]
fn memory_trace_hook_sees_each_access_with_its_pc() {
    let code = [
        0x48, 0x89, 0x03, // +0: mov qword ptr [rbx], rax
        0x8b, 0x4b, 0x08, // +3: mov ecx, dword ptr [rbx+8]
        0x88, 0x43, 0x10, // +6: mov byte ptr [rbx+16], al
        0x0f, 0xae, 0x43, 0x40, // +9: fxsave [rbx+64]   (a helper: not seen)
    ];
    let mut uc = x86_64_engine(&code);
    uc.mem_write(DATA + 8, &0xdead_beefu32.to_le_bytes())
        .unwrap();
    uc.reg_write(RegisterX86::RAX, 0x0102_0304_0506_0708)
        .unwrap();
    let log = TraceLog::default();
    let data = &log as *const TraceLog as *mut std::ffi::c_void;
    // SAFETY: record_access takes a TraceLog, which outlives the engine.
    let hook = unsafe { engine_ctl::add_mem_trace_hook(&mut uc, record_access, data) }.unwrap();
    uc.emu_start(CODE, CODE + code.len() as u64, 0, 0).unwrap();
    let store = engine_ctl::MEM_TRACE_STORE;
    assert_eq!(
        *log.borrow(),
        vec![
            (CODE, DATA, 0x0102_0304_0506_0708, 8 | store),
            (CODE + 3, DATA + 8, 0, 4),
            (CODE + 6, DATA + 16, 0x08, 1 | store),
        ]
    );
    assert_eq!(uc.reg_read(RegisterX86::RCX).unwrap(), 0xdead_beef);
    let mut fxsave_area = [0u8; 32];
    uc.mem_read(DATA + 64, &mut fxsave_area).unwrap();
    assert_ne!(
        fxsave_area, [0u8; 32],
        "fxsave wrote its area, unseen by the hook"
    );
    engine_ctl::remove_mem_trace_hook(&mut uc, hook).unwrap();
    log.borrow_mut().clear();
    uc.ctl_flush_tb().unwrap();
    uc.emu_start(CODE, CODE + code.len() as u64, 0, 0).unwrap();
    assert!(log.borrow().is_empty(), "no calls once the hook is removed");
}

/// 0009 on arm: tracing memory in a Thumb IT block leaves the IT state
/// alone (the hook restores no CPU state).
#[test]
fn memory_trace_hook_keeps_thumb_it_state() {
    let code = [
        0x80, 0x42, 0x0c, 0xbf, 0x11, 0x68, 0x01, 0x24, 0xff, 0xe7, 0x02, 0x24, 0x6d, 0x1c,
    ];
    let mut uc = Unicorn::new(Arch::ARM, Mode::THUMB).unwrap();
    uc.mem_map(CODE, PAGE, Prot::ALL).unwrap();
    uc.mem_map(DATA, PAGE, Prot::ALL).unwrap();
    uc.mem_write(CODE, &code).unwrap();
    uc.mem_write(DATA, &7u32.to_le_bytes()).unwrap();
    let log = TraceLog::default();
    let data = &log as *const TraceLog as *mut std::ffi::c_void;
    // SAFETY: as above.
    unsafe { engine_ctl::add_mem_trace_hook(&mut uc, record_access, data) }.unwrap();
    uc.reg_write(RegisterARM::R2, DATA).unwrap();
    uc.emu_start(CODE | 1, CODE + code.len() as u64, 0, 0)
        .unwrap();
    assert_eq!(*log.borrow(), vec![(CODE + 4, DATA, 0, 4)]);
    assert_eq!(uc.reg_read(RegisterARM::R1).unwrap(), 7);
    assert_eq!(uc.reg_read(RegisterARM::R4).unwrap(), 2);
    assert_eq!(uc.reg_read(RegisterARM::R5).unwrap(), 1);
}

/// An x86_64 engine on the virtual TLB with identity fills, as ht-user runs
/// it, and a code page at CODE that loads `[rbx]` into rax.
fn x86_64_loader_engine() -> Unicorn<'static, ()> {
    let mut uc = Unicorn::new(Arch::X86, Mode::MODE_64).unwrap();
    uc.mem_map(CODE, PAGE, Prot::READ | Prot::EXEC).unwrap();
    uc.mem_write(CODE, &[0x48, 0x8b, 0x03]).unwrap(); // mov rax, [rbx]
    uc.ctl_set_tlb_type(TlbType::VIRTUAL).unwrap();
    uc.add_tlb_hook(0, u64::MAX, |_, addr, _: MemType| {
        Some(TlbEntry {
            paddr: addr,
            perms: Prot::ALL,
        })
    })
    .unwrap();
    uc
}

/// Loads the word at `addr` with guest code (through the TLB and the
/// engine's view of memory, not the API's region list).
fn guest_load(
    uc: &mut Unicorn<'_, ()>,
    addr: u64,
) -> Result<u64, unicorn_engine::unicorn_const::uc_error> {
    uc.reg_write(RegisterX86::RBX, addr).unwrap();
    uc.emu_start(CODE, CODE + 3, 0, 0)?;
    Ok(uc.reg_read(RegisterX86::RAX).unwrap())
}

/// 0010: a region larger than the TLB is flushed as a whole when it goes,
/// and the code invalidation skips the absent parts of the page table; a
/// load from the region afterwards must fault (no stale TLB entry), and code
/// mapped where old code ran must be the new code.
#[test]
fn large_unmap_drops_stale_tlb_entries_and_code() {
    const BIG: u64 = 0x1000_0000;
    const BIG_LEN: u64 = 64 << 20; // 16,384 pages
    const INNER: u64 = BIG + (32 << 20);
    let mut uc = x86_64_loader_engine();
    uc.mem_map(BIG, BIG_LEN, Prot::ALL).unwrap();
    uc.mem_write(BIG + PAGE, &0x1234u64.to_le_bytes()).unwrap();
    assert_eq!(guest_load(&mut uc, BIG + PAGE).unwrap(), 0x1234);
    uc.mem_write(INNER, &[0xb8, 1, 0, 0, 0]).unwrap(); // mov eax, 1
    uc.emu_start(INNER, INNER + 5, 0, 0).unwrap();
    assert_eq!(uc.reg_read(RegisterX86::RAX).unwrap(), 1);

    uc.mem_unmap(BIG, BIG_LEN).unwrap();
    assert!(
        guest_load(&mut uc, BIG + PAGE).is_err(),
        "a load from the unmapped region succeeded (stale TLB entry)"
    );
    uc.mem_map(INNER, PAGE, Prot::ALL).unwrap();
    uc.mem_write(INNER, &[0xb8, 2, 0, 0, 0]).unwrap(); // mov eax, 2
    uc.emu_start(INNER, INNER + 5, 0, 0).unwrap();
    assert_eq!(uc.reg_read(RegisterX86::RAX).unwrap(), 2, "stale code ran");

    // A protection change inside a large region splits it: the rest keeps
    // its contents and the changed page its new permission.
    uc.mem_unmap(INNER, PAGE).unwrap();
    uc.mem_map(BIG, BIG_LEN, Prot::READ | Prot::WRITE).unwrap();
    uc.mem_write(BIG + 3 * PAGE, &7u64.to_le_bytes()).unwrap();
    uc.mem_protect(BIG + (16 << 20), PAGE, Prot::NONE).unwrap();
    assert_eq!(guest_load(&mut uc, BIG + 3 * PAGE).unwrap(), 7);
}

/// 0010: regions are kept in address order among equals, whatever order
/// they are mapped and unmapped in; every mapped one stays reachable by
/// guest code and every removed one faults.
#[test]
fn regions_mapped_in_any_order_stay_reachable() {
    const BASE: u64 = 0x4000_0000;
    let mut uc = x86_64_loader_engine();
    // Addresses in a scrambled order: descending, ascending and interleaved.
    let slots: Vec<u64> = (0..300u64).map(|i| (i * 7919) % 300).collect();
    for &slot in &slots {
        let addr = BASE + slot * 2 * PAGE;
        uc.mem_map(addr, PAGE, Prot::READ | Prot::WRITE).unwrap();
        uc.mem_write(addr, &(slot + 1).to_le_bytes()).unwrap();
    }
    for &slot in slots.iter().filter(|s| *s % 3 == 0) {
        uc.mem_unmap(BASE + slot * 2 * PAGE, PAGE).unwrap();
    }
    for slot in 0..300u64 {
        let got = guest_load(&mut uc, BASE + slot * 2 * PAGE);
        if slot % 3 == 0 {
            assert!(got.is_err(), "slot {slot} was unmapped");
        } else {
            assert_eq!(got.unwrap(), slot + 1, "slot {slot}");
        }
    }
}

/// Stores RCX at `addr` with guest code (the instruction after the load
/// of [`x86_64_loader_engine`]).
fn guest_store(
    uc: &mut Unicorn<'_, ()>,
    addr: u64,
    value: u64,
) -> Result<(), unicorn_engine::unicorn_const::uc_error> {
    uc.mem_write(CODE + 3, &[0x48, 0x89, 0x0b]).unwrap(); // mov [rbx], rcx
    uc.reg_write(RegisterX86::RBX, addr).unwrap();
    uc.reg_write(RegisterX86::RCX, value).unwrap();
    uc.emu_start(CODE + 3, CODE + 6, 0, 0)
}

/// 0012 (a speed-up: each TLB entry keeps the memory region found when it
/// was filled instead of looking it up on every slow-path access): the
/// region behind a page is always the one mapped now. The same page is in
/// turn MMIO, RAM, other MMIO, read-only RAM made writable, and unmapped;
/// guest code's loads and stores reach each of them in turn.
#[test]
fn accesses_reach_the_region_mapped_now() {
    const PAGE_AT: u64 = 0x5000_0000;
    let mut uc = x86_64_loader_engine();
    engine_ctl::set_mmio_wide_access(&mut uc).unwrap();
    let stores = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let mmio = |uc: &mut Unicorn<'static, ()>, tag: u64| {
        let s = stores.clone();
        uc.mmio_map(
            PAGE_AT,
            PAGE,
            Some(move |_: &mut Unicorn<'_, ()>, off: u64, _: usize| tag + off),
            Some(
                move |_: &mut Unicorn<'_, ()>, off: u64, _: usize, value: u64| {
                    s.borrow_mut().push((tag, off, value));
                },
            ),
        )
        .unwrap();
    };

    mmio(&mut uc, 0x100);
    assert_eq!(guest_load(&mut uc, PAGE_AT + 8).unwrap(), 0x108);
    guest_store(&mut uc, PAGE_AT + 16, 1).unwrap();
    uc.mem_unmap(PAGE_AT, PAGE).unwrap();

    uc.mem_map(PAGE_AT, PAGE, Prot::READ | Prot::WRITE).unwrap();
    uc.mem_write(PAGE_AT + 8, &5u64.to_le_bytes()).unwrap();
    assert_eq!(guest_load(&mut uc, PAGE_AT + 8).unwrap(), 5);
    guest_store(&mut uc, PAGE_AT + 16, 2).unwrap();
    let mut word = [0u8; 8];
    uc.mem_read(PAGE_AT + 16, &mut word).unwrap();
    assert_eq!(u64::from_le_bytes(word), 2);
    uc.mem_unmap(PAGE_AT, PAGE).unwrap();

    mmio(&mut uc, 0x200);
    assert_eq!(guest_load(&mut uc, PAGE_AT + 8).unwrap(), 0x208);
    guest_store(&mut uc, PAGE_AT + 24, 3).unwrap();
    uc.mem_unmap(PAGE_AT, PAGE).unwrap();

    // Permissions are the region's as they are now: a store to a
    // read-only page fails until the page becomes writable.
    uc.mem_map(PAGE_AT, PAGE, Prot::READ).unwrap();
    assert_eq!(guest_load(&mut uc, PAGE_AT).unwrap(), 0);
    assert!(guest_store(&mut uc, PAGE_AT, 4).is_err());
    uc.mem_protect(PAGE_AT, PAGE, Prot::READ | Prot::WRITE)
        .unwrap();
    guest_store(&mut uc, PAGE_AT, 4).unwrap();
    assert_eq!(guest_load(&mut uc, PAGE_AT).unwrap(), 4);
    uc.mem_unmap(PAGE_AT, PAGE).unwrap();

    assert!(guest_load(&mut uc, PAGE_AT).is_err());
    assert!(guest_store(&mut uc, PAGE_AT, 5).is_err());
    assert_eq!(
        *stores.borrow(),
        vec![(0x100, 16, 1), (0x200, 24, 3)],
        "stores reached the wrong region"
    );
}

/// 0013: a successful 32-bit cmpxchg leaves RAX alone (the accumulator is
/// loaded only when the comparison fails, and only then is its upper half
/// zeroed), and a failed one to a register leaves that register whole; to
/// memory, locked, and between registers, as the host CPU does.
#[test]
fn x86_64_cmpxchg_keeps_rax_on_success() {
    let code = [
        0x0f, 0xb1, 0x0b, //       cmpxchg dword ptr [rbx], ecx
        0xf0, 0x0f, 0xb1, 0x0b, // lock cmpxchg dword ptr [rbx], ecx
        0x0f, 0xb1, 0xca, //       cmpxchg edx, ecx
    ];
    let run = |start: usize, end: usize, rax: u64, mem: u32, rdx: u64| {
        let mut uc = x86_64_engine(&code);
        uc.mem_write(DATA, &mem.to_le_bytes()).unwrap();
        uc.reg_write(RegisterX86::RAX, rax).unwrap();
        uc.reg_write(RegisterX86::RCX, 0xaaaa_aaaa_0000_0007)
            .unwrap();
        uc.reg_write(RegisterX86::RDX, rdx).unwrap();
        uc.emu_start(CODE + start as u64, CODE + end as u64, 0, 0)
            .unwrap();
        let mut word = [0u8; 4];
        uc.mem_read(DATA, &mut word).unwrap();
        (
            uc.reg_read(RegisterX86::RAX).unwrap(),
            u32::from_le_bytes(word),
            uc.reg_read(RegisterX86::RDX).unwrap(),
        )
    };
    const RAX: u64 = 0x1234_5678_0000_0005;
    for (what, start, end) in [("memory", 0, 3), ("locked", 3, 7)] {
        // Equal: the store happens, RAX keeps its upper half.
        assert_eq!(run(start, end, RAX, 5, 0), (RAX, 7, 0), "{what}, equal");
        // Different: EAX is loaded (zero-extended), memory unchanged.
        assert_eq!(run(start, end, RAX, 9, 0), (9, 9, 0), "{what}, different");
    }
    // Registers: the destination is written (zero-extended) only when
    // equal; a failed comparison leaves it whole (as the host CPU does).
    let rdx = 0xffff_ffff_0000_0005;
    assert_eq!(run(7, 10, RAX, 0, rdx), (RAX, 0, 7), "register, equal");
    let rdx = 0xffff_ffff_0000_0009;
    assert_eq!(run(7, 10, RAX, 0, rdx), (9, 0, rdx), "register, different");
}

/// 0014: SSE operations' exception flags reach MXCSR (stmxcsr and register
/// reads see them, ldmxcsr clears them), and the approximations (rcpss)
/// raise none.
#[test]
fn x86_64_sse_exception_flags_reach_mxcsr() {
    let code = [
        0xf3, 0x0f, 0x2c, 0xc0, //  cvttss2si eax, xmm0    (a NaN: invalid)
        0x0f, 0xae, 0x1b, //        stmxcsr [rbx]
        0x0f, 0xae, 0x53, 0x04, //  ldmxcsr [rbx+4]        (0x1f80: flags cleared)
        0x0f, 0xae, 0x5b, 0x08, //  stmxcsr [rbx+8]
        0xf3, 0x0f, 0x53, 0xc8, //  rcpss xmm1, xmm0       (raises nothing)
        0x0f, 0xae, 0x5b, 0x0c, //  stmxcsr [rbx+12]
    ];
    let mut uc = x86_64_engine(&code);
    uc.reg_write(RegisterX86::MXCSR, 0x1f80).unwrap();
    let mut xmm0 = [0u8; 16];
    xmm0[..4].copy_from_slice(&0x7fa0_0000u32.to_le_bytes()); // a signalling NaN
    uc.reg_write_long(RegisterX86::XMM0, &xmm0).unwrap();
    uc.mem_write(DATA + 4, &0x1f80u32.to_le_bytes()).unwrap();
    uc.emu_start(CODE, CODE + 4, 0, 0).unwrap();
    assert_eq!(
        uc.reg_read(RegisterX86::MXCSR).unwrap(),
        0x1f81,
        "register read after cvttss2si"
    );
    uc.emu_start(CODE + 4, CODE + code.len() as u64, 0, 0)
        .unwrap();
    let mut words = [0u8; 16];
    uc.mem_read(DATA, &mut words).unwrap();
    let word = |i: usize| u32::from_le_bytes(words[i * 4..i * 4 + 4].try_into().unwrap());
    assert_eq!(word(0), 0x1f81, "stmxcsr after cvttss2si of a NaN");
    assert_eq!(word(2), 0x1f80, "stmxcsr after ldmxcsr");
    assert_eq!(word(3), 0x1f80, "stmxcsr after rcpss of a NaN");
}

/// 0015: pacda of a pointer that already bears a code (so its bits 54..48
/// are not a sign extension) must corrupt the new code, so that autda
/// then fails; with tagged addresses the engine flipped bit 55, which the
/// code field drops, and autda gave the pointer back.
#[test]
fn aarch64_pac_of_a_signed_pointer_fails_authentication() {
    use unicorn_engine::{RegisterARM64, RegisterARM64CP};
    const PACDA_X2_X1: u32 = 0xdac1_0822;
    const AUTDA_X2_X1: u32 = 0xdac1_1822;
    let sysreg = |op1: u32, crn: u32, crm: u32, op2: u32, val: u64| {
        RegisterARM64CP::new()
            .op0(3)
            .op1(op1)
            .crn(crn)
            .crm(crm)
            .op2(op2)
            .val(val)
    };
    let mut uc = Unicorn::new(Arch::ARM64, Mode::ARM).unwrap();
    uc.ctl_set_cpu_model(unicorn_engine::Arm64CpuModel::MAX as i32)
        .unwrap();
    uc.mem_map(CODE, PAGE, Prot::ALL).unwrap();
    uc.mem_write(CODE, &le_words(&[PACDA_X2_X1, AUTDA_X2_X1]))
        .unwrap();
    // As ht-user sets them: non-secure with pac/aut not trapped (SCR_EL3,
    // HCR_EL2), tagged addresses (TCR_EL1.TBI0), key DA on (SCTLR_EL1.EnDA),
    // and a fixed APDA key.
    for reg in [
        sysreg(6, 1, 1, 0, 1 | 1 << 10 | 1 << 16 | 1 << 17),
        sysreg(4, 1, 1, 0, 1 << 31 | 1 << 40 | 1 << 41),
        sysreg(0, 2, 0, 2, 1 << 37),
        sysreg(0, 2, 2, 0, 0x0123_4567_89ab_cdef),
        sysreg(0, 2, 2, 1, 0xfedc_ba98_7654_3210),
    ] {
        uc.reg_write_arm64_coproc(&reg).unwrap();
    }
    let mut sctlr = sysreg(0, 1, 0, 0, 0);
    uc.reg_read_arm64_coproc(&mut sctlr).unwrap();
    uc.reg_write_arm64_coproc(&sysreg(0, 1, 0, 0, sctlr.val | 1 << 27))
        .unwrap();
    let p0: u64 = 0x0000_5555_1234_5670;
    let mut run = |x2: u64, salt: u64, insns: u64| {
        uc.reg_write(RegisterARM64::X1, salt).unwrap();
        uc.reg_write(RegisterARM64::X2, x2).unwrap();
        uc.emu_start(CODE, CODE + 4 * insns, 0, 0).unwrap();
        uc.reg_read(RegisterARM64::X2).unwrap()
    };
    // A salt whose code is not zero (the code has 7 bits: 1 in 128 is).
    let (salt, p1) = (1..200u64)
        .map(|salt| (salt, run(p0, salt, 1)))
        .find(|&(_, p1)| p1 != p0)
        .expect("pacda changes the pointer");
    // Signed and authenticated with the same salt: p0 again.
    assert_eq!(run(p0, salt, 2), p0, "a signed pointer authenticates");
    // Signing the signed pointer again corrupts the code: autda fails
    // (an error code in bits 54..53).
    let twice = run(p1, salt, 2);
    assert_ne!(twice, p0, "pacda of a signed pointer: autda must fail");
    assert_eq!(twice & !(0x3 << 53), p0, "{twice:#x}");
}
