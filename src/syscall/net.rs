// SPDX-License-Identifier: GPL-2.0-or-later
//! Sockets and epoll, served by the host kernel.
//!
//! AF_UNIX, AF_INET and AF_INET6 sockets are host sockets in the guest's
//! descriptor table. Their socket addresses have the same bytes on every
//! supported architecture (the family is a little-endian `u16` on all of
//! them), so addresses pass through after bounds checks. Socket types and,
//! on MIPS, `SOL_SOCKET` options are translated by the [`crate::arch::Abi`].
//! An epoll instance is a host epoll descriptor: `epoll_ctl` registers the
//! guest descriptor's host descriptor with the guest's `data` word, which
//! the host hands back unchanged; `epoll_wait` writes the events in the
//! guest's `struct epoll_event` layout.

use std::os::fd::{FromRawFd, OwnedFd};

use super::{host_result, Errno, Sys, SysResult};
use crate::kernel::Process;

/// `sizeof(struct sockaddr_storage)`: the largest address accepted.
const SOCKADDR_MAX: usize = 128;
/// The most bytes a socket option value may have here.
const SOCKOPT_MAX: usize = 256;
/// The most events one epoll_wait returns (the kernel's limit is higher;
/// a shorter answer is legal).
const EPOLL_MAX_EVENTS: usize = 1024;
const IO_CHUNK: usize = 1 << 24;

/// Takes ownership of a fresh host descriptor and installs it for the guest.
fn install(p: &mut Process, rc: libc::c_int, cloexec: bool) -> SysResult {
    if rc < 0 {
        return Err(Errno::last());
    }
    // SAFETY: rc is a descriptor the host just created for us.
    let host = unsafe { OwnedFd::from_raw_fd(rc) };
    Ok(p.fds.insert(host, cloexec, 0)? as u64)
}

/// The `SOCK_NONBLOCK`/`SOCK_CLOEXEC` bits of a guest type or flags word
/// as host bits (they are the open(2) flags), and whether close-on-exec
/// was asked for; other bits are `EINVAL`.
fn sock_flags(p: &Process, flags: u64) -> Result<(i32, bool), Errno> {
    let host = p.abi.open_flags_to_host(flags);
    if host & !(libc::O_NONBLOCK | libc::O_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    Ok((
        host & libc::O_NONBLOCK | libc::SOCK_CLOEXEC,
        host & libc::O_CLOEXEC != 0,
    ))
}

/// A guest domain and type as host (domain, type, guest close-on-exec).
fn socket_args(p: &Process, domain: u64, ty: u64) -> Result<(i32, i32, bool), Errno> {
    let domain = domain as i32;
    if !matches!(domain, libc::AF_UNIX | libc::AF_INET | libc::AF_INET6) {
        return Err(Errno(libc::EAFNOSUPPORT));
    }
    let ty = ty as u32 as u64;
    let base = p.abi.socket_type_to_host(ty & 0xf);
    let (flags, cloexec) = sock_flags(p, ty & !0xf)?;
    Ok((domain, base as i32 | flags, cloexec))
}

pub fn socket(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let (domain, ty, cloexec) = socket_args(p, a[0], a[1])?;
    // SAFETY: no pointers.
    let rc = unsafe { libc::socket(domain, ty, a[2] as i32) };
    install(p, rc, cloexec)
}

pub fn socketpair(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let (domain, ty, cloexec) = socket_args(p, a[0], a[1])?;
    p.mem.check_writable(a[3], 8)?;
    let mut sv = [0 as libc::c_int; 2];
    // SAFETY: socketpair fills two ints we own.
    host_result(unsafe { libc::socketpair(domain, ty, a[2] as i32, sv.as_mut_ptr()) }.into())?;
    // SAFETY: both descriptors are fresh and ours.
    let (x, y) = unsafe { (OwnedFd::from_raw_fd(sv[0]), OwnedFd::from_raw_fd(sv[1])) };
    let gx = p.fds.insert(x, cloexec, 0)?;
    let gy = match p.fds.insert(y, cloexec, 0) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = p.fds.close(gx as u64);
            return Err(e);
        }
    };
    p.mem.write_u32(a[3], gx as u32)?;
    p.mem.write_u32(a[3] + 4, gy as u32)?;
    Ok(0)
}

/// A guest socket address (`addr`, `len`) as the host's bytes.
fn read_sockaddr(p: &Process, addr: u64, len: u64) -> Result<Vec<u8>, Errno> {
    let len = usize::try_from(len as u32 as i32).map_err(|_| Errno::EINVAL)?;
    if len > SOCKADDR_MAX {
        return Err(Errno::EINVAL);
    }
    let mut bytes = p.mem.read_vec(addr, len)?;
    swap_family(p, &mut bytes);
    Ok(bytes)
}

/// A socket address is the same bytes for guest and host but for its
/// first field, `sa_family`, a 16-bit number in the machine's byte order:
/// swapped between a big-endian guest (s390x) and the host.
fn swap_family(p: &Process, addr: &mut [u8]) {
    let host = if cfg!(target_endian = "little") {
        crate::mem::Endian::Little
    } else {
        crate::mem::Endian::Big
    };
    if addr.len() >= 2 && p.mem.encoder().endian != host {
        addr.swap(0, 1);
    }
}

/// bind and connect: a descriptor and an address.
pub fn bind_connect(p: &mut Process, sys: Sys, a: &[u64; 6]) -> SysResult {
    let fd = p.fds.raw(a[0])?;
    let addr = read_sockaddr(p, a[1], a[2])?;
    let ptr = addr.as_ptr().cast::<libc::sockaddr>();
    let len = addr.len() as libc::socklen_t;
    // SAFETY: the address is a buffer of `len` bytes we own.
    let rc = unsafe {
        if sys == Sys::bind {
            libc::bind(fd, ptr, len)
        } else {
            libc::connect(fd, ptr, len)
        }
    };
    host_result(rc.into())
}

pub fn listen(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let fd = p.fds.raw(a[0])?;
    // SAFETY: no pointers.
    host_result(unsafe { libc::listen(fd, a[1] as i32) }.into())
}

pub fn shutdown(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let fd = p.fds.raw(a[0])?;
    // SAFETY: no pointers.
    host_result(unsafe { libc::shutdown(fd, a[1] as i32) }.into())
}

/// Where an address goes back to the guest: the buffer and the length
/// word (value-result). `None` when the guest passed no buffer.
struct AddrOut {
    addr: u64,
    len_addr: u64,
    room: usize,
}

fn addr_out(p: &Process, addr: u64, len_addr: u64) -> Result<Option<AddrOut>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    let room = p.mem.read_u32(len_addr)? as i32;
    let room = usize::try_from(room).map_err(|_| Errno::EINVAL)?;
    p.mem.check_writable(len_addr, 4)?;
    p.mem.check_writable(addr, room.min(SOCKADDR_MAX))?;
    Ok(Some(AddrOut {
        addr,
        len_addr,
        room,
    }))
}

impl AddrOut {
    /// Writes what fits of the host's address and its full length.
    fn put(&self, p: &mut Process, storage: &[u8], len: libc::socklen_t) -> Result<(), Errno> {
        let take = (len as usize).min(self.room).min(storage.len());
        let mut guest = storage[..take].to_vec();
        swap_family(p, &mut guest);
        p.mem.write(self.addr, &guest)?;
        p.mem.write_u32(self.len_addr, len)?;
        Ok(())
    }
}

pub fn accept4(p: &mut Process, a: &[u64; 6], flags: u64) -> SysResult {
    let fd = p.fds.raw(a[0])?;
    let (flags, cloexec) = sock_flags(p, flags)?;
    let mut storage = [0u8; SOCKADDR_MAX];
    let mut len = SOCKADDR_MAX as libc::socklen_t;
    // SAFETY: storage has room for `len` bytes; len is ours.
    let rc = unsafe {
        libc::accept4(
            fd,
            storage.as_mut_ptr().cast(),
            &mut len,
            flags | libc::SOCK_CLOEXEC,
        )
    };
    let guest_fd = install(p, rc, cloexec)?;
    // As in the kernel, the address is written after the connection was
    // taken, and a bad pointer loses the connection.
    let put = addr_out(p, a[1], a[2]).and_then(|out| match out {
        Some(out) => out.put(p, &storage, len),
        None => Ok(()),
    });
    if let Err(e) = put {
        let _ = p.fds.close(guest_fd);
        return Err(e);
    }
    Ok(guest_fd)
}

/// getsockname and getpeername.
pub fn sockname(p: &mut Process, sys: Sys, a: &[u64; 6]) -> SysResult {
    let fd = p.fds.raw(a[0])?;
    let out = addr_out(p, a[1], a[2])?.ok_or(Errno::EFAULT)?;
    let mut storage = [0u8; SOCKADDR_MAX];
    let mut len = SOCKADDR_MAX as libc::socklen_t;
    let ptr = storage.as_mut_ptr().cast::<libc::sockaddr>();
    // SAFETY: storage has room for `len` bytes; len is ours.
    let rc = unsafe {
        if sys == Sys::getsockname {
            libc::getsockname(fd, ptr, &mut len)
        } else {
            libc::getpeername(fd, ptr, &mut len)
        }
    };
    host_result(rc.into())?;
    out.put(p, &storage, len)?;
    Ok(0)
}

/// sendto(fd, buf, len, flags, addr, addrlen); send is sendto without an
/// address. `extra` flags are the host's (MSG_DONTWAIT from block.rs).
/// The host call never raises SIGPIPE; dispatch turns `EPIPE` into the
/// guest's SIGPIPE unless the guest passed MSG_NOSIGNAL.
pub fn sendto(p: &mut Process, a: &[u64; 6], extra: i32) -> SysResult {
    let fd = p.fds.raw(a[0])?;
    let buf = p.mem.read_vec(a[1], (a[2] as usize).min(IO_CHUNK))?;
    let addr = if a[4] == 0 {
        Vec::new()
    } else {
        read_sockaddr(p, a[4], a[5])?
    };
    let (ptr, len) = if addr.is_empty() {
        (std::ptr::null(), 0)
    } else {
        (addr.as_ptr().cast(), addr.len() as libc::socklen_t)
    };
    let flags = a[3] as i32 | extra | libc::MSG_NOSIGNAL;
    // SAFETY: buffers we own, with their lengths.
    let n = unsafe { libc::sendto(fd, buf.as_ptr().cast(), buf.len(), flags, ptr, len) };
    host_result(n as libc::c_long)
}

/// recvfrom(fd, buf, len, flags, addr, addrlen); recv is recvfrom without
/// an address.
pub fn recvfrom(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let fd = p.fds.raw(a[0])?;
    let len = (a[2] as usize).min(IO_CHUNK);
    p.mem.check_writable(a[1], len)?;
    let out = addr_out(p, a[4], a[5])?;
    let mut buf = vec![0u8; len];
    let mut storage = [0u8; SOCKADDR_MAX];
    let mut alen = SOCKADDR_MAX as libc::socklen_t;
    // SAFETY: buffers we own, with their lengths.
    let n = host_result(unsafe {
        libc::recvfrom(
            fd,
            buf.as_mut_ptr().cast(),
            len,
            a[3] as i32,
            storage.as_mut_ptr().cast(),
            &mut alen,
        )
    } as libc::c_long)?;
    // MSG_TRUNC may report more than the buffer held.
    p.mem.write(a[1], &buf[..(n as usize).min(len)])?;
    if let Some(out) = out {
        out.put(p, &storage, alen)?;
    }
    Ok(n)
}

/// A guest `struct msghdr` (7 words: name, namelen, iov, iovlen,
/// control, controllen, flags).
struct MsgHdr {
    at: u64,
    word: usize,
    name: u64,
    namelen: u32,
    iov: u64,
    iovlen: u64,
    controllen: u64,
}

fn read_msghdr(p: &Process, at: u64) -> Result<MsgHdr, Errno> {
    let word = p.word_size();
    let field = |i: usize| p.mem.read_word(at + (i * word) as u64, word);
    Ok(MsgHdr {
        at,
        word,
        name: field(0)?,
        namelen: p.mem.read_u32(at + word as u64)?,
        iov: field(2)?,
        iovlen: field(3)?,
        controllen: field(5)?,
    })
}

/// sendmsg(fd, msg, flags) without ancillary data (descriptors the guest
/// would pass are its own numbers, not the host's): a control part is
/// `EINVAL`. `extra` as for [`sendto`].
pub fn sendmsg(p: &mut Process, a: &[u64; 6], extra: i32) -> SysResult {
    let fd = p.fds.raw(a[0])?;
    let m = read_msghdr(p, a[1])?;
    if m.controllen != 0 {
        return Err(Errno::EINVAL);
    }
    let mut data = Vec::new();
    for (base, len) in read_iovecs(p, m.iov, m.iovlen)? {
        let take = len.min(IO_CHUNK.saturating_sub(data.len()));
        data.extend_from_slice(&p.mem.read_vec(base, take)?);
    }
    let addr = if m.name == 0 {
        Vec::new()
    } else {
        read_sockaddr(p, m.name, u64::from(m.namelen))?
    };
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: an all-zero msghdr is valid; the fields set below point at
    // buffers that outlive the call.
    let mut host: libc::msghdr = unsafe { std::mem::zeroed() };
    host.msg_iov = &mut iov;
    host.msg_iovlen = 1;
    if !addr.is_empty() {
        host.msg_name = addr.as_ptr() as *mut libc::c_void;
        host.msg_namelen = addr.len() as libc::socklen_t;
    }
    let flags = a[2] as i32 | extra | libc::MSG_NOSIGNAL;
    // SAFETY: `host` describes buffers we own.
    host_result(unsafe { libc::sendmsg(fd, &host, flags) } as libc::c_long)
}

/// recvmsg(fd, msg, flags) without ancillary data: the guest's control
/// part comes back empty (`MSG_CTRUNC` if the host had some).
pub fn recvmsg(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let fd = p.fds.raw(a[0])?;
    let m = read_msghdr(p, a[1])?;
    let iovs = read_iovecs(p, m.iov, m.iovlen)?;
    let total: usize = iovs.iter().map(|v| v.1).sum::<usize>().min(IO_CHUNK);
    for (base, len) in &iovs {
        p.mem.check_writable(*base, *len)?;
    }
    p.mem.check_writable(m.at, 7 * m.word)?;
    let room = if m.name == 0 {
        0
    } else {
        let room = m.namelen as i32;
        let room = usize::try_from(room).map_err(|_| Errno::EINVAL)?;
        p.mem.check_writable(m.name, room.min(SOCKADDR_MAX))?;
        room
    };
    let mut buf = vec![0u8; total];
    let mut storage = [0u8; SOCKADDR_MAX];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: total,
    };
    // SAFETY: an all-zero msghdr is valid; the fields set below point at
    // buffers that outlive the call.
    let mut host: libc::msghdr = unsafe { std::mem::zeroed() };
    host.msg_iov = &mut iov;
    host.msg_iovlen = 1;
    if m.name != 0 {
        host.msg_name = storage.as_mut_ptr().cast();
        host.msg_namelen = SOCKADDR_MAX as libc::socklen_t;
    }
    // SAFETY: `host` describes buffers we own.
    let n = host_result(unsafe { libc::recvmsg(fd, &mut host, a[2] as i32) } as libc::c_long)?;
    let mut done = 0;
    let got = (n as usize).min(total);
    for (base, len) in iovs {
        if done >= got {
            break;
        }
        let take = len.min(got - done);
        p.mem.write(base, &buf[done..done + take])?;
        done += take;
    }
    if m.name != 0 {
        let len = host.msg_namelen;
        let take = (len as usize).min(room);
        let mut name = storage[..take].to_vec();
        swap_family(p, &mut name);
        p.mem.write(m.name, &name)?;
        p.mem.write_u32(m.at + m.word as u64, len)?;
    }
    let mut flags = host.msg_flags as u32;
    if m.controllen != 0 {
        let enc = p.mem.encoder();
        let zero = if m.word == 8 {
            enc.u64(0).to_vec()
        } else {
            enc.u32(0).to_vec()
        };
        p.mem.write(m.at + (5 * m.word) as u64, &zero)?;
    }
    if host.msg_flags & libc::MSG_CTRUNC != 0 {
        flags |= libc::MSG_CTRUNC as u32;
    }
    p.mem.write_u32(m.at + (6 * m.word) as u64, flags)?;
    Ok(n)
}

/// A msghdr's iovec array; more than UIO_MAXIOV entries is `EMSGSIZE`.
fn read_iovecs(p: &Process, addr: u64, count: u64) -> Result<Vec<(u64, usize)>, Errno> {
    if count > 1024 {
        return Err(Errno(libc::EMSGSIZE));
    }
    super::fs::read_iovecs(p, addr, count)
}

/// setsockopt(fd, level, name, value, len).
pub fn setsockopt(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let fd = p.fds.raw(a[0])?;
    let (level, name) = sockopt(p, a[1], a[2])?;
    let len = a[4] as u32 as usize;
    if len > SOCKOPT_MAX {
        return Err(Errno::EINVAL);
    }
    let value = p.mem.read_vec(a[3], len)?;
    // SAFETY: the value is a buffer of `len` bytes we own.
    host_result(
        unsafe { libc::setsockopt(fd, level, name, value.as_ptr().cast(), len as u32) }.into(),
    )
}

/// getsockopt(fd, level, name, value, len): `SO_TYPE` answers in the
/// guest's numbering.
pub fn getsockopt(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let fd = p.fds.raw(a[0])?;
    let (level, name) = sockopt(p, a[1], a[2])?;
    let room = usize::try_from(p.mem.read_u32(a[4])? as i32).map_err(|_| Errno::EINVAL)?;
    let room = room.min(SOCKOPT_MAX);
    p.mem.check_writable(a[3], room)?;
    let mut value = vec![0u8; SOCKOPT_MAX];
    let mut len = room as libc::socklen_t;
    // SAFETY: the buffer has room for `len` bytes; len is ours.
    host_result(
        unsafe { libc::getsockopt(fd, level, name, value.as_mut_ptr().cast(), &mut len) }.into(),
    )?;
    let len = (len as usize).min(room);
    if level == libc::SOL_SOCKET && name == libc::SO_TYPE && len == 4 {
        let host = u32::from_le_bytes(value[..4].try_into().unwrap());
        let guest = p.abi.socket_type_from_host(u64::from(host)) as u32;
        value[..4].copy_from_slice(&p.mem.encoder().u32(guest));
    }
    p.mem.write(a[3], &value[..len])?;
    p.mem.write_u32(a[4], len as u32)?;
    Ok(0)
}

/// A guest option as the host's; options whose value holds a `struct
/// timeval` of the guest's word size are refused on 32-bit guests.
fn sockopt(p: &Process, level: u64, name: u64) -> Result<(i32, i32), Errno> {
    let (level, name) = p
        .abi
        .sockopt_to_host(level as u32 as u64, name as u32 as u64);
    let (level, name) = (level as i32, i32::try_from(name).unwrap_or(-1));
    if name < 0 {
        return Err(Errno(libc::ENOPROTOOPT));
    }
    if level == libc::SOL_SOCKET
        && p.word_size() != 8
        && matches!(name, libc::SO_RCVTIMEO | libc::SO_SNDTIMEO)
    {
        return Err(Errno(libc::ENOPROTOOPT));
    }
    Ok((level, name))
}

/// socketcall(call, args) of i386: the arguments are words in guest
/// memory. Returns the call it stands for and its arguments.
pub fn decode_socketcall(p: &Process, a: &[u64; 6]) -> Result<(Sys, [u64; 6]), Errno> {
    use Sys::*;
    let (sys, count) = match a[0] {
        1 => (socket, 3),
        2 => (bind, 3),
        3 => (connect, 3),
        4 => (listen, 2),
        5 => (accept, 3),
        6 => (getsockname, 3),
        7 => (getpeername, 3),
        8 => (socketpair, 4),
        9 => (sendto, 4),
        10 => (recvfrom, 4),
        11 => (sendto, 6),
        12 => (recvfrom, 6),
        13 => (shutdown, 2),
        14 => (setsockopt, 5),
        15 => (getsockopt, 5),
        16 => (sendmsg, 3),
        17 => (recvmsg, 3),
        18 => (accept4, 4),
        _ => return Err(Errno::EINVAL),
    };
    let word = p.word_size();
    let mut args = [0u64; 6];
    for (i, arg) in args.iter_mut().enumerate().take(count) {
        *arg = p.mem.read_word(a[1] + (i * word) as u64, word)?;
    }
    Ok((sys, args))
}

/// epoll_create1(flags); epoll_create(size) is `flags` 0 after checking
/// the size.
pub fn epoll_create1(p: &mut Process, flags: u64) -> SysResult {
    let host = p.abi.open_flags_to_host(flags);
    if host & !libc::O_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    // SAFETY: no pointers.
    let rc = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    install(p, rc, host & libc::O_CLOEXEC != 0)
}

fn epoll_event_size(p: &Process) -> usize {
    if p.abi.epoll_event_packed() {
        12
    } else {
        16
    }
}

/// epoll_ctl(epfd, op, fd, event): the guest's `data` word goes to the
/// host as it is.
pub fn epoll_ctl(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let op = a[1] as i32;
    let mut ev = libc::epoll_event { events: 0, u64: 0 };
    // The kernel reads the event before it looks at the descriptors.
    if op != libc::EPOLL_CTL_DEL {
        let raw = p.mem.read_vec(a[3], epoll_event_size(p))?;
        let enc = p.mem.encoder();
        let data_at = if p.abi.epoll_event_packed() { 4 } else { 8 };
        ev.events = enc.decode_u32(raw[..4].try_into().unwrap());
        ev.u64 = enc.decode_u64(raw[data_at..data_at + 8].try_into().unwrap());
    }
    let epfd = p.fds.raw(a[0])?;
    let fd = p.fds.raw(a[2])?;
    // SAFETY: `ev` is an event we own.
    host_result(unsafe { libc::epoll_ctl(epfd, op, fd, &mut ev) }.into())
}

/// epoll_wait(epfd, events, maxevents, timeout in ms; -1: forever).
/// With more than one thread block.rs calls it with timeout 0 and parks
/// the thread itself.
pub fn epoll_wait(p: &mut Process, a: &[u64; 6], timeout_ms: i32) -> SysResult {
    let epfd = p.fds.raw(a[0])?;
    let max = a[2] as u32 as i32;
    if max <= 0 || max as usize > (i32::MAX as usize) / 16 {
        return Err(Errno::EINVAL);
    }
    let size = epoll_event_size(p);
    p.mem.check_writable(a[1], max as usize * size)?;
    let max = (max as usize).min(EPOLL_MAX_EVENTS);
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; max];
    // SAFETY: `events` has room for `max` events.
    let n = host_result(
        unsafe { libc::epoll_wait(epfd, events.as_mut_ptr(), max as i32, timeout_ms) }.into(),
    )?;
    let enc = p.mem.encoder();
    let data_at = if p.abi.epoll_event_packed() { 4 } else { 8 };
    let mut out = vec![0u8; n as usize * size];
    for (i, ev) in events.iter().take(n as usize).enumerate() {
        let at = i * size;
        out[at..at + 4].copy_from_slice(&enc.u32(ev.events));
        out[at + data_at..at + data_at + 8].copy_from_slice(&enc.u64(ev.u64));
    }
    p.mem.write(a[1], &out)?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    #[test]
    fn epoll_event_layouts() {
        use crate::arch::Abi;
        let abi = |a: &'static dyn Abi| a;
        assert!(abi(&crate::arch::x86_64::X86_64).epoll_event_packed());
        assert!(abi(&crate::arch::i386::I386).epoll_event_packed());
        assert!(!abi(&crate::arch::aarch64::Aarch64).epoll_event_packed());
        assert!(!abi(&crate::arch::mipsel::Mipsel).epoll_event_packed());
    }

    #[test]
    fn mips_socket_types_and_options() {
        let m: &dyn crate::arch::Abi = &crate::arch::mipsel::Mipsel;
        assert_eq!(m.socket_type_to_host(2), libc::SOCK_STREAM as u64);
        assert_eq!(m.socket_type_to_host(1), libc::SOCK_DGRAM as u64);
        assert_eq!(m.socket_type_from_host(libc::SOCK_STREAM as u64), 2);
        assert_eq!(
            m.sockopt_to_host(0xffff, 4),
            (libc::SOL_SOCKET as u64, libc::SO_REUSEADDR as u64)
        );
        assert_eq!(m.sockopt_to_host(6, 1), (6, 1));
    }
}
