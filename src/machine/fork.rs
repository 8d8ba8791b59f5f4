// SPDX-License-Identifier: GPL-2.0-or-later
//! fork, vfork and clone without CLONE_VM: a host fork() of the whole
//! emulator.
//!
//! The emulated process is one host process, so a guest fork is a host
//! fork: the child inherits the engine and all guest memory. Private guest
//! memory is private host memory (copy-on-write, as in Linux); shared
//! mappings (`MAP_SHARED`, the hypertrace data file) stay shared. The
//! control page is MMIO in both processes, so each records its own events.
//!
//! Only the forking thread survives a fork. Before it, the trace writer is
//! drained (nothing buffered is duplicated or lost); in the child, a new
//! writer thread starts with sinks naming the child's pid (text log lines
//! `CHILD@...`, the binary trace `FILE.CHILD`, see [`trace_path`]) and the
//! SIGINT watcher starts again. The channel files stay with the process
//! that created them (see `hypertrace::Channel`).
//!
//! vfork (and clone with `CLONE_VM | CLONE_VFORK`, which glibc's
//! posix_spawn uses) is a fork whose parent waits, as on Linux, until the
//! child executes a program or ends. The child does not share the
//! parent's memory, except for what vfork children write in practice:
//! the parent's stack from its stack pointer up (glibc's posix_spawn
//! reports a failed exec there). The child sends that part of its memory
//! to the parent through a pipe just before it executes a program or
//! ends; the parent copies it in and then returns from vfork. Other
//! writes of a vfork child stay its own.

use std::ffi::OsString;
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicU64, Ordering};

use crate::abi::{Errno, Outcome, Sys};
use crate::machine::Engine;
use crate::trace::file::TraceInfo;
use crate::trace::{OutputSharing, Recorder, Sink, Writer};

static ROOT_PID: AtomicU32 = AtomicU32::new(0);

/// Events the run's descendants could not record, counted in one shared
/// page that every forked child inherits (null until the run's first
/// process sets it up).
static DESCENDANT_LOSSES: AtomicPtr<AtomicU64> = AtomicPtr::new(std::ptr::null_mut());

/// Set in a forked child whose binary trace could not be created.
static OWN_TRACE_LOST: AtomicBool = AtomicBool::new(false);

/// The descriptor of the shared page (a memfd kept across execve, so a
/// program a child executes reports to the same count); -1 when none.
static LOSS_FD: AtomicI32 = AtomicI32::new(-1);

/// Sets up the shared count of events descendants lost: `inherited` is the
/// descriptor an executing ht-user passed on (`--ht-loss-fd`); without it,
/// a new count is created (the run's first process).
pub fn share_loss_count(inherited: Option<i32>) {
    let fd = match inherited {
        Some(fd) => fd,
        None => {
            let name = c"ht-user-lost-events";
            // SAFETY: a NUL-terminated name; no flags: the descriptor is
            // meant to survive execve.
            let fd = unsafe { libc::memfd_create(name.as_ptr(), 0) };
            // SAFETY: ftruncate on the descriptor just created.
            if fd < 0 || unsafe { libc::ftruncate(fd, 4096) } != 0 {
                return;
            }
            fd
        }
    };
    // SAFETY: a shared mapping of one page of our memfd, never unmapped;
    // page-aligned, so it holds an AtomicU64 at its start (zero-filled).
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        )
    };
    if page != libc::MAP_FAILED {
        LOSS_FD.store(fd, Ordering::SeqCst);
        DESCENDANT_LOSSES.store(page.cast(), Ordering::SeqCst);
    }
}

/// The option that hands the shared count to an executed ht-user.
pub fn loss_fd_option() -> Option<String> {
    let fd = LOSS_FD.load(Ordering::SeqCst);
    (fd >= 0).then(|| format!("--ht-loss-fd={fd}"))
}

fn loss_count() -> Option<&'static AtomicU64> {
    let counter = DESCENDANT_LOSSES.load(Ordering::SeqCst);
    // SAFETY: set once to a shared page that is never unmapped.
    (!counter.is_null()).then(|| unsafe { &*counter })
}

/// A descendant adds the events it could not record (at least 1: a trace
/// that could not be written whole lost something).
pub fn report_descendant_loss(events: u64) {
    if let Some(count) = loss_count() {
        count.fetch_add(events.max(1), Ordering::SeqCst);
    }
}

/// Events the run's descendants reported lost.
pub fn descendant_losses() -> u64 {
    loss_count().map_or(0, |c| c.load(Ordering::SeqCst))
}

/// Whether this process's own binary trace could not be created (a forked
/// child on a full disk): its events are lost, its guest runs all the same.
pub fn own_trace_lost() -> bool {
    OWN_TRACE_LOST.load(Ordering::SeqCst)
}

/// Whether this ht-user is a forked child (or a program one executed) of
/// the run's first process: such a process ends the way its guest did
/// (by the same signal), so that its guest parent sees what Linux shows.
pub fn is_descendant() -> bool {
    let root = ROOT_PID.load(Ordering::Relaxed);
    root != 0 && root != std::process::id()
}

/// The binary trace file of process `pid`: `base` for the run's first
/// process, `base.PID` for every other.
pub fn trace_path(base: &Path, root_pid: u32, pid: u32) -> PathBuf {
    if pid == root_pid {
        base.to_path_buf()
    } else {
        let mut p = base.as_os_str().to_owned();
        p.push(format!(".{pid}"));
        PathBuf::from(p)
    }
}

/// What every process of a run shares to trace under its own pid, and to
/// execute guest programs with the run's options.
pub struct Lineage {
    /// The pid of the run's first ht-user.
    pub root_pid: u32,
    /// The text log stream, shared by all processes of the run.
    log: OwnedFd,
    log_given: bool,
    /// `-trace-file` as given (made absolute).
    trace_base: Option<PathBuf>,
    /// The header of this image's binary trace; children change the pid.
    info: TraceInfo,
    extra_args: usize,
    /// Which trace output shares the guest's stdout/stderr.
    sharing: OutputSharing,
    /// ht-user options for an executed guest program (see `machine::exec`).
    pub exec_options: Vec<OsString>,
}

impl Lineage {
    pub fn new(
        root_pid: u32,
        log: OwnedFd,
        log_given: bool,
        trace_base: Option<PathBuf>,
        info: TraceInfo,
        extra_args: usize,
        exec_options: Vec<OsString>,
    ) -> Self {
        ROOT_PID.store(root_pid, Ordering::Relaxed);
        let sharing = OutputSharing::of_log(log.as_fd(), log_given, trace_base.is_some());
        Lineage {
            root_pid,
            sharing,
            log,
            log_given,
            trace_base,
            info,
            extra_args,
            exec_options,
        }
    }

    /// The sink for process `pid`; `continuing` appends to the binary
    /// trace its earlier image wrote (after an execve).
    pub fn open_sink(
        &self,
        pid: u32,
        continuing: bool,
    ) -> Result<Box<dyn Sink>, crate::trace::SinkError> {
        let log = self
            .log
            .as_fd()
            .try_clone_to_owned()
            .map_err(crate::trace::SinkError::LogStream)?;
        let mut info = self.info.clone();
        info.pid = pid;
        let path = self
            .trace_base
            .as_ref()
            .map(|base| trace_path(base, self.root_pid, pid));
        crate::trace::open_sink_continuing(
            Box::new(File::from(log)),
            self.log_given,
            path.as_deref(),
            &info,
            continuing,
        )
    }

    pub fn extra_args(&self) -> usize {
        self.extra_args
    }

    /// The recorder and writer of process `pid` over [`Lineage::open_sink`];
    /// `false` in the result when the writer runs inline (no thread could
    /// be started).
    pub fn start_recorder(
        &self,
        pid: u32,
        continuing: bool,
    ) -> Result<(Recorder, Writer, bool), crate::trace::SinkError> {
        let sink = match self.open_sink(pid, continuing) {
            Ok(sink) => sink,
            // A forked child that cannot create its trace still runs its
            // guest: trace trouble must not change what the guest does.
            // Its text log goes on; its events are counted lost.
            Err(why) if is_descendant() => {
                eprintln!("ht-user: pid {pid}: {why}; this process's events are lost");
                OWN_TRACE_LOST.store(true, Ordering::SeqCst);
                let log = self
                    .log
                    .as_fd()
                    .try_clone_to_owned()
                    .map_err(crate::trace::SinkError::LogStream)?;
                let mut info = self.info.clone();
                info.pid = pid;
                let mut text = crate::trace::log::QemuLogSink::with_anchor(
                    Box::new(File::from(log)),
                    pid,
                    info.anchor,
                );
                text.set_events(self.log_given);
                text.set_hypertrace_args(info.event_args as usize - 1);
                Box::new(text)
            }
            Err(why) => return Err(why),
        };
        let (mut recorder, writer, threaded) =
            Writer::start_or_inline(sink, self.info.hypertrace_words());
        recorder.set_output_sharing(self.sharing);
        Ok((recorder, writer, threaded))
    }
}

use crate::kernel::clone_flags::*;

/// Flags a fork-like clone may carry; namespaces, CLONE_PARENT and the
/// like are refused with EINVAL.
const FORK_FLAGS: u64 = CSIGNAL
    | CLONE_VM
    | CLONE_FS
    | CLONE_VFORK
    | CLONE_PTRACE
    | CLONE_SYSVSEM
    | CLONE_SETTLS
    | CLONE_PARENT_SETTID
    | CLONE_CHILD_CLEARTID
    | CLONE_DETACHED
    | CLONE_CHILD_SETTID;

/// The process calls this module serves, or `None` to leave the call to
/// the rest of `on_syscall` (a clone that shares memory: a thread).
pub fn process_call(uc: &mut Engine<'_>, sys: Option<Sys>, a: &[u64; 6]) -> Option<Outcome> {
    let abi = uc.get_data().abi;
    match sys? {
        Sys::fork => Some(fork(uc, 0, 0, 0, 0)),
        Sys::vfork => Some(fork(uc, CLONE_VM | CLONE_VFORK, 0, 0, 0)),
        Sys::clone => {
            let c = abi.clone_args(a);
            let flags = c.flags;
            if flags & CLONE_VM != 0 && flags & CLONE_VFORK == 0 {
                return None;
            }
            if flags & (CLONE_THREAD | CLONE_SIGHAND | CLONE_FILES | CLONE_PIDFD | CLONE_PARENT)
                != 0
                || flags & !FORK_FLAGS != 0
            {
                return Some(Outcome::Error(Errno::EINVAL));
            }
            Some(fork(uc, flags, c.stack, c.ptid, c.ctid))
        }
        Sys::execve | Sys::execveat => Some(super::exec::execve(uc, sys?, a)),
        _ => None,
    }
}

/// A host fork. The parent gets the child's pid, the child 0 (on `stack`
/// if one was given).
fn fork(uc: &mut Engine<'_>, flags: u64, stack: u64, ptid: u64, ctid: u64) -> Outcome {
    let sp = uc.reg_read(uc.get_data().abi.thread_regs().sp).unwrap_or(0);
    let m = uc.get_data_mut();
    // Everything recorded so far is written by the parent alone.
    if let Some(r) = m.trace.recorder.as_mut() {
        r.sync();
    }
    let vfork = if flags & CLONE_VFORK != 0 {
        match VforkLink::new(&m.lock_process().mem, sp) {
            Ok(link) => Some(link),
            Err(e) => return Outcome::Error(e),
        }
    } else {
        None
    };
    // SAFETY: fork() in a multi-threaded process: the child runs only
    // this thread, which touches no lock another thread may hold except
    // the C library's own (which fork() resets); the other threads' state
    // (the writer, the signal watcher) is forgotten and started anew in
    // `become_child`.
    // With parallel threads no other thread may hold the process's lock at
    // the fork: the child could never take it.
    let held = m.parallel.is_some().then(|| m.process.lock());
    let pid = unsafe { libc::fork() };
    drop(held);
    if pid < 0 {
        return Outcome::Error(Errno::last());
    }
    if pid == 0 {
        become_child_or_exit(uc);
        uc.get_data_mut().vfork_parent = vfork.map(VforkLink::into_child);
    } else {
        if let Some(link) = vfork {
            link.wait_for_child(&mut uc.get_data_mut().lock_process().mem);
        }
        if flags & CLONE_PARENT_SETTID != 0 {
            // Linux stores it in the parent's memory only, too.
            let _ = uc
                .get_data_mut()
                .lock_process()
                .mem
                .write_u32(ptid, pid as u32);
        }
        return Outcome::Value(pid as u64);
    }
    let abi = uc.get_data().abi;
    let m = uc.get_data_mut();
    let pid = m.lock_process().pid;
    if flags & CLONE_CHILD_SETTID != 0 {
        let _ = m.lock_process().mem.write_u32(ctid, pid);
    }
    if flags & CLONE_CHILD_CLEARTID != 0 {
        m.lock_process().threads.current_mut().clear_child_tid = ctid;
    }
    if stack != 0 {
        abi.set_sp(uc, stack);
    }
    Outcome::Value(0)
}

/// The pipe between a vfork parent and its child, and the part of the
/// parent's memory the child gives back (its stack from the stack
/// pointer up).
pub struct VforkLink {
    read: OwnedFd,
    write: OwnedFd,
    start: u64,
    end: u64,
}

/// The child's end: where to send the memory before exec or exit.
pub struct VforkParent {
    write: OwnedFd,
    start: u64,
    end: u64,
}

/// Most of the parent's stack a vfork child gives back.
const VFORK_STACK_LIMIT: u64 = 8 << 20;

impl VforkLink {
    fn new(mem: &crate::mem::AddressSpace, sp: u64) -> Result<Self, Errno> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two ints.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(Errno::last());
        }
        use std::os::fd::FromRawFd;
        // SAFETY: fresh descriptors we own from here on.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let (start, end) = match mem.region_at(sp) {
            Some(r) => (sp & !0xfff, r.end.min((sp & !0xfff) + VFORK_STACK_LIMIT)),
            None => (0, 0),
        };
        Ok(VforkLink {
            read,
            write,
            start,
            end,
        })
    }

    fn into_child(self) -> VforkParent {
        drop(self.read);
        VforkParent {
            write: self.write,
            start: self.start,
            end: self.end,
        }
    }

    /// Waits until the child executes a program (the pipe closes with its
    /// old image) or ends, then copies in the last memory it sent.
    fn wait_for_child(self, mem: &mut crate::mem::AddressSpace) {
        use std::io::Read;
        drop(self.write);
        let mut all = Vec::new();
        let mut file = File::from(self.read);
        loop {
            match file.read_to_end(&mut all) {
                Ok(_) => break,
                // SIGINT and the like end the wait (and then the run).
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                    if crate::signals::interrupted().is_some() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        // Messages: start (u64), length (u64), bytes; the last one wins.
        let mut at = 0;
        let mut last: Option<(u64, &[u8])> = None;
        while all.len() - at >= 16 {
            let start = u64::from_ne_bytes(all[at..at + 8].try_into().unwrap());
            let len = u64::from_ne_bytes(all[at + 8..at + 16].try_into().unwrap()) as usize;
            if all.len() - at - 16 < len {
                break;
            }
            last = Some((start, &all[at + 16..at + 16 + len]));
            at += 16 + len;
        }
        if let Some((start, bytes)) = last {
            if start == self.start && bytes.len() as u64 == self.end - self.start {
                let _ = mem.write_privileged(start, bytes);
            }
        }
    }
}

impl VforkParent {
    /// Sends the stack part of this child's memory to the waiting parent
    /// (before an exec, which may still fail, or at the end).
    pub fn send(&self, mem: &crate::mem::AddressSpace) {
        use std::io::Write;
        let mut bytes = vec![0u8; (self.end - self.start) as usize];
        if mem.read_privileged(self.start, &mut bytes).is_err() {
            return;
        }
        let mut msg = Vec::with_capacity(bytes.len() + 16);
        msg.extend_from_slice(&self.start.to_ne_bytes());
        msg.extend_from_slice(&(bytes.len() as u64).to_ne_bytes());
        msg.extend_from_slice(&bytes);
        if let Ok(fd) = self.write.try_clone() {
            let _ = File::from(fd).write_all(&msg);
        }
    }
}

fn become_child_or_exit(uc: &mut Engine<'_>) {
    if let Err(e) = become_child(uc) {
        eprintln!("ht-user: forked child {}: {e}", std::process::id());
        // SAFETY: ends the child at once; nothing in it is worth unwinding.
        unsafe { libc::_exit(1) };
    }
}

/// Why a forked child could not set itself up.
#[derive(Debug, thiserror::Error)]
enum ChildSetupError {
    #[error(transparent)]
    Trace(#[from] crate::trace::SinkError),
    #[error("cannot reset the instruction counters: {0:?}")]
    InsnCounters(unicorn_engine::unicorn_const::uc_error),
}

/// The child's side of a fork: its own pid, trace writer and watcher.
fn become_child(uc: &mut Engine<'_>) -> Result<(), ChildSetupError> {
    // Helper threads count against RLIMIT_NPROC like processes: a child
    // at the limit runs without them (see signals and trace::Writer).
    // They start with SIGINT and the like blocked, so that they never take
    // one meant for this thread (which an execve would then lose).
    crate::signals::set_blocked(true);
    let watcher = crate::signals::reinit_after_fork();
    let m = uc.get_data_mut();
    let pid = std::process::id();
    m.lock_process().pid = pid;
    // Only the forking thread exists in the child, as on Linux; it keeps
    // its robust list.
    {
        let mut p = m.lock_process();
        let robust_list = p.threads.current().robust_list;
        p.threads = crate::kernel::thread::Threads::new(pid);
        p.threads.current_mut().robust_list = robust_list;
    }
    m.thread_index = 0;
    crate::machine::parallel::become_child(uc);
    let m = uc.get_data_mut();
    // Timers are not inherited (nor are the host timers behind them).
    m.lock_process().timers.forget();
    crate::signals::forget_timer_expiries();
    let started = m.lineage.start_recorder(pid, false);
    crate::signals::set_blocked(false);
    let (recorder, writer, threaded) = started?;
    if !watcher || !threaded {
        tracing::debug!("forked child {pid} runs without helper threads (process limit)");
    }
    // The parent's writer thread does not exist here: its channel end and
    // handle are forgotten, never dropped (its locks may be held by a
    // thread that is gone).
    if let Some(old) = m.trace.recorder.replace(recorder) {
        std::mem::forget(old);
    }
    if let Some(old) = m.trace.writer.replace(writer) {
        std::mem::forget(old);
    }
    crate::machine::parallel::child_recorder_started(uc);
    let m = uc.get_data_mut();
    m.record_known_names();
    m.report_modules_again();
    // The child's thread counts its own instructions, from zero.
    if m.trace.insn_counting {
        crate::machine::engine_ctl::set_insn_counters(uc, Default::default())
            .map_err(ChildSetupError::InsnCounters)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_paths() {
        let base = Path::new("/t/run.bin");
        assert_eq!(trace_path(base, 10, 10), PathBuf::from("/t/run.bin"));
        assert_eq!(trace_path(base, 10, 12), PathBuf::from("/t/run.bin.12"));
    }
}
