// SPDX-License-Identifier: GPL-2.0-or-later
//! System V IPC: shared memory, semaphores and message queues.
//!
//! The objects are the host's own (host `shmget`, `semget`, `msgget`), so
//! they are shared with other processes and with forked guest children
//! exactly as on Linux. The handlers convert what differs between the
//! guest and the host: the `*id64_ds` structures (per ABI, see
//! [`IpcCodec`]), `struct sembuf` and the message's `long` type in guest
//! byte order, and the guest's `IPC_64` command flag (32-bit ABIs).
//!
//! `shmat` attaches the host segment to host memory and maps that memory
//! into the guest address space as a shared region (a [`HostMapping`]
//! that detaches the segment when the last guest region using it goes);
//! `shmdt` removes exactly the regions of the attachment made at its
//! address. Attachments survive fork (the host's do) and end with exec
//! and exit, as on Linux.
//!
//! Waiting: a single-threaded guest makes the host call itself, which
//! blocks and returns EINTR when a host signal for the guest arrives. With
//! several guest threads (or POSIX timers signalling) every try is made
//! with `IPC_NOWAIT`; one that would block parks its thread
//! ([`Wait::Retry`]) and runs again after a short, growing interval, or at
//! once when another thread of the process changes an IPC object. The
//! host does not count such a parked thread as a waiter (`GETNCNT`,
//! `GETZCNT`), and a `semop` mixing `IPC_NOWAIT` and waiting operations
//! waits when any of them would block.
//!
//! Old-style (non-`IPC_64`) commands of 32-bit ABIs use the `IPC_64`
//! layouts too.

use std::sync::Arc;

use super::{Errno, Outcome, SysResult};
use crate::abi::ipc_types::{IpcCodec, ShmDs};
use crate::arch::IpcLayout;
use crate::kernel::thread::{Block, IpcWait, Wait};
use crate::kernel::Process;
use crate::mem::{page_ceil, Encoder, Endian, HostMapping, Perms, RegionKind, PAGE_SIZE};

mod msg;
pub use msg::*;

const IPC_64: u64 = 0x100;
const IPC_NOWAIT: i32 = 0o4000;

const IPC_RMID: i32 = 0;
const IPC_SET: i32 = 1;
const IPC_STAT: i32 = 2;
const IPC_INFO: i32 = 3;

const SHM_LOCK: i32 = 11;
const SHM_UNLOCK: i32 = 12;
const SHM_STAT: i32 = 13;
const SHM_INFO: i32 = 14;
const SHM_STAT_ANY: i32 = 15;

const GETPID: i32 = 11;
const GETVAL: i32 = 12;
const GETALL: i32 = 13;
const GETNCNT: i32 = 14;
const GETZCNT: i32 = 15;
const SETVAL: i32 = 16;
const SETALL: i32 = 17;
const SEM_STAT: i32 = 18;
const SEM_INFO: i32 = 19;
const SEM_STAT_ANY: i32 = 20;

const MSG_STAT: i32 = 11;
const MSG_INFO: i32 = 12;
const MSG_STAT_ANY: i32 = 13;

const SHM_RDONLY: i32 = 0o10000;
const SHM_RND: i32 = 0o20000;
const SHM_REMAP: i32 = 0o40000;
const SHM_EXEC: i32 = 0o100000;

const MSG_COPY: i32 = 0o40000;

/// The first and the longest interval between two tries of a parked call.
const POLL_FIRST_NS: u64 = 500_000;
const POLL_MAX_NS: u64 = 16_000_000;

/// Bytes a host `*id64_ds` or `*info` structure can take.
const HOST_BUF: usize = 256;

/// The host kernel's layouts (a 64-bit host).
fn host_codec() -> IpcCodec {
    IpcCodec {
        layout: if cfg!(target_arch = "x86_64") {
            IpcLayout::X86_64
        } else {
            IpcLayout::Generic
        },
        word: 8,
        enc: Encoder {
            endian: if cfg!(target_endian = "little") {
                Endian::Little
            } else {
                Endian::Big
            },
        },
    }
}

fn guest_codec(p: &Process) -> IpcCodec {
    IpcCodec {
        layout: p.abi.ipc_layout(),
        word: p.word_size(),
        enc: p.mem.encoder(),
    }
}

/// The host's IPC system calls, made directly so that no C library
/// converts structures on the way.
mod host {
    use super::Errno;

    use crate::syscall::host_result as check;

    /// shmget(key, size, flags), semget(key, nsems, flags),
    /// msgget(key, flags, 0).
    pub fn get(nr: libc::c_long, key: i32, a: u64, b: i32) -> Result<u64, Errno> {
        // SAFETY: integer arguments only.
        check(unsafe { libc::syscall(nr, key, a, b) })
    }

    /// shmctl/msgctl(id, cmd, buf) or semctl(id, num, cmd, buf) with a
    /// buffer big enough for any structure the command reads or writes.
    pub fn ctl(
        nr: libc::c_long,
        id: i32,
        num: i32,
        cmd: i32,
        buf: &mut [u8],
    ) -> Result<u64, Errno> {
        assert!(buf.len() >= super::HOST_BUF);
        // SAFETY: `buf` is ours and larger than any `*id64_ds` or `*info`
        // structure the kernel copies in or out for these commands.
        let rc = unsafe {
            if nr == libc::SYS_semctl {
                libc::syscall(nr, id, num, cmd, buf.as_mut_ptr())
            } else {
                libc::syscall(nr, id, cmd, buf.as_mut_ptr())
            }
        };
        check(rc)
    }

    /// semctl with a value argument (SETVAL, GETVAL, IPC_RMID, ...).
    pub fn semctl_val(id: i32, num: i32, cmd: i32, val: libc::c_ulong) -> Result<u64, Errno> {
        // SAFETY: these commands take no pointer.
        check(unsafe { libc::syscall(libc::SYS_semctl, id, num, cmd, val) })
    }

    /// semctl GETALL/SETALL over `values`, which holds one entry per
    /// semaphore of the set (its `sem_nsems`, from IPC_STAT on this id; a
    /// removed id is not reused until its sequence number wraps).
    pub fn semctl_all(id: i32, cmd: i32, values: &mut [u16]) -> Result<u64, Errno> {
        // SAFETY: the kernel reads or writes `sem_nsems` shorts, which
        // `values` holds (see above).
        check(unsafe { libc::syscall(libc::SYS_semctl, id, 0, cmd, values.as_mut_ptr()) })
    }

    /// semtimedop(id, sops, nsops, timeout).
    pub fn semtimedop(
        id: i32,
        sops: &mut [libc::sembuf],
        timeout: Option<&libc::timespec>,
    ) -> Result<u64, Errno> {
        let ts = timeout.map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: `sops` holds `sops.len()` operations; `ts` is null or
        // points at a timespec we own.
        check(unsafe { libc::syscall(libc::SYS_semtimedop, id, sops.as_mut_ptr(), sops.len(), ts) })
    }

    /// msgsnd(id, msg, size, flags); `msg` is the type (a host long) and
    /// `size` bytes of text.
    pub fn msgsnd(id: i32, msg: &[u8], flags: i32) -> Result<u64, Errno> {
        let size = msg.len() - 8;
        // SAFETY: the kernel reads the type and `size` bytes from `msg`.
        check(unsafe { libc::syscall(libc::SYS_msgsnd, id, msg.as_ptr(), size, flags) })
    }

    /// msgrcv(id, buf, size, type, flags) into `buf`: a host long and
    /// `buf.len() - 8` bytes of text.
    pub fn msgrcv(id: i32, buf: &mut [u8], typ: i64, flags: i32) -> Result<u64, Errno> {
        let size = buf.len() - 8;
        // SAFETY: the kernel writes at most the type and `size` bytes.
        check(unsafe { libc::syscall(libc::SYS_msgrcv, id, buf.as_mut_ptr(), size, typ, flags) })
    }
}

/// The command of a `*ctl` call: the ABIs whose kernel parses a version
/// flag the `IPC_64` layouts in it (the old layouts are given the same
/// treatment); the others pass it on as it is.
fn command(p: &Process, cmd: u64) -> i32 {
    if p.abi.ipc_parse_version() {
        (cmd & !IPC_64) as i32
    } else {
        cmd as i32
    }
}

/// Parked threads of this process waiting in a SysV IPC call try again
/// now: the calling thread changed an IPC object.
fn wake_waiters(p: &mut Process) {
    let parked: Vec<u32> = p
        .threads
        .blocked()
        .filter(|(_, b)| b.wait == Wait::Retry)
        .map(|(tid, _)| tid)
        .collect();
    for tid in parked {
        p.threads.wake(tid, None);
    }
}

/// Runs an operation that may wait (semop, msgsnd, msgrcv). `op(p,
/// nowait)` makes the host call, with `IPC_NOWAIT` added when `nowait`;
/// `blocked` is the error it gives when it would have waited. `may_wait`
/// says whether the guest lets it wait; `timeout` (relative) bounds the
/// wait of a parked call; a blocking host call applies it itself.
fn waiting_op(
    p: &mut Process,
    may_wait: bool,
    timeout: Option<(i64, i64)>,
    blocked: Errno,
    op: &mut dyn FnMut(&mut Process, bool) -> SysResult,
) -> Outcome {
    let park = may_wait && (p.threads.multi() || p.timers.signalling());
    let r = op(p, park);
    match r {
        Err(e) if park && e == blocked => {}
        other => {
            p.threads.current_mut().ipc_wait = None;
            if other.is_ok() {
                wake_waiters(p);
            }
            return other.into();
        }
    }
    let now = crate::host::monotonic_ns();
    let t = p.threads.current_mut();
    let w = t.ipc_wait.get_or_insert(IpcWait {
        deadline: timeout
            .map(|(s, ns)| super::futex::monotonic_deadline(libc::CLOCK_MONOTONIC, s, ns, false)),
        interval: 0,
    });
    if w.deadline.is_some_and(|d| d <= now) {
        t.ipc_wait = None;
        return Outcome::Error(Errno::EAGAIN);
    }
    w.interval = (w.interval * 2).clamp(POLL_FIRST_NS, POLL_MAX_NS);
    let at = (now + w.interval).min(w.deadline.unwrap_or(u64::MAX));
    p.threads
        .request_block(Block::new(Wait::Retry, Some(at), Outcome::Value(0)))
}

// ---- shared memory ------------------------------------------------------

pub fn shmget(a: &[u64; 6]) -> SysResult {
    host::get(libc::SYS_shmget, a[0] as i32, a[1], a[2] as i32)
}

fn shm_stat(id: i32) -> Result<ShmDs, Errno> {
    let mut b = [0u8; HOST_BUF];
    host::ctl(libc::SYS_shmctl, id, 0, IPC_STAT, &mut b)?;
    Ok(host_codec().decode_shm(&b))
}

/// shmat: the segment's host attachment, mapped at `addr` (rounded with
/// SHM_RND), or at a free SHMLBA-aligned place of the mmap area.
pub fn shmat(p: &mut Process, id: u64, addr: u64, flags: u64) -> SysResult {
    let (id, flags) = (id as i32, flags as i32);
    let (shmlba, force) = p.abi.shmlba();
    let mut addr = addr;
    if addr != 0 {
        if addr & (shmlba - 1) != 0 {
            if flags & SHM_RND != 0 {
                addr &= !(shmlba - 1);
                if addr == 0 {
                    return Err(Errno::EINVAL);
                }
            } else if force || addr % PAGE_SIZE != 0 {
                return Err(Errno::EINVAL);
            }
        }
    } else if flags & SHM_REMAP != 0 {
        return Err(Errno::EINVAL);
    }
    let ds = shm_stat(id)?;
    let len = page_ceil(ds.segsz).ok_or(Errno::EINVAL)?;
    let readonly = flags & SHM_RDONLY != 0;
    let start = if addr != 0 {
        let end = addr.checked_add(len).ok_or(Errno::EINVAL)?;
        if !p.abi.is_64bit() && end > 1 << 32 {
            return Err(Errno::EINVAL);
        }
        if flags & SHM_REMAP == 0 && !p.mem.is_free(addr, end) {
            return Err(Errno::EINVAL);
        }
        addr
    } else {
        let room = p
            .mem
            .find_free(len + shmlba - PAGE_SIZE)
            .ok_or(Errno::ENOMEM)?;
        room.next_multiple_of(shmlba)
    };
    let host = HostMapping::sysv_shm(id, len as usize, readonly).map_err(Errno::from)?;
    let mut perms = if readonly { Perms::R } else { Perms::RW };
    if flags & SHM_EXEC != 0 {
        perms = Perms(perms.0 | Perms::X.0);
    }
    let max_perms = if readonly { Perms::RX } else { Perms(7) };
    p.mem.map(
        start,
        len,
        perms,
        max_perms,
        RegionKind::Memory {
            name: format!("/SYSV{:08x} (deleted)", ds.perm.key as u32),
        },
        Some(Arc::new(host)),
        0,
    );
    Ok(start)
}

/// shmdt: the attachment that starts at `addr` goes, every region of it
/// (EINVAL when no attachment starts there).
pub fn shmdt(p: &mut Process, addr: u64) -> SysResult {
    if addr % PAGE_SIZE != 0 {
        return Err(Errno::EINVAL);
    }
    let backing = p
        .mem
        .region_at(addr)
        .filter(|r| r.start == addr && r.backing_offset == 0)
        .and_then(|r| r.backing.clone())
        .filter(|b| b.sysv_shm_id().is_some())
        .ok_or(Errno::EINVAL)?;
    let end = addr.saturating_add(backing.len() as u64);
    let pieces: Vec<(u64, u64)> = p
        .mem
        .regions()
        .filter(|r| r.start >= addr && r.start < end)
        .filter(|r| r.backing.as_ref().is_some_and(|b| Arc::ptr_eq(b, &backing)))
        .map(|r| (r.start, r.len()))
        .collect();
    drop(backing);
    for (start, len) in pieces {
        p.mem.unmap(start, len);
    }
    Ok(0)
}

pub fn shmctl(p: &mut Process, id: u64, cmd: u64, buf: u64) -> SysResult {
    let (id, cmd) = (id as i32, command(p, cmd));
    let (host, guest) = (host_codec(), guest_codec(p));
    let mut b = [0u8; HOST_BUF];
    match cmd {
        IPC_STAT | SHM_STAT | SHM_STAT_ANY => {
            let r = host::ctl(libc::SYS_shmctl, id, 0, cmd, &mut b)?;
            p.mem.write(buf, &guest.encode_shm(&host.decode_shm(&b)))?;
            Ok(r)
        }
        IPC_SET => {
            let raw = p.mem.read_vec(buf, guest.shm_size())?;
            let ds = host.encode_shm(&guest.decode_shm(&raw));
            b[..ds.len()].copy_from_slice(&ds);
            host::ctl(libc::SYS_shmctl, id, 0, cmd, &mut b)
        }
        IPC_RMID | SHM_LOCK | SHM_UNLOCK => host::ctl(libc::SYS_shmctl, id, 0, cmd, &mut b),
        IPC_INFO => {
            let r = host::ctl(libc::SYS_shmctl, id, 0, cmd, &mut b)?;
            if guest.word == 4 {
                // shmmax: a 32-bit ABI's kernel reports at most INT_MAX.
                let shmmax = u64::from_ne_bytes(b[..8].try_into().unwrap());
                b[..8].copy_from_slice(&shmmax.min(i32::MAX as u64).to_ne_bytes());
            }
            p.mem.write(buf, &guest.convert_longs(host, &b, 9, false))?;
            Ok(r)
        }
        SHM_INFO => {
            let r = host::ctl(libc::SYS_shmctl, id, 0, cmd, &mut b)?;
            p.mem.write(buf, &guest.convert_longs(host, &b, 5, true))?;
            Ok(r)
        }
        _ => Err(Errno::EINVAL),
    }
}

// ---- semaphores ---------------------------------------------------------

pub fn semget(a: &[u64; 6]) -> SysResult {
    host::get(
        libc::SYS_semget,
        a[0] as i32,
        a[1] as i32 as u64,
        a[2] as i32,
    )
}

fn sem_count(id: i32) -> Result<usize, Errno> {
    let mut b = [0u8; HOST_BUF];
    host::ctl(libc::SYS_semctl, id, 0, IPC_STAT, &mut b)?;
    Ok(host_codec().decode_sem(&b).nsems as usize)
}

/// Copies `n` C ints (`seminfo`, `msginfo`) from the host's byte order to
/// the guest's.
fn ints_to_guest(enc: Encoder, host: &[u8], n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n * 4);
    for i in 0..n {
        let v = u32::from_ne_bytes(host[i * 4..i * 4 + 4].try_into().unwrap());
        out.extend_from_slice(&enc.u32(v));
    }
    out
}

/// semctl(id, num, cmd, arg): `arg` is `union semun` passed by value (an
/// int for SETVAL, a guest pointer otherwise).
pub fn semctl(p: &mut Process, id: u64, num: u64, cmd: u64, arg: u64) -> SysResult {
    let (id, num, cmd) = (id as i32, num as i32, command(p, cmd));
    let (host, guest) = (host_codec(), guest_codec(p));
    let enc = p.mem.encoder();
    let mut b = [0u8; HOST_BUF];
    match cmd {
        IPC_STAT | SEM_STAT | SEM_STAT_ANY => {
            let r = host::ctl(libc::SYS_semctl, id, num, cmd, &mut b)?;
            p.mem.write(arg, &guest.encode_sem(&host.decode_sem(&b)))?;
            Ok(r)
        }
        IPC_SET => {
            let raw = p.mem.read_vec(arg, guest.sem_size())?;
            let ds = host.encode_sem(&guest.decode_sem(&raw));
            b[..ds.len()].copy_from_slice(&ds);
            host::ctl(libc::SYS_semctl, id, num, cmd, &mut b)
        }
        IPC_INFO | SEM_INFO => {
            let r = host::ctl(libc::SYS_semctl, id, num, cmd, &mut b)?;
            p.mem.write(arg, &ints_to_guest(enc, &b, 10))?;
            Ok(r)
        }
        GETALL => {
            let mut values = vec![0u16; sem_count(id)?];
            host::semctl_all(id, cmd, &mut values)?;
            let bytes: Vec<u8> = values.iter().flat_map(|v| enc.u16(*v)).collect();
            p.mem.write(arg, &bytes)?;
            Ok(0)
        }
        SETALL => {
            let n = sem_count(id)?;
            let raw = p.mem.read_vec(arg, n * 2)?;
            let mut values: Vec<u16> = raw
                .chunks_exact(2)
                .map(|c| match enc.endian {
                    Endian::Little => u16::from_le_bytes([c[0], c[1]]),
                    Endian::Big => u16::from_be_bytes([c[0], c[1]]),
                })
                .collect();
            let r = host::semctl_all(id, cmd, &mut values)?;
            wake_waiters(p);
            Ok(r)
        }
        SETVAL | IPC_RMID => {
            // `union semun` passed by value: on a big-endian 64-bit ABI its
            // int is the register's high half (Linux's semctl_setval).
            let val = if p.word_size() == 8 && p.mem.encoder().endian == Endian::Big {
                arg >> 32
            } else {
                arg
            };
            let r = host::semctl_val(id, num, cmd, val as u32 as libc::c_ulong)?;
            wake_waiters(p);
            Ok(r)
        }
        GETVAL | GETPID | GETNCNT | GETZCNT => host::semctl_val(id, num, cmd, 0),
        _ => Err(Errno::EINVAL),
    }
}

/// How a semtimedop's timeout is given.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// semop: none.
    None,
    /// A `struct timespec` of the ABI's longs.
    Long,
    /// A 64-bit `struct __kernel_timespec` (semtimedop_time64).
    Time64,
}

/// semop/semtimedop(id, sops, nsops, timeout).
pub fn semtimedop(
    p: &mut Process,
    id: u64,
    sops: u64,
    nsops: u64,
    timeout: u64,
    kind: Timeout,
) -> Outcome {
    let prepared = (|| -> Result<_, Errno> {
        let n = nsops as u32 as usize;
        if n == 0 {
            return Err(Errno::EINVAL);
        }
        if n > u16::MAX as usize {
            return Err(Errno::E2BIG);
        }
        let enc = p.mem.encoder();
        let raw = p.mem.read_vec(sops, n * 6)?;
        let half = |c: &[u8]| match enc.endian {
            Endian::Little => u16::from_le_bytes([c[0], c[1]]),
            Endian::Big => u16::from_be_bytes([c[0], c[1]]),
        };
        let ops: Vec<libc::sembuf> = raw
            .chunks_exact(6)
            .map(|c| libc::sembuf {
                sem_num: half(&c[0..2]),
                sem_op: half(&c[2..4]) as i16,
                sem_flg: half(&c[4..6]) as i16,
            })
            .collect();
        let time = if kind == Timeout::None || timeout == 0 {
            None
        } else {
            let word = if kind == Timeout::Time64 {
                8
            } else {
                p.word_size()
            };
            let raw = p.mem.read_vec(timeout, word * 2)?;
            let (s, ns) = super::types::decode_time_pair(&raw, word, enc);
            if s < 0 || !(0..1_000_000_000).contains(&ns) {
                return Err(Errno::EINVAL);
            }
            Some((s, ns))
        };
        Ok((ops, time))
    })();
    let (ops, time) = match prepared {
        Ok(x) => x,
        Err(e) => return Outcome::Error(e),
    };
    let id = id as i32;
    let may_wait = ops.iter().any(|o| i32::from(o.sem_flg) & IPC_NOWAIT == 0);
    let host_time = time.map(|(s, ns)| libc::timespec {
        tv_sec: s as libc::time_t,
        tv_nsec: ns as libc::c_long,
    });
    waiting_op(p, may_wait, time, Errno::EAGAIN, &mut |_, nowait| {
        let mut ops = ops.clone();
        if nowait {
            for o in &mut ops {
                o.sem_flg |= IPC_NOWAIT as i16;
            }
            host::semtimedop(id, &mut ops, None)
        } else {
            host::semtimedop(id, &mut ops, host_time.as_ref())
        }
    })
}

// ---- message queues -----------------------------------------------------

/// The multiplexed `ipc(call, first, second, third, ptr, fifth)` of i386
/// and MIPS o32: `call`'s low 16 bits say which operation, its high 16
/// bits the interface version (msgrcv's version 0 passes the buffer and
/// type through a `struct ipc_kludge`; shmat returns the address through
/// `third`).
pub fn ipc(p: &mut Process, a: &[u64; 6]) -> Outcome {
    let call = a[0] as u32;
    let (version, op) = (call >> 16, call & 0xffff);
    let (first, second, third, ptr, fifth) = (a[1], a[2], a[3], a[4], a[5]);
    let w = p.word_size();
    let r: SysResult = match op {
        1 => return semtimedop(p, first, ptr, second, 0, Timeout::None),
        2 => semget(&[first, second, third, 0, 0, 0]),
        3 => {
            if ptr == 0 {
                return Outcome::Error(Errno::EINVAL);
            }
            match p.mem.read_word(ptr, w) {
                Ok(arg) => semctl(p, first, second, third, arg),
                Err(f) => Err(f.into()),
            }
        }
        4 => return semtimedop(p, first, ptr, second, fifth, Timeout::Long),
        11 => return msgsnd(p, first, ptr, second, third),
        12 => {
            if version != 0 {
                return msgrcv(p, first, ptr, second, fifth, third);
            }
            if ptr == 0 {
                return Outcome::Error(Errno::EINVAL);
            }
            let kludge = p
                .mem
                .read_word(ptr, w)
                .and_then(|msgp| Ok((msgp, p.mem.read_word(ptr + w as u64, w)?)));
            match kludge {
                Ok((msgp, typ)) => return msgrcv(p, first, msgp, second, typ, third),
                Err(f) => Err(f.into()),
            }
        }
        13 => msgget(&[first, second, 0, 0, 0, 0]),
        14 => msgctl(p, first, second, ptr),
        21 if version == 1 => Err(Errno::EINVAL),
        21 => shmat(p, first, ptr, second).and_then(|addr| {
            let bytes = if w == 8 {
                p.mem.encoder().u64(addr).to_vec()
            } else {
                p.mem.encoder().u32(addr as u32).to_vec()
            };
            p.mem.write(third, &bytes)?;
            Ok(0)
        }),
        22 => shmdt(p, ptr),
        23 => shmget(&[first, second, third, 0, 0, 0]),
        24 => shmctl(p, first, second, ptr),
        _ => Err(Errno::ENOSYS),
    };
    r.into()
}
