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
//! Slice ends carry their name and category, so that the trace processor
//! ends the matching slice even where regions of different names cross
//! (keyed regions closed out of order). The output streams: packets go
//! out a buffer at a time, and what is kept is the interning tables and
//! each thread's system call in progress.

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
        if let Some(&iid) = self.points.get(&ev.arg1) {
            return Name::Iid(iid);
        }
        let name = self.w.name(&format!("arg1={}", ev.arg1));
        if let Name::Iid(iid) = name {
            self.points.insert(ev.arg1, iid);
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
            Cat::Unmatched => {
                // Unmatched closes are named by their value, as the
                // Chrome conversion names them.
                match self.points.get(&ev.arg1) {
                    Some(&iid) => Name::Iid(iid),
                    None => self.w.name(&format!("arg1={}", ev.arg1)),
                }
            }
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
