// SPDX-License-Identifier: GPL-2.0-or-later
//! Per-process state the emulated kernel keeps: memory, descriptors,
//! program break, signal dispositions and identity.

pub mod clone_flags;
mod fdtable;
pub mod procfs;
pub mod signal;
pub mod sysroot;
pub mod thread;
pub mod timer;

use std::collections::HashSet;
use std::path::PathBuf;

pub use fdtable::{dup_host, host_nofile_limits, FdTable, Listing, NR_OPEN};

use crate::arch::Abi;
use crate::mem::AddressSpace;

/// The program break: `[start, current)` is the heap, backed up to `mapped_end`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Brk {
    pub start: u64,
    pub current: u64,
    pub mapped_end: u64,
}

pub struct Process {
    pub abi: &'static dyn Abi,
    pub mem: AddressSpace,
    pub fds: FdTable,
    pub brk: Brk,
    /// Absolute host path of the running executable (/proc/self/exe).
    pub exe_path: PathBuf,
    /// Where the guest's absolute paths are looked up first (`-L`).
    pub sysroot: Option<PathBuf>,
    pub pid: u32,
    /// Dispositions and process-directed pending signals (masks and
    /// alternate stacks are per thread).
    pub signals: signal::ProcessSignals,
    /// The page with the sigreturn code for handlers without a restorer.
    pub sigreturn_page: Option<u64>,
    /// The process's threads, the run queue and futex waiters.
    pub threads: thread::Threads,
    /// Device and inode of the hypertrace control file, if a channel exists.
    pub control_file: Option<(u64, u64)>,
    /// The hypertrace data file: path, device and inode, size. ht-user
    /// reads it through a shared mapping, so a guest that truncates it gets
    /// its size back (see `syscall::fs`).
    pub channel_data: Option<(std::path::PathBuf, (u64, u64), u64)>,
    /// Syscall numbers already reported as unsupported.
    pub unsupported_seen: HashSet<u64>,
    /// Soft/hard limits the guest set with setrlimit, by resource.
    pub rlimits: Vec<(u32, u64, u64)>,
    /// The auxiliary vector given at start (for /proc/self/auxv).
    pub auxv: Vec<(u64, u64)>,
    /// POSIX timers (timer_create).
    pub timers: timer::Timers,
    /// The CPU model (`-cpu`) and what it tells the guest.
    pub cpu: crate::arch::cpu::Cpu,
    pub cpu_facts: crate::arch::cpu::CpuFacts,
    /// Memory changes for the other threads' engines (parallel scheduling).
    pub journal: EngineJournal,
    /// Its threads run in parallel (`machine::parallel`): the guest sees
    /// the CPUs ht-user may run on, not one.
    pub parallel: bool,
}

/// Memory changes for the engines of a process's threads (parallel
/// scheduling): batches numbered from 1, one per system call that changed
/// the layout; each engine applies the batches after the last it applied,
/// and a batch (with the host memory its unmaps retired) goes once every
/// engine has passed it.
#[derive(Default)]
pub struct EngineJournal {
    /// The number of `batches[0]`.
    first: u64,
    batches: std::collections::VecDeque<JournalBatch>,
}

struct JournalBatch {
    ops: Vec<crate::mem::EngineOp>,
    _retired: Vec<std::sync::Arc<crate::mem::HostMapping>>,
}

impl EngineJournal {
    /// The number of the last batch (0: none yet).
    pub fn last(&self) -> u64 {
        (self.first + self.batches.len() as u64).saturating_sub(1)
    }

    /// Adds a batch; returns its number.
    pub fn push(
        &mut self,
        ops: Vec<crate::mem::EngineOp>,
        retired: Vec<std::sync::Arc<crate::mem::HostMapping>>,
    ) -> u64 {
        if self.batches.is_empty() {
            self.first = self.last() + 1;
        }
        self.batches.push_back(JournalBatch {
            ops,
            _retired: retired,
        });
        self.last()
    }

    /// The changes of the batches after `applied`.
    pub fn since(&self, applied: u64) -> Vec<crate::mem::EngineOp> {
        let skip = applied.saturating_add(1).saturating_sub(self.first) as usize;
        self.batches
            .iter()
            .skip(skip)
            .flat_map(|b| b.ops.iter().cloned())
            .collect()
    }

    /// Drops the batches every engine has applied (`applied` is the
    /// lowest engine's).
    pub fn trim(&mut self, applied: u64) {
        while !self.batches.is_empty() && self.first <= applied {
            self.batches.pop_front();
            self.first += 1;
        }
    }
}

/// The process as every guest thread's engine reaches it: one lock, taken
/// for a system call, a memory-map lookup or a signal decision, never held
/// while guest code runs or while a call waits on the host. With the serial
/// scheduler one engine takes it at a time, uncontended.
#[derive(Clone)]
pub struct SharedProcess(std::sync::Arc<ProcessCell>);

struct ProcessCell {
    state: std::sync::Mutex<Process>,
    /// Signalled when an engine has followed the process's memory changes
    /// (parallel scheduling: a thread changing the layout waits for it).
    changed: std::sync::Condvar,
}

// Every thread's engine reaches the process from its own host thread.
const _: fn() = || {
    fn shareable<T: Send + Sync>() {}
    shareable::<SharedProcess>();
};

impl SharedProcess {
    pub fn new(process: Process) -> Self {
        SharedProcess(std::sync::Arc::new(ProcessCell {
            state: std::sync::Mutex::new(process),
            changed: std::sync::Condvar::new(),
        }))
    }

    /// The process, exclusively until the guard is dropped. A panic while
    /// another holder had it leaves the state as that holder left it:
    /// ht-user reports the panic and ends, so the state is still usable for
    /// flushing the trace and removing the channel files.
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Process> {
        self.0
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Releases `guard` until [`SharedProcess::notify`] or `timeout`, and
    /// takes the process again.
    pub fn wait<'a>(
        &'a self,
        guard: std::sync::MutexGuard<'a, Process>,
        timeout: std::time::Duration,
    ) -> std::sync::MutexGuard<'a, Process> {
        match self.0.changed.wait_timeout(guard, timeout) {
            Ok((g, _)) => g,
            Err(poisoned) => poisoned.into_inner().0,
        }
    }

    /// Wakes the threads in [`SharedProcess::wait`].
    pub fn notify(&self) {
        self.0.changed.notify_all();
    }

    /// The process, when this is the only handle (a forked child before it
    /// starts threads, tests).
    pub fn get_mut(&mut self) -> &mut Process {
        std::sync::Arc::get_mut(&mut self.0)
            .expect("the only handle")
            .state
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Process {
    /// The CPUs the guest's threads run on, by number: those ht-user may
    /// use when they run in parallel, else the one they take turns on
    /// (what sched_getaffinity and /proc/cpuinfo show).
    pub fn guest_cpus(&self) -> Vec<usize> {
        if self.parallel {
            crate::host::usable_cpus()
        } else {
            vec![0]
        }
    }

    pub fn new(abi: &'static dyn Abi, exe_path: PathBuf) -> std::io::Result<Self> {
        let pid = std::process::id();
        Ok(Process {
            abi,
            mem: AddressSpace::new(abi.endian(), abi.layout()),
            fds: FdTable::with_stdio()?,
            brk: Brk::default(),
            exe_path,
            sysroot: None,
            pid,
            signals: signal::ProcessSignals::default(),
            sigreturn_page: None,
            threads: thread::Threads::new(pid),
            control_file: None,
            channel_data: None,
            unsupported_seen: HashSet::new(),
            rlimits: Vec::new(),
            auxv: Vec::new(),
            timers: timer::Timers::default(),
            cpu: abi.default_cpu(),
            cpu_facts: crate::arch::cpu::CpuFacts::default(),
            journal: EngineJournal::default(),
            parallel: false,
        })
    }

    /// Index of the running guest thread (the "cpu" of trace events):
    /// 0 for the first thread, then in creation order.
    pub fn current_cpu(&self) -> u32 {
        self.threads.current_index()
    }

    /// A register argument as the signed C `long` the guest passed.
    pub fn sarg(&self, v: u64) -> i64 {
        if self.abi.is_64bit() {
            v as i64
        } else {
            i64::from(v as u32 as i32)
        }
    }

    pub fn word_size(&self) -> usize {
        if self.abi.is_64bit() {
            8
        } else {
            4
        }
    }
}
