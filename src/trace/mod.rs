// SPDX-License-Identifier: GPL-2.0-or-later
//! Trace events, the writer thread and its sinks.
//!
//! The emulator thread appends events to a batch and hands full batches (and
//! text lines such as `-strace` output) to the writer thread over a bounded
//! crossbeam channel. A full channel makes the guest wait: nothing is dropped.
//!
//! Sinks: QEMU log text (`log`), the binary trace file ([`binary`], format
//! in [`file`](mod@file)), or both through [`binary::FanOut`]. Each event also fires
//! the USDT probe `hypertrace:guest_hypertrace` in the emulator thread.

pub mod binary;
pub(crate) mod clock;
pub(crate) mod compact;
pub mod debug;
pub mod events;
pub mod file;
pub(crate) mod log;
pub mod merge;
mod record;
pub mod rules;
mod sharing;
mod writer;

pub use crate::host::{monotonic_ns, realtime_ns};
use std::io::{self, Write};
use std::path::Path;

use crossbeam_channel::Sender;

pub use events::{TraceEvents, TraceOptionError};

pub use record::{
    mem_info, name_pieces, EventKind, EventRecord, EventSet, NameAssembler, NAME_MAX,
};
pub use sharing::OutputSharing;
pub(crate) use writer::BATCH_EVENTS;
pub use writer::{Recorder, Writer, WriterReport};

/// Events in arrival order; each record's words follow the previous
/// record's in `args` ([`EventKind::words`] of them).
#[derive(Debug, Default)]
pub struct Batch {
    /// The channel's arguments after arg1.
    pub extra_args: usize,
    /// The recorder that sent it ([`merge::Sources`]).
    pub source: u32,
    pub records: Vec<EventRecord>,
    pub args: Vec<u64>,
}

impl Batch {
    fn with_capacity(extra_args: usize, events: usize) -> Self {
        Batch {
            extra_args,
            source: 0,
            records: Vec::with_capacity(events),
            args: Vec::with_capacity(events * extra_args.max(2)),
        }
    }

    /// Each record with its words.
    pub fn iter(&self) -> impl Iterator<Item = (&EventRecord, &[u64])> {
        let mut at = 0;
        self.records.iter().map(move |r| {
            let n = r.kind.words(self.extra_args);
            let words = &self.args[at..at + n];
            at += n;
            (r, words)
        })
    }
}

pub enum Msg {
    Events(Batch),
    Text(String),
    Sync(Sender<()>),
    /// [`Msg::Sync`], and every event a sink holds back for its order is
    /// written too (before an execve: the writer goes with the image).
    Drain(Sender<()>),
}

/// Where the writer thread puts what it receives.
pub trait Sink: Send {
    fn events(&mut self, batch: &Batch) -> io::Result<()>;
    fn text(&mut self, line: &str) -> io::Result<()>;
    fn flush(&mut self) -> io::Result<()>;
    /// Writes what it holds back, whatever comes later, and flushes.
    fn drain(&mut self) -> io::Result<()> {
        self.flush()
    }
    /// The last call, after everything was written.
    fn finish(&mut self) -> io::Result<()> {
        self.flush()
    }
    /// Of the events this sink was given, how many are whole in its file
    /// (after a failed write: a full disk), if it writes one.
    fn events_in_file(&self) -> Option<u64> {
        None
    }
    /// The recorders feeding this sink, for a sink that needs its events
    /// in time order across them.
    fn attach_sources(&mut self, _sources: std::sync::Arc<merge::Sources>) {}
}

/// Why a run's trace output could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("cannot use the log stream: {0}")]
    LogStream(std::io::Error),
    #[error("cannot create trace file {}: {source}", path.display())]
    TraceFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// The writer's sink for a run: the QEMU log on `log` and, with
/// `trace_file`, the binary trace. Event lines go to the log when it was
/// asked for (`log_given`, i.e. `-D`) or when there is no binary trace;
/// text lines (`-strace`) always do.
pub fn open_sink(
    log: Box<dyn Write + Send>,
    log_given: bool,
    trace_file: Option<&Path>,
    info: &file::TraceInfo,
) -> Result<Box<dyn Sink>, SinkError> {
    open_sink_continuing(log, log_given, trace_file, info, false)
}

/// [`open_sink`], where `continuing` appends to the binary trace a process
/// wrote before it executed a new program (see
/// [`binary::BinarySink::continue_file`]).
pub fn open_sink_continuing(
    log: Box<dyn Write + Send>,
    log_given: bool,
    trace_file: Option<&Path>,
    info: &file::TraceInfo,
    continuing: bool,
) -> Result<Box<dyn Sink>, SinkError> {
    let mut text = log::QemuLogSink::with_anchor(log, info.pid, info.anchor);
    text.set_hypertrace_args(info.event_args as usize - 1);
    let Some(path) = trace_file else {
        return Ok(Box::new(text));
    };
    if !log_given {
        text.set_events(false);
    }
    let bin = if continuing {
        binary::BinarySink::continue_file(path, info)
    } else {
        binary::BinarySink::create(path, info)
    };
    let bin = bin.map_err(|source| SinkError::TraceFile {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Box::new(binary::FanOut(vec![
        Box::new(text),
        Box::new(bin),
    ])))
}
