// SPDX-License-Identifier: GPL-2.0-or-later
//! The checked reader: [`TraceFile`] (a compact file decoded on opening,
//! see `decode.rs`), its errors and the records it yields.

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};

use super::*;
use crate::trace::EventSet;

mod decode;

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
                let mut set = EventSet(EventKind::Hypertrace.bit());
                for name in String::from_utf8_lossy(v).split(',') {
                    if let Some(kind) = EventKind::from_name(name) {
                        set.set(kind, true);
                    }
                }
                set
            })
            .unwrap_or(EventSet(EventKind::Hypertrace.bit()));
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
    /// kinds (see [`crate::trace::EventRecord`]).
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
