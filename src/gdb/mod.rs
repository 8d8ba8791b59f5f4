// SPDX-License-Identifier: GPL-2.0-or-later
//! A gdb server (`-g PORT`, `QEMU_GDB`), as qemu-user has: the program
//! waits at its first instruction until gdb connects, then gdb reads and
//! writes registers and memory, sets software breakpoints, single-steps,
//! continues and interrupts (Ctrl-C); a fatal signal stops the program
//! for gdb before it ends. The remote protocol is the `gdbstub` crate's;
//! this module runs the guest between gdb's commands through the
//! scheduler, so threads, signals and the monitor work as without gdb.
//!
//! gdb sees the thread that runs (one thread); a forked child runs on
//! without the debugger, as under qemu-user.

mod ppc64;
mod regs;
mod s390x;
mod server;
mod target;

use std::collections::HashMap;
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gdbstub::arch::Arch;
use gdbstub::common::Signal;
use gdbstub::conn::ConnectionExt;
use gdbstub::stub::run_blocking::{BlockingEventLoop, Event, WaitForStopReasonError};
use gdbstub::stub::{DisconnectReason, GdbStub, SingleThreadStopReason};
use gdbstub::target::ext::breakpoints::WatchKind;
use unicorn_engine::unicorn_const::uc_error;
use unicorn_engine::UcHookId;

use crate::abi::ExitKind;
use crate::machine::{Engine, StopReason};
use regs::DebugRegs;
use target::watch_kind;

pub use server::{GdbAddr, GdbListenError, GdbServer};

/// Serves gdb for the whole run: waits for it to connect, then runs the
/// guest as gdb asks until the program ends, gdb detaches (the program
/// then runs on without it) or gdb kills it. Returns what the scheduler
/// returns, like [`crate::machine::sched::run`].
pub fn serve(
    uc: &mut Engine<'_>,
    entry: u64,
    monitor: &mut Option<crate::monitor::Monitor>,
    server: &GdbServer,
) -> Result<(), uc_error> {
    match uc.get_data().abi.name() {
        "x86_64" => serve_as::<regs::X86_64>(uc, entry, monitor, server),
        "i386" => serve_as::<regs::I386>(uc, entry, monitor, server),
        "aarch64" => serve_as::<regs::Aarch64>(uc, entry, monitor, server),
        "arm" => serve_as::<regs::Arm>(uc, entry, monitor, server),
        "riscv64" => serve_as::<regs::Riscv64>(uc, entry, monitor, server),
        "mipsel" => serve_as::<regs::Mipsel>(uc, entry, monitor, server),
        "mips64el" => serve_as::<regs::Mips64el>(uc, entry, monitor, server),
        "ppc64le" => serve_as::<regs::Ppc64le>(uc, entry, monitor, server),
        "s390x" => serve_as::<regs::S390x>(uc, entry, monitor, server),
        other => {
            eprintln!("ht-user: -g: no debugger support for {other}; running without gdb");
            crate::machine::sched::run(uc, entry, monitor)
        }
    }
}

/// `count` registers `PREFIX0`, `PREFIX1`... of a gdb target description,
/// one `<reg>` line each, the first numbered `first`, the others after it.
fn numbered_regs(prefix: &str, count: u32, bits: u32, kind: &str, first: u32) -> String {
    (0..count)
        .map(|n| {
            let regnum = if n == 0 {
                format!(" regnum=\"{first}\"")
            } else {
                String::new()
            };
            format!("    <reg name=\"{prefix}{n}\" bitsize=\"{bits}\" type=\"{kind}\"{regnum}/>\n")
        })
        .collect()
}

fn serve_as<R: DebugRegs>(
    uc: &mut Engine<'_>,
    entry: u64,
    monitor: &mut Option<crate::monitor::Monitor>,
    server: &GdbServer,
) -> Result<(), uc_error> {
    eprintln!("ht-user: waiting for gdb on {}", server.addr());
    let (conn, watch_fd) = match server.accept() {
        Ok(c) => c,
        // A signal ended the run before gdb came: the runner reports it.
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Ok(()),
        Err(e) => {
            eprintln!("ht-user: -g: gdb could not connect ({e}); running without gdb");
            return crate::machine::sched::run(uc, entry, monitor);
        }
    };
    let watch = InterruptWatch::start(watch_fd);
    let (exe, auxv) = {
        let p = uc.get_data().lock_process();
        let exe = std::path::absolute(&p.exe_path)
            .unwrap_or_else(|_| p.exe_path.clone())
            .into_os_string()
            .into_encoded_bytes();
        (exe, crate::kernel::procfs::auxv(&p))
    };
    let mut session = Session::<R> {
        uc,
        monitor,
        start: entry,
        breakpoints: HashMap::new(),
        watchpoints: HashMap::new(),
        watch_stop_hook: None,
        stepping: false,
        signal_shown: false,
        error: None,
        watch: Arc::clone(&watch.state),
        exe,
        auxv,
        regs: PhantomData,
    };
    let outcome = GdbStub::new(conn).run_blocking::<EventLoop<Session<'_, '_, R>>>(&mut session);
    drop(watch);
    if let Some(e) = session.error.take() {
        return Err(e);
    }
    match outcome {
        Ok(DisconnectReason::TargetExited(_) | DisconnectReason::TargetTerminated(_)) => Ok(()),
        Ok(DisconnectReason::Kill) => {
            let m = session.uc.get_data_mut();
            if m.stop.is_none() {
                m.stop = Some(StopReason::Exit(ExitKind::Killed(libc::SIGKILL)));
            }
            Ok(())
        }
        Ok(DisconnectReason::Disconnect) => session.run_detached(),
        Err(e) if e.is_target_error() => match e.into_target_error() {
            // A forked child ran to its end without the debugger.
            Some(SessionEnd::ChildRan(result)) => result,
            None => Ok(()),
        },
        Err(e) => {
            eprintln!("ht-user: -g: connection to gdb lost ({e}); running on without it");
            session.run_detached()
        }
    }
}

/// gdb's interrupt (Ctrl-C, a byte on the connection) while the guest
/// runs: a thread watches the connection and stops the engine.
struct InterruptWatch {
    state: Arc<WatchState>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default)]
struct WatchState {
    /// The guest runs: gdb's bytes now mean an interrupt.
    running: AtomicBool,
    /// The watcher saw gdb's bytes and stops the engine until the
    /// session takes them.
    requested: AtomicBool,
    quit: AtomicBool,
}

impl InterruptWatch {
    fn start(fd: OwnedFd) -> InterruptWatch {
        let state = Arc::new(WatchState::default());
        let shared = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name("gdb-interrupt".into())
            .spawn(move || watch_connection(&fd, &shared))
            .ok();
        InterruptWatch { state, thread }
    }
}

impl Drop for InterruptWatch {
    fn drop(&mut self) {
        self.state.quit.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            if crate::machine::fork::is_descendant() {
                // A forked child has no copy of the thread to join or detach.
                std::mem::forget(t);
            } else {
                let _ = t.join();
            }
        }
    }
}

fn watch_connection(fd: &OwnedFd, s: &WatchState) {
    while !s.quit.load(Ordering::SeqCst) {
        let running = s.running.load(Ordering::SeqCst);
        if s.requested.load(Ordering::SeqCst) {
            // A stop that lands just before the engine starts is lost:
            // asked again until the session has taken the request.
            if running {
                crate::signals::stop_engine();
            }
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        if !running {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd on a descriptor this thread owns.
        let ready = unsafe { libc::poll(&mut pfd, 1, 20) };
        if ready > 0 && s.running.load(Ordering::SeqCst) {
            s.requested.store(true, Ordering::SeqCst);
            crate::signals::stop_engine();
        }
    }
}

/// Why a session ends other than through gdb.
#[derive(Debug)]
enum SessionEnd {
    /// This is a forked child: it ran to its end without the debugger.
    ChildRan(Result<(), uc_error>),
}

impl std::fmt::Display for SessionEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionEnd::ChildRan(_) => f.write_str("a forked child ran without the debugger"),
        }
    }
}

struct Session<'a, 'e, R: DebugRegs> {
    uc: &'a mut Engine<'e>,
    monitor: &'a mut Option<crate::monitor::Monitor>,
    /// Where the guest resumes.
    start: u64,
    breakpoints: HashMap<u64, UcHookId>,
    /// Watchpoints by (start, length, kind as gdb numbers it).
    watchpoints: HashMap<(u64, u64, u8), UcHookId>,
    /// While watchpoints exist: stops after an instruction that hit one.
    watch_stop_hook: Option<UcHookId>,
    stepping: bool,
    /// The signal that ends the program was shown to gdb.
    signal_shown: bool,
    /// The engine's error that ended the run.
    error: Option<uc_error>,
    watch: Arc<WatchState>,
    exe: Vec<u8>,
    auxv: Vec<u8>,
    regs: PhantomData<R>,
}

/// Stops the guest for gdb before the instruction at the hook's address.
fn pause(uc: &mut Engine<'_>) {
    uc.get_data_mut().debug_pause.due = true;
    let _ = uc.emu_stop();
}

/// gdb's signal number for a host signal (gdb numbers its own).
fn gdb_signal(host: i32) -> Signal {
    match host {
        libc::SIGHUP => Signal::SIGHUP,
        libc::SIGINT => Signal::SIGINT,
        libc::SIGQUIT => Signal::SIGQUIT,
        libc::SIGILL => Signal::SIGILL,
        libc::SIGTRAP => Signal::SIGTRAP,
        libc::SIGABRT => Signal::SIGABRT,
        libc::SIGBUS => Signal::SIGBUS,
        libc::SIGFPE => Signal::SIGFPE,
        libc::SIGKILL => Signal::SIGKILL,
        libc::SIGUSR1 => Signal::SIGUSR1,
        libc::SIGSEGV => Signal::SIGSEGV,
        libc::SIGUSR2 => Signal::SIGUSR2,
        libc::SIGPIPE => Signal::SIGPIPE,
        libc::SIGALRM => Signal::SIGALRM,
        libc::SIGTERM => Signal::SIGTERM,
        libc::SIGCHLD => Signal::SIGCHLD,
        libc::SIGXCPU => Signal::SIGXCPU,
        libc::SIGXFSZ => Signal::SIGXFSZ,
        libc::SIGVTALRM => Signal::SIGVTALRM,
        libc::SIGPROF => Signal::SIGPROF,
        libc::SIGSYS => Signal::SIGSYS,
        _ => Signal::UNKNOWN,
    }
}

impl<R: DebugRegs> Session<'_, '_, R> {
    /// How the program ended, for gdb: a deadly signal is first shown as
    /// a stop (gdb's "Program received signal"), then as the end.
    fn ending(&mut self) -> Option<Reason<R>> {
        let signal = match self.uc.get_data().stop.as_ref()? {
            StopReason::Exit(ExitKind::Exited(code)) => {
                return Some(SingleThreadStopReason::Exited(*code as u8))
            }
            StopReason::Exit(ExitKind::Killed(sig)) | StopReason::Fault { signal: sig, .. } => {
                gdb_signal(*sig)
            }
            StopReason::Interrupted(sig) => {
                return Some(SingleThreadStopReason::Terminated(gdb_signal(*sig)))
            }
            StopReason::Quit | StopReason::Internal(_) => {
                return Some(SingleThreadStopReason::Terminated(Signal::SIGKILL))
            }
        };
        if std::mem::replace(&mut self.signal_shown, true) {
            Some(SingleThreadStopReason::Terminated(signal))
        } else {
            Some(SingleThreadStopReason::Signal(signal))
        }
    }

    /// Runs the guest until a breakpoint, the end of a step, gdb's
    /// interrupt or the program's end.
    fn run(&mut self) -> Result<Stopped<R>, SessionEnd> {
        let step_hook = if self.stepping {
            // The first call is the instruction that steps; the second
            // stops before the next one.
            let mut first = true;
            let hook = self
                .uc
                .add_code_hook(1, 0, move |uc: &mut Engine<'_>, _, _| {
                    if !std::mem::take(&mut first) {
                        pause(uc);
                    }
                });
            // Code translated before has no call to the hook.
            let _ = self.uc.ctl_flush_tb();
            hook.ok()
        } else {
            None
        };
        if self.breakpoints.contains_key(&self.start) {
            self.uc.get_data_mut().debug_pause.skip_at = Some(self.start);
        }
        self.watch.running.store(true, Ordering::SeqCst);
        let result = crate::machine::sched::run(self.uc, self.start, self.monitor);
        self.watch.running.store(false, Ordering::SeqCst);
        let interrupt = self.watch.requested.swap(false, Ordering::SeqCst);
        if let Some(hook) = step_hook {
            let _ = self.uc.remove_hook(hook);
            let _ = self.uc.ctl_flush_tb();
        }
        let m = self.uc.get_data_mut();
        m.debug_pause.skip_at = None;
        let paused = std::mem::take(&mut m.debug_pause.due);
        let watch_hit = m.debug_pause.watch_hit.take();
        if crate::machine::fork::is_descendant() {
            return Err(SessionEnd::ChildRan(
                self.run_detached_after(result, paused),
            ));
        }
        if let Err(e) = result {
            if m.stop.is_none() {
                self.error = Some(e);
                return Ok(Stopped::Ended(SingleThreadStopReason::Terminated(
                    Signal::SIGSEGV,
                )));
            }
        }
        if let Some(end) = self.ending() {
            return Ok(Stopped::Ended(end));
        }
        let abi = self.uc.get_data().abi;
        self.start = abi.resume_address(self.uc);
        if let (true, Some((addr, wrote))) = (paused, watch_hit) {
            let kind = self
                .watchpoints
                .keys()
                .find(|(start, _, _)| *start == addr)
                .map_or(WatchKind::Write, |(_, _, k)| watch_kind(*k));
            let kind = match kind {
                WatchKind::ReadWrite if wrote => WatchKind::Write,
                WatchKind::ReadWrite => WatchKind::Read,
                k => k,
            };
            return Ok(Stopped::Ended(SingleThreadStopReason::Watch {
                tid: (),
                kind,
                addr: num_traits::NumCast::from(addr).unwrap_or_else(num_traits::Zero::zero),
            }));
        }
        if paused {
            return Ok(if self.stepping {
                Stopped::Ended(SingleThreadStopReason::DoneStep)
            } else {
                Stopped::Ended(SingleThreadStopReason::SwBreak(()))
            });
        }
        if interrupt {
            return Ok(Stopped::Interrupt);
        }
        if let Some(sig) = crate::signals::interrupted() {
            // ht-user itself was interrupted: the run ends.
            self.uc.get_data_mut().stop = Some(StopReason::Interrupted(sig));
            return Ok(Stopped::Ended(SingleThreadStopReason::Terminated(
                gdb_signal(sig),
            )));
        }
        // The engine stopped by itself (a privileged halt): Linux's answer
        // is SIGSEGV, as the runner reports it.
        self.uc.get_data_mut().stop = Some(StopReason::Fault {
            signal: libc::SIGSEGV,
            pc: self.start,
            page: None,
        });
        Ok(Stopped::Ended(self.ending().unwrap_or(
            SingleThreadStopReason::Terminated(Signal::SIGSEGV),
        )))
    }

    fn forget_breakpoints(&mut self) {
        for (_, hook) in self.breakpoints.drain() {
            let _ = self.uc.remove_hook(hook);
        }
        for (_, hook) in self.watchpoints.drain() {
            let _ = self.uc.remove_hook(hook);
        }
        if let Some(hook) = self.watch_stop_hook.take() {
            let _ = self.uc.remove_hook(hook);
        }
        self.uc.get_data_mut().debug_pause.watch_hit = None;
        let _ = self.uc.ctl_flush_tb();
    }

    /// gdb is gone: the program runs on to its end without it.
    fn run_detached(&mut self) -> Result<(), uc_error> {
        self.forget_breakpoints();
        if self.uc.get_data().stop.is_some() {
            return Ok(());
        }
        crate::machine::sched::run(self.uc, self.start, self.monitor)
    }

    /// A forked child leaves the debugger to its parent and runs on.
    /// `paused`: the child stopped at one of gdb's breakpoints, steps or
    /// watchpoints (inherited from its parent) and has more to run.
    fn run_detached_after(
        &mut self,
        result: Result<(), uc_error>,
        paused: bool,
    ) -> Result<(), uc_error> {
        let m = self.uc.get_data_mut();
        if !paused || m.stop.is_some() {
            self.forget_breakpoints();
            return result;
        }
        let abi = m.abi;
        self.start = abi.resume_address(self.uc);
        self.run_detached()
    }
}

/// What gdb is told when the guest stops.
type Reason<R> = SingleThreadStopReason<<<R as DebugRegs>::Arch as Arch>::Usize>;

/// How a run between gdb's commands ended.
enum Stopped<R: DebugRegs> {
    Ended(Reason<R>),
    /// gdb sent something while the guest ran.
    Interrupt,
}

struct EventLoop<R>(PhantomData<R>);

impl<'a, 'e, R: DebugRegs> BlockingEventLoop for EventLoop<Session<'a, 'e, R>> {
    type Target = Session<'a, 'e, R>;
    type Connection = Box<dyn ConnectionExt<Error = io::Error>>;
    type StopReason = Reason<R>;

    fn wait_for_stop_reason(
        target: &mut Self::Target,
        conn: &mut Self::Connection,
    ) -> Result<Event<Self::StopReason>, WaitForStopReasonError<SessionEnd, io::Error>> {
        loop {
            if let Some(end) = target.ending() {
                return Ok(Event::TargetStopped(end));
            }
            match target.run().map_err(WaitForStopReasonError::Target)? {
                Stopped::Ended(reason) => return Ok(Event::TargetStopped(reason)),
                Stopped::Interrupt => {
                    if conn
                        .peek()
                        .map_err(WaitForStopReasonError::Connection)?
                        .is_some()
                    {
                        let byte = conn.read().map_err(WaitForStopReasonError::Connection)?;
                        return Ok(Event::IncomingData(byte));
                    }
                }
            }
        }
    }

    fn on_interrupt(_target: &mut Self::Target) -> Result<Option<Self::StopReason>, SessionEnd> {
        Ok(Some(SingleThreadStopReason::Signal(Signal::SIGINT)))
    }
}
