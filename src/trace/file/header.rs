// SPDX-License-Identifier: GPL-2.0-or-later
//! The trace header: [`TraceInfo`], what a header says about the run,
//! and its encoding.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::{
    record_size_for, ClockAnchor, EventKind, Layout, COUNTERS_VALUE, COUNTER_WORDS, COUNT_UNKNOWN,
    EXEC_TB_INSNS_KEY, FIXED_HEADER_SIZE, MAGIC,
};
use crate::trace::EventSet;

/// What a trace header says about the run, besides the layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceInfo {
    /// ht-user's process id (also the guest's `getpid()`).
    pub pid: u32,
    /// Arguments per event, arg1 included (the channel's `args`).
    pub event_args: u32,
    pub anchor: ClockAnchor,
    /// Record kinds the trace may hold (only guest_hypertrace in 1.0
    /// files); decides the record size.
    pub kinds: EventSet,
    /// Key/value pairs: `tool`, `arch`, `program`, `argv` (NUL-separated),
    /// `max_clients`, ... Readers ignore keys they do not know.
    pub metadata: Vec<(String, Vec<u8>)>,
    /// How the records are laid out (the header's major version).
    pub layout: Layout,
    /// Whether guest_hypertrace records end with the [`COUNTER_WORDS`]
    /// instruction and block counters (metadata `counters`).
    pub counters: bool,
}

impl TraceInfo {
    /// The header ht-user writes for a run.
    pub fn for_run(
        pid: u32,
        event_args: u32,
        arch: &str,
        program: &Path,
        argv: &[OsString],
        max_clients: Option<u64>,
        anchor: ClockAnchor,
    ) -> Self {
        let mut metadata = vec![
            (
                "tool".to_string(),
                format!("ht-user {}", env!("CARGO_PKG_VERSION")).into_bytes(),
            ),
            ("arch".to_string(), arch.as_bytes().to_vec()),
            (
                "program".to_string(),
                program.as_os_str().as_bytes().to_vec(),
            ),
            ("argc".to_string(), argv.len().to_string().into_bytes()),
            (
                "argv".to_string(),
                argv.join(std::ffi::OsStr::new("\0")).into_encoded_bytes(),
            ),
            ("clock".to_string(), b"CLOCK_MONOTONIC".to_vec()),
        ];
        if let Some(n) = max_clients {
            metadata.push(("max_clients".to_string(), n.to_string().into_bytes()));
        }
        TraceInfo {
            pid,
            event_args: event_args.max(1),
            anchor,
            kinds: EventSet(EventKind::Hypertrace.bit()),
            metadata,
            layout: Layout::Fixed,
            counters: false,
        }
    }

    /// Makes guest_hypertrace records carry the instruction and block
    /// counters after their arguments (metadata `counters`).
    pub fn with_counters(mut self, on: bool) -> Self {
        self.counters = on;
        self.metadata.retain(|(k, _)| k != "counters");
        if on {
            self.metadata
                .push(("counters".to_string(), COUNTERS_VALUE.as_bytes().to_vec()));
        }
        self
    }

    /// Says (metadata `exec_tb_insns`) that `guest_exec_tb` records carry
    /// their block's instruction count in bits 16-31 of `aux`, its size in
    /// bytes in bits 0-15; only when the trace may hold such records.
    pub fn with_exec_tb_insns(mut self) -> Self {
        self.metadata.retain(|(k, _)| k != EXEC_TB_INSNS_KEY);
        if self.kinds.contains(EventKind::ExecTb) {
            self.metadata
                .push((EXEC_TB_INSNS_KEY.to_string(), b"aux>>16".to_vec()));
        }
        self
    }

    /// Words a guest_hypertrace record carries after arg1: arg2..argN,
    /// then the counters when the trace has them.
    pub fn hypertrace_words(&self) -> usize {
        self.event_args.max(1) as usize - 1 + if self.counters { COUNTER_WORDS } else { 0 }
    }

    /// Lays the records out as `layout` (fixed by default).
    pub fn with_layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }

    /// Lets the trace hold records of `kinds` besides guest_hypertrace,
    /// and names them in the `events` metadata.
    pub fn with_kinds(mut self, kinds: EventSet) -> Self {
        self.kinds = EventSet(kinds.0 | EventKind::Hypertrace.bit());
        self.metadata.retain(|(k, _)| k != "events");
        let names: Vec<&str> = self.kinds.kinds().map(|k| k.name()).collect();
        self.metadata
            .push(("events".to_string(), names.join(",").into_bytes()));
        self
    }

    /// The value of metadata `key` as text (lossy), if present.
    pub fn get(&self, key: &str) -> Option<String> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    pub fn record_size(&self) -> usize {
        record_size_for(self.hypertrace_words(), self.kinds)
    }

    /// The encoded header, `record_count` unknown.
    pub fn encode(&self) -> Vec<u8> {
        let mut h = Vec::with_capacity(256);
        h.extend_from_slice(&MAGIC);
        let (major, mut minor) = self.layout.version();
        if self.counters {
            minor += 1;
        }
        h.extend_from_slice(&major.to_le_bytes());
        h.extend_from_slice(&minor.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes()); // header_size, set below
        h.extend_from_slice(&(self.record_size() as u32).to_le_bytes());
        h.extend_from_slice(&self.event_args.to_le_bytes());
        h.extend_from_slice(&COUNT_UNKNOWN.to_le_bytes());
        h.extend_from_slice(&self.anchor.monotonic_ns.to_le_bytes());
        h.extend_from_slice(&self.anchor.realtime_ns.to_le_bytes());
        h.extend_from_slice(&self.pid.to_le_bytes());
        h.extend_from_slice(&(self.metadata.len() as u32).to_le_bytes());
        h.extend_from_slice(&0u64.to_le_bytes());
        debug_assert_eq!(h.len(), FIXED_HEADER_SIZE);
        for (k, v) in &self.metadata {
            h.extend_from_slice(&(k.len() as u32).to_le_bytes());
            h.extend_from_slice(k.as_bytes());
            h.extend_from_slice(&(v.len() as u32).to_le_bytes());
            h.extend_from_slice(v);
        }
        while h.len() % 8 != 0 {
            h.push(0);
        }
        let size = h.len() as u32;
        h[12..16].copy_from_slice(&size.to_le_bytes());
        h
    }
}
