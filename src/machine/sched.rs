// SPDX-License-Identifier: GPL-2.0-or-later
//! The scheduler: runs every guest thread of the process on one engine,
//! one at a time, and switches between them.
//!
//! Each thread has a saved CPU context (all registers, TLS included).
//! A switch is: a hook (the block hook at the end of a time slice, or a
//! system call that blocked, yielded, exited or created a thread) records
//! why and calls `emu_stop` on the emulating thread; `emu_start` returns
//! at a block boundary; [`run`] saves the context of the thread that ran,
//! restores the next one's, completes the system call that thread was
//! blocked in (result register, strace line), and restarts the engine at
//! its pc with `until = 0`.
//!
//! Policy (deterministic): first in, first out. A new thread queues behind
//! the ready threads and its creator runs on; a preempted or yielding
//! thread goes to the back; a woken thread queues in the order it was
//! woken. Time slices are counted in translated blocks executed, a
//! system call counting as [`SYSCALL_BLOCKS`] and each change it makes to
//! the engine's memory as [`ENGINE_OP_BLOCKS`] (the block
//! hook exists only once a second thread has been created; a slice that
//! ends with no other thread ready and none parked on a descriptor or a
//! deadline does not stop the engine), so the same
//! program with the same inputs interleaves the same way on every run. A
//! seed (`-sched seed=N`) varies each slice's length pseudo-randomly, and
//! reproducibly for that seed.
//!
//! Waiting: threads blocked on futexes cost nothing; threads parked on
//! descriptors (see `syscall::block`) and deadlines are checked with a
//! zero-timeout poll at each scheduling point. When no thread is ready,
//! the host waits in one `ppoll` over every parked descriptor until the
//! earliest deadline, interruptible by SIGINT/SIGTERM/SIGHUP.
//!
//! Everything the system call handlers see (thread states, run queue,
//! futex queues) is in `kernel::thread`, free of the engine; a scheduler
//! running threads on several engines in parallel would replace this
//! module behind the same [`run`] and [`request`].

use crate::machine::blocks::{self, BlockUse};
use unicorn_engine::unicorn_const::uc_error;
use unicorn_engine::Context;

use crate::kernel::thread::{Block, Resume, Wait};
use crate::machine::{self, Engine, Machine, StopReason};

mod options;
pub use options::{SchedOptionError, SchedOptions};

/// Default time slice, in translated blocks executed.
pub const DEFAULT_SLICE_BLOCKS: u32 = 20_000;

/// What a system call costs of a time slice, in blocks: about what it
/// takes on the host, so that a thread making calls in a loop gives way
/// as soon as one spending its slice in guest code.
pub const SYSCALL_BLOCKS: u32 = 50;
/// What each change of the engine's memory map or translations costs
/// (mmap, munmap, mprotect: TLB flushes and dropped translations).
pub const ENGINE_OP_BLOCKS: u32 = 500;

/// Scheduling counters, for the run report and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedStats {
    /// Context switches (one thread's context saved, another's restored).
    pub switches: u64,
    /// Of those, at the end of a time slice.
    pub preemptions: u64,
    /// Threads created.
    pub threads: u64,
    /// Host time from a time slice's end (the block hook stopping the
    /// engine) to the first block of the next slice, summed over the
    /// switches that did not wait on the host: what switching costs.
    pub switch_ns: u64,
    /// Switches measured in `switch_ns`.
    pub timed_switches: u64,
}

pub struct Scheduler {
    opts: SchedOptions,
    /// Saved CPU contexts by thread index (tid - pid; never reused).
    contexts: Vec<Option<Context>>,
    /// Each thread's instruction and block counters while another runs
    /// (engine patch 0023 counts on the one CPU they share), by index.
    counters: Vec<crate::machine::engine_ctl::InsnCounters>,
    /// A hook asked for a scheduling decision.
    due: bool,
    /// The current slice has run out.
    preempt: bool,
    slice_left: u32,
    rng: u64,
    /// When the block hook ended the current slice (for `switch_ns`).
    slice_ended: Option<std::time::Instant>,
    /// Whether switches are timed (with ht-user's debug log).
    timing: bool,
    pub stats: SchedStats,
}

impl Default for Scheduler {
    fn default() -> Self {
        Scheduler::new(SchedOptions::default())
    }
}

impl Scheduler {
    fn take_context(&mut self, index: usize) -> Option<Context> {
        self.contexts.get_mut(index).and_then(Option::take)
    }

    fn put_context(&mut self, index: usize, ctx: Context) {
        if index >= self.contexts.len() {
            self.contexts.resize_with(index + 1, || None);
        }
        self.contexts[index] = Some(ctx);
    }

    pub fn new(opts: SchedOptions) -> Self {
        Scheduler {
            opts,
            slice_left: opts.slice_blocks,
            // xorshift needs a non-zero state.
            rng: opts.seed.map_or(1, |s| s ^ 0x9e37_79b9_7f4a_7c15 | 1),
            contexts: Vec::new(),
            counters: Vec::new(),
            due: false,
            preempt: false,
            slice_ended: None,
            timing: tracing::enabled!(tracing::Level::DEBUG),
            stats: SchedStats::default(),
        }
    }

    /// Forgets a request for a scheduling decision (parallel threads
    /// decide for themselves).
    pub(crate) fn clear_due(&mut self) {
        self.due = false;
    }

    /// Charges a system call, and the engine changes it made, to the
    /// current slice. The slice keeps at least two blocks, so a thread
    /// always gets past its call (the block hook ends it after those).
    pub fn charge_syscall(&mut self, engine_ops: usize) {
        let ops = u32::try_from(engine_ops).unwrap_or(u32::MAX);
        let cost = SYSCALL_BLOCKS.saturating_add(ops.saturating_mul(ENGINE_OP_BLOCKS));
        self.slice_left = self
            .slice_left
            .saturating_sub(cost)
            .max(2.min(self.slice_left));
    }

    fn next_slice(&mut self) -> u32 {
        let base = self.opts.slice_blocks.max(2);
        if self.opts.seed.is_none() {
            return base;
        }
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        // Between half and one and a half of the base slice.
        let half = base / 2;
        (half + (self.rng % u64::from(base)) as u32).max(2)
    }
}

/// Asks for a scheduling decision as soon as the engine stops: called from
/// hooks on the emulating thread (never from another thread).
pub fn request(uc: &mut Engine<'_>) {
    uc.get_data_mut().sched.due = true;
    let _ = uc.emu_stop();
}

/// What the layers above the engine do whenever it is stopped (the
/// monitor answers its clients' requests): a trait, so the scheduler
/// never names them.
pub trait BetweenRuns {
    fn serve(&mut self, uc: &mut Engine<'_>);
}

/// Nothing to do between runs.
impl BetweenRuns for () {
    fn serve(&mut self, _uc: &mut Engine<'_>) {}
}

/// Runs the process's threads from `entry` until the process ends, the
/// engine reports an error, or ht-user is interrupted. Between two
/// `emu_start` calls it also serves the monitor and changes trace hooks.
pub fn run(uc: &mut Engine<'_>, entry: u64, between: &mut dyn BetweenRuns) -> Result<(), uc_error> {
    let abi = uc.get_data().abi;
    let mut start = entry;
    loop {
        if crate::signals::interrupted().is_some() {
            return Ok(());
        }
        between.serve(uc);
        if uc.get_data().stop.is_some() {
            return Ok(());
        }
        if uc.get_data().trace.reconfigure_due {
            crate::machine::instrument::sync(uc)?;
        }
        // A file shrank under an access of ht-user's own (host_fault):
        // the guest's pages past its end fault from now on.
        if uc.get_data_mut().process.lock().mem.settle_host_faults() {
            if let Err(e) = crate::machine::memory::apply_pending(uc) {
                Machine::request_stop(uc, StopReason::Internal(e.to_string()));
                return Ok(());
            }
        }
        // A sigreturn to complete, a signal to deliver. (Stops land on
        // block boundaries, so the engine never resumes in the middle of
        // an instruction that already ran.)
        match crate::machine::delivery::before_run(uc, start) {
            Ok(s) => start = s,
            Err(reason) => {
                Machine::request_stop(uc, reason);
                return Ok(());
            }
        }
        let result = run_guest_code(uc, start);
        let m = uc.get_data_mut();
        if let Err(e) = result {
            if m.stop.is_none() && crate::machine::delivery::catch_fault(uc, e) {
                start = abi.resume_address(uc);
                continue;
            }
            return result;
        }
        if m.stop.is_some() || m.debug_pause.due {
            return result;
        }
        let due = std::mem::take(&mut m.sched.due);
        let restart = m.trace.reconfigure_due
            || m.monitor_due
            || m.signals.signal_due
            || !m.tlb.code_flushes.is_empty()
            || crate::signals::take_stopped_for_guest();
        if !due && !restart {
            // Stopped for a reason of the engine's or an interrupt.
            return result;
        }
        if due {
            loop {
                match reschedule(uc)? {
                    Rescheduled::Run => break,
                    Rescheduled::Interrupted => return Ok(()),
                    // Every guest thread waits: the monitor is served
                    // meanwhile (a `quit` ends the run).
                    Rescheduled::Monitor => {
                        between.serve(uc);
                        if uc.get_data().stop.is_some() {
                            return Ok(());
                        }
                    }
                }
            }
        }
        if uc.get_data().stop.is_some() {
            return Ok(());
        }
        start = abi.resume_address(uc);
    }
}

/// How [`reschedule`] ended.
enum Rescheduled {
    /// A thread is ready to run.
    Run,
    /// The run was interrupted while every thread waited.
    Interrupted,
    /// The monitor asked for attention while every thread waited.
    Monitor,
}

/// Gives new threads their contexts, then switches if the current thread
/// cannot or should not go on.
fn reschedule(uc: &mut Engine<'_>) -> Result<Rescheduled, uc_error> {
    spawn_contexts(uc)?;
    let m = uc.get_data_mut();
    let preempt = std::mem::take(&mut m.sched.preempt);
    wake_parked(m);
    {
        let mut p = m.process.lock();
        if p.threads.current_running() {
            if !(preempt && p.threads.others_ready()) {
                m.sched.slice_left = m.sched.next_slice();
                return Ok(Rescheduled::Run);
            }
            p.threads.yield_current();
            m.sched.stats.preemptions += 1;
        }
    }
    // Save the thread that ran (unless it has exited).
    save_or_forget_current(uc)?;
    loop {
        let m = uc.get_data_mut();
        let next = m.process.lock().threads.switch_to_next();
        let Some(next) = next else {
            // Time spent waiting is not switching.
            m.sched.slice_ended = None;
            match wait_host(m) {
                crate::signals::WaitEnd::Interrupted => return Ok(Rescheduled::Interrupted),
                crate::signals::WaitEnd::Poked => return Ok(Rescheduled::Monitor),
                crate::signals::WaitEnd::Ready => {}
            }
            crate::machine::delivery::intake_host(m);
            wake_parked(m);
            continue;
        };
        m.thread_index = m.process.lock().current_cpu();
        m.sched.stats.switches += 1;
        m.sched.slice_left = m.sched.next_slice();
        let index = index_of(m, next);
        let Some(ctx) = m.sched.take_context(index) else {
            let msg = format!("thread {next} has no CPU context");
            Machine::request_stop(uc, StopReason::Internal(msg.to_string()));
            return Ok(Rescheduled::Run);
        };
        let restored = uc.context_restore(&ctx);
        uc.get_data_mut().sched.put_context(index, ctx);
        restored?;
        if uc.get_data().trace.insn_counting {
            // A thread that never ran starts from zero.
            let counters = uc.get_data().sched.counters.get(index).copied();
            crate::machine::engine_ctl::set_insn_counters(uc, counters.unwrap_or_default())?;
        }
        let resume = uc.get_data().process.lock().threads.take_resume();
        match resume {
            Resume::Continue => return Ok(Rescheduled::Run),
            Resume::Complete(call, outcome) => {
                // A wait that ended by its deadline or a signal keeps
                // nothing for a retry (select's parked sets).
                {
                    let mut p = uc.get_data().process.lock();
                    let t = p.threads.current_mut();
                    t.select_wait = None;
                    t.ipc_wait = None;
                }
                machine::finish_syscall(uc, call, outcome)
            }
            Resume::Retry(call) => machine::run_syscall(uc, call.nr, &call.args),
        }
        let m = uc.get_data_mut();
        // The call's own stop request is handled here, not by the engine.
        m.sched.due = false;
        if m.stop.is_some() || m.process.lock().threads.current_running() {
            spawn_contexts(uc)?;
            return Ok(Rescheduled::Run);
        }
        // It blocked again, or ended its thread.
        save_or_forget_current(uc)?;
    }
}

/// Saves the context of the thread that ran, or drops it if the thread
/// has exited.
fn save_or_forget_current(uc: &mut Engine<'_>) -> Result<(), uc_error> {
    let m = uc.get_data_mut();
    let (cur, gone) = {
        let p = m.process.lock();
        (p.threads.current_tid(), p.threads.current_gone())
    };
    if gone {
        let index = index_of(m, cur);
        m.sched.take_context(index);
        Ok(())
    } else {
        save(uc, cur)
    }
}

/// Where thread `tid`'s context is kept: its index, tid - pid.
fn index_of(m: &Machine, tid: u32) -> usize {
    tid.wrapping_sub(m.process.lock().pid) as usize
}

fn save(uc: &mut Engine<'_>, tid: u32) -> Result<(), uc_error> {
    let index = index_of(uc.get_data(), tid);
    let mut ctx = match uc.get_data_mut().sched.take_context(index) {
        Some(c) => c,
        None => uc.context_alloc()?,
    };
    let saved = uc.context_save(&mut ctx);
    uc.get_data_mut().sched.put_context(index, ctx);
    saved?;
    if uc.get_data().trace.insn_counting {
        let counters = crate::machine::engine_ctl::insn_counters(uc)?;
        let kept = &mut uc.get_data_mut().sched.counters;
        if index >= kept.len() {
            kept.resize(index + 1, Default::default());
        }
        kept[index] = counters;
    }
    Ok(())
}

/// Makes the CPU contexts of threads clone just created: the creator's
/// registers, with clone's result 0, the new stack and TLS. Installs the
/// time-slice hook with the second thread.
fn spawn_contexts(uc: &mut Engine<'_>) -> Result<(), uc_error> {
    let spawned = uc.get_data_mut().process.lock().threads.take_spawned();
    if spawned.is_empty() {
        return Ok(());
    }
    let abi = uc.get_data().abi;
    let mut parent = uc.context_alloc()?;
    uc.context_save(&mut parent)?;
    for s in spawned {
        let made = abi.thread_start(uc, s.stack, s.tls);
        let mut ctx = uc.context_alloc()?;
        uc.context_save(&mut ctx)?;
        uc.context_restore(&parent)?;
        if let Err(msg) = made {
            Machine::request_stop(uc, StopReason::Internal(msg.to_string()));
            return Ok(());
        }
        let m = uc.get_data_mut();
        let index = index_of(m, s.tid);
        m.sched.put_context(index, ctx);
        m.sched.stats.threads += 1;
    }
    if !uc.get_data().blocks.serves(BlockUse::Slices) {
        blocks::need(uc, BlockUse::Slices)?;
        let m = uc.get_data_mut();
        m.sched.slice_left = m.sched.next_slice();
    }
    Ok(())
}

/// At every block while threads share the engine (the block hook):
/// counts blocks; at the end of a slice, stops the engine at the start of
/// this block (before any of its instructions ran) for a switch.
pub(super) fn on_block(uc: &mut Engine<'_>) {
    let s = &mut uc.get_data_mut().sched;
    if let Some(t) = s.slice_ended.take() {
        s.stats.switch_ns += t.elapsed().as_nanos() as u64;
        s.stats.timed_switches += 1;
    }
    // A slice is at least two blocks, so the first block after a
    // switch never ends it (no livelock).
    s.slice_left = s.slice_left.saturating_sub(1);
    if s.slice_left == 0 {
        let m = uc.get_data_mut();
        let idle = {
            let p = m.process.lock();
            !p.threads.others_ready() && !p.threads.has_parked()
        };
        if idle {
            // Nobody to switch to and nothing to poll: run on.
            m.sched.slice_left = m.sched.next_slice();
            return;
        }
        let s = &mut m.sched;
        s.preempt = true;
        if s.timing {
            s.slice_ended = Some(std::time::Instant::now());
        }
        request(uc);
    }
}

/// Wakes parked threads whose descriptors are ready or whose deadline has
/// passed, in thread-id order.
fn wake_parked(m: &mut Machine) {
    if m.process.lock().threads.blocked().next().is_none() {
        return;
    }
    let now = crate::host::monotonic_ns();
    let mut polled: Vec<libc::pollfd> = Vec::new();
    let mut owners: Vec<u32> = Vec::new();
    let mut expired: Vec<(u32, Option<crate::abi::Outcome>)> = Vec::new();
    for (tid, b) in m.process.lock().threads.blocked() {
        if b.deadline.is_some_and(|d| d <= now) {
            // A polled wait runs its call again; others complete.
            let outcome = (b.wait != Wait::Retry).then_some(b.on_timeout);
            expired.push((tid, outcome));
            continue;
        }
        if let Wait::Io { fds } = &b.wait {
            for &(fd, events) in fds {
                polled.push(libc::pollfd {
                    fd,
                    events,
                    revents: 0,
                });
                owners.push(tid);
            }
        }
    }
    let mut ready: Vec<u32> = Vec::new();
    if !polled.is_empty() {
        // SAFETY: `polled` is an array of pollfd we own; no waiting.
        let n = unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, 0) };
        if n > 0 {
            for (pfd, tid) in polled.iter().zip(&owners) {
                if pfd.revents != 0 && !ready.contains(tid) {
                    ready.push(*tid);
                }
            }
        }
    }
    for (tid, outcome) in expired {
        m.process.lock().threads.wake(tid, outcome);
    }
    for tid in ready {
        m.process.lock().threads.wake(tid, None);
    }
}

/// No thread is ready: waits on the host for a parked descriptor, the
/// earliest deadline, an interrupt, or a poke (the monitor).
fn wait_host(m: &mut Machine) -> crate::signals::WaitEnd {
    let mut fds: Vec<libc::pollfd> = Vec::new();
    let mut deadline: Option<u64> = None;
    for (_, b) in m.process.lock().threads.blocked() {
        let Block {
            wait, deadline: d, ..
        } = b;
        if let Some(d) = d {
            deadline = Some(deadline.map_or(*d, |x: u64| x.min(*d)));
        }
        if let Wait::Io { fds: list } = wait {
            for &(fd, events) in list {
                fds.push(libc::pollfd {
                    fd,
                    events,
                    revents: 0,
                });
            }
        }
    }
    // The guest's output must not wait behind a sleep.
    if let Some(r) = m.trace.recorder.as_mut() {
        r.sync();
    }
    let timeout = deadline.map(|d| d.saturating_sub(crate::host::monotonic_ns()));
    crate::signals::wait_interruptibly(&mut fds, timeout)
}

/// Runs guest code from `start` until the engine stops. A host fault
/// meanwhile is this thread's engine's to turn into the guest's
/// (`mem::host_fault`).
pub(crate) fn run_guest_code(uc: &mut Engine<'_>, start: u64) -> Result<(), uc_error> {
    // A stop the watcher asked for before this run is lost (starting
    // clears it): forget that it asked.
    crate::signals::take_stopped_for_guest();
    crate::mem::host_fault::enter_engine(uc.get_handle());
    let result = uc.emu_start(start, 0, 0, 0);
    crate::mem::host_fault::leave_engine();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_slices_vary_reproducibly_within_bounds() {
        let opts = SchedOptions {
            slice_blocks: 100,
            seed: Some(9),
            parallel: false,
            chosen: true,
        };
        let (mut a, mut b) = (Scheduler::new(opts), Scheduler::new(opts));
        let xs: Vec<u32> = (0..50).map(|_| a.next_slice()).collect();
        let ys: Vec<u32> = (0..50).map(|_| b.next_slice()).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|&n| (50..150).contains(&n)), "{xs:?}");
        assert!(xs.iter().any(|&n| n != xs[0]));
        let mut fixed = Scheduler::default();
        assert_eq!(fixed.next_slice(), DEFAULT_SLICE_BLOCKS);
        assert_eq!(fixed.next_slice(), DEFAULT_SLICE_BLOCKS);
    }

    #[test]
    fn system_calls_use_up_the_slice_but_leave_two_blocks() {
        let mut s = Scheduler::new(SchedOptions {
            slice_blocks: 2_000,
            seed: None,
            parallel: false,
            chosen: true,
        });
        s.charge_syscall(0);
        assert_eq!(s.slice_left, 2_000 - SYSCALL_BLOCKS);
        s.charge_syscall(2);
        assert_eq!(
            s.slice_left,
            2_000 - 2 * SYSCALL_BLOCKS - 2 * ENGINE_OP_BLOCKS
        );
        s.charge_syscall(usize::MAX);
        assert_eq!(s.slice_left, 2);
        s.slice_left = 1;
        s.charge_syscall(0);
        assert_eq!(s.slice_left, 1);
    }
}
