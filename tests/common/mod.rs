// SPDX-License-Identifier: GPL-2.0-or-later
//! Helpers shared by the integration tests: where ht-user and the test
//! guests are, running them with a time limit, and a strict parser for
//! `guest_hypertrace` log lines.

// Each test crate uses its own subset of these helpers.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long any single run may take before it is killed and the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Environment variables the test guests read; removed from every run so
/// the host environment cannot change their output.
const GUEST_VARS: &[&str] = &[
    "HT_TEST_A",
    "HT_TEST_B",
    "QEMU_HYPERTRACE_BASE",
    "QEMU_STRACE",
    "QEMU_LOG_FILENAME",
    "QEMU_LOG",
    "QEMU_LD_PREFIX",
];

/// The ht-user binary under test.
pub fn ht_user() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ht-user"))
}

/// Guest architecture under test: `$HT_ARCH` (QEMU's name for it:
/// x86_64, aarch64, riscv64, arm, ...), x86_64 by default.
pub fn arch() -> String {
    match std::env::var("HT_ARCH") {
        Ok(a) if !a.is_empty() => a,
        _ => "x86_64".to_string(),
    }
}

/// Whether the guest architecture has 64-bit words and addresses.
pub fn guest_is_64_bit() -> bool {
    matches!(
        arch().as_str(),
        "x86_64" | "aarch64" | "riscv64" | "mips64el" | "ppc64le" | "s390x"
    )
}

/// s390x: the one big-endian guest architecture.
pub fn guest_is_big_endian() -> bool {
    arch() == "s390x"
}

/// MIPS (mipsel, mips64el): one kernel's conventions, and one qemu-user's.
pub fn is_mips() -> bool {
    arch().starts_with("mips")
}

/// Directory of the static test guests: `$HT_TESTDATA` if set, else the
/// committed `testdata/<arch>`.
pub fn testdata() -> PathBuf {
    match std::env::var_os("HT_TESTDATA") {
        // Absolute, so that tests may run guests from another directory.
        Some(dir) if !dir.is_empty() => std::path::absolute(dir).expect("HT_TESTDATA path"),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(arch()),
    }
}

/// Path of one test guest.
pub fn guest(name: &str) -> PathBuf {
    let path = testdata().join(name);
    assert!(
        path.is_file(),
        "test guest {} is missing (set HT_TESTDATA?)",
        path.display()
    );
    path
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// qemu-user for the architecture under test: `/usr/bin/qemu-<arch>` or
/// the first one on `PATH`.
pub fn qemu_path() -> Option<PathBuf> {
    let name = format!("qemu-{}", arch());
    let fixed = Path::new("/usr/bin").join(&name);
    if is_executable(&fixed) {
        return Some(fixed);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(&name))
        .find(|p| is_executable(p))
}

pub fn qemu_available() -> bool {
    qemu_path().is_some()
}

/// The qemu-user binary, or `None` after printing why the comparison
/// is skipped.
pub fn qemu_or_skip(test: &str) -> Option<PathBuf> {
    let q = qemu_path();
    if q.is_none() {
        eprintln!(
            "note: {test}: qemu-{} not found, comparison skipped",
            arch()
        );
    }
    q
}

/// A command for ht-user with `args`, with a clean guest environment.
pub fn ht<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(ht_user());
    cmd.args(args);
    for v in GUEST_VARS {
        cmd.env_remove(v);
    }
    cmd
}

/// A command for qemu-x86_64 with `args`, with the same clean environment.
pub fn qemu<I, S>(qemu: &Path, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(qemu);
    cmd.args(args);
    for v in GUEST_VARS {
        cmd.env_remove(v);
    }
    cmd
}

/// What a finished run produced.
#[derive(Debug)]
pub struct Run {
    pub pid: u32,
    pub stdout: String,
    pub stderr: String,
    pub status: ExitStatus,
}

impl Run {
    /// Exit status as a shell reports it: the code, or 128+signal when the
    /// process itself was killed (qemu re-raises the guest's signal).
    pub fn exit(&self) -> i32 {
        match (self.status.code(), self.status.signal()) {
            (Some(code), _) => code,
            (None, Some(sig)) => 128 + sig,
            (None, None) => unreachable!("a process ends by exit or by signal"),
        }
    }

    /// Exit code of a process that exited (fails if it was killed).
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("process was killed: {:?}\n{}", self.status, self.stderr))
    }

    /// Asserts the exit code, showing both streams when it differs.
    pub fn assert_code(&self, want: i32) -> &Self {
        assert_eq!(
            self.status.code(),
            Some(want),
            "unexpected exit status {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// The stderr lines that are not empty.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().filter(|l| !l.is_empty()).collect()
    }
}

fn reader<R: Read + Send + 'static>(stream: Option<R>) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut s) = stream {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    })
}

/// Starts `cmd` with stdin closed and stdout/stderr captured.
pub fn spawn(cmd: &mut Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"))
}

/// Starts `cmd` (stdin closed, stderr dropped) and reads its first line
/// of output, which must be `want`: the child, and a reader of the rest.
pub fn spawn_until_line(
    mut cmd: Command,
    want: &str,
) -> (Child, std::io::BufReader<std::process::ChildStdout>) {
    use std::io::BufRead;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let mut out = std::io::BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    out.read_line(&mut line).expect("a first line");
    assert_eq!(line, want, "{cmd:?}");
    (child, out)
}

/// Waits for a child started by [`spawn`], collecting its output; kills it
/// and fails the test after [`TIMEOUT`]. Fails if stderr mentions a panic.
pub fn finish(child: Child) -> Run {
    finish_within(child, TIMEOUT)
}

/// [`finish`] with another time limit, for the longest runs.
pub fn finish_within(mut child: Child, limit: Duration) -> Run {
    let pid = child.id();
    let out = reader(child.stdout.take());
    let err = reader(child.stderr.take());
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waitpid") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process {pid} still running after {limit:?}; killed");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let run = Run {
        pid,
        stdout: String::from_utf8_lossy(&out.join().expect("stdout reader")).into_owned(),
        stderr: String::from_utf8_lossy(&err.join().expect("stderr reader")).into_owned(),
        status,
    };
    assert!(
        !run.stderr.contains("panicked"),
        "stderr reports a panic:\n{}",
        run.stderr
    );
    run
}

/// Runs `cmd` to the end (see [`finish`]).
pub fn run(mut cmd: Command) -> Run {
    finish(spawn(&mut cmd))
}

/// The lines of `out` left when those `differs` names are taken out (what
/// qemu-user is known to print wrongly).
pub fn lines_except(out: &str, differs: impl Fn(&str) -> bool) -> Vec<&str> {
    out.lines().filter(|l| !differs(l)).collect()
}

/// Runs `guest` (no arguments) under qemu-user, unless it is missing
/// (then says so, for `test`), and checks it ends with `ours`'s exit
/// status and prints the same lines, except those `differs` names.
pub fn assert_like_qemu(guest: &Path, test: &str, ours: &Run, differs: impl Fn(&str) -> bool) {
    let Some(q) = qemu_or_skip(test) else {
        return;
    };
    let theirs = run(qemu(&q, [guest]));
    assert_eq!(theirs.exit(), ours.exit(), "exit status, against qemu-user");
    assert_eq!(
        lines_except(&ours.stdout, &differs),
        lines_except(&theirs.stdout, &differs),
        "output, against qemu-user"
    );
}

/// Runs ht-user with `args` (see [`finish`]).
pub fn run_ht<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run(ht(args))
}

/// A fresh directory and a channel base inside it (`DIR/ht`). The directory
/// goes away when the returned guard is dropped.
pub fn temp_base() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("ht-user-test.")
        .tempdir()
        .expect("temporary directory");
    let base = dir.path().join("ht");
    (dir, base)
}

/// `BASE` followed by `suffix` (`-config`, `-data`, `-control`).
pub fn channel_file(base: &Path, suffix: &str) -> PathBuf {
    let mut p = base.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

pub const CHANNEL_SUFFIXES: [&str; 3] = ["-config", "-data", "-control"];

/// Asserts that none of the three channel files of `base` exists.
pub fn assert_no_channel_files(base: &Path) {
    for s in CHANNEL_SUFFIXES {
        let p = channel_file(base, s);
        assert!(!p.exists(), "{} was left behind", p.display());
    }
}

/// Sends `sig` to process `pid`.
pub fn send_signal(pid: u32, sig: i32) {
    let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
    // SAFETY: kill(2) has no memory effects; the pid is our own child,
    // which has not been reaped yet.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(
        rc,
        0,
        "kill({pid}, {sig}): {}",
        std::io::Error::last_os_error()
    );
}

/// One `guest_hypertrace` line of QEMU's log backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub pid: u32,
    pub secs: u64,
    pub micros: u32,
    pub cpu: u64,
    pub arg1: u64,
    /// arg2, arg3, ... in order.
    pub args: Vec<u64>,
}

impl Event {
    /// The timestamp as microseconds since the epoch.
    pub fn time_us(&self) -> u64 {
        self.secs * 1_000_000 + u64::from(self.micros)
    }
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn all_hex(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Parses one line (without its newline) exactly as
/// `PID@SECS.MICROS:guest_hypertrace cpu=0xN  arg1=DEC arg2=0x%016x ...`:
/// six-digit micros, two spaces before arg1, lower-case 16-digit hex args
/// numbered from 2 without gaps.
pub fn parse_event(line: &str) -> Result<Event, String> {
    let bad = |why: &str| format!("{why}: {line:?}");
    let (pid, rest) = line.split_once('@').ok_or_else(|| bad("no '@'"))?;
    if !all_digits(pid) {
        return Err(bad("pid is not decimal"));
    }
    let (stamp, rest) = rest.split_once(':').ok_or_else(|| bad("no ':'"))?;
    let (secs, micros) = stamp.split_once('.').ok_or_else(|| bad("no '.'"))?;
    if !all_digits(secs) || micros.len() != 6 || !all_digits(micros) {
        return Err(bad("timestamp is not SECS.MICROS with six digits"));
    }
    let rest = rest
        .strip_prefix("guest_hypertrace cpu=0x")
        .ok_or_else(|| bad("not a guest_hypertrace line"))?;
    let (cpu, rest) = rest
        .split_once("  arg1=")
        .ok_or_else(|| bad("no '  arg1=' (two spaces)"))?;
    if !all_hex(cpu) {
        return Err(bad("cpu is not lower-case hex"));
    }
    let mut fields = rest.split(' ');
    let arg1 = fields.next().unwrap_or_default();
    if !all_digits(arg1) {
        return Err(bad("arg1 is not decimal"));
    }
    let mut args = Vec::new();
    for (i, field) in fields.enumerate() {
        let (name, hex) = field
            .split_once("=0x")
            .ok_or_else(|| bad("argument is not argN=0x..."))?;
        let number = name
            .strip_prefix("arg")
            .filter(|n| all_digits(n) && !n.starts_with('0'));
        if number.and_then(|n| n.parse::<usize>().ok()) != Some(i + 2) {
            return Err(bad(&format!("expected arg{} next", i + 2)));
        }
        if hex.len() != 16 || !all_hex(hex) {
            return Err(bad("argument is not 16 lower-case hex digits"));
        }
        args.push(u64::from_str_radix(hex, 16).map_err(|e| bad(&e.to_string()))?);
    }
    Ok(Event {
        pid: pid.parse().map_err(|_| bad("pid out of range"))?,
        secs: secs.parse().map_err(|_| bad("seconds out of range"))?,
        micros: micros.parse().expect("six digits"),
        cpu: u64::from_str_radix(cpu, 16).map_err(|_| bad("cpu out of range"))?,
        arg1: arg1.parse().map_err(|_| bad("arg1 out of range"))?,
        args,
    })
}

/// Parses every line of `text`, failing the test on the first bad one.
pub fn parse_events(text: &str) -> Vec<Event> {
    text.lines()
        .map(|l| parse_event(l).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// Wall-clock seconds now.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// A user id no process runs as (for RLIMIT_NPROC tests as root, which
/// ignores the limit): RLIMIT_NPROC counts the processes of the real user,
/// so a fresh one starts from zero whatever else runs on the machine.
pub fn unused_uid() -> u32 {
    let taken: std::collections::HashSet<u32> = std::fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(|e| {
                let status = std::fs::read_to_string(e.ok()?.path().join("status")).ok()?;
                let uid = status.lines().find(|l| l.starts_with("Uid:"))?;
                uid.split_whitespace().nth(1)?.parse().ok()
            })
            .collect()
        })
        .unwrap_or_default();
    (50_000 + std::process::id() % 10_000..)
        .find(|u| !taken.contains(u))
        .expect("a free uid")
}

/// Runs `named-regions ITERATIONS` (it forks one child) under ht-user with
/// a binary trace `dir/run.bin`; `channel` follows the channel's base in
/// -hypertrace (`""` or `",counters=on"`), `extra` are more options.
/// Returns the run's files: the parent's, then the child's.
pub fn forked_named_regions(
    dir: &Path,
    channel: &str,
    extra: &[&str],
    iterations: u64,
) -> Vec<PathBuf> {
    let mut spec = dir.join("ht").into_os_string();
    spec.push(channel);
    let trace = dir.join("run.bin");
    let out = ht(["-hypertrace".as_ref(), spec.as_os_str()])
        .args(extra)
        .arg("-trace-file")
        .arg(&trace)
        .arg(guest("named-regions"))
        .arg(iterations.to_string())
        .output()
        .expect("run ht-user");
    assert!(
        out.status.success(),
        "named-regions failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut children: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("run.bin."))
        })
        .collect();
    children.sort();
    let mut files = vec![trace];
    files.extend(children);
    assert_eq!(files.len(), 2, "a parent's and a child's trace: {files:?}");
    files
}

/// How many host CPUs this process may run on (its affinity mask): the
/// CPUs a guest sees with parallel threads.
pub fn host_cpus() -> usize {
    let host = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).unwrap();
    (0..nix::sched::CpuSet::count())
        .filter(|&cpu| host.is_set(cpu).unwrap())
        .count()
}
