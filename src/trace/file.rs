// SPDX-License-Identifier: GPL-2.0-or-later
//! The binary trace file format (`-trace-file`): a self-describing header
//! followed by the records, either fixed-size little-endian records
//! (version 1.1, `-trace-format fixed`) or chunks of compact ones (version
//! 2.0, `-trace-format compact`, see [`super::compact`]). Both share the
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

use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::compact;

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

impl std::str::FromStr for Layout {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "fixed" => Ok(Layout::Fixed),
            "compact" => Ok(Layout::Compact),
            _ => Err(format!("unknown trace format '{s}' (compact or fixed)")),
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
    pub kinds: super::EventSet,
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
            kinds: super::EventSet(super::EventKind::Hypertrace.bit()),
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
    pub fn with_kinds(mut self, kinds: super::EventSet) -> Self {
        self.kinds = super::EventSet(kinds.0 | super::EventKind::Hypertrace.bit());
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

/// Builds a whole trace in memory: for tests and for tools that
/// synthesise traces. ht-user itself writes through `BinarySink`.
/// The records are laid out as the header's [`TraceInfo::layout`] says.
pub struct TraceBuilder {
    bytes: Vec<u8>,
    info: TraceInfo,
    records: u64,
    chunks: super::compact::ChunkBuilder,
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
        for (arg1, packed) in super::name_pieces(text.as_bytes(), words) {
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

/// Why a trace file cannot be read, and where it breaks.
#[derive(Debug)]
pub struct TraceError {
    pub path: PathBuf,
    /// Byte offset in the file where the problem is.
    pub offset: Option<u64>,
    /// Index of the record concerned (0-based).
    pub record: Option<u64>,
    pub message: String,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        match (self.record, self.offset) {
            (Some(r), Some(o)) => write!(f, ": record {r} at byte {o}")?,
            (None, Some(o)) => write!(f, ": byte {o}")?,
            _ => {}
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for TraceError {}

/// How strictly [`TraceFile::open_with`] treats an incomplete file.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadOptions {
    /// Read the whole records of a truncated file (one whose writer was
    /// killed) instead of refusing it.
    pub allow_truncated: bool,
}

/// A trace file opened for reading. Its bytes are read, not mapped: a file
/// that shrinks while it is read (a new run writing the same path) must
/// not kill the reader with SIGBUS. A compact file (format 2.0) is decoded
/// when it is opened into the fixed layout in memory (`record_size` bytes
/// a record), so that both layouts are read the same way afterwards; its
/// records are checked as they are decoded, and an error names the byte
/// of the file where the record is.
pub struct TraceFile {
    path: PathBuf,
    bytes: Vec<u8>,
    pub info: TraceInfo,
    pub version: (u16, u16),
    pub header_size: usize,
    pub record_size: usize,
    /// `record_count` as the header gives it (None: unknown).
    pub declared_count: Option<u64>,
    /// Whole records in the file that will be read.
    pub records: u64,
    /// Set when the file was truncated and `allow_truncated` let it through.
    pub truncation: Option<String>,
    /// Bytes after the header in the file (records or chunks).
    pub body_bytes: u64,
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes(b[o..o + 2].try_into().expect("2 bytes"))
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"))
}

impl TraceFile {
    pub fn open(path: &Path) -> Result<TraceFile, TraceError> {
        Self::open_with(path, ReadOptions::default())
    }

    pub fn open_with(path: &Path, opts: ReadOptions) -> Result<TraceFile, TraceError> {
        let err = |offset: Option<u64>, message: String| TraceError {
            path: path.to_path_buf(),
            offset,
            record: None,
            message,
        };
        let file = File::open(path).map_err(|e| err(None, format!("cannot open: {e}")))?;
        let len = file
            .metadata()
            .map_err(|e| err(None, format!("cannot read: {e}")))?
            .len();
        let regular = file.metadata().is_ok_and(|m| m.is_file());
        let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        let read = if regular {
            // Up to the length it had when opened: a writer still appending
            // adds only bytes past the records counted below.
            std::io::Read::read_to_end(&mut std::io::Read::take(&file, len), &mut bytes)
        } else {
            // A pipe or a FIFO (`<(...)`, /dev/stdin) has no length: all of it.
            std::io::Read::read_to_end(&mut &file, &mut bytes)
        };
        read.map_err(|e| err(None, format!("cannot read: {e}")))?;
        Self::from_bytes(path, bytes, opts)
    }

    /// Checks a trace already in memory; `path` only labels errors and
    /// [`TraceFile::path`].
    pub fn from_bytes(
        path: &Path,
        bytes: Vec<u8>,
        opts: ReadOptions,
    ) -> Result<TraceFile, TraceError> {
        let err = |offset: Option<u64>, message: String| TraceError {
            path: path.to_path_buf(),
            offset,
            record: None,
            message,
        };
        let b: &[u8] = &bytes;
        if b.len() < MAGIC.len() || b[..MAGIC.len()] != MAGIC {
            let what = if b.len() < MAGIC.len() && MAGIC.starts_with(b) {
                format!(
                    "truncated: the file ends after {} bytes, inside the header",
                    b.len()
                )
            } else {
                "not an ht-user trace file (no HTTRACE magic at byte 0)".to_string()
            };
            return Err(err(Some(0), what));
        }
        if b.len() < FIXED_HEADER_SIZE {
            return Err(err(
                Some(b.len() as u64),
                format!(
                    "truncated: the file ends after {} bytes, inside the {}-byte fixed header",
                    b.len(),
                    FIXED_HEADER_SIZE
                ),
            ));
        }
        let version = (u16_at(b, 8), u16_at(b, 10));
        let Some(layout) = Layout::of_major(version.0) else {
            return Err(err(
                Some(8),
                format!(
                    "format version {}.{} is not supported (this reader knows {}.x and {}.x)",
                    version.0, version.1, VERSION_MAJOR, COMPACT_VERSION_MAJOR
                ),
            ));
        };
        let header_size = u32_at(b, 12) as usize;
        let record_size = u32_at(b, 16) as usize;
        let event_args = u32_at(b, 20);
        let count = u64_at(b, 24);
        let anchor = ClockAnchor {
            monotonic_ns: u64_at(b, 32),
            realtime_ns: u64_at(b, 40),
        };
        let pid = u32_at(b, 48);
        let metadata_count = u32_at(b, 52);
        if header_size < FIXED_HEADER_SIZE || header_size % 8 != 0 {
            return Err(err(
                Some(12),
                format!("corrupt header: header_size {header_size} is not a multiple of 8 of at least {FIXED_HEADER_SIZE}"),
            ));
        }
        if event_args == 0 || event_args > MAX_EVENT_ARGS {
            return Err(err(
                Some(20),
                format!(
                    "corrupt header: event_args {event_args} is out of range 1..={MAX_EVENT_ARGS}"
                ),
            ));
        }
        let needed = self::record_size(event_args);
        if record_size < needed || record_size % 8 != 0 {
            return Err(err(
                Some(16),
                format!(
                    "corrupt header: record_size {record_size} does not fit {event_args} arguments (needs {needed}, a multiple of 8)"
                ),
            ));
        }
        if record_size > MAX_RECORD_SIZE {
            return Err(err(
                Some(16),
                format!(
                    "corrupt header: record_size {record_size} is larger than any record ({MAX_RECORD_SIZE} bytes at most)"
                ),
            ));
        }
        if b.len() < header_size {
            return Err(err(
                Some(b.len() as u64),
                format!(
                    "truncated: the file ends after {} bytes, inside the {header_size}-byte header",
                    b.len()
                ),
            ));
        }
        let mut metadata = Vec::new();
        let mut at = FIXED_HEADER_SIZE;
        let field = |at: usize, what: &str| -> Result<(usize, usize), TraceError> {
            if at + 4 > header_size {
                return Err(err(
                    Some(at as u64),
                    format!("corrupt header: metadata {what} length runs past header_size {header_size}"),
                ));
            }
            let n = u32_at(b, at) as usize;
            if at + 4 + n > header_size {
                return Err(err(
                    Some(at as u64),
                    format!("corrupt header: metadata {what} of {n} bytes runs past header_size {header_size}"),
                ));
            }
            Ok((at + 4, n))
        };
        for _ in 0..metadata_count {
            let (kat, klen) = field(at, "key")?;
            let key = std::str::from_utf8(&b[kat..kat + klen])
                .map_err(|_| {
                    err(
                        Some(kat as u64),
                        "corrupt header: metadata key is not UTF-8".into(),
                    )
                })?
                .to_string();
            let (vat, vlen) = field(kat + klen, "value")?;
            metadata.push((key, b[vat..vat + vlen].to_vec()));
            at = vat + vlen;
        }
        let kinds = metadata
            .iter()
            .find(|(k, _)| k == "events")
            .map(|(_, v)| {
                let mut set = super::EventSet(EventKind::Hypertrace.bit());
                for name in String::from_utf8_lossy(v).split(',') {
                    if let Some(kind) = EventKind::from_name(name) {
                        set.set(kind, true);
                    }
                }
                set
            })
            .unwrap_or(super::EventSet(EventKind::Hypertrace.bit()));
        let counters = metadata.iter().any(|(k, _)| k == "counters");
        let info = TraceInfo {
            pid,
            event_args,
            anchor,
            kinds,
            metadata,
            layout,
            counters,
        };
        let needed = RECORD_FIXED_SIZE + 8 * info.hypertrace_words();
        if record_size < needed {
            return Err(err(
                Some(16),
                format!(
                    "corrupt header: record_size {record_size} does not fit {event_args} arguments and the counters (needs {needed})"
                ),
            ));
        }
        let declared_count = (count != COUNT_UNKNOWN).then_some(count);
        if layout == Layout::Compact {
            return Self::from_compact(
                path,
                bytes,
                info,
                version,
                header_size,
                record_size,
                declared_count,
                opts,
            );
        }

        let body = (b.len() - header_size) as u64;
        let whole = body / record_size as u64;
        let partial = body % record_size as u64;
        let mut truncation = None;
        let mut records = whole;
        if partial != 0 {
            let offset = header_size as u64 + whole * record_size as u64;
            let msg = format!("truncated: incomplete ({partial} of {record_size} bytes)");
            if !opts.allow_truncated {
                return Err(TraceError {
                    path: path.to_path_buf(),
                    offset: Some(offset),
                    record: Some(whole),
                    message: format!(
                        "{msg}; --allow-truncated reads the {whole} whole records before it"
                    ),
                });
            }
            truncation = Some(format!("record {whole} at byte {offset}: {msg}"));
        }
        if let Some(declared) = declared_count {
            if declared > whole {
                let offset = header_size as u64 + whole * record_size as u64;
                let msg = format!(
                    "truncated: the header announces {declared} records, the file ends before this one"
                );
                if !opts.allow_truncated {
                    return Err(TraceError {
                        path: path.to_path_buf(),
                        offset: Some(offset),
                        record: Some(whole),
                        message: format!("{msg}; --allow-truncated reads the {whole} before it"),
                    });
                }
                truncation.get_or_insert(format!("record {whole} at byte {offset}: {msg}"));
            } else if declared < whole {
                let offset = header_size as u64 + declared * record_size as u64;
                if !opts.allow_truncated {
                    return Err(TraceError {
                        path: path.to_path_buf(),
                        offset: Some(offset),
                        record: Some(declared),
                        message: format!(
                            "corrupt: the header announces {declared} records but {} more bytes follow them",
                            body - declared * record_size as u64
                        ),
                    });
                }
                records = declared;
            }
        }
        Ok(TraceFile {
            path: path.to_path_buf(),
            bytes,
            info,
            version,
            header_size,
            record_size,
            declared_count,
            records,
            truncation,
            body_bytes: body,
        })
    }

    /// [`TraceFile::from_bytes`] for a compact file: decodes its chunks
    /// into fixed-size records in memory, checking each record (kind,
    /// timestamp) where it is in the file.
    #[allow(clippy::too_many_arguments)]
    fn from_compact(
        path: &Path,
        bytes: Vec<u8>,
        info: TraceInfo,
        version: (u16, u16),
        header_size: usize,
        record_size: usize,
        declared_count: Option<u64>,
        opts: ReadOptions,
    ) -> Result<TraceFile, TraceError> {
        let fail = |offset: usize, record: Option<u64>, message: String| TraceError {
            path: path.to_path_buf(),
            offset: Some(offset as u64),
            record,
            message,
        };
        let b: &[u8] = &bytes;
        let extra_args = info.hypertrace_words();
        let mut fixed = b[..header_size].to_vec();
        let mut whole = 0u64;
        let mut last_ts = info.anchor.monotonic_ns;
        let mut words = Vec::new();
        // Where the records run out early: (record offset, message).
        let mut cut: Option<(usize, String)> = None;
        // Offset of record `declared_count`, if the file holds more.
        let mut past_declared = None;
        let mut at = header_size;
        while at < b.len() {
            let Some((payload, count)) = compact::chunk_header(b, at) else {
                let have = b.len() - at;
                cut = Some((
                    at,
                    format!("truncated: the file ends inside the chunk header at byte {at} ({have} of {} bytes)", compact::CHUNK_HEADER),
                ));
                break;
            };
            let start = at + compact::CHUNK_HEADER;
            let have = b.len() - start;
            if have < payload {
                // The writer counts a chunk written once it is whole: the
                // records of a torn one are not read.
                cut = Some((
                    at,
                    format!("truncated: the chunk at byte {at} is incomplete ({have} of {payload} payload bytes)"),
                ));
                break;
            }
            let p = &b[start..start + payload];
            let mut dec = compact::Decoder::default();
            let mut pos = 0;
            for _ in 0..count {
                let rec_at = start + pos;
                if Some(whole) == declared_count {
                    past_declared.get_or_insert(rec_at);
                }
                let d = match dec.decode(p, &mut pos, extra_args, &mut words) {
                    Ok(d) => d,
                    Err(e) if e.incomplete => {
                        return Err(fail(
                            start + e.at,
                            Some(whole),
                            format!("corrupt: the record runs past the end of its chunk (the chunk at byte {at} declares {count} records in {payload} bytes)"),
                        ));
                    }
                    Err(e) => {
                        return Err(fail(
                            start + e.at,
                            Some(whole),
                            format!("corrupt: {}", e.message),
                        ));
                    }
                };
                if RECORD_FIXED_SIZE + 8 * words.len() > record_size {
                    return Err(fail(
                        rec_at,
                        Some(whole),
                        format!(
                            "corrupt: record kind {} does not fit the header's record_size {record_size}",
                            d.kind as u32
                        ),
                    ));
                }
                if d.ts_ns < last_ts {
                    let what = if whole == 0 {
                        "the header's clock anchor".to_string()
                    } else {
                        format!("the previous record's {last_ts}")
                    };
                    return Err(fail(
                        rec_at,
                        Some(whole),
                        format!("corrupt: timestamp {} is earlier than {what}", d.ts_ns),
                    ));
                }
                last_ts = d.ts_ns;
                encode_any(
                    &mut fixed,
                    record_size,
                    d.ts_ns,
                    info.pid,
                    d.thread,
                    d.kind,
                    d.aux,
                    d.arg1,
                    &words,
                );
                whole += 1;
            }
            if pos != payload {
                return Err(fail(
                    start + pos,
                    Some(whole),
                    format!("corrupt: the chunk at byte {at} declares {payload} payload bytes, its {count} records end after {pos}"),
                ));
            }
            at = start + payload;
        }
        let mut truncation = None;
        let mut records = whole;
        if let Some((offset, msg)) = &cut {
            if !opts.allow_truncated {
                return Err(fail(
                    *offset,
                    Some(whole),
                    format!("{msg}; --allow-truncated reads the {whole} whole records before it"),
                ));
            }
            truncation = Some(format!("record {whole} at byte {offset}: {msg}"));
        }
        if let Some(declared) = declared_count {
            let end = cut.as_ref().map_or(b.len(), |c| c.0);
            if declared > whole && truncation.is_none() {
                let msg = format!(
                    "truncated: the header announces {declared} records, the file ends before this one"
                );
                if !opts.allow_truncated {
                    return Err(fail(
                        end,
                        Some(whole),
                        format!("{msg}; --allow-truncated reads the {whole} before it"),
                    ));
                }
                truncation = Some(format!("record {whole} at byte {end}: {msg}"));
            } else if declared < whole {
                let offset = past_declared.unwrap_or(end);
                if !opts.allow_truncated {
                    return Err(fail(
                        offset,
                        Some(declared),
                        format!(
                            "corrupt: the header announces {declared} records but {} more follow them",
                            whole - declared
                        ),
                    ));
                }
                records = declared;
            }
        }
        Ok(TraceFile {
            path: path.to_path_buf(),
            bytes: fixed,
            info,
            version,
            header_size,
            record_size,
            declared_count,
            records,
            truncation,
            body_bytes: (b.len() - header_size) as u64,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Arguments per event after arg1 (arg2..argN).
    pub fn extra_args(&self) -> usize {
        self.info.event_args as usize - 1
    }

    /// The records of every kind in file order, each checked: known kind
    /// that fits the record size, the header's pid, a timestamp not before
    /// the anchor nor before the previous one.
    pub fn records(&self) -> Events<'_> {
        Events {
            file: self,
            index: 0,
            last_ts: self.info.anchor.monotonic_ns,
        }
    }

    /// The `guest_hypertrace` records (and any error), in file order.
    pub fn events(&self) -> impl Iterator<Item = Result<Event<'_>, TraceError>> + '_ {
        self.records()
            .filter(|r| r.as_ref().map_or(true, |e| e.kind == EventKind::Hypertrace))
    }

    /// Timestamps of the first and last record without checking the rest.
    pub fn span(&self) -> Option<(u64, u64)> {
        if self.records == 0 {
            return None;
        }
        let first = self.header_size;
        let last = self.header_size + (self.records as usize - 1) * self.record_size;
        Some((u64_at(&self.bytes, first), u64_at(&self.bytes, last)))
    }
}

/// One event as stored; arguments after arg1 are decoded on demand.
#[derive(Clone, Copy, Debug)]
pub struct Event<'a> {
    pub index: u64,
    pub ts_ns: u64,
    pub pid: u32,
    pub thread: u32,
    pub kind: EventKind,
    /// The client of a guest_hypertrace record; the `aux` field of other
    /// kinds (see [`super::EventRecord`]).
    pub client: u32,
    pub arg1: u64,
    /// The emitting thread's counters at a guest_hypertrace record, when
    /// the trace has them.
    pub counts: Option<InsnCounts>,
    extra: &'a [u8],
}

/// Guest instructions retired and translation blocks executed by a guest
/// thread, exact at a control store (the store's instruction included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InsnCounts {
    pub insns: u64,
    pub blocks: u64,
}

impl<'a> Event<'a> {
    /// arg2..argN.
    pub fn args(&self) -> impl ExactSizeIterator<Item = u64> + 'a {
        self.extra
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
    }

    /// Argument `k` in the seed's numbering (arg1, arg2, ...); None beyond N.
    pub fn arg(&self, k: usize) -> Option<u64> {
        match k {
            0 => None,
            1 => Some(self.arg1),
            _ => {
                let o = (k - 2) * 8;
                self.extra
                    .get(o..o + 8)
                    .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            }
        }
    }

    pub fn extra_len(&self) -> usize {
        self.extra.len() / 8
    }
}

pub struct Events<'a> {
    file: &'a TraceFile,
    index: u64,
    last_ts: u64,
}

impl<'a> Iterator for Events<'a> {
    type Item = Result<Event<'a>, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        let f = self.file;
        if self.index >= f.records {
            return None;
        }
        let offset = f.header_size + self.index as usize * f.record_size;
        let r = &f.bytes[offset..offset + f.record_size];
        let index = self.index;
        let fail = |message: String| {
            Some(Err(TraceError {
                path: f.path.clone(),
                offset: Some(offset as u64),
                record: Some(index),
                message,
            }))
        };
        let ts_ns = u64_at(r, 0);
        let pid = u32_at(r, 8);
        let raw_kind = u32_at(r, 20);
        let extra_args = f.info.hypertrace_words();
        let Some(kind) = EventKind::from_u32(raw_kind)
            .filter(|k| RECORD_FIXED_SIZE + 8 * k.words(extra_args) <= f.record_size)
        else {
            self.index = f.records;
            return fail(format!("corrupt: unknown record kind {raw_kind}"));
        };
        if pid != f.info.pid {
            self.index = f.records;
            return fail(format!(
                "corrupt: pid {pid} differs from the header's {}",
                f.info.pid
            ));
        }
        if ts_ns < self.last_ts {
            self.index = f.records;
            let what = if index == 0 {
                "the header's clock anchor".to_string()
            } else {
                format!("the previous record's {}", self.last_ts)
            };
            return fail(format!("corrupt: timestamp {ts_ns} is earlier than {what}"));
        }
        self.last_ts = ts_ns;
        self.index += 1;
        let mut n = kind.words(extra_args);
        let mut counts = None;
        if kind == EventKind::Hypertrace && f.info.counters {
            n -= COUNTER_WORDS;
            let at = RECORD_FIXED_SIZE + 8 * n;
            counts = Some(InsnCounts {
                insns: u64_at(r, at),
                blocks: u64_at(r, at + 8),
            });
        }
        Some(Ok(Event {
            index,
            ts_ns,
            pid,
            thread: u32_at(r, 12),
            kind,
            client: u32_at(r, 16),
            arg1: u64_at(r, 24),
            counts,
            extra: &r[RECORD_FIXED_SIZE..RECORD_FIXED_SIZE + 8 * n],
        }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.file.records - self.index) as usize;
        (left, Some(left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn info(args: u32) -> TraceInfo {
        TraceInfo::for_run(
            42,
            args,
            "x86_64",
            Path::new("/bin/prog"),
            &[OsString::from("prog"), OsString::from("a b")],
            Some(64),
            ClockAnchor {
                monotonic_ns: 1000,
                realtime_ns: 1_700_000_000_000_000_000,
            },
        )
    }

    fn write(dir: &Path, bytes: &[u8]) -> PathBuf {
        let p = dir.join("t.bin");
        std::fs::File::create(&p).unwrap().write_all(bytes).unwrap();
        p
    }

    fn sample(n: u64, count: bool) -> Vec<u8> {
        let i = info(3);
        let mut b = i.encode();
        for k in 0..n {
            encode_any(
                &mut b,
                i.record_size(),
                2000 + k,
                42,
                0,
                EventKind::Hypertrace,
                (k % 2) as u32,
                k,
                &[k * 10, k * 20],
            );
        }
        if count {
            b[24..32].copy_from_slice(&n.to_le_bytes());
        }
        b
    }

    #[test]
    fn header_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), &sample(5, true));
        let f = TraceFile::open(&p).unwrap();
        assert_eq!(f.info, info(3));
        assert_eq!(f.records, 5);
        assert_eq!(f.record_size, 48);
        assert_eq!(f.header_size % 8, 0);
        assert_eq!(f.info.get("argv").unwrap(), "prog\0a b");
        let evs: Vec<_> = f.events().map(Result::unwrap).collect();
        assert_eq!(evs.len(), 5);
        assert_eq!(evs[3].arg1, 3);
        assert_eq!(evs[3].client, 1);
        assert_eq!(evs[3].args().collect::<Vec<_>>(), vec![30, 60]);
        assert_eq!(evs[3].arg(3), Some(60));
        assert_eq!(evs[3].arg(4), None);
        assert_eq!(f.span(), Some((2000, 2004)));
    }

    #[test]
    fn a_file_truncated_after_opening_is_still_read_whole() {
        // A new run writing the same path truncates it while ht-trace
        // reads it: mapped, the records would be gone (SIGBUS).
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), &sample(5000, true));
        let f = TraceFile::open(&p).unwrap();
        std::fs::File::create(&p).unwrap();
        let arg1s: Vec<u64> = f.events().map(|e| e.unwrap().arg1).collect();
        assert_eq!(arg1s, (0..5000).collect::<Vec<_>>());
    }

    #[test]
    fn truncation_and_corruption_are_located() {
        let dir = tempfile::tempdir().unwrap();
        let full = sample(5, true);
        let hs = info(3).encode().len();
        // A partial last record.
        let p = write(dir.path(), &full[..full.len() - 3]);
        let e = TraceFile::open(&p).err().unwrap().to_string();
        assert!(
            e.contains(&format!("record 4 at byte {}", hs + 4 * 48)),
            "{e}"
        );
        assert!(e.contains("incomplete (45 of 48 bytes)"), "{e}");
        let f = TraceFile::open_with(
            &p,
            ReadOptions {
                allow_truncated: true,
            },
        )
        .unwrap();
        assert_eq!(f.records, 4);
        // Whole records missing.
        let p = write(dir.path(), &full[..hs + 2 * 48]);
        let e = TraceFile::open(&p).err().unwrap().to_string();
        assert!(e.contains("announces 5 records"), "{e}");
        // Inside the header.
        for cut in [3, 40, hs - 1] {
            let p = write(dir.path(), &full[..cut]);
            let e = TraceFile::open(&p).err().unwrap().to_string();
            assert!(e.contains("truncated"), "{cut}: {e}");
        }
        // Not a trace.
        let p = write(dir.path(), b"23071@1473096085.744211:guest_hypertrace");
        let e = TraceFile::open(&p).err().unwrap().to_string();
        assert!(e.contains("not an ht-user trace"), "{e}");
        // A timestamp going backwards.
        let mut bad = full.clone();
        bad[hs + 2 * 48..hs + 2 * 48 + 8].copy_from_slice(&5u64.to_le_bytes());
        let p = write(dir.path(), &bad);
        let f = TraceFile::open(&p).unwrap();
        let e = f.events().find_map(Result::err).unwrap().to_string();
        assert!(e.contains(&format!("record 2 at byte {}", hs + 96)), "{e}");
        // An unknown kind.
        let mut bad = full.clone();
        bad[hs + 48 + 20] = 7;
        let p = write(dir.path(), &bad);
        let f = TraceFile::open(&p).unwrap();
        let e = f.events().find_map(Result::err).unwrap().to_string();
        assert!(e.contains("record 1") && e.contains("kind 7"), "{e}");
        // A bad version and bad sizes.
        let mut bad = full.clone();
        bad[8] = 9;
        let e = TraceFile::open(&write(dir.path(), &bad))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("version 9.1"), "{e}");
        // A compact header over fixed records: a located error, no panic.
        let mut bad = full.clone();
        bad[8] = 2;
        let e = TraceFile::open(&write(dir.path(), &bad))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("corrupt") || e.contains("truncated"), "{e}");
        let mut bad = full.clone();
        bad[16] = 8;
        let e = TraceFile::open(&write(dir.path(), &bad))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("record_size"), "{e}");
        let mut bad = full;
        bad[52] = 200;
        let e = TraceFile::open(&write(dir.path(), &bad))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("metadata"), "{e}");
    }

    /// A compact trace of `n` records of every kind, as TraceBuilder
    /// writes it, and the same records in the fixed layout.
    fn compact_sample(n: u64) -> (Vec<u8>, Vec<u8>) {
        let all = super::super::EventSet(0x1f);
        let layouts = [Layout::Compact, Layout::Fixed];
        let mut out = layouts.iter().map(|&l| {
            let mut b = TraceBuilder::new(info(3).with_kinds(all).with_layout(l));
            for k in 0..n {
                let t = 2000 + 3 * k;
                let th = (k / 50) as u32 % 3;
                b.push_any(
                    t,
                    th,
                    EventKind::MemAccess,
                    0x13,
                    0x4000 + 8 * (k % 8),
                    &[0x401000 + k % 2, k],
                );
                b.push_any(t, th, EventKind::ExecTb, 12, u64::MAX - k, &[]);
                b.push_any(
                    t + 1,
                    th,
                    EventKind::Syscall,
                    60,
                    k,
                    &[1, 2, 3, 4, u64::MAX],
                );
                b.push_any(
                    t + 1,
                    th,
                    EventKind::SyscallRet,
                    60,
                    (-(k as i64)) as u64,
                    &[],
                );
                b.push(t + 1, th, (k % 2) as u32, k, &[k * 10, u64::MAX]);
            }
            b.finish()
        });
        (out.next().unwrap(), out.next().unwrap())
    }

    type Fields = (u64, u32, u32, EventKind, u32, u64, Vec<u64>);

    fn records_of(f: &TraceFile) -> Vec<Fields> {
        f.records()
            .map(|r| {
                let r = r.unwrap();
                (
                    r.ts_ns,
                    r.pid,
                    r.thread,
                    r.kind,
                    r.client,
                    r.arg1,
                    r.args().collect(),
                )
            })
            .collect()
    }

    #[test]
    fn compact_and_fixed_files_read_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let (compact, fixed) = compact_sample(3000);
        assert!(
            compact.len() * 4 < fixed.len(),
            "{} {}",
            compact.len(),
            fixed.len()
        );
        let c = TraceFile::open(&write(dir.path(), &compact)).unwrap();
        assert_eq!(c.version, (2, 0));
        assert_eq!(c.info.layout, Layout::Compact);
        let cr = records_of(&c);
        let f = TraceFile::open(&write(dir.path(), &fixed)).unwrap();
        assert_eq!(f.version, (1, 1));
        assert_eq!((c.records, c.declared_count), (15000, Some(15000)));
        assert_eq!(cr, records_of(&f));
        assert_eq!(c.span(), f.span());
        assert_eq!(cr[4].6, vec![0, u64::MAX]);
        assert_eq!(cr[5 * 2999 + 1].5, u64::MAX - 2999);
        // Headers differ only in the version.
        let mut info = c.info.clone();
        info.layout = Layout::Fixed;
        assert_eq!(info, f.info);
    }

    #[test]
    fn docs_example_is_what_the_encoder_writes() {
        let i = info(3)
            .with_kinds(super::super::EventSet(0x1f))
            .with_layout(Layout::Compact);
        let hs = i.encode().len();
        let mut b = TraceBuilder::new(i);
        b.push(1000, 0, 0, 1, &[5, 0]);
        b.push_any(
            1000,
            0,
            EventKind::MemAccess,
            0x03,
            0x4c6f00,
            &[0x401bd4, 0],
        );
        b.push_any(
            1000,
            0,
            EventKind::MemAccess,
            0x13,
            0x4c6f00,
            &[0x401bd8, 42],
        );
        b.push_any(1300, 1, EventKind::ExecTb, 12, 0x401bc0, &[]);
        b.push_any(1300, 1, EventKind::SyscallRet, 60, (-2i64) as u64, &[]);
        let bytes = b.finish();
        let hex: Vec<String> = bytes[hs..].iter().map(|b| format!("{b:02x}")).collect();
        let doc = include_str!("../../docs/trace-format.md");
        let want = [
            "21 00 00 00 05 00 00 00",
            "10 d0 0f 01 05 00",
            "21 03 80 bc e3 04 a8 ef 80 04",
            "61 13 00 08 2a",
            "3a 01 d8 04 0c 80 ef 80 04",
            "24 3c 03",
        ];
        for line in want {
            assert!(
                doc.contains(&format!("\n{line} ")),
                "{line} not in the docs"
            );
        }
        assert_eq!(hex.join(" "), want.join(" "));
    }

    #[test]
    fn compact_truncation_and_corruption_are_located() {
        let dir = tempfile::tempdir().unwrap();
        let i = info(3).with_kinds(super::super::EventSet(0x1f));
        let hs = i.encode().len();
        // Two chunks of 10 records, as two batches of the writer make.
        let mut two = i.clone().with_layout(Layout::Compact).encode();
        let mut chunks = compact::ChunkBuilder::default();
        for k in 0..20u64 {
            let kind = EventKind::ALL[k as usize % 5];
            let words = vec![k; kind.words(2)];
            chunks.push(&mut two, 2000 + k, 0, kind, 1, k, &words);
            if k == 9 {
                chunks.close(&mut two);
            }
        }
        chunks.close(&mut two);
        two[24..32].copy_from_slice(&20u64.to_le_bytes());
        let (payload1, count1) = compact::chunk_header(&two, hs).unwrap();
        assert_eq!(count1, 10);
        let chunk = two[hs..hs + 8 + payload1].to_vec();
        let p = write(dir.path(), &two);
        assert_eq!(TraceFile::open(&p).unwrap().records, 20);
        let second = hs + chunk.len();
        // Torn inside the second chunk: its records are not read.
        for cut in [second + 3, second + 8, two.len() - 1] {
            let p = write(dir.path(), &two[..cut]);
            let e = TraceFile::open(&p).err().unwrap().to_string();
            assert!(
                e.contains(&format!("record 10 at byte {second}: truncated")),
                "{e}"
            );
            assert!(e.contains("reads the 10 whole records"), "{e}");
            let f = TraceFile::open_with(
                &p,
                ReadOptions {
                    allow_truncated: true,
                },
            )
            .unwrap();
            assert_eq!(f.records, 10);
            assert!(f
                .truncation
                .as_deref()
                .unwrap()
                .contains(&format!("byte {second}")));
            assert_eq!(f.records().count(), 10);
        }
        // Whole chunks missing although the header counted them.
        let p = write(dir.path(), &two[..second]);
        let e = TraceFile::open(&p).err().unwrap().to_string();
        assert!(e.contains("announces 20 records"), "{e}");
        // A count below the records present.
        let mut less = two.clone();
        less[24..32].copy_from_slice(&12u64.to_le_bytes());
        let e = TraceFile::open(&write(dir.path(), &less))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("announces 12 records but 8 more"), "{e}");
        // An unknown kind in the second record of the second chunk.
        let first_len = {
            let mut d = compact::Decoder::default();
            let mut at = 0;
            d.decode(&chunk[8..], &mut at, 2, &mut Vec::new()).unwrap();
            at
        };
        let mut bad = two.clone();
        let at = second + 8 + first_len;
        bad[at] = 0x07;
        let e = TraceFile::open(&write(dir.path(), &bad))
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains(&format!(
                "record 11 at byte {at}: corrupt: unknown record kind 7"
            )),
            "{e}"
        );
        // A chunk whose records end before its payload does.
        let mut bad = two.clone();
        bad[second..second + 4].copy_from_slice(&(payload1 as u32 + 1).to_le_bytes());
        bad.push(0);
        let e = TraceFile::open(&write(dir.path(), &bad))
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains(&format!(
                "chunk at byte {second} declares {} payload bytes",
                payload1 + 1
            )),
            "{e}"
        );
        // ... or run past it.
        let mut bad = two.clone();
        bad[second + 4] = 11;
        let e = TraceFile::open(&write(dir.path(), &bad))
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("record 20 at byte") && e.contains("runs past the end of its chunk"),
            "{e}"
        );
        // A timestamp going back.
        let (mut back, _) = compact_sample(1);
        // The first record's time delta: from 0 to 2000 (zigzag 4000).
        assert_eq!(back[hs + 8..hs + 11], [0x01 | 0x10 | 0x20, 0xa0, 0x1f]);
        back[hs + 10] = 0x0f;
        let e = TraceFile::open(&write(dir.path(), &back))
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains(&format!("record 0 at byte {}", hs + 8))
                && e.contains("earlier than the header's clock anchor"),
            "{e}"
        );
        // A kind the header's record_size cannot hold (system calls in a
        // trace of hypertrace events only).
        let mut small = info(3).with_layout(Layout::Compact).encode();
        let mut chunks = compact::ChunkBuilder::default();
        chunks.push(&mut small, 2000, 0, EventKind::Syscall, 1, 1, &[0; 5]);
        chunks.close(&mut small);
        let e = TraceFile::open(&write(dir.path(), &small))
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("record kind 3 does not fit the header's record_size 48"),
            "{e}"
        );
        // Every cut and every byte flipped: an error or a file, no panic.
        for cut in hs..two.len() {
            let _ = TraceFile::open(&write(dir.path(), &two[..cut])).map(|f| f.records().count());
        }
        for at in hs..two.len() {
            for x in [0x01u8, 0x80, 0xff] {
                let mut c = two.clone();
                c[at] ^= x;
                let _ = TraceFile::from_bytes(Path::new("x"), c, ReadOptions::default())
                    .map(|f| f.records().count());
            }
        }
    }

    #[test]
    fn unknown_count_and_empty() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), &sample(3, false));
        let f = TraceFile::open(&p).unwrap();
        assert_eq!(f.declared_count, None);
        assert_eq!(f.records, 3);
        let p = write(dir.path(), b"");
        assert!(TraceFile::open(&p).is_err());
    }

    #[test]
    fn anchor_converts() {
        let a = ClockAnchor {
            monotonic_ns: 100,
            realtime_ns: 1_000,
        };
        assert_eq!(a.wall_ns(150), 1_050);
        assert_eq!(a.wall_ns(0), 900);
    }
}
