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
//!
//! Here: the layout's first packets and the loop over the files; the
//! protos' field numbers are in [`proto`], the packet writer and its
//! interning in `writer.rs`, a file's records as packets in `events.rs`.

mod events;
pub mod proto;
#[cfg(test)]
mod tests;
mod writer;

use std::collections::HashMap;
use std::io::Write;

use super::convert::{walk, ConvertError};
use super::protobuf::{begin, end, put_str, put_uint};
use super::RegionSpec;
use crate::trace::file::{TraceFile, EXEC_TB_INSNS_KEY};
use events::FileState;
use proto::track;
use writer::Writer;

/// The packet sequence every packet belongs to.
pub const SEQUENCE: u64 = 1;

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
        // Calls still in progress at the end (exit, exit_group), and the
        // blocks still open, end at their thread's last record.
        let mut open: Vec<u32> = st.threads.keys().copied().collect();
        open.sort_unstable();
        for thread in open {
            st.abandon_call(thread)?;
        }
        w = st.w;
    }
    w.finish()
}
