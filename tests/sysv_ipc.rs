// SPDX-License-Identifier: GPL-2.0-or-later
//! System V IPC with the sysv-ipc test guest (guest/tests/sysv-ipc.c):
//! shared memory attached, shared with a forked child, detached and
//! removed (IPC_STAT fields, SHM_RDONLY, SHM_RND, shmdt errors,
//! /proc/self/maps), semaphores (SETALL/GETALL, IPC_NOWAIT, semtimedop's
//! timeout, EINTR, a child and a thread blocked until a post while others
//! run) and message queues (types, MSG_EXCEPT, MSG_NOERROR/E2BIG, a
//! receiver woken by a child). The objects are the host's. Compared with
//! what Linux prints and with qemu-user.

mod common;

use common::*;

/// What the guest prints on Linux (x86_64 natively; the same on every
/// architecture).
const CHECKS: &str = "\
shmget: ok
shmat: ok
shmat page aligned: ok
new segment is zeroed: ok
IPC_STAT: ok
shm_segsz=10000 shm_nattch=1 cpid=self mode=600
shm_ctime is now: ok
maps shows /SYSV00000000 (deleted): ok
child sees \"hello from the parent\" nattch=2
parent sees \"reply from the child\"
after the child: nattch=1 lpid=child
shmdt(inside) = -1 EINVAL
shmdt(unaligned) = -1 EINVAL
shmdt: ok
shmdt(again) = -1 EINVAL
after shmdt: nattch=0
shmat SHM_RND: ok
shmat(unaligned) = -1 EINVAL
shmat(over a mapping) = -1 EINVAL
shmat SHM_RDONLY: ok
write to SHM_RDONLY is SIGSEGV: ok
IPC_INFO: ok
IPC_RMID: ok
IPC_STAT after IPC_RMID = -1 EINVAL
semget: ok
SETALL: ok
GETALL: 0 5
sem_nsems=2 mode=600
sem_ctime is now: ok
semop(IPC_NOWAIT) on 0 = -1 EAGAIN
semtimedop(50 ms) = -1 EAGAIN
semop interrupted = -1 EINTR
waiters before the post: 1
child: semop = 0, value now 0
GETPID is the child: yes
GETVAL 1 = 3
main ran 5 rounds while the thread waited
thread: semop = 0
IPC_RMID: ok
semop after IPC_RMID = -1 EINVAL
msgget: ok
msg_qnum=3 msg_cbytes=14 lspid=self
msg_stime is now: ok
type 2: 4 type 2 \"two\"
any type: 4 type 1 \"one\"
not type 1: 6 type 3 \"three\"
empty, IPC_NOWAIT: -1 ENOMSG
too small: -1 E2BIG
MSG_NOERROR: 6 type 5 \"a rath\"
msgsnd(type 0) = -1 EINVAL
woken by the child: 15 type 7 \"from the child\"
lrpid=self lspid=child
IPC_SET: ok
mode after IPC_SET=640
IPC_RMID: ok
msgsnd after IPC_RMID = -1 EINVAL
sysv-ipc: all ok
";

/// Lines where qemu-user 7.2 differs from Linux: on 64-bit guests its
/// `msqid_ds` conversion misplaces `msg_lrpid`.
fn qemu_differs(line: &str) -> bool {
    line.starts_with("lrpid=")
}

#[test]
fn sysv_ipc_checks_match_linux_and_qemu() {
    let g = guest("sysv-ipc");
    let r = run_ht([&g]);
    assert_eq!(r.stdout, CHECKS, "on {}: {}", arch(), r.stderr);
    r.assert_code(0);
    // qemu-s390x 7.2 does not finish this guest (still running when
    // killed after minutes): nothing to compare with.
    if arch() != "s390x" {
        assert_like_qemu(&g, "sysv-ipc", &r, qemu_differs);
    }
}

/// `-strace` names the IPC calls with decoded flags and commands (32-bit
/// ABIs flag IPC_64 in the commands); i386
/// mipsel's, ppc64le's and s390x's musl make them through the multiplexed
/// ipc(2).
#[test]
fn strace_shows_ipc_calls() {
    let g = guest("sysv-ipc");
    let r = run_ht(["-strace".as_ref(), g.as_os_str()]);
    r.assert_code(0);
    let lines = r.stderr_lines();
    let has = |part: &str| lines.iter().any(|l| l.contains(part));
    let calls: &[&str] = if matches!(arch().as_str(), "i386" | "mipsel" | "ppc64le" | "s390x") {
        &[
            " ipc(SHMGET,0,10000,896,",
            " ipc(SHMAT,",
            " ipc(SHMDT,",
            " ipc(SEMCTL,",
            " ipc(MSGRCV,",
            " ipc(MSGSND,",
        ]
    } else {
        &[
            " shmget(0x0,10000,IPC_CREAT|0600) = ",
            " shmat(",
            " shmdt(",
            "SETALL,",
            "IPC_STAT,",
            " msgrcv(",
            " msgsnd(",
            ",MSG_EXCEPT)",
        ]
    };
    for call in calls {
        assert!(has(call), "no {call} in {}", r.stderr);
    }
    // shmat's result is an address.
    assert!(
        lines
            .iter()
            .any(|l| (l.contains(" shmat(") || l.contains(" ipc(SHMAT,")) && l.contains(" = 0")),
        "{}",
        r.stderr
    );
}
