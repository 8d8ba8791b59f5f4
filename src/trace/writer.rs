// SPDX-License-Identifier: GPL-2.0-or-later
//! The emulator thread's [`Recorder`] and the [`Writer`] thread it feeds
//! (or, without a thread, the writer's work done inline), and whether
//! output the guest shares must wait for it ([`OutputSharing`]).

use std::io;
use std::thread::JoinHandle;

use std::sync::Arc;

use crossbeam_channel::{bounded, Receiver, Sender};

use super::merge::{Source, Sources};
use super::{Batch, EventRecord, Msg, OutputSharing, Sink};

pub(crate) const BATCH_EVENTS: usize = 8192;
/// Written batches kept for reuse.
const RECYCLED_BATCHES: usize = 8;
/// Batches in flight before the guest waits for the writer.
const CHANNEL_BATCHES: usize = 64;

/// Where a recorder's messages go.
enum Route {
    /// To the writer thread.
    Thread(Sender<Msg>),
    /// Written in the emulator thread itself: the fallback when no thread
    /// can be started (a forked child at its process limit).
    Inline(Box<WriterState>),
}

/// The emulator thread's end: batches events and forwards text.
pub struct Recorder {
    route: Route,
    batch: Batch,
    extra_args: usize,
    /// Emptied batches coming back from the writer.
    recycled: Receiver<Batch>,
    /// Something was sent since the last sync.
    unsynced: bool,
    /// Which of what this recorder sends lands in the guest's own
    /// stdout/stderr stream.
    sharing: OutputSharing,
    /// Something bound for that stream was sent since the last sync.
    unsynced_shared: bool,
    /// This recorder's place among the writer's recorders, for sinks that
    /// put their events in time order ([`super::merge`]).
    sources: Arc<Sources>,
    source_id: u32,
    source: Arc<Source>,
    /// Nothing unsent and the next event arms the source.
    idle: bool,
    pub events_recorded: u64,
}

impl Recorder {
    /// Records a hypertrace event with its arguments after arg1.
    #[inline]
    pub fn push(&mut self, record: EventRecord, args: &[u64]) {
        self.push_from(record, args.iter().copied());
    }

    /// [`Recorder::push`] with the arguments read as they are appended
    /// (straight from the channel, without a copy in between).
    #[inline]
    pub fn push_from(&mut self, record: EventRecord, args: impl Iterator<Item = u64>) {
        let at = self.batch.args.len();
        push_words(&mut self.batch.args, args, self.extra_args);
        let args = &self.batch.args[at..];
        debug_assert_eq!(args.len(), self.extra_args);
        // SystemTap/USDT probe, QEMU's dtrace backend equivalent: fires at
        // the moment of the guest's store. Without a tracer attached this
        // is one load of the probe's semaphore and an untaken branch.
        probe::probe_lazy!(
            hypertrace,
            guest_hypertrace,
            record.aux as u64,
            record.arg1,
            args.as_ptr()
        );
        self.commit(record);
    }

    /// Records an event of any kind; `words` are its words after arg1
    /// ([`EventKind::words`](super::EventKind::words)).
    #[inline]
    pub fn push_record(&mut self, record: EventRecord, words: &[u64]) {
        debug_assert_eq!(words.len(), record.kind.words(self.extra_args));
        push_words(&mut self.batch.args, words.iter().copied(), words.len());
        self.commit(record);
    }

    /// Appends `record`, whose words are already in the batch.
    #[inline]
    fn commit(&mut self, record: EventRecord) {
        self.batch.records.push(record);
        self.events_recorded += 1;
        if self.batch.records.len() >= BATCH_EVENTS {
            self.send_batch();
        }
    }

    /// Arguments the channel reads per event (the batch's `extra_args`).
    pub fn extra_args(&self) -> usize {
        self.extra_args
    }

    fn send_batch(&mut self) {
        if self.batch.records.is_empty() {
            return;
        }
        // The writer hands written batches back: their allocations are
        // reused instead of allocating a batch per BATCH_EVENTS events.
        let fresh = self
            .recycled
            .try_recv()
            .unwrap_or_else(|_| Batch::with_capacity(self.extra_args, BATCH_EVENTS));
        let mut full = std::mem::replace(&mut self.batch, fresh);
        full.source = self.source_id;
        let last_ts = full.records.last().map_or(0, |r| r.ts_ns);
        self.unsynced = true;
        self.unsynced_shared |= self.sharing.events;
        self.send(Msg::Events(full));
        self.source.sent_batch(last_ts, self.idle);
    }

    /// This recorder's thread left guest code: what it holds goes to the
    /// writer, and until its next event it holds no other recorder's
    /// events back ([`super::merge`]). The next event's timestamp must be
    /// read through [`Recorder::stamp`].
    pub fn go_idle(&mut self) {
        self.send_batch();
        if !self.idle {
            self.source.go_idle();
            self.idle = true;
        }
    }

    /// An event's timestamp, read by `read`; after [`Recorder::go_idle`]
    /// the source is armed around the reading.
    #[inline]
    pub fn stamp(&mut self, read: impl FnOnce() -> u64) -> u64 {
        if self.idle {
            self.idle = false;
            self.source.stamp_first(read)
        } else {
            read()
        }
    }

    /// The writer asked for what this recorder holds (see
    /// [`Recorder::go_idle`]).
    pub fn flush_wanted(&self) -> bool {
        self.source.flush_wanted()
    }

    /// Says how to make this recorder's thread leave guest code when the
    /// writer needs what it holds; None before what the nudge touches (the
    /// thread's engine) goes away.
    pub fn set_nudge(&self, nudge: Option<super::merge::Nudge>) {
        self.source.set_nudge(nudge);
    }

    fn send(&mut self, msg: Msg) {
        match &mut self.route {
            // The writer outlives the recorder; a send only fails if it
            // died, and its report says why.
            Route::Thread(tx) => {
                let _ = tx.send(msg);
            }
            Route::Inline(state) => state.handle(msg),
        }
    }

    /// Sends a text line after every event recorded so far.
    pub fn text(&mut self, line: String) {
        self.send_batch();
        self.unsynced = true;
        self.unsynced_shared |= self.sharing.text;
        self.send(Msg::Text(line));
    }

    /// Waits until the writer has written and flushed everything sent so
    /// far, so guest output that follows appears after it.
    pub fn sync(&mut self) {
        self.send_batch();
        if !self.unsynced {
            return;
        }
        self.round_trip(Msg::Sync);
    }

    /// [`Recorder::sync`], with every event the writer holds back for its
    /// time order written too: before an execve, which ends the writer
    /// (other threads' later events are then written with the last time).
    pub fn sync_all(&mut self) {
        self.send_batch();
        self.round_trip(Msg::Drain);
    }

    /// Sends `msg` with an acknowledgement channel and waits for it.
    fn round_trip(&mut self, msg: fn(Sender<()>) -> Msg) {
        let (ack_tx, ack_rx) = bounded(1);
        match &mut self.route {
            Route::Thread(tx) => {
                if tx.send(msg(ack_tx)).is_ok() {
                    let _ = ack_rx.recv();
                }
            }
            Route::Inline(state) => state.handle(msg(ack_tx)),
        }
        self.unsynced = false;
        self.unsynced_shared = false;
    }

    /// A recorder for another emulating thread of the same run, feeding the
    /// same writer: its events and lines reach the sink whole and in its
    /// own order, interleaved with the other recorders' batch by batch
    /// (their timestamps come from one clock, so a reader can merge them
    /// in time order). None when this recorder writes inline: there is no
    /// writer thread to share.
    pub fn for_another_thread(&self) -> Option<Recorder> {
        match &self.route {
            Route::Thread(tx) => {
                let mut r = Recorder::new(
                    Route::Thread(tx.clone()),
                    self.extra_args,
                    self.recycled.clone(),
                    self.sources.clone(),
                );
                r.sharing = self.sharing;
                Some(r)
            }
            Route::Inline(_) => None,
        }
    }

    /// Sends what a thread's recorder still holds when its thread ends,
    /// and says how many events it recorded. The run's writer finishes
    /// once every such recorder is closed and the first is handed to
    /// [`Writer::finish`].
    pub fn close(mut self) -> u64 {
        self.send_batch();
        self.source.close();
        self.source.set_nudge(None);
        self.events_recorded
    }

    /// Says which of this recorder's output shares the guest's
    /// stdout/stderr stream (see [`OutputSharing::of_log`]).
    pub fn set_output_sharing(&mut self, sharing: OutputSharing) {
        self.sharing = sharing;
    }

    /// [`Recorder::sync`] where it matters before the guest may write:
    /// when lines recorded so far go to the stream the guest writes too, so
    /// that they appear before what the guest writes next. A binary trace
    /// or a log file of its own needs no such round trip to the writer.
    #[inline]
    pub fn sync_before_guest_output(&mut self) {
        let events_pending = self.sharing.events && !self.batch.records.is_empty();
        if events_pending || self.unsynced_shared {
            self.sync();
        }
    }
}

/// Appends a record's `n` words. A handful of them: pushed in line rather
/// than through `Vec::extend`, which is an out-of-line call (or a memcpy).
#[inline(always)]
fn push_words(args: &mut Vec<u64>, words: impl Iterator<Item = u64>, n: usize) {
    args.reserve(n);
    for w in words {
        args.push(w);
    }
}

/// What the writer thread did, returned when it ends.
#[derive(Debug, Default)]
pub struct WriterReport {
    pub events_written: u64,
    pub events_lost: u64,
    pub error: Option<io::Error>,
}

pub struct Writer {
    /// None when the recorder writes inline.
    handle: Option<JoinHandle<WriterReport>>,
}

impl Writer {
    /// Starts the writer thread with `sink` and returns both ends.
    pub fn start(mut sink: Box<dyn Sink>, extra_args: usize) -> io::Result<(Recorder, Writer)> {
        let sources = Arc::new(Sources::default());
        sink.attach_sources(sources.clone());
        let (tx, rx) = bounded(CHANNEL_BATCHES);
        let (recycle_tx, recycled) = bounded(RECYCLED_BATCHES);
        let handle = crate::signals::with_all_blocked(|| {
            std::thread::Builder::new()
                .name("ht-writer".into())
                .spawn(move || writer_loop(rx, recycle_tx, sink))
        })?;
        Ok((
            Recorder::new(Route::Thread(tx), extra_args, recycled, sources),
            Writer {
                handle: Some(handle),
            },
        ))
    }

    /// The writer thread if one can be started, else a recorder that
    /// writes in the calling thread (`false` in the result).
    pub fn start_or_inline(mut sink: Box<dyn Sink>, extra_args: usize) -> (Recorder, Writer, bool) {
        let sources = Arc::new(Sources::default());
        sink.attach_sources(sources.clone());
        // The sink must survive a failed spawn: it is handed over through
        // a slot the thread takes it from.
        let slot = std::sync::Arc::new(std::sync::Mutex::new(Some(sink)));
        let (tx, rx) = bounded(CHANNEL_BATCHES);
        let (recycle_tx, recycled) = bounded(RECYCLED_BATCHES);
        let theirs = slot.clone();
        let thread_recycle = recycle_tx.clone();
        let spawned = crate::signals::with_all_blocked(|| {
            std::thread::Builder::new()
                .name("ht-writer".into())
                .spawn(move || {
                    let sink = theirs.lock().unwrap_or_else(|e| e.into_inner()).take();
                    match sink {
                        Some(sink) => writer_loop(rx, thread_recycle, sink),
                        None => WriterReport::default(),
                    }
                })
        });
        match spawned {
            Ok(handle) => (
                Recorder::new(Route::Thread(tx), extra_args, recycled, sources),
                Writer {
                    handle: Some(handle),
                },
                true,
            ),
            Err(_) => {
                let sink = slot
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take()
                    .expect("the thread never started");
                let state = WriterState::new(sink, recycle_tx);
                (
                    Recorder::new(
                        Route::Inline(Box::new(state)),
                        extra_args,
                        recycled,
                        sources,
                    ),
                    Writer { handle: None },
                    false,
                )
            }
        }
    }

    /// Sends what is left, closes the channel and waits for the writer.
    pub fn finish(self, mut recorder: Recorder) -> WriterReport {
        recorder.send_batch();
        if let Route::Inline(state) = recorder.route {
            return state.finish();
        }
        drop(recorder);
        match self.handle {
            Some(handle) => handle.join().unwrap_or_else(|_| WriterReport {
                error: Some(io::Error::other("trace writer thread panicked")),
                ..WriterReport::default()
            }),
            None => WriterReport::default(),
        }
    }
}

impl Recorder {
    fn new(
        route: Route,
        extra_args: usize,
        recycled: Receiver<Batch>,
        sources: Arc<Sources>,
    ) -> Self {
        let (source_id, source) = sources.register();
        Recorder {
            sources,
            source_id,
            source,
            // Every recorder after a run's first starts idle (see
            // `Sources::register`).
            idle: source_id != 0,
            route,
            recycled,
            batch: Batch::with_capacity(extra_args, BATCH_EVENTS),
            extra_args,
            unsynced: false,
            sharing: OutputSharing::ALL,
            unsynced_shared: false,
            events_recorded: 0,
        }
    }
}

/// The writer's side: the sink and what was written or lost.
struct WriterState {
    sink: Box<dyn Sink>,
    /// Written batches go back to the recorder for reuse.
    recycle: Sender<Batch>,
    report: WriterReport,
    /// Events handed to the sink but not yet flushed: written only once a
    /// flush succeeds, lost if a write or flush fails first.
    unflushed: u64,
}

fn writer_loop(rx: Receiver<Msg>, recycle: Sender<Batch>, sink: Box<dyn Sink>) -> WriterReport {
    crate::signals::block_in_this_thread();
    let mut state = WriterState::new(sink, recycle);
    for msg in rx {
        state.handle(msg);
    }
    state.finish()
}

impl WriterState {
    fn new(sink: Box<dyn Sink>, recycle: Sender<Batch>) -> Self {
        WriterState {
            sink,
            recycle,
            report: WriterReport::default(),
            unflushed: 0,
        }
    }

    fn handle(&mut self, msg: Msg) {
        let WriterState {
            sink,
            recycle,
            report,
            unflushed,
        } = self;
        if report.error.is_some() {
            if let Msg::Events(batch) = &msg {
                report.events_lost += batch.records.len() as u64;
            }
            if let Msg::Sync(ack) | Msg::Drain(ack) = msg {
                let _ = ack.send(());
            }
            return;
        }
        let result = match &msg {
            Msg::Events(batch) => sink.events(batch).map(|()| {
                *unflushed += batch.records.len() as u64;
            }),
            Msg::Text(line) => sink.text(line),
            Msg::Sync(ack) | Msg::Drain(ack) => {
                let flushed = match &msg {
                    Msg::Drain(_) => sink.drain(),
                    _ => sink.flush(),
                };
                let r = flushed.map(|()| {
                    report.events_written += std::mem::take(unflushed);
                });
                let _ = ack.send(());
                r
            }
        };
        if let Err(e) = result {
            if let Msg::Events(batch) = &msg {
                report.events_lost += batch.records.len() as u64;
            }
            report.events_lost += std::mem::take(unflushed);
            eprintln!(
                "ht-user: writing the trace failed: {e}; later events are counted, not written"
            );
            report.error = Some(e);
        }
        if let Msg::Events(mut batch) = msg {
            batch.records.clear();
            batch.args.clear();
            let _ = recycle.try_send(batch);
        }
    }

    fn finish(mut self) -> WriterReport {
        let mut report = std::mem::take(&mut self.report);
        if report.error.is_none() {
            match self.sink.finish() {
                Ok(()) => report.events_written += self.unflushed,
                Err(e) => {
                    eprintln!("ht-user: flushing the trace failed: {e}");
                    report.events_lost += self.unflushed;
                    report.error = Some(e);
                }
            }
        }
        // After a failure, what reached the file whole is written, not lost
        // (a full disk leaves the records written before it).
        if report.error.is_some() {
            if let Some(in_file) = self.sink.events_in_file() {
                let total = report.events_written + report.events_lost;
                report.events_written = in_file.min(total);
                report.events_lost = total - report.events_written;
            }
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    struct Collect(Arc<Mutex<Vec<String>>>, Option<io::ErrorKind>);
    impl Sink for Collect {
        fn events(&mut self, b: &Batch) -> io::Result<()> {
            if let Some(kind) = self.1 {
                return Err(io::Error::from(kind));
            }
            for (r, words) in b.iter() {
                self.0
                    .lock()
                    .unwrap()
                    .push(format!("{} {:?}", r.arg1, words));
            }
            Ok(())
        }
        fn text(&mut self, line: &str) -> io::Result<()> {
            self.0.lock().unwrap().push(line.to_string());
            Ok(())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn rec(arg1: u64) -> EventRecord {
        EventRecord::hypertrace(arg1, 0, 0, arg1)
    }

    #[test]
    fn events_and_text_keep_their_order_across_batches() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (mut r, w) = Writer::start(Box::new(Collect(seen.clone(), None)), 2).unwrap();
        for i in 0..10_000u64 {
            r.push(rec(i), &[i, i + 1]);
        }
        r.text("middle".into());
        r.push(rec(7), &[0, 0]);
        r.sync();
        assert_eq!(seen.lock().unwrap().len(), 10_002);
        let report = w.finish(r);
        assert_eq!(report.events_written, 10_001);
        let seen = seen.lock().unwrap();
        assert_eq!(seen[9_999], "9999 [9999, 10000]");
        assert_eq!(seen[10_000], "middle");
        assert_eq!(seen[10_001], "7 [0, 0]");
    }

    #[test]
    fn recorders_of_several_threads_lose_nothing_and_keep_their_order() {
        const EVENTS: u64 = 100_000;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (main, w) = Writer::start(Box::new(Collect(seen.clone(), None)), 1).unwrap();
        let others: Vec<Recorder> = (0..3)
            .map(|_| main.for_another_thread().expect("a writer thread"))
            .collect();
        let record = |mut r: Recorder, thread: u64| {
            for i in 0..EVENTS {
                r.push(rec(thread << 32 | i), &[thread]);
                if i % 10_000 == 9_999 {
                    r.text(format!("thread {thread} line {i}"));
                }
            }
            r
        };
        let handles: Vec<_> = others
            .into_iter()
            .enumerate()
            .map(|(t, r)| std::thread::spawn(move || record(r, t as u64 + 1).close()))
            .collect();
        let main = record(main, 0);
        let counted: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(counted + main.events_recorded, 4 * EVENTS);
        let report = w.finish(main);
        assert_eq!(report.events_written, 4 * EVENTS);
        let seen = seen.lock().unwrap();
        let mut next = [0u64; 4];
        let mut lines = 0;
        for entry in seen.iter() {
            if let Some(rest) = entry.strip_prefix("thread ") {
                // A text line arrives whole, after the events before it.
                let (thread, i) = rest.split_once(" line ").unwrap();
                let (thread, i): (usize, u64) = (thread.parse().unwrap(), i.parse().unwrap());
                assert_eq!(next[thread], i + 1, "{entry}");
                lines += 1;
                continue;
            }
            let (arg1, words) = entry.split_once(' ').unwrap();
            let arg1: u64 = arg1.parse().unwrap();
            let thread = (arg1 >> 32) as usize;
            assert_eq!(words, format!("[{thread}]"));
            assert_eq!(
                arg1 & 0xffff_ffff,
                next[thread],
                "thread {thread} out of order"
            );
            next[thread] += 1;
        }
        assert_eq!(next, [EVENTS; 4], "every event exactly once");
        assert_eq!(lines, 4 * EVENTS / 10_000);
    }

    #[test]
    fn inline_writer_has_no_recorder_for_another_thread() {
        let (recycle_tx, recycled) = bounded(RECYCLED_BATCHES);
        let sink = Collect(Arc::new(Mutex::new(Vec::new())), None);
        let state = WriterState::new(Box::new(sink), recycle_tx);
        let r = Recorder::new(
            Route::Inline(Box::new(state)),
            0,
            recycled,
            Default::default(),
        );
        assert!(r.for_another_thread().is_none());
    }

    #[test]
    fn inline_writer_keeps_order_and_counts() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (recycle_tx, recycled) = bounded(RECYCLED_BATCHES);
        let state = WriterState::new(Box::new(Collect(seen.clone(), None)), recycle_tx);
        let mut r = Recorder::new(
            Route::Inline(Box::new(state)),
            1,
            recycled,
            Default::default(),
        );
        for i in 0..5000u64 {
            r.push(rec(i), &[i]);
        }
        r.text("after".into());
        r.sync();
        assert_eq!(seen.lock().unwrap().len(), 5001);
        r.push(rec(9), &[1]);
        let report = Writer { handle: None }.finish(r);
        assert_eq!(report.events_written, 5001);
        let seen = seen.lock().unwrap();
        assert_eq!(seen[4999], "4999 [4999]");
        assert_eq!(seen[5000], "after");
        assert_eq!(seen[5001], "9 [1]");
    }

    #[test]
    fn sink_errors_are_reported_and_counted() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Collect(seen, Some(io::ErrorKind::StorageFull));
        let (mut r, w) = Writer::start(Box::new(sink), 0).unwrap();
        for i in 0..5000u64 {
            r.push(rec(i), &[]);
        }
        let report = w.finish(r);
        assert_eq!(report.events_written, 0);
        assert_eq!(report.events_lost, 5000);
        assert_eq!(report.error.unwrap().kind(), io::ErrorKind::StorageFull);
    }

    #[test]
    fn only_output_shared_with_the_guest_waits_for_the_writer() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (mut r, w) = Writer::start(Box::new(Collect(seen.clone(), None)), 0).unwrap();
        // Events to a binary trace, text to the guest's stderr.
        r.set_output_sharing(OutputSharing {
            events: false,
            text: true,
        });
        r.push(rec(1), &[]);
        r.sync_before_guest_output();
        assert!(seen.lock().unwrap().is_empty(), "events were sent");
        r.text("strace line".into());
        r.sync_before_guest_output();
        assert_eq!(*seen.lock().unwrap(), ["1 []", "strace line"]);
        // Event lines on the guest's stream are written before it goes on.
        r.set_output_sharing(OutputSharing::ALL);
        r.push(rec(2), &[]);
        r.sync_before_guest_output();
        assert_eq!(seen.lock().unwrap().len(), 3);
        assert_eq!(w.finish(r).events_written, 2);
    }
}
