// SPDX-License-Identifier: GPL-2.0-or-later
//! The engine's patch series (engine/PATCHES.md), each checked on the
//! engine alone with a small guest program: every test here fails (or
//! crashes) on the pristine Unicorn 2.1.5 and passes with the patch.

use unicorn_engine::unicorn_const::HookType;
use unicorn_engine::unicorn_const::{Arch, MemType, Mode, Prot, TlbEntry, TlbType};
use unicorn_engine::{RegisterARM, RegisterMIPS, RegisterRISCV, RegisterX86, Unicorn};

use ht_user::machine::engine_ctl;

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
    let (base, pc_reg): (i32, i32) = match arch {
        Arch::MIPS => (RegisterMIPS::A0.into(), RegisterMIPS::PC.into()),
        Arch::PPC => (
            unicorn_engine::RegisterPPC::R3.into(),
            unicorn_engine::RegisterPPC::PC.into(),
        ),
        _ => (RegisterRISCV::A1.into(), RegisterRISCV::PC.into()),
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

/// 0016: `bx` to an address with bit 1 set in A32 state raises the PC
/// alignment fault at that address (an undefined-instruction exception with
/// the pc left misaligned) before anything there runs; the pristine engine
/// fetched the misaligned word and ran on.
#[test]
fn arm_misaligned_pc_faults_at_the_branch_target() {
    let code = le_words(&[
        0xe28f_3006, // add r3, pc, #6     (r3 = CODE + 8 + 6: misaligned)
        0xe12f_ff13, // bx r3
        0xe3a0_0001, // mov r0, #1          (CODE + 8)
        0xe3a0_0002, // mov r0, #2          (CODE + 12; r3 points inside it)
        0xe3a0_0003, // mov r0, #3
        0xe3a0_0004, // mov r0, #4
    ]);
    let mut uc = engine_with_virtual_tlb(Arch::ARM, Mode::ARM, &code);
    uc.reg_write(RegisterARM::R0, 0).unwrap();
    // The engine reports an undefined-instruction exception nobody hooked
    // as an invalid instruction; ht-user makes it SIGBUS (BUS_ADRALN) when
    // the pc is misaligned.
    let result = uc.emu_start(CODE, CODE + code.len() as u64, 0, 0);
    assert_eq!(
        result,
        Err(unicorn_engine::unicorn_const::uc_error::INSN_INVALID)
    );
    assert_eq!(uc.reg_read(RegisterARM::PC).unwrap(), CODE + 14, "pc");
    assert_eq!(
        uc.reg_read(RegisterARM::R0).unwrap(),
        0,
        "nothing ran there"
    );
}

/// An engine with two pages at CODE and `code` written to end `tail`
/// bytes into the second page. Runs `code` once with both pages executable
/// (so its block, spanning both, is translated and cached), then makes the
/// second page non-executable for the TLB-fill hook (as `mprotect` with
/// `PROT_NONE` and a TLB flush do) and runs it again from `arg` = 0; gives
/// the second run's error, pc and `arg`.
fn run_into_a_noexec_page(
    arch: Arch,
    mode: Mode,
    code: &[u8],
    tail: u64,
    pc_reg: i32,
    arg: i32,
) -> (
    Result<(), unicorn_engine::unicorn_const::uc_error>,
    u64,
    u64,
) {
    let mut uc = Unicorn::new(arch, mode).expect("engine");
    uc.mem_map(CODE, 2 * PAGE, Prot::ALL).unwrap();
    let start = CODE + PAGE + tail - code.len() as u64;
    let end = start + code.len() as u64;
    uc.mem_write(start, code).unwrap();
    uc.ctl_set_tlb_type(TlbType::VIRTUAL).unwrap();
    let second_page_executable = std::rc::Rc::new(std::cell::Cell::new(true));
    let executable = second_page_executable.clone();
    uc.add_tlb_hook(0, u64::MAX, move |_, addr, access: MemType| {
        let exec = addr < CODE + PAGE || executable.get();
        let allowed = exec || access != MemType::FETCH;
        allowed.then_some(TlbEntry {
            paddr: addr,
            perms: if exec {
                Prot::ALL
            } else {
                Prot::READ | Prot::WRITE
            },
        })
    })
    .unwrap();
    uc.emu_start(start, end, 0, 0)
        .expect("the run with both pages executable");
    second_page_executable.set(false);
    uc.ctl_flush_tlb().unwrap();
    uc.reg_write(arg, 0).unwrap();
    let result = uc.emu_start(start, end, 0, 0);
    (
        result,
        uc.reg_read(pc_reg).unwrap(),
        uc.reg_read(arg).unwrap(),
    )
}

/// 0017: running on into a page that may no longer be executed faults at
/// the first instruction there (or at the instruction that crosses into
/// it), after the instructions before it ran, as QEMU's `noexec` test
/// checks; the engine faulted at the block's start, while translating it
/// or while looking up the cached block that spans both pages.
#[test]
fn fetch_faults_report_the_instruction_on_the_noexec_page() {
    use unicorn_engine::unicorn_const::uc_error;
    let (rip, rdi) = (RegisterX86::RIP.into(), RegisterX86::RDI.into());
    let mov_rdi = |v: u8| [0x48, 0xc7, 0xc7, v, 0, 0, 0];
    // mov rdi, 1 ends the executable page; mov rdi, 2 starts the other.
    let fall = [mov_rdi(1), mov_rdi(2)].concat();
    let (r, pc, value) = run_into_a_noexec_page(Arch::X86, Mode::MODE_64, &fall, 7, rip, rdi);
    assert_eq!(r, Err(uc_error::EXCEPTION));
    assert_eq!(
        (pc, value),
        (CODE + PAGE, 1),
        "x86_64 fall-through: rip, rdi"
    );
    // mov rdi, 2 starts two bytes before the page and crosses into it.
    let (r, pc, value) = run_into_a_noexec_page(Arch::X86, Mode::MODE_64, &fall, 5, rip, rdi);
    assert_eq!(r, Err(uc_error::EXCEPTION));
    assert_eq!(
        (pc, value),
        (CODE + PAGE - 2, 1),
        "x86_64 crossing: rip, rdi"
    );

    let (pc_reg, a0) = (RegisterRISCV::PC.into(), RegisterRISCV::A0.into());
    // addi a0, zero, 1; addi a0, zero, 2 (crossing into the page).
    let riscv = le_words(&[0x0010_0513, 0x0020_0513]);
    let (r, pc, value) = run_into_a_noexec_page(Arch::RISCV, Mode::RISCV64, &riscv, 2, pc_reg, a0);
    assert_eq!(r, Err(uc_error::EXCEPTION));
    assert_eq!(
        (pc, value),
        (CODE + PAGE - 2, 1),
        "riscv64 crossing: pc, a0"
    );
}

/// 0018: `pcmpistri` in equal-ordered mode (substring search) finds a
/// match that runs off the end of the register and refuses one that runs
/// into the haystack's terminator, as the CPU does (QEMU's
/// `test-i386-pcmpistri` values, checked on the host).
#[test]
fn x86_64_pcmpistri_equal_ordered_matches_the_cpu() {
    let mut code = Vec::new();
    // movdqu xmm1, [DATA]; movdqu xmm2, [DATA + 16]; pcmpistri xmm1, xmm2, 0x4c
    // mov r8d, ecx; movdqu xmm2, [DATA + 32]; pcmpistri xmm1, xmm2, 0x4c
    let movdqu = |reg: u8, disp: u32| {
        let mut v = vec![0xf3, 0x0f, 0x6f, 0x04 | (reg << 3), 0x25];
        v.extend_from_slice(&disp.to_le_bytes());
        v
    };
    code.extend(movdqu(1, DATA as u32));
    code.extend(movdqu(2, DATA as u32 + 16));
    code.extend([0x66, 0x0f, 0x3a, 0x63, 0xca, 0x4c]);
    code.extend([0x41, 0x89, 0xc8]);
    code.extend(movdqu(2, DATA as u32 + 32));
    code.extend([0x66, 0x0f, 0x3a, 0x63, 0xca, 0x4c]);
    let mut uc = x86_64_engine(&code);
    uc.mem_write(DATA, b"abcdefghijklmnopbcdefghijklmnopabcdefghijklmnab\0")
        .unwrap();
    uc.emu_start(CODE, CODE + code.len() as u64, 0, 0).unwrap();
    // 15: the 'a' at the haystack's last byte starts a match that runs off
    // the register; 16: no match (the haystack ends before "abc").
    assert_eq!(uc.reg_read(RegisterX86::R8).unwrap(), 15, "s1 in s2");
    assert_eq!(uc.reg_read(RegisterX86::RCX).unwrap(), 16, "s1 in s3");
}

/// Runs x87 `code` on a fresh x86_64 engine with `data` at DATA; gives
/// the engine for its registers and memory.
fn run_x87(code: &[u8], data: &[u8]) -> Unicorn<'static, ()> {
    let mut uc = x86_64_engine(code);
    uc.mem_write(DATA, data).unwrap();
    uc.emu_start(CODE, CODE + code.len() as u64, 0, 0).unwrap();
    uc
}

/// `op [DATA + offset]` with a 32-bit absolute address (opcode bytes,
/// then ModRM with `reg`, SIB 0x25, the displacement).
fn x87_abs(opcode: &[u8], reg: u8, offset: u32) -> Vec<u8> {
    let mut v = opcode.to_vec();
    v.extend([0x04 | (reg << 3), 0x25]);
    v.extend((DATA as u32 + offset).to_le_bytes());
    v
}

/// 0019: fldl2t, fldl2e, fldpi, fldlg2 and fldln2 round their 66-bit
/// constants by the rounding control, giving the significands this
/// machine's CPU gives (measured with the same instructions on the host);
/// the engine gave the round-to-nearest value in every mode.
#[test]
fn x87_constants_follow_the_rounding_control() {
    // fldl2t, fldl2e, fldpi, fldlg2, fldln2.
    let loads: [[u8; 2]; 5] = [
        [0xd9, 0xe9],
        [0xd9, 0xea],
        [0xd9, 0xeb],
        [0xd9, 0xec],
        [0xd9, 0xed],
    ];
    let cpu: [(u16, [u64; 5]); 4] = [
        (
            0x000,
            [
                0xd49a784bcd1b8afe,
                0xb8aa3b295c17f0bc,
                0xc90fdaa22168c235,
                0x9a209a84fbcff799,
                0xb17217f7d1cf79ac,
            ],
        ),
        (
            0x400,
            [
                0xd49a784bcd1b8afe,
                0xb8aa3b295c17f0bb,
                0xc90fdaa22168c234,
                0x9a209a84fbcff798,
                0xb17217f7d1cf79ab,
            ],
        ),
        (
            0x800,
            [
                0xd49a784bcd1b8aff,
                0xb8aa3b295c17f0bc,
                0xc90fdaa22168c235,
                0x9a209a84fbcff799,
                0xb17217f7d1cf79ac,
            ],
        ),
        (
            0xc00,
            [
                0xd49a784bcd1b8afe,
                0xb8aa3b295c17f0bb,
                0xc90fdaa22168c234,
                0x9a209a84fbcff798,
                0xb17217f7d1cf79ab,
            ],
        ),
    ];
    for (rounding, want) in cpu {
        // fldcw [DATA]; then each constant, stored with fstp tbyte [DATA + 16 + 16 i].
        let mut code = x87_abs(&[0xd9], 5, 0);
        for (i, load) in loads.iter().enumerate() {
            code.extend(load);
            code.extend(x87_abs(&[0xdb], 7, 16 + 16 * i as u32));
        }
        let control = 0x037f | rounding;
        let uc = run_x87(&code, &control.to_le_bytes());
        let got: Vec<u64> = (0..5)
            .map(|i| {
                let bytes = uc.mem_read_as_vec(DATA + 16 + 16 * i, 8).unwrap();
                u64::from_le_bytes(bytes.try_into().unwrap())
            })
            .collect();
        assert_eq!(got, want, "rounding control {rounding:#x}");
    }
}

/// 0020: fxam reports unnormals, pseudo-infinities and pseudo-NaNs (the
/// integer bit clear with a nonzero exponent) as an unsupported format
/// (C3, C2, C0 clear), as the CPU does; a pseudo-denormal is a denormal.
/// The engine called them normals, infinities and NaNs.
#[test]
fn x87_fxam_reports_unsupported_encodings() {
    const C0: u64 = 1 << 8;
    const C1: u64 = 1 << 9;
    const C2: u64 = 1 << 10;
    const C3: u64 = 1 << 14;
    let cases: [(u64, u16, u64, &str); 8] = [
        (1 << 63, 0x3fff, C2, "1.0"),
        (0, 1234, 0, "unnormal"),
        (1, 0x8000 | 1234, C1, "negative unnormal"),
        (0, 0x7fff, 0, "pseudo-infinity"),
        ((1 << 63) - 1, 0x7fff, 0, "pseudo-NaN"),
        (1 << 63, 0x7fff, C2 | C0, "infinity"),
        (1 << 62 | 1 << 63, 0x7fff, C0, "NaN"),
        (1 << 63, 0, C3 | C2, "pseudo-denormal"),
    ];
    for (significand, sign_exponent, want, name) in cases {
        // fld tbyte [DATA]; fxam; fnstsw ax
        let mut code = x87_abs(&[0xdb], 5, 0);
        code.extend([0xd9, 0xe5, 0xdf, 0xe0]);
        let mut data = significand.to_le_bytes().to_vec();
        data.extend(sign_exponent.to_le_bytes());
        let uc = run_x87(&code, &data);
        let status = uc.reg_read(RegisterX86::RAX).unwrap();
        assert_eq!(status & (C0 | C1 | C2 | C3), want, "{name}");
    }
}

/// Loads the 80-bit value (`significand`, `sign_exponent`) at DATA with
/// `fld tbyte`, runs `op`, and gives the engine.
fn x87_on(significand: u64, sign_exponent: u16, op: &[u8]) -> Unicorn<'static, ()> {
    let mut code = x87_abs(&[0xdb], 5, 0);
    code.extend(op);
    let mut data = significand.to_le_bytes().to_vec();
    data.extend(sign_exponent.to_le_bytes());
    run_x87(&code, &data)
}

/// The 80-bit value stored at DATA + `offset` as (significand, sign and
/// exponent).
fn x87_stored(uc: &Unicorn<'_, ()>, offset: u64) -> (u64, u16) {
    let b = uc.mem_read_as_vec(DATA + offset, 10).unwrap();
    (
        u64::from_le_bytes(b[..8].try_into().unwrap()),
        u16::from_le_bytes([b[8], b[9]]),
    )
}

/// 0021: fisttp of a value out of range, an infinity or a NaN stores the
/// integer indefinite (the most negative integer), as fist does; the
/// engine stored the saturated value (0x7fffffff for +2^100 and +inf).
#[test]
fn x87_fisttp_stores_the_integer_indefinite() {
    const INF: (u64, u16) = (1 << 63, 0x7fff);
    const QNAN: (u64, u16) = (3 << 62, 0x7fff);
    const TWO_TO_100: (u64, u16) = (1 << 63, 0x3fff + 100);
    for (value, name) in [(TWO_TO_100, "2^100"), (INF, "inf"), (QNAN, "NaN")] {
        for negative in [false, true] {
            let sign = if negative { 0x8000 } else { 0 };
            // fisttp dword [DATA + 16]
            let uc = x87_on(value.0, value.1 | sign, &x87_abs(&[0xdb], 1, 16));
            let word = uc.mem_read_as_vec(DATA + 16, 4).unwrap();
            assert_eq!(word, 0x8000_0000u32.to_le_bytes(), "fisttp dword {name}");
            // fisttp qword [DATA + 16]
            let uc = x87_on(value.0, value.1 | sign, &x87_abs(&[0xdd], 1, 16));
            let word = uc.mem_read_as_vec(DATA + 16, 8).unwrap();
            assert_eq!(word, (1u64 << 63).to_le_bytes(), "fisttp qword {name}");
        }
    }
}

/// 0022: fxtract of an infinity, a NaN, a denormal, a pseudo-denormal and
/// the unsupported encodings gives what the CPU gives (QEMU's
/// `test-i386-fxtract` values); the engine read the biased exponent as is.
#[test]
fn x87_fxtract_special_operands() {
    // fxtract; fstp tbyte [DATA + 16] (significand); fstp tbyte [DATA + 32] (exponent)
    let mut op = vec![0xd9, 0xf4];
    op.extend(x87_abs(&[0xdb], 7, 16));
    op.extend(x87_abs(&[0xdb], 7, 32));
    let run = |significand: u64, sign_exponent: u16| {
        let uc = x87_on(significand, sign_exponent, &op);
        (x87_stored(&uc, 16), x87_stored(&uc, 32))
    };
    let one = (1u64 << 63, 0x3fff);
    let infinity = (1u64 << 63, 0x7fff);
    let float = |v: i32| {
        let magnitude = v.unsigned_abs();
        let shift = magnitude.leading_zeros();
        let sign = if v < 0 { 0x8000 } else { 0 };
        (
            (u64::from(magnitude) << shift) << 32,
            sign | (0x3fff + 31 - shift) as u16,
        )
    };
    let quiet = |(sig, exp): (u64, u16)| exp & 0x7fff == 0x7fff && sig >> 62 == 3;
    assert_eq!(run(5 << 61, 0x4000), ((5 << 61, 0x3fff), float(1)), "2.5");
    assert_eq!(run(infinity.0, infinity.1), (infinity, infinity), "inf");
    assert_eq!(
        run(infinity.0, 0xffff),
        ((1 << 63, 0xffff), infinity),
        "-inf"
    );
    assert_eq!(run(1, 0), (one, float(-16445)), "smallest denormal");
    assert_eq!(run(1 << 63, 0), (one, float(-16382)), "pseudo-denormal");
    let (sig, exp) = run(5 << 60, 0x7fff); // a signalling NaN
    assert!(quiet(sig) && quiet(exp), "sNaN: {sig:x?} {exp:x?}");
    for (significand, sign_exponent, name) in [
        (1, 1234, "unnormal"),
        (0, 0x7fff, "pseudo-infinity"),
        ((1 << 63) - 1, 0x7fff, "pseudo-NaN"),
    ] {
        let (sig, exp) = run(significand, sign_exponent);
        assert!(quiet(sig) && quiet(exp), "{name}: {sig:x?} {exp:x?}");
    }
}

/// 0023: with instruction counting on, the counters read in an MMIO
/// callback count the storing instruction and every one before it, and
/// none of the block's instructions after it.
#[test]
fn insn_counters_are_exact_at_an_mmio_store() {
    let code = [
        0x90, // nop
        0x90, // nop
        0x90, // nop
        0x89, 0x01, // mov dword ptr [rcx], eax   (MMIO: the 4th instruction)
        0x90, // nop
        0x90, // nop
        0x48, 0xff, 0x03, // inc qword ptr [rbx]
        0x89, 0x01, // mov dword ptr [rcx], eax   (MMIO: the 8th)
        0x90, // nop                              (the 9th, the last)
    ];
    let mut uc = x86_64_engine(&code);
    engine_ctl::set_exit_check_at_block_start(&mut uc).unwrap();
    engine_ctl::set_insn_count(&mut uc, true).unwrap();
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let log = seen.clone();
    uc.mmio_map(
        MMIO,
        PAGE,
        None::<fn(&mut Unicorn<'_, ()>, u64, usize) -> u64>,
        Some(
            move |uc: &mut Unicorn<'_, ()>, _addr: u64, _size: usize, _value: u64| {
                log.borrow_mut()
                    .push(engine_ctl::insn_counters(uc).unwrap());
            },
        ),
    )
    .unwrap();
    uc.emu_start(CODE, CODE + code.len() as u64, 0, 0).unwrap();
    let at: Vec<u64> = seen.borrow().iter().map(|c| c.insns).collect();
    assert_eq!(at, [4, 8], "instructions retired at each store");
    let end = engine_ctl::insn_counters(&uc).unwrap();
    assert_eq!(end.insns, 9, "the whole run");
    assert_eq!(seen.borrow()[0].blocks, 1, "one block so far");
    // A second run of the same (now translated) code: the same counts,
    // read back from the engine's cache of block positions.
    engine_ctl::set_insn_counters(&mut uc, Default::default()).unwrap();
    seen.borrow_mut().clear();
    uc.emu_start(CODE, CODE + code.len() as u64, 0, 0).unwrap();
    let again: Vec<u64> = seen.borrow().iter().map(|c| c.insns).collect();
    assert_eq!(again, [4, 8]);
}

/// 0023: an instruction that faults does not retire: a block counts all
/// its instructions when it starts, and the fault takes back the faulting
/// one and those after it.
#[test]
fn insn_counters_leave_out_a_faulting_instruction() {
    let code = [
        0x90, // nop
        0x90, // nop
        0x48, 0x8b, 0x02, // mov rax, [rdx]   (rdx unmapped: faults)
        0x90, // nop
        0x90, // nop
    ];
    let mut uc = x86_64_engine(&code);
    engine_ctl::set_exit_check_at_block_start(&mut uc).unwrap();
    engine_ctl::set_insn_count(&mut uc, true).unwrap();
    uc.reg_write(RegisterX86::RDX, 0x7000_0000).unwrap();
    let result = uc.emu_start(CODE, CODE + code.len() as u64, 0, 0);
    assert!(result.is_err(), "the load faults");
    assert_eq!(uc.reg_read(RegisterX86::RIP).unwrap(), CODE + 2);
    let c = engine_ctl::insn_counters(&uc).unwrap();
    assert_eq!(c.insns, 2, "the two nops before the load");
    assert_eq!(c.blocks, 1);
}

/// 0023: the counters can be set (per guest thread) and counting off (the
/// default) leaves them alone.
#[test]
fn insn_counters_are_set_and_only_count_when_on() {
    let code = [0x90, 0x90, 0x90];
    let mut uc = x86_64_engine(&code);
    uc.emu_start(CODE, CODE + code.len() as u64, 0, 0).unwrap();
    assert_eq!(
        engine_ctl::insn_counters(&uc).unwrap().insns,
        0,
        "off by default"
    );
    engine_ctl::set_insn_count(&mut uc, true).unwrap();
    let start = engine_ctl::InsnCounters {
        insns: 1000,
        blocks: 10,
    };
    engine_ctl::set_insn_counters(&mut uc, start).unwrap();
    uc.emu_start(CODE, CODE + code.len() as u64, 0, 0).unwrap();
    let c = engine_ctl::insn_counters(&uc).unwrap();
    assert_eq!((c.insns, c.blocks), (1003, 11));
}

/// A loop of `iterations` passes over `inc rax; dec edx; jnz`, after a
/// `mov edx, iterations`; `tail` follows the loop.
fn counted_loop(iterations: u32, tail: &[u8]) -> Vec<u8> {
    let mut code = vec![0xba]; // mov edx, imm32
    code.extend_from_slice(&iterations.to_le_bytes());
    code.extend_from_slice(&[
        0x48, 0xff, 0xc0, // loop: inc rax
        0xff, 0xca, // dec edx
        0x75, 0xf9, // jnz loop
    ]);
    code.extend_from_slice(tail);
    code
}

/// 0040: translated code keeps the counters in a host register; they stay
/// exact across chained blocks, helper calls (a block hook on every block)
/// and a write from a callback in the middle of the run, which takes
/// effect at once.
#[test]
fn insn_counters_in_registers_are_exact_across_calls_and_writes() {
    let code = counted_loop(1000, &[0x90]);
    // The first block holds the mov and one pass; then 999 passes; the nop.
    let whole = engine_ctl::InsnCounters {
        insns: 1 + 3000 + 1,
        blocks: 1000 + 1,
    };
    let run = |hooked: bool, reset_at: Option<u64>| {
        let mut uc = x86_64_engine(&code);
        engine_ctl::set_exit_check_at_block_start(&mut uc).unwrap();
        engine_ctl::set_insn_count(&mut uc, true).unwrap();
        let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        if hooked {
            let log = seen.clone();
            let mut reset_at = reset_at;
            uc.add_block_hook(1, 0, move |uc, _addr, _size| {
                let now = engine_ctl::insn_counters(uc).unwrap();
                log.borrow_mut().push(now);
                if reset_at == Some(now.blocks) {
                    engine_ctl::set_insn_counters(uc, Default::default()).unwrap();
                    reset_at = None;
                }
            })
            .unwrap();
        }
        uc.emu_start(CODE, CODE + code.len() as u64, 0, 0).unwrap();
        let end = engine_ctl::insn_counters(&uc).unwrap();
        let seen = seen.borrow().clone();
        (end, seen)
    };
    let (plain, _) = run(false, None);
    assert_eq!(plain, whole, "chained blocks, no calls");
    let (hooked, seen) = run(true, None);
    assert_eq!(hooked, whole, "a helper call in every block");
    assert_eq!(seen.len(), 1001);
    // Between two hook calls in the loop, one pass: three instructions.
    for pair in seen[1..seen.len() - 1].windows(2) {
        assert_eq!(pair[1].insns - pair[0].insns, 3, "{pair:?}");
        assert_eq!(pair[1].blocks - pair[0].blocks, 1, "{pair:?}");
    }
    // Set to zero from the hook that sees 500 blocks counted (the hook runs
    // before its block counts): what follows is counted from zero.
    let (after_reset, seen) = run(true, Some(500));
    let at_reset = seen.iter().copied().find(|c| c.blocks == 500).unwrap();
    assert_eq!(
        (after_reset.insns, after_reset.blocks),
        (whole.insns - at_reset.insns, whole.blocks - at_reset.blocks),
        "counting goes on from the written value"
    );
}

/// 0040: with counting off the counter register is an ordinary register
/// for translated code, and the counters in memory are left alone; turned
/// on again, counting starts from them.
#[test]
fn insn_counters_survive_counting_turned_off() {
    // Enough live values to need every allocatable host register.
    // Live values in general and vector registers while counting is off.
    let mut tail = Vec::new();
    for reg in 0..8u8 {
        tail.extend_from_slice(&[0x49, 0x83, 0xc0 + reg, 1 + reg]); // add r8+reg, 1+reg
    }
    for reg in 0..7u8 {
        tail.extend_from_slice(&[0x66, 0x0f, 0xd4, 0xc0 | reg << 3 | (reg + 1)]);
        // paddq xmm(reg), xmm(reg+1)
    }
    let code = counted_loop(100, &tail);
    let expected = 1 + 300 + 8 + 7;
    let mut uc = x86_64_engine(&code);
    engine_ctl::set_insn_count(&mut uc, true).unwrap();
    uc.emu_start(CODE, CODE + code.len() as u64, 0, 0).unwrap();
    let on = engine_ctl::insn_counters(&uc).unwrap();
    assert_eq!(on.insns, expected);
    engine_ctl::set_insn_count(&mut uc, false).unwrap();
    uc.emu_start(CODE, CODE + code.len() as u64, 0, 0).unwrap();
    assert_eq!(
        engine_ctl::insn_counters(&uc).unwrap(),
        on,
        "off: unchanged"
    );
    assert_eq!(
        uc.reg_read(RegisterX86::R15).unwrap(),
        2 * 8,
        "the code ran"
    );
    engine_ctl::set_insn_count(&mut uc, true).unwrap();
    uc.emu_start(CODE, CODE + code.len() as u64, 0, 0).unwrap();
    assert_eq!(engine_ctl::insn_counters(&uc).unwrap().insns, 2 * expected);
}

/// A shared mapping of a temporary file, `pages` long, for the host-fault
/// tests: the file can shrink under it. Unmapped when dropped: declare it
/// before the engine that maps it, so that the engine is dropped first.
struct SharedFileMapping {
    file: std::fs::File,
    host: *mut libc::c_void,
    len: usize,
}

impl SharedFileMapping {
    fn new(pages: u64) -> Self {
        use std::os::fd::AsRawFd;
        let file = tempfile::tempfile().unwrap();
        file.set_len(pages * PAGE).unwrap();
        let len = (pages * PAGE) as usize;
        // SAFETY: a fresh shared mapping of our own temporary file, unmapped
        // only by `drop`.
        let host = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        assert_ne!(host, libc::MAP_FAILED);
        SharedFileMapping { file, host, len }
    }
}

impl Drop for SharedFileMapping {
    fn drop(&mut self) {
        // SAFETY: our own mapping; the engine that used it was dropped
        // before (declared after it).
        unsafe { libc::munmap(self.host, self.len) };
    }
}

/// 0040: a host fault in translated code (a file mapping truncated under
/// the guest) leaves the block while the counters are in a host register;
/// the engine takes them from the signal context (`uc_host_fault_context`),
/// so the count still stops exactly before the faulting load.
#[test]
fn insn_counters_are_exact_at_a_host_fault_in_translated_code() {
    use ht_user::mem::host_fault;
    const FILE: u64 = 0x40000;
    let code = counted_loop(100, &[0x48, 0x8b, 0x01]); // mov rax, [rcx]
    let mapping = SharedFileMapping::new(2);
    let mut uc = x86_64_engine(&code);
    // SAFETY: the mapping is 2 pages of live memory, declared before `uc`,
    // so it outlives it.
    unsafe { uc.mem_map_ptr(FILE, 2 * PAGE, Prot::READ | Prot::WRITE, mapping.host) }.unwrap();
    engine_ctl::set_insn_count(&mut uc, true).unwrap();
    host_fault::install().unwrap();
    let run = |uc: &mut Unicorn<'static, ()>| {
        engine_ctl::set_insn_counters(uc, Default::default()).unwrap();
        host_fault::enter_engine(uc.get_handle());
        let result = uc.emu_start(CODE, CODE + code.len() as u64, 0, 0);
        host_fault::leave_engine();
        result
    };
    uc.reg_write(RegisterX86::RCX, FILE + PAGE).unwrap();
    run(&mut uc).unwrap();
    assert_eq!(engine_ctl::insn_counters(&uc).unwrap().insns, 1 + 300 + 1);

    mapping.file.set_len(PAGE).unwrap();
    let result = run(&mut uc);
    assert_eq!(
        result,
        Err(unicorn_engine::unicorn_const::uc_error::READ_UNMAPPED)
    );
    assert_eq!(host_fault::take_guest_fault(), Some((FILE + PAGE, false)));
    let c = engine_ctl::insn_counters(&uc).unwrap();
    assert_eq!(c.insns, 1 + 300, "every instruction before the load");
    assert_eq!(c.blocks, 100 + 1, "the loop's blocks and the load's");
}

/// 0024: the exceptions of x87 arithmetic reach the status word (fnstsw,
/// fnstenv, a register read); the engine kept them in softfloat's flags,
/// where no guest could see them, so `fetestexcept` on i386 said no
/// exception had happened. fnclex clears them; an unmasked one sets the
/// summary bits.
#[test]
fn x87_exception_flags_reach_the_status_word() {
    const FNINIT: [u8; 2] = [0xdb, 0xe3];
    const FLD1: [u8; 2] = [0xd9, 0xe8];
    const FLDZ: [u8; 2] = [0xd9, 0xee];
    const FDIVP: [u8; 2] = [0xde, 0xf9]; // st(1) = st(1) / st, pop
    const FADDP: [u8; 2] = [0xde, 0xc1];
    const FNSTSW_AX: [u8; 2] = [0xdf, 0xe0];
    const FNCLEX: [u8; 2] = [0xdb, 0xe2];
    let fild_three = x87_abs(&[0xdb], 0, 0); // fild dword [DATA] (3)
    let status = |parts: &[&[u8]]| {
        let code: Vec<u8> = parts.concat();
        let uc = run_x87(&code, &3u32.to_le_bytes());
        (uc.reg_read(RegisterX86::RAX).unwrap() & 0xffff) as u16
    };
    const IE: u16 = 0x01;
    const ZE: u16 = 0x04;
    const PE: u16 = 0x20;
    const FLAGS: u16 = 0x3f;
    let one_by_zero: [&[u8]; 4] = [&FNINIT, &FLD1, &FLDZ, &FDIVP];
    assert_eq!(
        status(&[&one_by_zero[..], &[&FNSTSW_AX[..]]].concat()) & FLAGS,
        ZE,
        "1/0"
    );
    assert_eq!(
        status(&[&FNINIT, &FLDZ, &FLDZ, &FDIVP, &FNSTSW_AX]) & FLAGS,
        IE,
        "0/0 is invalid, not a division by zero"
    );
    assert_eq!(
        status(&[&FNINIT, &FLD1, &fild_three, &FDIVP, &FNSTSW_AX]) & FLAGS,
        PE,
        "1/3 is inexact"
    );
    assert_eq!(
        status(&[&FNINIT, &FLD1, &FLD1, &FADDP, &FNSTSW_AX]) & FLAGS,
        0,
        "1+1 raises nothing"
    );
    assert_eq!(
        status(&[&one_by_zero[..], &[&FNCLEX[..], &FNSTSW_AX[..]]].concat()) & FLAGS,
        0,
        "fnclex clears"
    );
    // Divide by zero unmasked (control word 0x37b): the error summary and
    // busy bits come with it.
    let fldcw = x87_abs(&[0xd9], 5, 4); // fldcw [DATA + 4]
    let code: Vec<u8> = [&FNINIT[..], &fldcw, &FLD1, &FLDZ, &FDIVP, &FNSTSW_AX].concat();
    let mut data = 3u32.to_le_bytes().to_vec();
    data.extend(0x37bu16.to_le_bytes());
    let uc = run_x87(&code, &data);
    assert_eq!(
        uc.reg_read(RegisterX86::RAX).unwrap() & 0x80bf,
        0x8084,
        "ZE with ES and B"
    );
    // fnstenv's image and a register read see the flag too.
    let fnstenv = x87_abs(&[0xd9], 6, 64); // fnstenv [DATA + 64]
    let code: Vec<u8> = [&FNINIT[..], &FLD1, &FLDZ, &FDIVP, &fnstenv].concat();
    let uc = run_x87(&code, &3u32.to_le_bytes());
    let image = uc.mem_read_as_vec(DATA + 64 + 4, 2).unwrap();
    assert_eq!(
        u16::from_le_bytes([image[0], image[1]]) & FLAGS,
        ZE,
        "fnstenv"
    );
    let code: Vec<u8> = [&FNINIT[..], &FLD1, &FLDZ, &FDIVP].concat();
    let uc = run_x87(&code, &3u32.to_le_bytes());
    assert_eq!(
        uc.reg_read(RegisterX86::FPSW).unwrap() as u16 & FLAGS,
        ZE,
        "FPSW register"
    );
    // A 16-bit fistp/fisttp out of range: the indefinite, invalid only
    // (not the inexact of the rounding). fistp rounds 32767.5 to 32768,
    // fisttp truncates 32768.5 to 32768.
    for (store, name, value) in [
        (3u8, "fistp 32767.5", (0xffffu64 << 48, 0x3fff + 14)),
        (1, "fisttp 32768.5", (0x8000_8000_0000_0000, 0x3fff + 15)),
    ] {
        let mut op = x87_abs(&[0xdf], store, 16); // fist(t)p word [DATA + 16]
        op.extend(FNSTSW_AX);
        let uc = x87_on(value.0, value.1, &op);
        assert_eq!(
            uc.mem_read_as_vec(DATA + 16, 2).unwrap(),
            [0x00, 0x80],
            "{name} stores the indefinite"
        );
        let flags = uc.reg_read(RegisterX86::RAX).unwrap() as u16 & FLAGS;
        assert_eq!(flags, IE, "{name}");
    }
}

/// 0025: with the memory map changed in place, regions mapped and unmapped
/// in any order, small ones inside the space a large one left (whose page
/// table entries were whole 2 MiB and 1 GiB leaves), stay reachable and
/// removed ones fault.
#[test]
fn incremental_memory_map_keeps_every_region_reachable() {
    const BASE: u64 = 0x4000_0000;
    const LARGE: u64 = 0x8000_0000;
    const LARGE_LEN: u64 = 1 << 30;
    let mut uc = x86_64_loader_engine();
    engine_ctl::set_incremental_memory_map(&mut uc).unwrap();
    let slots: Vec<u64> = (0..300u64).map(|i| (i * 7919) % 300).collect();
    for &slot in &slots {
        let addr = BASE + slot * 2 * PAGE;
        uc.mem_map(addr, PAGE, Prot::READ | Prot::WRITE).unwrap();
        uc.mem_write(addr, &(slot + 1).to_le_bytes()).unwrap();
    }
    for &slot in slots.iter().filter(|s| *s % 3 == 0) {
        uc.mem_unmap(BASE + slot * 2 * PAGE, PAGE).unwrap();
    }
    uc.mem_map(LARGE, LARGE_LEN, Prot::READ | Prot::WRITE)
        .unwrap();
    uc.mem_write(LARGE + (5 << 20), &9u64.to_le_bytes())
        .unwrap();
    assert_eq!(guest_load(&mut uc, LARGE + (5 << 20)).unwrap(), 9);
    uc.mem_unmap(LARGE, LARGE_LEN).unwrap();
    assert!(guest_load(&mut uc, LARGE + (5 << 20)).is_err());
    // Single pages where the large region's whole-block entries were.
    for i in 0..4u64 {
        let addr = LARGE + i * (3 << 20) + PAGE;
        uc.mem_map(addr, PAGE, Prot::READ | Prot::WRITE).unwrap();
        uc.mem_write(addr, &(0x100 + i).to_le_bytes()).unwrap();
    }
    for i in 0..4u64 {
        let addr = LARGE + i * (3 << 20) + PAGE;
        assert_eq!(guest_load(&mut uc, addr).unwrap(), 0x100 + i);
        assert!(guest_load(&mut uc, addr + PAGE).is_err());
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

/// 0025: an MMIO region above more RAM regions than the target has bytes
/// in a page gets its accesses at the right offsets. The iotlb keeps an
/// MMIO page's section number below the page offset; numbered in address
/// order, the MMIO section's number overflowed into the page bits and
/// moved every access by a page. Checked with the map rebuilt whole and
/// changed in place.
#[test]
fn mmio_above_thousands_of_ram_regions_gets_its_offsets() {
    const RAM: u64 = 0x10_0000;
    const MMIO: u64 = 0x4000_0000;
    for in_place in [false, true] {
        let code = le_words(&[0xe580_1010]); // str r1, [r0, #16]
        let mut uc = engine_with_virtual_tlb(Arch::ARM, Mode::ARM, &code);
        if in_place {
            engine_ctl::set_incremental_memory_map(&mut uc).unwrap();
        }
        for i in 0..4200u64 {
            uc.mem_map(RAM + i * 2 * PAGE, PAGE, Prot::READ | Prot::WRITE)
                .unwrap();
        }
        let stores = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let seen = stores.clone();
        uc.mmio_map(
            MMIO,
            PAGE,
            None::<fn(&mut Unicorn<'_, ()>, u64, usize) -> u64>,
            Some(
                move |_: &mut Unicorn<'_, ()>, off: u64, _: usize, value: u64| {
                    seen.borrow_mut().push((off, value));
                },
            ),
        )
        .unwrap();
        uc.reg_write(RegisterARM::R0, MMIO + 0x20).unwrap();
        uc.reg_write(RegisterARM::R1, 0x55).unwrap();
        uc.emu_start(CODE, CODE + 4, 0, 0).unwrap();
        assert_eq!(*stores.borrow(), vec![(0x30, 0x55)], "in place: {in_place}");
    }
}

/// 0026: a file mapped into the guest (`mem_map_ptr`) that shrinks under
/// it faults on the host (SIGBUS). `uc_host_fault`, called from the SIGBUS
/// handler (`ht_user::mem::host_fault`), turns that into an unmapped-memory
/// stop at the faulting instruction, for an access from translated code
/// (the TLB already held the page) and from the engine's store helper (it
/// did not). The pristine engine has no such call: the process dies.
#[test]
fn a_host_fault_on_guest_memory_stops_at_the_faulting_instruction() {
    use ht_user::mem::host_fault;
    const FILE: u64 = 0x40000;
    let code = [
        0x48, 0xc7, 0xc2, 0x01, 0x00, 0x00, 0x00, // mov rdx, 1
        0x48, 0x8b, 0x01, // mov rax, [rcx]
        0x48, 0x89, 0x06, // mov [rsi], rax
        0x48, 0xff, 0xc2, // inc rdx
    ];
    let mapping = SharedFileMapping::new(3);
    let mut uc = x86_64_engine(&code);
    // SAFETY: the mapping is 3 pages of live memory, declared before `uc`,
    // so it outlives it.
    unsafe { uc.mem_map_ptr(FILE, 3 * PAGE, Prot::READ | Prot::WRITE, mapping.host) }.unwrap();
    host_fault::install().unwrap();
    let run = |uc: &mut Unicorn<'static, ()>| {
        host_fault::enter_engine(uc.get_handle());
        let result = uc.emu_start(CODE, CODE + code.len() as u64, 0, 0);
        host_fault::leave_engine();
        result
    };
    // The load's page is in the TLB, the store's page is not.
    uc.reg_write(RegisterX86::RCX, FILE + PAGE).unwrap();
    uc.reg_write(RegisterX86::RSI, FILE + 8).unwrap();
    run(&mut uc).unwrap();
    assert_eq!(uc.reg_read(RegisterX86::RDX).unwrap(), 2);

    mapping.file.set_len(PAGE).unwrap();
    let result = run(&mut uc);
    assert_eq!(
        result,
        Err(unicorn_engine::unicorn_const::uc_error::READ_UNMAPPED)
    );
    assert_eq!(host_fault::take_guest_fault(), Some((FILE + PAGE, false)));
    assert_eq!(
        uc.reg_read(RegisterX86::RIP).unwrap(),
        CODE + 7,
        "pc at the load"
    );
    assert_eq!(
        uc.reg_read(RegisterX86::RDX).unwrap(),
        1,
        "nothing after it ran"
    );

    uc.reg_write(RegisterX86::RCX, FILE).unwrap();
    uc.reg_write(RegisterX86::RSI, FILE + 2 * PAGE + 8).unwrap();
    let result = run(&mut uc);
    assert_eq!(
        result,
        Err(unicorn_engine::unicorn_const::uc_error::WRITE_UNMAPPED)
    );
    assert_eq!(
        host_fault::take_guest_fault(),
        Some((FILE + 2 * PAGE + 8, true))
    );
    assert_eq!(
        uc.reg_read(RegisterX86::RIP).unwrap(),
        CODE + 10,
        "pc at the store"
    );
    assert_eq!(uc.reg_read(RegisterX86::RDX).unwrap(), 1);
}

/// The ten bytes stored at DATA + `offset` (a packed BCD number).
fn x87_bytes(uc: &Unicorn<'_, ()>, offset: u64) -> Vec<u8> {
    uc.mem_read_as_vec(DATA + offset, 10).unwrap()
}

/// Data for `run_x87`: 80-bit values at offsets 0, 16, 32, ... and a
/// control word at 96.
fn x87_data(values: &[(u64, u16)], control_word: u16) -> Vec<u8> {
    let mut data = vec![0u8; 128];
    for (i, (significand, sign_exponent)) in values.iter().enumerate() {
        data[i * 16..i * 16 + 8].copy_from_slice(&significand.to_le_bytes());
        data[i * 16 + 8..i * 16 + 10].copy_from_slice(&sign_exponent.to_le_bytes());
    }
    data[96..98].copy_from_slice(&control_word.to_le_bytes());
    data
}

const X87_ONE: (u64, u16) = (1 << 63, 0x3fff);
const X87_INF: (u64, u16) = (1 << 63, 0x7fff);
/// A signalling NaN: integer bit set, quiet bit clear, a payload.
const X87_SNAN: (u64, u16) = (0xa000_0000_0000_0000, 0x7fff);

fn x87_quiet_nan((significand, sign_exponent): (u64, u16)) -> bool {
    sign_exponent & 0x7fff == 0x7fff && significand >> 62 == 3
}

/// 0027: converting a signalling NaN between float or double and the x87's
/// 80-bit format gives a quiet NaN (QEMU's `test-i386-snan-convert`); the
/// engine kept it signalling.
#[test]
fn x87_conversions_quiet_signalling_nans() {
    // fld dword [DATA + 64]; fstp tbyte [DATA + 16]
    let mut code = x87_abs(&[0xd9], 0, 64);
    code.extend(x87_abs(&[0xdb], 7, 16));
    let mut data = x87_data(&[], 0x37f);
    data[64..68].copy_from_slice(&0x7fa0_0000u32.to_le_bytes());
    let uc = run_x87(&code, &data);
    assert!(x87_quiet_nan(x87_stored(&uc, 16)), "float -> long double");
    // fld qword [DATA + 64]; fstp tbyte [DATA + 16]
    let mut code = x87_abs(&[0xdd], 0, 64);
    code.extend(x87_abs(&[0xdb], 7, 16));
    data[64..72].copy_from_slice(&0x7ff4_0000_0000_0000u64.to_le_bytes());
    let uc = run_x87(&code, &data);
    assert!(x87_quiet_nan(x87_stored(&uc, 16)), "double -> long double");
    // fstp dword [DATA + 16] / fstp qword [DATA + 16] of an 80-bit sNaN
    let uc = x87_on(X87_SNAN.0, X87_SNAN.1, &x87_abs(&[0xd9], 3, 16));
    let single = u32::from_le_bytes(
        uc.mem_read_as_vec(DATA + 16, 4)
            .unwrap()
            .try_into()
            .unwrap(),
    );
    assert_eq!(
        single & 0x7fc0_0000,
        0x7fc0_0000,
        "long double -> float: {single:#x}"
    );
    let uc = x87_on(X87_SNAN.0, X87_SNAN.1, &x87_abs(&[0xdd], 3, 16));
    let double = u64::from_le_bytes(
        uc.mem_read_as_vec(DATA + 16, 8)
            .unwrap()
            .try_into()
            .unwrap(),
    );
    assert_eq!(
        double >> 51 & 0xfff,
        0xfff,
        "long double -> double: {double:#x}"
    );
}

/// 0028: a pseudo-denormal (exponent 0, integer bit set) has the value
/// 2^-16382 in addition, comparison and rounding to an integer (QEMU's
/// `test-i386-pseudo-denormal`); the engine added two of them to zero,
/// found one unequal to 2^-16382 and rounded it up to zero.
#[test]
fn x87_pseudo_denormal_operands() {
    const PSEUDO: (u64, u16) = (1 << 63, 0);
    const TWO_TO_MINUS_16382: (u64, u16) = (1 << 63, 1);
    // fld tbyte [DATA]; fld st(0); faddp; fstp tbyte [DATA + 32]
    let mut code = x87_abs(&[0xdb], 5, 0);
    code.extend([0xd9, 0xc0, 0xde, 0xc1]);
    code.extend(x87_abs(&[0xdb], 7, 32));
    let uc = run_x87(&code, &x87_data(&[PSEUDO], 0x37f));
    assert_eq!(x87_stored(&uc, 32), (1 << 63, 2), "sum is 2^-16381");
    // fld tbyte [DATA]; fld tbyte [DATA + 16]; fucomip st(1); sete al
    let mut code = x87_abs(&[0xdb], 5, 0);
    code.extend(x87_abs(&[0xdb], 5, 16));
    code.extend([0xdf, 0xe9, 0x0f, 0x94, 0xc0]);
    let uc = run_x87(&code, &x87_data(&[PSEUDO, TWO_TO_MINUS_16382], 0x37f));
    assert_eq!(uc.reg_read(RegisterX86::RAX).unwrap() & 0xff, 1, "equal");
    // fldcw [DATA + 96] (round up); fld tbyte [DATA]; frndint; fstp tbyte [DATA + 32]
    let mut code = x87_abs(&[0xd9], 5, 96);
    code.extend(x87_abs(&[0xdb], 5, 0));
    code.extend([0xd9, 0xfc]);
    code.extend(x87_abs(&[0xdb], 7, 32));
    let uc = run_x87(&code, &x87_data(&[PSEUDO], 0xb7f));
    assert_eq!(x87_stored(&uc, 32), X87_ONE, "rounds up to 1");
}

/// 0029: fbstp keeps the operand's sign on a zero result and stores the
/// packed BCD indefinite for a NaN, an infinity, an invalid encoding or
/// more than 18 digits (QEMU's `test-i386-fbstp`); the engine dropped the
/// sign of -0 and stored wrapped digits or zeros.
#[test]
fn x87_fbstp_sign_and_indefinite() {
    const INDEFINITE: [u8; 10] = [0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff];
    let fbstp = |value: (u64, u16)| {
        // fbstp [DATA + 16]
        let uc = x87_on(value.0, value.1, &x87_abs(&[0xdf], 6, 16));
        x87_bytes(&uc, 16)
    };
    let mut negative_zero = [0u8; 10];
    negative_zero[9] = 0x80;
    assert_eq!(fbstp((0, 0x8000)), negative_zero, "-0");
    // -0.1 rounds to -0.
    assert_eq!(
        fbstp((0xcccc_cccc_cccc_cccd, 0x8000 | 0x3ffb)),
        negative_zero,
        "-0.1"
    );
    // 987654321987654321
    let n: u64 = 987_654_321_987_654_321;
    let shift = n.leading_zeros();
    let value = (n << shift, 0x3fff + 63 - shift as u16);
    assert_eq!(
        fbstp(value),
        [0x21, 0x43, 0x65, 0x87, 0x19, 0x32, 0x54, 0x76, 0x98, 0x00],
        "18 digits"
    );
    let ten_to_18: u64 = 1_000_000_000_000_000_000;
    let shift = ten_to_18.leading_zeros();
    let big = (ten_to_18 << shift, 0x3fff + 63 - shift as u16);
    for (value, name) in [
        (big, "10^18"),
        ((big.0, big.1 | 0x8000), "-10^18"),
        (X87_INF, "inf"),
        ((3 << 62, 0x7fff), "NaN"),
        ((1, 1234), "unnormal"),
    ] {
        assert_eq!(fbstp(value), INDEFINITE, "{name}");
    }
}

/// 0030: fscale by an infinity, a NaN or an invalid encoding gives what
/// the CPU gives (QEMU's `test-i386-fscale`), and its result is not
/// rounded to the precision control; the engine truncated the scale to a
/// saturated int32, kept signalling NaNs and rounded to 24 bits.
#[test]
fn x87_fscale_special_operands_and_precision() {
    // fldcw [DATA + 96]; fld tbyte [DATA + 16] (scale); fld tbyte [DATA];
    // fscale; fstp tbyte [DATA + 32]
    let fscale = |value: (u64, u16), scale: (u64, u16), control_word: u16| {
        let mut code = x87_abs(&[0xd9], 5, 96);
        code.extend(x87_abs(&[0xdb], 5, 16));
        code.extend(x87_abs(&[0xdb], 5, 0));
        code.extend([0xd9, 0xfd]);
        code.extend(x87_abs(&[0xdb], 7, 32));
        let uc = run_x87(&code, &x87_data(&[value, scale], control_word));
        x87_stored(&uc, 32)
    };
    let two_and_a_half = (5 << 61, 0x4000);
    for (scale, name) in [
        (X87_SNAN, "sNaN"),
        ((1, 1234), "unnormal"),
        ((0, 0x7fff), "pseudo-infinity"),
    ] {
        assert!(
            x87_quiet_nan(fscale(two_and_a_half, scale, 0x37f)),
            "{name}"
        );
    }
    assert!(x87_quiet_nan(fscale((0, 0), X87_INF, 0x37f)), "0 * 2^inf");
    assert!(
        x87_quiet_nan(fscale(X87_INF, (X87_INF.0, 0xffff), 0x37f)),
        "inf * 2^-inf"
    );
    assert_eq!(fscale(X87_ONE, X87_INF, 0x77f), X87_INF, "1 * 2^inf");
    assert_eq!(
        fscale((X87_ONE.0, 0xbfff), (X87_INF.0, 0xffff), 0x77f),
        (0, 0x8000),
        "-1 * 2^-inf"
    );
    // Single-precision control: 0xffff... * 2 keeps all 64 bits.
    assert_eq!(
        fscale((u64::MAX, 0x3fff), X87_ONE, 0x07f),
        (u64::MAX, 0x4000),
        "not rounded to 24 bits"
    );
}

/// 0033: the x86 "max" model reports and runs every extension the
/// translator has: 3DNow! (CPUID 0x80000001 EDX bit 31), SSE4.2 and
/// POPCNT (CPUID 1 ECX bits 20 and 23); `pfadd` runs (no model of the
/// pristine engine has both 3DNow! and SSE4.2, and there is no "max").
#[test]
fn x86_max_model_has_every_translated_extension() {
    // mov eax, 0x80000001; cpuid; mov r8, rdx
    // mov eax, 1; cpuid; mov r9, rcx
    // mov eax, 1.0f; movd mm0, eax; mov eax, 2.0f; movd mm1, eax
    // pfadd mm0, mm1; movd eax, mm0
    let code = [
        0xb8, 0x01, 0x00, 0x00, 0x80, 0x0f, 0xa2, 0x49, 0x89, 0xd0, 0xb8, 0x01, 0x00, 0x00, 0x00,
        0x0f, 0xa2, 0x49, 0x89, 0xc9, 0xb8, 0x00, 0x00, 0x80, 0x3f, 0x0f, 0x6e, 0xc0, 0xb8, 0x00,
        0x00, 0x00, 0x40, 0x0f, 0x6e, 0xc8, 0x0f, 0x0f, 0xc1, 0x9e, 0x0f, 0x7e, 0xc0,
    ];
    let mut uc = Unicorn::new(Arch::X86, Mode::MODE_64).unwrap();
    uc.ctl_set_cpu_model(unicorn_engine_sys::X86CpuModel::MAX as i32)
        .expect("the max model exists");
    uc.mem_map(CODE, PAGE, Prot::ALL).unwrap();
    uc.mem_write(CODE, &code).unwrap();
    uc.emu_start(CODE, CODE + code.len() as u64, 0, 0)
        .expect("3DNow! runs");
    let ext_edx = uc.reg_read(RegisterX86::R8).unwrap();
    let ecx = uc.reg_read(RegisterX86::R9).unwrap();
    assert_ne!(ext_edx & 1 << 31, 0, "3DNow! in CPUID");
    assert_ne!(ecx & 1 << 20, 0, "SSE4.2 in CPUID");
    assert_ne!(ecx & 1 << 23, 0, "POPCNT in CPUID");
    assert_eq!(
        uc.reg_read(RegisterX86::EAX).unwrap(),
        3.0f32.to_bits() as u64
    );
}

/// 0034: horizontal adds and subtracts with the same register as source
/// and destination read the source's pairs before they are overwritten
/// (the pristine engine summed the already-written low half again).
#[test]
fn x86_horizontal_add_with_itself() {
    // movq mm0, [rbx]; phaddw mm0, mm0; movq [rbx+16], mm0
    // movdqu xmm1, [rbx]; phaddd xmm1, xmm1; movdqu [rbx+32], xmm1
    // movdqu xmm2, [rbx]; phsubsw xmm2, xmm2; movdqu [rbx+48], xmm2
    let code = [
        0x0f, 0x6f, 0x03, 0x0f, 0x38, 0x01, 0xc0, 0x0f, 0x7f, 0x43, 0x10, 0xf3, 0x0f, 0x6f, 0x0b,
        0x66, 0x0f, 0x38, 0x02, 0xc9, 0xf3, 0x0f, 0x7f, 0x4b, 0x20, 0xf3, 0x0f, 0x6f, 0x13, 0x66,
        0x0f, 0x38, 0x07, 0xd2, 0xf3, 0x0f, 0x7f, 0x53, 0x30,
    ];
    let mut uc = x86_64_engine(&code);
    let words: Vec<u8> = (1u16..=8).flat_map(|w| w.to_le_bytes()).collect();
    uc.mem_write(DATA, &words).unwrap();
    uc.emu_start(CODE, CODE + code.len() as u64, 0, 0).unwrap();
    let mut out = [0u8; 64];
    uc.mem_read(DATA, &mut out).unwrap();
    let w16 = |at: usize, n: usize| -> Vec<i16> {
        (0..n)
            .map(|i| i16::from_le_bytes([out[at + 2 * i], out[at + 2 * i + 1]]))
            .collect()
    };
    let w32 = |at: usize| -> Vec<u32> {
        (0..4)
            .map(|i| u32::from_le_bytes(out[at + 4 * i..at + 4 * i + 4].try_into().unwrap()))
            .collect()
    };
    assert_eq!(w16(16, 4), [3, 7, 3, 7], "phaddw mm0, mm0");
    assert_eq!(
        w32(32),
        [0x0006_0004, 0x000e_000c, 0x0006_0004, 0x000e_000c],
        "phaddd xmm1, xmm1"
    );
    assert_eq!(w16(48, 8), [-1; 8], "phsubsw xmm2, xmm2");
}

/// 0036: an x86 exception an interrupt hook takes counts as delivered.
/// Before, the engine kept it as the exception being delivered, so the
/// next fault became a double fault (interrupt 8) and the one after a
/// triple fault that silently halted the CPU: a guest taking a third
/// SIGSEGV (or SIGFPE) in a row died of it.
#[test]
fn x86_faults_in_a_row_stay_what_they_are() {
    // mov eax, 0x91a1 (a selector past the GDT's limit); mov fs, eax x4
    let code = [
        0xb8, 0xa1, 0x91, 0x00, 0x00, 0x8e, 0xe0, 0x8e, 0xe0, 0x8e, 0xe0, 0x8e, 0xe0,
    ];
    let mut uc = Unicorn::new(Arch::X86, Mode::MODE_32).unwrap();
    uc.mem_map(CODE, PAGE, Prot::ALL).unwrap();
    uc.mem_write(CODE, &code).unwrap();
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let log = seen.clone();
    uc.add_intr_hook(move |uc, intno| {
        log.borrow_mut().push(intno);
        // As a signal handler that skips the instruction would.
        let eip = uc.reg_read(RegisterX86::EIP).unwrap();
        uc.reg_write(RegisterX86::EIP, eip + 2).unwrap();
    })
    .unwrap();
    uc.emu_start(CODE, CODE + code.len() as u64, 0, 0).unwrap();
    assert_eq!(*seen.borrow(), [13, 13, 13, 13], "four #GP faults");
    assert_eq!(
        uc.reg_read(RegisterX86::EIP).unwrap(),
        CODE + code.len() as u64
    );
}

/// 0035: a 32-bit x86 guest runs at privilege level 3 as under Linux
/// (ring 3 code and stack segments), where `cli` is privileged; an
/// interrupt hook reads each exception's error code.
#[test]
fn x86_user_mode_runs_at_privilege_level_3() {
    const GDT: u64 = 0x30000;
    // mov eax, 0x91a1; mov fs, eax (a selector past the GDT); cli
    let code = [0xb8, 0xa1, 0x91, 0x00, 0x00, 0x8e, 0xe0, 0xfa];
    let mut uc = Unicorn::new(Arch::X86, Mode::MODE_32).unwrap();
    uc.mem_map(CODE, PAGE, Prot::ALL).unwrap();
    uc.mem_map(DATA, PAGE, Prot::READ | Prot::WRITE).unwrap();
    uc.mem_map(GDT, PAGE, Prot::READ).unwrap();
    uc.mem_write(CODE, &code).unwrap();
    // Flat ring 3 code and data descriptors in slots 4 and 5.
    uc.mem_write(GDT + 4 * 8, &0x00cf_fb00_0000_ffffu64.to_le_bytes())
        .unwrap();
    uc.mem_write(GDT + 5 * 8, &0x00cf_f300_0000_ffffu64.to_le_bytes())
        .unwrap();
    let mut gdtr = [0u8; 24];
    gdtr[8..16].copy_from_slice(&GDT.to_le_bytes());
    gdtr[16..20].copy_from_slice(&(16u32 * 8 - 1).to_le_bytes());
    uc.reg_write_long(RegisterX86::GDTR, &gdtr).unwrap();
    uc.reg_write(RegisterX86::CS, 0x23).unwrap();
    uc.reg_write(RegisterX86::DS, 0x2b).unwrap();
    // A ring 3 stack segment cannot be loaded at level 0.
    assert!(uc.reg_write(RegisterX86::SS, 0x2b).is_err());
    uc.reg_write(RegisterX86::CPL, 3).unwrap();
    uc.reg_write(RegisterX86::SS, 0x2b).unwrap();
    assert_eq!(uc.reg_read(RegisterX86::CPL).unwrap(), 3);
    uc.reg_write(RegisterX86::ESP, DATA + PAGE).unwrap();
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let log = seen.clone();
    uc.add_intr_hook(move |uc, intno| {
        let error = uc.reg_read(RegisterX86::EXCP_ERROR_CODE).unwrap();
        let eip = uc.reg_read(RegisterX86::EIP).unwrap();
        log.borrow_mut().push((intno, error, eip - CODE));
        let len = if eip - CODE == 5 { 2 } else { 1 };
        uc.reg_write(RegisterX86::EIP, eip + len).unwrap();
    })
    .unwrap();
    uc.emu_start(CODE, CODE + code.len() as u64, 0, 0).unwrap();
    assert_eq!(
        *seen.borrow(),
        [(13, 0x91a0, 5), (13, 0, 7)],
        "#GP with the selector's error code, then #GP for cli"
    );
}

/// `insn` on this machine's CPU, with `st0` in ST0 and, for the
/// two-operand forms, `st1` in ST1 (which they pop): the 80-bit result
/// and the status word, from the default control word (0x037f).
macro_rules! host_x87 {
    (unary $insn:literal, $st0:expr) => {{
        let st0: [u8; 10] = $st0;
        let mut out = [0u8; 10];
        let mut status = 0u16;
        // SAFETY: the asm reads 10 bytes at `st0` and writes 10 at `out`
        // and 2 at `status`, all live locals; it leaves the x87 stack
        // empty, as it found it, and the control word at its default.
        unsafe {
            std::arch::asm!(
                "fninit",
                "fld tbyte ptr [{x}]",
                $insn,
                "fstp tbyte ptr [{o}]",
                "fnstsw word ptr [{s}]",
                "fninit",
                x = in(reg) st0.as_ptr(),
                o = in(reg) out.as_mut_ptr(),
                s = in(reg) &mut status as *mut u16,
                out("st(0)") _,
                out("st(1)") _,
            );
        }
        (out, status)
    }};
    (binary $insn:literal, $st1:expr, $st0:expr) => {{
        let (st1, st0): ([u8; 10], [u8; 10]) = ($st1, $st0);
        let mut out = [0u8; 10];
        let mut status = 0u16;
        // SAFETY: as above, with 10 more bytes read at `st1`.
        unsafe {
            std::arch::asm!(
                "fninit",
                "fld tbyte ptr [{y}]",
                "fld tbyte ptr [{x}]",
                $insn,
                "fstp tbyte ptr [{o}]",
                "fnstsw word ptr [{s}]",
                "fninit",
                x = in(reg) st0.as_ptr(),
                y = in(reg) st1.as_ptr(),
                o = in(reg) out.as_mut_ptr(),
                s = in(reg) &mut status as *mut u16,
                out("st(0)") _,
                out("st(1)") _,
            );
        }
        (out, status)
    }};
}

/// An 80-bit value from its significand and sign/exponent.
fn x87_value(significand: u64, sign_exponent: u16) -> [u8; 10] {
    let mut b = [0u8; 10];
    b[..8].copy_from_slice(&significand.to_le_bytes());
    b[8..].copy_from_slice(&sign_exponent.to_le_bytes());
    b
}

/// The engine's result and status word for x87 `op` with `st0` at DATA
/// and `st1` at DATA + 16 (loaded first when `two_operands`): after
/// fninit, `fld`, `op`, `fstp tbyte [DATA + 32]`, `fnstsw ax`.
fn engine_x87(op: [u8; 2], two_operands: bool, st1: [u8; 10], st0: [u8; 10]) -> ([u8; 10], u16) {
    let mut code = vec![0xdb, 0xe3]; // fninit
    if two_operands {
        code.extend(x87_abs(&[0xdb], 5, 16));
    }
    code.extend(x87_abs(&[0xdb], 5, 0));
    code.extend(op);
    code.extend(x87_abs(&[0xdb], 7, 32));
    code.extend([0xdf, 0xe0]); // fnstsw ax
    let mut data = st0.to_vec();
    data.resize(16, 0);
    data.extend(st1);
    let uc = run_x87(&code, &data);
    let out: [u8; 10] = uc
        .mem_read_as_vec(DATA + 32, 10)
        .unwrap()
        .try_into()
        .unwrap();
    (out, uc.reg_read(RegisterX86::RAX).unwrap() as u16)
}

/// 0037: f2xm1, fyl2x, fyl2xp1 and fpatan give the results and the
/// exception flags (and C1) this machine's CPU gives for the same
/// operands, bit for bit; the engine computed them in double precision
/// (the low 11 bits of every significand were 0) and raised no flag.
#[test]
fn x87_transcendentals_match_the_cpu() {
    // Exceptions and C1.
    const FLAGS: u16 = 0x023f;
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };

    for _ in 0..200 {
        let sig = next() | 1 << 63;
        let other = next() | 1 << 63;
        let sign = if next() & 1 == 0 { 0 } else { 0x8000 };
        let spread = (next() % 64) as u16;
        // f2xm1 takes |x| < 1; fyl2xp1 |x| < 1 - sqrt(2)/2.
        let small = x87_value(sig, sign | (0x3ffe - spread));
        let tiny = x87_value(sig, sign | (0x3ffc - spread));
        let positive = x87_value(sig, 0x3fff - 32 + spread);
        let any = x87_value(other, sign | (0x3fff - 32 + spread));
        let checks = [
            (
                "f2xm1",
                engine_x87([0xd9, 0xf0], false, [0; 10], small),
                host_x87!(unary "f2xm1", small),
            ),
            (
                "fyl2x",
                engine_x87([0xd9, 0xf1], true, any, positive),
                host_x87!(binary "fyl2x", any, positive),
            ),
            (
                "fyl2xp1",
                engine_x87([0xd9, 0xf9], true, any, tiny),
                host_x87!(binary "fyl2xp1", any, tiny),
            ),
            (
                "fpatan",
                engine_x87([0xd9, 0xf3], true, any, small),
                host_x87!(binary "fpatan", any, small),
            ),
        ];
        for (name, (engine, engine_sw), (cpu, cpu_sw)) in checks {
            assert_eq!(engine, cpu, "{name}: result");
            assert_eq!(engine_sw & FLAGS, cpu_sw & FLAGS, "{name}: status word");
        }
    }
    // The special operands: log of a negative number and of zero.
    let minus_one = x87_value(1 << 63, 0xbfff);
    let zero = x87_value(0, 0);
    let three = x87_value(3 << 62, 0x4000);
    for (st0, name) in [(minus_one, "log2(-1)"), (zero, "log2(0)")] {
        let (engine, engine_sw) = engine_x87([0xd9, 0xf1], true, three, st0);
        let (cpu, cpu_sw) = host_x87!(binary "fyl2x", three, st0);
        assert_eq!(engine, cpu, "{name}");
        assert_eq!(engine_sw & FLAGS, cpu_sw & FLAGS, "{name}: status word");
        assert_ne!(cpu_sw & 0x05, 0, "{name} raises invalid or divide-by-zero");
    }
}

/// Runs `adr x16, target; br x16; target: nop; mov x0, #1` on the engine's
/// aarch64 "max" model, with the TLB fill adding `extra` to the code
/// page's permissions: gives x0 and the pc of the first exception, if any.
fn branch_into_code_page(extra: u32) -> (u64, Option<u64>) {
    use unicorn_engine::unicorn_const::Prot;
    use unicorn_engine::RegisterARM64;
    let code = le_words(&[0x1000_0050, 0xd61f_0200, 0xd503_201f, 0xd280_0020]);
    let mut uc = Unicorn::new(Arch::ARM64, Mode::ARM).expect("engine");
    uc.ctl_set_cpu_model(3).unwrap(); // max: has BTI
    uc.mem_map(CODE, PAGE, Prot::READ | Prot::EXEC).unwrap();
    uc.mem_write(CODE, &code).unwrap();
    uc.ctl_set_tlb_type(TlbType::VIRTUAL).unwrap();
    uc.add_tlb_hook(0, u64::MAX, move |_, addr, _: MemType| {
        let perms = Prot((Prot::READ | Prot::EXEC).0 | extra);
        Some(TlbEntry { paddr: addr, perms })
    })
    .unwrap();
    let seen = std::rc::Rc::new(std::cell::Cell::new(None));
    let record = seen.clone();
    uc.add_intr_hook(move |uc, _intno| {
        record.set(Some(uc.reg_read(RegisterARM64::PC).unwrap()));
        uc.emu_stop().unwrap();
    })
    .unwrap();
    let _ = uc.emu_start(CODE, CODE + code.len() as u64, 0, 0);
    (uc.reg_read(RegisterARM64::X0).unwrap(), seen.get())
}

/// 0038: a TLB fill that marks an AArch64 code page guarded
/// (`UC_TLB_ARM64_GUARDED`) makes an indirect branch to an instruction
/// other than a branch target identifier there raise the Branch Target
/// exception, at the target; unmarked, the same code runs to its end.
/// Without the patch the engine had no way to learn that a page is
/// guarded, so no branch ever faulted.
#[test]
fn aarch64_guarded_pages_come_from_the_tlb_fill() {
    assert_eq!(branch_into_code_page(0), (1, None), "not guarded");
    let guarded = unicorn_engine_sys::UC_TLB_ARM64_GUARDED;
    assert_eq!(
        branch_into_code_page(guarded),
        (0, Some(CODE + 8)),
        "guarded: the nop at the branch target faults"
    );
}

/// 0039: SVE2's `ldnt1h {z1.d}, p0/z, [z0.d, x1]` (vector plus scalar)
/// gathers from each element's address plus the scalar; the engine's
/// QEMU 5.0 decoder had no such instruction (an undefined-instruction
/// exception). Run on the "max" model with SVE enabled as ht-user enables
/// it for a process.
#[test]
fn aarch64_sve2_ldnt1_gathers_vector_plus_scalar() {
    use unicorn_engine::unicorn_const::Prot;
    use unicorn_engine::{RegisterARM64, RegisterARM64CP};
    // ptrue p0.d, vl1; mov z0.d, x0; ldnt1h {z1.d}, p0/z, [z0.d, x1];
    // fmov x2, d1
    let code = le_words(&[0x25d8_e020, 0x05e0_3800, 0xc481_c001, 0x9e66_0022]);
    let mut uc = Unicorn::new(Arch::ARM64, Mode::ARM).expect("engine");
    uc.ctl_set_cpu_model(3).unwrap(); // max: has SVE
    uc.mem_map(CODE, PAGE, Prot::READ | Prot::EXEC).unwrap();
    uc.mem_map(DATA, PAGE, Prot::READ | Prot::WRITE).unwrap();
    uc.mem_write(CODE, &code).unwrap();
    uc.mem_write(DATA + 6, &[0x34, 0x12]).unwrap();
    let sysreg = |op1: u32, crm: u32, op2: u32, val: u64| {
        RegisterARM64CP::new()
            .op0(3)
            .op1(op1)
            .crn(1)
            .crm(crm)
            .op2(op2)
            .val(val)
    };
    // CPTR_EL3.EZ, CPACR_EL1.ZEN (and FPEN), ZCR_EL1/2/3.LEN = 3.
    for reg in [
        sysreg(6, 1, 2, 1 << 8),
        sysreg(0, 0, 2, 3 << 16 | 3 << 20),
        sysreg(0, 2, 0, 3),
        sysreg(4, 2, 0, 3),
        sysreg(6, 2, 0, 3),
    ] {
        uc.reg_write_arm64_coproc(&reg).unwrap();
    }
    uc.reg_write(RegisterARM64::X0, DATA).unwrap();
    uc.reg_write(RegisterARM64::X1, 6).unwrap();
    let trapped = std::rc::Rc::new(std::cell::Cell::new(false));
    let seen = trapped.clone();
    uc.add_intr_hook(move |uc, _| {
        seen.set(true);
        uc.emu_stop().unwrap();
    })
    .unwrap();
    let _ = uc.emu_start(CODE, CODE + code.len() as u64, 0, 0);
    assert!(
        !trapped.get(),
        "an exception: the instruction is not decoded"
    );
    assert_eq!(uc.reg_read(RegisterARM64::X2).unwrap(), 0x1234);
}

/// Runs LSE's signed `ldsmax w1, w2, [x0]; ldsmin w3, w4, [x0];
/// ldsmaxb w5, w6, [x7]; ldsmin x8, x9, [x10]` on the "max" model, with
/// serial or parallel-safe translation; returns the word at DATA, the byte
/// at DATA + 8, the doubleword at DATA + 16 and x2, x4, x6, x9.
fn aarch64_signed_min_max(parallel: bool) -> (u32, u8, u64, [u64; 4]) {
    use unicorn_engine::RegisterARM64;
    let code = le_words(&[0xb821_4002, 0xb823_5004, 0x3825_40e6, 0xf828_5149]);
    let mut uc = Unicorn::new(Arch::ARM64, Mode::ARM).expect("engine");
    uc.ctl_set_cpu_model(unicorn_engine::Arm64CpuModel::MAX as i32)
        .unwrap();
    engine_ctl::set_tcg_parallel(&mut uc, parallel).unwrap();
    uc.mem_map(CODE, PAGE, Prot::READ | Prot::EXEC).unwrap();
    uc.mem_map(DATA, PAGE, Prot::READ | Prot::WRITE).unwrap();
    uc.mem_write(CODE, &code).unwrap();
    uc.mem_write(DATA, &(-5i32).to_le_bytes()).unwrap();
    uc.mem_write(DATA + 8, &[0x80]).unwrap();
    uc.mem_write(DATA + 16, &(-1i64).to_le_bytes()).unwrap();
    for (reg, value) in [
        (RegisterARM64::X0, DATA),
        // w1 = 3: the register's upper half is ignored.
        (RegisterARM64::X1, 0xffff_ffff_0000_0003),
        // w3 = -7, zero-extended as a 32-bit write leaves it.
        (RegisterARM64::X3, u64::from((-7i32) as u32)),
        (RegisterARM64::X5, 0x7f),
        (RegisterARM64::X7, DATA + 8),
        (RegisterARM64::X8, (-9i64) as u64),
        (RegisterARM64::X10, DATA + 16),
    ] {
        uc.reg_write(reg, value).unwrap();
    }
    uc.emu_start(CODE, CODE + code.len() as u64, 0, 0)
        .expect("runs");
    let mut word = [0u8; 4];
    uc.mem_read(DATA, &mut word).unwrap();
    let mut byte = [0u8; 1];
    uc.mem_read(DATA + 8, &mut byte).unwrap();
    let mut dword = [0u8; 8];
    uc.mem_read(DATA + 16, &mut dword).unwrap();
    let regs = [
        RegisterARM64::X2,
        RegisterARM64::X4,
        RegisterARM64::X6,
        RegisterARM64::X9,
    ]
    .map(|r| uc.reg_read(r).unwrap());
    (
        u32::from_le_bytes(word),
        byte[0],
        u64::from_le_bytes(dword),
        regs,
    )
}

/// 0041: LSE's signed minimum and maximum (`ldsmax`, `ldsmin` and their
/// byte and halfword forms) compare as signed numbers of the access size.
/// Serial translation compared the zero-extended 64-bit values, so
/// `ldsmax` of -5 and 3 stored -5; the old value reaches Rt zero-extended
/// either way.
#[test]
fn aarch64_lse_signed_min_max_compare_signed() {
    for parallel in [false, true] {
        let (word, byte, dword, [x2, x4, x6, x9]) = aarch64_signed_min_max(parallel);
        let mode = if parallel { "parallel" } else { "serial" };
        assert_eq!(word as i32, -7, "{mode}: max(-5, 3) = 3, then min(3, -7)");
        assert_eq!(x2, 0xffff_fffb, "{mode}: ldsmax's old value, zero-extended");
        assert_eq!(x4, 3, "{mode}: ldsmin's old value");
        assert_eq!(byte, 0x7f, "{mode}: max(-128, 127) as bytes");
        assert_eq!(x6, 0x80, "{mode}: ldsmaxb's old value, zero-extended");
        assert_eq!(dword as i64, -9, "{mode}: min(-1, -9)");
        assert_eq!(x9 as i64, -1, "{mode}: ldsmin's old doubleword");
    }
}

/// What a code-page watch was told, and how many stores it still makes
/// leave their block.
struct CodeWatchLog {
    events: std::sync::Mutex<Vec<(u32, u64)>>,
    leaves: std::sync::atomic::AtomicU32,
}

extern "C" fn log_code_page(
    uc: *mut unicorn_engine_sys::uc_engine,
    event: u32,
    page: u64,
    data: *mut std::ffi::c_void,
) -> libc::c_int {
    // SAFETY: the test passes a CodeWatchLog that outlives the engine.
    let log = unsafe { &*data.cast::<CodeWatchLog>() };
    log.events.lock().unwrap().push((event, page));
    let leave = event == engine_ctl::CODE_PAGE_WRITTEN
        && log
            .leaves
            .fetch_update(
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
                |n| n.checked_sub(1),
            )
            .is_ok();
    if leave {
        // SAFETY: the engine running this callback; a stop sets a flag.
        unsafe { unicorn_engine::unicorn_const::uc_emu_stop(uc) };
    }
    libc::c_int::from(leave)
}

/// 0042: the code-page watch is told of each page a block is translated
/// from and of a store to an executable page through the TLB's slow path;
/// a non-zero answer leaves the block before the store (the instructions
/// before it done, the store and those after it not), and the store runs
/// when the engine resumes there.
#[test]
fn code_page_watch_sees_translations_and_can_leave_before_a_store() {
    const TARGET: u64 = CODE + PAGE; // code translated, then written to
    let writer = [
        0xff, 0xd1, //                         call rcx                (translates target)
        0x48, 0xff, 0xc2, //                   inc rdx
        0xc6, 0x03, 0x42, //                   mov byte ptr [rbx], 0x42
        0x48, 0xff, 0xc2, //                   inc rdx
    ];
    let store_at = CODE + 5;
    let target = [0xc3]; // ret
    let mut uc = Unicorn::new(Arch::X86, Mode::MODE_64).unwrap();
    uc.mem_map(CODE, 2 * PAGE, Prot::ALL).unwrap();
    uc.mem_map(DATA, PAGE, Prot::READ | Prot::WRITE).unwrap();
    uc.mem_write(CODE, &writer).unwrap();
    uc.mem_write(TARGET, &target).unwrap();
    let log = CodeWatchLog {
        events: std::sync::Mutex::new(Vec::new()),
        leaves: std::sync::atomic::AtomicU32::new(1),
    };
    // SAFETY: `log` outlives the engine's runs below.
    unsafe {
        engine_ctl::set_code_page_watch(&mut uc, log_code_page, std::ptr::from_ref(&log) as *mut _)
    }
    .unwrap();
    uc.reg_write(RegisterX86::RBX, TARGET + 8).unwrap();
    uc.reg_write(RegisterX86::RCX, TARGET).unwrap();
    uc.reg_write(RegisterX86::RSP, DATA + PAGE).unwrap();
    let end = CODE + writer.len() as u64;
    uc.emu_start(CODE, end, 0, 0).unwrap();
    assert_eq!(uc.pc_read().unwrap(), store_at, "left before the store");
    assert_eq!(
        uc.reg_read(RegisterX86::RDX).unwrap(),
        1,
        "the inc before it ran"
    );
    let mut byte = [0u8];
    uc.mem_read(TARGET + 8, &mut byte).unwrap();
    assert_eq!(byte[0], 0, "the store has not run");
    let (translated, written) = (
        engine_ctl::CODE_PAGE_TRANSLATED,
        engine_ctl::CODE_PAGE_WRITTEN,
    );
    {
        let events = log.events.lock().unwrap();
        assert!(events.contains(&(translated, CODE)), "{events:x?}");
        assert!(events.contains(&(translated, TARGET)), "{events:x?}");
        assert_eq!(events.last(), Some(&(written, TARGET)), "{events:x?}");
    }
    uc.emu_start(store_at, end, 0, 0).unwrap();
    uc.mem_read(TARGET + 8, &mut byte).unwrap();
    assert_eq!(byte[0], 0x42, "the store ran on resuming");
    assert_eq!(
        uc.reg_read(RegisterX86::RDX).unwrap(),
        2,
        "and the inc after it"
    );
    let events = log.events.lock().unwrap();
    assert_eq!(
        events.last(),
        Some(&(written, TARGET)),
        "told again: {events:x?}"
    );
}

/// 0043: `ll` and `lld` asked the CPU's MMU model for the address even
/// with the virtual TLB. The model refuses a 64-bit process's addresses
/// above 2 GiB (xuseg) unless its own TLB maps them, so every lock of a
/// mips64el program faulted; now the access itself translates through
/// the TLB fill hook, as every other load does.
#[test]
fn mips64_load_linked_above_4_gib_uses_the_virtual_tlb() {
    const HIGH: u64 = 0x1_2000_0000;
    let code = le_words(&[
        0xc083_0000, // ll $v1, 0($a0)
        0xd089_0008, // lld $t1, 8($a0)
    ]);
    let mut uc = engine_with_virtual_tlb(Arch::MIPS, Mode::MIPS64 | Mode::LITTLE_ENDIAN, &code);
    uc.mem_map(HIGH, PAGE, Prot::READ | Prot::WRITE).unwrap();
    uc.mem_write(HIGH, &0x8765_4321u32.to_le_bytes()).unwrap();
    uc.mem_write(HIGH + 8, &0x1122_3344_5566_7788u64.to_le_bytes())
        .unwrap();
    uc.reg_write(RegisterMIPS::A0, HIGH).unwrap();
    uc.emu_start(CODE, CODE + code.len() as u64, 0, 0)
        .expect("ll and lld run");
    // ll sign-extends its word.
    assert_eq!(
        uc.reg_read(RegisterMIPS::V1).unwrap(),
        0xffff_ffff_8765_4321
    );
    assert_eq!(
        uc.reg_read(RegisterMIPS::T1).unwrap(),
        0x1122_3344_5566_7788
    );
}

fn be_words(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_be_bytes()).collect()
}

/// A 64-bit PowerPC engine (big-endian, as the engine builds the target)
/// with `code` at CODE and the data page at DATA.
fn ppc64_engine(code: &[u32]) -> Unicorn<'static, ()> {
    let mut uc =
        engine_with_virtual_tlb(Arch::PPC, Mode::PPC64 | Mode::BIG_ENDIAN, &be_words(code));
    // 64-bit mode and the FPU, as a Linux process runs.
    uc.reg_write(unicorn_engine::RegisterPPC::MSR, 1 << 63 | 1 << 13)
        .unwrap();
    uc
}

/// XER's carry, overflow and summary overflow bits.
const XER_SO_OV_CA: u64 = 0xe000_0000;
const XER_CA: u64 = 0x2000_0000;

/// 0044: XER through the API left out SO, OV and CA, which the engine
/// keeps apart from the rest of XER: a carry set by `addic` read back as
/// 0, and one written before `addze` was lost. A signal frame or a thread
/// switch made through the API dropped the carry.
#[test]
fn ppc_xer_carries_its_flags_through_the_api() {
    use unicorn_engine::RegisterPPC;
    // addic r4, r3, 2 (r3 = -1: 1, carry out)
    let mut uc = ppc64_engine(&[0x3083_0002]);
    uc.reg_write(RegisterPPC::R3, u64::MAX).unwrap();
    uc.emu_start(CODE, CODE + 4, 0, 0).expect("addic runs");
    assert_eq!(uc.reg_read(RegisterPPC::R4).unwrap(), 1);
    assert_eq!(
        uc.reg_read(RegisterPPC::XER).unwrap() & XER_SO_OV_CA,
        XER_CA
    );
    // addze r6, r5 with the carry written through the API.
    let mut uc = ppc64_engine(&[0x7cc5_0194]);
    uc.reg_write(RegisterPPC::R5, 41).unwrap();
    uc.reg_write(RegisterPPC::XER, XER_CA).unwrap();
    uc.emu_start(CODE, CODE + 4, 0, 0).expect("addze runs");
    assert_eq!(uc.reg_read(RegisterPPC::R6).unwrap(), 42);
}

/// 0045: the engine moved the pc past the instruction for every PowerPC
/// exception, as for `sc`: a trap or a fault was reported at the next
/// instruction. Now only `sc` moves on.
#[test]
fn ppc_faults_keep_their_pc_and_sc_moves_on() {
    // tw 31, r0, r0 (trap always): a program exception at CODE.
    let pc = pc_seen_by_interrupt_hook(
        Arch::PPC,
        Mode::PPC64 | Mode::BIG_ENDIAN,
        &be_words(&[0x7fe0_0008]),
    );
    assert_eq!(pc, CODE, "ppc: pc at the trap");
    // sc: the hook sees the address after it (SRR0, where Linux resumes).
    let pc = pc_seen_by_interrupt_hook(
        Arch::PPC,
        Mode::PPC64 | Mode::BIG_ENDIAN,
        &be_words(&[0x4400_0002]),
    );
    assert_eq!(pc, CODE + 4, "ppc: pc after the sc");
}

/// 0046: `mftb` read 0: the engine sets up no timebase device. The
/// timebase now counts the host's monotonic clock at 512 MHz, the
/// frequency Linux reports for POWER processors (and ht-user's
/// /proc/cpuinfo with it).
#[test]
fn ppc_timebase_counts_at_512_mhz() {
    use unicorn_engine::RegisterPPC;
    // mftb r3 (mfspr r3, TBL)
    let mut uc = ppc64_engine(&[0x7c6c_42a6]);
    let read = |uc: &mut Unicorn<'static, ()>| {
        uc.emu_start(CODE, CODE + 4, 0, 0).expect("mftb runs");
        (
            uc.reg_read(RegisterPPC::R3).unwrap(),
            std::time::Instant::now(),
        )
    };
    let (first, start) = read(&mut uc);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let (second, end) = read(&mut uc);
    assert!(first > 0, "the timebase runs");
    let ticks = second - first;
    let expected = end.duration_since(start).as_nanos() as u64 * 512 / 1000;
    // Within 5%: both ends are read a few microseconds apart from the
    // host's instants.
    assert!(
        ticks.abs_diff(expected) < expected / 20,
        "{ticks} ticks, {expected} expected"
    );
}

/// 0047: `fctiw` and its kin (and VSX's conversions) gave the NaN result
/// (0x8000_0000, or 0 for the unsigned forms) for every invalid
/// conversion, an overflow included:
/// 1e20 converted to int32 was INT32_MIN. The ISA (and Linux on POWER)
/// saturates an overflow: INT32_MAX, UINT32_MAX.
#[test]
fn ppc_float_to_integer_saturates_on_overflow() {
    use unicorn_engine::RegisterPPC;
    let convert = |insn: u32, value: f64| {
        let mut uc = ppc64_engine(&[insn]);
        uc.reg_write(RegisterPPC::FPR1, value.to_bits()).unwrap();
        uc.emu_start(CODE, CODE + 4, 0, 0)
            .expect("the conversion runs");
        uc.reg_read(RegisterPPC::FPR2).unwrap() as u32
    };
    // fctiwz f2, f1 and fctiwuz f2, f1
    let (signed, unsigned) = (0xfc40_081e, 0xfc40_091e);
    assert_eq!(convert(signed, 1e20), 0x7fff_ffff);
    assert_eq!(convert(signed, -1e20), 0x8000_0000);
    assert_eq!(convert(unsigned, 1e20), 0xffff_ffff);
    assert_eq!(convert(unsigned, -5.0), 0);
    // A NaN still gives the ISA's NaN results.
    assert_eq!(convert(signed, f64::NAN), 0x8000_0000);
    assert_eq!(convert(unsigned, f64::NAN), 0);
    assert_eq!(convert(signed, 42.9), 42);
    // VSX's xscvdpsxds f2, f1 (MSR[VSX] on), to int64.
    let mut uc = ppc64_engine(&[0xf040_0d60]);
    uc.reg_write(RegisterPPC::MSR, 1 << 63 | 1 << 23 | 1 << 13)
        .unwrap();
    uc.reg_write(RegisterPPC::FPR1, 1e20f64.to_bits()).unwrap();
    uc.emu_start(CODE, CODE + 4, 0, 0).expect("xscvdpsxds runs");
    assert_eq!(uc.reg_read(RegisterPPC::FPR2).unwrap(), i64::MAX as u64);
}

/// A 64-bit s390x engine in problem state with the vector registers on,
/// as Linux runs a process, with `code` at CODE and the data page at DATA.
fn s390x_engine(code: &[u8]) -> Unicorn<'static, ()> {
    use unicorn_engine::RegisterS390X;
    let mut uc = engine_with_virtual_tlb(Arch::S390X, Mode::BIG_ENDIAN, code);
    uc.reg_write(RegisterS390X::PSWM, 0x0001_0001_8000_0000)
        .unwrap();
    uc.reg_write(RegisterS390X::CR0, 0x6_00e0).unwrap();
    uc
}

/// The condition code, from the PSW mask.
fn s390x_cc(uc: &Unicorn<'static, ()>) -> u64 {
    (uc.reg_read(unicorn_engine::RegisterS390X::PSWM).unwrap() >> 44) & 3
}

/// 0048: a signed add or subtract whose result wraps sets condition code
/// 3, which `__builtin_add_overflow` branches on. The engine compared the
/// operands and result with zero, so INT_MIN + INT_MIN (wrapping to 0)
/// and 0 - INT_MIN gave no overflow (QEMU's `overflow` test).
#[test]
fn s390x_signed_overflow_sets_condition_code_3() {
    use unicorn_engine::RegisterS390X;
    let run = |insn: &[u8], a: u64, b: u64| {
        let mut uc = s390x_engine(insn);
        uc.reg_write(RegisterS390X::R2, a).unwrap();
        uc.reg_write(RegisterS390X::R3, b).unwrap();
        uc.emu_start(CODE, CODE + insn.len() as u64, 0, 0)
            .expect("the instruction runs");
        s390x_cc(&uc)
    };
    // ar, agr, sr, sgr %r2,%r3
    let (ar, agr, sr, sgr) = (
        &[0x1a, 0x23][..],
        &[0xb9, 0x08, 0x00, 0x23][..],
        &[0x1b, 0x23][..],
        &[0xb9, 0x09, 0x00, 0x23][..],
    );
    let (min32, min64) = (0x8000_0000, 1u64 << 63);
    assert_eq!(run(ar, min32, min32), 3, "ar INT32_MIN + INT32_MIN");
    assert_eq!(run(agr, min64, min64), 3, "agr INT64_MIN + INT64_MIN");
    assert_eq!(run(sr, 0, min32), 3, "sr 0 - INT32_MIN");
    assert_eq!(run(sgr, 0, min64), 3, "sgr 0 - INT64_MIN");
    assert_eq!(run(agr, i64::MAX as u64, 1), 3, "agr INT64_MAX + 1");
    // Results in range keep their sign's code.
    assert_eq!(run(ar, 1, 1), 2);
    assert_eq!(run(agr, min64, 1), 1);
    assert_eq!(run(sgr, 5, 5), 0);
    assert_eq!(run(sr, min32, 1u64.wrapping_neg()), 1, "INT32_MIN - -1");
}

/// 0049: on s390x too, running on into a page that may no longer be
/// executed faults at the instruction that starts there or crosses into
/// it, after the ones before it ran (QEMU's s390x `noexec`); the fault
/// came with the pc of the block's start.
#[test]
fn s390x_fetch_faults_report_the_instruction_on_the_noexec_page() {
    use unicorn_engine::unicorn_const::uc_error;
    use unicorn_engine::RegisterS390X;
    let lgfi_r2 = |v: u8| [0xc0, 0x21, 0, 0, 0, v];
    let code = [lgfi_r2(1), lgfi_r2(2)].concat();
    let (pc, r2) = (RegisterS390X::PC.into(), RegisterS390X::R2.into());
    let mode = Mode::BIG_ENDIAN;
    // The second lgfi starts the page; then it crosses into it.
    for (tail, at) in [(6, CODE + PAGE), (4, CODE + PAGE - 2)] {
        let (r, fault_pc, value) = run_into_a_noexec_page(Arch::S390X, mode, &code, tail, pc, r2);
        assert_eq!(r, Err(uc_error::EXCEPTION), "tail {tail}");
        assert_eq!((fault_pc, value), (at, 1), "tail {tail}: pc, r2");
    }
}

/// 0050: the program-interruption code of the last program check reads
/// through the API, so a system emulator can tell an operation exception
/// (SIGILL) from a divide by zero or a compare-and-trap (SIGFPE) as the
/// kernel does; it was only in the CPU state.
#[test]
fn s390x_program_check_code_reads_through_the_api() {
    use unicorn_engine::RegisterS390X;
    let pgm_code = RegisterS390X::CR15 as i32 + 1;
    let check = |insn: &[u8]| {
        let mut uc = s390x_engine(insn);
        let seen = std::rc::Rc::new(std::cell::Cell::new(None));
        let store = seen.clone();
        uc.add_intr_hook(move |uc, intno| {
            let code = uc.reg_read(pgm_code).unwrap();
            let fpc = uc.reg_read(RegisterS390X::FPC).unwrap();
            store.set(Some((intno, code, (fpc >> 8) & 0xff)));
            uc.emu_stop().unwrap();
        })
        .unwrap();
        uc.reg_write(RegisterS390X::R3, 7).unwrap();
        let r = uc.emu_start(CODE, CODE + insn.len() as u64, 0, 0);
        seen.get()
            .unwrap_or_else(|| panic!("no program check: {r:?}"))
    };
    // nopr, then an all-zero halfword: operation exception.
    assert_eq!(check(&[0x07, 0x07, 0, 0]), (3, 0x01, 0));
    // dsgr %r2,%r4 with r4 = 0: fixed-point divide.
    assert_eq!(check(&[0xb9, 0x0d, 0x00, 0x24]), (3, 0x09, 0));
    // cgit %r3,7,8 (trap when equal): data exception, DXC 0xff.
    assert_eq!(
        check(&[0xec, 0x30, 0x00, 0x07, 0x80, 0x70]),
        (3, 0x07, 0xff)
    );
}

/// 0051: `vistr` takes its element size from M3; the engine read M4
/// (always 0 as assemblers encode it), so every `vistr` searched bytes:
/// halfwords 0x0056 and 0x7800 ended the string (QEMU's `vistr`).
#[test]
fn s390x_vistr_searches_elements_of_its_size() {
    use unicorn_engine::RegisterS390X;
    // vistr %v1,%v2,1,0 (halfwords), then vistr %v3,%v2,2,0 (words).
    let code = [0xe7, 0x12, 0, 0, 0x10, 0x5c, 0xe7, 0x32, 0, 0, 0x20, 0x5c];
    let mut uc = s390x_engine(&code);
    uc.reg_write(RegisterS390X::F2, 0x1234_0056_7800_0000)
        .unwrap();
    uc.reg_write(RegisterS390X::F2_HI, 0x0078_0000_6543_2100)
        .unwrap();
    uc.emu_start(CODE, CODE + code.len() as u64, 0, 0)
        .expect("vistr runs");
    let v = |hi, lo| (uc.reg_read(hi).unwrap(), uc.reg_read(lo).unwrap());
    assert_eq!(
        v(RegisterS390X::F1, RegisterS390X::F1_HI),
        (0x1234_0056_7800_0000, 0),
        "halfwords: up to the zero halfword"
    );
    assert_eq!(
        v(RegisterS390X::F3, RegisterS390X::F3_HI),
        (0x1234_0056_7800_0000, 0x0078_0000_6543_2100),
        "words: no zero word (a byte search stopped at 0x0056)"
    );
}

/// 0052: an instruction that probes every page of its operands before it
/// writes (s390x `mvc`, aarch64 SVE and `dc zva`) faults at the probe
/// when a page has no memory behind it; the probe passed, the first page
/// was written and the fault came from the second, so a handler that
/// skips the instruction saw half a move (QEMU's s390x `mvc`).
#[test]
fn probed_accesses_fault_before_writing_anything() {
    use unicorn_engine::unicorn_const::uc_error;
    use unicorn_engine::RegisterS390X;
    // mvc 0(256,%r2),0(%r3)
    let mvc = [0xd2, 0xff, 0x20, 0x00, 0x30, 0x00];
    let src = DATA;
    // The destination's second half is on the unmapped page after DATA.
    let dst = DATA + PAGE - 128;
    for (to, from, error) in [
        (dst, src, uc_error::WRITE_UNMAPPED),
        (src, dst, uc_error::READ_UNMAPPED),
    ] {
        let mut uc = s390x_engine(&mvc);
        uc.mem_write(DATA, &[0x5a; PAGE as usize]).unwrap();
        uc.mem_write(dst, &[0; 128]).unwrap();
        uc.reg_write(RegisterS390X::R2, to).unwrap();
        uc.reg_write(RegisterS390X::R3, from).unwrap();
        let r = uc.emu_start(CODE, CODE + mvc.len() as u64, 0, 0);
        assert_eq!(r, Err(error), "mvc to {to:#x} from {from:#x}");
        assert_eq!(uc.reg_read(RegisterS390X::PC).unwrap(), CODE);
        let mut after = vec![0u8; 128];
        uc.mem_read(to.min(dst), &mut after).unwrap();
        let expected = if to == dst { 0 } else { 0x5a };
        assert!(
            after.iter().all(|&b| b == expected),
            "mvc to {to:#x}: the mapped part changed before the fault"
        );
    }
}
