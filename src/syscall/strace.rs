// SPDX-License-Identifier: GPL-2.0-or-later
//! `-strace` lines in qemu-user's style: `PID name(args) = result`.

use super::{Errno, Outcome, Sys};
use crate::kernel::Process;

/// How to print one argument.
#[derive(Clone, Copy)]
enum Arg {
    Int,
    /// A C `int` (pid_t), whatever the register holds above it.
    Pid,
    Hex,
    Ptr,
    Str,
    Fd,
    DirFd,
    Oct,
    OpenFlags,
    Prot,
    MapFlags,
    /// shmget/semget/msgget flags: IPC_CREAT|IPC_EXCL and the mode.
    IpcGetFlags,
    /// shmat flags.
    ShmFlags,
    /// msgsnd/msgrcv flags.
    MsgFlags,
    /// A shmctl, semctl or msgctl command.
    ShmCmd,
    SemCmd,
    MsgCmd,
    /// ipc(2)'s call: the operation's name and the version.
    IpcCall,
}

fn signature(sys: Sys) -> &'static [Arg] {
    use Arg::*;
    use Sys::*;
    match sys {
        read | write => &[Fd, Ptr, Int],
        pread64 | pwrite64 => &[Fd, Ptr, Int, Int],
        readv | writev => &[Fd, Ptr, Int],
        sendfile => &[Fd, Fd, Ptr, Int],
        getxattr | lgetxattr => &[Str, Str, Ptr, Int],
        fgetxattr => &[Fd, Str, Ptr, Int],
        listxattr | llistxattr => &[Str, Ptr, Int],
        flistxattr => &[Fd, Ptr, Int],
        copy_file_range => &[Fd, Ptr, Fd, Ptr, Int, Hex],
        statfs => &[Str, Ptr],
        fstatfs => &[Fd, Ptr],
        statfs64 => &[Str, Int, Ptr],
        fstatfs64 => &[Fd, Int, Ptr],
        open => &[Str, OpenFlags, Oct],
        creat => &[Str, Oct],
        openat => &[DirFd, Str, OpenFlags, Oct],
        close | fsync | fdatasync | fchdir | dup => &[Fd],
        dup2 => &[Fd, Fd],
        dup3 => &[Fd, Fd, Hex],
        stat | lstat => &[Str, Ptr],
        fstat => &[Fd, Ptr],
        newfstatat => &[DirFd, Str, Ptr, Hex],
        statx => &[DirFd, Str, Hex, Hex, Ptr],
        lseek => &[Fd, Int, Int],
        mmap => &[Ptr, Int, Prot, MapFlags, Fd, Hex],
        mprotect => &[Ptr, Int, Prot],
        munmap | msync => &[Ptr, Int],
        mremap => &[Ptr, Int, Int, Hex, Ptr],
        madvise => &[Ptr, Int, Int],
        mincore => &[Ptr, Int, Ptr],
        brk => &[Ptr],
        ioctl => &[Fd, Hex, Ptr],
        access => &[Str, Oct],
        faccessat | faccessat2 => &[DirFd, Str, Oct, Hex],
        pipe => &[Ptr],
        pipe2 => &[Ptr, OpenFlags],
        fcntl => &[Fd, Int, Hex],
        getdents64 => &[Fd, Ptr, Int],
        getcwd => &[Ptr, Int],
        chdir | rmdir | unlink => &[Str],
        mkdir | chmod => &[Str, Oct],
        mkdirat | fchmodat => &[DirFd, Str, Oct],
        unlinkat => &[DirFd, Str, Hex],
        rename | symlink | link => &[Str, Str],
        renameat | renameat2 => &[DirFd, Str, DirFd, Str, Hex],
        readlink => &[Str, Ptr, Int],
        readlinkat => &[DirFd, Str, Ptr, Int],
        exit | exit_group => &[Int],
        kill | tkill => &[Int, Int],
        tgkill => &[Int, Int, Int],
        clock_gettime | clock_getres => &[Int, Ptr],
        nanosleep | gettimeofday => &[Ptr, Ptr],
        clock_nanosleep => &[Int, Hex, Ptr, Ptr],
        rt_sigaction => &[Int, Ptr, Ptr, Int],
        rt_sigprocmask => &[Int, Ptr, Ptr, Int],
        arch_prctl => &[Hex, Hex],
        set_tid_address => &[Ptr],
        set_robust_list => &[Ptr, Int],
        prlimit64 => &[Int, Int, Ptr, Ptr],
        getrandom => &[Ptr, Int, Hex],
        futex => &[Ptr, Int, Int, Ptr, Ptr, Int],
        umask => &[Oct],
        uname | sysinfo | time | times => &[Ptr],
        getpid | gettid | getppid | getuid | geteuid | getgid | getegid | sched_yield | getpgrp => {
            &[]
        }
        fork | vfork => &[],
        clone => &[Hex, Ptr, Ptr, Ptr, Ptr],
        execve => &[Str, Ptr, Ptr],
        execveat => &[DirFd, Str, Ptr, Ptr, Hex],
        wait4 => &[Pid, Ptr, Hex, Ptr],
        waitpid => &[Pid, Ptr, Hex],
        waitid => &[Int, Pid, Ptr, Hex, Ptr],
        getrusage => &[Int, Ptr],
        socket => &[Int, Hex, Int],
        socketpair => &[Int, Hex, Int, Ptr],
        bind | connect => &[Fd, Ptr, Int],
        listen | shutdown => &[Fd, Int],
        accept | getsockname | getpeername => &[Fd, Ptr, Ptr],
        accept4 => &[Fd, Ptr, Ptr, Hex],
        send | recv => &[Fd, Ptr, Int, Hex],
        sendto => &[Fd, Ptr, Int, Hex, Ptr, Int],
        recvfrom => &[Fd, Ptr, Int, Hex, Ptr, Ptr],
        setsockopt => &[Fd, Int, Int, Ptr, Int],
        getsockopt => &[Fd, Int, Int, Ptr, Ptr],
        sendmsg | recvmsg => &[Fd, Ptr, Hex],
        socketcall => &[Int, Ptr],
        epoll_create => &[Int],
        epoll_create1 => &[Hex],
        epoll_ctl => &[Fd, Int, Fd, Ptr],
        epoll_wait => &[Fd, Ptr, Int, Int],
        epoll_pwait => &[Fd, Ptr, Int, Int, Ptr, Int],
        timer_create => &[Int, Ptr, Ptr],
        timer_settime | timer_settime64 => &[Int, Int, Ptr, Ptr],
        timer_gettime | timer_gettime64 => &[Int, Ptr],
        timer_getoverrun | timer_delete => &[Int],
        shmget | semget => &[Hex, Int, IpcGetFlags],
        msgget => &[Hex, IpcGetFlags],
        shmat => &[Int, Ptr, ShmFlags],
        shmdt => &[Ptr],
        shmctl => &[Int, ShmCmd, Ptr],
        semop => &[Int, Ptr, Int],
        semtimedop | semtimedop_time64 => &[Int, Ptr, Int, Ptr],
        semctl => &[Int, Int, SemCmd, Hex],
        msgsnd => &[Int, Ptr, Int, MsgFlags],
        msgrcv => &[Int, Ptr, Int, Int, MsgFlags],
        msgctl => &[Int, MsgCmd, Ptr],
        ipc => &[IpcCall, Int, Int, Int, Ptr, Int],
        _ => &[Hex, Hex, Hex, Hex, Hex, Hex],
    }
}

fn flags(value: u64, names: &[(u64, &str)], zero: &str) -> String {
    let mut parts = Vec::new();
    let mut rest = value;
    for (bit, name) in names {
        if *bit != 0 && value & bit == *bit {
            parts.push(name.to_string());
            rest &= !bit;
        }
    }
    if rest != 0 || parts.is_empty() && value != 0 {
        parts.push(format!("{rest:#x}"));
    }
    if parts.is_empty() {
        zero.to_string()
    } else {
        parts.join("|")
    }
}

fn open_flags(v: u64) -> String {
    let access = match v & 3 {
        0 => "O_RDONLY",
        1 => "O_WRONLY",
        2 => "O_RDWR",
        _ => "O_ACCMODE",
    };
    let rest = flags(
        v & !3,
        &[
            (0o100, "O_CREAT"),
            (0o200, "O_EXCL"),
            (0o400, "O_NOCTTY"),
            (0o1000, "O_TRUNC"),
            (0o2000, "O_APPEND"),
            (0o4000, "O_NONBLOCK"),
            (0o200000, "O_DIRECTORY"),
            (0o400000, "O_NOFOLLOW"),
            (0o2000000, "O_CLOEXEC"),
            (0o10000000, "O_PATH"),
        ],
        "",
    );
    if rest.is_empty() {
        access.to_string()
    } else {
        format!("{access}|{rest}")
    }
}

/// A `*ctl` command: the generic IPC commands, then the family's own
/// (`extra`, numbered from 11), with the IPC_64 flag of 32-bit ABIs.
fn ipc_cmd(v: u64, extra: &[&str]) -> String {
    let cmd = v as u32;
    let base = cmd & !0x100;
    let name = match base {
        0 => "IPC_RMID".to_string(),
        1 => "IPC_SET".to_string(),
        2 => "IPC_STAT".to_string(),
        3 => "IPC_INFO".to_string(),
        n if (11..11 + extra.len() as u32).contains(&n) => extra[(n - 11) as usize].to_string(),
        n => n.to_string(),
    };
    if cmd & 0x100 != 0 {
        format!("IPC_64|{name}")
    } else {
        name
    }
}

/// ipc(2)'s operation names by call number.
fn ipc_call(v: u64) -> String {
    let (version, op) = ((v as u32) >> 16, v as u32 & 0xffff);
    let name = match op {
        1 => "SEMOP",
        2 => "SEMGET",
        3 => "SEMCTL",
        4 => "SEMTIMEDOP",
        11 => "MSGSND",
        12 => "MSGRCV",
        13 => "MSGGET",
        14 => "MSGCTL",
        21 => "SHMAT",
        22 => "SHMDT",
        23 => "SHMGET",
        24 => "SHMCTL",
        _ => return (v as u32).to_string(),
    };
    if version == 0 {
        name.to_string()
    } else {
        format!("{name}|{version}<<16")
    }
}

fn quoted(p: &Process, addr: u64) -> String {
    if addr == 0 {
        return "NULL".into();
    }
    match p.mem.read_cstr(addr, 4096) {
        Ok(bytes) => {
            let shown = &bytes[..bytes.len().min(64)];
            let mut s = String::from("\"");
            for &b in shown {
                match b {
                    b'"' => s.push_str("\\\""),
                    b'\\' => s.push_str("\\\\"),
                    b'\n' => s.push_str("\\n"),
                    0x20..=0x7e => s.push(b as char),
                    _ => s.push_str(&format!("\\{b:03o}")),
                }
            }
            s.push('"');
            if bytes.len() > 64 {
                s.push_str("...");
            }
            s
        }
        Err(_) => format!("{addr:#x}"),
    }
}

fn format_arg(p: &Process, kind: Arg, v: u64) -> String {
    match kind {
        Arg::Int => (v as i64).to_string(),
        Arg::Pid => (v as i32).to_string(),
        Arg::Fd => (v as i32).to_string(),
        Arg::DirFd if v as i32 == libc::AT_FDCWD => "AT_FDCWD".into(),
        Arg::DirFd => (v as i32).to_string(),
        Arg::Hex => format!("{v:#x}"),
        Arg::Ptr if v == 0 => "NULL".into(),
        Arg::Ptr => format!("{v:#x}"),
        Arg::Str => quoted(p, v),
        Arg::Oct => format!("0{v:o}"),
        Arg::OpenFlags => open_flags(p.abi.open_flags_to_host(v) as u32 as u64),
        Arg::Prot => flags(
            v,
            &[(1, "PROT_READ"), (2, "PROT_WRITE"), (4, "PROT_EXEC")],
            "PROT_NONE",
        ),
        Arg::MapFlags => flags(
            v,
            &[
                (0x01, "MAP_SHARED"),
                (0x02, "MAP_PRIVATE"),
                (0x10, "MAP_FIXED"),
                (0x20, "MAP_ANONYMOUS"),
                (0x100, "MAP_GROWSDOWN"),
                (0x4000, "MAP_NORESERVE"),
                (0x8000, "MAP_POPULATE"),
                (0x20000, "MAP_STACK"),
                (0x100000, "MAP_FIXED_NOREPLACE"),
            ],
            "0",
        ),
        Arg::IpcGetFlags => {
            let names = flags(
                v & !0o777,
                &[(0o1000, "IPC_CREAT"), (0o2000, "IPC_EXCL")],
                "",
            );
            let mode = format!("0{:o}", v & 0o777);
            if names.is_empty() {
                mode
            } else {
                format!("{names}|{mode}")
            }
        }
        Arg::ShmFlags => flags(
            v,
            &[
                (0o10000, "SHM_RDONLY"),
                (0o20000, "SHM_RND"),
                (0o40000, "SHM_REMAP"),
                (0o100000, "SHM_EXEC"),
            ],
            "0",
        ),
        Arg::MsgFlags => flags(
            v,
            &[
                (0o4000, "IPC_NOWAIT"),
                (0o10000, "MSG_NOERROR"),
                (0o20000, "MSG_EXCEPT"),
                (0o40000, "MSG_COPY"),
            ],
            "0",
        ),
        Arg::ShmCmd => ipc_cmd(
            v,
            &[
                "SHM_LOCK",
                "SHM_UNLOCK",
                "SHM_STAT",
                "SHM_INFO",
                "SHM_STAT_ANY",
            ],
        ),
        Arg::SemCmd => ipc_cmd(
            v,
            &[
                "GETPID",
                "GETVAL",
                "GETALL",
                "GETNCNT",
                "GETZCNT",
                "SETVAL",
                "SETALL",
                "SEM_STAT",
                "SEM_INFO",
                "SEM_STAT_ANY",
            ],
        ),
        Arg::MsgCmd => ipc_cmd(v, &["MSG_STAT", "MSG_INFO", "MSG_STAT_ANY"]),
        Arg::IpcCall => ipc_call(v),
    }
}

/// One finished call, with its result. `unsupported` adds the note that
/// ht-user does not implement the call.
pub fn format_call(
    p: &Process,
    nr: u64,
    sys: Option<Sys>,
    args: &[u64; 6],
    outcome: Outcome,
    unsupported: bool,
) -> String {
    let name = match sys {
        Some(s) => s.name().to_string(),
        None => p
            .abi
            .syscall_table()
            .name(nr)
            .map_or_else(|| format!("syscall_{nr}"), str::to_string),
    };
    let sig = sys.map_or(
        &[Arg::Hex, Arg::Hex, Arg::Hex, Arg::Hex, Arg::Hex, Arg::Hex][..],
        signature,
    );
    let shown: Vec<String> = sig
        .iter()
        .zip(args.iter())
        .map(|(k, v)| format_arg(p, *k, *v))
        .collect();
    let result = match outcome {
        Outcome::Exit(_) | Outcome::ThreadExit | Outcome::Blocked | Outcome::Resumed => {
            String::new()
        }
        Outcome::Value(v) => match sys {
            Some(Sys::mmap | Sys::brk | Sys::mremap | Sys::shmat) => format!(" = {v:#x}"),
            _ => format!(" = {}", v as i64),
        },
        Outcome::Error(e) => format!(" = -1 errno={} ({})", e.0, Errno::description(e)),
    };
    let note = if unsupported {
        format!(" [ht-user: unsupported syscall {nr}]")
    } else {
        String::new()
    };
    format!("{} {}({}){}{}", p.pid, name, shown.join(","), result, note)
}
