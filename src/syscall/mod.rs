// SPDX-License-Identifier: GPL-2.0-or-later
//! Architecture-independent system calls.
//!
//! Each architecture maps its numbers onto [`Sys`] (names from the kernel's
//! tables via the `syscalls` crate); handlers get the [`Process`] and the
//! raw arguments, never the engine, and return an [`Outcome`].

mod block;
mod fs;
mod futex;
mod ipc;
mod mm;
mod net;
mod process;
pub mod signal;
pub mod strace;
mod thread;
mod time;
pub mod timer;
pub mod types;
mod wait;

pub use fs::{pipe_pair, read_path};
pub use process::fill_random;
pub use signal::{ignored_signals, set_ignored_signals};

/// CLOCK_MONOTONIC now, in nanoseconds (the clock of thread deadlines).
pub fn monotonic_now() -> u64 {
    futex::clock_ns(libc::CLOCK_MONOTONIC)
}

use crate::kernel::Process;
use crate::mem::Fault;

/// A Linux errno value (the generic numbering shared by x86, arm, riscv).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    pub const EPERM: Errno = Errno(libc::EPERM);
    pub const ENOENT: Errno = Errno(libc::ENOENT);
    pub const ESRCH: Errno = Errno(libc::ESRCH);
    pub const EINTR: Errno = Errno(libc::EINTR);
    pub const EBADF: Errno = Errno(libc::EBADF);
    pub const EAGAIN: Errno = Errno(libc::EAGAIN);
    pub const ENOMEM: Errno = Errno(libc::ENOMEM);
    pub const EACCES: Errno = Errno(libc::EACCES);
    pub const EFAULT: Errno = Errno(libc::EFAULT);
    pub const EEXIST: Errno = Errno(libc::EEXIST);
    pub const ENODEV: Errno = Errno(libc::ENODEV);
    pub const EINVAL: Errno = Errno(libc::EINVAL);
    pub const EMFILE: Errno = Errno(libc::EMFILE);
    pub const ENOTTY: Errno = Errno(libc::ENOTTY);
    pub const ERANGE: Errno = Errno(libc::ERANGE);
    pub const ENOSYS: Errno = Errno(libc::ENOSYS);
    pub const ENAMETOOLONG: Errno = Errno(libc::ENAMETOOLONG);
    pub const EPIPE: Errno = Errno(libc::EPIPE);
    pub const ECHILD: Errno = Errno(libc::ECHILD);
    pub const ENOEXEC: Errno = Errno(libc::ENOEXEC);
    pub const E2BIG: Errno = Errno(libc::E2BIG);
    pub const ELOOP: Errno = Errno(libc::ELOOP);
    /// Never seen by the guest: a call interrupted by a signal, run again
    /// after the handler when it has SA_RESTART (EINTR otherwise).
    pub const ERESTARTSYS: Errno = Errno(512);

    /// The calling thread's host errno.
    pub fn last() -> Errno {
        Errno(
            std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO),
        )
    }

    pub fn name(self) -> &'static str {
        syscalls::Errno::new(self.0).name().unwrap_or("E?")
    }

    /// The C library's text for the errno, as strace and qemu print it.
    pub fn description(self) -> String {
        let text = std::io::Error::from_raw_os_error(self.0).to_string();
        match text.rfind(" (os error") {
            Some(cut) => text[..cut].to_string(),
            None => text,
        }
    }
}

impl From<Fault> for Errno {
    fn from(_: Fault) -> Errno {
        Errno::EFAULT
    }
}

impl From<std::io::Error> for Errno {
    fn from(e: std::io::Error) -> Errno {
        Errno(e.raw_os_error().unwrap_or(libc::EIO))
    }
}

pub type SysResult = Result<u64, Errno>;

/// A host system call's raw result: a negative value means the host set
/// errno.
pub fn host_result(rc: libc::c_long) -> SysResult {
    if rc < 0 {
        Err(Errno::last())
    } else {
        Ok(rc as u64)
    }
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitKind {
    Exited(i32),
    Killed(i32),
}

/// What a system call did, for the architecture to report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Value(u64),
    Error(Errno),
    /// The process is over; no result is written.
    Exit(ExitKind),
    /// The calling thread has ended; the others run on.
    ThreadExit,
    /// The calling thread waits (for what: `Threads::take_block`); the
    /// call completes when it is woken.
    Blocked,
    /// The registers were replaced (sigreturn): nothing is written.
    Resumed,
}

impl From<SysResult> for Outcome {
    fn from(r: SysResult) -> Outcome {
        match r {
            Ok(v) => Outcome::Value(v),
            Err(e) => Outcome::Error(e),
        }
    }
}

impl Outcome {
    /// The value as the kernel returns it in the result register.
    pub fn as_raw(self) -> i64 {
        match self {
            Outcome::Value(v) => v as i64,
            Outcome::Error(e) => -i64::from(e.0),
            Outcome::Exit(_) | Outcome::ThreadExit | Outcome::Blocked | Outcome::Resumed => 0,
        }
    }
}

macro_rules! syscall_set {
    ($($name:ident),* $(,)?) => {
        /// The system calls ht-user knows, by their Linux names.
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Sys { $($name,)* }

        impl Sys {
            pub fn from_name(name: &str) -> Option<Sys> {
                match name { $(stringify!($name) => Some(Sys::$name),)* _ => None }
            }
            pub fn name(self) -> &'static str {
                match self { $(Sys::$name => stringify!($name),)* }
            }
        }
    };
}

syscall_set! {
    read, write, open, openat, creat, close, stat, fstat, lstat, newfstatat, statx,
    lseek, mmap, mprotect, munmap, mremap, msync, madvise, mincore, brk,
    rt_sigaction, rt_sigprocmask, rt_sigreturn, sigaltstack,
    rt_sigpending, rt_sigsuspend, pause, rt_sigtimedwait, rt_sigtimedwait_time64,
    rt_sigqueueinfo, rt_tgsigqueueinfo, sigreturn, alarm, setitimer, getitimer,
    ioctl, pread64, pwrite64, readv, writev, access, faccessat, faccessat2,
    pipe, pipe2, dup, dup2, dup3, fcntl, getdents64, getcwd, chdir, fchdir,
    rename, renameat, renameat2, mkdir, mkdirat, rmdir, unlink, unlinkat,
    readlink, readlinkat, symlink, symlinkat, link, linkat,
    chmod, fchmod, fchmodat, truncate, ftruncate, fallocate, fsync, fdatasync, fadvise64,
    utimensat, statfs, fstatfs, poll, ppoll,
    nanosleep, clock_nanosleep, gettimeofday, clock_gettime, clock_getres, time, times,
    getpid, gettid, getppid, getuid, geteuid, getgid, getegid, getresuid, getresgid,
    getpgrp, getpgid, getsid, setpgid, umask, uname, sysinfo, prctl,
    exit, exit_group, kill, tkill, tgkill,
    arch_prctl, set_tid_address, set_robust_list, get_robust_list, rseq,
    prlimit64, getrlimit, setrlimit, getrandom, futex, sched_yield,
    sched_getaffinity, membarrier, clone, clone3,
    // 32-bit ABIs: page-unit mmap offsets, split 64-bit values, 64-bit time.
    mmap2, _llseek, truncate64, ftruncate64, clock_gettime64, clock_getres_time64,
    clock_nanosleep_time64, futex_time64, ppoll_time64, utimensat_time64,
    // Architecture-private calls, handled by the Abi.
    set_tls, cacheflush, set_thread_area,
    setuid, setgid, getgroups, chown, fchown, lchown, fchownat, sendfile,
    // Processes (kernel::fork, kernel::exec, wait).
    fork, vfork, execve, execveat, wait4, waitpid, waitid, getrusage, setsid,
    getxattr, lgetxattr, fgetxattr, listxattr, llistxattr, flistxattr,
    statfs64, fstatfs64, copy_file_range,
    // Sockets and epoll (net).
    socket, socketpair, bind, connect, listen, accept, accept4, getsockname, getpeername,
    sendto, recvfrom, send, recv, sendmsg, recvmsg, shutdown, setsockopt, getsockopt, socketcall,
    epoll_create, epoll_create1, epoll_ctl, epoll_wait, epoll_pwait,
    // select: fd sets over the host's poll (fs::select).
    select, _newselect, pselect6, pselect6_time64,
    // POSIX timers (timer).
    timer_create, timer_settime, timer_gettime, timer_getoverrun, timer_delete,
    timer_settime64, timer_gettime64,
    // System V IPC (ipc): i386 and mips also multiplex them through ipc.
    shmget, shmat, shmdt, shmctl, semget, semop, semtimedop, semtimedop_time64, semctl,
    msgget, msgsnd, msgrcv, msgctl, ipc,
}

impl Sys {
    /// Whether the call can make output appear that the trace's text lines
    /// must precede (it writes to a file, pipe, socket or terminal, or
    /// ends or signals a process): trace lines bound for the guest's own
    /// stream are flushed before such calls only.
    pub fn may_write_output(self) -> bool {
        use Sys::*;
        matches!(
            self,
            write
                | writev
                | pwrite64
                | sendfile
                | copy_file_range
                | send
                | sendto
                | sendmsg
                | socketcall
                | ioctl
                | fsync
                | fdatasync
                | exit
                | exit_group
                | kill
                | tkill
                | tgkill
                | rt_sigqueueinfo
                | rt_tgsigqueueinfo
        )
    }
}

/// The name ht-user's handlers use for a kernel table entry: the generic
/// tables call `newfstatat` `fstatat`, for example.
/// On 32-bit ABIs the `*64` calls take the handlers' (64-bit) structures
/// and the old `stat` family is left unsupported rather than answered with
/// the wrong layout.
/// `id32` says the table pairs 16-bit id calls with `*32` variants (i386,
/// arm).
fn canonical_name(name: &str, is_64bit: bool, id32: bool) -> &str {
    match (name, is_64bit) {
        ("fstatat", _) => "newfstatat",
        ("stat" | "fstat" | "lstat" | "fcntl", false) => "",
        // i386's old select takes its arguments in a struct: refused.
        ("select", false) => "",
        // sendfile64 takes a 64-bit offset; the 32-bit-offset one is refused.
        ("sendfile", false) => "",
        ("sendfile64", false) => "sendfile",
        // Where ugetrlimit exists, the old getrlimit reports clipped limits.
        ("getrlimit" | "setrlimit", false) if id32 => "",
        ("stat64", false) => "stat",
        ("fstat64", false) => "fstat",
        ("lstat64", false) => "lstat",
        ("fstatat64", false) => "newfstatat",
        // fd, advice and a range: only the descriptor is checked.
        ("arm_fadvise64_64" | "fadvise64_64", _) => "fadvise64",
        ("fcntl64", false) => "fcntl",
        ("ugetrlimit", false) => "getrlimit",
        // 32-bit ABIs with 16-bit ids keep the 32-bit id calls apart.
        ("getuid32", false) => "getuid",
        ("geteuid32", false) => "geteuid",
        ("getgid32", false) => "getgid",
        ("getegid32", false) => "getegid",
        ("setuid32", false) => "setuid",
        ("setgid32", false) => "setgid",
        ("getresuid32", false) => "getresuid",
        ("getresgid32", false) => "getresgid",
        ("getgroups32", false) => "getgroups",
        ("chown32", false) => "chown",
        ("fchown32", false) => "fchown",
        ("lchown32", false) => "lchown",
        // The 16-bit id versions would need truncated ids: refused instead.
        (
            "getuid" | "geteuid" | "getgid" | "getegid" | "setuid" | "setgid" | "getresuid"
            | "getresgid" | "getgroups" | "chown" | "fchown" | "lchown",
            false,
        ) if id32 => "",
        (other, _) => other,
    }
}

/// One architecture's numbering.
pub struct SyscallTable {
    by_number: Vec<Option<Sys>>,
    names: Vec<Option<&'static str>>,
}

impl SyscallTable {
    /// Builds a table from (number, kernel name) pairs.
    pub fn from_names(entries: impl Iterator<Item = (u64, &'static str)>, is_64bit: bool) -> Self {
        let entries: Vec<(u64, &'static str)> = entries.collect();
        let id32 = entries.iter().any(|(_, name)| *name == "getuid32");
        let mut by_number = Vec::new();
        let mut names = Vec::new();
        for (nr, name) in entries {
            let i = nr as usize;
            if i >= by_number.len() {
                by_number.resize(i + 1, None);
                names.resize(i + 1, None);
            }
            by_number[i] = Sys::from_name(canonical_name(name, is_64bit, id32));
            names[i] = Some(name);
        }
        SyscallTable { by_number, names }
    }

    pub fn lookup(&self, nr: u64) -> Option<Sys> {
        self.by_number.get(nr as usize).copied().flatten()
    }

    /// The kernel's name for `nr`, known or not to ht-user.
    pub fn name(&self, nr: u64) -> Option<&'static str> {
        self.names.get(nr as usize).copied().flatten()
    }
}

/// Runs the architecture-independent handler for `sys`.
pub fn dispatch(p: &mut Process, sys: Sys, a: &[u64; 6]) -> Outcome {
    use self::time as clock;
    use Sys::*;
    // With timers signalling, a host call that would block could be
    // interrupted by their host signal although no guest signal is due:
    // it waits in the scheduler too (sleeps handle that themselves).
    let timers = p.timers.signalling()
        && !matches!(sys, nanosleep | clock_nanosleep | clock_nanosleep_time64);
    if p.threads.multi() || timers {
        // A call that would block the host waits in the scheduler instead.
        if let Some(outcome) = block::would_block(p, sys, a) {
            return outcome;
        }
    }
    if sys == socketcall {
        // i386: the call and its arguments are in guest memory.
        return match net::decode_socketcall(p, a) {
            Ok((sys, args)) => dispatch(p, sys, &args),
            Err(e) => Outcome::Error(e),
        };
    }
    let r: SysResult = match sys {
        exit => return thread::exit(p, a[0] as i32),
        exit_group => return Outcome::Exit(ExitKind::Exited(a[0] as i32)),
        clone => return process::clone(p, a),
        clone3 => return process::clone3(p, a),
        kill | tkill | tgkill | rt_sigqueueinfo | rt_tgsigqueueinfo => {
            return signal::kill(p, sys, a)
        }
        rt_sigsuspend => return signal::rt_sigsuspend(p, a),
        pause => return signal::pause(p),
        rt_sigtimedwait => return signal::rt_sigtimedwait(p, a, false),
        rt_sigtimedwait_time64 => return signal::rt_sigtimedwait(p, a, true),
        futex => return self::futex::futex(p, a, false),
        futex_time64 => return self::futex::futex(p, a, true),
        sched_yield => return thread::sched_yield(p),
        gettid => Ok(u64::from(p.threads.current_tid())),
        rt_sigprocmask => signal::rt_sigprocmask(p, a),
        rt_sigpending => signal::rt_sigpending(p, a),
        alarm => signal::alarm(a),
        setitimer | getitimer => signal::itimer(p, sys, a),
        timer_create => timer::timer_create(p, a),
        timer_settime => timer::timer_settime(p, a, false),
        timer_settime64 => timer::timer_settime(p, a, true),
        timer_gettime => timer::timer_gettime(p, a, false),
        timer_gettime64 => timer::timer_gettime(p, a, true),
        timer_getoverrun => timer::timer_getoverrun(p, a),
        timer_delete => timer::timer_delete(p, a),
        read => fs::read(p, a),
        write => fs::write(p, a),
        pread64 => fs::pread(p, a[0], a[1], a[2], p.abi.regpair(a, 3)),
        pwrite64 => fs::pwrite(p, a[0], a[1], a[2], p.abi.regpair(a, 3)),
        readv => fs::readv(p, a),
        writev => fs::writev(p, a),
        open => fs::openat(p, libc::AT_FDCWD as u64, a[0], a[1], a[2]),
        creat => fs::openat(
            p,
            libc::AT_FDCWD as u64,
            a[0],
            (libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC) as u64,
            a[1],
        ),
        openat => fs::openat(p, a[0], a[1], a[2], a[3]),
        close => fs::close(p, a),
        stat => fs::fstatat(p, libc::AT_FDCWD as u64, a[0], a[1], 0),
        lstat => fs::fstatat(
            p,
            libc::AT_FDCWD as u64,
            a[0],
            a[1],
            libc::AT_SYMLINK_NOFOLLOW as u64,
        ),
        fstat => fs::fstat(p, a),
        newfstatat => fs::fstatat(p, a[0], a[1], a[2], a[3]),
        statx => fs::statx(p, a),
        lseek => fs::lseek(p, a),
        ioctl => fs::ioctl(p, a),
        access => fs::faccessat(p, libc::AT_FDCWD as u64, a[0], a[1], 0),
        faccessat => fs::faccessat(p, a[0], a[1], a[2], 0),
        faccessat2 => fs::faccessat(p, a[0], a[1], a[2], a[3]),
        pipe => fs::pipe2(p, a[0], 0),
        pipe2 => fs::pipe2(p, a[0], a[1]),
        dup => fs::dup(p, a),
        dup2 => fs::dup3(p, a[0], a[1], 0, true),
        dup3 => fs::dup3(p, a[0], a[1], a[2], false),
        fcntl => fs::fcntl(p, a),
        getdents64 => fs::getdents64(p, a),
        getcwd => fs::getcwd(p, a),
        chdir => fs::chdir(p, a),
        fchdir => fs::fchdir(p, a),
        rename => fs::renameat(
            p,
            libc::AT_FDCWD as u64,
            a[0],
            libc::AT_FDCWD as u64,
            a[1],
            0,
        ),
        renameat => fs::renameat(p, a[0], a[1], a[2], a[3], 0),
        renameat2 => fs::renameat(p, a[0], a[1], a[2], a[3], a[4]),
        mkdir => fs::mkdirat(p, libc::AT_FDCWD as u64, a[0], a[1]),
        mkdirat => fs::mkdirat(p, a[0], a[1], a[2]),
        rmdir => fs::unlinkat(p, libc::AT_FDCWD as u64, a[0], libc::AT_REMOVEDIR as u64),
        unlink => fs::unlinkat(p, libc::AT_FDCWD as u64, a[0], 0),
        unlinkat => fs::unlinkat(p, a[0], a[1], a[2]),
        readlink => fs::readlinkat(p, libc::AT_FDCWD as u64, a[0], a[1], a[2]),
        readlinkat => fs::readlinkat(p, a[0], a[1], a[2], a[3]),
        symlink => fs::symlinkat(p, a[0], libc::AT_FDCWD as u64, a[1]),
        symlinkat => fs::symlinkat(p, a[0], a[1], a[2]),
        link => fs::linkat(
            p,
            libc::AT_FDCWD as u64,
            a[0],
            libc::AT_FDCWD as u64,
            a[1],
            0,
        ),
        linkat => fs::linkat(p, a[0], a[1], a[2], a[3], a[4]),
        chmod => fs::fchmodat(p, libc::AT_FDCWD as u64, a[0], a[1]),
        fchmodat => fs::fchmodat(p, a[0], a[1], a[2]),
        fchmod => fs::fchmod(p, a),
        truncate => fs::truncate(p, a[0], p.sarg(a[1])),
        ftruncate => fs::ftruncate(p, a[0], p.sarg(a[1])),
        truncate64 => fs::truncate(p, a[0], p.abi.regpair(a, 1) as i64),
        ftruncate64 => fs::ftruncate(p, a[0], p.abi.regpair(a, 1) as i64),
        fallocate => {
            // 32-bit ABIs split offset and length into register pairs.
            let len_slot = if p.abi.is_64bit() { 3 } else { 4 };
            let (offset, len) = (p.abi.regpair(a, 2), p.abi.regpair(a, len_slot));
            fs::fallocate(p, a[0], a[1], offset as i64, len as i64)
        }
        _llseek => fs::llseek(p, a),
        fsync | fdatasync => fs::fsync(p, sys, a),
        fadvise64 => fs::fd_only(p, a[0]),
        utimensat => fs::utimensat(p, a, false),
        utimensat_time64 => fs::utimensat(p, a, true),
        statfs => fs::statfs(p, a, false),
        fstatfs => fs::statfs(p, a, true),
        statfs64 => fs::statfs64(p, a, false),
        fstatfs64 => fs::statfs64(p, a, true),
        getxattr | lgetxattr | fgetxattr => fs::getxattr(p, sys, a),
        listxattr | llistxattr | flistxattr => fs::listxattr(p, sys, a),
        copy_file_range => fs::copy_file_range(p, a),
        poll => fs::poll(p, a[0], a[1], Some(a[2] as i32)),
        ppoll => fs::ppoll(p, a, false),
        ppoll_time64 => fs::ppoll(p, a, true),
        select | _newselect | pselect6 | pselect6_time64 => block::select_on_host(p, sys, a),
        mmap => mm::mmap(p, a),
        mmap2 => {
            let mut bytes = *a;
            bytes[5] = a[5] << 12;
            mm::mmap(p, &bytes)
        }
        munmap => mm::munmap(p, a),
        mprotect => mm::mprotect(p, a),
        mremap => mm::mremap(p, a),
        msync => mm::msync(p, a),
        madvise => mm::madvise(p, a),
        mincore => mm::mincore(p, a),
        brk => mm::brk(p, a),
        nanosleep => clock::nanosleep(p, a),
        clock_nanosleep => clock::clock_nanosleep(p, a, false),
        clock_nanosleep_time64 => clock::clock_nanosleep(p, a, true),
        gettimeofday => clock::gettimeofday(p, a),
        clock_gettime => clock::clock_gettime(p, a, false),
        clock_gettime64 => clock::clock_gettime(p, a, true),
        clock_getres => clock::clock_getres(p, a, false),
        clock_getres_time64 => clock::clock_getres(p, a, true),
        Sys::time => clock::time(p, a),
        times => clock::times(p, a),
        getpid | getppid | getuid | geteuid | getgid | getegid | getpgrp | getpgid | getsid
        | umask => process::identity(p, sys, a),
        setpgid => process::setpgid(a),
        setuid | setgid => process::set_id(sys, a[0]),
        getgroups => process::getgroups(p, a),
        chown => fs::fchownat(p, libc::AT_FDCWD as u64, a[0], a[1], a[2], 0),
        lchown => fs::fchownat(
            p,
            libc::AT_FDCWD as u64,
            a[0],
            a[1],
            a[2],
            libc::AT_SYMLINK_NOFOLLOW as u64,
        ),
        fchownat => fs::fchownat(p, a[0], a[1], a[2], a[3], a[4]),
        fchown => fs::fchown(p, a),
        sendfile => fs::sendfile(p, a),
        getresuid | getresgid => process::getres(p, sys, a),
        uname => process::uname(p, a),
        sysinfo => process::sysinfo(p, a),
        prctl => process::prctl(p, a),
        rt_sigaction => signal::rt_sigaction(p, a),
        set_tid_address => thread::set_tid_address(p, a),
        set_robust_list => thread::set_robust_list(p, a),
        get_robust_list => thread::get_robust_list(p, a),
        rseq => Err(Errno::ENOSYS),
        prlimit64 => process::prlimit64(p, a[0], a[1], a[2], a[3]),
        getrlimit => process::rlimit_words(p, a[0], None, Some(a[1])),
        setrlimit => process::rlimit_words(p, a[0], Some(a[1]), None),
        getrandom => process::getrandom(p, a),
        sched_getaffinity => process::sched_getaffinity(p, a),
        membarrier => process::membarrier(a),
        wait4 => wait::wait4(p, a[0], a[1], a[2], a[3]),
        waitpid => wait::wait4(p, a[0], a[1], a[2], 0),
        waitid => wait::waitid(p, a),
        getrusage => wait::getrusage(p, a),
        setsid => wait::setsid(),
        socket => net::socket(p, a),
        socketpair => net::socketpair(p, a),
        bind | connect => net::bind_connect(p, sys, a),
        listen => net::listen(p, a),
        accept => net::accept4(p, a, 0),
        accept4 => net::accept4(p, a, a[3]),
        getsockname | getpeername => net::sockname(p, sys, a),
        sendto => net::sendto(p, a, 0),
        send => net::sendto(p, &[a[0], a[1], a[2], a[3], 0, 0], 0),
        recvfrom => net::recvfrom(p, a),
        recv => net::recvfrom(p, &[a[0], a[1], a[2], a[3], 0, 0]),
        sendmsg => net::sendmsg(p, a, 0),
        recvmsg => net::recvmsg(p, a),
        shutdown => net::shutdown(p, a),
        setsockopt => net::setsockopt(p, a),
        getsockopt => net::getsockopt(p, a),
        epoll_create => match a[0] as i32 {
            size if size <= 0 => Err(Errno::EINVAL),
            _ => net::epoll_create1(p, 0),
        },
        epoll_create1 => net::epoll_create1(p, a[0]),
        epoll_ctl => net::epoll_ctl(p, a),
        epoll_wait | epoll_pwait => net::epoll_wait(p, a, a[3] as i32),
        socketcall => Err(Errno::ENOSYS),
        shmget => self::ipc::shmget(a),
        shmat => self::ipc::shmat(p, a[0], a[1], a[2]),
        shmdt => self::ipc::shmdt(p, a[0]),
        shmctl => self::ipc::shmctl(p, a[0], a[1], a[2]),
        semget => self::ipc::semget(a),
        semctl => self::ipc::semctl(p, a[0], a[1], a[2], a[3]),
        semop => return self::ipc::semtimedop(p, a[0], a[1], a[2], 0, self::ipc::Timeout::None),
        semtimedop => {
            return self::ipc::semtimedop(p, a[0], a[1], a[2], a[3], self::ipc::Timeout::Long)
        }
        semtimedop_time64 => {
            return self::ipc::semtimedop(p, a[0], a[1], a[2], a[3], self::ipc::Timeout::Time64)
        }
        msgget => self::ipc::msgget(a),
        msgsnd => return self::ipc::msgsnd(p, a[0], a[1], a[2], a[3]),
        msgrcv => return self::ipc::msgrcv(p, a[0], a[1], a[2], a[3], a[4]),
        msgctl => self::ipc::msgctl(p, a[0], a[1], a[2]),
        ipc => return self::ipc::ipc(p, a),
        // Need the engine: handled by kernel::fork and kernel::exec before
        // dispatch (clone and clone3 of threads are dispatched above).
        fork | vfork | execve | execveat => Err(Errno::ENOSYS),
        // Needs registers: handled by the architecture before dispatch.
        arch_prctl | set_tls | cacheflush | set_thread_area => Err(Errno::ENOSYS),
        // Need registers: handled by crate::delivery before dispatch.
        rt_sigreturn | sigreturn | sigaltstack => Err(Errno::ENOSYS),
    };
    let nosignal = match sys {
        sendto | send => a[3] as i32 & libc::MSG_NOSIGNAL != 0,
        sendmsg => a[2] as i32 & libc::MSG_NOSIGNAL != 0,
        _ => false,
    };
    if r == Err(Errno::EPIPE)
        && matches!(
            sys,
            write | writev | pwrite64 | sendfile | sendto | send | sendmsg
        )
        && !nosignal
    {
        return signal::broken_pipe(p);
    }
    r.into()
}
