// SPDX-License-Identifier: GPL-2.0-or-later
//! The host's SIGBUS on file mappings that shrank under ht-user.
//!
//! A page of a file mapping that lies wholly past the file's end faults on
//! the host with SIGBUS when touched. ht-user follows the sizes of the files
//! it maps when the guest itself changes them (`follow_file_sizes`), but
//! another process (a forked guest child, or anything on the host) can
//! truncate a file at any time. Then:
//!
//! - the guest's own access (translated code, or the engine's load/store
//!   helpers) becomes the guest's SIGBUS at the faulting instruction: the
//!   handler asks the engine (`uc_host_fault`, engine patch 0026) to leave
//!   the block as for an unmapped access, and `delivery::catch_fault` turns
//!   that into SIGBUS/BUS_ADRERR once the file sizes are followed;
//! - ht-user's own access (a system call reading guest memory, the
//!   hypertrace channel reading argument slots) finds a page of zeros that
//!   the handler mapped over the lost one, and the checked accessors report
//!   the access as a fault (EFAULT to the guest) when they notice
//!   ([`zeroed_since`]).
//!
//! Anything else (a SIGBUS on memory ht-user does not know) keeps the
//! default action. Everything the handler touches is a static atomic or a
//! plain thread-local variable: it runs in signal context.

use std::cell::Cell;
use std::ffi::c_void;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize};

use unicorn_engine_sys::uc_engine;
#[cfg(not(target_arch = "x86_64"))]
use unicorn_engine_sys::uc_host_fault;
#[cfg(target_arch = "x86_64")]
use unicorn_engine_sys::uc_host_fault_context;

/// How many file mappings can be watched at once. A mapping that finds no
/// free slot is not watched: a truncation under it kills ht-user with the
/// host's SIGBUS, as before this module (a warning says so once).
const SLOTS: usize = 8192;

/// A watched range: the host mapping `[start, end)` of file descriptor
/// `fd` from `file_offset`, mapped shared with protection `prot`.
struct Slot {
    start: AtomicUsize,
    end: AtomicUsize,
    fd: AtomicI32,
    file_offset: AtomicU64,
    prot: AtomicI32,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Slot = Slot {
    start: AtomicUsize::new(0),
    end: AtomicUsize::new(0),
    fd: AtomicI32::new(-1),
    file_offset: AtomicU64::new(0),
    prot: AtomicI32::new(0),
};
static WATCHED: [Slot; SLOTS] = [EMPTY; SLOTS];
/// Slots below this index may be in use (registration scans up to it).
static WATCHED_HIGH: AtomicUsize = AtomicUsize::new(0);
static FULL_WARNED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// The engine running guest code on this host thread (null outside
    /// emu_start). Each parallel guest thread runs its own: a fault is
    /// handed to the engine of the thread that faulted. Constant
    /// initialisation and no destructor make these plain thread-local
    /// variables, safe to read in the signal handler.
    static ENGINE: Cell<*mut uc_engine> = const { Cell::new(std::ptr::null_mut()) };
    /// A guest access this thread's engine turned into an unmapped-memory
    /// stop: 0 none, 1 a load, 2 a store; and its guest address.
    static GUEST_FAULT: Cell<u8> = const { Cell::new(0) };
    static GUEST_FAULT_ADDR: Cell<u64> = const { Cell::new(0) };
}

/// Counts pages replaced by zeros; the last one's host address.
static ZEROED_EPOCH: AtomicU64 = AtomicU64::new(0);
static LAST_ZEROED: AtomicUsize = AtomicUsize::new(0);
/// The pages replaced by zeros (a ring: [`settle`] maps the file back
/// over them).
const ZEROED_RING: usize = 64;
#[allow(clippy::declare_interior_mutable_const)]
const NO_PAGE: AtomicUsize = AtomicUsize::new(0);
static ZEROED: [AtomicUsize; ZEROED_RING] = [NO_PAGE; ZEROED_RING];
static ZEROED_NEXT: AtomicUsize = AtomicUsize::new(0);
/// A watched file shrank since [`settle`] last said so.
static SHRANK: AtomicBool = AtomicBool::new(false);

/// The host pages replaced and mapped back: ht-user's page size (which
/// is the host's, as everywhere in `mem`).
const PAGE: usize = super::PAGE_SIZE as usize;

/// Watches `[start, start+len)`, a shared host mapping (protection
/// `prot`) of `fd` from `file_offset`, until the returned registration
/// drops. `fd` must stay open until then.
pub fn watch(start: *const u8, len: usize, fd: RawFd, file_offset: u64, prot: i32) -> Registration {
    let start = start as usize;
    let end = start.saturating_add(len);
    for (index, slot) in WATCHED.iter().enumerate() {
        if slot
            .start
            .compare_exchange(0, start, SeqCst, Relaxed)
            .is_ok()
        {
            slot.fd.store(fd, SeqCst);
            slot.file_offset.store(file_offset, SeqCst);
            slot.prot.store(prot, SeqCst);
            slot.end.store(end, SeqCst);
            WATCHED_HIGH.fetch_max(index + 1, SeqCst);
            return Registration { slot: Some(index) };
        }
    }
    if !FULL_WARNED.swap(true, Relaxed) {
        tracing::warn!(
            "more than {SLOTS} file mappings: a truncation of the newest by another process \
             would end ht-user with SIGBUS"
        );
    }
    Registration { slot: None }
}

/// A watched mapping; unwatched on drop (before the mapping goes).
#[derive(Debug)]
pub struct Registration {
    slot: Option<usize>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(index) = self.slot {
            let slot = &WATCHED[index];
            slot.end.store(0, SeqCst);
            slot.start.store(0, SeqCst);
        }
    }
}

fn watched(addr: usize) -> Option<&'static Slot> {
    let high = WATCHED_HIGH.load(Acquire).min(SLOTS);
    WATCHED[..high].iter().find(|slot| {
        let start = slot.start.load(Acquire);
        start != 0 && addr >= start && addr < slot.end.load(Acquire)
    })
}

/// Installs the SIGBUS handler (once, at start-up).
pub fn install() -> std::io::Result<()> {
    // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value;
    // the handler only touches static atomics and async-signal-safe calls.
    // SA_NODEFER keeps SIGBUS unblocked inside the handler, so the engine's
    // jump back out of it (which does not restore the signal mask) leaves
    // the mask as it was.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigbus as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER | libc::SA_ONSTACK;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Marks `engine` as running guest code on this thread (until
/// [`leave_engine`]).
pub fn enter_engine(engine: *mut uc_engine) {
    ENGINE.set(engine);
}

/// This thread's engine stopped running guest code.
pub fn leave_engine() {
    ENGINE.set(std::ptr::null_mut());
}

/// The guest access this thread's engine stopped on, if a host SIGBUS
/// stopped it: its guest address and whether it was a store.
pub fn take_guest_fault() -> Option<(u64, bool)> {
    match GUEST_FAULT.replace(0) {
        0 => None,
        kind => Some((GUEST_FAULT_ADDR.get(), kind == 2)),
    }
}

/// Whether a watched file shrank under a host access since the last call.
/// Maps the file back over the pages the handler replaced by zeros (they
/// fault again past the file's end, and show the file once it grows), so
/// call it before following the files' sizes.
pub fn settle() -> bool {
    // Called on every system call: a plain load first, the locked swap
    // only when a shrink was marked.
    if !SHRANK.load(Acquire) || !SHRANK.swap(false, SeqCst) {
        return false;
    }
    for entry in &ZEROED {
        let page = entry.swap(0, SeqCst);
        let Some(slot) = (page != 0).then(|| watched(page)).flatten() else {
            continue;
        };
        let offset = slot.file_offset.load(SeqCst) + (page - slot.start.load(SeqCst)) as u64;
        // SAFETY: the page lies in a shared file mapping ht-user made and
        // still holds (it is watched, with its file still open); this maps
        // the same file page back where it was, as the mapping had it.
        let back = unsafe {
            libc::mmap(
                page as *mut c_void,
                PAGE,
                slot.prot.load(SeqCst),
                libc::MAP_SHARED | libc::MAP_FIXED,
                slot.fd.load(SeqCst),
                offset as libc::off_t,
            )
        };
        if back == libc::MAP_FAILED {
            tracing::warn!(
                "cannot map a truncated file's page back: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    true
}

/// The current count of zeroed pages, to pass to [`zeroed_since`].
#[inline]
pub fn epoch() -> u64 {
    ZEROED_EPOCH.load(Acquire)
}

/// Whether a page within `[host, host+len)` was replaced by zeros since
/// `epoch` (then what was read or written there is not the file's): the
/// offset of that page from `host`.
#[inline]
pub fn zeroed_since(epoch: u64, host: *const u8, len: usize) -> Option<usize> {
    if ZEROED_EPOCH.load(Acquire) == epoch {
        return None;
    }
    let page = LAST_ZEROED.load(Acquire);
    let host = host as usize;
    let first_page = host & !(PAGE - 1);
    (page >= first_page && page < host.saturating_add(len)).then(|| page.saturating_sub(host))
}

#[cfg(target_arch = "x86_64")]
fn fault_context(ctx: *mut c_void) -> (usize, bool) {
    // SAFETY: the kernel passes a valid ucontext_t to an SA_SIGINFO
    // handler; only its saved registers are read.
    let regs = unsafe { &(*ctx.cast::<libc::ucontext_t>()).uc_mcontext.gregs };
    let pc = regs[libc::REG_RIP as usize] as usize;
    // The page-fault error code: bit 1 is a write.
    let write = regs[libc::REG_ERR as usize] & 2 != 0;
    (pc, write)
}

#[cfg(target_arch = "aarch64")]
fn fault_context(ctx: *mut c_void) -> (usize, bool) {
    // SAFETY: as above.
    let pc = unsafe { (*ctx.cast::<libc::ucontext_t>()).uc_mcontext.pc } as usize;
    (pc, false)
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn fault_context(_ctx: *mut c_void) -> (usize, bool) {
    (0, false)
}

/// Hands a host fault to the engine. On x86-64 the engine gets the whole
/// signal context: translated code holds the instruction counters in a
/// host register there (engine patch 0040), and a fault that leaves a block
/// must take them back to keep the counts exact.
///
/// # Safety
/// As for `uc_host_fault`: `engine` is the live engine this thread runs,
/// and `ctx` the handler's context; the call may not return.
#[cfg(target_arch = "x86_64")]
unsafe fn engine_host_fault(
    engine: *mut uc_engine,
    addr: usize,
    ctx: *mut c_void,
    _pc: usize,
    write: bool,
) {
    // SAFETY: the caller's contract; `ctx` is the kernel's ucontext_t.
    unsafe {
        uc_host_fault_context(
            engine,
            addr as *mut c_void,
            ctx,
            write,
            GUEST_FAULT_ADDR.with(Cell::as_ptr),
        );
    }
}

/// See the x86-64 version; other hosts pass the pc alone.
///
/// # Safety
/// As for `uc_host_fault`.
#[cfg(not(target_arch = "x86_64"))]
unsafe fn engine_host_fault(
    engine: *mut uc_engine,
    addr: usize,
    _ctx: *mut c_void,
    pc: usize,
    write: bool,
) {
    // SAFETY: the caller's contract.
    unsafe {
        uc_host_fault(
            engine,
            addr as *mut c_void,
            pc,
            write,
            GUEST_FAULT_ADDR.with(Cell::as_ptr),
        );
    }
}

extern "C" fn on_sigbus(_signal: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    // SAFETY: the kernel passes a valid siginfo_t for SIGBUS.
    let (code, addr) = unsafe { ((*info).si_code, (*info).si_addr() as usize) };
    if code <= 0 {
        // Sent by a process (kill, sigqueue): the default action.
        // SAFETY: signal and raise are async-signal-safe.
        unsafe {
            libc::signal(libc::SIGBUS, libc::SIG_DFL);
            libc::raise(libc::SIGBUS);
        }
        return;
    }
    let (pc, write) = fault_context(ctx);
    let engine = ENGINE.get();
    if !engine.is_null() {
        GUEST_FAULT.set(if write { 2 } else { 1 });
        SHRANK.store(true, SeqCst);
        // SAFETY: `engine` is the live engine this thread is running (set
        // around emu_start). When the access was the guest's, the engine
        // jumps back into its execution loop and this call never returns:
        // the frames it leaves (this handler's and the engine's helper's)
        // hold nothing to drop. The guest address is written before.
        unsafe { engine_host_fault(engine, addr, ctx, pc, write) };
        // Returned: not the guest's own access.
        GUEST_FAULT.set(0);
    }
    if watched(addr).is_some() {
        let page = addr & !(PAGE - 1);
        // SAFETY: the page lies in a file mapping ht-user made and still
        // holds (it is watched); replacing it with private zeros keeps the
        // address range valid for the access that faulted, which then
        // completes. mmap is async-signal-safe.
        let zeroed = unsafe {
            libc::mmap(
                page as *mut c_void,
                PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if zeroed != libc::MAP_FAILED {
            let next = ZEROED_NEXT.fetch_add(1, SeqCst) % ZEROED_RING;
            ZEROED[next].store(page, SeqCst);
            LAST_ZEROED.store(page, Release);
            ZEROED_EPOCH.fetch_add(1, SeqCst);
            SHRANK.store(true, SeqCst);
            return;
        }
    }
    // Not ht-user's: the default action, when the access repeats.
    // SAFETY: resetting a disposition is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGBUS, libc::SIG_DFL);
    }
}
