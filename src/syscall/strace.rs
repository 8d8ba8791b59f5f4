// SPDX-License-Identifier: GPL-2.0-or-later
//! `-strace` lines in qemu-user's style: `PID name(args) = result`.

use super::{Errno, Outcome, Sys};
use crate::abi::Arg;
use crate::kernel::Process;

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
            (0o4010000, "O_SYNC"),
            (0o10000, "O_DSYNC"),
            (0o20000, "O_ASYNC"),
            (0o40000, "O_DIRECT"),
            (0o100000, "O_LARGEFILE"),
            (0o200000, "O_DIRECTORY"),
            (0o400000, "O_NOFOLLOW"),
            (0o1000000, "O_NOATIME"),
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
        // The ABI's bits as the host's (x86) ones, whose names follow.
        Arg::MapFlags => flags(
            p.abi.mmap_flags_to_host(v),
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
        // Shown by `format_call`, which knows the register pairs.
        Arg::Off64 => (v as i64).to_string(),
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
        Sys::signature,
    );
    // Argument words are consumed in order; a 64-bit argument takes a
    // register pair on 32-bit ABIs.
    let mut slot = 0;
    let mut shown = Vec::with_capacity(sig.len());
    for &kind in sig {
        if slot >= args.len() {
            break;
        }
        if kind == Arg::Off64 {
            shown.push((p.abi.regpair(args, slot) as i64).to_string());
            slot += if p.abi.is_64bit() { 1 } else { 2 };
        } else {
            shown.push(format_arg(p, kind, args[slot]));
            slot += 1;
        }
    }
    let result = match outcome {
        Outcome::Exit(_) | Outcome::ThreadExit | Outcome::Blocked | Outcome::Resumed => {
            String::new()
        }
        Outcome::Value(v) | Outcome::Pair(v, _) => match sys {
            Some(sys) if sys.returns_address() => format!(" = {v:#x}"),
            _ => format!(" = {}", v as i64),
        },
        Outcome::Error(e) => format!(" = -1 errno={} ({})", e.0, Errno::description(e)),
        // The kernel's ERESTARTSYS, as qemu-user shows a call to restart.
        Outcome::Restart => format!(" = -1 errno=512 ({})", Errno(512).description()),
    };
    let note = if unsupported {
        format!(" [ht-user: unsupported syscall {nr}]")
    } else {
        String::new()
    };
    format!("{} {}({}){}{}", p.pid, name, shown.join(","), result, note)
}
