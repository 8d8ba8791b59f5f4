// SPDX-License-Identifier: GPL-2.0-or-later
//! Guest side of ht-user's hypertrace channel, in Rust and `no_std`.
//!
//! This is the Rust counterpart of the C guest library
//! (`guest/include/qemu-hypertrace.h`): the same functions without the
//! `qemu_hypertrace_` prefix, the same channel protocol and the same
//! behaviour, so a Rust guest program emits exactly the events a C one
//! would.
//!
//! # The channel
//!
//! `ht-user -hypertrace BASE PROGRAM` creates three files and tells the
//! program their base in the environment variable `QEMU_HYPERTRACE_BASE`:
//!
//! | file           | contents |
//! |----------------|----------|
//! | `BASE-config`  | five native-endian u64: max_clients, client_args, client_data_size, control_size, data_size |
//! | `BASE-data`    | client `c` owns the u64 slots `c*client_args ..= c*client_args+client_args-1` |
//! | `BASE-control` | one u64 slot per client; a store of `arg1` into slot `c` raises one event |
//!
//! [`init`] maps the data and control files. An event carries
//! [`num_args`] arguments: the `arg1` given to [`hypertrace`] (the value
//! stored into the client's control slot) followed by the client's data
//! slots `0 ..= num_args-2`, which the program fills (through [`data`])
//! before the store. Each client (for example one per thread) owns its
//! slots, so clients never synchronise with each other.
//!
//! # Named regions and points
//!
//! [`name`] gives a name a small id (1, 2, ... per process; the same text
//! always gives the same id) and tells ht-user the name once (a
//! [`OP_NAME`] event: data slot 0 = id, data slot 1 = the address of a
//! NUL-terminated copy of the name that stays valid for the life of the
//! process). [`region_begin`], [`region_end`] and [`point`] look the name
//! up and emit an [`OP_BEGIN`], [`OP_END`] or [`OP_POINT`] event with the id
//! in data slot 0; the `*_id` variants take an id registered before and
//! are inlined into the caller (one data store and the control store).
//! Names registered before [`init`] are announced by it, on client 0.
//! Named events need a channel with at least 2 arguments
//! (`-hypertrace BASE,args=N`, default 4); on a smaller channel they do
//! nothing.
//!
//! # Without a channel
//!
//! Run natively (or under an emulator without `-hypertrace`), [`init`]
//! fails (`ENOENT` when the files do not exist, `EINVAL` without a base)
//! and every other function is a harmless no-op: events do nothing (one
//! load and an untaken branch), [`data`] returns [`SCRATCH_SLOTS`] scratch
//! slots, names still get their ids.
//!
//! # Example
//!
//! ```no_run
//! use core::ptr;
//!
//! if let Err(e) = qemu_hypertrace::init(None) {
//!     // Not under ht-user: the markers below do nothing.
//!     let _ = e;
//! }
//! let client = 0;
//! // SAFETY: data() points to at least num_args() (or SCRATCH_SLOTS)
//! // slots of this client, and no other thread uses client 0.
//! unsafe { ptr::write_volatile(qemu_hypertrace::data(client), 0xcafe) };
//! qemu_hypertrace::hypertrace(client, 1); // one event: arg1 = 1, arg2 = 0xcafe
//!
//! let work = qemu_hypertrace::name(client, "work");
//! for _ in 0..10 {
//!     qemu_hypertrace::region_begin_id(client, work);
//!     // ... the work ...
//!     qemu_hypertrace::region_end_id(client, work);
//! }
//! qemu_hypertrace::point(client, "done");
//! ```
//!
//! # Threads
//!
//! [`init`], [`name`] and the functions that register names are
//! thread-safe: registration and mapping are serialised by a spin lock,
//! name look-ups take no lock. Events need no lock as long as each client
//! is used by one thread at a time. [`fini`] is `unsafe`: nothing may emit
//! events while it unmaps the channel.
//!
//! The crate needs no allocator and no `std`; it uses the C library (through
//! the `libc` crate) only in [`init`] and [`fini`]: `getenv`, `open`, `read`,
//! `close`, `mmap` and `munmap`. It supports Linux targets.

#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

use core::cell::UnsafeCell;
use core::ffi::{c_int, c_void, CStr};
use core::fmt;
use core::ptr;
use core::sync::atomic::{compiler_fence, AtomicBool, AtomicPtr, AtomicU32, AtomicUsize, Ordering};

/// The environment variable ht-user sets to the channel's base, read by
/// [`init`] when it is given no base.
pub const ENV_BASE: &CStr = c"QEMU_HYPERTRACE_BASE";

/// Scratch slots [`data`] returns when there is no channel.
pub const SCRATCH_SLOTS: usize = 16;

/// "HTOP" in the top 32 bits: the `arg1` values the library reserves for
/// named events. Do not pass `OP(n)` values to [`hypertrace`].
const OP_BASE: u64 = 0x4854_4f50_0000_0000;

/// `QEMU_HYPERTRACE_OP(n)`: the reserved `arg1` value of operation `n`.
pub const fn op(n: u32) -> u64 {
    OP_BASE | n as u64
}

/// A name's registration: data slot 0 = id, data slot 1 = address of the
/// NUL-terminated name.
pub const OP_NAME: u64 = op(1);
/// A region opens: data slot 0 = id.
pub const OP_BEGIN: u64 = op(2);
/// The innermost open region of that id closes: data slot 0 = id.
pub const OP_END: u64 = op(3);
/// A named progress point: data slot 0 = id.
pub const OP_POINT: u64 = op(4);

/// Longest name ht-user stores, in bytes; longer names are cut there.
pub const NAME_MAX: usize = 255;
/// Names a process can register.
pub const NAMES_MAX: usize = 4096;

/// An error number (`errno`) from [`init`] or [`fini`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Errno(pub c_int);

impl Errno {
    /// The channel files do not exist (not running under ht-user).
    pub const ENOENT: Errno = Errno(libc::ENOENT);
    /// No base given, or a malformed config file.
    pub const EINVAL: Errno = Errno(libc::EINVAL);
    /// The base is too long for a path.
    pub const ENAMETOOLONG: Errno = Errno(libc::ENAMETOOLONG);

    /// The number, as `errno` holds it.
    pub const fn raw(self) -> c_int {
        self.0
    }

    /// The calling thread's `errno` now.
    fn last() -> Errno {
        // SAFETY: __errno_location() returns the calling thread's errno,
        // always a valid, aligned int.
        Errno(unsafe { *libc::__errno_location() })
    }
}

impl fmt::Display for Errno {
    /// The C library's message for the common numbers (those `init` and
    /// `fini` report), else `os error N`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self.0 {
            libc::EPERM => "Operation not permitted",
            libc::ENOENT => "No such file or directory",
            libc::EINTR => "Interrupted system call",
            libc::EIO => "Input/output error",
            libc::EBADF => "Bad file descriptor",
            libc::ENOMEM => "Cannot allocate memory",
            libc::EACCES => "Permission denied",
            libc::ENODEV => "No such device",
            libc::ENOTDIR => "Not a directory",
            libc::EISDIR => "Is a directory",
            libc::EINVAL => "Invalid argument",
            libc::ENFILE => "Too many open files in system",
            libc::EMFILE => "Too many open files",
            libc::ENAMETOOLONG => "File name too long",
            libc::ELOOP => "Too many levels of symbolic links",
            n => return write!(f, "os error {n}"),
        };
        f.write_str(text)
    }
}

impl core::error::Error for Errno {}

// ---------------------------------------------------------------------------
// Channel state.
//
// CONTROL is the "channel mapped" flag: it is stored last (Release) by
// init() and first (null) by fini(); every reader loads it with Acquire
// and then reads the other values, which init() wrote before it.

/// The control slots (null: no channel).
static CONTROL: AtomicPtr<u64> = AtomicPtr::new(ptr::null_mut());
/// The data slots (valid when CONTROL is not null).
static DATA: AtomicPtr<u64> = AtomicPtr::new(ptr::null_mut());
/// Clients of the channel (0 without one).
static MAX_CLIENTS: AtomicUsize = AtomicUsize::new(0);
/// Data slots per client (0 without a channel).
static CLIENT_ARGS: AtomicUsize = AtomicUsize::new(0);
/// Mapped lengths, for fini(); only used under LOCK.
static CONTROL_SIZE: AtomicUsize = AtomicUsize::new(0);
static DATA_SIZE: AtomicUsize = AtomicUsize::new(0);

/// Serialises init(), fini() and name registration.
static LOCK: AtomicBool = AtomicBool::new(false);

/// Holds LOCK until dropped.
struct Guard;

fn lock() -> Guard {
    let mut spins = 0u32;
    while LOCK
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        while LOCK.load(Ordering::Relaxed) {
            spins = spins.wrapping_add(1);
            if spins % 64 == 0 {
                // The holder may be a thread that is not running (one
                // CPU, or an emulator's round-robin threads): let it.
                // SAFETY: sched_yield() has no memory effects.
                unsafe { libc::sched_yield() };
            } else {
                core::hint::spin_loop();
            }
        }
    }
    Guard
}

impl Drop for Guard {
    fn drop(&mut self) {
        LOCK.store(false, Ordering::Release);
    }
}

/// Harmless slots for any client when there is no channel. Writes through
/// [`data`]'s pointer are the caller's (unsafe) business, as in C.
struct Scratch(UnsafeCell<[u64; SCRATCH_SLOTS]>);

// SAFETY: the library itself never reads or writes the scratch slots; it
// only hands out a raw pointer to them.
unsafe impl Sync for Scratch {}

static SCRATCH: Scratch = Scratch(UnsafeCell::new([0; SCRATCH_SLOTS]));

/// The control slots and the number of clients, if a channel is mapped.
#[inline(always)]
fn control() -> Option<(*mut u64, usize)> {
    let control = CONTROL.load(Ordering::Acquire);
    if control.is_null() {
        None
    } else {
        Some((control, MAX_CLIENTS.load(Ordering::Relaxed)))
    }
}

/// Stores `arg1` into control slot `client`, after every memory access
/// written before it: one 64-bit store on 64-bit targets, the two halves
/// in address order on 32-bit ones (the host completes the event when the
/// word at offset 4 is written).
///
/// # Safety
///
/// `control` must be the mapped control slots and `client` below the
/// channel's number of clients.
#[inline(always)]
unsafe fn store_control(control: *mut u64, client: usize, arg1: u64) {
    // Every data-slot store is emitted before the trigger.
    compiler_fence(Ordering::SeqCst);
    // SAFETY: client is below max_clients, which init() checked fits the
    // control mapping.
    let slot = unsafe { control.add(client) };
    #[cfg(not(target_pointer_width = "32"))]
    {
        // SAFETY: slot is an aligned u64 inside the control mapping.
        unsafe { ptr::write_volatile(slot, arg1) };
    }
    #[cfg(target_pointer_width = "32")]
    {
        let half = slot.cast::<u32>();
        #[cfg(target_endian = "little")]
        let (first, second) = (arg1 as u32, (arg1 >> 32) as u32);
        #[cfg(target_endian = "big")]
        let (first, second) = ((arg1 >> 32) as u32, arg1 as u32);
        // SAFETY: both halves of an aligned u64 inside the control
        // mapping; volatile stores are not reordered with each other.
        unsafe {
            ptr::write_volatile(half, first);
            ptr::write_volatile(half.add(1), second);
        }
    }
}

// ---------------------------------------------------------------------------
// init / fini.

/// Size of the path buffer: the base, a suffix and the NUL.
const PATH_BUF: usize = libc::PATH_MAX as usize + 16;

/// `base` followed by `suffix` and a NUL, in `buf`.
fn channel_path<'a>(
    buf: &'a mut [u8; PATH_BUF],
    base: &CStr,
    suffix: &[u8],
) -> Result<&'a CStr, Errno> {
    let base = base.to_bytes();
    let len = base.len() + suffix.len();
    if len >= buf.len() {
        return Err(Errno::ENAMETOOLONG);
    }
    buf[..base.len()].copy_from_slice(base);
    buf[base.len()..len].copy_from_slice(suffix);
    buf[len] = 0;
    CStr::from_bytes_with_nul(&buf[..=len]).map_err(|_| Errno::EINVAL)
}

/// Opens `base` + `suffix` with `flags` (and O_CLOEXEC).
fn open_channel_file(base: &CStr, suffix: &[u8], flags: c_int) -> Result<c_int, Errno> {
    let mut buf = [0u8; PATH_BUF];
    let path = channel_path(&mut buf, base, suffix)?;
    // SAFETY: path is a NUL-terminated string that outlives the call.
    let fd = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        Err(Errno::last())
    } else {
        Ok(fd)
    }
}

/// Reads exactly `buf.len()` bytes; a short file is EINVAL.
fn read_full(fd: c_int, buf: &mut [u8]) -> Result<(), Errno> {
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        // SAFETY: rest is writable for rest.len() bytes.
        let n = unsafe { libc::read(fd, rest.as_mut_ptr().cast::<c_void>(), rest.len()) };
        if n < 0 {
            let e = Errno::last();
            if e.0 == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(Errno::EINVAL);
        }
        done += n as usize;
    }
    Ok(())
}

fn close(fd: c_int) {
    // SAFETY: fd is a descriptor this library opened and still owns.
    unsafe { libc::close(fd) };
}

/// Order of the u64 fields in BASE-config.
const CFG_MAX_CLIENTS: usize = 0;
const CFG_CLIENT_ARGS: usize = 1;
const CFG_CONTROL_SIZE: usize = 3;
const CFG_DATA_SIZE: usize = 4;
const CFG_COUNT: usize = 5;

/// The checked layout of a channel.
struct Config {
    max_clients: usize,
    client_args: usize,
    control_size: usize,
    data_size: usize,
}

fn read_config(base: &CStr) -> Result<Config, Errno> {
    let fd = open_channel_file(base, b"-config", libc::O_RDONLY)?;
    let mut bytes = [0u8; CFG_COUNT * 8];
    let read = read_full(fd, &mut bytes);
    close(fd);
    read?;
    let mut cfg = [0u64; CFG_COUNT];
    for (v, b) in cfg.iter_mut().zip(bytes.chunks_exact(8)) {
        *v = u64::from_ne_bytes(b.try_into().expect("8 bytes"));
    }
    let max_clients = cfg[CFG_MAX_CLIENTS];
    let client_args = cfg[CFG_CLIENT_ARGS];
    let control_size = cfg[CFG_CONTROL_SIZE];
    let data_size = cfg[CFG_DATA_SIZE];
    // The same checks as the C library.
    if max_clients == 0
        || control_size == 0
        || data_size == 0
        || control_size > usize::MAX as u64
        || data_size > usize::MAX as u64
        || max_clients > control_size / 8
        || (client_args != 0 && client_args > data_size / 8 / max_clients)
    {
        return Err(Errno::EINVAL);
    }
    // All fit usize: max_clients <= control_size / 8, client_args <=
    // data_size / 8.
    Ok(Config {
        max_clients: max_clients as usize,
        client_args: client_args as usize,
        control_size: control_size as usize,
        data_size: data_size as usize,
    })
}

/// Maps `base` + `suffix` shared and read-write.
fn map(base: &CStr, suffix: &[u8], len: usize) -> Result<*mut u64, Errno> {
    let fd = open_channel_file(base, suffix, libc::O_RDWR)?;
    // SAFETY: a new shared mapping of an open descriptor; it overlaps no
    // memory Rust knows about.
    let addr = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        )
    };
    let err = Errno::last();
    close(fd);
    if addr == libc::MAP_FAILED {
        Err(err)
    } else {
        Ok(addr.cast::<u64>())
    }
}

/// Maps the hypertrace channel whose files live next to `base`
/// (`BASE-config`, `BASE-data`, `BASE-control`).
///
/// With `None`, the environment variable `QEMU_HYPERTRACE_BASE` is used
/// instead (ht-user sets it to its `-hypertrace` base for the program it
/// starts). Calling it again after a successful call does nothing and
/// returns `Ok`; concurrent calls from several threads are safe. A
/// successful call announces the names registered before it, on client 0.
///
/// Errors: `ENOENT` when the channel files do not exist (not running under
/// ht-user), `EINVAL` when no base is given or the config file is
/// malformed, or what `open`/`read`/`mmap` report.
///
/// As in C, reading the environment must not race with another thread
/// changing it (`setenv`).
pub fn init(base: Option<&CStr>) -> Result<(), Errno> {
    if !CONTROL.load(Ordering::Acquire).is_null() {
        return Ok(());
    }
    let _guard = lock();
    if !CONTROL.load(Ordering::Relaxed).is_null() {
        return Ok(());
    }
    let base = match base {
        Some(b) => b,
        None => {
            // SAFETY: ENV_BASE is NUL-terminated; getenv returns null or a
            // NUL-terminated string of the environment, used only below,
            // before this thread could change the environment.
            let p = unsafe { libc::getenv(ENV_BASE.as_ptr()) };
            if p.is_null() {
                return Err(Errno::EINVAL);
            }
            // SAFETY: see above.
            unsafe { CStr::from_ptr(p) }
        }
    };
    if base.is_empty() {
        return Err(Errno::EINVAL);
    }
    let cfg = read_config(base)?;
    let data = map(base, b"-data", cfg.data_size)?;
    let control = match map(base, b"-control", cfg.control_size) {
        Ok(c) => c,
        Err(e) => {
            // SAFETY: data was mapped just above with this length and has
            // not been published.
            unsafe { libc::munmap(data.cast::<c_void>(), cfg.data_size) };
            return Err(e);
        }
    };
    DATA.store(data, Ordering::Relaxed);
    MAX_CLIENTS.store(cfg.max_clients, Ordering::Relaxed);
    CLIENT_ARGS.store(cfg.client_args, Ordering::Relaxed);
    DATA_SIZE.store(cfg.data_size, Ordering::Relaxed);
    CONTROL_SIZE.store(cfg.control_size, Ordering::Relaxed);
    CONTROL.store(control, Ordering::Release);
    // Names registered before: told on client 0. Under the lock, so a
    // name registered concurrently is announced exactly once.
    let count = COUNT.load(Ordering::Relaxed);
    for id in 1..=count {
        announce(0, id);
    }
    Ok(())
}

/// Unmaps the channel set up by [`init`]. `Ok` also when no channel was
/// mapped; afterwards the functions behave as without a channel, and
/// [`init`] may map one again.
///
/// # Safety
///
/// No other thread may be emitting an event or registering a name while
/// it runs (their stores could hit the unmapped, or by then reused,
/// addresses), and pointers returned by [`data`] before must not be used
/// after it.
pub unsafe fn fini() -> Result<(), Errno> {
    let _guard = lock();
    let control = CONTROL.swap(ptr::null_mut(), Ordering::AcqRel);
    if control.is_null() {
        return Ok(());
    }
    let data = DATA.swap(ptr::null_mut(), Ordering::Relaxed);
    MAX_CLIENTS.store(0, Ordering::Relaxed);
    CLIENT_ARGS.store(0, Ordering::Relaxed);
    let control_size = CONTROL_SIZE.swap(0, Ordering::Relaxed);
    let data_size = DATA_SIZE.swap(0, Ordering::Relaxed);
    let mut result = Ok(());
    // SAFETY: both were mapped by init() with these lengths; the caller
    // guarantees nothing uses them any more.
    if unsafe { libc::munmap(control.cast::<c_void>(), control_size) } != 0 {
        result = Err(Errno::last());
    }
    // SAFETY: as above.
    if unsafe { libc::munmap(data.cast::<c_void>(), data_size) } != 0 && result.is_ok() {
        result = Err(Errno::last());
    }
    result
}

/// Number of clients the channel has room for (0 without a channel).
pub fn max_clients() -> u64 {
    MAX_CLIENTS.load(Ordering::Relaxed) as u64
}

/// Number of u64 data slots each client has (0 without a channel). An
/// event has this many arguments: the one passed to [`hypertrace`] plus
/// data slots `0 ..= num_args-2` of the client; the last slot is spare.
pub fn num_args() -> u64 {
    CLIENT_ARGS.load(Ordering::Relaxed) as u64
}

/// Pointer to the first data slot of `client` ([`num_args`] slots).
///
/// Without a channel (before [`init`], after it failed or after [`fini`]),
/// and for a `client` not below [`max_clients`], it returns
/// [`SCRATCH_SLOTS`] scratch slots shared by every client, so that writing
/// arguments is harmless when the program runs natively. Write the slots
/// with [`core::ptr::write_volatile`]; a client's slots belong to one
/// thread at a time.
pub fn data(client: u64) -> *mut u64 {
    if let Some((_, max)) = control() {
        if client < max as u64 {
            let args = CLIENT_ARGS.load(Ordering::Relaxed);
            // client * args is inside the data mapping (checked by init).
            return DATA
                .load(Ordering::Relaxed)
                .wrapping_add(client as usize * args);
        }
    }
    SCRATCH.0.get().cast::<u64>()
}

/// Raises one event for `client` with first argument `arg1`; the other
/// arguments are the client's data slots, which must be written before.
///
/// On 64-bit targets this is a single 64-bit store, on 32-bit targets two
/// 32-bit stores in address order. Before it come the checks safe Rust
/// needs and C does without: the channel pointer is loaded with Acquire
/// ordering (a plain load on x86, `ldar` on aarch64, a load and a fence on
/// arm and riscv64) and `client` is compared with the number of clients.
/// Without a channel, or for a `client`
/// not below [`max_clients`], it does nothing. Do not pass the values the
/// library reserves for named events ([`op`], [`OP_NAME`] ...) as `arg1`.
#[inline(always)]
pub fn hypertrace(client: u64, arg1: u64) {
    let Some((control, max)) = control() else {
        return; // no channel: a marker does nothing
    };
    if client >= max as u64 {
        return;
    }
    // SAFETY: control is mapped (CONTROL was not null, and fini() may not
    // run concurrently) and client is below max_clients.
    unsafe { store_control(control, client as usize, arg1) };
}

// ---------------------------------------------------------------------------
// Names.

/// Bytes per name: the text and its NUL.
const SLOT: usize = NAME_MAX + 1;
/// Hash buckets: a power of two, at most half full.
const BUCKETS: usize = 2 * NAMES_MAX;

/// The names' text, NUL-terminated; name `id` lives in slot `id - 1`. A
/// slot is written once, under LOCK, before its id is published in TABLE,
/// and never changes after; so it stays valid for ht-user to read.
struct Names {
    text: UnsafeCell<[[u8; SLOT]; NAMES_MAX]>,
    len: UnsafeCell<[u8; NAMES_MAX]>,
}

// SAFETY: see Names: each slot is written once under LOCK before being
// published with Release, and read only after an Acquire load of its id
// (or under LOCK).
unsafe impl Sync for Names {}

static NAMES: Names = Names {
    text: UnsafeCell::new([[0; SLOT]; NAMES_MAX]),
    len: UnsafeCell::new([0; NAMES_MAX]),
};

/// Open-addressing hash table of ids (0: empty bucket).
static TABLE: [AtomicU32; BUCKETS] = [const { AtomicU32::new(0) }; BUCKETS];
/// Names registered (the last id given); written under LOCK.
static COUNT: AtomicU32 = AtomicU32::new(0);

/// The text the library keeps for `name`: up to its first NUL, cut at
/// NAME_MAX bytes (what ht-user would read of it).
fn cut(name: &str) -> &[u8] {
    let b = name.as_bytes();
    let b = match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    };
    &b[..b.len().min(NAME_MAX)]
}

/// FNV-1a.
fn hash(text: &[u8]) -> usize {
    let mut h: u32 = 0x811c_9dc5;
    for &b in text {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h as usize
}

/// Address of name `id`'s NUL-terminated text.
fn slot_ptr(id: u32) -> *mut u8 {
    debug_assert!(id >= 1 && id as usize <= NAMES_MAX);
    NAMES
        .text
        .get()
        .cast::<[u8; SLOT]>()
        .wrapping_add(id as usize - 1)
        .cast::<u8>()
}

/// The text of a published name.
///
/// # Safety
///
/// `id` must have been read from TABLE with Acquire (or under LOCK).
unsafe fn text_of(id: u32) -> &'static [u8] {
    let i = id as usize - 1;
    // SAFETY: slot i and its length were written before id was published
    // and never change again; no reference to the whole arrays is made.
    unsafe {
        let len = *NAMES.len.get().cast::<u8>().add(i);
        core::slice::from_raw_parts(slot_ptr(id), usize::from(len))
    }
}

/// Looks `text` up: `Ok(id)`, or `Err(bucket)` where it would go.
fn lookup(text: &[u8]) -> Result<u32, usize> {
    let mut b = hash(text) & (BUCKETS - 1);
    loop {
        let id = TABLE[b].load(Ordering::Acquire);
        if id == 0 {
            return Err(b);
        }
        // SAFETY: id was loaded from TABLE with Acquire.
        if unsafe { text_of(id) } == text {
            return Ok(id);
        }
        b = (b + 1) & (BUCKETS - 1);
    }
}

/// Tells ht-user name `id` on `client` (on client 0 if `client` is not
/// below max_clients, like the C library): slot 0 = id, slot 1 = address
/// of the text, then the NAME store. Called under LOCK, with the channel
/// mapped or not.
fn announce(client: u64, id: u32) {
    let Some((control, max)) = control() else {
        return;
    };
    let args = CLIENT_ARGS.load(Ordering::Relaxed);
    if args < 2 {
        return;
    }
    let c = if client < max as u64 {
        client as usize
    } else {
        0
    };
    let data = DATA.load(Ordering::Relaxed);
    // SAFETY: c < max_clients (which is at least 1) and 2 <= client_args, so slots c*args
    // and c*args+1 are inside the data mapping (checked by init); the
    // control slot as in hypertrace().
    unsafe {
        let slots = data.add(c * args);
        ptr::write_volatile(slots, u64::from(id));
        ptr::write_volatile(slots.add(1), slot_ptr(id) as usize as u64);
        store_control(control, c, OP_NAME);
    }
}

/// The id of `name`, registering it on first use: the same text always
/// gives the same id (1, 2, ...).
///
/// With a channel, a first registration tells ht-user the name through
/// `client`'s slots (an [`OP_NAME`] event; on client 0 if `client` is not
/// below [`max_clients`]); names registered before
/// [`init`] are told by it, on client 0. Returns 0 when `name` is empty or
/// [`NAMES_MAX`] names exist; the `*_id` functions ignore id 0. The library
/// keeps the text up to its first NUL and at most [`NAME_MAX`] bytes, so
/// names that agree in that part share an id. Thread-safe; a look-up of a
/// known name takes no lock.
pub fn name(client: u64, name: &str) -> u32 {
    let text = cut(name);
    if text.is_empty() {
        return 0;
    }
    if let Ok(id) = lookup(text) {
        return id;
    }
    let _guard = lock();
    let bucket = match lookup(text) {
        Ok(id) => return id, // registered meanwhile
        Err(b) => b,
    };
    let count = COUNT.load(Ordering::Relaxed);
    if count as usize >= NAMES_MAX {
        return 0;
    }
    let id = count + 1;
    let i = id as usize - 1;
    // SAFETY: slot i is not published yet and only written under LOCK,
    // which we hold; text.len() <= NAME_MAX leaves room for the NUL.
    unsafe {
        let slot = slot_ptr(id);
        ptr::copy_nonoverlapping(text.as_ptr(), slot, text.len());
        *slot.add(text.len()) = 0;
        *NAMES.len.get().cast::<u8>().add(i) = text.len() as u8;
    }
    TABLE[bucket].store(id, Ordering::Release);
    COUNT.store(id, Ordering::Relaxed);
    announce(client, id);
    id
}

/// One named event: `id` into data slot 0, then the control store.
#[inline(always)]
fn named(client: u64, op: u64, id: u32) {
    if id == 0 {
        return;
    }
    let Some((control, max)) = control() else {
        return;
    };
    let args = CLIENT_ARGS.load(Ordering::Relaxed);
    if args < 2 || client >= max as u64 {
        return;
    }
    let c = client as usize;
    // SAFETY: client < max_clients and client_args >= 2: slot c*args is
    // inside the data mapping, the control slot as in hypertrace().
    unsafe {
        ptr::write_volatile(DATA.load(Ordering::Relaxed).add(c * args), u64::from(id));
        store_control(control, c, op);
    }
}

/// Opens a region of name `id` on `client` (slot 0 = id, then an
/// [`OP_BEGIN`] store). Does nothing for id 0 or without a channel.
#[inline(always)]
pub fn region_begin_id(client: u64, id: u32) {
    named(client, OP_BEGIN, id);
}

/// Closes the innermost open region of name `id` on `client` (an
/// [`OP_END`] event). Does nothing for id 0 or without a channel.
#[inline(always)]
pub fn region_end_id(client: u64, id: u32) {
    named(client, OP_END, id);
}

/// A progress point of name `id` on `client` (an [`OP_POINT`] event).
/// Does nothing for id 0 or without a channel.
#[inline(always)]
pub fn point_id(client: u64, id: u32) {
    named(client, OP_POINT, id);
}

/// Opens a region named `name` on `client`, registering the name on first
/// use (see [`name`]). The name is looked up (a hash of its text) on
/// every call: for hot loops register it once and use
/// [`region_begin_id`].
pub fn region_begin(client: u64, name: &str) {
    region_begin_id(client, self::name(client, name));
}

/// Closes the innermost open region named `name` on `client` (see
/// [`region_begin`]).
pub fn region_end(client: u64, name: &str) {
    region_end_id(client, self::name(client, name));
}

/// A progress point named `name` on `client` (see [`region_begin`]).
pub fn point(client: u64, name: &str) {
    point_id(client, self::name(client, name));
}

#[cfg(test)]
mod tests {
    //! The library without an emulator: no channel, then a fake channel
    //! (plain files) whose bytes are inspected after each marker. One test,
    //! because the channel is process-wide state.
    extern crate std;

    use super::*;
    use std::ffi::CString;
    use std::format;
    use std::fs;
    use std::vec::Vec;

    const CLIENTS: u64 = 4;
    const ARGS: u64 = 4;

    fn slots(path: &std::path::Path) -> Vec<u64> {
        fs::read(path)
            .unwrap()
            .chunks_exact(8)
            .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
            .collect()
    }

    #[test]
    fn without_and_with_a_fake_channel() {
        // No channel: init fails, markers do nothing, names get ids.
        let missing = CString::new("/nonexistent/qemu-hypertrace-test").unwrap();
        assert_eq!(init(Some(&missing)), Err(Errno::ENOENT));
        assert_eq!(init(Some(c"")), Err(Errno::EINVAL));
        assert_eq!((max_clients(), num_args()), (0, 0));
        assert_eq!(data(0), data(7), "scratch slots for every client");
        hypertrace(0, 1);
        let early = name(0, "early");
        assert_eq!(early, 1);
        assert_eq!(name(0, "early"), 1, "the same text, the same id");
        assert_eq!(name(0, ""), 0);
        assert_eq!(name(0, "\0hidden"), 0, "empty up to its NUL");
        assert_eq!(name(0, "early\0late"), 1, "cut at the NUL");
        let long = "x".repeat(NAME_MAX + 10);
        let long_id = name(0, &long);
        assert_eq!(long_id, 2);
        assert_eq!(name(0, &long[..NAME_MAX]), long_id, "cut at NAME_MAX");
        region_begin_id(0, early);
        point(0, "p");
        assert_eq!(name(0, "p"), 3, "registered by point()");
        // SAFETY: fini() with nothing else running.
        assert_eq!(unsafe { fini() }, Ok(()));

        // A fake channel.
        let dir = std::env::temp_dir().join(format!("qemu-hypertrace-test.{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let base = dir.join("ht");
        let file = |sfx: &str| dir.join(format!("ht{sfx}"));
        let control_size = 4096u64;
        let data_size = 4096u64;
        let cfg: Vec<u8> = [CLIENTS, ARGS, ARGS * 8, control_size, data_size]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        fs::write(file("-config"), &cfg[..32]).unwrap();
        let c_base = CString::new(base.to_str().unwrap()).unwrap();
        assert_eq!(init(Some(&c_base)), Err(Errno::EINVAL), "short config");
        fs::write(file("-config"), &cfg).unwrap();
        fs::write(file("-data"), std::vec![0u8; data_size as usize]).unwrap();
        fs::write(file("-control"), std::vec![0u8; control_size as usize]).unwrap();
        assert_eq!(init(Some(&c_base)), Ok(()));
        assert_eq!(init(None), Ok(()), "a second call does nothing");
        assert_eq!((max_clients(), num_args()), (CLIENTS, ARGS));

        // init told the three names on client 0; the last was "p".
        let d = slots(&file("-data"));
        let c = slots(&file("-control"));
        assert_eq!((c[0], d[0]), (OP_NAME, 3));
        // SAFETY: the address of the library's copy of the name.
        let told = unsafe { CStr::from_ptr(d[1] as usize as *const core::ffi::c_char) };
        assert_eq!(told.to_bytes(), b"p");
        // SAFETY: the copies stay; name 2 is the one after name 1.
        let copy = unsafe { CStr::from_ptr(slot_ptr(long_id).cast::<core::ffi::c_char>()) };
        assert_eq!(copy.to_bytes(), &long.as_bytes()[..NAME_MAX]);

        // A name registered on client 2: its slots, its control slot.
        let io = name(2, "io");
        assert_eq!(io, 4);
        let d = slots(&file("-data"));
        let c = slots(&file("-control"));
        let s = (2 * ARGS) as usize;
        assert_eq!((c[2], d[s]), (OP_NAME, 4));
        // SAFETY: as above.
        let told = unsafe { CStr::from_ptr(d[s + 1] as usize as *const core::ffi::c_char) };
        assert_eq!(told.to_bytes(), b"io");

        for (op, f) in [
            (OP_BEGIN, region_begin_id as fn(u64, u32)),
            (OP_POINT, point_id),
            (OP_END, region_end_id),
        ] {
            f(3, io);
            let (d, c) = (slots(&file("-data")), slots(&file("-control")));
            assert_eq!((c[3], d[(3 * ARGS) as usize]), (op, u64::from(io)));
        }
        region_end(1, "early");
        let (d, c) = (slots(&file("-data")), slots(&file("-control")));
        assert_eq!((c[1], d[ARGS as usize]), (OP_END, 1));

        // Plain events; data() points into the data file.
        // SAFETY: client 1's first slot, used only here.
        unsafe { ptr::write_volatile(data(1), 0xcafe) };
        hypertrace(1, 0x1234_5678_9abc_def0);
        let (d, c) = (slots(&file("-data")), slots(&file("-control")));
        assert_eq!((c[1], d[ARGS as usize]), (0x1234_5678_9abc_def0, 0xcafe));

        // Clients beyond the channel: nothing is written anywhere.
        let before = (slots(&file("-data")), slots(&file("-control")));
        hypertrace(CLIENTS, 7);
        point_id(CLIENTS, io);
        assert_eq!(data(CLIENTS), data(u64::MAX), "scratch slots");
        assert_eq!(before, (slots(&file("-data")), slots(&file("-control"))));
        region_begin_id(0, 0);
        assert_eq!(before, (slots(&file("-data")), slots(&file("-control"))));

        // SAFETY: nothing else runs.
        assert_eq!(unsafe { fini() }, Ok(()));
        assert_eq!((max_clients(), num_args()), (0, 0));
        hypertrace(0, 9);
        point_id(0, io);
        assert_eq!(before, (slots(&file("-data")), slots(&file("-control"))));
        fs::remove_dir_all(&dir).unwrap();
    }
}
