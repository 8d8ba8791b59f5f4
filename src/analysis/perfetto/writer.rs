// SPDX-License-Identifier: GPL-2.0-or-later
//! The packet writer: the output buffer, the sequence's interning of
//! names, categories and annotation names, and the packets themselves.

use std::collections::HashMap;
use std::io::Write;

use super::proto::{self, annotation as ann, event as te, interned, packet, track};
use super::SEQUENCE;
use crate::analysis::convert::ConvertError;
use crate::analysis::protobuf::{begin, end, put_int, put_str, put_uint};

/// Output is gathered in a buffer of this size between writes.
const CHUNK: usize = 1 << 20;

/// Event names interned at most; past that (progress points named by
/// arg1 values that never repeat) names go inline, so memory stays
/// bounded.
pub(super) const MAX_INTERNED: usize = 1 << 16;

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
pub(super) enum Cat {
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
pub(super) enum Ann {
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
pub(super) enum Name {
    Iid(u64),
    Inline(String),
}

/// A debug annotation's value.
#[derive(Clone, Copy)]
pub(super) enum Val {
    Uint(u64),
    Int(i64),
    Bool(bool),
    Pointer(u64),
}

/// The packet writer: the output buffer and the sequence's interning.
pub(super) struct Writer<'o> {
    buf: Vec<u8>,
    out: &'o mut dyn Write,
    pub(super) names: HashMap<String, u64>,
    /// Names and `argK` annotation names interned since the last packet
    /// that carried interned data.
    new_names: Vec<(u64, String)>,
    new_args: Vec<u64>,
    /// `argK` annotation names interned, by K.
    args_seen: Vec<bool>,
    /// The last uuid given to a track.
    uuids: u64,
    /// The last tid given to a thread.
    pub(super) tids: u64,
    pub(super) events: u64,
}

impl<'o> Writer<'o> {
    pub(super) fn new(out: &'o mut dyn Write) -> Self {
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

    pub(super) fn finish(self) -> Result<u64, ConvertError> {
        self.out.write_all(&self.buf)?;
        self.out.flush()?;
        Ok(self.events)
    }

    /// The clock snapshot and the packet that starts the sequence.
    pub(super) fn start(
        &mut self,
        monotonic_ns: u64,
        realtime_ns: u64,
    ) -> Result<(), ConvertError> {
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

    pub(super) fn uuid(&mut self) -> u64 {
        self.uuids += 1;
        self.uuids
    }

    /// A track descriptor packet; `fill` writes the descriptor's fields
    /// after its uuid.
    pub(super) fn track(
        &mut self,
        uuid: u64,
        fill: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), ConvertError> {
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
    pub(super) fn name(&mut self, name: &str) -> Name {
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
    pub(super) fn arg(&mut self, k: usize) -> u64 {
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
    pub(super) fn event(
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
