// SPDX-License-Identifier: GPL-2.0-or-later
//! The event clock: host CLOCK_MONOTONIC nanoseconds, read cheaply.
//!
//! `clock_gettime` through the vDSO costs 30-40 ns on a virtual machine,
//! a large share of an event. Where the CPU's time-stamp counter is
//! invariant (`constant_tsc` and `nonstop_tsc`) and the kernel keeps time
//! with it, [`EventClock`] reads the TSC instead and converts ticks to
//! CLOCK_MONOTONIC nanoseconds by extrapolating from an anchor: one
//! `clock_gettime` with the TSC read around it. The rate (ns per tick) is
//! measured against CLOCK_MONOTONIC over the whole run, and a reading more
//! than [`REANCHOR_NS`] after the anchor takes a new anchor, so NTP's slewing
//! of CLOCK_MONOTONIC and any rate error can only move a timestamp by a
//! fraction of a microsecond. Readings never go backwards.
//!
//! Elsewhere (no invariant TSC, another clock source, another
//! architecture) every reading is a `clock_gettime`.

use super::monotonic_ns;

/// Longest extrapolation from one anchor.
pub const REANCHOR_NS: u64 = 500_000;
/// Shortest calibration interval before the TSC is used; until then every
/// reading is a `clock_gettime`.
const CALIBRATE_NS: u64 = 1_000_000;
/// Widest TSC interval around a clock_gettime that makes an anchor: about
/// half a microsecond at common TSC rates (a wider one was preempted).
const TIGHT_TICKS: u64 = 1024;
/// Fixed-point shift of the ns-per-tick rate.
const SHIFT: u32 = 32;

/// A per-thread clock of CLOCK_MONOTONIC nanoseconds, never decreasing.
#[derive(Clone, Debug)]
pub struct EventClock {
    /// None: the TSC is not usable; every reading is a clock_gettime.
    tsc: Option<TscClock>,
    last: u64,
}

impl Default for EventClock {
    fn default() -> Self {
        Self::new()
    }
}

impl EventClock {
    /// The TSC clock where the host supports it, else clock_gettime.
    pub fn new() -> Self {
        if tsc_usable() {
            Self::tsc()
        } else {
            Self::system()
        }
    }

    /// Every reading a clock_gettime.
    pub fn system() -> Self {
        EventClock { tsc: None, last: 0 }
    }

    /// The TSC clock whatever the host says (tests).
    fn tsc() -> Self {
        EventClock {
            tsc: Some(TscClock::default()),
            last: 0,
        }
    }

    /// Now, in CLOCK_MONOTONIC nanoseconds; at least the previous reading.
    #[inline]
    pub fn now_ns(&mut self) -> u64 {
        let ns = match &mut self.tsc {
            Some(t) => t.now_ns(),
            None => monotonic_ns(),
        };
        // A new anchor may place now slightly before an extrapolated
        // reading: hold the clock rather than go back.
        let ns = ns.max(self.last);
        self.last = ns;
        ns
    }
}

/// Extrapolates CLOCK_MONOTONIC from the TSC.
#[derive(Clone, Debug, Default)]
struct TscClock {
    /// Where the rate is measured from (0 ns: not yet taken).
    base_tsc: u64,
    base_ns: u64,
    /// The latest anchor.
    anchor_tsc: u64,
    anchor_ns: u64,
    /// ns per tick << SHIFT; 0 until calibrated.
    mult: u64,
    /// Ticks after the anchor that may be extrapolated (0: none).
    limit: u64,
}

impl TscClock {
    #[inline]
    fn now_ns(&mut self) -> u64 {
        let ticks = rdtsc().wrapping_sub(self.anchor_tsc);
        if ticks < self.limit {
            // ticks * mult < limit * mult <= u64::MAX (see `reanchor`).
            return self.anchor_ns + ((ticks * self.mult) >> SHIFT);
        }
        self.reanchor()
    }

    /// Takes a new anchor and refines the rate; returns the anchor's time.
    #[cold]
    fn reanchor(&mut self) -> u64 {
        // The TSC read just before and after clock_gettime; of a few
        // tries the tightest pair, so that a preemption in between does not
        // skew the anchor.
        let (mut tsc, mut ns, mut window) = (0, 0, u64::MAX);
        for _ in 0..3 {
            let before = rdtsc();
            let now = monotonic_ns();
            let after = rdtsc();
            let w = after.wrapping_sub(before);
            if w < window {
                (tsc, ns, window) = (before + w / 2, now, w);
            }
            if w <= TIGHT_TICKS {
                break;
            }
        }
        if window > TIGHT_TICKS {
            // Preempted every time: this reading stands alone, the next
            // one anchors again.
            self.limit = 0;
            return ns;
        }
        self.anchor_tsc = tsc;
        self.anchor_ns = ns;
        if self.base_ns == 0 || tsc <= self.base_tsc || ns <= self.base_ns {
            self.restart(tsc, ns);
            return ns;
        }
        let elapsed = ns - self.base_ns;
        if elapsed < CALIBRATE_NS {
            return ns;
        }
        let ticks = u128::from(tsc - self.base_tsc);
        let mult = ((u128::from(elapsed) << SHIFT) / ticks).min(u128::from(u64::MAX)) as u64;
        // A rate far from the last one means the TSC jumped (a suspended
        // or migrated virtual machine): measure it again from here.
        let jumped = self.mult != 0 && mult.abs_diff(self.mult) > self.mult / 1000;
        if jumped || mult == 0 {
            self.restart(tsc, ns);
            return ns;
        }
        self.mult = mult;
        let window = (u128::from(REANCHOR_NS) << SHIFT) / u128::from(mult);
        self.limit = window.min(u128::from(u64::MAX / mult)) as u64;
        ns
    }

    fn restart(&mut self, tsc: u64, ns: u64) {
        self.base_tsc = tsc;
        self.base_ns = ns;
        self.mult = 0;
        self.limit = 0;
    }
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no memory effects; every x86_64 CPU has it.
    unsafe { core::arch::x86_64::_rdtsc() }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn rdtsc() -> u64 {
    0
}

/// Whether the TSC ticks at a constant rate through power states and the
/// kernel keeps CLOCK_MONOTONIC with it.
fn tsc_usable() -> bool {
    if !cfg!(target_arch = "x86_64") {
        return false;
    }
    let Ok(cpuinfo) = std::fs::read_to_string("/proc/cpuinfo") else {
        return false;
    };
    let mut flag_lines = cpuinfo
        .lines()
        .filter(|l| l.starts_with("flags"))
        .peekable();
    if flag_lines.peek().is_none() {
        return false;
    }
    let flags_ok = flag_lines.all(|l| {
        let flags: Vec<&str> = l.split_whitespace().collect();
        flags.contains(&"constant_tsc") && flags.contains(&"nonstop_tsc")
    });
    if !flags_ok {
        return false;
    }
    match std::fs::read_to_string(
        "/sys/devices/system/clocksource/clocksource0/current_clocksource",
    ) {
        Ok(source) => source.trim() == "tsc",
        // Not readable (a container without /sys): trust the flags; the
        // anchors bound any error.
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_against_clock_gettime(mut clock: EventClock) {
        let start = monotonic_ns();
        let mut prev = 0;
        let mut worst = 0u64;
        // About 20 ms of readings: calibration, then extrapolation across
        // many anchors.
        while monotonic_ns() - start < 20_000_000 {
            let before = monotonic_ns();
            let t = clock.now_ns();
            let after = monotonic_ns();
            assert!(t >= prev, "went back: {t} after {prev}");
            prev = t;
            // Close to the real clock: within 1 us outside [before, after].
            let off = if t < before {
                before - t
            } else {
                t.saturating_sub(after)
            };
            worst = worst.max(off);
        }
        assert!(worst < 1_000, "off by {worst} ns");
    }

    #[test]
    fn system_clock_is_monotonic_and_real() {
        check_against_clock_gettime(EventClock::system());
    }

    #[test]
    fn tsc_clock_is_monotonic_and_close_to_clock_gettime() {
        if !cfg!(target_arch = "x86_64") {
            return;
        }
        let mut clock = EventClock::tsc();
        check_against_clock_gettime(clock.clone());
        // Calibrated after the first millisecond (later if a preemption
        // spoilt an anchor): extrapolating.
        let start = monotonic_ns();
        while monotonic_ns() - start < 100 * CALIBRATE_NS {
            clock.now_ns();
            let t = clock.tsc.as_ref().unwrap();
            if t.mult != 0 && t.limit != 0 {
                return;
            }
        }
        panic!("not calibrated after 100 ms");
    }

    #[test]
    fn tsc_clock_holds_across_a_gap() {
        if !cfg!(target_arch = "x86_64") {
            return;
        }
        let mut clock = EventClock::tsc();
        let a = clock.now_ns();
        std::thread::sleep(std::time::Duration::from_millis(3));
        let b = clock.now_ns();
        let real = monotonic_ns();
        assert!(b > a && b <= real, "{a} {b} {real}");
        assert!(real - b < 1_000_000);
    }
}
