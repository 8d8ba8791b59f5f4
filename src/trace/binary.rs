// SPDX-License-Identifier: GPL-2.0-or-later
//! The binary trace sink (`-trace-file`): encodes batches into the format
//! of [`super::file`] in the writer thread, fixed-size records or chunks
//! of compact ones (`compact`), and writes them in large pieces.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::compact::{self, CHUNK_HEADER, CHUNK_LIMIT};
use super::file::{Layout, TraceInfo, RECORD_COUNT_OFFSET};
use super::{Batch, EventKind, Sink};

/// Bytes gathered before one write to the file.
const WRITE_CHUNK: usize = 256 << 10;

pub struct BinarySink {
    file: File,
    /// Encoded bytes waiting for the file: `buf[..used]`. The vector only
    /// grows (its bytes past `used` are scratch space), so encoding never
    /// clears memory first.
    buf: Vec<u8>,
    used: usize,
    pid: u32,
    layout: Layout,
    record_size: usize,
    /// Largest compact encoding of one record of this trace.
    max_compact: usize,
    /// The compact encoder's state, reset at each chunk.
    encoder: compact::Encoder,
    /// Compact chunks in `buf`: (offset of their end, records in them),
    /// to count the records a failed write left whole in the file.
    chunk_ends: Vec<(usize, u64)>,
    records: u64,
    /// Records of this sink now whole in the file.
    persisted: u64,
    /// A regular file whose header can be patched with the record count.
    seekable: bool,
    /// With several recorders (`-sched parallel`): their events in time
    /// order.
    order: Option<super::merge::TimeOrder>,
}

impl BinarySink {
    /// Creates (truncates) `path` and writes the header.
    pub fn create(path: &Path, info: &TraceInfo) -> io::Result<Self> {
        let file = File::create(path)?;
        Self::new(file, info)
    }

    /// Continues the trace in `path`, written by the same process before
    /// it executed a new program: records are appended after the ones
    /// already there, and the count is filled in again at the end. A file
    /// that is missing, or whose header does not match `info` (layout,
    /// record size, pid), is created anew.
    pub fn continue_file(path: &Path, info: &TraceInfo) -> io::Result<Self> {
        use std::io::{Read, Seek, SeekFrom};
        let opened = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path);
        let mut file = match opened {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Self::create(path, info),
            Err(e) => return Err(e),
        };
        let mut head = [0u8; super::file::FIXED_HEADER_SIZE];
        let len = file.metadata()?.len();
        let u16_at = |b: &[u8], at: usize| u16::from_le_bytes(b[at..at + 2].try_into().unwrap());
        let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
        let fits = file.read_exact(&mut head).is_ok()
            && head[..8] == super::file::MAGIC
            && u16_at(&head, 8) == info.layout.version().0
            && u32_at(&head, 16) as usize == info.record_size()
            && u32_at(&head, 48) == info.pid;
        if !fits || !file.metadata()?.is_file() {
            drop(file);
            return Self::create(path, info);
        }
        let header_size = u64::from(u32_at(&head, 12));
        // Whole records (whole chunks) only: a torn end (never expected,
        // the writer flushed before the exec) is cut off.
        let (records, end) = match info.layout {
            Layout::Fixed => {
                let record_size = info.record_size() as u64;
                let records = len.saturating_sub(header_size) / record_size;
                (records, header_size + records * record_size)
            }
            Layout::Compact => {
                let (mut records, mut at) = (0u64, header_size);
                let mut h = [0u8; CHUNK_HEADER];
                while at + CHUNK_HEADER as u64 <= len && file.read_exact_at(&mut h, at).is_ok() {
                    let (payload, count) = compact::chunk_header(&h, 0).expect("8 bytes");
                    let next = at + (CHUNK_HEADER + payload) as u64;
                    if next > len {
                        break;
                    }
                    records += u64::from(count);
                    at = next;
                }
                (records, at.min(len.max(header_size)))
            }
        };
        file.set_len(end)?;
        file.seek(SeekFrom::Start(end))?;
        // Unknown again until this image finishes.
        file.write_all_at(
            &super::file::COUNT_UNKNOWN.to_le_bytes(),
            RECORD_COUNT_OFFSET,
        )?;
        let mut sink = Self::with_file(file, info, true);
        sink.records = records;
        Ok(sink)
    }

    /// Writes the header to `file` (at its current position, which must be
    /// its start for the record count to be filled in at the end).
    pub fn new(mut file: File, info: &TraceInfo) -> io::Result<Self> {
        let header = info.encode();
        let seekable = file.metadata()?.is_file();
        file.write_all(&header)?;
        Ok(Self::with_file(file, info, seekable))
    }

    fn with_file(file: File, info: &TraceInfo, seekable: bool) -> Self {
        let extra = info.hypertrace_words();
        let words = EventKind::ALL
            .iter()
            .map(|k| k.words(extra))
            .max()
            .unwrap_or(0);
        BinarySink {
            file,
            buf: vec![0; WRITE_CHUNK + super::BATCH_EVENTS * info.record_size()],
            used: 0,
            pid: info.pid,
            layout: info.layout,
            record_size: info.record_size(),
            max_compact: compact::max_record_bytes(words),
            encoder: compact::Encoder::default(),
            chunk_ends: Vec::new(),
            records: 0,
            persisted: 0,
            seekable,
            order: None,
        }
    }

    /// Makes room for `n` more bytes after `used`.
    fn room(&mut self, n: usize) {
        if self.buf.len() - self.used < n {
            self.buf.resize((self.used + n).max(2 * self.buf.len()), 0);
        }
    }

    fn fixed_records(&mut self, batch: &Batch) {
        let size = self.record_size;
        self.room(batch.records.len() * size);
        let start = self.used;
        let slots = self.buf[start..].chunks_exact_mut(size);
        for ((r, words), out) in batch.iter().zip(slots) {
            super::file::encode_into(out, r.ts_ns, self.pid, r.cpu, r.kind, r.aux, r.arg1, words);
        }
        self.used += batch.records.len() * size;
    }

    /// The batch as one chunk (several past [`CHUNK_LIMIT`] bytes).
    fn compact_records(&mut self, batch: &Batch) {
        let max = self.max_compact;
        let mut chunk = self.open_chunk();
        let mut count = 0u32;
        for (r, words) in batch.iter() {
            if self.buf.len() - self.used < max {
                self.room(max);
            }
            self.used += self.encoder.encode(
                &mut self.buf[self.used..],
                r.ts_ns,
                r.cpu,
                r.kind,
                r.aux,
                r.arg1,
                words,
            );
            count += 1;
            if self.used - chunk >= CHUNK_LIMIT {
                self.close_chunk(chunk, count);
                chunk = self.open_chunk();
                count = 0;
            }
        }
        self.close_chunk(chunk, count);
    }

    /// Starts a chunk at `used`; returns where its payload starts.
    fn open_chunk(&mut self) -> usize {
        self.room(CHUNK_HEADER);
        self.used += CHUNK_HEADER;
        self.encoder.reset();
        self.used
    }

    fn close_chunk(&mut self, payload_at: usize, count: u32) {
        let start = payload_at - CHUNK_HEADER;
        if count == 0 {
            self.used = start;
            return;
        }
        let payload = (self.used - payload_at) as u32;
        self.buf[start..start + 4].copy_from_slice(&payload.to_le_bytes());
        self.buf[start + 4..payload_at].copy_from_slice(&count.to_le_bytes());
        self.chunk_ends.push((self.used, u64::from(count)));
    }

    /// Writes the buffered records, counting those that reach the file
    /// whole even when a write fails part way (a full disk).
    fn write_out(&mut self) -> io::Result<()> {
        let mut done = 0;
        let mut result = Ok(());
        while done < self.used {
            match self.file.write(&self.buf[done..self.used]) {
                Ok(0) => {
                    result = Err(io::Error::from(io::ErrorKind::WriteZero));
                    break;
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.persisted += match self.layout {
            Layout::Fixed => (done / self.record_size) as u64,
            Layout::Compact => self
                .chunk_ends
                .iter()
                .take_while(|(end, _)| *end <= done)
                .map(|(_, n)| n)
                .sum(),
        };
        self.chunk_ends.clear();
        self.used = 0;
        result
    }
}

impl BinarySink {
    fn encode(&mut self, batch: &Batch) {
        match self.layout {
            Layout::Fixed => self.fixed_records(batch),
            Layout::Compact => self.compact_records(batch),
        }
        self.records += batch.records.len() as u64;
    }

    /// Encodes what the time order lets out: with `batch`, the events
    /// that are in order now; without, all of them (the end).
    fn encode_in_order(&mut self, batch: Option<&Batch>) {
        let Some(mut order) = self.order.take() else {
            if let Some(batch) = batch {
                self.encode(batch);
            }
            return;
        };
        let ready = match batch {
            // The clock before the recorders' floors (see `merge`).
            Some(batch) => order.order(batch, super::monotonic_ns()),
            None => order.drain(),
        };
        self.encode(ready);
        self.order = Some(order);
    }
}

impl Sink for BinarySink {
    fn events(&mut self, batch: &Batch) -> io::Result<()> {
        self.encode_in_order(Some(batch));
        if self.used >= WRITE_CHUNK {
            self.write_out()?;
        }
        Ok(())
    }

    fn attach_sources(&mut self, sources: std::sync::Arc<super::merge::Sources>) {
        self.order = Some(super::merge::TimeOrder::new(sources));
    }

    /// Text lines (`-strace`) are not part of the binary trace.
    fn text(&mut self, _line: &str) -> io::Result<()> {
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Some(mut order) = self.order.take() {
            let ready = order.ready(super::monotonic_ns());
            self.encode(ready);
            self.order = Some(order);
        }
        self.write_out()
    }

    fn drain(&mut self) -> io::Result<()> {
        self.encode_in_order(None);
        self.write_out()
    }

    fn finish(&mut self) -> io::Result<()> {
        self.encode_in_order(None);
        if let Some(late) = self.order.as_ref().map(|o| o.late).filter(|&n| n > 0) {
            eprintln!(
                "ht-user: {late} events reached the trace writer after later ones of another \
                 thread; they are written with the time of the record before them"
            );
        }
        self.write_out()?;
        if self.seekable {
            self.file
                .write_all_at(&self.records.to_le_bytes(), RECORD_COUNT_OFFSET)?;
        }
        Ok(())
    }

    fn events_in_file(&self) -> Option<u64> {
        Some(self.persisted)
    }
}

/// Hands everything to several sinks in turn (QEMU log text and the
/// binary trace).
pub struct FanOut(pub Vec<Box<dyn Sink>>);

impl Sink for FanOut {
    fn events(&mut self, batch: &Batch) -> io::Result<()> {
        self.0.iter_mut().try_for_each(|s| s.events(batch))
    }

    fn text(&mut self, line: &str) -> io::Result<()> {
        self.0.iter_mut().try_for_each(|s| s.text(line))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.iter_mut().try_for_each(|s| s.flush())
    }

    fn drain(&mut self) -> io::Result<()> {
        self.0.iter_mut().try_for_each(|s| s.drain())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.0.iter_mut().try_for_each(|s| s.finish())
    }

    fn events_in_file(&self) -> Option<u64> {
        self.0.iter().find_map(|s| s.events_in_file())
    }

    fn attach_sources(&mut self, sources: std::sync::Arc<super::merge::Sources>) {
        for sink in &mut self.0 {
            sink.attach_sources(sources.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::file::{ClockAnchor, TraceFile};
    use super::super::{mem_info, EventKind, EventRecord, EventSet};
    use super::*;

    const LAYOUTS: [Layout; 2] = [Layout::Fixed, Layout::Compact];

    /// A binary trace in a temporary directory fed by a writer with two
    /// recorders (two threads of a parallel run), 2 words per event; the
    /// clock anchor's time.
    struct TwoThreads {
        dir: tempfile::TempDir,
        path: std::path::PathBuf,
        first: crate::trace::Recorder,
        second: crate::trace::Recorder,
        writer: crate::trace::Writer,
        t0: u64,
    }

    fn two_threads() -> TwoThreads {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.bin");
        let anchor = ClockAnchor::now();
        let info = TraceInfo::for_run(7, 3, "x86_64", Path::new("p"), &[], None, anchor);
        let sink = BinarySink::create(&path, &info).unwrap();
        let (first, writer) = crate::trace::Writer::start(Box::new(sink), 2).unwrap();
        let second = first.for_another_thread().unwrap();
        TwoThreads {
            dir,
            path,
            first,
            second,
            writer,
            t0: anchor.monotonic_ns,
        }
    }

    /// Two recorders of one writer (two threads of a parallel run) whose
    /// batches arrive out of time order: the file has every record once,
    /// in time order, each with its words.
    #[test]
    fn recorders_of_several_threads_are_written_in_time_order() {
        let TwoThreads {
            dir: _dir,
            path,
            mut first,
            mut second,
            writer,
            t0,
        } = two_threads();
        // Thread 1 stamps odd times, thread 2 even ones; thread 2 sends
        // its whole run first.
        for i in 0..1000u64 {
            let ts = second.stamp(|| t0 + 2 * i);
            second.push(EventRecord::hypertrace(ts, 2, 1, 2 * i), &[i, !i]);
        }
        second.go_idle();
        for i in 0..1000u64 {
            let ts = first.stamp(|| t0 + 2 * i + 1);
            first.push(EventRecord::hypertrace(ts, 1, 0, 2 * i + 1), &[i, !i]);
        }
        assert_eq!(second.close(), 1000);
        let report = writer.finish(first);
        assert_eq!((report.events_written, report.events_lost), (2000, 0));
        let f = TraceFile::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let evs: Vec<_> = f.events().map(Result::unwrap).collect();
        assert_eq!(evs.len(), 2000);
        for (n, e) in evs.iter().enumerate() {
            assert_eq!(e.ts_ns, t0 + n as u64, "record {n}");
            assert_eq!(e.arg1, n as u64);
            assert_eq!(e.thread, 1 + (n as u32 + 1) % 2);
            let i = n as u64 / 2;
            assert_eq!(e.args().collect::<Vec<_>>(), [i, !i]);
        }
    }

    /// What the time order holds back is in the file after a drain (the
    /// sync before an execve), before the writer ends.
    #[test]
    fn a_drain_writes_what_the_time_order_holds() {
        let TwoThreads {
            dir: _dir,
            path,
            first,
            mut second,
            writer,
            t0,
        } = two_threads();
        for i in 0..100u64 {
            let ts = second.stamp(|| t0 + i);
            second.push(EventRecord::hypertrace(ts, 2, 1, i), &[i, i]);
        }
        // The first recorder has sent nothing: the second's events wait.
        second.sync();
        let held = TraceFile::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(held.records, 0);
        second.sync_all();
        let drained = TraceFile::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(drained.records, 100);
        second.close();
        let report = writer.finish(first);
        assert_eq!((report.events_written, report.events_lost), (100, 0));
    }

    #[test]
    fn batches_round_trip_with_count() {
        for layout in LAYOUTS {
            batches_round_trip_as(layout);
        }
    }

    fn batches_round_trip_as(layout: Layout) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.bin");
        let anchor = ClockAnchor::now();
        let info = TraceInfo::for_run(7, 3, "x86_64", Path::new("p"), &[], None, anchor)
            .with_layout(layout);
        let mut sink = BinarySink::create(&path, &info).unwrap();
        let mut batch = Batch::with_capacity(2, 10);
        for i in 0..10u64 {
            batch
                .records
                .push(EventRecord::hypertrace(anchor.monotonic_ns + i, 1, 2, i));
            batch.args.extend_from_slice(&[i, !i]);
        }
        sink.events(&batch).unwrap();
        sink.text("ignored").unwrap();
        sink.flush().unwrap();
        for r in &mut batch.records {
            r.ts_ns += 10;
        }
        sink.events(&batch).unwrap();
        sink.finish().unwrap();
        let f = TraceFile::open(&path).unwrap();
        assert_eq!(f.info.layout, layout);
        assert_eq!(sink.events_in_file(), Some(20));
        assert_eq!(f.declared_count, Some(20));
        assert_eq!(f.records, 20);
        let evs: Vec<_> = f.events().map(Result::unwrap).collect();
        assert_eq!(evs.len(), 20);
        assert_eq!(evs[9].arg1, 9);
        assert_eq!(evs[9].thread, 1);
        assert_eq!(evs[9].client, 2);
        assert_eq!(evs[9].args().collect::<Vec<_>>(), vec![9, !9]);
    }

    #[test]
    fn continued_file_appends_and_counts_all() {
        for layout in LAYOUTS {
            continued_file_as(layout);
        }
    }

    fn continued_file_as(layout: Layout) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.bin");
        let anchor = ClockAnchor::now();
        let info = TraceInfo::for_run(7, 2, "x86_64", Path::new("p"), &[], None, anchor)
            .with_layout(layout);
        let batch = |from: u64, n: u64| {
            let mut b = Batch::with_capacity(1, n as usize);
            for i in from..from + n {
                b.records
                    .push(EventRecord::hypertrace(anchor.monotonic_ns + i, 0, 0, i));
                b.args.push(i);
            }
            b
        };
        let mut first = BinarySink::create(&path, &info).unwrap();
        first.events(&batch(0, 3)).unwrap();
        first.finish().unwrap();
        let mut next = BinarySink::continue_file(&path, &info).unwrap();
        // Unknown while the second image runs.
        assert_eq!(TraceFile::open(&path).unwrap().declared_count, None);
        next.events(&batch(3, 2)).unwrap();
        next.finish().unwrap();
        let f = TraceFile::open(&path).unwrap();
        assert_eq!(f.declared_count, Some(5));
        let got: Vec<u64> = f.events().map(|e| e.unwrap().arg1).collect();
        assert_eq!(got, [0, 1, 2, 3, 4]);
        // A torn end (a killed writer) is cut off before appending.
        let len = std::fs::metadata(&path).unwrap().len();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&[9, 0, 0, 0, 1])
            .unwrap();
        let mut again = BinarySink::continue_file(&path, &info).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), len);
        again.events(&batch(5, 1)).unwrap();
        again.finish().unwrap();
        let f = TraceFile::open(&path).unwrap();
        assert_eq!(f.declared_count, Some(6));
        // The other layout's file is not continued: it starts anew.
        let other = info.clone().with_layout(match layout {
            Layout::Fixed => Layout::Compact,
            Layout::Compact => Layout::Fixed,
        });
        BinarySink::continue_file(&path, &other)
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(TraceFile::open(&path).unwrap().records, 0);
        let mut again = BinarySink::continue_file(&path, &info).unwrap();
        again.events(&batch(0, 5)).unwrap();
        again.finish().unwrap();
        // Another process's file is not continued: it starts anew.
        let other = TraceInfo::for_run(8, 2, "x86_64", Path::new("p"), &[], None, anchor);
        let mut fresh = BinarySink::continue_file(&path, &other).unwrap();
        fresh.finish().unwrap();
        let f = TraceFile::open(&path).unwrap();
        assert_eq!((f.info.pid, f.declared_count), (8, Some(0)));
        // A missing file is created.
        let missing = dir.path().join("new.bin");
        BinarySink::continue_file(&missing, &info)
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(TraceFile::open(&missing).unwrap().records, 0);
    }

    #[test]
    fn every_kind_round_trips_in_order() {
        for layout in LAYOUTS {
            every_kind_as(layout);
        }
    }

    fn every_kind_as(layout: Layout) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.bin");
        let anchor = ClockAnchor::now();
        let all = EventSet(EventKind::ALL.iter().map(|k| k.bit()).fold(0, |a, b| a | b));
        let info = TraceInfo::for_run(7, 2, "x86_64", Path::new("p"), &[], None, anchor)
            .with_kinds(all)
            .with_layout(layout);
        // 24-byte prefix, arg1 and the syscall's five further arguments.
        assert_eq!(info.record_size(), 72);
        let mut sink = BinarySink::create(&path, &info).unwrap();
        let mut batch = Batch::with_capacity(1, 8);
        let t = anchor.monotonic_ns;
        let mut push = |kind, aux, arg1, words: &[u64]| {
            batch.records.push(EventRecord {
                ts_ns: t,
                cpu: 3,
                kind,
                aux,
                arg1,
            });
            batch.args.extend_from_slice(words);
        };
        push(EventKind::Hypertrace, 1, 1, &[0xcafe]);
        push(
            EventKind::MemAccess,
            mem_info::encode(4, true, false),
            0x1000,
            &[0x401000, 0xdead],
        );
        push(EventKind::ExecTb, 12, 0x401000, &[]);
        push(EventKind::Syscall, 60, 1, &[2, 3, 4, 5, 6]);
        push(EventKind::SyscallRet, 60, (-2i64) as u64, &[]);
        push(EventKind::HypertraceName, 5, 3 << 32, &[0x636261]);
        sink.events(&batch).unwrap();
        sink.finish().unwrap();

        let f = TraceFile::open(&path).unwrap();
        assert_eq!(f.info.kinds, info.kinds);
        let recs: Vec<_> = f.records().map(Result::unwrap).collect();
        let kinds: Vec<_> = recs.iter().map(|r| r.kind).collect();
        assert_eq!(kinds, EventKind::ALL);
        assert_eq!(recs[1].client, 0x12);
        assert_eq!(recs[1].args().collect::<Vec<_>>(), vec![0x401000, 0xdead]);
        assert_eq!(recs[3].args().collect::<Vec<_>>(), vec![2, 3, 4, 5, 6]);
        assert_eq!(recs[4].arg1 as i64, -2);
        // Only the hypertrace record is an "event" for the analyses.
        assert_eq!(f.events().count(), 1);
    }

    /// A batch larger than a chunk holds is split; the records stay in
    /// order and all are counted.
    #[test]
    fn a_large_batch_spans_several_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.bin");
        let anchor = ClockAnchor::now();
        let info = TraceInfo::for_run(7, 200, "x86_64", Path::new("p"), &[], None, anchor)
            .with_layout(Layout::Compact);
        let mut sink = BinarySink::create(&path, &info).unwrap();
        let mut batch = Batch::with_capacity(199, 1000);
        for i in 0..1000u64 {
            batch.records.push(EventRecord::hypertrace(
                anchor.monotonic_ns + i,
                (i % 3) as u32,
                0,
                i,
            ));
            batch.args.extend((0..199).map(|k| u64::MAX - k - i));
        }
        sink.events(&batch).unwrap();
        sink.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let hs = info.encode().len();
        let (payload, count) = compact::chunk_header(&bytes, hs).unwrap();
        assert!(
            payload >= CHUNK_LIMIT && (count as usize) < 1000,
            "{payload} {count}"
        );
        let f = TraceFile::open(&path).unwrap();
        let evs: Vec<_> = f.events().map(Result::unwrap).collect();
        assert_eq!(evs.len(), 1000);
        assert_eq!(evs[999].thread, 0);
        assert_eq!(evs[998].args().last(), Some(u64::MAX - 198 - 998));
    }
}
