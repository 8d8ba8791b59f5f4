// SPDX-License-Identifier: GPL-2.0-or-later
//! execve: a guest program runs under ht-user again, a host program runs
//! natively.
//!
//! The target decides (scripts by their `#!` interpreter):
//! - an ELF for the guest's architecture (or one the host cannot run but
//!   ht-user can): ht-user executes itself (`/proc/self/exe`) with the
//!   run's options, the guest's argv and environment;
//! - an ELF the host runs: ht-user executes itself as a small trampoline
//!   (`--ht-host-exec`) that puts the guest's descriptors at their guest
//!   numbers and executes the program (as qemu-user does);
//! - anything else: ENOEXEC, as Linux.
//!
//! Missing files are ENOENT, files without execute permission (or
//! directories) EACCES, before anything is torn down.
//!
//! Guest descriptors without close-on-exec are passed on by host number
//! (`--ht-fds=GUEST:HOST,...`); the new image adopts them at the same guest
//! numbers. `--ht-root-pid=PID` tells it which run it belongs to: it uses
//! the existing channel files instead of creating them, and continues its
//! own binary trace file (see `machine::fork::trace_path`).

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::RawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use crate::arch::{self, Abi};
use crate::kernel::Process;
use crate::machine::Engine;
use crate::syscall::{strace, Errno, Outcome, Sys};

/// Largest argv/envp the guest may pass (Linux's limit is a quarter of
/// the stack limit; this is the usual 8 MiB / 4).
const ARG_MAX_BYTES: usize = 2 << 20;
/// Linux's MAX_ARG_STRLEN.
const ARG_STRLEN: usize = 128 << 10;
const AT_EMPTY_PATH: u64 = 0x1000;
/// Nested `#!` interpreters Linux follows.
const MAX_INTERP_DEPTH: usize = 4;

pub const HOST_EXEC_FLAG: &str = "--ht-host-exec";

/// What an execve target turned out to be.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// Run under ht-user: the program and its full argv.
    Guest {
        program: Vec<u8>,
        argv: Vec<Vec<u8>>,
    },
    /// Run natively by the host kernel.
    Host,
}

fn c_path(bytes: &[u8]) -> Result<CString, Errno> {
    CString::new(bytes).map_err(|_| Errno::ENOENT)
}

/// The ABI an ELF header (the first bytes of a file) is for, if ht-user
/// runs it; `Err(())` for files that are not ELF.
fn elf_abi(head: &[u8]) -> Result<Option<&'static dyn Abi>, ()> {
    if head.len() < 20 || head[..4] != *b"\x7fELF" {
        return Err(());
    }
    let is_64 = head[4] == 2;
    let little = head[5] == 1;
    let machine = if little {
        u16::from_le_bytes([head[18], head[19]])
    } else {
        u16::from_be_bytes([head[18], head[19]])
    };
    Ok(arch::for_elf(machine, is_64, little).ok())
}

/// Whether the host kernel runs an ELF of this header natively.
fn host_runs(head: &[u8]) -> bool {
    let machine = u16::from_le_bytes([head[18], head[19]]);
    let little = head[5] == 1;
    let native: &[u16] = if cfg!(target_arch = "x86_64") {
        &[goblin::elf::header::EM_X86_64, goblin::elf::header::EM_386]
    } else if cfg!(target_arch = "aarch64") {
        &[goblin::elf::header::EM_AARCH64, goblin::elf::header::EM_ARM]
    } else {
        &[]
    };
    little && native.contains(&machine)
}

/// Checks `path` as execve would and decides how it runs; `argv` is the
/// guest's.
fn classify(
    guest: &'static dyn Abi,
    path: &[u8],
    argv: &[Vec<u8>],
    depth: usize,
) -> Result<Target, Errno> {
    let c = c_path(path)?;
    // SAFETY: a NUL-terminated path; fills a stat we own.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::stat(c.as_ptr(), &mut st) } != 0 {
        return Err(Errno::last());
    }
    // SAFETY: a NUL-terminated path.
    if st.st_mode & libc::S_IFMT != libc::S_IFREG
        || unsafe { libc::access(c.as_ptr(), libc::X_OK) } != 0
    {
        return Err(Errno::EACCES);
    }
    let mut head = [0u8; 256];
    let n = {
        use std::io::Read;
        let mut f = std::fs::File::open(OsStr::from_bytes(path)).map_err(Errno::from)?;
        let mut total = 0;
        loop {
            match f.read(&mut head[total..]) {
                Ok(0) => break,
                Ok(k) => {
                    total += k;
                    if total == head.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Errno::from(e)),
            }
        }
        total
    };
    let head = &head[..n];
    match elf_abi(head) {
        Ok(Some(abi)) if abi.name() == guest.name() => {
            return Ok(Target::Guest {
                program: path.to_vec(),
                argv: argv.to_vec(),
            })
        }
        Ok(_) if host_runs(head) => return Ok(Target::Host),
        Ok(Some(_)) => {
            return Ok(Target::Guest {
                program: path.to_vec(),
                argv: argv.to_vec(),
            })
        }
        Ok(None) => return Err(Errno::ENOEXEC),
        Err(()) => {}
    }
    let Some(line) = head.strip_prefix(b"#!") else {
        return Err(Errno::ENOEXEC);
    };
    if depth >= MAX_INTERP_DEPTH {
        return Err(Errno::ELOOP);
    }
    let Some(end) = line.iter().position(|&b| b == b'\n') else {
        // The whole line must fit what the kernel reads.
        return Err(Errno::ENOEXEC);
    };
    let line = line[..end].trim_ascii();
    let (interp, arg) = match line.iter().position(|b| b.is_ascii_whitespace()) {
        Some(at) => (&line[..at], Some(line[at..].trim_ascii())),
        None => (line, None),
    };
    if interp.is_empty() {
        return Err(Errno::ENOEXEC);
    }
    // As Linux: interpreter, its one argument, the script's path, then the
    // script's arguments without argv[0].
    let mut new_argv = vec![interp.to_vec()];
    if let Some(arg) = arg.filter(|a| !a.is_empty()) {
        new_argv.push(arg.to_vec());
    }
    new_argv.push(path.to_vec());
    new_argv.extend(argv.iter().skip(1).cloned());
    // A missing interpreter is ENOENT, as Linux reports it.
    classify(guest, interp, &new_argv, depth + 1)
}

/// Reads a NULL-terminated array of guest string pointers.
fn read_strings(p: &Process, addr: u64, total: &mut usize) -> Result<Vec<Vec<u8>>, Errno> {
    let mut out = Vec::new();
    if addr == 0 {
        return Ok(out);
    }
    let word = p.word_size() as u64;
    for i in 0.. {
        let ptr = p.mem.read_word(addr + i * word, word as usize)?;
        if ptr == 0 {
            break;
        }
        let s = p.mem.read_cstr(ptr, ARG_STRLEN)?;
        *total += s.len() + 1 + word as usize;
        if s.len() >= ARG_STRLEN || *total > ARG_MAX_BYTES {
            return Err(Errno::E2BIG);
        }
        out.push(s);
    }
    Ok(out)
}

/// The path execveat names: `path` relative to `dirfd`, or `dirfd` itself
/// with AT_EMPTY_PATH and an empty path.
fn resolve(p: &Process, dirfd: u64, path: &[u8], flags: u64) -> Result<Vec<u8>, Errno> {
    if path.is_empty() {
        if flags & AT_EMPTY_PATH == 0 {
            return Err(Errno::ENOENT);
        }
        return Ok(format!("/proc/self/fd/{}", p.fds.raw(dirfd)?).into_bytes());
    }
    if path[0] == b'/' || dirfd as i32 == libc::AT_FDCWD {
        return Ok(path.to_vec());
    }
    let mut full = format!("/proc/self/fd/{}/", p.fds.raw(dirfd)?).into_bytes();
    full.extend_from_slice(path);
    Ok(full)
}

fn to_cstrings<I, T>(items: I) -> Result<Vec<CString>, Errno>
where
    I: IntoIterator<Item = T>,
    T: Into<Vec<u8>>,
{
    items
        .into_iter()
        .map(|s| CString::new(s).map_err(|_| Errno::EINVAL))
        .collect()
}

fn set_cloexec(fds: &[(i32, RawFd)], on: bool) {
    for &(_, host) in fds {
        // SAFETY: F_SETFD on descriptors the guest's table owns.
        unsafe { libc::fcntl(host, libc::F_SETFD, if on { libc::FD_CLOEXEC } else { 0 }) };
    }
}

fn fds_option(fds: &[(i32, RawFd)]) -> String {
    let list: Vec<String> = fds.iter().map(|(g, h)| format!("{g}:{h}")).collect();
    format!("--ht-fds={}", list.join(","))
}

/// What is wrong with the options a process passes to the programs it
/// executes (`--ht-signals`, `--ht-fds`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InheritedOptionError {
    #[error("--ht-signals: bad value '{0}'")]
    SignalsValue(String),
    #[error("--ht-signals: bad mask '{0}'")]
    SignalMask(String),
    #[error("--ht-fds: bad pair '{0}'")]
    FdPair(String),
    #[error("--ht-fds: bad number '{0}'")]
    FdNumber(String),
}

/// Parses `--ht-signals=IGNORED:BLOCKED` (hex signal masks, bit n-1 for
/// signal n).
pub fn parse_signals(option: &str) -> Result<(u64, u64), InheritedOptionError> {
    let value = option.strip_prefix("--ht-signals=").unwrap_or(option);
    let (ign, blocked) = value
        .split_once(':')
        .ok_or_else(|| InheritedOptionError::SignalsValue(value.to_string()))?;
    let hex = |s: &str| {
        u64::from_str_radix(s, 16).map_err(|_| InheritedOptionError::SignalMask(s.to_string()))
    };
    Ok((hex(ign)?, hex(blocked)?))
}

/// Parses `GUEST:HOST,...` (the value of `--ht-fds`).
pub fn parse_fds(list: &str) -> Result<Vec<(i32, RawFd)>, InheritedOptionError> {
    if list.is_empty() {
        return Ok(Vec::new());
    }
    list.split(',')
        .map(|pair| {
            let (g, h) = pair
                .split_once(':')
                .ok_or_else(|| InheritedOptionError::FdPair(pair.to_string()))?;
            let num = |s: &str| {
                s.parse::<i32>()
                    .map_err(|_| InheritedOptionError::FdNumber(s.to_string()))
            };
            Ok((num(g)?, num(h)?))
        })
        .collect()
}

/// execve(path, argv, envp) or execveat(dirfd, path, argv, envp, flags).
/// Returns only on failure.
pub fn execve(uc: &mut Engine<'_>, sys: Sys, a: &[u64; 6]) -> Outcome {
    let (dirfd, rest) = match sys {
        Sys::execveat => (a[0], &a[1..5]),
        _ => (libc::AT_FDCWD as u64, &a[0..3]),
    };
    let flags = if sys == Sys::execveat { a[4] } else { 0 };
    match prepare_and_exec(uc, sys, a, dirfd, rest, flags) {
        Ok(never) => match never {},
        Err(e) => Outcome::Error(e),
    }
}

fn prepare_and_exec(
    uc: &mut Engine<'_>,
    sys: Sys,
    raw_args: &[u64; 6],
    dirfd: u64,
    rest: &[u64],
    flags: u64,
) -> Result<std::convert::Infallible, Errno> {
    let (path_addr, argv_addr, envp_addr) = (rest[0], rest[1], rest[2]);
    let m = uc.get_data_mut();
    let p = &crate::machine::lock_process_of(&m.process, &m.parallel);
    let path = crate::syscall::read_path(p, path_addr)?;
    let path = resolve(p, dirfd, path.as_bytes(), flags)?;
    let mut total = 0;
    let argv = read_strings(p, argv_addr, &mut total)?;
    let envp = read_strings(p, envp_addr, &mut total)?;
    let target = classify(p.abi, &path, &argv, 0)?;

    let fds = p.fds.inheritable();
    let mut args: Vec<Vec<u8>> = vec![b"ht-user".to_vec()];
    // The host's dynamic loader would apply the guest's LD_* to ht-user
    // itself: they reach the program by option instead.
    let (loader_vars, envp): (Vec<_>, Vec<_>) =
        envp.into_iter().partition(|e| e.starts_with(b"LD_"));
    let env_options = loader_vars.into_iter().map(|e| {
        let mut o = b"--ht-env=".to_vec();
        o.extend_from_slice(&e);
        o
    });
    // Ignored signals and the signal mask survive execve.
    let ignored = crate::syscall::ignored_signals(p);
    let blocked = crate::syscall::signal::current_mask(p);
    let to_host = |mask: u64| {
        (1..=64u64)
            .filter(|s| mask & 1 << (s - 1) != 0)
            .map(|s| p.abi.host_signal(s))
            .filter(|h| (1..=64).contains(h))
            .fold(0u64, |m, h| m | 1 << (h - 1))
    };
    match &target {
        Target::Guest { program, argv } => {
            args.extend(m.lineage.exec_options.iter().map(|o| o.clone().into_vec()));
            args.push(format!("--ht-root-pid={}", m.lineage.root_pid).into_bytes());
            if let Some(option) = crate::machine::fork::loss_fd_option() {
                args.push(option.into_bytes());
            }
            if let Some(channel) = &m.hypertrace {
                let ids = crate::hypertrace::format_file_ids(&channel.file_ids());
                args.push(format!("--ht-channel-ids={ids}").into_bytes());
            }
            args.push(fds_option(&fds).into_bytes());
            args.push(
                format!("--ht-signals={:x}:{:x}", to_host(ignored), to_host(blocked)).into_bytes(),
            );
            args.extend(env_options);
            if let Some(argv0) = argv.first() {
                let mut o = b"-0=".to_vec();
                o.extend_from_slice(argv0);
                args.push(o);
            }
            args.push(b"--".to_vec());
            args.push(program.clone());
            args.extend(argv.iter().skip(1).cloned());
        }
        Target::Host => {
            args.push(HOST_EXEC_FLAG.as_bytes().to_vec());
            args.push(fds_option(&fds).into_bytes());
            args.push(
                format!("--ht-signals={:x}:{:x}", to_host(ignored), to_host(blocked)).into_bytes(),
            );
            args.extend(env_options);
            args.push(path.clone());
            args.extend(argv.iter().cloned());
        }
    }
    let args = to_cstrings(args)?;
    let env = to_cstrings(envp)?;
    let mut arg_ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    arg_ptrs.push(std::ptr::null());
    let mut env_ptrs: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());

    // What this image traced is written before it goes; with -strace, the
    // call as it succeeds (a failure is logged as any call's).
    if let Some(r) = m.trace.recorder.as_mut() {
        if m.trace.strace {
            let line = strace::format_call(p, 0, Some(sys), raw_args, Outcome::Value(0), false);
            r.text(line);
        }
        // With parallel threads the binary trace holds events back for
        // its time order: they are written now, the writer goes with
        // this image.
        r.sync_all();
    }
    if !crate::signals::block_for_exec() {
        return Err(Errno::EINTR);
    }
    // A vfork parent gets its stack back now; the pipe closes with this
    // image if the exec succeeds.
    if let Some(parent) = &m.vfork_parent {
        parent.send(&p.mem);
    }
    set_cloexec(&fds, false);
    // SAFETY: NULL-terminated arrays of NUL-terminated strings that live
    // until the call returns (it only returns on failure).
    unsafe {
        libc::execve(
            c"/proc/self/exe".as_ptr(),
            arg_ptrs.as_ptr(),
            env_ptrs.as_ptr(),
        )
    };
    let err = Errno::last();
    set_cloexec(&fds, true);
    crate::signals::unblock_after_exec();
    Err(err)
}

/// `ht-user --ht-host-exec --ht-fds=LIST [--ht-env=LD_X=V]... PATH ARGV...`:
/// puts the guest's descriptors at their numbers and executes PATH
/// natively with the environment ht-user was given plus the `--ht-env`
/// variables. Returns only on failure (exit status).
pub fn host_exec_main(args: Vec<OsString>) -> i32 {
    let fail = |msg: String| {
        eprintln!("ht-user: {msg}");
        127
    };
    let [_, _, fds, rest @ ..] = &args[..] else {
        return fail("--ht-host-exec: missing arguments".into());
    };
    let (signals, rest) = match rest.first().and_then(|a| a.to_str()) {
        Some(a) if a.starts_with("--ht-signals=") => (parse_signals(a), &rest[1..]),
        _ => (Ok((0, 0)), rest),
    };
    let (ignored, blocked) = match signals {
        Ok(s) => s,
        Err(e) => return fail(e.to_string()),
    };
    let extra_env = rest
        .iter()
        .map_while(|a| a.as_bytes().strip_prefix(b"--ht-env="))
        .collect::<Vec<_>>();
    let [path, argv @ ..] = &rest[extra_env.len()..] else {
        return fail("--ht-host-exec: missing program".into());
    };
    // The program's environment: this one (the guest's) and its LD_*.
    let env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut e = k.into_vec();
            e.push(b'=');
            e.extend_from_slice(v.as_bytes());
            e
        })
        .chain(extra_env.iter().map(|e| e.to_vec()))
        .filter_map(|e| CString::new(e).ok())
        .collect();
    let Some(list) = fds.to_str().and_then(|f| f.strip_prefix("--ht-fds=")) else {
        return fail("--ht-host-exec: expected --ht-fds=LIST".into());
    };
    let fds = match parse_fds(list) {
        Ok(f) => f,
        Err(e) => return fail(e.to_string()),
    };
    // Messages from here on go to a copy of ht-user's own stderr.
    let top = fds
        .iter()
        .flat_map(|&(g, h)| [g, h])
        .max()
        .unwrap_or(2)
        .max(2)
        + 1;
    // SAFETY: descriptor juggling on numbers this process was given; the
    // guest's host descriptors are moved above every number involved
    // first, so no placement overwrites one not yet placed.
    unsafe {
        let err_fd = libc::fcntl(2, libc::F_DUPFD_CLOEXEC, top);
        let temps: Vec<(i32, i32)> = fds
            .iter()
            .map(|&(g, h)| (g, libc::fcntl(h, libc::F_DUPFD_CLOEXEC, top + 1)))
            .collect();
        for &(_, h) in &fds {
            libc::close(h);
        }
        for std_fd in 0..3 {
            libc::close(std_fd);
        }
        for &(g, t) in &temps {
            if t >= 0 {
                libc::dup2(t, g);
                libc::close(t);
            }
        }
        // Rust starts with SIGPIPE ignored, which a program would inherit;
        // the exec left SIGINT and the like blocked (a pending one now
        // reaches the program).
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        // The guest's ignored signals and mask (host numbers) are the
        // program's, as execve keeps them.
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in 1..=64i32 {
            let bit = 1u64 << (sig - 1);
            if ignored & bit != 0 && sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_IGN);
            }
            if blocked & bit != 0 {
                libc::sigaddset(&mut set, sig);
            }
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        let c = |s: &OsStr| CString::new(s.as_bytes()).unwrap_or_default();
        let cpath = c(path);
        let cargs: Vec<CString> = argv.iter().map(|a| c(a)).collect();
        let mut ptrs: Vec<*const libc::c_char> = cargs.iter().map(|a| a.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        let mut env_ptrs: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
        env_ptrs.push(std::ptr::null());
        libc::execve(cpath.as_ptr(), ptrs.as_ptr(), env_ptrs.as_ptr());
        let e = std::io::Error::last_os_error();
        if err_fd >= 0 {
            libc::dup2(err_fd, 2);
        }
        eprintln!(
            "ht-user: cannot execute {}: {e}",
            std::path::Path::new(path).display()
        );
    }
    127
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fds_lists() {
        assert_eq!(parse_fds("0:5,1:7").unwrap(), vec![(0, 5), (1, 7)]);
        assert_eq!(parse_fds("").unwrap(), vec![]);
        assert_eq!(
            parse_fds("0-5"),
            Err(InheritedOptionError::FdPair("0-5".into()))
        );
        assert_eq!(
            parse_signals("--ht-signals=1:zz").unwrap_err().to_string(),
            "--ht-signals: bad mask 'zz'"
        );
        assert_eq!(fds_option(&[(0, 5), (3, 9)]), "--ht-fds=0:5,3:9");
    }

    #[test]
    fn classify_errors_and_scripts() {
        let guest: &'static dyn Abi = &arch::x86_64::X86_64;
        let dir = tempfile::tempdir().unwrap();
        let at = |name: &str| dir.path().join(name).as_os_str().as_bytes().to_vec();
        assert_eq!(classify(guest, &at("missing"), &[], 0), Err(Errno::ENOENT));
        assert_eq!(
            classify(guest, dir.path().as_os_str().as_bytes(), &[], 0),
            Err(Errno::EACCES)
        );
        use std::os::unix::fs::PermissionsExt;
        let write = |name: &str, body: &[u8], mode: u32| {
            let p = dir.path().join(name);
            std::fs::write(&p, body).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        write("text", b"just text\n", 0o755);
        assert_eq!(classify(guest, &at("text"), &[], 0), Err(Errno::ENOEXEC));
        write("noexec", b"#!/bin/sh\n", 0o644);
        // root may execute anything with one execute bit; none here.
        assert_eq!(classify(guest, &at("noexec"), &[], 0), Err(Errno::EACCES));
        let mut elf = vec![0u8; 64];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2;
        elf[5] = 1;
        elf[18..20].copy_from_slice(&goblin::elf::header::EM_AARCH64.to_le_bytes());
        write("arm64", &elf, 0o755);
        let argv = vec![b"a".to_vec(), b"b".to_vec()];
        assert_eq!(
            classify(&arch::aarch64::Aarch64, &at("arm64"), &argv, 0),
            Ok(Target::Guest {
                program: at("arm64"),
                argv: argv.clone()
            })
        );
        let script = format!("#!{} -x\necho\n", String::from_utf8_lossy(&at("arm64")));
        write("script", script.as_bytes(), 0o755);
        assert_eq!(
            classify(&arch::aarch64::Aarch64, &at("script"), &argv, 0),
            Ok(Target::Guest {
                program: at("arm64"),
                argv: vec![at("arm64"), b"-x".to_vec(), at("script"), b"b".to_vec()]
            })
        );
        write("bad-interp", b"#!/nonexistent/interp\n", 0o755);
        assert_eq!(
            classify(guest, &at("bad-interp"), &[], 0),
            Err(Errno::ENOENT)
        );
    }
}
