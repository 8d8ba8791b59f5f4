// SPDX-License-Identifier: GPL-2.0-or-later
//! Thread creation and exit: clone with CLONE_VM|CLONE_THREAD, exit of one
//! thread (clear-and-wake of its tid address, robust futex list),
//! set_tid_address, robust list registration, sched_yield.

use super::{futex, Errno, ExitKind, Outcome, SysResult};
use crate::arch::CloneArgs;
use crate::kernel::clone_flags::*;
use crate::kernel::thread::TID_MASK;
use crate::kernel::Process;

/// Flags a thread of this emulator can honour.
const THREAD_FLAGS: u64 = CLONE_VM
    | CLONE_FS
    | CLONE_FILES
    | CLONE_SIGHAND
    | CLONE_THREAD
    | CLONE_SYSVSEM
    | CLONE_SETTLS
    | CLONE_PARENT_SETTID
    | CLONE_CHILD_CLEARTID
    | CLONE_DETACHED
    | CLONE_CHILD_SETTID
    | CLONE_PARENT;

/// clone with CLONE_VM: a new thread of this process. Returns the child's
/// tid; the scheduler gives the child a copy of the caller's registers in
/// which clone returns 0.
pub fn clone_thread(p: &mut Process, c: &CloneArgs) -> Outcome {
    let flags = c.flags;
    // The kernel's own consistency rules.
    if flags & CLONE_THREAD != 0 && flags & CLONE_SIGHAND == 0
        || flags & CLONE_SIGHAND != 0 && flags & CLONE_VM == 0
        || flags & (CLONE_PIDFD | CLONE_NEWNS) != 0 && flags & CLONE_THREAD != 0
    {
        return Outcome::Error(Errno::EINVAL);
    }
    // A process sharing memory with its parent (CLONE_VM alone) cannot be
    // a host process here; nor are namespaces or pidfds emulated.
    if flags & CLONE_THREAD == 0 || flags & !(THREAD_FLAGS | CSIGNAL) != 0 {
        return Outcome::Error(Errno::EINVAL);
    }
    let word = p.word_size() as u64;
    if c.stack % word != 0 {
        return Outcome::Error(Errno::EINVAL);
    }
    // Check the tid pointers before anything changes.
    let tid_ptrs = [
        (flags & CLONE_PARENT_SETTID != 0, c.ptid),
        (flags & CLONE_CHILD_SETTID != 0, c.ctid),
    ];
    for (wanted, addr) in tid_ptrs {
        if wanted && p.mem.check_writable(addr, 4).is_err() {
            return Outcome::Error(Errno::EFAULT);
        }
    }
    let tls = (flags & CLONE_SETTLS != 0).then_some(c.tls);
    let Some(tid) = p.threads.create(c.stack, tls) else {
        return Outcome::Error(Errno::EAGAIN);
    };
    for (wanted, addr) in tid_ptrs {
        if wanted && p.mem.write_u32(addr, tid).is_err() {
            return Outcome::Error(Errno::EFAULT);
        }
    }
    if flags & CLONE_CHILD_CLEARTID != 0 {
        if let Some(t) = p.threads.get_mut(tid) {
            t.clear_child_tid = c.ctid;
        }
    }
    Outcome::Value(u64::from(tid))
}

/// exit(2): the calling thread ends; the last thread's exit ends the
/// process with that thread's code (as Linux reports it).
pub fn exit(p: &mut Process, code: i32) -> Outcome {
    if !p.threads.multi() {
        return Outcome::Exit(ExitKind::Exited(code & 0xff));
    }
    release_thread(p);
    p.threads.remove_current();
    Outcome::ThreadExit
}

/// What the kernel does for an exiting thread: robust futexes it holds are
/// marked OWNER_DIED, and its clear_child_tid word is zeroed and woken
/// (how pthread_join learns of the exit).
fn release_thread(p: &mut Process) {
    let tid = p.threads.current_tid();
    let (head, len) = p.threads.current().robust_list;
    if head != 0 && len == 3 * p.word_size() as u64 {
        walk_robust_list(p, head, tid);
    }
    let ctid = p.threads.current().clear_child_tid;
    if ctid != 0 && p.mem.write_u32(ctid, 0).is_ok() {
        futex::wake(p, ctid, 1, u32::MAX);
    }
}

const FUTEX_WAITERS: u32 = 0x8000_0000;
const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
/// Bound on list entries walked, as Linux's ROBUST_LIST_LIMIT.
const ROBUST_LIST_LIMIT: usize = 2048;

/// Walks `struct robust_list_head { next; long futex_offset; pending; }`.
/// A bad pointer ends the walk, as in Linux.
fn walk_robust_list(p: &mut Process, head: u64, tid: u32) {
    let word = p.word_size();
    let w = word as u64;
    let read = |p: &Process, addr: u64| p.mem.read_word(addr, word).ok();
    let (Some(first), Some(offset), Some(pending)) =
        (read(p, head), read(p, head + w), read(p, head + 2 * w))
    else {
        return;
    };
    let offset = p.sarg(offset);
    let mut entry = first;
    let mut seen = 0;
    while entry != head && seen < ROBUST_LIST_LIMIT {
        let Some(next) = read(p, entry & !1) else {
            return;
        };
        // The entry being acquired or released is handled last.
        if entry != pending {
            handle_futex_death(p, (entry & !1).wrapping_add(offset as u64), tid);
        }
        entry = next;
        seen += 1;
    }
    if pending != 0 {
        handle_futex_death(p, (pending & !1).wrapping_add(offset as u64), tid);
    }
}

fn handle_futex_death(p: &mut Process, addr: u64, tid: u32) {
    if addr % 4 != 0 {
        return;
    }
    let Ok(val) = p.mem.read_u32(addr) else {
        return;
    };
    if val & TID_MASK != tid {
        return;
    }
    let new = (val & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
    if p.mem.write_u32(addr, new).is_ok() && val & FUTEX_WAITERS != 0 {
        futex::wake(p, addr, 1, u32::MAX);
    }
}

pub fn set_tid_address(p: &mut Process, a: &[u64; 6]) -> SysResult {
    p.threads.current_mut().clear_child_tid = a[0];
    Ok(u64::from(p.threads.current_tid()))
}

pub fn set_robust_list(p: &mut Process, a: &[u64; 6]) -> SysResult {
    if a[1] != 3 * p.word_size() as u64 {
        return Err(Errno::EINVAL);
    }
    p.threads.current_mut().robust_list = (a[0], a[1]);
    Ok(0)
}

pub fn get_robust_list(p: &mut Process, a: &[u64; 6]) -> SysResult {
    let (head, len) = if a[0] == 0 {
        p.threads.current().robust_list
    } else {
        let t = u32::try_from(a[0])
            .ok()
            .and_then(|tid| p.threads.get(tid))
            .ok_or(Errno::ESRCH)?;
        t.robust_list
    };
    let word = p.word_size();
    let enc = p.mem.encoder();
    if word == 8 {
        p.mem.write(a[1], &enc.u64(head))?;
        p.mem.write(a[2], &enc.u64(len))?;
    } else {
        p.mem.write(a[1], &enc.u32(head as u32))?;
        p.mem.write(a[2], &enc.u32(len as u32))?;
    }
    Ok(0)
}

/// sched_yield: the caller goes behind the other ready threads.
pub fn sched_yield(p: &mut Process) -> Outcome {
    if p.threads.others_ready() {
        p.threads.yield_current();
    }
    Outcome::Value(0)
}
