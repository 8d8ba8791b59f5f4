// SPDX-License-Identifier: GPL-2.0-or-later
//! [`TraceBuilder`]: a whole trace built in memory, in either layout.

use super::{encode_any, EventKind, InsnCounts, Layout, TraceInfo, RECORD_COUNT_OFFSET};

/// Builds a whole trace in memory: for tests and for tools that
/// synthesise traces. ht-user itself writes through `BinarySink`.
/// The records are laid out as the header's [`TraceInfo::layout`] says.
pub struct TraceBuilder {
    bytes: Vec<u8>,
    info: TraceInfo,
    records: u64,
    chunks: crate::trace::compact::ChunkBuilder,
}

impl TraceBuilder {
    pub fn new(info: TraceInfo) -> Self {
        TraceBuilder {
            bytes: info.encode(),
            info,
            records: 0,
            chunks: Default::default(),
        }
    }

    /// Appends an event; `args` (arg2..) is cut or zero-padded to the
    /// header's argument count.
    pub fn push(&mut self, ts_ns: u64, thread: u32, client: u32, arg1: u64, args: &[u64]) {
        self.push_counted(ts_ns, thread, client, arg1, args, InsnCounts::default());
    }

    /// [`TraceBuilder::push`] with the emitting thread's counters (left
    /// out when the header has none).
    pub fn push_counted(
        &mut self,
        ts_ns: u64,
        thread: u32,
        client: u32,
        arg1: u64,
        args: &[u64],
        counts: InsnCounts,
    ) {
        let n = self.info.event_args as usize - 1;
        let mut a = args[..args.len().min(n)].to_vec();
        a.resize(n, 0);
        if self.info.counters {
            a.extend([counts.insns, counts.blocks]);
        }
        self.push_any(ts_ns, thread, EventKind::Hypertrace, client, arg1, &a);
    }

    /// Appends the records that name guest name id `id` (the header must
    /// allow `guest_hypertrace_name`, see [`TraceInfo::with_kinds`]).
    pub fn push_name(&mut self, ts_ns: u64, thread: u32, id: u32, text: &str) {
        let words = self.info.hypertrace_words();
        for (arg1, packed) in crate::trace::name_pieces(text.as_bytes(), words) {
            self.push_any(ts_ns, thread, EventKind::HypertraceName, id, arg1, &packed);
        }
    }

    /// Appends a record of any kind the header allows.
    pub fn push_any(
        &mut self,
        ts_ns: u64,
        thread: u32,
        kind: EventKind,
        aux: u32,
        arg1: u64,
        words: &[u64],
    ) {
        if self.info.layout == Layout::Compact {
            self.chunks
                .push(&mut self.bytes, ts_ns, thread, kind, aux, arg1, words);
            self.records += 1;
            return;
        }
        encode_any(
            &mut self.bytes,
            self.info.record_size(),
            ts_ns,
            self.info.pid,
            thread,
            kind,
            aux,
            arg1,
            words,
        );
        self.records += 1;
    }

    /// The file's bytes, with the record count filled in.
    pub fn finish(mut self) -> Vec<u8> {
        self.chunks.close(&mut self.bytes);
        let o = RECORD_COUNT_OFFSET as usize;
        self.bytes[o..o + 8].copy_from_slice(&self.records.to_le_bytes());
        self.bytes
    }
}
