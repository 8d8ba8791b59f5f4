// SPDX-License-Identifier: GPL-2.0-or-later
//! The monitor over real sockets, with a stand-in emulation thread that
//! answers requests the way the runner does.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ht_user::monitor::{
    format_trace_events, parse_spec, Command, CommandError, Monitor, MonitorAddr, ANSWER_TIMEOUT,
    MAX_CLIENTS, MAX_LINE,
};
use ht_user::trace::events::glob_match;

const BANNER: &str = "QEMU-compatible ht-user monitor - type 'help' for more information\r\n";
const PROMPT: &str = "(qemu) ";
const READ_LIMIT: Duration = Duration::from_secs(10);

/// Answers requests like the runner's block hook would, unless paused
/// (the guest blocked in a host call).
struct FakeEmulator {
    monitor: Arc<Monitor>,
    events: Arc<Mutex<BTreeMap<&'static str, bool>>>,
    paused: Arc<AtomicBool>,
    quits: Arc<AtomicUsize>,
    answered: Arc<AtomicUsize>,
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeEmulator {
    fn start(monitor: Monitor) -> FakeEmulator {
        let mut fake = FakeEmulator {
            monitor: Arc::new(monitor),
            events: Arc::new(Mutex::new(BTreeMap::from([
                ("guest_hypertrace", false),
                ("guest_mem_before_exec", false),
            ]))),
            paused: Arc::default(),
            quits: Arc::default(),
            answered: Arc::default(),
            done: Arc::default(),
            thread: None,
        };
        let monitor = Arc::clone(&fake.monitor);
        let events = Arc::clone(&fake.events);
        let paused = Arc::clone(&fake.paused);
        let quits = Arc::clone(&fake.quits);
        let answered = Arc::clone(&fake.answered);
        let done = Arc::clone(&fake.done);
        let attention = monitor.attention();
        fake.thread = Some(std::thread::spawn(move || {
            while !done.load(Ordering::Acquire) {
                if paused.load(Ordering::Acquire) || !attention.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                }
                for request in monitor.take_requests() {
                    let reply = answer(&request.command, &events, &quits);
                    request.answer(reply);
                    answered.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
        fake
    }

    fn event(&self, name: &str) -> bool {
        self.events.lock().unwrap()[name]
    }

    fn stop(mut self) -> Arc<Monitor> {
        self.done.store(true, Ordering::Release);
        self.thread.take().unwrap().join().unwrap();
        Arc::clone(&self.monitor)
    }
}

fn answer(
    command: &Command,
    events: &Mutex<BTreeMap<&'static str, bool>>,
    quits: &AtomicUsize,
) -> Result<String, CommandError> {
    let mut events = events.lock().unwrap();
    match command {
        Command::TraceEvent { pattern, on } => {
            let mut matched = false;
            for (name, state) in events.iter_mut() {
                if glob_match(pattern, name) {
                    *state = *on;
                    matched = true;
                }
            }
            if matched {
                Ok(String::new())
            } else {
                Err(CommandError::UnknownEvent(pattern.clone()))
            }
        }
        Command::InfoTraceEvents { pattern } => {
            let list: Vec<(&str, bool)> = events
                .iter()
                .filter(|(name, _)| pattern.as_deref().is_none_or(|p| glob_match(p, name)))
                .map(|(name, on)| (*name, *on))
                .collect();
            Ok(format_trace_events(&list))
        }
        Command::InfoRegisters => {
            Ok("RAX=0000000000000000 RBX=0000000000000001\nRIP=0000000000401000".into())
        }
        Command::Quit => {
            quits.fetch_add(1, Ordering::SeqCst);
            Ok(String::new())
        }
    }
}

enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

/// A monitor user: sends lines, reads up to the next prompt.
struct Client {
    stream: Stream,
    pending: Vec<u8>,
}

impl Client {
    fn unix(path: &Path) -> Client {
        let s = UnixStream::connect(path).unwrap();
        s.set_read_timeout(Some(READ_LIMIT)).unwrap();
        Client::greeted(Stream::Unix(s))
    }

    fn tcp(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(READ_LIMIT)).unwrap();
        Client::greeted(Stream::Tcp(s))
    }

    fn greeted(stream: Stream) -> Client {
        let mut client = Client {
            stream,
            pending: Vec::new(),
        };
        assert_eq!(client.until_prompt(), BANNER);
        client
    }

    fn send(&mut self, bytes: &[u8]) {
        match &mut self.stream {
            Stream::Unix(s) => s.write_all(bytes).unwrap(),
            Stream::Tcp(s) => s.write_all(bytes).unwrap(),
        }
    }

    fn read_some(&mut self) -> usize {
        let mut buf = [0u8; 4096];
        let n = match &mut self.stream {
            Stream::Unix(s) => s.read(&mut buf),
            Stream::Tcp(s) => s.read(&mut buf),
        }
        .expect("the monitor answers in time");
        self.pending.extend_from_slice(&buf[..n]);
        n
    }

    /// Everything before the next prompt.
    fn until_prompt(&mut self) -> String {
        loop {
            let text = String::from_utf8(self.pending.clone()).unwrap();
            if let Some(at) = text.find(PROMPT) {
                self.pending.drain(..at + PROMPT.len());
                return text[..at].to_owned();
            }
            assert!(self.read_some() > 0, "connection closed; got {text:?}");
        }
    }

    fn command(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes());
        self.until_prompt()
    }

    /// Everything up to the monitor closing the connection.
    fn until_closed(&mut self) -> String {
        while self.read_some() > 0 {}
        String::from_utf8(std::mem::take(&mut self.pending)).unwrap()
    }

    fn shutdown_write(&self) {
        match &self.stream {
            Stream::Unix(s) => s.shutdown(Shutdown::Write).unwrap(),
            Stream::Tcp(s) => s.shutdown(Shutdown::Write).unwrap(),
        }
    }

    /// Whether the monitor sent anything more within `wait`.
    fn silent_for(&mut self, wait: Duration) -> bool {
        let set = |s: &Stream, t| match s {
            Stream::Unix(s) => s.set_read_timeout(t).unwrap(),
            Stream::Tcp(s) => s.set_read_timeout(t).unwrap(),
        };
        set(&self.stream, Some(wait));
        let mut buf = [0u8; 64];
        let got = match &mut self.stream {
            Stream::Unix(s) => s.read(&mut buf),
            Stream::Tcp(s) => s.read(&mut buf),
        };
        set(&self.stream, Some(READ_LIMIT));
        match got {
            Err(e) => matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            Ok(_) => false,
        }
    }
}

fn unix_monitor(dir: &Path) -> (Monitor, std::path::PathBuf) {
    let path = dir.join("monitor.sock");
    let spec = format!("unix:{},server,nowait", path.display());
    let monitor = Monitor::start(&parse_spec(&spec).unwrap()).unwrap();
    assert_eq!(
        monitor.local_description(),
        format!("unix:{}", path.display())
    );
    (monitor, path)
}

fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < READ_LIMIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn unix_session_like_the_seed_flow() {
    let dir = tempfile::tempdir().unwrap();
    let (monitor, path) = unix_monitor(dir.path());
    let fake = FakeEmulator::start(monitor);
    let mut c = Client::unix(&path);

    assert_eq!(c.command(""), "");
    let help = c.command("help");
    for needle in [
        "trace-event name|pattern on|off -- ",
        "info trace-events",
        "info registers",
        "quit|q -- ",
    ] {
        assert!(help.contains(needle), "{needle} not in {help:?}");
    }
    assert!(help.ends_with("\r\n"));
    assert_eq!(c.command("?"), help);
    assert_eq!(c.command("xyz"), "unknown command: 'xyz'\r\n");
    let bad = c.command("trace-event foo maybe");
    assert!(bad.contains("expected 'on' or 'off'"), "{bad:?}");
    assert!(
        bad.contains("usage: trace-event NAME|PATTERN on|off"),
        "{bad:?}"
    );

    assert_eq!(c.command("trace-event guest_mem_before_exec on"), "");
    assert!(fake.event("guest_mem_before_exec"));
    assert_eq!(
        c.command("info trace-events"),
        "guest_hypertrace : state 0\r\nguest_mem_before_exec : state 1\r\n"
    );
    assert_eq!(
        c.command("info trace-events *hyper*"),
        "guest_hypertrace : state 0\r\n"
    );
    assert_eq!(c.command("trace-event guest_mem_before_exec off"), "");
    assert!(!fake.event("guest_mem_before_exec"));
    assert_eq!(c.command("trace-event guest* on"), "");
    assert!(fake.event("guest_hypertrace") && fake.event("guest_mem_before_exec"));
    assert_eq!(
        c.command("trace-event nothing_like_it on"),
        "Error: Unknown event name or pattern 'nothing_like_it'\r\n"
    );
    assert_eq!(
        c.command("info registers"),
        "RAX=0000000000000000 RBX=0000000000000001\r\nRIP=0000000000401000\r\n"
    );

    // Telnet negotiation, a bare \n and an overlong line leave the
    // connection usable.
    c.send(&[0xff, 0xfd, 0x01, 0xff, 0xfb, 0x03]);
    assert_eq!(
        c.command("info trace-events guest_hypertrace"),
        "guest_hypertrace : state 1\r\n"
    );
    c.send(b"trace-event guest_hypertrace off\n");
    assert_eq!(c.until_prompt(), "");
    assert!(!fake.event("guest_hypertrace"));
    let long = "x".repeat(MAX_LINE + 100);
    let refused = c.command(&long);
    assert!(refused.contains("line too long"), "{refused:?}");
    assert_eq!(c.command("xyz"), "unknown command: 'xyz'\r\n");
    c.send(&[0xc3, 0x28, 0xfe, 0x00, 0x07, b'\n']);
    assert!(c.until_prompt().starts_with("unknown command: '"));
    c.send(&[0xff, 0xfa, 0x18, 0x00, b'v', b't', 0xff, 0xf0, b'\r', 0x00]);
    assert_eq!(c.until_prompt(), "");

    c.send(b"quit\r\n");
    assert_eq!(c.until_closed(), "");
    assert_eq!(fake.quits.load(Ordering::SeqCst), 1);
    drop(fake.stop());
}

#[test]
fn concurrent_clients_and_dropped_connections() {
    let dir = tempfile::tempdir().unwrap();
    let (monitor, path) = unix_monitor(dir.path());
    let fake = FakeEmulator::start(monitor);
    let mut a = Client::unix(&path);
    let mut b = Client::unix(&path);

    assert_eq!(a.command("trace-event guest_hypertrace on"), "");
    assert_eq!(
        b.command("info trace-events guest_hypertrace"),
        "guest_hypertrace : state 1\r\n"
    );

    // Half a line, then gone: nothing runs.
    let mut half = Client::unix(&path);
    half.send(b"trace-event guest_mem_before_exec o");
    drop(half);

    // A whole line, then gone before the answer (`echo ... | telnet`):
    // the command still applies.
    fake.paused.store(true, Ordering::Release);
    let mut piped = Client::unix(&path);
    piped.send(b"trace-event guest_hypertrace off\n");
    piped.shutdown_write();
    drop(piped);
    let before = fake.answered.load(Ordering::SeqCst);
    fake.paused.store(false, Ordering::Release);
    wait_until("the piped command", || {
        fake.answered.load(Ordering::SeqCst) > before
    });
    assert!(!fake.event("guest_hypertrace"));
    assert!(!fake.event("guest_mem_before_exec"));

    // Many clients at once, each doing its own work.
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut c = Client::unix(&path);
                for _ in 0..20 {
                    let state = if i % 2 == 0 { "on" } else { "off" };
                    assert_eq!(
                        c.command(&format!("trace-event guest_mem_before_exec {state}")),
                        ""
                    );
                    let info = c.command("info trace-events guest_mem_before_exec");
                    assert!(
                        info.starts_with("guest_mem_before_exec : state "),
                        "{info:?}"
                    );
                    assert_eq!(c.command("bogus"), "unknown command: 'bogus'\r\n");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }

    assert_eq!(a.command("info registers").lines().count(), 2);
    b.send(b"q\n");
    assert_eq!(b.until_closed(), "");
    assert_eq!(fake.quits.load(Ordering::SeqCst), 1);
    assert_eq!(a.command("xyz"), "unknown command: 'xyz'\r\n");
    drop(fake.stop());
}

#[test]
fn blocked_guest_queues_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let (monitor, path) = unix_monitor(dir.path());
    let fake = FakeEmulator::start(monitor);
    let mut c = Client::unix(&path);
    let mut gone = Client::unix(&path);

    fake.paused.store(true, Ordering::Release);
    let start = Instant::now();
    let queued = c.command("trace-event guest_hypertrace on");
    assert!(start.elapsed() >= ANSWER_TIMEOUT);
    assert!(queued.contains("queued"), "{queued:?}");
    assert!(fake.monitor.attention().load(Ordering::Acquire));
    // The monitor's own commands still work meanwhile.
    assert!(c.command("help").contains("trace-event"));

    // A client that gives up on its queued command.
    gone.send(b"trace-event guest_mem_before_exec on\n");
    std::thread::sleep(Duration::from_millis(50));
    drop(gone);
    std::thread::sleep(ANSWER_TIMEOUT + Duration::from_millis(200));

    let before = fake.answered.load(Ordering::SeqCst);
    fake.paused.store(false, Ordering::Release);
    wait_until("the queued commands", || {
        fake.answered.load(Ordering::SeqCst) >= before + 2
    });
    assert!(fake.event("guest_hypertrace"));
    assert!(fake.event("guest_mem_before_exec"));
    // The late answer prints nothing.
    assert!(c.silent_for(Duration::from_millis(200)));
    assert_eq!(
        c.command("info trace-events guest_hypertrace"),
        "guest_hypertrace : state 1\r\n"
    );
    drop(fake.stop());
}

#[test]
fn queued_quit_closes_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (monitor, path) = unix_monitor(dir.path());
    let mut c = Client::unix(&path);
    c.send(b"quit\n");
    let text = c.until_closed();
    assert!(text.contains("queued"), "{text:?}");
    let requests = monitor.take_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].command, Command::Quit);
    for r in requests {
        r.answer(Ok(String::new()));
    }
}

#[test]
fn refused_answer_keeps_the_connection_open() {
    let dir = tempfile::tempdir().unwrap();
    let (monitor, path) = unix_monitor(dir.path());
    let monitor = Arc::new(monitor);
    let answering = Arc::clone(&monitor);
    let emulator = std::thread::spawn(move || {
        let attention = answering.attention();
        wait_until("a request", || attention.load(Ordering::Acquire));
        let requests = answering.take_requests();
        assert!(!attention.load(Ordering::Acquire));
        for r in requests {
            r.answer(Err(CommandError::Refused("not now\nreally".into())));
        }
        wait_until("a second request", || attention.load(Ordering::Acquire));
        // Dropped unanswered: the client hears the emulator went away.
        drop(answering.take_requests());
    });
    let mut c = Client::unix(&path);
    assert_eq!(c.command("quit"), "Error: not now\r\nreally\r\n");
    let dropped = c.command("info registers");
    assert!(dropped.starts_with("Error: "), "{dropped:?}");
    emulator.join().unwrap();
    assert!(monitor.take_requests().is_empty());
}

#[test]
fn tcp_on_an_ephemeral_port() {
    let monitor = Monitor::start(&parse_spec("tcp:127.0.0.1:0,server,nowait").unwrap()).unwrap();
    let addr = monitor.tcp_addr().unwrap();
    assert_ne!(addr.port(), 0);
    assert_eq!(monitor.local_description(), format!("tcp:{addr}"));
    let fake = FakeEmulator::start(monitor);
    let mut c = Client::tcp(addr);
    assert_eq!(c.command("trace-event guest_mem_before_exec on"), "");
    assert!(fake.event("guest_mem_before_exec"));
    let mut idle = Client::tcp(addr);

    let monitor = Arc::try_unwrap(fake.stop()).ok().unwrap();
    let start = Instant::now();
    drop(monitor);
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(idle.until_closed(), "");
    assert_eq!(c.until_closed(), "");
    assert!(TcpStream::connect(addr).is_err());
    TcpListener::bind(addr).expect("the port is free again");
}

#[test]
fn drop_while_a_client_waits_for_an_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (monitor, path) = unix_monitor(dir.path());
    let mut c = Client::unix(&path);
    c.send(b"info registers\n");
    wait_until("the request", || {
        monitor.attention().load(Ordering::Acquire)
    });
    let pending = monitor.take_requests();
    assert_eq!(pending.len(), 1);
    let start = Instant::now();
    drop(monitor);
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(c.until_closed(), "");
    assert!(!path.exists());
    // Answering after the monitor is gone is harmless.
    for request in pending {
        request.answer(Ok("late".into()));
    }
}

#[test]
fn socket_file_handling() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.sock");
    let addr = MonitorAddr::Unix(path.clone());

    // A stale socket from an earlier run is replaced.
    drop(UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let monitor = Monitor::start(&addr).unwrap();
    // A live one is not taken over.
    let err = Monitor::start(&addr).err().unwrap();
    assert!(
        err.to_string().contains("another process is listening"),
        "{err}"
    );
    let mut c = Client::unix(&path);
    assert_eq!(c.command("xyz"), "unknown command: 'xyz'\r\n");
    drop(monitor);
    assert!(!path.exists());

    // Not a socket: left alone.
    std::fs::write(&path, "keep me").unwrap();
    let err = Monitor::start(&addr).err().unwrap();
    assert!(err.to_string().contains("not a socket"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");

    // A file put in place of ours is not removed on drop.
    std::fs::remove_file(&path).unwrap();
    let monitor = Monitor::start(&addr).unwrap();
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, "someone else's").unwrap();
    drop(monitor);
    assert!(path.exists());
}

#[test]
fn a_new_client_takes_the_place_of_the_oldest() {
    let dir = tempfile::tempdir().unwrap();
    let (monitor, path) = unix_monitor(dir.path());
    let mut oldest = UnixStream::connect(&path).unwrap();
    oldest.set_read_timeout(Some(READ_LIMIT)).unwrap();
    let mut banner = [0u8; BANNER.len()];
    oldest.read_exact(&mut banner).unwrap();
    let others: Vec<Client> = (1..MAX_CLIENTS).map(|_| Client::unix(&path)).collect();
    // Forgotten sessions do not lock everyone out: the newest is served,
    // the oldest is told why it is closed.
    let newest = Client::unix(&path);
    let mut text = String::new();
    oldest.read_to_string(&mut text).unwrap();
    assert!(
        text.contains("the oldest connection, is closed"),
        "{text:?}"
    );
    drop(others);
    drop(newest);
    drop(monitor);
}

#[test]
fn tcp_on_ipv6_loopback_when_the_host_has_it() {
    let addr = parse_spec("tcp:[::1]:0,server,nowait").unwrap();
    let Ok(monitor) = Monitor::start(&addr) else {
        return;
    };
    let bound = monitor.tcp_addr().unwrap();
    assert!(bound.is_ipv6() && bound.port() != 0);
    assert!(monitor.local_description().starts_with("tcp:[::1]:"));
    let mut c = Client::tcp(bound);
    assert_eq!(c.command("help foo"), "unknown command: 'foo'\r\n");
}

#[test]
fn monitor_threads_leave_the_stop_signals_to_the_emulator() {
    let dir = tempfile::tempdir().unwrap();
    let (monitor, path) = unix_monitor(dir.path());
    let mut c = Client::unix(&path);
    assert_eq!(c.command(""), "");
    let sighup_sigint_sigterm: u64 = (1 << 0) | (1 << 1) | (1 << 14);
    let mut seen = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let task = task.unwrap().path();
        let Ok(name) = std::fs::read_to_string(task.join("comm")) else {
            continue;
        };
        if !name.starts_with("ht-monitor") {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(task.join("status")) else {
            continue;
        };
        let blocked = status
            .lines()
            .find_map(|l| l.strip_prefix("SigBlk:"))
            .map(|m| u64::from_str_radix(m.trim(), 16).unwrap())
            .unwrap();
        assert_eq!(
            blocked & sighup_sigint_sigterm,
            sighup_sigint_sigterm,
            "{name}"
        );
        seen += 1;
    }
    assert!(seen >= 2, "listener and client threads not found");
    drop(monitor);
}
