// SPDX-License-Identifier: GPL-2.0-or-later
//! Sockets and epoll: a server thread blocked in accept on an AF_UNIX
//! socket while the main thread computes, a thread blocked in epoll_wait
//! on a pipe until another thread writes, a TCP echo and a UDP datagram on
//! 127.0.0.1, sendmsg and recvmsg, a socketpair, the errors of epoll_ctl,
//! accept and connect, and wild pointers (EFAULT). Compared with qemu-user
//! where it is installed. Skipped on architectures without the guest
//! (x86_64 and aarch64 must have it).

mod common;

use common::*;

const OUTPUT: &str = "\
unix: main computed 1000000 rounds while the server waits in accept
server: got 'hello'
unix: echo 'hello', accept returned after 1000000 rounds
unix: bound to the path, family 1
epoll: nothing ready, timeout 10 ms: 0
epoll: writer computed 1000000 rounds
epoll: 1 event, events 0x1, data 0x1122334455667788
epoll: the waiter woke after 1000000 rounds
epoll: 2 ready (both ends), checksum 0x1122334455667794
epoll: after EPOLL_CTL_DEL 1 ready, data 7
tcp: listening on 127.0.0.1, port chosen
server: got 'tcp!!'
tcp: echo 'tcp!!', peer 127.0.0.1, same port yes, SO_TYPE stream yes
udp: 8 bytes 'datagram' from the same port: yes
msg: 14 bytes 'gat' 'her+scatter', from the same port: yes, namelen 16, controllen 0, flags 0
socketpair: 4 bytes 'pair'
epoll_ctl on a bad fd: -1 EBADF
accept on a socket that does not listen: -1 EINVAL
connect to a missing path: -1 ENOENT
bad pointers: epoll_wait EFAULT, epoll_ctl EFAULT, bind EFAULT, getsockname EFAULT, sendto EFAULT
";

fn have_guest(test: &str) -> bool {
    let present = guest("sockets").is_file();
    let required = matches!(arch().as_str(), "x86_64" | "aarch64");
    assert!(
        present || !required,
        "the sockets guest is missing for {}",
        arch()
    );
    if !present {
        eprintln!("note: {test}: no sockets guest for {}, skipped", arch());
    }
    present
}

#[test]
fn accept_and_epoll_wait_block_one_thread_only() {
    if !have_guest("accept_and_epoll_wait_block_one_thread_only") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    let mut cmd = ht(std::iter::empty::<&str>());
    cmd.arg(guest("sockets")).arg(dir_arg);
    let r = finish_within(spawn(&mut cmd), TIMEOUT);
    r.assert_code(0);
    assert_eq!(r.stdout, OUTPUT);
    if let Some(q) = qemu_or_skip("sockets") {
        let qdir = tempfile::tempdir().unwrap();
        let mut cmd = qemu(&q, std::iter::empty::<&str>());
        cmd.arg(guest("sockets")).arg(qdir.path());
        let qr = run(cmd);
        assert_eq!(qr.stdout, r.stdout);
        assert_eq!(qr.exit(), 0);
    }
}

#[test]
fn strace_shows_a_blocked_accept_when_it_completes() {
    if !have_guest("strace_shows_a_blocked_accept_when_it_completes") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = ht(["-strace"]);
    cmd.arg(guest("sockets")).arg(dir.path());
    let r = finish_within(spawn(&mut cmd), TIMEOUT);
    r.assert_code(0);
    let accepted = r
        .stderr
        .lines()
        .any(|l| (l.contains(" accept(3,") || l.contains(" accept4(3,")) && l.ends_with(" = 5"));
    assert!(accepted, "no completed accept in:\n{}", r.stderr);
    let epoll_ctl_ebadf = r
        .stderr
        .lines()
        .any(|l| l.contains("epoll_ctl(") && l.contains(",999,") && l.contains("errno=9"));
    assert!(epoll_ctl_ebadf, "no failed epoll_ctl in:\n{}", r.stderr);
}
