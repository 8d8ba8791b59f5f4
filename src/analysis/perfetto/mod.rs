// SPDX-License-Identifier: GPL-2.0-or-later
//! `ht-trace convert --to perfetto`: a binary trace as a Perfetto trace
//! (the `Trace` protobuf message of Perfetto's trace protos), in the
//! TrackEvent model that Perfetto's UI and trace processor read natively.
//!
//! Layout, one packet sequence (id [`SEQUENCE`]) for the whole output:
//!
//! 1. a clock snapshot: the first trace's anchor (CLOCK_MONOTONIC and
//!    CLOCK_REALTIME read together), with CLOCK_MONOTONIC as the trace's
//!    primary clock, so the trace processor keeps the recorded times as
//!    they are and can still show wall-clock time;
//! 2. the packet that clears the sequence's incremental state: its
//!    defaults (timestamps in CLOCK_MONOTONIC) and the interned event
//!    categories and debug annotation names;
//! 3. per trace file (a forked run's FILE, FILE.PID...): a process track
//!    (pid, program and arguments), then as threads and clients appear a
//!    thread track per guest thread and a child track per further client
//!    of a thread (a thread's first client shares the thread's track);
//! 4. the events, in record order: a region is a slice begun at its open
//!    and ended at its close (a region left open ends at the last event,
//!    marked `unclosed`); progress points and unmatched closes are
//!    instants; a system call is a slice from entry to return; a block
//!    (`guest_exec_tb`) and a memory access are instants. Names are
//!    interned: the first packet that uses a name carries it.
//!
//! The trace processor ends a track's innermost open slice, whatever name
//! the end carries (ours carry theirs, for other readers): slices on one
//! track must nest. Regions of one client do, and system calls sit
//! between a thread's stores; what does not nest is keyed regions closed
//! out of order (`--region a=1:0/arg2` with interleaved keys), which the
//! trace processor pairs wrong, and a region opened by one thread and
//! closed by another while the first is in a system call. A call that
//! never returns ends at its thread's last record, so that a region left
//! open (ending at the file's last event) still encloses it.
//!
//! The output streams: packets go out a buffer at a time, and what is
//! kept is the interning tables and each thread's system call in
//! progress.

use std::collections::HashMap;
use std::io::Write;

use super::convert::{walk, ConvertError};
use super::protobuf::{begin, end, put_int, put_str, put_uint};
use super::{Kind, RegionSpan, RegionSpec, Tracker};
use crate::trace::file::{Event, EventKind, TraceFile, EXEC_TB_INSNS_KEY};

/// Field numbers and values of Perfetto's trace protos (protos/perfetto/
/// trace/: trace.proto, trace_packet.proto, track_event/*.proto,
/// interned_data/interned_data.proto, clock_snapshot.proto).
pub mod proto {
    /// `Trace.packet`.
    pub const TRACE_PACKET: u32 = 1;

    /// `TracePacket` fields.
    pub mod packet {
        pub const CLOCK_SNAPSHOT: u32 = 6;
        pub const TIMESTAMP: u32 = 8;
        pub const TRUSTED_PACKET_SEQUENCE_ID: u32 = 10;
        pub const TRACK_EVENT: u32 = 11;
        pub const INTERNED_DATA: u32 = 12;
        pub const SEQUENCE_FLAGS: u32 = 13;
        pub const TRACE_PACKET_DEFAULTS: u32 = 59;
        pub const TRACK_DESCRIPTOR: u32 = 60;
        pub const FIRST_PACKET_ON_SEQUENCE: u32 = 87;
        /// `SequenceFlags`.
        pub const SEQ_INCREMENTAL_STATE_CLEARED: u64 = 1;
        pub const SEQ_NEEDS_INCREMENTAL_STATE: u64 = 2;
    }

    /// `TracePacketDefaults.timestamp_clock_id`.
    pub const DEFAULTS_TIMESTAMP_CLOCK_ID: u32 = 58;

    /// `ClockSnapshot` and its `Clock`; `BuiltinClock` values.
    pub mod clock {
        pub const CLOCKS: u32 = 1;
        pub const PRIMARY_TRACE_CLOCK: u32 = 2;
        pub const CLOCK_ID: u32 = 1;
        pub const TIMESTAMP: u32 = 2;
        pub const REALTIME: u64 = 1;
        pub const MONOTONIC: u64 = 3;
    }

    /// `TrackDescriptor`, `ProcessDescriptor`, `ThreadDescriptor`.
    pub mod track {
        pub const UUID: u32 = 1;
        pub const NAME: u32 = 2;
        pub const PROCESS: u32 = 3;
        pub const THREAD: u32 = 4;
        pub const PARENT_UUID: u32 = 5;
        pub const PROCESS_PID: u32 = 1;
        pub const PROCESS_CMDLINE: u32 = 2;
        pub const PROCESS_NAME: u32 = 6;
        pub const THREAD_PID: u32 = 1;
        pub const THREAD_TID: u32 = 2;
        pub const THREAD_NAME: u32 = 5;
    }

    /// `TrackEvent` fields and `TrackEvent.Type` values.
    pub mod event {
        pub const CATEGORY_IIDS: u32 = 3;
        pub const DEBUG_ANNOTATIONS: u32 = 4;
        pub const TYPE: u32 = 9;
        pub const NAME_IID: u32 = 10;
        pub const TRACK_UUID: u32 = 11;
        pub const NAME: u32 = 23;
        pub const SLICE_BEGIN: u64 = 1;
        pub const SLICE_END: u64 = 2;
        pub const INSTANT: u64 = 3;
    }

    /// `DebugAnnotation` fields.
    pub mod annotation {
        pub const NAME_IID: u32 = 1;
        pub const BOOL_VALUE: u32 = 2;
        pub const UINT_VALUE: u32 = 3;
        pub const INT_VALUE: u32 = 4;
        pub const POINTER_VALUE: u32 = 7;
    }

    /// `InternedData` fields; every entry kind used is an `iid = 1`,
    /// `name = 2` pair (EventCategory, EventName, DebugAnnotationName).
    pub mod interned {
        pub const EVENT_CATEGORIES: u32 = 1;
        pub const EVENT_NAMES: u32 = 2;
        pub const DEBUG_ANNOTATION_NAMES: u32 = 3;
        pub const IID: u32 = 1;
        pub const NAME: u32 = 2;
    }
}

use proto::{annotation as ann, event as te, interned, packet, track};

/// The packet sequence every packet belongs to.
pub const SEQUENCE: u64 = 1;

/// Output is gathered in a buffer of this size between writes.
const CHUNK: usize = 1 << 20;

/// Event names interned at most; past that (progress points named by
/// arg1 values that never repeat) names go inline, so memory stays
/// bounded.
const MAX_INTERNED: usize = 1 << 16;

/// Event categories, interned as their index + 1.
const CATEGORIES: [&str; 6] = [
    "region",
    "progress",
    "unmatched close",
    "syscall",
    "block",
    "memory",
];

#[derive(Clone, Copy)]
enum Cat {
    Region = 1,
    Progress,
    Unmatched,
    Syscall,
    Block,
    Memory,
}

/// Debug annotation names, interned as their index + 1; `argK` are
/// interned as [`ARG_IID`] + K when first used.
const ANNOTATIONS: [&str; 16] = [
    "client",
    "thread",
    "record",
    "open_record",
    "close_record",
    "duration_ns",
    "unclosed",
    "insns",
    "blocks",
    "nr",
    "ret",
    "no_return",
    "pc",
    "size",
    "address",
    "value",
];

#[derive(Clone, Copy)]
enum Ann {
    Client = 1,
    Thread,
    Record,
    OpenRecord,
    CloseRecord,
    DurationNs,
    Unclosed,
    Insns,
    Blocks,
    Nr,
    Ret,
    NoReturn,
    Pc,
    Size,
    Address,
    Value,
}

/// Interned ids of `argK` annotation names start past this.
const ARG_IID: u64 = 1000;

/// An event's name: interned, or inline once the table is full.
enum Name {
    Iid(u64),
    Inline(String),
}

/// A debug annotation's value.
#[derive(Clone, Copy)]
enum Val {
    Uint(u64),
    Int(i64),
    Bool(bool),
    Pointer(u64),
}

/// The packet writer: the output buffer and the sequence's interning.
struct Writer<'o> {
    buf: Vec<u8>,
    out: &'o mut dyn Write,
    names: HashMap<String, u64>,
    /// Names and `argK` annotation names interned since the last packet
    /// that carried interned data.
    new_names: Vec<(u64, String)>,
    new_args: Vec<u64>,
    /// `argK` annotation names interned, by K.
    args_seen: Vec<bool>,
    /// The last uuid given to a track.
    uuids: u64,
    /// The last tid given to a thread.
    tids: u64,
    events: u64,
}

impl<'o> Writer<'o> {
    fn new(out: &'o mut dyn Write) -> Self {
        Writer {
            buf: Vec::with_capacity(CHUNK + 4096),
            out,
            names: HashMap::new(),
            new_names: Vec::new(),
            new_args: Vec::new(),
            args_seen: Vec::new(),
            uuids: 0,
            tids: 0,
            events: 0,
        }
    }

    fn spill(&mut self) -> Result<(), ConvertError> {
        if self.buf.len() >= CHUNK {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    fn finish(self) -> Result<u64, ConvertError> {
        self.out.write_all(&self.buf)?;
        self.out.flush()?;
        Ok(self.events)
    }

    /// The clock snapshot and the packet that starts the sequence.
    fn start(&mut self, monotonic_ns: u64, realtime_ns: u64) -> Result<(), ConvertError> {
        let b = &mut self.buf;
        let p = begin(b, proto::TRACE_PACKET);
        put_uint(b, packet::TRUSTED_PACKET_SEQUENCE_ID, SEQUENCE);
        let snap = begin(b, packet::CLOCK_SNAPSHOT);
        for (id, ts) in [
            (proto::clock::MONOTONIC, monotonic_ns),
            (proto::clock::REALTIME, realtime_ns),
        ] {
            let c = begin(b, proto::clock::CLOCKS);
            put_uint(b, proto::clock::CLOCK_ID, id);
            put_uint(b, proto::clock::TIMESTAMP, ts);
            end(b, c);
        }
        put_uint(
            b,
            proto::clock::PRIMARY_TRACE_CLOCK,
            proto::clock::MONOTONIC,
        );
        end(b, snap);
        end(b, p);

        let p = begin(b, proto::TRACE_PACKET);
        put_uint(b, packet::TRUSTED_PACKET_SEQUENCE_ID, SEQUENCE);
        put_uint(
            b,
            packet::SEQUENCE_FLAGS,
            packet::SEQ_INCREMENTAL_STATE_CLEARED,
        );
        put_uint(b, packet::FIRST_PACKET_ON_SEQUENCE, 1);
        let d = begin(b, packet::TRACE_PACKET_DEFAULTS);
        put_uint(
            b,
            proto::DEFAULTS_TIMESTAMP_CLOCK_ID,
            proto::clock::MONOTONIC,
        );
        end(b, d);
        let i = begin(b, packet::INTERNED_DATA);
        for (field, table) in [
            (interned::EVENT_CATEGORIES, &CATEGORIES[..]),
            (interned::DEBUG_ANNOTATION_NAMES, &ANNOTATIONS[..]),
        ] {
            for (k, name) in table.iter().enumerate() {
                let e = begin(b, field);
                put_uint(b, interned::IID, k as u64 + 1);
                put_str(b, interned::NAME, name);
                end(b, e);
            }
        }
        end(b, i);
        end(b, p);
        Ok(())
    }

    fn uuid(&mut self) -> u64 {
        self.uuids += 1;
        self.uuids
    }

    /// A track descriptor packet; `fill` writes the descriptor's fields
    /// after its uuid.
    fn track(&mut self, uuid: u64, fill: impl FnOnce(&mut Vec<u8>)) -> Result<(), ConvertError> {
        let b = &mut self.buf;
        let p = begin(b, proto::TRACE_PACKET);
        put_uint(b, packet::TRUSTED_PACKET_SEQUENCE_ID, SEQUENCE);
        let d = begin(b, packet::TRACK_DESCRIPTOR);
        put_uint(b, track::UUID, uuid);
        fill(b);
        end(b, d);
        end(b, p);
        self.spill()
    }

    /// `name` interned (announced in the next event packet), or inline
    /// once the table is full.
    fn name(&mut self, name: &str) -> Name {
        if let Some(&iid) = self.names.get(name) {
            return Name::Iid(iid);
        }
        if self.names.len() >= MAX_INTERNED {
            return Name::Inline(name.to_string());
        }
        let iid = self.names.len() as u64 + 1;
        self.names.insert(name.to_string(), iid);
        self.new_names.push((iid, name.to_string()));
        Name::Iid(iid)
    }

    /// The annotation name id of `argK`, interned on first use.
    fn arg(&mut self, k: usize) -> u64 {
        if self.args_seen.len() <= k {
            self.args_seen.resize(k + 1, false);
        }
        if !self.args_seen[k] {
            self.args_seen[k] = true;
            self.new_args.push(k as u64);
        }
        ARG_IID + k as u64
    }

    /// One track event packet; `annotations` are (name iid, value) pairs.
    fn event(
        &mut self,
        ts: u64,
        track_uuid: u64,
        ty: u64,
        cat: Cat,
        name: &Name,
        annotations: &[(u64, Val)],
    ) -> Result<(), ConvertError> {
        let b = &mut self.buf;
        let p = begin(b, proto::TRACE_PACKET);
        put_uint(b, packet::TIMESTAMP, ts);
        put_uint(b, packet::TRUSTED_PACKET_SEQUENCE_ID, SEQUENCE);
        put_uint(
            b,
            packet::SEQUENCE_FLAGS,
            packet::SEQ_NEEDS_INCREMENTAL_STATE,
        );
        if !self.new_names.is_empty() || !self.new_args.is_empty() {
            let i = begin(b, packet::INTERNED_DATA);
            for (iid, name) in self.new_names.drain(..) {
                let e = begin(b, interned::EVENT_NAMES);
                put_uint(b, interned::IID, iid);
                put_str(b, interned::NAME, &name);
                end(b, e);
            }
            for k in self.new_args.drain(..) {
                let e = begin(b, interned::DEBUG_ANNOTATION_NAMES);
                put_uint(b, interned::IID, ARG_IID + k);
                put_str(b, interned::NAME, &format!("arg{k}"));
                end(b, e);
            }
            end(b, i);
        }
        let e = begin(b, packet::TRACK_EVENT);
        put_uint(b, te::TYPE, ty);
        put_uint(b, te::TRACK_UUID, track_uuid);
        put_uint(b, te::CATEGORY_IIDS, cat as u64);
        match name {
            Name::Iid(iid) => put_uint(b, te::NAME_IID, *iid),
            Name::Inline(s) => put_str(b, te::NAME, s),
        }
        for &(name, v) in annotations {
            let a = begin(b, te::DEBUG_ANNOTATIONS);
            put_uint(b, ann::NAME_IID, name);
            match v {
                Val::Uint(v) => put_uint(b, ann::UINT_VALUE, v),
                Val::Int(v) => put_int(b, ann::INT_VALUE, v),
                Val::Bool(v) => put_uint(b, ann::BOOL_VALUE, v as u64),
                Val::Pointer(v) => put_uint(b, ann::POINTER_VALUE, v),
            }
            end(b, a);
        }
        end(b, e);
        end(b, p);
        self.spill()
    }
}

/// A guest thread's tracks in one file.
struct Thread {
    uuid: u64,
    /// The client whose events share the thread's track.
    first_client: Option<u32>,
    /// Other clients' child tracks.
    clients: Vec<(u32, u64)>,
    /// The system call in progress: its number and name.
    call: Option<(u64, Name)>,
    /// The time of the thread's last record.
    last_ns: u64,
}

/// One file's state while its records go out.
struct FileState<'a, 'o> {
    w: Writer<'o>,
    file: &'a TraceFile,
    process_uuid: u64,
    threads: HashMap<u32, Thread>,
    /// The last (thread, client) looked up and its track: records come
    /// in runs of one thread, so most lookups end here.
    last_track: Option<(u32, u32, u64)>,
    /// Region names by label index.
    labels: Vec<Option<u64>>,
    /// Unnamed progress points' names (`arg1=V`), by V.
    points: HashMap<u64, u64>,
    syscalls: HashMap<u64, Option<u64>>,
    names: &'a dyn Fn(&TraceFile, u64) -> Option<String>,
    exec_tb_insns: bool,
    /// Scratch for an event's annotations.
    anns: Vec<(u64, Val)>,
}

impl FileState<'_, '_> {
    /// The uuid of `thread`'s track, described on first use.
    fn thread(&mut self, thread: u32) -> Result<u64, ConvertError> {
        if let Some(t) = self.threads.get(&thread) {
            return Ok(t.uuid);
        }
        let uuid = self.w.uuid();
        self.w.tids += 1;
        let tid = self.w.tids;
        let (pid, parent) = (self.file.info.pid, self.process_uuid);
        self.w.track(uuid, |b| {
            put_uint(b, track::PARENT_UUID, parent);
            let t = begin(b, track::THREAD);
            put_uint(b, track::THREAD_PID, u64::from(pid));
            put_uint(b, track::THREAD_TID, tid);
            put_str(b, track::THREAD_NAME, &format!("thread {thread}"));
            end(b, t);
        })?;
        self.threads.insert(
            thread,
            Thread {
                uuid,
                first_client: None,
                clients: Vec::new(),
                call: None,
                last_ns: 0,
            },
        );
        Ok(uuid)
    }

    /// The uuid of the track of `thread`'s hypertrace events on `client`.
    fn client_track(&mut self, thread: u32, client: u32) -> Result<u64, ConvertError> {
        match self.last_track {
            Some((t, c, uuid)) if (t, c) == (thread, client) => return Ok(uuid),
            _ => {}
        }
        let uuid = self.find_client_track(thread, client)?;
        self.last_track = Some((thread, client, uuid));
        Ok(uuid)
    }

    fn find_client_track(&mut self, thread: u32, client: u32) -> Result<u64, ConvertError> {
        let uuid = self.thread(thread)?;
        let t = self.threads.get_mut(&thread).expect("described above");
        match t.first_client {
            None => {
                t.first_client = Some(client);
                return Ok(uuid);
            }
            Some(c) if c == client => return Ok(uuid),
            Some(_) => {}
        }
        if let Some(&(_, child)) = t.clients.iter().find(|(c, _)| *c == client) {
            return Ok(child);
        }
        let child = self.w.uuid();
        t.clients.push((client, child));
        self.w.track(child, |b| {
            put_uint(b, track::PARENT_UUID, uuid);
            put_str(b, track::NAME, &format!("client {client}"));
        })?;
        Ok(child)
    }

    fn label(&mut self, tracker: &Tracker, label: usize) -> Name {
        if self.labels.len() <= label {
            self.labels.resize(label + 1, None);
        }
        if let Some(iid) = self.labels[label] {
            return Name::Iid(iid);
        }
        let name = self.w.name(&tracker.labels[label]);
        if let Name::Iid(iid) = name {
            self.labels[label] = Some(iid);
        }
        name
    }

    /// A progress point's or unmatched close's name.
    fn point(&mut self, tracker: &Tracker, ev: &Event<'_>) -> Name {
        if let Some(name) = tracker.point_name(ev) {
            return self.w.name(&name);
        }
        self.value_name(ev.arg1)
    }

    /// `arg1=V`: an unnamed progress point's or unmatched close's name.
    fn value_name(&mut self, arg1: u64) -> Name {
        if let Some(&iid) = self.points.get(&arg1) {
            return Name::Iid(iid);
        }
        let text = format!("arg1={arg1}");
        // Every `arg1=V` interned is in `points`: past the table's limit
        // a new value goes inline without looking for it there.
        if self.w.names.len() >= MAX_INTERNED {
            return Name::Inline(text);
        }
        let name = self.w.name(&text);
        if let Name::Iid(iid) = name {
            self.points.insert(arg1, iid);
        }
        name
    }

    fn syscall(&mut self, nr: u64) -> Name {
        if let Some(&Some(iid)) = self.syscalls.get(&nr) {
            return Name::Iid(iid);
        }
        let text = (self.names)(self.file, nr).unwrap_or_else(|| format!("syscall {nr}"));
        let name = self.w.name(&text);
        self.syscalls.insert(
            nr,
            match name {
                Name::Iid(iid) => Some(iid),
                Name::Inline(_) => None,
            },
        );
        name
    }

    /// Writes an event with the annotations gathered in `self.anns`.
    fn emit(
        &mut self,
        ts: u64,
        track_uuid: u64,
        ty: u64,
        cat: Cat,
        name: &Name,
    ) -> Result<(), ConvertError> {
        let anns = std::mem::take(&mut self.anns);
        let r = self.w.event(ts, track_uuid, ty, cat, name, &anns);
        self.anns = anns;
        self.anns.clear();
        r
    }

    fn region_begin(
        &mut self,
        tracker: &Tracker,
        ev: &Event<'_>,
        label: usize,
    ) -> Result<(), ConvertError> {
        let track_uuid = self.client_track(ev.thread, ev.client)?;
        let name = self.label(tracker, label);
        self.anns.extend([
            (Ann::Client as u64, Val::Uint(u64::from(ev.client))),
            (Ann::Thread as u64, Val::Uint(u64::from(ev.thread))),
            (Ann::OpenRecord as u64, Val::Uint(ev.index)),
        ]);
        self.emit(ev.ts_ns, track_uuid, te::SLICE_BEGIN, Cat::Region, &name)
    }

    /// Ends `span`'s slice; `close` is the closing record, None for a
    /// region left open.
    fn region_end(
        &mut self,
        tracker: &Tracker,
        span: &RegionSpan,
        close: Option<u64>,
    ) -> Result<(), ConvertError> {
        let track_uuid = self.client_track(span.thread, span.client)?;
        let name = self.label(tracker, span.label);
        self.anns
            .push((Ann::DurationNs as u64, Val::Uint(span.duration_ns())));
        match close {
            Some(i) => self.anns.push((Ann::CloseRecord as u64, Val::Uint(i))),
            None => self.anns.push((Ann::Unclosed as u64, Val::Bool(true))),
        }
        if let Some(c) = span.counts {
            self.anns.extend([
                (Ann::Insns as u64, Val::Uint(c.insns)),
                (Ann::Blocks as u64, Val::Uint(c.blocks)),
            ]);
        }
        self.emit(span.end_ns, track_uuid, te::SLICE_END, Cat::Region, &name)
    }

    fn instant(&mut self, tracker: &Tracker, ev: &Event<'_>, cat: Cat) -> Result<(), ConvertError> {
        let track_uuid = self.client_track(ev.thread, ev.client)?;
        let name = match cat {
            // Unmatched closes are named by their value, as the Chrome
            // conversion names them.
            Cat::Unmatched => self.value_name(ev.arg1),
            _ => self.point(tracker, ev),
        };
        self.anns.extend([
            (Ann::Client as u64, Val::Uint(u64::from(ev.client))),
            (Ann::Thread as u64, Val::Uint(u64::from(ev.thread))),
            (Ann::Record as u64, Val::Uint(ev.index)),
        ]);
        // Only the file's own arguments: fixed records sized for other
        // kinds are zero-padded.
        for (k, v) in ev.args().take(self.file.extra_args()).enumerate() {
            let iid = self.w.arg(k + 2);
            self.anns.push((iid, Val::Uint(v)));
        }
        if let Some(c) = ev.counts {
            self.anns.extend([
                (Ann::Insns as u64, Val::Uint(c.insns)),
                (Ann::Blocks as u64, Val::Uint(c.blocks)),
            ]);
        }
        self.emit(ev.ts_ns, track_uuid, te::INSTANT, cat, &name)
    }

    /// Ends `thread`'s system call in progress, its return not seen, at
    /// the thread's last record before now: the trace shows nothing of
    /// the call past that. (Not later: a region of the thread left open
    /// ends at the file's last event and must not end inside the call,
    /// where the trace processor would end the call instead.)
    fn abandon_call(&mut self, thread: u32) -> Result<(), ConvertError> {
        let Some(t) = self.threads.get_mut(&thread) else {
            return Ok(());
        };
        let (uuid, ts, call) = (t.uuid, t.last_ns, t.call.take());
        if let Some((_, name)) = call {
            self.anns.push((Ann::NoReturn as u64, Val::Bool(true)));
            self.emit(ts, uuid, te::SLICE_END, Cat::Syscall, &name)?;
        }
        Ok(())
    }

    fn record(
        &mut self,
        tracker: &Tracker,
        ev: &Event<'_>,
        kind: Option<Kind>,
    ) -> Result<(), ConvertError> {
        self.event(tracker, ev, kind)?;
        if let Some(t) = self.threads.get_mut(&ev.thread) {
            t.last_ns = t.last_ns.max(ev.ts_ns);
        }
        Ok(())
    }

    fn event(
        &mut self,
        tracker: &Tracker,
        ev: &Event<'_>,
        kind: Option<Kind>,
    ) -> Result<(), ConvertError> {
        match ev.kind {
            EventKind::Hypertrace => {
                // Module records and the like are no events (None).
                let Some(kind) = kind else { return Ok(()) };
                self.w.events += 1;
                match kind {
                    Kind::Open(label) => self.region_begin(tracker, ev, label),
                    Kind::Close(span) => self.region_end(tracker, &span, Some(ev.index)),
                    Kind::CloseOpen(span, label) => {
                        self.region_end(tracker, &span, Some(ev.index))?;
                        self.region_begin(tracker, ev, label)
                    }
                    Kind::Progress(_) => self.instant(tracker, ev, Cat::Progress),
                    Kind::UnmatchedClose => self.instant(tracker, ev, Cat::Unmatched),
                }
            }
            EventKind::Syscall => {
                self.w.events += 1;
                let uuid = self.thread(ev.thread)?;
                // A call whose return never came (the trace lost it)
                // ends before the next begins, so every slice ends.
                self.abandon_call(ev.thread)?;
                let nr = u64::from(ev.client);
                let name = self.syscall(nr);
                self.anns.push((Ann::Nr as u64, Val::Uint(nr)));
                let first = self.w.arg(1);
                self.anns.push((first, Val::Uint(ev.arg1)));
                for (k, v) in ev.args().take(5).enumerate() {
                    let iid = self.w.arg(k + 2);
                    self.anns.push((iid, Val::Uint(v)));
                }
                self.emit(ev.ts_ns, uuid, te::SLICE_BEGIN, Cat::Syscall, &name)?;
                if let Some(t) = self.threads.get_mut(&ev.thread) {
                    t.call = Some((nr, name));
                }
                Ok(())
            }
            EventKind::SyscallRet => {
                self.w.events += 1;
                let uuid = self.thread(ev.thread)?;
                let nr = u64::from(ev.client);
                let call = self
                    .threads
                    .get_mut(&ev.thread)
                    .and_then(|t| t.call.take_if(|(n, _)| *n == nr));
                // The result is two's complement: -errno reads as such.
                let ret = (Ann::Ret as u64, Val::Int(ev.arg1 as i64));
                match call {
                    Some((_, name)) => {
                        self.anns.push(ret);
                        self.emit(ev.ts_ns, uuid, te::SLICE_END, Cat::Syscall, &name)
                    }
                    None => {
                        // A return without its entry (another call's in
                        // progress, or none): an instant.
                        self.abandon_call(ev.thread)?;
                        self.anns.extend([ret, (Ann::Nr as u64, Val::Uint(nr))]);
                        let name = self.syscall(nr);
                        self.emit(ev.ts_ns, uuid, te::INSTANT, Cat::Syscall, &name)
                    }
                }
            }
            EventKind::ExecTb => {
                self.w.events += 1;
                let uuid = self.thread(ev.thread)?;
                self.anns.extend([
                    (Ann::Pc as u64, Val::Pointer(ev.arg1)),
                    (Ann::Size as u64, Val::Uint(u64::from(ev.client & 0xffff))),
                ]);
                if self.exec_tb_insns {
                    self.anns
                        .push((Ann::Insns as u64, Val::Uint(u64::from(ev.client >> 16))));
                }
                let name = self.w.name("block");
                self.emit(ev.ts_ns, uuid, te::INSTANT, Cat::Block, &name)
            }
            EventKind::MemAccess => {
                self.w.events += 1;
                let uuid = self.thread(ev.thread)?;
                let store = ev.client & 0x10 != 0;
                let mut words = ev.args();
                let pc = words.next().unwrap_or(0);
                self.anns.extend([
                    (Ann::Address as u64, Val::Pointer(ev.arg1)),
                    (Ann::Pc as u64, Val::Pointer(pc)),
                    (Ann::Size as u64, Val::Uint(1 << (ev.client & 3))),
                ]);
                if store {
                    self.anns
                        .push((Ann::Value as u64, Val::Uint(words.next().unwrap_or(0))));
                }
                let name = self.w.name(if store { "store" } else { "load" });
                self.emit(ev.ts_ns, uuid, te::INSTANT, Cat::Memory, &name)
            }
            // The string table: its names are the regions' and points'.
            EventKind::HypertraceName => Ok(()),
        }
    }
}

/// Writes `files` (one run's traces: a forked run's FILE and FILE.PID) as
/// one Perfetto trace on `out`, a process per file (see the module's
/// documentation for the layout). Regions are found with `specs`, as the
/// other conversions find them; `syscall_name` names a system call number
/// of a trace's guest architecture (analysis sits below the
/// architectures; `|_, _| None` names calls `syscall N`). Returns the
/// number of records that became events.
pub fn write(
    files: &[TraceFile],
    specs: &[RegionSpec],
    syscall_name: &dyn Fn(&TraceFile, u64) -> Option<String>,
    out: &mut dyn Write,
) -> Result<u64, ConvertError> {
    let mut w = Writer::new(out);
    let (monotonic_ns, realtime_ns) = files.first().map_or((0, 0), |f| {
        (f.info.anchor.monotonic_ns, f.info.anchor.realtime_ns)
    });
    w.start(monotonic_ns, realtime_ns)?;
    for file in files {
        let info = &file.info;
        let process_uuid = w.uuid();
        let program = info.get("program").unwrap_or_else(|| "guest".to_string());
        let argv = info.get("argv").unwrap_or_default();
        w.track(process_uuid, |b| {
            let p = begin(b, track::PROCESS);
            put_uint(b, track::PROCESS_PID, u64::from(info.pid));
            if !argv.is_empty() {
                for arg in argv.split('\0') {
                    put_str(b, track::PROCESS_CMDLINE, arg);
                }
            }
            put_str(
                b,
                track::PROCESS_NAME,
                &format!("{program} (pid {})", info.pid),
            );
            end(b, p);
        })?;
        let mut st = FileState {
            w,
            file,
            process_uuid,
            threads: HashMap::new(),
            last_track: None,
            labels: Vec::new(),
            points: HashMap::new(),
            syscalls: HashMap::new(),
            names: syscall_name,
            exec_tb_insns: info.get(EXEC_TB_INSNS_KEY).is_some(),
            anns: Vec::new(),
        };
        walk(
            file,
            specs,
            &mut st,
            |st, tracker, ev, kind| st.record(tracker, ev, kind),
            |st, tracker, span| st.region_end(tracker, &span, None),
        )?;
        // Calls still in progress at the end (exit, exit_group).
        let mut open: Vec<u32> = st
            .threads
            .iter()
            .filter(|(_, t)| t.call.is_some())
            .map(|(&k, _)| k)
            .collect();
        open.sort_unstable();
        for thread in open {
            st.abandon_call(thread)?;
        }
        w = st.w;
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::protobuf::{fields, Value};
    use crate::trace::file::{ClockAnchor, TraceBuilder, TraceInfo};
    use crate::trace::EventSet;
    use std::path::Path;

    /// A packet, decoded as far as the tests look.
    #[derive(Debug, Default)]
    struct Packet {
        ts: Option<u64>,
        seq: Option<u64>,
        flags: u64,
        clocks: Vec<(u64, u64)>,
        primary_clock: Option<u64>,
        default_clock: Option<u64>,
        /// Interned (field, iid, name): categories, names, annotation names.
        interned: Vec<(u32, u64, String)>,
        event: Option<TrackEvent>,
        track: Option<Descriptor>,
    }

    #[derive(Debug, Default)]
    struct TrackEvent {
        ty: u64,
        track: u64,
        cat: u64,
        name_iid: Option<u64>,
        name: Option<String>,
        /// (name iid, field, value).
        anns: Vec<(u64, u32, u64)>,
    }

    #[derive(Debug, Default)]
    struct Descriptor {
        uuid: u64,
        parent: Option<u64>,
        name: Option<String>,
        pid: Option<u64>,
        tid: Option<u64>,
        title: Option<String>,
        cmdline: Vec<String>,
    }

    fn msg(bytes: &[u8]) -> Vec<(u32, Value<'_>)> {
        fields(bytes).map(Result::unwrap).collect()
    }

    fn text(v: Value<'_>) -> String {
        String::from_utf8(v.bytes().unwrap().to_vec()).unwrap()
    }

    fn decode(trace: &[u8]) -> Vec<Packet> {
        let mut packets = Vec::new();
        for (field, v) in msg(trace) {
            assert_eq!(field, proto::TRACE_PACKET);
            let mut p = Packet::default();
            for (f, v) in msg(v.bytes().unwrap()) {
                match f {
                    packet::TIMESTAMP => p.ts = v.uint(),
                    packet::TRUSTED_PACKET_SEQUENCE_ID => p.seq = v.uint(),
                    packet::SEQUENCE_FLAGS => p.flags = v.uint().unwrap(),
                    packet::CLOCK_SNAPSHOT => {
                        for (f, v) in msg(v.bytes().unwrap()) {
                            match f {
                                proto::clock::CLOCKS => {
                                    let c = msg(v.bytes().unwrap());
                                    p.clocks
                                        .push((c[0].1.uint().unwrap(), c[1].1.uint().unwrap()));
                                }
                                proto::clock::PRIMARY_TRACE_CLOCK => p.primary_clock = v.uint(),
                                _ => panic!("clock field {f}"),
                            }
                        }
                    }
                    packet::TRACE_PACKET_DEFAULTS => {
                        let d = msg(v.bytes().unwrap());
                        assert_eq!(d[0].0, proto::DEFAULTS_TIMESTAMP_CLOCK_ID);
                        p.default_clock = d[0].1.uint();
                    }
                    packet::INTERNED_DATA => {
                        for (f, v) in msg(v.bytes().unwrap()) {
                            let e = msg(v.bytes().unwrap());
                            assert_eq!((e[0].0, e[1].0), (interned::IID, interned::NAME));
                            p.interned.push((f, e[0].1.uint().unwrap(), text(e[1].1)));
                        }
                    }
                    packet::TRACK_EVENT => {
                        let mut e = TrackEvent::default();
                        for (f, v) in msg(v.bytes().unwrap()) {
                            match f {
                                te::TYPE => e.ty = v.uint().unwrap(),
                                te::TRACK_UUID => e.track = v.uint().unwrap(),
                                te::CATEGORY_IIDS => e.cat = v.uint().unwrap(),
                                te::NAME_IID => e.name_iid = v.uint(),
                                te::NAME => e.name = Some(text(v)),
                                te::DEBUG_ANNOTATIONS => {
                                    let a = msg(v.bytes().unwrap());
                                    assert_eq!(a[0].0, ann::NAME_IID);
                                    e.anns.push((
                                        a[0].1.uint().unwrap(),
                                        a[1].0,
                                        a[1].1.uint().unwrap(),
                                    ));
                                }
                                _ => panic!("track event field {f}"),
                            }
                        }
                        p.event = Some(e);
                    }
                    packet::TRACK_DESCRIPTOR => {
                        let mut d = Descriptor::default();
                        for (f, v) in msg(v.bytes().unwrap()) {
                            match f {
                                track::UUID => d.uuid = v.uint().unwrap(),
                                track::PARENT_UUID => d.parent = v.uint(),
                                track::NAME => d.name = Some(text(v)),
                                track::PROCESS => {
                                    for (f, v) in msg(v.bytes().unwrap()) {
                                        match f {
                                            track::PROCESS_PID => d.pid = v.uint(),
                                            track::PROCESS_NAME => d.title = Some(text(v)),
                                            track::PROCESS_CMDLINE => d.cmdline.push(text(v)),
                                            _ => panic!("process field {f}"),
                                        }
                                    }
                                }
                                track::THREAD => {
                                    for (f, v) in msg(v.bytes().unwrap()) {
                                        match f {
                                            track::THREAD_PID => d.pid = v.uint(),
                                            track::THREAD_TID => d.tid = v.uint(),
                                            track::THREAD_NAME => d.title = Some(text(v)),
                                            _ => panic!("thread field {f}"),
                                        }
                                    }
                                }
                                _ => panic!("descriptor field {f}"),
                            }
                        }
                        p.track = Some(d);
                    }
                    packet::FIRST_PACKET_ON_SEQUENCE => assert_eq!(v.uint(), Some(1)),
                    _ => panic!("packet field {f}"),
                }
            }
            packets.push(p);
        }
        packets
    }

    /// Interned strings of the whole output, by (interned field, iid).
    fn strings(packets: &[Packet]) -> HashMap<(u32, u64), String> {
        let mut m = HashMap::new();
        for (f, iid, s) in packets.iter().flat_map(|p| p.interned.iter()) {
            assert!(
                m.insert((*f, *iid), s.clone()).is_none(),
                "{s} interned twice"
            );
        }
        m
    }

    fn trace(pid: u32, kinds: u32, build: impl Fn(&mut TraceBuilder)) -> TraceFile {
        let info = TraceInfo::for_run(
            pid,
            2,
            "x86_64",
            Path::new("prog"),
            &[std::ffi::OsString::from("prog"), "-v".into()],
            Some(4),
            ClockAnchor {
                monotonic_ns: 50,
                realtime_ns: 1_700_000_000_000_000_000,
            },
        )
        .with_kinds(EventSet(kinds))
        .with_exec_tb_insns();
        let mut b = TraceBuilder::new(info);
        build(&mut b);
        TraceFile::from_bytes(Path::new("t"), b.finish(), Default::default()).unwrap()
    }

    fn convert(files: &[TraceFile], specs: &[RegionSpec]) -> Vec<Packet> {
        let names = |_: &TraceFile, nr: u64| (nr == 1).then(|| "write".to_string());
        let mut out = Vec::new();
        write(files, specs, &names, &mut out).unwrap();
        decode(&out)
    }

    /// An event as (type, track, category name, event name, annotations
    /// by name).
    type Ev = (u64, u64, u64, String, String, Vec<(String, u64)>);

    fn events(packets: &[Packet]) -> Vec<Ev> {
        let s = strings(packets);
        packets
            .iter()
            .filter_map(|p| {
                let e = p.event.as_ref()?;
                let name = match (e.name_iid, &e.name) {
                    (Some(iid), None) => s[&(interned::EVENT_NAMES, iid)].clone(),
                    (None, Some(n)) => n.clone(),
                    other => panic!("name {other:?}"),
                };
                let anns = e
                    .anns
                    .iter()
                    .map(|(iid, _, v)| (s[&(interned::DEBUG_ANNOTATION_NAMES, *iid)].clone(), *v))
                    .collect();
                Some((
                    e.ty,
                    e.track,
                    p.ts.unwrap(),
                    s[&(interned::EVENT_CATEGORIES, e.cat)].clone(),
                    name,
                    anns,
                ))
            })
            .collect()
    }

    #[test]
    fn the_sequence_starts_with_the_clock_and_cleared_state() {
        let f = trace(7, 1, |b| b.push(1_500, 0, 0, 5, &[9]));
        let packets = convert(&[f], &[RegionSpec::default_spec()]);
        assert_eq!(packets[0].clocks, [(3, 50), (1, 1_700_000_000_000_000_000)]);
        assert_eq!(packets[0].primary_clock, Some(proto::clock::MONOTONIC));
        assert_eq!(packets[1].flags, packet::SEQ_INCREMENTAL_STATE_CLEARED);
        assert_eq!(packets[1].default_clock, Some(proto::clock::MONOTONIC));
        assert!(packets.iter().all(|p| p.seq == Some(SEQUENCE)));
        for p in packets.iter().filter(|p| p.event.is_some()) {
            assert_eq!(p.flags, packet::SEQ_NEEDS_INCREMENTAL_STATE);
            assert!(p.ts.is_some());
        }
        // The process, then the thread as it appears, under the process.
        let tracks: Vec<&Descriptor> = packets.iter().filter_map(|p| p.track.as_ref()).collect();
        assert_eq!(tracks.len(), 2);
        assert_eq!(tracks[0].pid, Some(7));
        assert_eq!(tracks[0].title.as_deref(), Some("prog (pid 7)"));
        assert_eq!(tracks[0].cmdline, ["prog", "-v"]);
        assert_eq!(tracks[1].parent, Some(tracks[0].uuid));
        assert_eq!((tracks[1].pid, tracks[1].tid), (Some(7), Some(1)));
        assert_eq!(tracks[1].title.as_deref(), Some("thread 0"));
        let evs = events(&packets);
        assert_eq!(
            evs,
            [(
                te::INSTANT,
                tracks[1].uuid,
                1_500,
                "progress".to_string(),
                "arg1=5".to_string(),
                vec![
                    ("client".into(), 0),
                    ("thread".into(), 0),
                    ("record".into(), 0),
                    ("arg2".into(), 9)
                ]
            )]
        );
    }

    #[test]
    fn regions_are_balanced_slices_on_their_clients_tracks() {
        let f = trace(7, 1, |b| {
            b.push(100, 0, 0, 1, &[0]);
            b.push(150, 0, 0, 1, &[0]);
            b.push(200, 0, 0, 0, &[0]);
            // Another client on the same thread: its own child track.
            b.push(220, 0, 3, 1, &[0]);
            b.push(300, 0, 0, 0, &[0]);
            b.push(310, 0, 3, 0, &[0]);
            // Left open, and an unmatched close on another thread.
            b.push(400, 1, 1, 1, &[0]);
            b.push(450, 2, 2, 0, &[0]);
        });
        let packets = convert(&[f], &[RegionSpec::default_spec()]);
        let tracks: Vec<&Descriptor> = packets.iter().filter_map(|p| p.track.as_ref()).collect();
        // Process, thread 0, client 3's child track, threads 1 and 2.
        assert_eq!(tracks.len(), 5);
        assert_eq!(tracks[2].parent, Some(tracks[1].uuid));
        assert_eq!(tracks[2].name.as_deref(), Some("client 3"));
        assert_eq!(tracks[3].title.as_deref(), Some("thread 1"));
        assert_eq!(tracks[3].tid, Some(2));

        let evs = events(&packets);
        let mut depth: HashMap<u64, i64> = HashMap::new();
        for (ty, track, _, cat, name, _) in &evs {
            if cat == "region" {
                assert_eq!(name, "region");
                *depth.entry(*track).or_default() += match *ty {
                    te::SLICE_BEGIN => 1,
                    te::SLICE_END => -1,
                    t => panic!("type {t}"),
                };
                assert!(depth[track] >= 0);
            }
        }
        assert!(depth.values().all(|&d| d == 0), "{depth:?}");
        let ends: Vec<&Ev> = evs.iter().filter(|e| e.0 == te::SLICE_END).collect();
        assert_eq!(ends.len(), 4);
        assert_eq!(ends[0].2, 200);
        assert_eq!(ends[0].5[0], ("duration_ns".to_string(), 50));
        assert_eq!(ends[0].5[1], ("close_record".to_string(), 2));
        assert_eq!((ends[1].1, ends[1].2), (tracks[1].uuid, 300));
        assert_eq!((ends[2].1, ends[2].2), (tracks[2].uuid, 310));
        // Left open: ends at the last event, marked.
        assert_eq!((ends[3].1, ends[3].2), (tracks[3].uuid, 450));
        assert_eq!(ends[3].5[1], ("unclosed".to_string(), 1));
        let unmatched: Vec<&Ev> = evs.iter().filter(|e| e.3 == "unmatched close").collect();
        assert_eq!(unmatched.len(), 1);
        assert_eq!(unmatched[0].4, "arg1=0");
        assert_eq!(unmatched[0].0, te::INSTANT);
    }

    #[test]
    fn system_calls_blocks_and_accesses() {
        use EventKind::*;
        let f = trace(7, 0x1f, |b| {
            b.push_any(100, 0, Syscall, 1, 1, &[0x1000, 5, 0, 0, 0]);
            b.push_any(150, 0, SyscallRet, 1, 5, &[]);
            b.push_any(160, 0, ExecTb, 12 | (3 << 16), 0x401000, &[]);
            b.push_any(170, 0, MemAccess, 0x13, 0x5000, &[0x401004, 42]);
            // A failed call, then one that never returns (exit_group).
            b.push_any(200, 0, Syscall, 2, 0, &[0, 0, 0, 0, 0]);
            b.push_any(210, 0, SyscallRet, 2, (-2i64) as u64, &[]);
            b.push_any(300, 0, Syscall, 231, 0, &[0, 0, 0, 0, 0]);
            // A return whose entry the trace lacks (a forked child's).
            b.push_any(320, 1, SyscallRet, 57, 0, &[]);
        });
        let evs = events(&convert(&[f], &[RegionSpec::default_spec()]));
        let brief: Vec<(u64, u64, &str, &str)> = evs
            .iter()
            .map(|e| (e.0, e.2, e.3.as_str(), e.4.as_str()))
            .collect();
        assert_eq!(
            brief,
            [
                (te::SLICE_BEGIN, 100, "syscall", "write"),
                (te::SLICE_END, 150, "syscall", "write"),
                (te::INSTANT, 160, "block", "block"),
                (te::INSTANT, 170, "memory", "store"),
                (te::SLICE_BEGIN, 200, "syscall", "syscall 2"),
                (te::SLICE_END, 210, "syscall", "syscall 2"),
                (te::SLICE_BEGIN, 300, "syscall", "syscall 231"),
                (te::INSTANT, 320, "syscall", "syscall 57"),
                // exit_group ends where its thread's records end.
                (te::SLICE_END, 300, "syscall", "syscall 231"),
            ]
        );
        let ann = |i: usize, name: &str| evs[i].5.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
        assert_eq!(ann(0, "nr"), Some(1));
        assert_eq!(ann(0, "arg1"), Some(1));
        assert_eq!(ann(0, "arg2"), Some(0x1000));
        assert_eq!(ann(0, "arg3"), Some(5));
        assert_eq!(ann(1, "ret"), Some(5));
        assert_eq!(ann(2, "pc"), Some(0x401000));
        assert_eq!((ann(2, "size"), ann(2, "insns")), (Some(12), Some(3)));
        assert_eq!(ann(3, "address"), Some(0x5000));
        assert_eq!((ann(3, "pc"), ann(3, "value")), (Some(0x401004), Some(42)));
        // -ENOENT as int64: two's complement.
        assert_eq!(ann(5, "ret"), Some((-2i64) as u64));
        assert_eq!(ann(8, "no_return"), Some(1));
        // The thread's and the other thread's tracks.
        assert_eq!(evs[0].1, evs[8].1);
        assert_ne!(evs[7].1, evs[0].1);
    }

    #[test]
    fn a_forked_run_is_a_process_per_file_with_distinct_tids() {
        let parent = trace(10, 1, |b| b.push(100, 0, 0, 5, &[0]));
        let child = trace(11, 1, |b| b.push(200, 0, 0, 5, &[0]));
        let packets = convert(&[parent, child], &[RegionSpec::default_spec()]);
        let tracks: Vec<&Descriptor> = packets.iter().filter_map(|p| p.track.as_ref()).collect();
        let ids: Vec<(Option<u64>, Option<u64>)> = tracks.iter().map(|t| (t.pid, t.tid)).collect();
        assert_eq!(
            ids,
            [
                (Some(10), None),
                (Some(10), Some(1)),
                (Some(11), None),
                (Some(11), Some(2))
            ]
        );
        let uuids: std::collections::HashSet<u64> = tracks.iter().map(|t| t.uuid).collect();
        assert_eq!(uuids.len(), 4);
        // The name interned once serves both files.
        let s = strings(&packets);
        assert_eq!(s.values().filter(|n| *n == "arg1=5").count(), 1);
    }

    #[test]
    fn names_go_inline_once_the_table_is_full() {
        let n = MAX_INTERNED as u64 + 10;
        let f = trace(7, 1, |b| {
            for i in 0..n {
                b.push(100 + i, 0, 0, 1000 + i, &[0]);
            }
        });
        let packets = convert(&[f], &[RegionSpec::default_spec()]);
        let evs = events(&packets);
        assert_eq!(evs.len() as u64, n);
        assert_eq!(evs.last().unwrap().4, format!("arg1={}", 1000 + n - 1));
        let inline = packets
            .iter()
            .filter(|p| p.event.as_ref().is_some_and(|e| e.name.is_some()))
            .count();
        assert_eq!(inline, 10);
    }
}
