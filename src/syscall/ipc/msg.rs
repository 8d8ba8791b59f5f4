// SPDX-License-Identifier: GPL-2.0-or-later
//! Message queues: msgget, msgsnd, msgrcv, msgctl.

use super::*;

pub fn msgget(a: &[u64; 6]) -> SysResult {
    host::get(libc::SYS_msgget, a[0] as i32, a[1] as i32 as u64, 0)
}

/// The host's largest message (msgmax).
fn host_msgmax() -> Result<usize, Errno> {
    let mut b = [0u8; HOST_BUF];
    host::ctl(libc::SYS_msgctl, 0, 0, IPC_INFO, &mut b)?;
    Ok(i32::from_ne_bytes(b[8..12].try_into().unwrap()).max(0) as usize)
}

/// A message size the guest gave (a `size_t`): EINVAL when negative as a
/// `long`; sizes beyond the host's msgmax are cut to it (no message is
/// longer; msgsnd fails on the host with EINVAL).
fn message_size(p: &Process, size: u64) -> Result<(usize, bool), Errno> {
    if p.sarg(size) < 0 {
        return Err(Errno::EINVAL);
    }
    let size = if p.abi.is_64bit() {
        size
    } else {
        size & 0xffff_ffff
    } as usize;
    if size <= 8192 {
        return Ok((size, false));
    }
    let max = host_msgmax()?;
    Ok((size.min(max), size > max))
}

/// msgsnd(id, msgp, size, flags): the guest's `struct msgbuf` is a `long`
/// type and the text.
pub fn msgsnd(p: &mut Process, id: u64, msgp: u64, size: u64, flags: u64) -> Outcome {
    let (id, flags) = (id as i32, flags as i32);
    let prepared = (|| -> Result<Vec<u8>, Errno> {
        let (size, too_big) = message_size(p, size)?;
        if too_big {
            return Err(Errno::EINVAL);
        }
        let w = p.word_size() as u64;
        let mtype = p.sarg(p.mem.read_word(msgp, w as usize)?);
        let mut msg = mtype.to_ne_bytes().to_vec();
        msg.extend_from_slice(&p.mem.read_vec(msgp + w, size)?);
        Ok(msg)
    })();
    let msg = match prepared {
        Ok(m) => m,
        Err(e) => return Outcome::Error(e),
    };
    let may_wait = flags & IPC_NOWAIT == 0;
    waiting_op(p, may_wait, None, Errno::EAGAIN, &mut |_, nowait| {
        host::msgsnd(id, &msg, flags | if nowait { IPC_NOWAIT } else { 0 })
    })
}

/// msgrcv(id, msgp, size, type, flags).
pub fn msgrcv(p: &mut Process, id: u64, msgp: u64, size: u64, typ: u64, flags: u64) -> Outcome {
    let (id, flags, typ) = (id as i32, flags as i32, p.sarg(typ));
    let size = match message_size(p, size) {
        Ok((size, _)) => size,
        Err(e) => return Outcome::Error(e),
    };
    if flags & MSG_COPY != 0 && flags & IPC_NOWAIT == 0 {
        return Outcome::Error(Errno::EINVAL);
    }
    let may_wait = flags & IPC_NOWAIT == 0;
    waiting_op(p, may_wait, None, Errno(libc::ENOMSG), &mut |p, nowait| {
        let mut buf = vec![0u8; 8 + size];
        let n = host::msgrcv(
            id,
            &mut buf,
            typ,
            flags | if nowait { IPC_NOWAIT } else { 0 },
        )?;
        let mtype = i64::from_ne_bytes(buf[..8].try_into().unwrap()) as u64;
        let w = p.word_size() as u64;
        let enc = p.mem.encoder();
        if w == 8 {
            p.mem.write(msgp, &enc.u64(mtype))?;
        } else {
            p.mem.write(msgp, &enc.u32(mtype as u32))?;
        }
        p.mem.write(msgp + w, &buf[8..8 + n as usize])?;
        Ok(n)
    })
}

pub fn msgctl(p: &mut Process, id: u64, cmd: u64, buf: u64) -> SysResult {
    let (id, cmd) = (id as i32, command(p, cmd));
    let (host, guest) = (host_codec(), guest_codec(p));
    let mut b = [0u8; HOST_BUF];
    match cmd {
        IPC_STAT | MSG_STAT | MSG_STAT_ANY => {
            let r = host::ctl(libc::SYS_msgctl, id, 0, cmd, &mut b)?;
            p.mem.write(buf, &guest.encode_msq(&host.decode_msq(&b)))?;
            Ok(r)
        }
        IPC_SET => {
            let raw = p.mem.read_vec(buf, guest.msq_size())?;
            let ds = host.encode_msq(&guest.decode_msq(&raw));
            b[..ds.len()].copy_from_slice(&ds);
            let r = host::ctl(libc::SYS_msgctl, id, 0, cmd, &mut b)?;
            wake_waiters(p);
            Ok(r)
        }
        IPC_RMID => {
            let r = host::ctl(libc::SYS_msgctl, id, 0, cmd, &mut b)?;
            wake_waiters(p);
            Ok(r)
        }
        IPC_INFO | MSG_INFO => {
            let r = host::ctl(libc::SYS_msgctl, id, 0, cmd, &mut b)?;
            // Seven ints and an unsigned short (msgseg).
            let mut out = ints_to_guest(p.mem.encoder(), &b, 7);
            let msgseg = u16::from_ne_bytes([b[28], b[29]]);
            out.extend_from_slice(&p.mem.encoder().u16(msgseg));
            out.extend_from_slice(&[0, 0]);
            p.mem.write(buf, &out)?;
            Ok(r)
        }
        _ => Err(Errno::EINVAL),
    }
}

// ---- ipc(2) -------------------------------------------------------------
