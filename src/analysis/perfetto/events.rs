// SPDX-License-Identifier: GPL-2.0-or-later
//! One trace file's records as packets: its process, thread and client
//! tracks, regions, points, system calls, blocks and memory accesses.

use std::collections::HashMap;

use super::proto::{event as te, track};
use super::writer::{Ann, Cat, Name, Val, Writer, MAX_INTERNED};
use crate::analysis::convert::ConvertError;
use crate::analysis::protobuf::{begin, end, put_str, put_uint};
use crate::analysis::{Kind, RegionSpan, Tracker};
use crate::trace::file::{Event, EventKind, TraceFile};

/// A guest thread's tracks in one file.
pub(super) struct Thread {
    uuid: u64,
    /// The client whose events share the thread's track.
    first_client: Option<u32>,
    /// Other clients' child tracks.
    clients: Vec<(u32, u64)>,
    /// The system call in progress: its number and name.
    pub(super) call: Option<(u64, Name)>,
    /// The time of the thread's last record.
    last_ns: u64,
    /// The executed block whose slice is open (its name).
    block: Option<Name>,
}

/// One file's state while its records go out.
pub(super) struct FileState<'a, 'o> {
    pub(super) w: Writer<'o>,
    pub(super) file: &'a TraceFile,
    pub(super) process_uuid: u64,
    pub(super) threads: HashMap<u32, Thread>,
    /// The last (thread, client) looked up and its track: records come
    /// in runs of one thread, so most lookups end here.
    pub(super) last_track: Option<(u32, u32, u64)>,
    /// Region names by label index.
    pub(super) labels: Vec<Option<u64>>,
    /// Unnamed progress points' names (`arg1=V`), by V.
    pub(super) points: HashMap<u64, u64>,
    pub(super) syscalls: HashMap<u64, Option<u64>>,
    pub(super) names: &'a dyn Fn(&TraceFile, u64) -> Option<String>,
    pub(super) exec_tb_insns: bool,
    /// Scratch for an event's annotations.
    pub(super) anns: Vec<(u64, Val)>,
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
                block: None,
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
    pub(super) fn region_end(
        &mut self,
        tracker: &Tracker,
        span: &RegionSpan,
        close: Option<u64>,
    ) -> Result<(), ConvertError> {
        // A region left open ends at the file's end, after its thread's
        // last block.
        self.end_block(span.thread, span.end_ns)?;
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
    pub(super) fn abandon_call(&mut self, thread: u32) -> Result<(), ConvertError> {
        let last = self.threads.get(&thread).map(|t| t.last_ns);
        if let Some(last) = last {
            self.end_block(thread, last)?;
        }
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

    /// Ends `thread`'s open block slice at `ts`: a block lasts until the
    /// thread's next block, system call or hypertrace event (memory
    /// accesses are inside it), so that it never overlaps a slice that
    /// began after it.
    pub(super) fn end_block(&mut self, thread: u32, ts: u64) -> Result<(), ConvertError> {
        let Some(t) = self.threads.get_mut(&thread) else {
            return Ok(());
        };
        let (uuid, block) = (t.uuid, t.block.take());
        match block {
            Some(name) => self.emit(ts, uuid, te::SLICE_END, Cat::Block, &name),
            None => Ok(()),
        }
    }

    pub(super) fn record(
        &mut self,
        tracker: &Tracker,
        ev: &Event<'_>,
        kind: Option<Kind>,
    ) -> Result<(), ConvertError> {
        if !matches!(ev.kind, EventKind::MemAccess | EventKind::HypertraceName) {
            self.end_block(ev.thread, ev.ts_ns)?;
        }
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
                // A block runs after the call before it returned: one
                // still open lost its return.
                self.abandon_call(ev.thread)?;
                self.anns.extend([
                    (Ann::Pc as u64, Val::Pointer(ev.arg1)),
                    (Ann::Size as u64, Val::Uint(u64::from(ev.client & 0xffff))),
                ]);
                if self.exec_tb_insns {
                    self.anns
                        .push((Ann::Insns as u64, Val::Uint(u64::from(ev.client >> 16))));
                }
                let name = self.w.name("block");
                self.emit(ev.ts_ns, uuid, te::SLICE_BEGIN, Cat::Block, &name)?;
                if let Some(t) = self.threads.get_mut(&ev.thread) {
                    t.block = Some(name);
                }
                Ok(())
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
