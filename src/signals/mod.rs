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

mod mask;
mod timer;
mod watcher;

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

use unicorn_engine::unicorn_const::uc_engine;

pub use mask::{
    block_in_this_thread, run_blocked, unblock_faults, wait_interruptibly, with_all_blocked,
};
use timer::count_timer_expiry;
pub use timer::{
    forget_timer_expiries, own_timer_signal, take_timer_expiries, take_timers_fired, timer_value,
};
use watcher::start_watcher;
pub use watcher::{arm, disarm, stop_engine};

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
