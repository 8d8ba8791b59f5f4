// SPDX-License-Identifier: GPL-2.0-or-later
//! Host signals. SIGINT, SIGTERM, SIGHUP and the other signals whose
//! default action ends a process end the run cleanly while the guest
//! leaves them at their default: the handler records the signal and wakes
//! a watcher thread that stops the engine; a host call the guest is
//! blocked in returns EINTR. The run then flushes the trace and removes
//! the channel files.
//!
//! A signal the guest handles is the guest's: the handler adds it to
//! `GUEST_PENDING` (with its sender) and wakes the watcher, which stops
//! the engine (an asynchronous stop lands on a block boundary, engine
//! patch 0005, so no instruction runs twice) and asks again until the
//! emulator thread has taken the signal; the host call it interrupts
//! returns EINTR. The emulator thread delivers it between two runs of the
//! engine (`delivery`), so a guest with handlers pays nothing per block.
//! Without a watcher (a process at its thread limit) a block hook polls
//! for them instead. A signal the guest ignores is ignored by the host
//! too.
//!
//! The guest's POSIX timers are host timers that raise [`TIMER_SIGNAL`] in
//! the emulator thread with SI_TIMER and a value naming the timer's
//! expiration counter: the handler counts the expiration and nothing
//! else, like a signal for the guest, and `syscall::timer` turns counts
//! into the guest's signals. The host signal is the same whatever the
//! guest's timers send (the C library's internal 32 included); other
//! arrivals of [`TIMER_SIGNAL`] follow the guest's disposition in the
//! handler.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

use unicorn_engine::unicorn_const::uc_engine;

static INTERRUPTED: AtomicI32 = AtomicI32::new(0);
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);
/// The watcher's end of the wake pipe (closed by a forked child, whose
/// watcher thread is gone).
static WATCH_FD: AtomicI32 = AtomicI32::new(-1);
/// A pipe that ends a wait of the emulator thread for the guest's threads
/// (see [`poke_waits`]): write end and read end.
static POKE_FD: AtomicI32 = AtomicI32::new(-1);
static POKED_FD: AtomicI32 = AtomicI32::new(-1);
static ENGINE: Mutex<Option<EngineHandle>> = Mutex::new(None);
/// The armed engine for the handler itself, when there is no watcher
/// thread (a forked child that could not start one).
static ENGINE_PTR: AtomicPtr<uc_engine> = AtomicPtr::new(std::ptr::null_mut());
static STOP_IN_HANDLER: AtomicBool = AtomicBool::new(false);
/// Set in a forked child whose parent's watcher held `ENGINE` at the fork:
/// nobody will ever release it there.
static ENGINE_STUCK: AtomicBool = AtomicBool::new(false);
/// The process whose watcher reads the wake pipe: a forked child that has
/// not started its own yet must not wake its parent's.
static WAKE_OWNER: AtomicI32 = AtomicI32::new(0);

/// Host signals (bit `n - 1`) the guest has handlers for.
static GUEST_HANDLES: AtomicU64 = AtomicU64::new(0);
/// Host signals that were ignored when ht-user started: the guest starts
/// with them ignored too, as a process exec'd with them ignored does.
static STARTED_IGNORED: AtomicU64 = AtomicU64::new(0);
/// Host signals that arrived for the guest's handlers.
static GUEST_PENDING: AtomicU64 = AtomicU64::new(0);
/// A `-monitor` request waits for the emulator thread (set by the
/// monitor's threads, taken when the emulator thread serves requests).
static MONITOR_WAITING: AtomicBool = AtomicBool::new(false);
/// The watcher stopped the engine because host signals, timer
/// expirations or monitor requests wait for the emulator thread (taken by the scheduler). Set and
/// taken under the `ENGINE` lock, so a stop without a reason of the
/// emulator's own is told apart from the engine's own stops (a privileged
/// halt).
static STOPPED_FOR_GUEST: AtomicBool = AtomicBool::new(false);
/// Host signals (bit `n - 1`) the guest ignores (only looked at for
/// [`TIMER_SIGNAL`], whose host handler stays installed).
static GUEST_IGNORES: AtomicU64 = AtomicU64::new(0);

/// The host signal of the host timers behind the guest's POSIX timers
/// (SIGRTMAX).
pub const TIMER_SIGNAL: i32 = 64;
/// How many timers a process may have (expiration counters).
pub const TIMER_SLOTS: usize = 1024;
/// The host timers' `sigev_value`: this plus the counter's index.
const TIMER_VALUE_BASE: usize = 0x6874_0000;
const HOST_SI_TIMER: i32 = -2;
/// Expirations per counter since the emulator thread last looked.
static TIMER_EXPIRIES: [AtomicU32; TIMER_SLOTS] = [const { AtomicU32::new(0) }; TIMER_SLOTS];
/// Some counter moved.
static TIMERS_FIRED: AtomicBool = AtomicBool::new(false);
/// The handler of [`TIMER_SIGNAL`] is installed for good.
static TIMER_SIGNAL_OWNED: AtomicBool = AtomicBool::new(false);
/// The sender of the last of each signal: (si_code, pid, uid, status).
static SENDER_CODE: [AtomicI32; 65] = [const { AtomicI32::new(0) }; 65];
static SENDER_PID: [AtomicI32; 65] = [const { AtomicI32::new(0) }; 65];
static SENDER_UID: [AtomicI32; 65] = [const { AtomicI32::new(0) }; 65];
static SENDER_STATUS: [AtomicI32; 65] = [const { AtomicI32::new(0) }; 65];

/// Signals ht-user never takes over: the ones that cannot be caught, the
/// host's own faults, the C library's internal ones (32, 33), SIGPIPE
/// (ht-user ignores it; the guest's comes from EPIPE).
fn reserved(sig: i32) -> bool {
    matches!(
        sig,
        libc::SIGKILL
            | libc::SIGSTOP
            | libc::SIGSEGV
            | libc::SIGBUS
            | libc::SIGILL
            | libc::SIGFPE
            | libc::SIGTRAP
            | libc::SIGPIPE
            | 32
            | 33
    ) || !(1..=64).contains(&sig)
}

/// Whether the host passes signal `sig` on to a guest that handles it.
pub fn forwarded(sig: i32) -> bool {
    !reserved(sig)
}

/// What the guest does with a signal, as the host must follow it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    Default,
    Ignore,
    Handle,
}

/// Signals whose default action ends a process and that ht-user turns
/// into a clean end of the run while the guest keeps the default.
fn ends_run_by_default(sig: i32) -> bool {
    !reserved(sig)
        && matches!(
            crate::abi::signal::default_action(sig),
            crate::abi::signal::DefaultAction::Terminate | crate::abi::signal::DefaultAction::Core
        )
}

/// Makes the host's disposition of `sig` follow the guest's.
pub fn follow_guest(sig: i32, disposition: Disposition) {
    if reserved(sig) {
        return;
    }
    let b = 1u64 << (sig - 1);
    match disposition {
        Disposition::Handle => GUEST_IGNORES.fetch_and(!b, Ordering::SeqCst),
        Disposition::Ignore => GUEST_IGNORES.fetch_or(b, Ordering::SeqCst),
        Disposition::Default => GUEST_IGNORES.fetch_and(!b, Ordering::SeqCst),
    };
    if sig == TIMER_SIGNAL && TIMER_SIGNAL_OWNED.load(Ordering::SeqCst) {
        // The handler stays; it follows the guest's disposition itself.
        match disposition {
            Disposition::Handle => GUEST_HANDLES.fetch_or(b, Ordering::SeqCst),
            _ => GUEST_HANDLES.fetch_and(!b, Ordering::SeqCst),
        };
        return;
    }
    match disposition {
        Disposition::Handle => {
            GUEST_HANDLES.fetch_or(b, Ordering::SeqCst);
            set_host_handler(sig);
        }
        Disposition::Ignore => {
            GUEST_HANDLES.fetch_and(!b, Ordering::SeqCst);
            // SAFETY: plain disposition change.
            unsafe { libc::signal(sig, libc::SIG_IGN) };
        }
        Disposition::Default => {
            GUEST_HANDLES.fetch_and(!b, Ordering::SeqCst);
            if ends_run_by_default(sig) {
                set_host_handler(sig);
            } else {
                // SAFETY: plain disposition change.
                unsafe { libc::signal(sig, libc::SIG_DFL) };
            }
        }
    }
}

/// Takes the host signals that arrived for the guest: (host signal,
/// si_code, sender pid, sender uid, child status).
pub fn take_guest_pending() -> Vec<(i32, i32, u32, u32, i32)> {
    let set = GUEST_PENDING.swap(0, Ordering::SeqCst);
    (1..=64i32)
        .filter(|s| set & (1u64 << (s - 1)) != 0)
        .map(|s| {
            let i = s as usize;
            (
                s,
                SENDER_CODE[i].load(Ordering::SeqCst),
                SENDER_PID[i].load(Ordering::SeqCst) as u32,
                SENDER_UID[i].load(Ordering::SeqCst) as u32,
                SENDER_STATUS[i].load(Ordering::SeqCst),
            )
        })
        .collect()
}

/// Host signals (bit `n - 1`) ignored when ht-user started.
pub fn started_ignored() -> u64 {
    STARTED_IGNORED.load(Ordering::SeqCst)
}

/// Whether host signals or timer expirations wait for the guest (cheap:
/// two loads).
#[inline]
pub fn guest_signal_waiting() -> bool {
    GUEST_PENDING.load(Ordering::Relaxed) != 0 || TIMERS_FIRED.load(Ordering::Relaxed)
}

/// Installs the handler of [`TIMER_SIGNAL`] for good (before the first
/// host timer is created).
pub fn own_timer_signal() {
    if !TIMER_SIGNAL_OWNED.swap(true, Ordering::SeqCst) {
        set_host_handler(TIMER_SIGNAL);
    }
}

/// The `sigev_value` of the host timer counting into counter `slot`.
pub fn timer_value(slot: usize) -> usize {
    TIMER_VALUE_BASE + slot
}

/// Whether some timer expired since the last call.
pub fn take_timers_fired() -> bool {
    TIMERS_FIRED.swap(false, Ordering::SeqCst)
}

/// Takes the expirations counted in `slot`.
pub fn take_timer_expiries(slot: usize) -> u32 {
    TIMER_EXPIRIES
        .get(slot)
        .map_or(0, |c| c.swap(0, Ordering::SeqCst))
}

/// A forked child: no host timers exist in it, so none of the counts are
/// its own.
pub fn forget_timer_expiries() {
    TIMERS_FIRED.store(false, Ordering::SeqCst);
    for c in &TIMER_EXPIRIES {
        c.store(0, Ordering::SeqCst);
    }
}

/// Counts a host timer's expiration: true when `info` is one of ours.
///
/// # Safety
/// `info` must be the siginfo the kernel passed to an SA_SIGINFO handler.
unsafe fn count_timer_expiry(info: *const libc::siginfo_t) -> bool {
    // SAFETY: the caller passes the kernel's siginfo (128 bytes); a timer's
    // fields are si_tid, si_overrun and si_sigval after the three ints,
    // aligned to a pointer.
    let (code, overrun, value) = unsafe {
        let base = info.cast::<u8>();
        let u = if std::mem::size_of::<usize>() == 8 {
            16
        } else {
            12
        };
        (
            (*info).si_code,
            base.add(u + 4).cast::<i32>().read_unaligned(),
            base.add(u + 8).cast::<usize>().read_unaligned(),
        )
    };
    if code != HOST_SI_TIMER || !(TIMER_VALUE_BASE..TIMER_VALUE_BASE + TIMER_SLOTS).contains(&value)
    {
        return false;
    }
    let n = 1u32.saturating_add(overrun.max(0) as u32);
    let counter = &TIMER_EXPIRIES[value - TIMER_VALUE_BASE];
    let _ = counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| {
        Some(c.saturating_add(n))
    });
    TIMERS_FIRED.store(true, Ordering::SeqCst);
    true
}

fn set_host_handler(sig: i32) {
    // SAFETY: a handler that only touches atomics and write(2); no
    // SA_RESTART so blocking host calls return EINTR.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal_info as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        sa.sa_flags = libc::SA_SIGINFO;
        libc::sigaction(sig, &sa, std::ptr::null_mut());
    }
}

extern "C" fn on_signal_info(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let b = 1u64 << ((sig - 1) & 63);
    if sig == TIMER_SIGNAL && TIMER_SIGNAL_OWNED.load(Ordering::SeqCst) {
        // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
        if !info.is_null() && unsafe { count_timer_expiry(info) } {
            wake_watcher();
            return;
        }
        if GUEST_IGNORES.load(Ordering::SeqCst) & b != 0 {
            return;
        }
    }
    if GUEST_HANDLES.load(Ordering::SeqCst) & b != 0 {
        if !info.is_null() {
            let i = sig as usize & 63;
            // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO
            // handler; the union fields read are those of kill/SIGCHLD.
            unsafe {
                SENDER_CODE[i].store((*info).si_code, Ordering::SeqCst);
                SENDER_PID[i].store((*info).si_pid(), Ordering::SeqCst);
                SENDER_UID[i].store((*info).si_uid() as i32, Ordering::SeqCst);
                if sig == libc::SIGCHLD {
                    SENDER_STATUS[i].store((*info).si_status(), Ordering::SeqCst);
                }
            }
        }
        GUEST_PENDING.fetch_or(b, Ordering::SeqCst);
        wake_watcher();
        return;
    }
    on_signal(sig);
}

struct EngineHandle(*mut uc_engine);
// SAFETY: the handle is only used for uc_emu_stop, which Unicorn itself
// calls from its timeout thread; the runner disarms it before the engine
// is freed.
unsafe impl Send for EngineHandle {}

extern "C" fn on_signal(sig: libc::c_int) {
    INTERRUPTED.store(sig, Ordering::SeqCst);
    if STOP_IN_HANDLER.load(Ordering::SeqCst) {
        let engine = ENGINE_PTR.load(Ordering::SeqCst);
        if !engine.is_null() {
            // SAFETY: only when no watcher runs (a process at its thread
            // limit): the handler runs on the emulator thread (helper
            // threads block every signal), the engine is armed (disarm
            // clears the pointer before it is freed) and uc_emu_stop only
            // sets flags, as qemu-user's own handlers do.
            unsafe { unicorn_engine::unicorn_const::uc_emu_stop(engine) };
        }
        return;
    }
    wake_watcher();
}

/// Wakes this process's watcher thread, if it has one (async-signal-safe).
fn wake_watcher() {
    let fd = WAKE_FD.load(Ordering::SeqCst);
    // SAFETY: getpid(2) is async-signal-safe.
    if fd >= 0 && WAKE_OWNER.load(Ordering::SeqCst) == unsafe { libc::getpid() } {
        let byte = 1u8;
        // SAFETY: write(2) is async-signal-safe; a full pipe is fine.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    }
}

/// A monitor request was queued: the watcher stops the engine so that the
/// emulator thread serves it between two blocks.
pub fn monitor_request_waiting() {
    MONITOR_WAITING.store(true, Ordering::SeqCst);
    wake_watcher();
}

/// Takes the note that monitor requests wait (before serving them: one
/// queued meanwhile sets it again).
pub fn take_monitor_waiting() {
    MONITOR_WAITING.store(false, Ordering::SeqCst);
}

/// Whether something waits for the emulator thread between two blocks.
fn emulator_work_waiting() -> bool {
    guest_signal_waiting() || MONITOR_WAITING.load(Ordering::SeqCst)
}

/// Whether a watcher thread stops the engine when host signals arrive for
/// the guest or monitor requests are queued (else block hooks must notice
/// them).
pub fn watcher_stops_engine() -> bool {
    !STOP_IN_HANDLER.load(Ordering::SeqCst)
}

/// Whether the watcher stopped the engine for the guest's signals or the
/// monitor since the last call.
pub fn take_stopped_for_guest() -> bool {
    if !watcher_stops_engine() {
        // No watcher (and maybe a lock a forked child can never take).
        return false;
    }
    let _engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    STOPPED_FOR_GUEST.swap(false, Ordering::SeqCst)
}

fn make_poke_pipe() {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 fills two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } == 0 {
        POKED_FD.store(fds[0], Ordering::SeqCst);
        POKE_FD.store(fds[1], Ordering::SeqCst);
    }
}

/// Ends the emulator thread's wait for the guest's threads (from any
/// thread): the monitor's requests are then served although every guest
/// thread is blocked. A poke while nothing waits ends the next wait early.
pub fn poke_waits() {
    let fd = POKE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        let byte = 1u8;
        // SAFETY: a one-byte write to our non-blocking pipe; a full pipe
        // already holds a poke.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    }
}

/// How [`wait_interruptibly`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitEnd {
    /// A descriptor is ready, the timeout passed or a guest signal came.
    Ready,
    /// A signal ends the run.
    Interrupted,
    /// [`poke_waits`] was called.
    Poked,
}

/// The signal that interrupted the run, if any.
pub fn interrupted() -> Option<i32> {
    match INTERRUPTED.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// Installs the handlers and the watcher thread (if a thread can be
/// started). Call once.
pub fn install() -> std::io::Result<()> {
    make_poke_pipe();
    if start_watcher().is_err() {
        // At the process limit (a guest's RLIMIT_NPROC, see machine::fork)
        // the handler stops the engine itself.
        STOP_IN_HANDLER.store(true, Ordering::SeqCst);
    }
    for sig in (1..=64).filter(|&s| ends_run_by_default(s)) {
        // An ignored signal stays ignored (nohup, or an exec'd guest that
        // ignores it).
        // SAFETY: queries the current disposition only.
        let ignored = unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                && old.sa_sigaction == libc::SIG_IGN
        };
        if ignored {
            STARTED_IGNORED.fetch_or(1u64 << (sig - 1), Ordering::SeqCst);
        } else {
            set_host_handler(sig);
        }
    }
    GUEST_IGNORES.store(STARTED_IGNORED.load(Ordering::SeqCst), Ordering::SeqCst);
    // An ht-user executed by a guest starts with them blocked (see
    // `block_for_exec`): one that arrived meanwhile is delivered now.
    set_blocked(false);
    Ok(())
}

/// Blocks the handled signals in this thread until an execve, so that one
/// arriving while the new image starts stays pending for it instead of
/// being lost with the old image. Returns false, with nothing blocked,
/// when the run was interrupted already.
pub fn block_for_exec() -> bool {
    set_blocked(true);
    if interrupted().is_some() {
        set_blocked(false);
        return false;
    }
    true
}

/// Undoes [`block_for_exec`] (an execve that failed, or the trampoline
/// that executes a host program).
pub fn unblock_after_exec() {
    set_blocked(false);
}

/// Blocks (true) or unblocks the handled signals in this thread. Threads
/// inherit the mask: helper threads started with them blocked can never
/// take a signal meant for the emulator thread.
pub fn set_blocked(block: bool) {
    // SAFETY: manipulates this thread's own signal mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in (1..=64).filter(|&s| !reserved(s)) {
            libc::sigaddset(&mut set, sig);
        }
        let how = if block {
            libc::SIG_BLOCK
        } else {
            libc::SIG_UNBLOCK
        };
        libc::pthread_sigmask(how, &set, std::ptr::null_mut());
    }
}

/// In the child of a host fork(): only the forking thread survives, so
/// the watcher is started again on a wake pipe of the child's own (the
/// inherited one is shared with the parent's watcher). The handlers are
/// inherited as they are.
/// Returns false when no watcher runs (no thread could be started at the
/// process limit, or the parent's watcher held the engine lock at the
/// fork): the handler then stops the engine itself.
pub fn reinit_after_fork() -> bool {
    for fd in [
        WAKE_FD.swap(-1, Ordering::SeqCst),
        WATCH_FD.swap(-1, Ordering::SeqCst),
        POKE_FD.swap(-1, Ordering::SeqCst),
        POKED_FD.swap(-1, Ordering::SeqCst),
    ] {
        if fd >= 0 {
            // SAFETY: both descriptors are the inherited copies of the
            // wake pipe; the only code that used them (the watcher thread)
            // does not exist in this process.
            unsafe { libc::close(fd) };
        }
    }
    // The parent's pokes and monitor are not this process's.
    make_poke_pipe();
    MONITOR_WAITING.store(false, Ordering::SeqCst);
    // Only this thread exists: a lock held now is held for good.
    if matches!(ENGINE.try_lock(), Err(std::sync::TryLockError::WouldBlock)) {
        ENGINE_STUCK.store(true, Ordering::SeqCst);
    } else if start_watcher().is_ok() {
        return true;
    }
    STOP_IN_HANDLER.store(true, Ordering::SeqCst);
    false
}

/// Sets the engine the watcher stops (unless the lock is stuck, see
/// `ENGINE_STUCK`; the handler then stops it through `ENGINE_PTR`).
fn set_engine(handle: Option<EngineHandle>) {
    if !ENGINE_STUCK.load(Ordering::SeqCst) {
        *ENGINE.lock().unwrap_or_else(|e| e.into_inner()) = handle;
    }
}

/// Ends this process by `sig` with its default action, as the kernel ends
/// a process killed by it (no core file).
pub fn die_by(sig: i32) -> ! {
    // SAFETY: plain calls; resetting the disposition, unblocking the
    // signal and sending it to ourselves has no memory effects.
    unsafe {
        let limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &limit);
        libc::signal(sig, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::kill(libc::getpid(), sig);
    }
    // A signal whose default action does not kill (or a stopped process
    // that was continued) still ends the process.
    std::process::exit(128 + sig)
}

fn start_watcher() -> std::io::Result<()> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 fills two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fresh descriptors we own from here on.
    let read_end = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    WATCH_FD.store(fds[0], Ordering::SeqCst);
    WAKE_FD.store(fds[1], Ordering::SeqCst);
    WAKE_OWNER.store(std::process::id() as i32, Ordering::SeqCst);
    with_all_blocked(|| {
        std::thread::Builder::new()
            .name("ht-signals".into())
            .spawn(move || watch(read_end))
    })?;
    Ok(())
}

fn watch(read_end: OwnedFd) {
    use std::os::fd::AsRawFd;
    block_in_this_thread();
    let fd = read_end.as_raw_fd();
    loop {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: polls one descriptor we own.
        if unsafe { libc::poll(&mut pfd, 1, -1) } < 0 {
            continue;
        }
        let mut buf = [0u8; 16];
        // SAFETY: reads into our buffer; the pipe is non-blocking.
        unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        // A stop that lands just before the engine starts is lost (starting
        // clears its stop request): ask again until the emulator thread has
        // taken what waits for the guest, or, after an interrupt, until
        // the run is over and the engine disarmed.
        loop {
            let interrupt = interrupted().is_some();
            let armed = if interrupt {
                stop_armed_engine()
            } else {
                stop_armed_engine_for_guest()
            };
            if !armed || (!interrupt && !emulator_work_waiting()) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_micros(300));
        }
    }
}

/// Asks the armed engine, if any, to stop while host signals, timer
/// expirations or monitor requests wait for the emulator thread, noting
/// why; false when none is armed.
fn stop_armed_engine_for_guest() -> bool {
    match ENGINE.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        Some(h) => {
            if emulator_work_waiting() {
                STOPPED_FOR_GUEST.store(true, Ordering::SeqCst);
                // SAFETY: the handle is live while armed (see EngineHandle).
                unsafe { unicorn_engine::unicorn_const::uc_emu_stop(h.0) };
            }
            true
        }
        None => false,
    }
}

/// Asks the armed engine, if any, to stop, from any thread (gdb's
/// interrupt); false when none is armed.
pub fn stop_engine() -> bool {
    stop_armed_engine()
}

/// Asks the armed engine, if any, to stop; false when none is armed.
fn stop_armed_engine() -> bool {
    match ENGINE.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        Some(h) => {
            // SAFETY: the handle is live while armed (see EngineHandle).
            unsafe { unicorn_engine::unicorn_const::uc_emu_stop(h.0) };
            true
        }
        None => false,
    }
}

/// Lets an interrupt stop this engine. Pair with [`disarm`].
pub fn arm<D>(uc: &unicorn_engine::Unicorn<'_, D>) {
    let handle = uc.get_handle();
    set_engine(Some(EngineHandle(handle)));
    ENGINE_PTR.store(handle, Ordering::SeqCst);
    if interrupted().is_some() {
        // SAFETY: the handle was just given to us live.
        unsafe { unicorn_engine::unicorn_const::uc_emu_stop(handle) };
    }
}

/// Forgets the engine before it is freed.
pub fn disarm() {
    ENGINE_PTR.store(std::ptr::null_mut(), Ordering::SeqCst);
    set_engine(None);
}

/// Keeps every signal away from helper threads: the handled ones so they
/// interrupt the emulator thread's blocking calls, the others because
/// they are the guest's (see `run_blocked`).
pub fn block_in_this_thread() {
    // SAFETY: manipulates this thread's own signal mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Runs `f` (which starts a helper thread) with every signal blocked in
/// this thread, so that the new thread inherits the full mask and never
/// takes a signal, even before it blocks them itself.
pub fn with_all_blocked<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: manipulates this thread's own signal mask and restores it.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let r = f();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        r
    }
}

/// Runs `f` with host signal `sig` blocked in this thread and then throws
/// away a `sig` sent to this process meanwhile: for a guest's kill of its
/// own process group, which the host delivers to every member at once
/// (this one takes the guest's action instead). Helper threads block every
/// signal, so the one sent here stays pending until it is discarded.
pub fn run_blocked(sig: i32, f: impl FnOnce()) {
    // SAFETY: manipulates this thread's own signal mask and consumes a
    // pending signal with a zero timeout.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        f();
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        while libc::sigtimedwait(&set, std::ptr::null_mut(), &zero) == sig {}
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
}

/// Waits for one of `fds` to be ready or `timeout_ns` to pass (forever
/// without one) while the handled signals can interrupt the wait, and
/// says how it ended: interrupted (before or during the wait), poked, or
/// for a reason of the guest's.
pub fn wait_interruptibly(fds: &mut [libc::pollfd], timeout_ns: Option<u64>) -> WaitEnd {
    let poked_fd = POKED_FD.load(Ordering::SeqCst);
    let mut all: Vec<libc::pollfd> = fds.to_vec();
    all.push(libc::pollfd {
        fd: poked_fd,
        events: libc::POLLIN,
        revents: 0,
    });
    // SAFETY: signal masks of this thread and a ppoll over our own array;
    // every signal ht-user may handle is blocked between the check and
    // ppoll, which unblocks them atomically, so none is missed (one for
    // the guest included).
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in (1..=64).filter(|&s| !reserved(s)) {
            libc::sigaddset(&mut set, sig);
        }
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        if interrupted().is_none() && !guest_signal_waiting() {
            let mut during = old;
            for sig in (1..=64).filter(|&s| !reserved(s)) {
                libc::sigdelset(&mut during, sig);
            }
            let ts = timeout_ns.map(|ns| libc::timespec {
                tv_sec: (ns / 1_000_000_000) as libc::time_t,
                tv_nsec: (ns % 1_000_000_000) as libc::c_long,
            });
            let ts_ptr = ts
                .as_ref()
                .map_or(std::ptr::null(), |t| t as *const libc::timespec);
            libc::ppoll(all.as_mut_ptr(), all.len() as libc::nfds_t, ts_ptr, &during);
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
    for (mine, polled) in fds.iter_mut().zip(&all) {
        mine.revents = polled.revents;
    }
    if interrupted().is_some() {
        return WaitEnd::Interrupted;
    }
    if all.last().is_some_and(|p| p.revents != 0) {
        let mut buf = [0u8; 64];
        // SAFETY: drains our non-blocking pipe into a local buffer.
        while unsafe { libc::read(poked_fd, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
        return WaitEnd::Poked;
    }
    WaitEnd::Ready
}
