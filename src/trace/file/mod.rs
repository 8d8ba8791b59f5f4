// SPDX-License-Identifier: GPL-2.0-or-later
//! The binary trace file format (`-trace-file`): a self-describing header
//! followed by the records, either fixed-size little-endian records
//! (version 1.1, `-trace-format fixed`) or chunks of compact ones (version
//! 2.0, `-trace-format compact`, see `compact`). Both share the
//! header. `docs/trace-format.md` is the specification; this module writes
//! the header and reads whole files of either layout back, checking them
//! as it goes.
//!
//! ```text
//! header (header_size bytes, a multiple of 8)
//!   0  8  magic "HTTRACE\0"
//!   8  2  version major (1 fixed, 2 compact)   10 2  version minor
//!  12  4  header_size              16 4  record_size (24 + 8 * words, words >= event_args)
//!  20  4  event_args (N: arg1..argN)
//!  24  8  record_count (u64::MAX while unknown)
//!  32  8  anchor monotonic ns      40 8  anchor wall-clock ns
//!  48  4  pid                      52 4  metadata_count
//!  56  8  reserved (0)
//!  64  .  metadata_count x { u32 key_len, key, u32 value_len, value }, zero padding
//! record (record_size bytes)
//!   0  8  timestamp (monotonic ns)  8 4  pid   12 4  thread   16 4  client / aux
//!  20  4  kind (0: guest_hypertrace, 1..4: see EventKind)   24 8  arg1   32 ...  words
//! chunk (version 2.0, instead of the records)
//!   0  4  payload_bytes             4 4  record_count   8 ...  compact records
//! ```

mod builder;
mod header;
mod reader;
#[cfg(test)]
mod tests;

pub use builder::TraceBuilder;
pub use header::TraceInfo;
pub use reader::{Event, Events, InsnCounts, ReadOptions, TraceError, TraceFile};

pub const MAGIC: [u8; 8] = *b"HTTRACE\0";
/// Version of the fixed-size layout.
pub const VERSION_MAJOR: u16 = 1;
pub const VERSION_MINOR: u16 = 1;
/// Version of the compact layout: a new major version, so that readers
/// of 1.x (which step through fixed-size records) refuse it.
pub const COMPACT_VERSION_MAJOR: u16 = 2;
pub const COMPACT_VERSION_MINOR: u16 = 0;
/// Words a guest_hypertrace record carries after its arguments when the
/// header's `counters` metadata is `insns,blocks`: the emitting thread's
/// guest instructions retired and blocks executed, exact at the control
/// store. Such a file has the layout's minor version plus one (1.2, 2.1).
pub const COUNTER_WORDS: usize = 2;
/// The metadata key of traces whose `guest_exec_tb` records carry their
/// block's instruction count in `aux` bits 16-31 (size in bits 0-15).
pub const EXEC_TB_INSNS_KEY: &str = "exec_tb_insns";
/// The `counters` metadata value of a trace whose events carry them.
pub const COUNTERS_VALUE: &str = "insns,blocks";
/// Size of the fixed part of the header, before the metadata.
pub const FIXED_HEADER_SIZE: usize = 64;
/// Size of a record's fixed part, before arg2..argN.
pub const RECORD_FIXED_SIZE: usize = 32;
/// `record_count` of a file whose writer did not finish (or could not seek).
pub const COUNT_UNKNOWN: u64 = u64::MAX;
/// Byte offset of `record_count` in the header.
pub const RECORD_COUNT_OFFSET: u64 = 24;
pub use super::EventKind;
/// Upper bound on event arguments a reader accepts: the channel's own
/// limit is 16 (`hypertrace::MAX_ARGS`), this leaves room for traces other
/// tools build. It bounds the fixed-size records compact ones expand to in
/// memory: with 65,536 a 634-byte compact trace of one-byte records
/// expanded to 1.6 GB (found by the `trace_reader` fuzz target).
pub const MAX_EVENT_ARGS: u32 = 1 << 10;

/// Upper bound on a header's `record_size`: the records of
/// [`MAX_EVENT_ARGS`] arguments and the counters, with room to spare. The
/// size is the header's own field, so it needs its own bound: a 400-byte
/// compact trace declaring records of hundreds of megabytes took 18 GB.
pub const MAX_RECORD_SIZE: usize = record_size(MAX_EVENT_ARGS) + 8 * 8;

pub const fn record_size(event_args: u32) -> usize {
    RECORD_FIXED_SIZE + 8 * (event_args as usize - 1)
}

/// Record size for a trace whose records may be of `kinds`: large enough
/// for every kind's words, `hypertrace_words` those of guest_hypertrace.
pub fn record_size_for(hypertrace_words: usize, kinds: super::EventSet) -> usize {
    let words = kinds
        .kinds()
        .map(|k| k.words(hypertrace_words))
        .max()
        .unwrap_or(0);
    RECORD_FIXED_SIZE + 8 * words.max(hypertrace_words)
}

/// How the records after the header are laid out (`-trace-format`).
/// The default is ht-user's (`compact`); [`TraceInfo::for_run`] starts
/// from `Fixed`, the layout tools that synthesise traces can index.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layout {
    /// Fixed-size records (version 1.1): `record_size` bytes each, for
    /// `numpy.frombuffer` and other readers that index records.
    Fixed,
    /// Chunks of delta- and varint-encoded records (version 2.0): about
    /// 4 to 8 bytes per memory access instead of 56.
    #[default]
    Compact,
}

impl Layout {
    pub fn name(self) -> &'static str {
        match self {
            Layout::Fixed => "fixed",
            Layout::Compact => "compact",
        }
    }

    /// The header's (major, minor) version for this layout.
    pub fn version(self) -> (u16, u16) {
        match self {
            Layout::Fixed => (VERSION_MAJOR, VERSION_MINOR),
            Layout::Compact => (COMPACT_VERSION_MAJOR, COMPACT_VERSION_MINOR),
        }
    }

    /// The layout of a header's major version.
    pub fn of_major(major: u16) -> Option<Layout> {
        match major {
            VERSION_MAJOR => Some(Layout::Fixed),
            COMPACT_VERSION_MAJOR => Some(Layout::Compact),
            _ => None,
        }
    }
}

/// A record layout name other than `compact` and `fixed`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown trace format '{0}' (compact or fixed)")]
pub struct UnknownLayout(pub String);

impl std::str::FromStr for Layout {
    type Err = UnknownLayout;

    fn from_str(s: &str) -> Result<Self, UnknownLayout> {
        match s {
            "fixed" => Ok(Layout::Fixed),
            "compact" => Ok(Layout::Compact),
            _ => Err(UnknownLayout(s.to_string())),
        }
    }
}

/// A pair of clock readings taken together: converts event timestamps
/// (CLOCK_MONOTONIC ns) to wall-clock time (ns since the epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockAnchor {
    pub monotonic_ns: u64,
    pub realtime_ns: u64,
}

impl ClockAnchor {
    /// Reads both clocks, taking the monotonic one on either side of the
    /// wall clock and using the midpoint.
    pub fn now() -> Self {
        let before = super::monotonic_ns();
        let realtime_ns = super::realtime_ns();
        let after = super::monotonic_ns();
        ClockAnchor {
            monotonic_ns: before + (after - before) / 2,
            realtime_ns,
        }
    }

    /// Wall-clock ns for a monotonic timestamp.
    pub fn wall_ns(&self, monotonic_ns: u64) -> u64 {
        let wall = monotonic_ns as i128 - self.monotonic_ns as i128 + self.realtime_ns as i128;
        wall.clamp(0, u64::MAX as i128) as u64
    }
}

/// Appends one record of any kind, zero-padded to `record_size` bytes.
#[inline]
#[allow(clippy::too_many_arguments)]
pub fn encode_any(
    out: &mut Vec<u8>,
    record_size: usize,
    ts_ns: u64,
    pid: u32,
    thread: u32,
    kind: EventKind,
    aux: u32,
    arg1: u64,
    words: &[u64],
) {
    let start = out.len();
    out.resize(start + record_size, 0);
    encode_into(
        &mut out[start..],
        ts_ns,
        pid,
        thread,
        kind,
        aux,
        arg1,
        words,
    );
}

/// Encodes one record into `out`, a record of the trace's record size
/// (the padding after the words is zeroed).
#[inline]
#[allow(clippy::too_many_arguments)]
pub fn encode_into(
    out: &mut [u8],
    ts_ns: u64,
    pid: u32,
    thread: u32,
    kind: EventKind,
    aux: u32,
    arg1: u64,
    words: &[u64],
) {
    let (fixed, rest) = out.split_at_mut(RECORD_FIXED_SIZE);
    fixed[0..8].copy_from_slice(&ts_ns.to_le_bytes());
    fixed[8..12].copy_from_slice(&pid.to_le_bytes());
    fixed[12..16].copy_from_slice(&thread.to_le_bytes());
    fixed[16..20].copy_from_slice(&aux.to_le_bytes());
    fixed[20..24].copy_from_slice(&(kind as u32).to_le_bytes());
    fixed[24..32].copy_from_slice(&arg1.to_le_bytes());
    let (used, padding) = rest.split_at_mut(8 * words.len());
    for (w, slot) in words.iter().zip(used.chunks_exact_mut(8)) {
        slot.copy_from_slice(&w.to_le_bytes());
    }
    padding.fill(0);
}
