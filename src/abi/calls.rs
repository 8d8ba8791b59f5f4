// SPDX-License-Identifier: GPL-2.0-or-later
//! The one table of the system calls ht-user knows. Adding a call is one
//! entry here and one handler in `syscall/`.
//!
//! Each entry reads
//!
//! ```text
//! name(strace arguments) [traits] => |p, a| handler $(, wait |p, a| wait)?;
//! ```
//!
//! - `name` is the kernel's name (as the `syscalls` crate spells it; see
//!   `SyscallTable::from_names` for the names per ABI that share one
//!   entry);
//! - the strace arguments are [`Arg`](super::Arg) kinds, one per argument
//!   (`Off64` takes a register pair on 32-bit ABIs);
//! - traits: `OUTPUT` (the call may make output appear that trace lines
//!   bound for the guest's stream must precede), `SIGPIPE` (EPIPE raises
//!   SIGPIPE), `ADDRESS` (strace shows the result in hex), `RESTART` (the
//!   call runs again after an SA_RESTART handler when a signal interrupts
//!   it);
//! - the handler gets the process (`p`) and the call (`a`: its
//!   [`Sys`](super::Sys) and six argument words) and returns a `SysResult`
//!   or an `Outcome`; calls that the engine layer runs before dispatch
//!   (fork, exec, sigreturn) or the architecture runs
//!   (`Abi::arch_syscall`) have an ENOSYS handler that is never reached;
//! - `wait`, for calls that could block the host, runs first when other
//!   guest threads (or timers) must go on meanwhile: `None` lets the
//!   handler run, `Some(outcome)` parks the thread or has completed the
//!   call (`syscall::block`).
//!
//! The table is a macro that hands its entries to another: the `abi`
//! layer makes the [`Sys`](super::Sys) enum, names, strace signatures and
//! traits of it (`abi::sys`), the `syscall` layer its dispatch and waits
//! (`syscall::table`), where the handler paths resolve.

macro_rules! for_each_syscall {
    ($then:ident) => {
        $then! {
            // Files and descriptors (syscall::fs).
            read(Fd, Ptr, Int) [RESTART] => |p, a| fs::read(p, a),
                wait |p, a| block::io_wait(p, a[0], libc::POLLIN);
            write(Fd, Ptr, Int) [OUTPUT, SIGPIPE, RESTART] => |p, a| fs::write(p, a),
                wait |p, a| block::write_wait(p, a.sys, a);
            readv(Fd, Ptr, Int) [RESTART] => |p, a| fs::readv(p, a),
                wait |p, a| block::io_wait(p, a[0], libc::POLLIN);
            writev(Fd, Ptr, Int) [OUTPUT, SIGPIPE, RESTART] => |p, a| fs::writev(p, a),
                wait |p, a| block::write_wait(p, a.sys, a);
            pread64(Fd, Ptr, Int, Off64) [RESTART] => |p, a| {
                fs::pread(p, a[0], a[1], a[2], p.abi.regpair(a, 3))
            };
            pwrite64(Fd, Ptr, Int, Off64) [OUTPUT, SIGPIPE, RESTART] => |p, a| {
                fs::pwrite(p, a[0], a[1], a[2], p.abi.regpair(a, 3))
            };
            open(Str, OpenFlags, Oct) [RESTART] => |p, a| fs::openat(p, AT_FDCWD, a[0], a[1], a[2]);
            openat(DirFd, Str, OpenFlags, Oct) [RESTART] => |p, a| fs::openat(p, a[0], a[1], a[2], a[3]);
            creat(Str, Oct) [] => |p, a| {
                let flags = libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC;
                fs::openat(p, AT_FDCWD, a[0], flags as u64, a[1])
            };
            close(Fd) [] => |p, a| fs::close(p, a);
            stat(Str, Ptr) [] => |p, a| fs::fstatat(p, AT_FDCWD, a[0], a[1], 0);
            lstat(Str, Ptr) [] => |p, a| {
                fs::fstatat(p, AT_FDCWD, a[0], a[1], libc::AT_SYMLINK_NOFOLLOW as u64)
            };
            fstat(Fd, Ptr) [] => |p, a| fs::fstat(p, a);
            newfstatat(DirFd, Str, Ptr, Hex) [] => |p, a| fs::fstatat(p, a[0], a[1], a[2], a[3]);
            statx(DirFd, Str, Hex, Hex, Ptr) [] => |p, a| fs::statx(p, a);
            lseek(Fd, Int, Int) [] => |p, a| fs::lseek(p, a);
            _llseek(Fd, Int, Int, Ptr, Int) [] => |p, a| fs::llseek(p, a);
            ioctl(Fd, Hex, Ptr) [OUTPUT, RESTART] => |p, a| fs::ioctl(p, a);
            access(Str, Oct) [] => |p, a| fs::faccessat(p, AT_FDCWD, a[0], a[1], 0);
            faccessat(DirFd, Str, Oct, Hex) [] => |p, a| fs::faccessat(p, a[0], a[1], a[2], 0);
            faccessat2(DirFd, Str, Oct, Hex) [] => |p, a| fs::faccessat(p, a[0], a[1], a[2], a[3]);
            pipe(Ptr) [] => |p, a| fs::pipe(p, a[0]);
            pipe2(Ptr, OpenFlags) [] => |p, a| fs::pipe2(p, a[0], a[1]);
            dup(Fd) [] => |p, a| fs::dup(p, a);
            dup2(Fd, Fd) [] => |p, a| fs::dup3(p, a[0], a[1], 0, true);
            dup3(Fd, Fd, OpenFlags) [] => |p, a| fs::dup3(p, a[0], a[1], a[2], false);
            fcntl(Fd, Int, Hex) [RESTART] => |p, a| fs::fcntl(p, a);
            getdents64(Fd, Ptr, Int) [] => |p, a| fs::getdents64(p, a);
            getcwd(Ptr, Int) [] => |p, a| fs::getcwd(p, a);
            chdir(Str) [] => |p, a| fs::chdir(p, a);
            fchdir(Fd) [] => |p, a| fs::fchdir(p, a);
            rename(Str, Str) [] => |p, a| fs::renameat(p, AT_FDCWD, a[0], AT_FDCWD, a[1], 0);
            renameat(DirFd, Str, DirFd, Str) [] => |p, a| fs::renameat(p, a[0], a[1], a[2], a[3], 0);
            renameat2(DirFd, Str, DirFd, Str, Hex) [] => |p, a| {
                fs::renameat(p, a[0], a[1], a[2], a[3], a[4])
            };
            mkdir(Str, Oct) [] => |p, a| fs::mkdirat(p, AT_FDCWD, a[0], a[1]);
            mkdirat(DirFd, Str, Oct) [] => |p, a| fs::mkdirat(p, a[0], a[1], a[2]);
            rmdir(Str) [] => |p, a| fs::unlinkat(p, AT_FDCWD, a[0], libc::AT_REMOVEDIR as u64);
            unlink(Str) [] => |p, a| fs::unlinkat(p, AT_FDCWD, a[0], 0);
            unlinkat(DirFd, Str, Hex) [] => |p, a| fs::unlinkat(p, a[0], a[1], a[2]);
            readlink(Str, Ptr, Int) [] => |p, a| fs::readlinkat(p, AT_FDCWD, a[0], a[1], a[2]);
            readlinkat(DirFd, Str, Ptr, Int) [] => |p, a| fs::readlinkat(p, a[0], a[1], a[2], a[3]);
            symlink(Str, Str) [] => |p, a| fs::symlinkat(p, a[0], AT_FDCWD, a[1]);
            symlinkat(Str, DirFd, Str) [] => |p, a| fs::symlinkat(p, a[0], a[1], a[2]);
            link(Str, Str) [] => |p, a| fs::linkat(p, AT_FDCWD, a[0], AT_FDCWD, a[1], 0);
            linkat(DirFd, Str, DirFd, Str, Hex) [] => |p, a| {
                fs::linkat(p, a[0], a[1], a[2], a[3], a[4])
            };
            chmod(Str, Oct) [] => |p, a| fs::fchmodat(p, AT_FDCWD, a[0], a[1]);
            fchmod(Fd, Oct) [] => |p, a| fs::fchmod(p, a);
            fchmodat(DirFd, Str, Oct) [] => |p, a| fs::fchmodat(p, a[0], a[1], a[2]);
            chown(Str, Int, Int) [] => |p, a| fs::fchownat(p, AT_FDCWD, a[0], a[1], a[2], 0);
            lchown(Str, Int, Int) [] => |p, a| {
                fs::fchownat(p, AT_FDCWD, a[0], a[1], a[2], libc::AT_SYMLINK_NOFOLLOW as u64)
            };
            fchown(Fd, Int, Int) [] => |p, a| fs::fchown(p, a);
            fchownat(DirFd, Str, Int, Int, Hex) [] => |p, a| {
                fs::fchownat(p, a[0], a[1], a[2], a[3], a[4])
            };
            truncate(Str, Int) [] => |p, a| fs::truncate(p, a[0], p.sarg(a[1]));
            ftruncate(Fd, Int) [] => |p, a| fs::ftruncate(p, a[0], p.sarg(a[1]));
            truncate64(Str, Off64) [] => |p, a| fs::truncate(p, a[0], p.abi.regpair(a, 1) as i64);
            ftruncate64(Fd, Off64) [] => |p, a| fs::ftruncate(p, a[0], p.abi.regpair(a, 1) as i64);
            fallocate(Fd, Hex, Off64, Off64) [] => |p, a| {
                // 32-bit ABIs split offset and length into register pairs.
                let len_slot = if p.abi.is_64bit() { 3 } else { 4 };
                let (offset, len) = (p.abi.regpair(a, 2), p.abi.regpair(a, len_slot));
                fs::fallocate(p, a[0], a[1], offset as i64, len as i64)
            };
            fsync(Fd) [OUTPUT] => |p, a| fs::fsync(p, a.sys, a);
            fdatasync(Fd) [OUTPUT] => |p, a| fs::fsync(p, a.sys, a);
            // fd, advice and a range: only the descriptor is checked.
            fadvise64(Fd, Int, Int, Int) [] => |p, a| fs::fd_only(p, a[0]);
            utimensat(DirFd, Str, Ptr, Hex) [] => |p, a| fs::utimensat(p, a, false);
            utimensat_time64(DirFd, Str, Ptr, Hex) [] => |p, a| fs::utimensat(p, a, true);
            statfs(Str, Ptr) [] => |p, a| fs::statfs(p, a, false);
            fstatfs(Fd, Ptr) [] => |p, a| fs::statfs(p, a, true);
            statfs64(Str, Int, Ptr) [] => |p, a| fs::statfs64(p, a, false);
            fstatfs64(Fd, Int, Ptr) [] => |p, a| fs::statfs64(p, a, true);
            getxattr(Str, Str, Ptr, Int) [] => |p, a| fs::getxattr(p, a.sys, a);
            lgetxattr(Str, Str, Ptr, Int) [] => |p, a| fs::getxattr(p, a.sys, a);
            fgetxattr(Fd, Str, Ptr, Int) [] => |p, a| fs::getxattr(p, a.sys, a);
            listxattr(Str, Ptr, Int) [] => |p, a| fs::listxattr(p, a.sys, a);
            llistxattr(Str, Ptr, Int) [] => |p, a| fs::listxattr(p, a.sys, a);
            flistxattr(Fd, Ptr, Int) [] => |p, a| fs::listxattr(p, a.sys, a);
            sendfile(Fd, Fd, Ptr, Int) [OUTPUT, SIGPIPE] => |p, a| fs::sendfile(p, a);
            copy_file_range(Fd, Ptr, Fd, Ptr, Int, Hex) [OUTPUT] => |p, a| {
                fs::copy_file_range(p, a)
            };
            // Waiting for descriptors (fs, block).
            poll(Ptr, Int, Int) [] => |p, a| fs::poll(p, a[0], a[1], Some(a[2] as i32)),
                wait |p, a| Some(block::poll_ms(p, a));
            ppoll(Ptr, Int, Ptr, Ptr, Int) [] => |p, a| fs::ppoll(p, a, false),
                wait |p, a| block::ppoll(p, a, false);
            ppoll_time64(Ptr, Int, Ptr, Ptr, Int) [] => |p, a| fs::ppoll(p, a, true),
                wait |p, a| block::ppoll(p, a, true);
            select(Int, Ptr, Ptr, Ptr, Ptr) [] => |p, a| block::select_on_host(p, a.sys, a),
                wait |p, a| Some(block::select_wait(p, a.sys, a));
            _newselect(Int, Ptr, Ptr, Ptr, Ptr) [] => |p, a| block::select_on_host(p, a.sys, a),
                wait |p, a| Some(block::select_wait(p, a.sys, a));
            pselect6(Int, Ptr, Ptr, Ptr, Ptr, Ptr) [] => |p, a| {
                block::select_on_host(p, a.sys, a)
            },
                wait |p, a| Some(block::select_wait(p, a.sys, a));
            pselect6_time64(Int, Ptr, Ptr, Ptr, Ptr, Ptr) [] => |p, a| {
                block::select_on_host(p, a.sys, a)
            },
                wait |p, a| Some(block::select_wait(p, a.sys, a));
            // Memory (syscall::mm).
            mmap(Ptr, Int, Prot, MapFlags, Fd, Hex) [ADDRESS] => |p, a| mm::mmap(p, a);
            // The offset in 4096-byte units.
            mmap2(Ptr, Int, Prot, MapFlags, Fd, Hex) [ADDRESS] => |p, a| {
                let mut bytes = a.args;
                bytes[5] = a[5] << 12;
                mm::mmap(p, &bytes)
            };
            munmap(Ptr, Int) [] => |p, a| mm::munmap(p, a);
            mprotect(Ptr, Int, Prot) [] => |p, a| mm::mprotect(p, a);
            mremap(Ptr, Int, Int, Hex, Ptr) [ADDRESS] => |p, a| mm::mremap(p, a);
            msync(Ptr, Int, Hex) [] => |p, a| mm::msync(p, a);
            madvise(Ptr, Int, Int) [] => |p, a| mm::madvise(p, a);
            mincore(Ptr, Int, Ptr) [] => |p, a| mm::mincore(p, a);
            brk(Ptr) [ADDRESS] => |p, a| mm::brk(p, a);
            // Signals (syscall::signal; frames in the engine layer).
            rt_sigaction(Int, Ptr, Ptr, Int) [] => |p, a| signal::rt_sigaction(p, a);
            rt_sigprocmask(Int, Ptr, Ptr, Int) [] => |p, a| signal::rt_sigprocmask(p, a);
            rt_sigpending(Ptr, Int) [] => |p, a| signal::rt_sigpending(p, a);
            rt_sigsuspend(Ptr, Int) [] => |p, a| signal::rt_sigsuspend(p, a);
            pause() [] => |p, a| signal::pause(p);
            rt_sigtimedwait(Ptr, Ptr, Ptr, Int) [] => |p, a| signal::rt_sigtimedwait(p, a, false);
            rt_sigtimedwait_time64(Ptr, Ptr, Ptr, Int) [] => |p, a| {
                signal::rt_sigtimedwait(p, a, true)
            };
            kill(Pid, Int) [OUTPUT] => |p, a| signal::kill(p, a.sys, a);
            tkill(Pid, Int) [OUTPUT] => |p, a| signal::kill(p, a.sys, a);
            tgkill(Pid, Pid, Int) [OUTPUT] => |p, a| signal::kill(p, a.sys, a);
            rt_sigqueueinfo(Pid, Int, Ptr) [OUTPUT] => |p, a| signal::kill(p, a.sys, a);
            rt_tgsigqueueinfo(Pid, Pid, Int, Ptr) [OUTPUT] => |p, a| signal::kill(p, a.sys, a);
            alarm(Int) [] => |p, a| signal::alarm(a);
            setitimer(Int, Ptr, Ptr) [] => |p, a| signal::itimer(p, a.sys, a);
            getitimer(Int, Ptr) [] => |p, a| signal::itimer(p, a.sys, a);
            // Run by the engine layer before dispatch (machine::delivery).
            rt_sigreturn() [] => |p, a| Err(Errno::ENOSYS);
            sigreturn() [] => |p, a| Err(Errno::ENOSYS);
            sigaltstack(Ptr, Ptr) [] => |p, a| Err(Errno::ENOSYS);
            // POSIX timers (syscall::timer).
            timer_create(Int, Ptr, Ptr) [] => |p, a| timer::timer_create(p, a);
            timer_settime(Int, Int, Ptr, Ptr) [] => |p, a| timer::timer_settime(p, a, false);
            timer_settime64(Int, Int, Ptr, Ptr) [] => |p, a| timer::timer_settime(p, a, true);
            timer_gettime(Int, Ptr) [] => |p, a| timer::timer_gettime(p, a, false);
            timer_gettime64(Int, Ptr) [] => |p, a| timer::timer_gettime(p, a, true);
            timer_getoverrun(Int) [] => |p, a| timer::timer_getoverrun(p, a);
            timer_delete(Int) [] => |p, a| timer::timer_delete(p, a);
            // Time (syscall::time).
            nanosleep(Ptr, Ptr) [] => |p, a| time::nanosleep(p, a),
                wait |p, a| Some(block::sleep(p, libc::CLOCK_MONOTONIC, 0, a[0], false));
            clock_nanosleep(Int, Hex, Ptr, Ptr) [] => |p, a| time::clock_nanosleep(p, a, false),
                wait |p, a| Some(block::sleep(p, a[0] as i32, a[1] as i32, a[2], false));
            clock_nanosleep_time64(Int, Hex, Ptr, Ptr) [] => |p, a| {
                time::clock_nanosleep(p, a, true)
            },
                wait |p, a| Some(block::sleep(p, a[0] as i32, a[1] as i32, a[2], true));
            gettimeofday(Ptr, Ptr) [] => |p, a| time::gettimeofday(p, a);
            clock_gettime(Int, Ptr) [] => |p, a| time::clock_gettime(p, a, false);
            clock_gettime64(Int, Ptr) [] => |p, a| time::clock_gettime(p, a, true);
            clock_getres(Int, Ptr) [] => |p, a| time::clock_getres(p, a, false);
            clock_getres_time64(Int, Ptr) [] => |p, a| time::clock_getres(p, a, true);
            time(Ptr) [] => |p, a| time::time(p, a);
            times(Ptr) [] => |p, a| time::times(p, a);
            // The process and its identity (syscall::process).
            getpid() [] => |p, a| process::identity(p, a.sys, a);
            getppid() [] => |p, a| process::identity(p, a.sys, a);
            getuid() [] => |p, a| process::identity(p, a.sys, a);
            geteuid() [] => |p, a| process::identity(p, a.sys, a);
            getgid() [] => |p, a| process::identity(p, a.sys, a);
            getegid() [] => |p, a| process::identity(p, a.sys, a);
            getpgrp() [] => |p, a| process::identity(p, a.sys, a);
            getpgid(Pid) [] => |p, a| process::identity(p, a.sys, a);
            getsid(Pid) [] => |p, a| process::identity(p, a.sys, a);
            umask(Oct) [] => |p, a| process::identity(p, a.sys, a);
            getresuid(Ptr, Ptr, Ptr) [] => |p, a| process::getres(p, a.sys, a);
            getresgid(Ptr, Ptr, Ptr) [] => |p, a| process::getres(p, a.sys, a);
            setpgid(Pid, Pid) [] => |p, a| process::setpgid(a);
            setuid(Int) [] => |p, a| process::set_id(a.sys, a[0]);
            setgid(Int) [] => |p, a| process::set_id(a.sys, a[0]);
            getgroups(Int, Ptr) [] => |p, a| process::getgroups(p, a);
            uname(Ptr) [] => |p, a| process::uname(p, a);
            sysinfo(Ptr) [] => |p, a| process::sysinfo(p, a);
            prctl(Int, Hex, Hex, Hex, Hex) [] => |p, a| process::prctl(p, a);
            prlimit64(Pid, Int, Ptr, Ptr) [] => |p, a| process::prlimit64(p, a[0], a[1], a[2], a[3]);
            getrlimit(Int, Ptr) [] => |p, a| process::rlimit_words(p, a[0], None, Some(a[1]));
            setrlimit(Int, Ptr) [] => |p, a| process::rlimit_words(p, a[0], Some(a[1]), None);
            getrandom(Ptr, Int, Hex) [] => |p, a| process::getrandom(p, a);
            sched_getaffinity(Pid, Int, Ptr) [] => |p, a| process::sched_getaffinity(p, a);
            membarrier(Int, Hex, Int) [] => |p, a| process::membarrier(a);
            clone(Hex, Ptr, Ptr, Ptr, Ptr) [] => |p, a| process::clone(p, a);
            clone3(Ptr, Int) [] => |p, a| process::clone3(p, a);
            exit(Int) [OUTPUT] => |p, a| thread::exit(p, a[0] as i32);
            exit_group(Int) [OUTPUT] => |p, a| Outcome::Exit(ExitKind::Exited(a[0] as i32));
            // Threads (syscall::thread, syscall::futex).
            gettid() [] => |p, a| Ok(u64::from(p.threads.current_tid()));
            set_tid_address(Ptr) [] => |p, a| thread::set_tid_address(p, a);
            set_robust_list(Ptr, Int) [] => |p, a| thread::set_robust_list(p, a);
            get_robust_list(Pid, Ptr, Ptr) [] => |p, a| thread::get_robust_list(p, a);
            // glibc falls back when rseq is refused.
            rseq(Ptr, Int, Hex, Hex) [] => |p, a| Err(Errno::ENOSYS);
            futex(Ptr, Int, Int, Ptr, Ptr, Int) [RESTART] => |p, a| futex::futex(p, a, false);
            futex_time64(Ptr, Int, Int, Ptr, Ptr, Int) [RESTART] => |p, a| futex::futex(p, a, true);
            sched_yield() [] => |p, a| thread::sched_yield(p);
            // Children (syscall::wait; fork and exec in the engine layer).
            fork() [] => |p, a| Err(Errno::ENOSYS);
            vfork() [] => |p, a| Err(Errno::ENOSYS);
            execve(Str, Ptr, Ptr) [] => |p, a| Err(Errno::ENOSYS);
            execveat(DirFd, Str, Ptr, Ptr, Hex) [] => |p, a| Err(Errno::ENOSYS);
            wait4(Pid, Ptr, Hex, Ptr) [RESTART] => |p, a| wait::wait4(p, a[0], a[1], a[2], a[3]);
            waitpid(Pid, Ptr, Hex) [RESTART] => |p, a| wait::wait4(p, a[0], a[1], a[2], 0);
            waitid(Int, Pid, Ptr, Hex, Ptr) [RESTART] => |p, a| wait::waitid(p, a);
            getrusage(Int, Ptr) [] => |p, a| wait::getrusage(p, a);
            setsid() [] => |p, a| wait::setsid();
            // Sockets and epoll (syscall::net).
            socket(Int, Hex, Int) [] => |p, a| net::socket(p, a);
            socketpair(Int, Hex, Int, Ptr) [] => |p, a| net::socketpair(p, a);
            bind(Fd, Ptr, Int) [] => |p, a| net::bind_connect(p, a.sys, a);
            connect(Fd, Ptr, Int) [RESTART] => |p, a| net::bind_connect(p, a.sys, a);
            listen(Fd, Int) [] => |p, a| net::listen(p, a);
            accept(Fd, Ptr, Ptr) [RESTART] => |p, a| net::accept4(p, a, 0),
                wait |p, a| block::accept_wait(p, a[0]);
            accept4(Fd, Ptr, Ptr, Hex) [RESTART] => |p, a| net::accept4(p, a, a[3]),
                wait |p, a| block::accept_wait(p, a[0]);
            getsockname(Fd, Ptr, Ptr) [] => |p, a| net::sockname(p, a.sys, a);
            getpeername(Fd, Ptr, Ptr) [] => |p, a| net::sockname(p, a.sys, a);
            sendto(Fd, Ptr, Int, Hex, Ptr, Int) [OUTPUT, SIGPIPE, RESTART] => |p, a| net::sendto(p, a, 0),
                wait |p, a| block::send_unless_dontwait(p, a, 3);
            send(Fd, Ptr, Int, Hex) [OUTPUT, SIGPIPE, RESTART] => |p, a| {
                net::sendto(p, &[a[0], a[1], a[2], a[3], 0, 0], 0)
            },
                wait |p, a| block::send_unless_dontwait(p, a, 3);
            sendmsg(Fd, Ptr, Hex) [OUTPUT, SIGPIPE, RESTART] => |p, a| net::sendmsg(p, a, 0),
                wait |p, a| block::send_unless_dontwait(p, a, 2);
            recvfrom(Fd, Ptr, Int, Hex, Ptr, Ptr) [RESTART] => |p, a| net::recvfrom(p, a),
                wait |p, a| block::recv_unless_dontwait(p, a, 3);
            recv(Fd, Ptr, Int, Hex) [RESTART] => |p, a| net::recvfrom(p, &[a[0], a[1], a[2], a[3], 0, 0]),
                wait |p, a| block::recv_unless_dontwait(p, a, 3);
            recvmsg(Fd, Ptr, Hex) [RESTART] => |p, a| net::recvmsg(p, a),
                wait |p, a| block::recv_unless_dontwait(p, a, 2);
            shutdown(Fd, Int) [] => |p, a| net::shutdown(p, a);
            setsockopt(Fd, Int, Int, Ptr, Int) [] => |p, a| net::setsockopt(p, a);
            getsockopt(Fd, Int, Int, Ptr, Ptr) [] => |p, a| net::getsockopt(p, a);
            // i386: the call and its arguments in guest memory, dispatched
            // again as the call they name (syscall::dispatch).
            socketcall(Int, Ptr) [OUTPUT] => |p, a| Err(Errno::ENOSYS);
            epoll_create(Int) [] => |p, a| match a[0] as i32 {
                size if size <= 0 => Err(Errno::EINVAL),
                _ => net::epoll_create1(p, 0),
            };
            epoll_create1(OpenFlags) [] => |p, a| net::epoll_create1(p, a[0]);
            epoll_ctl(Fd, Int, Fd, Ptr) [] => |p, a| net::epoll_ctl(p, a);
            epoll_wait(Fd, Ptr, Int, Int) [] => |p, a| net::epoll_wait(p, a, a[3] as i32),
                wait |p, a| Some(block::epoll_block(p, a));
            epoll_pwait(Fd, Ptr, Int, Int, Ptr, Int) [] => |p, a| net::epoll_wait(p, a, a[3] as i32),
                wait |p, a| Some(block::epoll_block(p, a));
            // System V IPC (syscall::ipc): i386 and mips also multiplex
            // them through ipc.
            shmget(Hex, Int, IpcGetFlags) [] => |p, a| ipc::shmget(a);
            shmat(Int, Ptr, ShmFlags) [ADDRESS] => |p, a| ipc::shmat(p, a[0], a[1], a[2]);
            shmdt(Ptr) [] => |p, a| ipc::shmdt(p, a[0]);
            shmctl(Int, ShmCmd, Ptr) [] => |p, a| ipc::shmctl(p, a[0], a[1], a[2]);
            semget(Hex, Int, IpcGetFlags) [] => |p, a| ipc::semget(a);
            semctl(Int, Int, SemCmd, Hex) [] => |p, a| ipc::semctl(p, a[0], a[1], a[2], a[3]);
            semop(Int, Ptr, Int) [] => |p, a| {
                ipc::semtimedop(p, a[0], a[1], a[2], 0, ipc::Timeout::None)
            };
            semtimedop(Int, Ptr, Int, Ptr) [] => |p, a| {
                ipc::semtimedop(p, a[0], a[1], a[2], a[3], ipc::Timeout::Long)
            };
            semtimedop_time64(Int, Ptr, Int, Ptr) [] => |p, a| {
                ipc::semtimedop(p, a[0], a[1], a[2], a[3], ipc::Timeout::Time64)
            };
            msgget(Hex, IpcGetFlags) [] => |p, a| ipc::msgget(a);
            msgsnd(Int, Ptr, Int, MsgFlags) [] => |p, a| ipc::msgsnd(p, a[0], a[1], a[2], a[3]);
            msgrcv(Int, Ptr, Int, Int, MsgFlags) [] => |p, a| {
                ipc::msgrcv(p, a[0], a[1], a[2], a[3], a[4])
            };
            msgctl(Int, MsgCmd, Ptr) [] => |p, a| ipc::msgctl(p, a[0], a[1], a[2]);
            ipc(IpcCall, Int, Int, Int, Ptr, Int) [] => |p, a| ipc::ipc(p, a);
            // Architecture-private calls (Abi::arch_syscall).
            arch_prctl(Hex, Hex) [] => |p, a| Err(Errno::ENOSYS);
            set_tls(Ptr) [] => |p, a| Err(Errno::ENOSYS);
            set_thread_area(Ptr) [] => |p, a| Err(Errno::ENOSYS);
            modify_ldt(Int, Ptr, Int) [] => |p, a| Err(Errno::ENOSYS);
            cacheflush(Ptr, Int, Int) [] => |p, a| Err(Errno::ENOSYS);
        }
    };
}
pub(crate) use for_each_syscall;
