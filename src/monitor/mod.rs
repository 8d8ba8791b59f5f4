// SPDX-License-Identifier: GPL-2.0-or-later
//! The `-monitor` socket: a subset of QEMU's human monitor (`trace-event`,
//! `info trace-events`, `info registers`, `quit`) over a unix or TCP
//! socket, so a script or a user with telnet can switch trace events while
//! the guest runs.
//!
//! A listener thread accepts clients and runs one thread per connection.
//! Those threads parse lines and answer `help` themselves; every
//! [`Command`] is queued as a [`Request`] for the emulation thread, which
//! the signal watcher stops at its next block (or, without a watcher, a
//! block hook polling [`Monitor::attention`]); it drains the queue with
//! [`Monitor::take_requests`] and answers each request. A guest blocked in
//! a host system call cannot answer, so after [`ANSWER_TIMEOUT`] the client
//! is told the command is queued and gets its prompt back; the command
//! still applies when the guest runs again.

pub mod command;
pub mod line;
mod serve;
mod spec;

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

pub use command::format_trace_events;
pub use line::MAX_LINE;
pub use serve::{forget_in_child, serve_requests};
pub use spec::{parse_spec, SpecError, SpecProblem};

use command::Action;
use line::{Input, LineReader};

/// How long a client waits for the emulation thread before being told its
/// command is queued.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

/// Connections served at once; more are told so and closed, so a runaway
/// client cannot exhaust threads or descriptors.
pub const MAX_CLIENTS: usize = 16;
/// A client that sends nothing for this long is disconnected.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// A client that stops reading its replies is dropped after this long.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

const BANNER: &str = "QEMU-compatible ht-user monitor - type 'help' for more information\n";
const PROMPT: &str = "(qemu) ";
const QUEUED: &str = "the guest is blocked in a system call; \
                      the command is queued and applies when the guest runs again\n";

/// Where the monitor listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MonitorAddr {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

impl fmt::Display for MonitorAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MonitorAddr::Unix(path) => write!(f, "unix:{}", path.display()),
            MonitorAddr::Tcp(addr) => write!(f, "tcp:{addr}"),
        }
    }
}

/// A monitor command only the emulation thread can carry out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `trace-event NAME|PATTERN on|off`; the pattern is a QEMU glob.
    TraceEvent { pattern: String, on: bool },
    /// `info trace-events [PATTERN]`; answer with [`format_trace_events`].
    InfoTraceEvents { pattern: Option<String> },
    /// `info registers`.
    InfoRegisters,
    /// `quit` or `q`: end the run. The client's connection is closed after
    /// an `Ok` answer.
    Quit,
}

/// Why the emulation thread did not carry out a command; the client gets
/// it as an `Error: ` line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// `trace-event` with a name or pattern that matches no event.
    #[error("Unknown event name or pattern '{0}'")]
    UnknownEvent(String),
    /// Another reason, as the client should read it.
    #[error("{0}")]
    Refused(String),
}

/// A queued command; answer it exactly once.
#[derive(Debug)]
pub struct Request {
    pub command: Command,
    reply: Sender<Result<String, CommandError>>,
}

impl Request {
    /// Sends the reply to the client: `Ok` text is printed as it is (a
    /// final newline is added if missing), `Err` as an `Error: ` line. A
    /// client that has gone or stopped waiting is not an error.
    pub fn answer(self, reply: Result<String, CommandError>) {
        let _ = self.reply.send(reply);
    }
}

/// A running monitor; dropping it stops the listener, closes the clients'
/// connections, joins the threads and removes the unix socket file.
pub struct Monitor {
    shared: Arc<Shared>,
    /// Dropping it wakes the listener thread out of poll.
    wake: Option<UnixStream>,
    /// Dropping it releases clients waiting for an answer.
    stop: Option<Sender<()>>,
    listener_thread: Option<JoinHandle<()>>,
    bound: MonitorAddr,
    socket_file: Option<SocketFile>,
}

struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

struct Shared {
    attention: Arc<AtomicBool>,
    queue: Mutex<Vec<Request>>,
    /// Second handles on the open connections, to shut them down on stop.
    clients: Mutex<HashMap<u64, Conn>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Monitor {
    /// Binds and starts the listener thread. An existing socket file at a
    /// unix PATH is replaced only if nothing listens on it; any other
    /// existing file is an error.
    pub fn start(addr: &MonitorAddr) -> io::Result<Monitor> {
        let (listener, bound, socket_file) = match addr {
            MonitorAddr::Unix(path) => {
                let listener = bind_unix(path)?;
                let meta = std::fs::metadata(path)?;
                let file = SocketFile {
                    path: path.clone(),
                    dev: meta.dev(),
                    ino: meta.ino(),
                };
                (Listener::Unix(listener), addr.clone(), Some(file))
            }
            MonitorAddr::Tcp(want) => {
                let listener = TcpListener::bind(want).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("monitor: cannot listen on tcp:{want}: {e}"),
                    )
                })?;
                let got = listener.local_addr()?;
                (Listener::Tcp(listener), MonitorAddr::Tcp(got), None)
            }
        };
        // From here on a failure must not leave the socket file behind.
        let mut monitor = Monitor {
            shared: Arc::new(Shared {
                attention: Arc::new(AtomicBool::new(false)),
                queue: Mutex::new(Vec::new()),
                clients: Mutex::new(HashMap::new()),
            }),
            wake: None,
            stop: None,
            listener_thread: None,
            bound,
            socket_file,
        };
        listener.set_nonblocking(true)?;
        let (wake, woken) = UnixStream::pair()?;
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let shared = Arc::clone(&monitor.shared);
        let thread = std::thread::Builder::new()
            .name("ht-monitor".into())
            .spawn(move || listen(listener, woken, shared, stopped))?;
        monitor.wake = Some(wake);
        monitor.stop = Some(stop);
        monitor.listener_thread = Some(thread);
        Ok(monitor)
    }

    /// Set whenever a request is queued; poll it with `Acquire`.
    pub fn attention(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.shared.attention)
    }

    /// Clears [`attention`](Self::attention) and takes the queued
    /// requests, oldest first. Never blocks on a client.
    pub fn take_requests(&self) -> Vec<Request> {
        // Cleared before draining: a request queued meanwhile either is in
        // this drain or sets the flag again.
        self.shared.attention.swap(false, Ordering::AcqRel);
        std::mem::take(&mut *lock(&self.shared.queue))
    }

    /// Where the monitor listens, as `unix:PATH` or `tcp:HOST:PORT` with
    /// the bound port.
    pub fn local_description(&self) -> String {
        self.bound.to_string()
    }

    /// The bound TCP address (with the real port when 0 was asked for).
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        match self.bound {
            MonitorAddr::Tcp(addr) => Some(addr),
            MonitorAddr::Unix(_) => None,
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.wake.take();
        self.stop.take();
        if let Some(thread) = self.listener_thread.take() {
            let _ = thread.join();
        }
        if let Some(file) = &self.socket_file {
            // Only our own socket: someone may have replaced the file.
            if let Ok(meta) = std::fs::symlink_metadata(&file.path) {
                if meta.dev() == file.dev && meta.ino() == file.ino {
                    let _ = std::fs::remove_file(&file.path);
                }
            }
        }
    }
}

fn bind_unix(path: &Path) -> io::Result<UnixListener> {
    let shown = path.display();
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => match UnixStream::connect(path) {
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("monitor: another process is listening on {shown}"),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                std::fs::remove_file(path).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("monitor: cannot remove the stale socket {shown}: {e}"),
                    )
                })?;
            }
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("monitor: cannot tell whether {shown} is in use: {e}"),
                ))
            }
        },
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("monitor: {shown} exists and is not a socket"),
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("monitor: cannot check {shown}: {e}"),
            ))
        }
    }
    UnixListener::bind(path)
        .map_err(|e| io::Error::new(e.kind(), format!("monitor: cannot listen on {shown}: {e}")))
}

enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

impl Listener {
    fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            Listener::Unix(l) => l.set_nonblocking(on),
            Listener::Tcp(l) => l.set_nonblocking(on),
        }
    }

    fn accept(&self) -> io::Result<Conn> {
        match self {
            Listener::Unix(l) => l.accept().map(|(s, _)| Conn::Unix(s)),
            Listener::Tcp(l) => l.accept().map(|(s, _)| Conn::Tcp(s)),
        }
    }

    fn fd(&self) -> RawFd {
        match self {
            Listener::Unix(l) => l.as_raw_fd(),
            Listener::Tcp(l) => l.as_raw_fd(),
        }
    }
}

enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Conn {
    fn try_clone(&self) -> io::Result<Conn> {
        Ok(match self {
            Conn::Unix(s) => Conn::Unix(s.try_clone()?),
            Conn::Tcp(s) => Conn::Tcp(s.try_clone()?),
        })
    }

    fn shutdown(&self) {
        let _ = match self {
            Conn::Unix(s) => s.shutdown(Shutdown::Both),
            Conn::Tcp(s) => s.shutdown(Shutdown::Both),
        };
    }

    fn prepare(&self) -> io::Result<()> {
        match self {
            Conn::Unix(s) => {
                s.set_nonblocking(false)?;
                s.set_read_timeout(Some(IDLE_TIMEOUT))?;
                s.set_write_timeout(Some(WRITE_TIMEOUT))
            }
            Conn::Tcp(s) => {
                s.set_nonblocking(false)?;
                s.set_nodelay(true)?;
                s.set_read_timeout(Some(IDLE_TIMEOUT))?;
                s.set_write_timeout(Some(WRITE_TIMEOUT))
            }
        }
    }

    fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            Conn::Unix(s) => s.set_nonblocking(on),
            Conn::Tcp(s) => s.set_nonblocking(on),
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.read(buf),
            Conn::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.write(buf),
            Conn::Tcp(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Waits until the listener has a client or the wake socket is closed;
/// returns whether to stop.
fn wait_for_client(listener: RawFd, wake: RawFd) -> io::Result<bool> {
    let mut fds = [
        libc::pollfd {
            fd: listener,
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: wake,
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    // SAFETY: poll reads and writes only the two pollfd entries passed in;
    // both descriptors stay open for the call.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fds[1].revents != 0)
}

fn listen(listener: Listener, woken: UnixStream, shared: Arc<Shared>, stopped: Receiver<()>) {
    crate::signals::block_in_this_thread();
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    let mut next_id = 0u64;
    loop {
        match wait_for_client(listener.fd(), woken.as_raw_fd()) {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::warn!("monitor: poll failed, no longer accepting clients: {e}");
                break;
            }
        }
        let conn = match listener.accept() {
            Ok(conn) => conn,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::Interrupted
                        | io::ErrorKind::ConnectionAborted
                ) =>
            {
                continue
            }
            Err(e) => {
                // Out of descriptors and the like: back off instead of
                // spinning on a listener that stays readable.
                tracing::warn!("monitor: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        threads.retain(|t| !t.is_finished());
        if let Err(e) = admit(conn, next_id, &shared, &stopped, &mut threads) {
            tracing::warn!("monitor: cannot serve a client: {e}");
        }
        next_id += 1;
    }
    drop(listener);
    for conn in lock(&shared.clients).values() {
        conn.shutdown();
    }
    for thread in threads {
        let _ = thread.join();
    }
}

fn admit(
    conn: Conn,
    id: u64,
    shared: &Arc<Shared>,
    stopped: &Receiver<()>,
    threads: &mut Vec<JoinHandle<()>>,
) -> io::Result<()> {
    conn.prepare()?;
    {
        let mut clients = lock(&shared.clients);
        if clients.len() >= MAX_CLIENTS {
            // Forgotten sessions must not lock everyone out: the oldest
            // connection makes room for the new one.
            let oldest = clients.keys().min().copied();
            if let Some(mut old) = oldest.and_then(|id| clients.remove(&id)) {
                // Never wait on a client that does not read.
                let _ = old.set_nonblocking(true);
                let _ = old.write_all(
                    b"too many monitor clients: this, the oldest connection, is closed\r\n",
                );
                old.shutdown();
            }
        }
        clients.insert(id, conn.try_clone()?);
    }
    let client_shared = Arc::clone(shared);
    let client_stopped = stopped.clone();
    let spawned = std::thread::Builder::new()
        .name("ht-monitor-client".into())
        .spawn(move || {
            crate::signals::block_in_this_thread();
            serve(conn, &client_shared, &client_stopped);
            lock(&client_shared.clients).remove(&id);
        });
    match spawned {
        Ok(thread) => {
            threads.push(thread);
            Ok(())
        }
        Err(e) => {
            if let Some(conn) = lock(&shared.clients).remove(&id) {
                conn.shutdown();
            }
            Err(e)
        }
    }
}

/// Text for the client: `\n` becomes `\r\n` as in QEMU's monitor, so raw
/// telnet sessions do not staircase.
fn push_text(out: &mut Vec<u8>, text: &str) {
    for &b in text.as_bytes() {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    if !text.is_empty() && !text.ends_with('\n') {
        out.extend_from_slice(b"\r\n");
    }
}

fn push_error(out: &mut Vec<u8>, message: &str) {
    push_text(out, &format!("Error: {message}"));
}

/// What happens to the connection after a line.
#[derive(PartialEq, Eq)]
enum Next {
    Continue,
    Close,
}

fn serve(mut conn: Conn, shared: &Shared, stopped: &Receiver<()>) {
    let mut out = Vec::new();
    push_text(&mut out, BANNER);
    out.extend_from_slice(PROMPT.as_bytes());
    if conn.write_all(&out).is_err() {
        return;
    }
    let mut reader = LineReader::default();
    let mut buf = [0u8; 4096];
    let mut inputs = Vec::new();
    loop {
        let n = match conn.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                let _ = conn.write_all(b"\r\nidle too long; connection closed\r\n");
                return;
            }
            Err(_) => return,
        };
        reader.feed(&buf[..n], &mut inputs);
        for input in inputs.drain(..) {
            let mut out = Vec::new();
            let next = handle(input, &mut out, shared, stopped);
            if next == Next::Continue {
                out.extend_from_slice(PROMPT.as_bytes());
            }
            if conn.write_all(&out).is_err() || next == Next::Close {
                return;
            }
        }
    }
}

fn handle(input: Input, out: &mut Vec<u8>, shared: &Shared, stopped: &Receiver<()>) -> Next {
    let line = match input {
        Input::Line(line) => line,
        Input::TooLong => {
            push_text(
                out,
                &format!("line too long (the limit is {MAX_LINE} bytes); ignored"),
            );
            return Next::Continue;
        }
    };
    let command = match command::parse_line(&line) {
        Action::Nothing => return Next::Continue,
        Action::Reply(text) => {
            push_text(out, &text);
            return Next::Continue;
        }
        Action::Error(text) => {
            push_text(out, &text);
            return Next::Continue;
        }
        Action::Run(command) => command,
    };
    let quit = command == Command::Quit;
    let (reply, answered) = crossbeam_channel::bounded(1);
    lock(&shared.queue).push(Request { command, reply });
    shared.attention.store(true, Ordering::Release);
    // Stop the running engine at its next block (the signal watcher does),
    // and wake the emulator out of a wait of all guest threads.
    crate::signals::monitor_request_waiting();
    crate::signals::poke_waits();
    crossbeam_channel::select! {
        recv(answered) -> answer => match answer {
            Ok(Ok(text)) => {
                push_text(out, &text);
                if quit {
                    return Next::Close;
                }
            }
            Ok(Err(e)) => push_error(out, &e.to_string()),
            Err(_) => push_error(out, "the emulator stopped before carrying out the command"),
        },
        recv(stopped) -> _ => return Next::Close,
        default(ANSWER_TIMEOUT) => {
            push_text(out, QUEUED);
            if quit {
                return Next::Close;
            }
        }
    }
    Next::Continue
}
