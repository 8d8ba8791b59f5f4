// SPDX-License-Identifier: GPL-2.0-or-later
//! Parallel scheduling (`-sched parallel`): every guest thread runs on an
//! engine of its own, on a host thread of its own, all over the one
//! process (`SharedProcess`) and the same host memory, with parallel-safe
//! translation (engine patch 0032) so guest atomics are host atomics.
//!
//! - **A new thread** (clone): its creator's loop takes the spawn, copies
//!   its CPU state and starts a host thread, which makes the thread's
//!   engine (`build`), maps the process's layout into it and runs it.
//! - **System calls** run in the calling thread's engine under the process
//!   lock, which makes that thread the current one for the handlers.
//! - **Waiting**: a thread whose call blocks waits on the host in its own
//!   thread (its descriptors, its deadline and its `Waker`, which a futex
//!   wake or a signal for it writes), never holding the lock.
//! - **Memory changes**: the engine that made them applies them, then
//!   publishes them in the process's journal and waits until every other
//!   engine running guest code has applied them (stopping each at its next
//!   block), as Linux's TLB shootdown does before munmap returns. Engines
//!   in a system call or a wait apply them before running guest code.
//! - **The end**: exit_group, a fatal signal or an interrupt ends the
//!   process: every engine is stopped, every waiting thread woken, and the
//!   first thread's host thread joins the others before the run ends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use unicorn_engine::unicorn_const::uc_error;
use unicorn_engine::Context;

use crate::kernel::thread::{OwnEngine, Resume, Spawn, Wait, Waker};
use crate::machine::{self, Engine, StopReason};

/// What the threads of a parallel run share besides the process.
#[derive(Default)]
pub struct ParallelRun {
    /// How the process ended, once a thread ended it.
    end: Mutex<Option<StopReason>>,
    /// The host threads of the guest threads after the first.
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// Events recorded by the threads that have ended.
    events: AtomicU64,
    /// The pages the engines have code from, where the CPU needs no flush
    /// to see stores to code (x86).
    pub(crate) code_pages: crate::machine::code_watch::CodePages,
}

impl ParallelRun {
    fn ended(&self) -> bool {
        self.end().is_some()
    }

    /// How the process ended. A thread that panicked holding the lock
    /// left a value as good as any: the lock is taken anyway.
    fn end(&self) -> MutexGuard<'_, Option<StopReason>> {
        self.end.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ends the run of `process`: the first end wins; every engine stops
    /// at its next check and every waiting thread wakes.
    fn finish(&self, process: &crate::kernel::SharedProcess, reason: StopReason) {
        self.end().get_or_insert(reason);
        let p = process.lock();
        for tid in p.threads.tids() {
            p.threads.poke(tid);
        }
        drop(p);
        process.notify();
    }

    fn host_threads(&self) -> MutexGuard<'_, Vec<std::thread::JoinHandle<()>>> {
        self.threads.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The parallel run the engine's thread belongs to, if it has one.
fn run_of(uc: &Engine<'_>) -> Option<Arc<ParallelRun>> {
    uc.get_data().parallel.as_ref().map(|t| t.run.clone())
}

/// The thread an engine runs under parallel scheduling.
pub struct ParallelThread {
    pub tid: u32,
    pub run: Arc<ParallelRun>,
    waker: Arc<Waker>,
}

/// An engine's handle for stopping it from another thread.
struct Stopper(*mut unicorn_engine::unicorn_const::uc_engine);
// SAFETY: used only for uc_emu_stop, which only sets flags (Unicorn's own
// timeout thread calls it); the stopper lives in the thread's table entry,
// which is removed before the engine is dropped.
unsafe impl Send for Stopper {}
// SAFETY: as above; uc_emu_stop may be called from several threads.
unsafe impl Sync for Stopper {}

impl Stopper {
    fn stop(&self) {
        // SAFETY: see the type.
        unsafe { unicorn_engine::unicorn_const::uc_emu_stop(self.0) };
    }
}

/// A saved CPU state on its way to a new thread's engine.
struct SentState(Context);
// SAFETY: a uc_context is a heap buffer holding register values only,
// restored into an engine of the same architecture and build.
unsafe impl Send for SentState {}

/// Turns parallel scheduling on for the process of `uc` (its first thread).
pub fn start(uc: &mut Engine<'_>) -> Result<(), uc_error> {
    parallel_translation(uc)?;
    let run = Arc::new(ParallelRun::default());
    let tid = uc.get_data().process.lock().threads.current_tid();
    let waker = Arc::new(Waker::new().map_err(|_| uc_error::NOMEM)?);
    register(uc, tid, waker.clone());
    uc.get_data_mut().parallel = Some(ParallelThread { tid, run, waker });
    let mut p = uc.get_data().lock_process();
    p.mem.keep_retired();
    p.parallel = true;
    drop(p);
    Ok(())
}

/// A forked child of a parallel process: only the forking thread exists;
/// it is the child's first thread, with a run and a journal of its own.
pub fn become_child(uc: &mut Engine<'_>) {
    if uc.get_data().parallel.is_none() {
        return;
    }
    let pid = std::process::id();
    let Ok(waker) = Waker::new().map(Arc::new) else {
        return;
    };
    // The engine has the parent's translations: the child knows their pages.
    let code_pages = run_of(uc).map(|run| run.code_pages.for_child());
    uc.get_data_mut().parallel = Some(ParallelThread {
        tid: pid,
        run: Arc::new(ParallelRun {
            code_pages: code_pages.unwrap_or_default(),
            ..ParallelRun::default()
        }),
        waker: waker.clone(),
    });
    uc.get_data().process.lock().journal = Default::default();
    register(uc, pid, waker);
    // An interrupt stops this engine: the forking thread's, which need
    // not be the one the parent armed.
    crate::signals::arm(uc);
    // The engine may have missed batches the parent's other threads
    // published: the layout as it is, idempotently.
    if let Err(e) = crate::machine::memory::mirror_layout(uc) {
        end_process(uc, StopReason::Internal(e.to_string()));
    }
}

/// Guest atomics as host atomics: parallel-safe translation (0032); and
/// stores to code reach every engine's translations (0042, on x86).
fn parallel_translation(uc: &mut Engine<'_>) -> Result<(), uc_error> {
    crate::machine::engine_ctl::set_tcg_parallel(uc, true)?;
    crate::machine::code_watch::watch(uc)
}

/// Enters the thread's engine in the process's table.
fn register(uc: &Engine<'_>, tid: u32, waker: Arc<Waker>) {
    let stopper = Stopper(uc.get_handle());
    let stop: Arc<dyn Fn() + Send + Sync> = Arc::new(move || stopper.stop());
    nudge_for_trace(uc, stop.clone());
    let mut p = uc.get_data().process.lock();
    let applied = p.journal.last();
    if let Some(t) = p.threads.get_mut(tid) {
        t.engine = Some(OwnEngine {
            stop,
            waker,
            applied,
            in_guest: false,
        });
    }
}

/// When the trace writer needs what this thread's recorder holds, the
/// thread leaves guest code (and its recorder sends) at its next block.
fn nudge_for_trace(uc: &Engine<'_>, stop: Arc<dyn Fn() + Send + Sync>) {
    if let Some(r) = uc.get_data().trace.recorder.as_ref() {
        r.set_nudge(Some(stop));
    }
}

/// A forked child's new recorder (see [`become_child`]): nudged like the
/// one it replaces.
pub fn child_recorder_started(uc: &Engine<'_>) {
    if uc.get_data().parallel.is_some() {
        let stopper = Stopper(uc.get_handle());
        nudge_for_trace(uc, Arc::new(move || stopper.stop()));
    }
}

/// How a process whose first thread is not the host's main thread ends
/// (a fork from a thread other than the first): the runner's end of a
/// run, given its engine; returns the exit status.
pub type ForkedThreadEnd = fn(Engine<'static>) -> i32;

static FORKED_THREAD_END: std::sync::OnceLock<ForkedThreadEnd> = std::sync::OnceLock::new();

/// Says how a process forked from a thread other than the first ends
/// (see [`ForkedThreadEnd`]); the first call wins.
pub fn on_forked_thread_end(end: ForkedThreadEnd) {
    let _ = FORKED_THREAD_END.set(end);
}

/// Runs the first thread from `entry`, then waits for every other thread;
/// the process's end is left in the Machine's `stop`.
pub fn run(uc: &mut Engine<'_>, entry: u64) -> Result<(), uc_error> {
    let result = run_thread(uc, entry);
    if let Err(e) = result {
        end_process(uc, StopReason::Internal(format!("emulator error {e:?}")));
    }
    end_of_first_thread(uc)
}

/// The first thread of a process ended: waits for every other thread and
/// leaves the process's end in the Machine's `stop`.
fn end_of_first_thread(uc: &mut Engine<'_>) -> Result<(), uc_error> {
    // Taken after the run: a forked child has a run of its own.
    let run = run_of(uc).ok_or(uc_error::ARG)?;
    // The first thread may end before the others (pthread_exit): the
    // process lives on until they end.
    loop {
        let next = run.host_threads().pop();
        match next {
            Some(handle) => {
                let _ = handle.join();
            }
            None => break,
        }
    }
    let end = run.end().take();
    let m = uc.get_data_mut();
    if m.stop.is_none() {
        m.stop = end;
    }
    if let Some(r) = m.trace.recorder.as_mut() {
        r.events_recorded += run.events.load(Ordering::SeqCst);
    }
    Ok(())
}

/// Ends the process: the first end wins; every other engine stops and
/// every waiting thread wakes.
fn end_process(uc: &mut Engine<'_>, reason: StopReason) {
    if let Some(run) = run_of(uc) {
        run.finish(&uc.get_data().process, reason);
    }
}

/// One guest thread's loop: runs its engine, serves its waits, starts the
/// threads it creates, until the thread or the process ends.
fn run_thread(uc: &mut Engine<'_>, mut start: u64) -> Result<(), uc_error> {
    let abi = uc.get_data().abi;
    loop {
        if let Some(sig) = crate::signals::interrupted() {
            end_process(uc, StopReason::Interrupted(sig));
        }
        // Looked up each time: a forked child has a run of its own.
        if run_of(uc).is_none_or(|run| run.ended()) {
            return Ok(());
        }
        if uc.get_data().trace.reconfigure_due {
            crate::machine::instrument::sync(uc)?;
        }
        if uc.get_data().lock_process().mem.settle_host_faults() {
            if let Err(e) = crate::machine::memory::apply_pending(uc) {
                end_process(uc, StopReason::Internal(e.to_string()));
                return Ok(());
            }
        }
        match crate::machine::delivery::before_run(uc, start) {
            Ok(s) => start = s,
            Err(reason) => {
                end_process(uc, reason);
                return Ok(());
            }
        }
        if let Err(e) = catch_up(uc) {
            end_process(uc, StopReason::Internal(e.to_string()));
            return Ok(());
        }
        let result = crate::machine::sched::run_guest_code(uc, start);
        leave_guest(uc);
        if let Err(e) = result {
            if uc.get_data().stop.is_none() && crate::machine::delivery::catch_fault(uc, e) {
                start = abi.resume_address(uc);
                continue;
            }
            let pc = abi.pc(uc);
            let reason = match uc.get_data().fault.last_fault {
                Some((page, _)) if e == uc_error::EXCEPTION => StopReason::Fault {
                    signal: libc::SIGSEGV,
                    pc,
                    page: Some(page),
                },
                _ => StopReason::Internal(format!("emulator error {e:?} at pc {pc:#x}")),
            };
            end_process(uc, reason);
            return Ok(());
        }
        if let Some(reason) = uc.get_data_mut().stop.take() {
            end_process(uc, reason);
            return Ok(());
        }
        let m = uc.get_data_mut();
        m.sched.clear_due();
        m.signals.signal_due = false;
        spawn_threads(uc)?;
        let tid = own_tid(uc);
        loop {
            let (gone, blocked) = {
                let p = uc.get_data().lock_process();
                (p.threads.get(tid).is_none(), p.threads.is_blocked(tid))
            };
            if gone {
                return Ok(());
            }
            if blocked && !wait_while_blocked(uc, tid) {
                return Ok(());
            }
            // A wake-up may have come before the engine stopped: the call
            // it ended completes now either way.
            let resume = uc.get_data().lock_process().threads.resume_own(tid);
            match resume {
                Resume::Continue => break,
                Resume::Complete(call, outcome) => {
                    {
                        let mut p = uc.get_data().lock_process();
                        let t = p.threads.current_mut();
                        t.select_wait = None;
                        t.ipc_wait = None;
                    }
                    machine::finish_syscall(uc, call, outcome)
                }
                Resume::Retry(call) => machine::run_syscall(uc, call.nr, &call.args),
            }
            if let Some(reason) = uc.get_data_mut().stop.take() {
                end_process(uc, reason);
                return Ok(());
            }
            uc.get_data_mut().sched.clear_due();
            spawn_threads(uc)?;
        }
        start = abi.resume_address(uc);
    }
}

fn own_tid(uc: &Engine<'_>) -> u32 {
    uc.get_data().parallel.as_ref().map_or(0, |t| t.tid)
}

/// Waits on the host until thread `tid` is no longer blocked: its
/// descriptors, its deadline, its waker. False when the process ended.
fn wait_while_blocked(uc: &mut Engine<'_>, tid: u32) -> bool {
    let waker = match uc.get_data().parallel.as_ref() {
        Some(t) => t.waker.clone(),
        None => return false,
    };
    loop {
        let (fds, deadline) = {
            let p = uc.get_data().lock_process();
            let Some((_, block)) = p.threads.blocked().find(|(t, _)| *t == tid) else {
                return true;
            };
            let fds: Vec<(i32, i16)> = match &block.wait {
                Wait::Io { fds } => fds.clone(),
                _ => Vec::new(),
            };
            (fds, block.deadline)
        };
        if uc
            .get_data()
            .parallel
            .as_ref()
            .is_some_and(|t| t.run.ended())
        {
            return false;
        }
        let mut polled: Vec<libc::pollfd> = fds
            .iter()
            .map(|&(fd, events)| libc::pollfd {
                fd,
                events,
                revents: 0,
            })
            .collect();
        polled.push(libc::pollfd {
            fd: waker.fd(),
            events: libc::POLLIN,
            revents: 0,
        });
        let timeout = deadline.map(|d| d.saturating_sub(crate::host::monotonic_ns()));
        // The guest's output must not wait behind this thread's wait.
        if let Some(r) = uc.get_data_mut().trace.recorder.as_mut() {
            r.sync();
        }
        let end = crate::signals::wait_interruptibly(&mut polled, timeout);
        waker.clear();
        if matches!(end, crate::signals::WaitEnd::Interrupted) {
            let sig = crate::signals::interrupted().unwrap_or(libc::SIGINT);
            end_process(uc, StopReason::Interrupted(sig));
            return false;
        }
        crate::machine::delivery::intake_host(uc.get_data_mut());
        let now = crate::host::monotonic_ns();
        let ready = polled[..fds.len()].iter().any(|p| p.revents != 0);
        let mut p = uc.get_data().lock_process();
        let Some((_, block)) = p.threads.blocked().find(|(t, _)| *t == tid) else {
            return true;
        };
        if block.deadline.is_some_and(|d| d <= now) {
            let outcome = (block.wait != Wait::Retry).then_some(block.on_timeout);
            p.threads.wake(tid, outcome);
        } else if ready {
            p.threads.wake(tid, None);
        }
    }
}

/// The engine runs guest code no more (a system call, a stop): other
/// threads changing the layout need not wait for it, and its recorder
/// sends what it holds (the trace writer need not wait for it either).
pub fn leave_guest(uc: &mut Engine<'_>) {
    uc.get_data_mut().trace_idle();
    let tid = own_tid(uc);
    let mut p = uc.get_data().lock_process();
    if let Some(e) = p.threads.get_mut(tid).and_then(|t| t.engine.as_mut()) {
        e.in_guest = false;
    }
    drop(p);
    uc.get_data().process.notify();
}

/// Applies the memory changes other threads published since this engine's
/// last, then marks it as running guest code.
pub fn catch_up(uc: &mut Engine<'_>) -> Result<(), crate::machine::memory::EngineError> {
    // Marked under the lock that saw no newer batch: a thread publishing
    // one later waits for this engine.
    while !sync(uc, true)?.1 {}
    Ok(())
}

/// Moves the process's queued memory changes into its journal (in the
/// order they were made: one lock takes them and numbers them), applies
/// to this engine every batch it has not applied, and, when it published
/// a batch, waits until every other engine running guest code has applied
/// it too. Returns the number of changes it published.
pub fn sync_memory(uc: &mut Engine<'_>) -> Result<usize, crate::machine::memory::EngineError> {
    sync(uc, false).map(|(published, _)| published)
}

/// [`sync_memory`]; with `enter_guest`, also marks the engine as running
/// guest code if it has applied the last batch. Returns the changes
/// published and whether it is marked.
fn sync(
    uc: &mut Engine<'_>,
    enter_guest: bool,
) -> Result<(usize, bool), crate::machine::memory::EngineError> {
    let tid = own_tid(uc);
    let (ops, last, published) = {
        let mut p = uc.get_data().lock_process();
        let queued = p.mem.take_pending();
        let retired = p.mem.take_retired();
        let published = queued.len();
        if published > 0 {
            p.journal.push(queued, retired);
        }
        let applied = p
            .threads
            .get(tid)
            .and_then(|t| t.engine.as_ref())
            .map_or(0, |e| e.applied);
        (p.journal.since(applied), p.journal.last(), published)
    };
    crate::machine::memory::replay(uc, ops)?;
    let shared = uc.get_data().process.clone();
    let mut p = uc.get_data().lock_process();
    if let Some(e) = p.threads.get_mut(tid).and_then(|t| t.engine.as_mut()) {
        e.applied = last;
    }
    if published > 0 {
        loop {
            let behind: Vec<u32> = p
                .threads
                .own_engines()
                .filter(|(t, e)| *t != tid && e.in_guest && e.applied < last)
                .map(|(t, _)| t)
                .collect();
            if behind.is_empty() {
                break;
            }
            // A stop that reaches an engine just before it enters guest code
            // is lost: ask again until it has followed.
            for t in &behind {
                p.threads.poke(*t);
            }
            p = shared.wait(p, Duration::from_millis(1));
            p.threads.set_current(tid);
        }
    }
    let lowest = p.threads.own_engines().map(|(_, e)| e.applied).min();
    if let Some(lowest) = lowest {
        p.journal.trim(lowest);
    }
    let current = p.journal.last() == last;
    if enter_guest && current {
        if let Some(e) = p.threads.get_mut(tid).and_then(|t| t.engine.as_mut()) {
            e.in_guest = true;
        }
    }
    drop(p);
    shared.notify();
    Ok((published, current))
}

/// Starts a host thread for each thread clone created.
fn spawn_threads(uc: &mut Engine<'_>) -> Result<(), uc_error> {
    let me = own_tid(uc);
    let spawned = uc.get_data().lock_process().threads.take_spawned_by(me);
    for s in spawned {
        let Some(seed) = Seed::new(uc, s) else {
            end_process(
                uc,
                StopReason::Internal("cannot start a thread: no shared trace writer".into()),
            );
            return Ok(());
        };
        let run = seed.run.clone();
        run.code_pages.engine_added();
        let spawned = crate::signals::with_all_blocked(|| {
            std::thread::Builder::new()
                .name(format!("ht-thread-{}", s.tid))
                .spawn(move || seed.run_thread())
        });
        match spawned {
            Ok(handle) => run.host_threads().push(handle),
            Err(e) => {
                end_process(
                    uc,
                    StopReason::Internal(format!("cannot start a thread: {e}")),
                );
                return Ok(());
            }
        }
    }
    Ok(())
}

/// The end of a process forked from a thread other than the first (its
/// host thread is not the host's main thread, which the child lacks): its
/// threads are joined and the runner's end of a run ends it.
fn forked_child_ends(mut uc: Engine<'static>) -> ! {
    if let Err(e) = end_of_first_thread(&mut uc) {
        uc.get_data_mut().stop = Some(StopReason::Internal(format!("{e:?}")));
    }
    crate::signals::disarm();
    let status = match FORKED_THREAD_END.get() {
        Some(end) => end(uc),
        None => 1,
    };
    std::process::exit(status)
}

/// What a new thread's host thread needs to make its engine.
struct Seed {
    machine: crate::machine::build::ThreadParts,
    state: SentState,
    spawn: Spawn,
    run: Arc<ParallelRun>,
}

impl Seed {
    fn new(uc: &mut Engine<'_>, spawn: Spawn) -> Option<Seed> {
        let index = uc.get_data().process.lock().threads.get(spawn.tid)?.index;
        let machine = crate::machine::build::ThreadParts::of(uc.get_data(), index)?;
        // The new thread's registers are made here, on the creator's
        // engine, while what clone points at (i386's TLS descriptor on the
        // creator's stack) is still there; then the creator's come back.
        let abi = uc.get_data().abi;
        let mut creator = uc.context_alloc().ok()?;
        uc.context_save(&mut creator).ok()?;
        let made = abi.thread_start(uc, spawn.stack, spawn.tls);
        let mut state = uc.context_alloc().ok()?;
        let saved = uc.context_save(&mut state);
        uc.context_restore(&creator).ok()?;
        made.ok()?;
        saved.ok()?;
        let run = run_of(uc)?;
        Some(Seed {
            machine,
            state: SentState(state),
            spawn,
            run,
        })
    }

    /// The new thread's host thread: makes its engine and runs it.
    fn run_thread(self) {
        let Seed {
            machine,
            state,
            spawn,
            run,
        } = self;
        let tid = spawn.tid;
        crate::signals::unblock_faults();
        let mut machine = machine.into_machine();
        let waker = match Waker::new() {
            Ok(waker) => Arc::new(waker),
            Err(e) => {
                let why = format!("cannot start thread {tid}: {e}");
                run.finish(&machine.process, StopReason::Internal(why));
                return;
            }
        };
        machine.parallel = Some(ParallelThread {
            tid,
            run: run.clone(),
            waker: waker.clone(),
        });
        let process = machine.process.clone();
        let mut uc = match crate::machine::build::engine_for(machine) {
            Ok(uc) => uc,
            Err(e) => {
                let why = format!("cannot make a thread's engine: {e}");
                run.finish(&process, StopReason::Internal(why));
                return;
            }
        };
        let made = parallel_translation(&mut uc)
            .map_err(|e| format!("{e:?}"))
            .and_then(|()| {
                register(&uc, tid, waker);
                crate::machine::memory::mirror_layout(&mut uc).map_err(|e| e.to_string())
            })
            .and_then(|()| uc.context_restore(&state.0).map_err(|e| format!("{e:?}")));
        if let Err(why) = made {
            end_process(
                &mut uc,
                StopReason::Internal(format!("cannot start thread {tid}: {why}")),
            );
            return;
        }
        let start = uc.get_data().abi.resume_address(&uc);
        let host_pid = std::process::id();
        if let Err(e) = run_thread(&mut uc, start) {
            end_process(
                &mut uc,
                StopReason::Internal(format!("emulator error {e:?}")),
            );
        }
        if std::process::id() != host_pid {
            // The thread forked and this is the child, whose only thread
            // it is: the process ends here, as the runner ends a run.
            forked_child_ends(uc);
        }
        // Its table entry (and the stopper in it) goes before the engine.
        {
            let mut p = uc.get_data().process.lock();
            if let Some(t) = p.threads.get_mut(tid) {
                t.engine = None;
            }
        }
        if let Some(r) = uc.get_data_mut().trace.recorder.take() {
            run.events.fetch_add(r.close(), Ordering::SeqCst);
        }
        run.code_pages.engine_removed();
        uc.get_data().process.notify();
    }
}
