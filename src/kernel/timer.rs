// SPDX-License-Identifier: GPL-2.0-or-later
//! The process's POSIX timers (timer_create) as the emulated kernel keeps
//! them: guest id, how an expiration is notified, the overrun counts, and
//! the host timer that does the timing (see `syscall::timer`). Plain data:
//! the host calls and signal generation are `syscall::timer`'s.

/// How an expiration is notified (the guest's `struct sigevent`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notify {
    /// SIGEV_NONE: the timer runs, nothing is sent.
    None,
    /// SIGEV_SIGNAL (to the process) or SIGEV_THREAD_ID (to `thread`):
    /// guest signal `signo` carrying `value`.
    Signal {
        signo: u64,
        value: u64,
        thread: Option<u32>,
    },
}

/// One guest POSIX timer.
#[derive(Clone, Debug)]
pub struct Timer {
    /// The id the guest was given.
    pub id: i32,
    /// Index of the host timer's expiration counter (`crate::signals`).
    pub slot: usize,
    /// The host kernel's id of the timer that does the timing.
    pub host_id: i32,
    pub notify: Notify,
    /// Expirations missed while the signal was pending (Linux's
    /// `it_overrun`), saturating at `DELAYTIMER_MAX`.
    pub overrun: i32,
    /// The overrun count of the last signal taken (timer_getoverrun).
    pub overrun_last: i32,
}

/// The process's timers. Ids count up from 0 per process, as Linux gives
/// them, and are not reused until they wrap.
#[derive(Clone, Debug, Default)]
pub struct Timers {
    list: Vec<Timer>,
    next_id: i32,
}

impl Timers {
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Whether some timer notifies by a signal: then host signals can
    /// arrive while the guest waits (see `syscall::block`).
    pub fn signalling(&self) -> bool {
        self.list.iter().any(|t| t.notify != Notify::None)
    }

    /// Takes the next timer id (ids wrap at INT_MAX and skip ones in use).
    pub fn allocate_id(&mut self) -> i32 {
        loop {
            let id = self.next_id;
            self.next_id = if id == i32::MAX { 0 } else { id + 1 };
            if self.get(id).is_none() {
                return id;
            }
        }
    }

    /// The lowest expiration counter no timer uses, below `limit`.
    pub fn free_slot(&self, limit: usize) -> Option<usize> {
        (0..limit).find(|s| self.list.iter().all(|t| t.slot != *s))
    }

    pub fn insert(&mut self, timer: Timer) {
        self.list.push(timer);
    }

    pub fn get(&self, id: i32) -> Option<&Timer> {
        self.list.iter().find(|t| t.id == id)
    }

    pub fn get_mut(&mut self, id: i32) -> Option<&mut Timer> {
        self.list.iter_mut().find(|t| t.id == id)
    }

    pub fn remove(&mut self, id: i32) -> Option<Timer> {
        let at = self.list.iter().position(|t| t.id == id)?;
        Some(self.list.remove(at))
    }

    /// The timers' (id, slot) pairs.
    pub fn slots(&self) -> Vec<(i32, usize)> {
        self.list.iter().map(|t| (t.id, t.slot)).collect()
    }

    /// A forked child has none of its parent's timers (the host timers
    /// were not inherited either); ids start again from 0.
    pub fn forget(&mut self) {
        *self = Timers::default();
    }
}

/// Adds `n` to an overrun count, saturating at DELAYTIMER_MAX (INT_MAX).
pub fn add_overruns(count: i32, n: u64) -> i32 {
    i32::try_from((count.max(0) as u64).saturating_add(n)).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timer(id: i32, slot: usize) -> Timer {
        Timer {
            id,
            slot,
            host_id: 0,
            notify: Notify::None,
            overrun: 0,
            overrun_last: 0,
        }
    }

    #[test]
    fn ids_count_up_from_zero_and_slots_are_reused() {
        let mut t = Timers::default();
        assert_eq!(t.allocate_id(), 0);
        t.insert(timer(0, 0));
        assert_eq!(t.allocate_id(), 1);
        t.insert(timer(1, 1));
        assert_eq!(t.free_slot(4), Some(2));
        t.remove(0);
        assert_eq!(t.free_slot(4), Some(0));
        assert_eq!(t.allocate_id(), 2);
        assert_eq!(t.free_slot(1), Some(0));
        t.insert(timer(2, 0));
        assert_eq!(t.free_slot(2), None);
    }

    #[test]
    fn ids_wrap_past_ones_in_use() {
        let mut t = Timers {
            list: vec![timer(0, 0)],
            next_id: i32::MAX,
        };
        assert_eq!(t.allocate_id(), i32::MAX);
        assert_eq!(t.allocate_id(), 1);
    }

    #[test]
    fn overruns_saturate_at_int_max() {
        assert_eq!(add_overruns(3, 4), 7);
        assert_eq!(add_overruns(i32::MAX - 1, 5), i32::MAX);
        assert_eq!(add_overruns(0, u64::MAX), i32::MAX);
    }
}
