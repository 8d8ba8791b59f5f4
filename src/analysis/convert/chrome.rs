// SPDX-License-Identifier: GPL-2.0-or-later
//! Chrome trace event JSON (`--to chrome`): the trace read once, its
//! events gathered in batches that threads serialize ([`super::chrome_json`])
//! and written out in order.

use std::io::{self, Write};
use std::sync::Arc;

use super::chrome_json::{serialize_batch, Batch, Item, NameArgs, NameEvent, BATCH};
use super::{walk, ConvertError};
use crate::analysis::{Kind, RegionSpan, RegionSpec};
use crate::trace::file::{Event, TraceFile};

/// One track per guest thread and client, numbered from 1 in the order
/// they first appear: Perfetto's trace processor takes tid 0 for the
/// process's main thread (it shows that track under the pid). Each track
/// is named `thread T client C`; with one client per thread, as usual,
/// that is one track per guest thread.
#[derive(Default)]
struct Tracks {
    /// (thread, client) -> tid, sorted for lookup.
    ids: Vec<((u32, u32), u64)>,
}

impl Tracks {
    /// The track's tid, and whether it is new.
    fn tid(&mut self, thread: u32, client: u32) -> (u64, bool) {
        match self.ids.binary_search_by_key(&(thread, client), |e| e.0) {
            Ok(i) => (self.ids[i].1, false),
            Err(i) => {
                let tid = self.ids.len() as u64 + 1;
                self.ids.insert(i, ((thread, client), tid));
                (tid, true)
            }
        }
    }
}

/// A serialized batch: its number, its JSON, and the batch emptied for
/// reuse.
struct Serialized {
    seq: u64,
    json: Result<Vec<u8>, serde_json::Error>,
    batch: Batch,
}

/// A serializing thread: batches in, their JSON out, with their numbers.
/// Buffers come back through `spare` once written out: fresh memory for
/// each batch cost as much as the serializing, in page faults and the
/// kernel's zeroing of pages.
fn serialize_batches(
    work: crossbeam_channel::Receiver<(u64, Batch)>,
    done: crossbeam_channel::Sender<Serialized>,
    spare: crossbeam_channel::Receiver<Vec<u8>>,
    origin: u64,
) {
    let mut keys = Vec::new();
    for (seq, mut batch) in work {
        let buf = spare.try_recv().unwrap_or_default();
        let json = serialize_batch(&batch, origin, &mut keys, buf);
        batch.items.clear();
        batch.args.clear();
        if done.send(Serialized { seq, json, batch }).is_err() {
            break;
        }
    }
}

/// The trace's events in order, gathered in batches that serializing
/// threads turn into JSON, written out in order. serde_json spends more
/// per event than reading the trace does: the threads keep a large
/// conversion as fast as the reading.
struct Chrome<'o> {
    out: &'o mut dyn Write,
    batch: Batch,
    /// None once every batch is sent.
    work: Option<crossbeam_channel::Sender<(u64, Batch)>>,
    done: crossbeam_channel::Receiver<Serialized>,
    /// JSON buffers written out, for the threads to reuse.
    spare_json: crossbeam_channel::Sender<Vec<u8>>,
    /// Batches serialized, for reuse.
    spare_batches: Vec<Batch>,
    sent: u64,
    written: u64,
    /// Batches serialized ahead of one still in work.
    ready: std::collections::BTreeMap<u64, Vec<u8>>,
    /// The process of the file being read.
    pid: u32,
    tracks: Tracks,
    /// The file's region names by label index, shared with the items.
    names: Vec<Arc<str>>,
}

impl Chrome<'_> {
    fn push(&mut self, item: Item) -> Result<(), ConvertError> {
        self.batch.items.push(item);
        if self.batch.items.len() >= BATCH {
            self.dispatch()?;
        }
        Ok(())
    }

    /// Sends the batch to be serialized, and writes what is ready.
    fn dispatch(&mut self) -> Result<(), ConvertError> {
        if self.batch.items.is_empty() {
            return Ok(());
        }
        let next = self.spare_batches.pop().unwrap_or_default();
        let batch = std::mem::replace(&mut self.batch, next);
        let work = self.work.as_ref().expect("batches sent after the last");
        if work.send((self.sent, batch)).is_err() {
            return Err(stopped());
        }
        self.sent += 1;
        while let Ok(done) = self.done.try_recv() {
            self.write(done)?;
        }
        Ok(())
    }

    fn write(&mut self, done: Serialized) -> Result<(), ConvertError> {
        self.spare_batches.push(done.batch);
        let json = done.json?;
        self.ready.insert(done.seq, json);
        while let Some(json) = self.ready.remove(&self.written) {
            self.out.write_all(&json)?;
            self.written += 1;
            // Once the threads have ended, the buffer is dropped.
            let _ = self.spare_json.send(json);
        }
        Ok(())
    }

    /// Sends the last batch and writes every batch.
    fn finish(&mut self) -> Result<(), ConvertError> {
        self.dispatch()?;
        self.work = None;
        while self.written < self.sent {
            let done = self.done.recv().map_err(|_| stopped())?;
            self.write(done)?;
        }
        Ok(())
    }

    /// The tid of the track of `thread` and `client`, named when new.
    fn track(&mut self, thread: u32, client: u32) -> Result<u64, ConvertError> {
        let (tid, new) = self.tracks.tid(thread, client);
        if new {
            self.push(Item::Track {
                pid: self.pid,
                tid,
                thread,
                client,
            })?;
        }
        Ok(tid)
    }

    fn complete(
        &mut self,
        labels: &[String],
        span: &RegionSpan,
        close_index: Option<u64>,
    ) -> Result<(), ConvertError> {
        let tid = self.track(span.thread, span.client)?;
        while self.names.len() <= span.label {
            self.names.push(labels[self.names.len()].as_str().into());
        }
        self.push(Item::Region {
            pid: self.pid,
            tid,
            name: self.names[span.label].clone(),
            span: *span,
            close_index,
        })
    }

    fn instant(
        &mut self,
        ev: &Event<'_>,
        unmatched: bool,
        name: Option<String>,
    ) -> Result<(), ConvertError> {
        let tid = self.track(ev.thread, ev.client)?;
        let first = self.batch.args.len();
        self.batch.args.extend(ev.args());
        let args = first..self.batch.args.len();
        self.push(Item::Point {
            pid: ev.pid,
            tid,
            ts_ns: ev.ts_ns,
            client: ev.client,
            thread: ev.thread,
            record: ev.index,
            args,
            counts: ev.counts,
            unmatched,
            name,
            arg1: ev.arg1,
        })
    }
}

/// A serializing thread is gone (it panicked).
fn stopped() -> ConvertError {
    ConvertError::Io(io::Error::other("a serializing thread stopped"))
}

/// Chrome trace event JSON: regions as complete ("X") events, progress
/// points as instant ("i") events, one track per guest thread and client
/// (named `thread T client C`, tids from 1); times in
/// microseconds since the first event. Regions still open at the end run
/// to the last event and carry `"unclosed":true`.
pub fn chrome(
    file: &TraceFile,
    specs: &[RegionSpec],
    out: &mut dyn Write,
) -> Result<u64, ConvertError> {
    chrome_files(std::slice::from_ref(file), specs, out)
}

/// The trace's `otherData`: the first file's metadata, and the time
/// origin. Nanoseconds since boot or the epoch run to 19 digits, past
/// what a JavaScript number holds exactly (2^53): they are decimal
/// strings, and the wall-clock origin is also given as whole seconds
/// and nanoseconds (both exact as numbers) and as a UTC time.
fn chrome_other_data(info: &crate::trace::file::TraceInfo, origin: u64) -> serde_json::Value {
    let mut data: serde_json::Map<String, serde_json::Value> = info
        .metadata
        .iter()
        .map(|(k, _)| {
            let v = info.get(k).unwrap_or_default().replace('\0', " ");
            (k.clone(), v.into())
        })
        .collect();
    let wall = info.anchor.wall_ns(origin);
    data.insert("origin_monotonic_ns".into(), origin.to_string().into());
    data.insert("origin_wall_ns".into(), wall.to_string().into());
    data.insert("origin_wall_s".into(), (wall / 1_000_000_000).into());
    data.insert(
        "origin_wall_subsec_ns".into(),
        (wall % 1_000_000_000).into(),
    );
    data.insert(
        "origin_wall_utc".into(),
        crate::analysis::text::iso_utc(wall).into(),
    );
    data.into()
}

/// One Chrome trace of several traces: a process per file, on one time
/// axis (every file's timestamps are the host's CLOCK_MONOTONIC). The
/// events are serialized a batch at a time and written as they are
/// ready: the trace is never one JSON value in memory.
pub fn chrome_files(
    files: &[TraceFile],
    specs: &[RegionSpec],
    out: &mut dyn Write,
) -> Result<u64, ConvertError> {
    let Some(file) = files.first() else {
        return Ok(0);
    };
    let origin = files
        .iter()
        .map(|f| {
            f.span()
                .map_or(f.info.anchor.monotonic_ns, |(first, _)| first)
        })
        .min()
        .unwrap_or(file.info.anchor.monotonic_ns);
    let mut head = Vec::new();
    head.extend_from_slice(b"{\"displayTimeUnit\":\"ns\",\"otherData\":");
    serde_json::to_writer(&mut head, &chrome_other_data(&file.info, origin))?;
    head.extend_from_slice(b",\"traceEvents\":[\n");
    for (i, f) in files.iter().enumerate() {
        if i > 0 {
            head.extend_from_slice(b",\n");
        }
        let program = f.info.get("program").unwrap_or_else(|| "guest".to_string());
        serde_json::to_writer(
            &mut head,
            &NameEvent {
                ph: "M",
                name: "process_name",
                pid: f.info.pid,
                tid: 0,
                args: NameArgs {
                    name: format_args!("{program} (pid {})", f.info.pid),
                },
            },
        )?;
    }
    out.write_all(&head)?;

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let n = std::thread::scope(|scope| {
        let (work, work_rx) = crossbeam_channel::bounded(2 * threads);
        let (done_tx, done) = crossbeam_channel::unbounded();
        let (spare_json, spare_rx) = crossbeam_channel::unbounded();
        for _ in 0..threads {
            let (work_rx, done_tx) = (work_rx.clone(), done_tx.clone());
            let spare_rx = spare_rx.clone();
            scope.spawn(move || serialize_batches(work_rx, done_tx, spare_rx, origin));
        }
        // The threads hold the only senders: if they all stop, the
        // receiver sees it rather than waiting.
        drop(done_tx);
        let mut c = Chrome {
            out: &mut *out,
            batch: Batch::default(),
            work: Some(work),
            done,
            spare_json,
            spare_batches: Vec::new(),
            sent: 0,
            written: 0,
            ready: Default::default(),
            pid: file.info.pid,
            tracks: Tracks::default(),
            names: Vec::new(),
        };
        let mut n = 0;
        for f in files {
            c.pid = f.info.pid;
            c.tracks = Tracks::default();
            c.names.clear();
            n += chrome_events(f, specs, &mut c)?;
        }
        c.finish()?;
        Ok::<_, ConvertError>(n)
        // Leaving the scope drops the work channel's sender, if an error
        // left it open: the threads end.
    })?;
    out.write_all(b"\n]}\n")?;
    out.flush()?;
    Ok(n)
}

/// One file's events into the Chrome trace `c`.
fn chrome_events(
    file: &TraceFile,
    specs: &[RegionSpec],
    c: &mut Chrome<'_>,
) -> Result<u64, ConvertError> {
    let mut n = 0;
    walk(
        file,
        specs,
        c,
        |c, tracker, ev, kind| {
            let Some(kind) = kind else {
                return Ok(());
            };
            n += 1;
            // Every event's track is named, even one with nothing drawn on it
            // (the open of a region that closes later).
            c.track(ev.thread, ev.client)?;
            match kind {
                Kind::Close(span) | Kind::CloseOpen(span, _) => {
                    c.complete(&tracker.labels, &span, Some(ev.index))
                }
                Kind::Open(_) => Ok(()),
                Kind::Progress(_) => c.instant(ev, false, tracker.point_name(ev)),
                Kind::UnmatchedClose => c.instant(ev, true, None),
            }
        },
        |c, tracker, span| c.complete(&tracker.labels, &span, None),
    )?;
    Ok(n)
}
