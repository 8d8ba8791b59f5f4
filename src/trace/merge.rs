// SPDX-License-Identifier: GPL-2.0-or-later
//! Time order across the recorders of several emulating threads
//! (`-sched parallel`).
//!
//! Every guest thread then has a recorder of its own, and each sends its
//! batches when they fill or when its thread leaves guest code, so the
//! writer can receive one thread's events after a later event of another
//! thread. The binary trace holds its records in time order, so its sink
//! puts them in order ([`TimeOrder`]): it holds received events back until
//! no recorder can still send an earlier one.
//!
//! Each recorder says how far it may still reach back through its
//! [`Source`]: a *floor* no later than any event it has not sent, and how
//! many batches it has sent.
//!
//! - **Recording**: the floor is the timestamp of its oldest unsent event,
//!   or of the last event it sent.
//! - **Idle** (its thread left guest code with nothing unsent): it will
//!   send nothing older than the clock at its next event. Before reading
//!   the clock for that event it *arms* (floor 0: wait), then publishes
//!   the reading.
//!
//! The writer reads the clock first, then each floor, then each count. An
//! idle source seen after that reading can only send events stamped after
//! it, less the clock's skew between threads ([`IDLE_MARGIN_NS`]). A
//! source whose batches are still in the channel holds the order at the
//! last event received from it, since its events come in order.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::{Batch, EventRecord};

/// Floor of a source with nothing unsent whose next event reads the clock.
const IDLE: u64 = u64::MAX;
/// Floor of a source that will send nothing more.
const CLOSED: u64 = u64::MAX - 1;
/// Floor of a source reading the clock for its first unsent event.
const ARMING: u64 = 0;

/// How far an idle source's next timestamp may lie before the writer's
/// clock reading: the threads' clocks agree within a microsecond
/// (the event clock); this leaves ample room.
pub const IDLE_MARGIN_NS: u64 = 1_000_000;

/// Events held back before the sources holding the order are asked to
/// send what they have.
const FLUSH_REQUEST_EVENTS: usize = 1 << 20;

/// One recorder's side of the time order (see the module).
pub struct Source {
    floor: AtomicU64,
    sent: AtomicU64,
    flush_wanted: AtomicBool,
    /// Makes the recorder's thread leave guest code soon (it then sends
    /// what it holds): set by the machine that runs it, and taken away
    /// before its engine is freed (the writer calls it under the lock).
    nudge: Mutex<Option<Nudge>>,
}

/// See [`Source::set_nudge`].
pub type Nudge = Arc<dyn Fn() + Send + Sync>;

impl Source {
    fn new(floor: u64) -> Self {
        Source {
            floor: AtomicU64::new(floor),
            sent: AtomicU64::new(0),
            flush_wanted: AtomicBool::new(false),
            nudge: Mutex::new(None),
        }
    }

    /// Says how to make the recorder's thread send what it holds; None
    /// before what the nudge touches (its engine) goes away.
    pub fn set_nudge(&self, nudge: Option<Nudge>) {
        *self.nudge.lock().unwrap_or_else(PoisonError::into_inner) = nudge;
    }

    /// Whether the writer asked for what this recorder holds.
    pub fn flush_wanted(&self) -> bool {
        self.flush_wanted.load(Ordering::Relaxed)
    }

    /// A batch went into the channel; `last_ts` is its last event's time.
    pub(crate) fn sent_batch(&self, last_ts: u64, idle: bool) {
        self.sent.fetch_add(1, Ordering::SeqCst);
        if !idle {
            self.floor.store(last_ts, Ordering::SeqCst);
        }
    }

    /// Nothing is unsent (what was is in the channel).
    pub(crate) fn go_idle(&self) {
        self.floor.store(IDLE, Ordering::SeqCst);
        self.flush_wanted.store(false, Ordering::Relaxed);
    }

    /// The recorder sends nothing more.
    pub(crate) fn close(&self) {
        self.floor.store(CLOSED, Ordering::SeqCst);
    }

    /// Stamps the first event after idling: the floor says "wait" until
    /// the clock's reading is published.
    pub(crate) fn stamp_first(&self, read: impl FnOnce() -> u64) -> u64 {
        self.floor.store(ARMING, Ordering::SeqCst);
        let ts = read();
        self.floor.store(ts, Ordering::SeqCst);
        ts
    }

    fn request_flush(&self) {
        if !self.flush_wanted.swap(true, Ordering::Relaxed) {
            // Called under the lock: the engine is not freed meanwhile.
            let nudge = self.nudge.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(nudge) = nudge.as_ref() {
                nudge();
            }
        }
    }
}

/// The recorders feeding one writer, by the id their batches carry.
#[derive(Default)]
pub struct Sources(Mutex<Vec<Arc<Source>>>);

impl Sources {
    /// A new recorder's source and id. The first recorder of a run starts
    /// as recording from the start; later ones (new threads) start idle.
    pub(crate) fn register(&self) -> (u32, Arc<Source>) {
        let mut list = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let floor = if list.is_empty() { ARMING } else { IDLE };
        let source = Arc::new(Source::new(floor));
        list.push(source.clone());
        ((list.len() - 1) as u32, source)
    }

    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    fn new_since(&self, known: &mut Vec<Arc<Source>>) {
        let list = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        known.extend(list[known.len()..].iter().cloned());
    }
}

/// Received events of one source, oldest first: `records[next..]` with
/// their words `words[next_word..]`.
#[derive(Default)]
struct Held {
    records: Vec<EventRecord>,
    words: Vec<u64>,
    next: usize,
    next_word: usize,
    received: u64,
    /// The last event received (its batches come in time order).
    last_ts: u64,
}

impl Held {
    fn head(&self) -> Option<&EventRecord> {
        self.records.get(self.next)
    }

    /// Drops what was taken once it is most of the buffers, so that they
    /// do not grow while events flow through.
    fn compact(&mut self) {
        if self.next > 0 && self.next * 2 >= self.records.len() {
            self.records.drain(..self.next);
            self.words.drain(..self.next_word);
            self.next = 0;
            self.next_word = 0;
        }
    }
}

/// Puts the events of several sources in time order (see the module).
pub struct TimeOrder {
    sources: Arc<Sources>,
    known: Vec<Arc<Source>>,
    held: Vec<Held>,
    held_events: usize,
    extra_args: usize,
    out: Batch,
    last_out: u64,
    /// Events that came after a later one was written (none, unless a
    /// thread's clock is off by more than the margin): written with the
    /// time of the record before them.
    pub late: u64,
}

impl TimeOrder {
    pub fn new(sources: Arc<Sources>) -> Self {
        TimeOrder {
            sources,
            known: Vec::new(),
            held: Vec::new(),
            held_events: 0,
            extra_args: 0,
            out: Batch::default(),
            last_out: 0,
            late: 0,
        }
    }

    /// Takes `batch`, received at `now_ns` (read before anything else),
    /// and returns the events that are now in order: `batch` itself while
    /// it is the only source and nothing is held.
    pub fn order<'a>(&'a mut self, batch: &'a Batch, now_ns: u64) -> &'a Batch {
        if self.held_events == 0 && self.sources.len() <= 1 {
            if let Some(last) = batch.records.last() {
                self.last_out = self.last_out.max(last.ts_ns);
            }
            return batch;
        }
        self.hold(batch);
        self.ready(now_ns)
    }

    /// The held events no source can still precede, as of `now_ns`.
    pub fn ready(&mut self, now_ns: u64) -> &Batch {
        let bound = self.bound(now_ns);
        self.emit_until(bound);
        if self.held_events > FLUSH_REQUEST_EVENTS {
            self.request_flushes(bound);
        }
        &self.out
    }

    /// Every held event, in order: the sources have all ended.
    pub fn drain(&mut self) -> &Batch {
        self.emit_until(u64::MAX);
        &self.out
    }

    fn hold(&mut self, batch: &Batch) {
        // One run's batches all have the same arguments.
        self.extra_args = batch.extra_args;
        self.out.extra_args = batch.extra_args;
        let id = batch.source as usize;
        if self.held.len() <= id {
            self.held.resize_with(id + 1, Held::default);
        }
        let h = &mut self.held[id];
        h.compact();
        h.records.extend_from_slice(&batch.records);
        h.words.extend_from_slice(&batch.args);
        h.received += 1;
        if let Some(last) = batch.records.last() {
            h.last_ts = h.last_ts.max(last.ts_ns);
        }
        self.held_events += batch.records.len();
    }

    /// The time up to which no source can send another event.
    fn bound(&mut self, now_ns: u64) -> u64 {
        self.sources.new_since(&mut self.known);
        if self.held.len() < self.known.len() {
            self.held.resize_with(self.known.len(), Held::default);
        }
        let mut bound = u64::MAX;
        for (source, held) in self.known.iter().zip(&self.held) {
            let floor = source.floor.load(Ordering::SeqCst);
            let in_flight = source.sent.load(Ordering::SeqCst) != held.received;
            let reach = match floor {
                _ if in_flight => held.last_ts,
                CLOSED => continue,
                IDLE => now_ns.saturating_sub(IDLE_MARGIN_NS),
                ts => ts,
            };
            bound = bound.min(reach.max(held.last_ts));
        }
        bound
    }

    /// Moves held events up to `bound` into `out`, in time order.
    fn emit_until(&mut self, bound: u64) {
        self.out.records.clear();
        self.out.args.clear();
        loop {
            // The source with the oldest held event, and the next oldest
            // head of the others: its events go out up to that.
            let mut first: Option<(usize, u64)> = None;
            let mut second = u64::MAX;
            for (i, h) in self.held.iter().enumerate() {
                let Some(r) = h.head() else {
                    continue;
                };
                match first {
                    Some((_, ts)) if r.ts_ns >= ts => second = second.min(r.ts_ns),
                    _ => {
                        if let Some((_, ts)) = first {
                            second = second.min(ts);
                        }
                        first = Some((i, r.ts_ns));
                    }
                }
            }
            let Some((i, ts)) = first else { break };
            if ts > bound {
                break;
            }
            // The run of this source's events up to the limit, moved in
            // one piece with their words.
            let limit = bound.min(second);
            let h = &mut self.held[i];
            let run = h.records[h.next..]
                .iter()
                .take_while(|r| r.ts_ns <= limit)
                .count();
            let records = &h.records[h.next..h.next + run];
            let words: usize = records.iter().map(|r| r.kind.words(self.extra_args)).sum();
            let at = self.out.records.len();
            self.out.records.extend_from_slice(records);
            self.out
                .args
                .extend_from_slice(&h.words[h.next_word..h.next_word + words]);
            h.next += run;
            h.next_word += words;
            self.held_events -= run;
            // Only a run's first events can be older than the record
            // before (never, unless a clock is off by more than the margin).
            for r in &mut self.out.records[at..] {
                if r.ts_ns >= self.last_out {
                    break;
                }
                self.late += 1;
                r.ts_ns = self.last_out;
            }
            if let Some(r) = self.out.records.last() {
                self.last_out = r.ts_ns;
            }
        }
        for h in &mut self.held {
            h.compact();
        }
    }

    /// Asks the sources that hold the order back to send what they hold.
    fn request_flushes(&self, bound: u64) {
        for (source, held) in self.known.iter().zip(&self.held) {
            let floor = source.floor.load(Ordering::SeqCst);
            if floor != IDLE && floor != CLOSED && floor.max(held.last_ts) <= bound {
                source.request_flush();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::EventKind;

    fn batch(source: u32, times: &[u64]) -> Batch {
        let mut b = Batch {
            extra_args: 1,
            source,
            ..Batch::default()
        };
        for &ts in times {
            b.records.push(EventRecord::hypertrace(ts, source, 0, ts));
            b.args.push(ts * 10);
        }
        b
    }

    fn times(b: &Batch) -> Vec<u64> {
        b.records.iter().map(|r| r.ts_ns).collect()
    }

    #[test]
    fn one_source_passes_through() {
        let sources = Arc::new(Sources::default());
        let (id, _) = sources.register();
        let mut order = TimeOrder::new(sources);
        let b = batch(id, &[5, 6, 7]);
        assert_eq!(times(order.order(&b, 100)), [5, 6, 7]);
    }

    #[test]
    fn events_wait_for_a_source_that_may_send_earlier_ones() {
        let sources = Arc::new(Sources::default());
        let (a, src_a) = sources.register();
        let (b, src_b) = sources.register();
        let mut order = TimeOrder::new(sources);
        // b records from 10 on and has sent nothing yet.
        src_b.stamp_first(|| 10);
        src_a.sent_batch(30, false);
        assert!(order.order(&batch(a, &[20, 30]), 1_000).records.is_empty());
        src_b.sent_batch(25, false);
        let second = batch(b, &[10, 25]);
        let out = order.order(&second, 1_000);
        // b's floor is now 25: a's 30 may still be preceded.
        assert_eq!(times(out), [10, 20, 25]);
        assert_eq!(out.args, [100, 200, 250], "each record keeps its words");
        src_b.go_idle();
        let out = order.ready(30 + IDLE_MARGIN_NS);
        assert_eq!(times(out), [30]);
        assert_eq!(order.late, 0);
    }

    #[test]
    fn a_batch_in_flight_holds_the_order_at_the_last_received_event() {
        let sources = Arc::new(Sources::default());
        let (a, src_a) = sources.register();
        let (_, src_b) = sources.register();
        let mut order = TimeOrder::new(sources);
        // b sent a batch the writer has not received, then went idle.
        src_b.sent_batch(15, false);
        src_b.go_idle();
        src_a.sent_batch(40, false);
        let later = batch(a, &[12, 40]);
        let out = order.order(&later, 10 * IDLE_MARGIN_NS);
        assert!(out.records.is_empty(), "b's batch may hold earlier events");
    }

    #[test]
    fn idle_and_closed_sources_let_the_others_through() {
        let sources = Arc::new(Sources::default());
        let (a, src_a) = sources.register();
        let (_, _idle) = sources.register();
        let (_, src_c) = sources.register();
        src_c.close();
        let mut order = TimeOrder::new(sources);
        src_a.sent_batch(70, false);
        // The idle source (a new thread) stamps its next event no earlier
        // than the writer's clock less the margin.
        let now = 60 + IDLE_MARGIN_NS;
        assert_eq!(times(order.order(&batch(a, &[40, 50, 70]), now)), [40, 50]);
        assert_eq!(times(order.drain()), [70]);
    }

    #[test]
    fn many_sources_merge_exactly() {
        let sources = Arc::new(Sources::default());
        let ids: Vec<_> = (0..4).map(|_| sources.register()).collect();
        let mut order = TimeOrder::new(sources);
        let mut out = Vec::new();
        // Source i stamps i, i+4, i+8, ...; batches of 3 arrive round
        // robin, each source's floor its last event sent.
        for (id, src) in &ids {
            src.stamp_first(|| u64::from(*id));
        }
        for round in 0..5u64 {
            for (id, src) in &ids {
                let first = round * 12 + u64::from(*id);
                let ts = [first, first + 4, first + 8];
                src.sent_batch(ts[2], false);
                out.extend(times(order.order(&batch(*id, &ts), 0)));
            }
        }
        out.extend(times(order.drain()));
        assert_eq!(out, (0..60).collect::<Vec<_>>());
        assert_eq!(order.late, 0);
    }

    #[test]
    fn records_of_every_kind_keep_their_words() {
        let sources = Arc::new(Sources::default());
        let (a, src_a) = sources.register();
        let (b, src_b) = sources.register();
        let mut order = TimeOrder::new(sources);
        let mut mem = Batch {
            extra_args: 1,
            source: b,
            ..Batch::default()
        };
        mem.records.push(EventRecord {
            ts_ns: 3,
            cpu: 1,
            kind: EventKind::MemAccess,
            aux: 0,
            arg1: 0x1000,
        });
        mem.args.extend([0x400, 7]);
        src_b.sent_batch(3, false);
        assert!(order.order(&mem, 0).records.is_empty());
        src_a.sent_batch(4, false);
        let hypertrace = batch(a, &[2, 4]);
        let out = order.order(&hypertrace, 0);
        assert_eq!(times(out), [2, 3]);
        assert_eq!(out.args, [20, 0x400, 7]);
        let out = order.drain();
        assert_eq!(times(out), [4]);
        assert_eq!(out.args, [40]);
    }
}
