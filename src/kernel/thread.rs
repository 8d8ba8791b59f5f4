// SPDX-License-Identifier: GPL-2.0-or-later
//! Guest threads as the emulated kernel sees them: identity, the state of
//! each thread (running, ready, blocked and on what), the run queue and the
//! futex wait queue. This is plain data with no engine in it: the scheduler
//! (`crate::machine::sched`) keeps the CPU contexts and decides when to switch;
//! system call handlers block and wake threads through this table.
//!
//! Thread ids: the first thread's tid is the process id; the thread with
//! index `k` (creation order, never reused) has tid `pid + k`. Trace events
//! carry the index as their `cpu`.

use std::collections::{BTreeMap, VecDeque};

use crate::abi::Outcome;

/// What a blocked thread waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wait {
    /// A futex word (guest address) and the wait's bitset.
    Futex { addr: u64, bitset: u32 },
    /// A PI futex owned by another thread.
    FutexPi { addr: u64 },
    /// Host descriptors becoming ready (`poll` events per descriptor).
    Io { fds: Vec<(i32, i16)> },
    /// Nothing but the deadline.
    Sleep,
    /// Nothing to wait on: the call runs again at the deadline (SysV IPC
    /// operations, whose host objects have no descriptor to poll).
    Retry,
    /// A signal: one that runs a handler (sigsuspend, pause) or, for the
    /// signals of `taken`, one to take without a handler (sigtimedwait).
    Signal { taken: u64 },
}

/// A blocked thread: what it waits for, until when (CLOCK_MONOTONIC ns),
/// what the call returns at the deadline, and whether the call is run
/// again when the wait ends (I/O) instead of returning a set result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub wait: Wait,
    pub deadline: Option<u64>,
    pub on_timeout: Outcome,
}

impl Block {
    pub fn new(wait: Wait, deadline: Option<u64>, on_timeout: Outcome) -> Self {
        Block {
            wait,
            deadline,
            on_timeout,
        }
    }
}

/// The system call a blocked thread made, to finish when it resumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingCall {
    pub nr: u64,
    pub args: [u64; 6],
}

/// How a thread continues when it runs again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// Nothing to do: it was preempted or has just been created.
    Continue,
    /// Its system call completes with this result.
    Complete(PendingCall, Outcome),
    /// Its system call runs again (the descriptor it waited for is ready).
    Retry(PendingCall),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Running,
    Ready,
    Blocked(Block, PendingCall),
}

/// select's three descriptor sets as the guest gave them (None: a null
/// pointer): arrays of the guest's longs, bit n for descriptor n.
pub type FdSets = [Option<Vec<u8>>; 3];

/// Wakes a thread's host thread out of its wait (an eventfd it polls).
#[derive(Debug)]
pub struct Waker(std::os::fd::OwnedFd);

impl Waker {
    pub fn new() -> std::io::Result<Self> {
        use std::os::fd::FromRawFd;
        // SAFETY: eventfd(2) returns a new descriptor we own, or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and nothing else owns it.
        Ok(Waker(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }))
    }

    pub fn wake(&self) {
        use std::os::fd::AsRawFd;
        let one = 1u64;
        // SAFETY: an 8-byte write to our eventfd; a full counter is fine.
        unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// The descriptor to poll; [`Waker::clear`] after it was ready.
    pub fn fd(&self) -> i32 {
        use std::os::fd::AsRawFd;
        self.0.as_raw_fd()
    }

    pub fn clear(&self) {
        let mut count = 0u64;
        // SAFETY: an 8-byte read from our non-blocking eventfd.
        unsafe { libc::read(self.fd(), (&mut count as *mut u64).cast(), 8) };
    }
}

/// A thread running on an engine of its own (parallel scheduling): how to
/// stop that engine and wake its host thread, and how far it has followed
/// the process's memory changes.
#[derive(Clone)]
pub struct OwnEngine {
    /// Stops the engine at its next block (uc_emu_stop, safe from any
    /// thread while the engine lives: it is dropped only after its thread
    /// has left this table).
    pub stop: std::sync::Arc<dyn Fn() + Send + Sync>,
    pub waker: std::sync::Arc<Waker>,
    /// The last memory-change batch applied to the engine.
    pub applied: u64,
    /// Whether the engine runs guest code now (it must apply a batch
    /// before going on); false while the thread waits or handles a call.
    pub in_guest: bool,
}

impl std::fmt::Debug for OwnEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnEngine")
            .field("applied", &self.applied)
            .field("in_guest", &self.in_guest)
            .finish()
    }
}

#[derive(Clone, Debug)]
pub struct Thread {
    pub tid: u32,
    pub index: u32,
    /// set_tid_address / CLONE_CHILD_CLEARTID: cleared and woken at exit.
    pub clear_child_tid: u64,
    /// set_robust_list: (head, len).
    pub robust_list: (u64, u64),
    pub state: State,
    pub resume: Resume,
    /// Mask, thread-directed pending signals, alternate stack.
    pub signals: crate::kernel::signal::ThreadSignals,
    /// A blocked select's sets as the guest gave them and its deadline:
    /// the guest's copies hold the timeout's answer (empty sets) while it
    /// waits, and are given back when a descriptor wakes it.
    pub select_wait: Option<(FdSets, Option<u64>)>,
    /// A SysV IPC operation parked until it can complete: its deadline
    /// (semtimedop) and the current polling interval.
    pub ipc_wait: Option<IpcWait>,
    /// Its own engine, with parallel scheduling.
    pub engine: Option<OwnEngine>,
    /// The wait its handler asked for with `Outcome::Blocked`.
    requested_block: Option<Block>,
}

/// See [`Thread::ipc_wait`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpcWait {
    /// CLOCK_MONOTONIC ns when the call gives up (EAGAIN), if it has a timeout.
    pub deadline: Option<u64>,
    /// Nanoseconds until the next try.
    pub interval: u64,
}

/// A thread created by clone whose CPU context the scheduler still has to
/// make from its parent's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spawn {
    pub tid: u32,
    /// The thread whose clone created it (its CPU state is the start).
    pub creator: u32,
    /// New stack pointer (0: the parent's).
    pub stack: u64,
    /// TLS argument of CLONE_SETTLS, in the ABI's meaning.
    pub tls: Option<u64>,
}

/// Every thread of the process.
#[derive(Debug)]
pub struct Threads {
    pid: u32,
    threads: BTreeMap<u32, Thread>,
    current: u32,
    /// Index of the current thread, kept at hand for trace events.
    current_index: u32,
    next_index: u32,
    run_queue: VecDeque<u32>,
    /// Futex waiters in the order they went to sleep.
    futex_queue: VecDeque<u32>,
    spawned: Vec<Spawn>,
}

/// Highest tid a futex word can hold (FUTEX_TID_MASK).
pub const TID_MASK: u32 = 0x3fff_ffff;

impl Threads {
    pub fn new(pid: u32) -> Self {
        let mut threads = BTreeMap::new();
        threads.insert(
            pid,
            Thread {
                tid: pid,
                index: 0,
                clear_child_tid: 0,
                robust_list: (0, 0),
                state: State::Running,
                resume: Resume::Continue,
                signals: Default::default(),
                select_wait: None,
                ipc_wait: None,
                engine: None,
                requested_block: None,
            },
        );
        Threads {
            pid,
            threads,
            current: pid,
            current_index: 0,
            next_index: 1,
            run_queue: VecDeque::new(),
            futex_queue: VecDeque::new(),
            spawned: Vec::new(),
        }
    }

    pub fn current_tid(&self) -> u32 {
        self.current
    }

    pub fn current_index(&self) -> u32 {
        self.current_index
    }

    pub fn current(&self) -> &Thread {
        &self.threads[&self.current]
    }

    pub fn current_mut(&mut self) -> &mut Thread {
        self.threads
            .get_mut(&self.current)
            .expect("the current thread exists")
    }

    pub fn get(&self, tid: u32) -> Option<&Thread> {
        self.threads.get(&tid)
    }

    pub fn get_mut(&mut self, tid: u32) -> Option<&mut Thread> {
        self.threads.get_mut(&tid)
    }

    /// Live threads (the current one included).
    pub fn count(&self) -> usize {
        self.threads.len()
    }

    /// More than one thread: blocking calls must not block the host.
    pub fn multi(&self) -> bool {
        self.threads.len() > 1
    }

    pub fn tids(&self) -> impl Iterator<Item = u32> + '_ {
        self.threads.keys().copied()
    }

    /// Whether the scheduler must step in: the current thread blocked,
    /// yielded or exited, or a new thread needs its CPU context.
    pub fn needs_scheduler(&self) -> bool {
        self.spawned.iter().any(|s| s.creator == self.current)
            || !matches!(
                self.threads.get(&self.current).map(|t| &t.state),
                Some(State::Running)
            )
    }

    /// Whether the current thread is still running (not blocked, not gone).
    pub fn current_running(&self) -> bool {
        matches!(
            self.threads.get(&self.current).map(|t| &t.state),
            Some(State::Running)
        )
    }

    /// Whether the current thread has exited.
    pub fn current_gone(&self) -> bool {
        !self.threads.contains_key(&self.current)
    }

    /// Whether a thread other than the current one can run now.
    pub fn others_ready(&self) -> bool {
        !self.run_queue.is_empty()
    }

    /// A new thread, ready to run after the threads already queued.
    /// Returns its tid, or None when the index space is exhausted.
    pub fn create(&mut self, stack: u64, tls: Option<u64>) -> Option<u32> {
        let tid = self.pid.checked_add(self.next_index)?;
        if tid > TID_MASK {
            return None;
        }
        let index = self.next_index;
        self.next_index += 1;
        let mask = self
            .threads
            .get(&self.current)
            .map_or(0, |t| t.signals.mask);
        self.threads.insert(
            tid,
            Thread {
                tid,
                index,
                clear_child_tid: 0,
                robust_list: (0, 0),
                state: State::Ready,
                resume: Resume::Continue,
                // The creator's mask; nothing pending, no alternate stack.
                signals: crate::kernel::signal::ThreadSignals {
                    mask,
                    ..Default::default()
                },
                select_wait: None,
                ipc_wait: None,
                engine: None,
                requested_block: None,
            },
        );
        let creator = self.current;
        self.spawned.push(Spawn {
            tid,
            creator,
            stack,
            tls,
        });
        self.run_queue.push_back(tid);
        Some(tid)
    }

    /// Threads created since the last call, for the scheduler.
    pub fn take_spawned(&mut self) -> Vec<Spawn> {
        std::mem::take(&mut self.spawned)
    }

    /// The threads `creator` created since the last call (parallel
    /// scheduling: each engine starts the threads its own thread made).
    pub fn take_spawned_by(&mut self, creator: u32) -> Vec<Spawn> {
        let (mine, others) = std::mem::take(&mut self.spawned)
            .into_iter()
            .partition(|s| s.creator == creator);
        self.spawned = others;
        mine
    }

    /// A handler's request to block the calling thread; it then returns
    /// `Outcome::Blocked`.
    pub fn request_block(&mut self, block: Block) -> crate::abi::Outcome {
        self.current_mut().requested_block = Some(block);
        Outcome::Blocked
    }

    /// The wait requested by the handler that returned `Outcome::Blocked`.
    pub fn take_block(&mut self) -> Option<Block> {
        self.threads
            .get_mut(&self.current)
            .and_then(|t| t.requested_block.take())
    }

    /// The current thread blocks in `call` until `block` ends.
    pub fn block_current(&mut self, block: Block, call: PendingCall) {
        if matches!(block.wait, Wait::Futex { .. } | Wait::FutexPi { .. }) {
            self.futex_queue.push_back(self.current);
        }
        self.current_mut().state = State::Blocked(block, call);
    }

    /// The current thread gives way to the next ready one.
    pub fn yield_current(&mut self) {
        let tid = self.current;
        self.current_mut().state = State::Ready;
        self.run_queue.push_back(tid);
    }

    /// Removes the current thread (it has exited). Returns the number of
    /// threads left.
    pub fn remove_current(&mut self) -> usize {
        let tid = self.current;
        self.threads.remove(&tid);
        self.futex_queue.retain(|t| *t != tid);
        self.run_queue.retain(|t| *t != tid);
        self.threads.len()
    }

    /// The next thread to run, now current. None when none is ready.
    pub fn switch_to_next(&mut self) -> Option<u32> {
        let next = self.run_queue.pop_front()?;
        self.current = next;
        if let Some(t) = self.threads.get_mut(&next) {
            t.state = State::Running;
            self.current_index = t.index;
        }
        Some(next)
    }

    /// Ends the wait of blocked thread `tid`: it becomes ready and its call
    /// completes with `outcome` (or runs again for `None`).
    pub fn wake(&mut self, tid: u32, outcome: Option<Outcome>) {
        let Some(t) = self.threads.get_mut(&tid) else {
            return;
        };
        let State::Blocked(_, call) = t.state else {
            return;
        };
        t.resume = match outcome {
            Some(o) => Resume::Complete(call, o),
            None => Resume::Retry(call),
        };
        t.state = State::Ready;
        if let Some(e) = &t.engine {
            e.waker.wake();
        }
        self.futex_queue.retain(|x| *x != tid);
        self.run_queue.push_back(tid);
    }

    /// Parallel scheduling: thread `tid`, whose engine holds the process
    /// lock, is the one system calls act for.
    /// (A thread that has just exited stays current, absent from the
    /// table, for the rest of its exit call, as with the serial scheduler.)
    pub fn set_current(&mut self, tid: u32) {
        self.current = tid;
        if let Some(t) = self.threads.get(&tid) {
            self.current_index = t.index;
        }
    }

    /// Parallel scheduling: thread `tid` (the current one) runs again
    /// after its wait; takes what it must do first.
    pub fn resume_own(&mut self, tid: u32) -> Resume {
        self.set_current(tid);
        self.run_queue.retain(|x| *x != tid);
        let Some(t) = self.threads.get_mut(&tid) else {
            return Resume::Continue;
        };
        if matches!(t.state, State::Ready) {
            t.state = State::Running;
        }
        std::mem::replace(&mut t.resume, Resume::Continue)
    }

    /// Whether thread `tid` waits in a call, or was woken from one it has
    /// not completed yet.
    pub fn waits_or_was_woken(&self, tid: u32) -> bool {
        self.is_blocked(tid)
            || self
                .threads
                .get(&tid)
                .is_some_and(|t| !matches!(t.resume, Resume::Continue))
    }

    /// Whether thread `tid` waits (blocked in a call).
    pub fn is_blocked(&self, tid: u32) -> bool {
        matches!(
            self.threads.get(&tid).map(|t| &t.state),
            Some(State::Blocked(..))
        )
    }

    /// Stops the engine of thread `tid` if it runs on one of its own (a
    /// signal for it, the process ending): it looks at its state at once.
    pub fn poke(&self, tid: u32) {
        if let Some(e) = self.threads.get(&tid).and_then(|t| t.engine.as_ref()) {
            (e.stop)();
            e.waker.wake();
        }
    }

    /// Threads with an engine of their own.
    pub fn own_engines(&self) -> impl Iterator<Item = (u32, &OwnEngine)> + '_ {
        self.threads
            .values()
            .filter_map(|t| t.engine.as_ref().map(|e| (t.tid, e)))
    }

    /// Takes what the thread that just became current must do first.
    pub fn take_resume(&mut self) -> Resume {
        std::mem::replace(&mut self.current_mut().resume, Resume::Continue)
    }

    /// Blocked threads with what they wait for.
    pub fn blocked(&self) -> impl Iterator<Item = (u32, &Block)> + '_ {
        self.threads.values().filter_map(|t| match &t.state {
            State::Blocked(b, _) => Some((t.tid, b)),
            _ => None,
        })
    }

    /// Whether a blocked thread waits for a descriptor or a deadline: the
    /// scheduler must look at it now and then even if nothing else is ready.
    pub fn has_parked(&self) -> bool {
        self.blocked()
            .any(|(_, b)| b.deadline.is_some() || matches!(b.wait, Wait::Io { .. }))
    }

    /// Futex waiters on `addr` whose bitset meets `bitset`, oldest first.
    pub fn futex_waiters(&self, addr: u64, bitset: u32) -> Vec<u32> {
        self.futex_queue
            .iter()
            .copied()
            .filter(|tid| match self.threads.get(tid).map(|t| &t.state) {
                Some(State::Blocked(b, _)) => match b.wait {
                    Wait::Futex { addr: a, bitset: s } => a == addr && s & bitset != 0,
                    Wait::FutexPi { addr: a } => a == addr && bitset == u32::MAX,
                    _ => false,
                },
                _ => false,
            })
            .collect()
    }

    /// Moves waiter `tid` to the futex at `to`, behind its current waiters.
    pub fn requeue(&mut self, tid: u32, to: u64) {
        if let Some(t) = self.threads.get_mut(&tid) {
            if let State::Blocked(b, _) = &mut t.state {
                if let Wait::Futex { addr, .. } = &mut b.wait {
                    *addr = to;
                }
            }
        }
        self.futex_queue.retain(|x| *x != tid);
        self.futex_queue.push_back(tid);
    }

    /// The tid of the thread with `index`, if it lives.
    pub fn tid_of_index(&self, index: u32) -> Option<u32> {
        self.threads
            .values()
            .find(|t| t.index == index)
            .map(|t| t.tid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> PendingCall {
        PendingCall {
            nr: 0,
            args: [0; 6],
        }
    }

    #[test]
    fn create_switch_and_wake_in_fifo_order() {
        let mut t = Threads::new(100);
        assert!(!t.multi());
        assert_eq!(t.create(0x1000, None), Some(101));
        assert_eq!(t.create(0x2000, Some(7)), Some(102));
        assert_eq!(t.take_spawned().len(), 2);
        assert_eq!(t.get(102).unwrap().index, 2);
        // The first thread waits on a futex; the others run in order.
        t.block_current(
            Block::new(
                Wait::Futex {
                    addr: 0x10,
                    bitset: u32::MAX,
                },
                None,
                Outcome::Value(0),
            ),
            call(),
        );
        assert_eq!(t.switch_to_next(), Some(101));
        t.block_current(
            Block::new(
                Wait::Futex {
                    addr: 0x10,
                    bitset: 1,
                },
                None,
                Outcome::Value(0),
            ),
            call(),
        );
        assert_eq!(t.switch_to_next(), Some(102));
        assert_eq!(t.futex_waiters(0x10, u32::MAX), vec![100, 101]);
        assert_eq!(t.futex_waiters(0x10, 2), vec![100]);
        t.wake(101, Some(Outcome::Value(0)));
        assert_eq!(t.futex_waiters(0x10, u32::MAX), vec![100]);
        t.yield_current();
        assert_eq!(t.switch_to_next(), Some(101));
        assert!(matches!(
            t.take_resume(),
            Resume::Complete(_, Outcome::Value(0))
        ));
        assert_eq!(t.take_resume(), Resume::Continue);
        assert_eq!(t.remove_current(), 2);
        assert_eq!(t.switch_to_next(), Some(102));
        assert!(!t.current_gone());
    }
}
