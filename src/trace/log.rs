// SPDX-License-Identifier: GPL-2.0-or-later
//! QEMU's "log" trace backend format:
//! `PID@SECONDS.MICROS:guest_hypertrace cpu=0xN  arg1=A arg2=0x... ...`

use std::io::{self, BufWriter, Write};

use super::{Batch, Sink};

pub struct QemuLogSink {
    out: BufWriter<Box<dyn Write + Send>>,
    pid: u32,
    /// Wall-clock ns minus monotonic ns, taken once at start.
    wall_offset_ns: i128,
    line: Vec<u8>,
}

impl QemuLogSink {
    pub fn new(out: Box<dyn Write + Send>, pid: u32) -> Self {
        let wall_offset_ns = super::realtime_ns() as i128 - super::monotonic_ns() as i128;
        QemuLogSink {
            out: BufWriter::with_capacity(1 << 20, out),
            pid,
            wall_offset_ns,
            line: Vec::with_capacity(256),
        }
    }
}

/// Formats one event line (without the newline) into `out`.
pub fn format_event(out: &mut Vec<u8>, pid: u32, wall_ns: u64, cpu: u32, arg1: u64, args: &[u64]) {
    let secs = wall_ns / 1_000_000_000;
    let micros = (wall_ns % 1_000_000_000) / 1000;
    // write! into a Vec cannot fail.
    let _ = write!(
        out,
        "{pid}@{secs}.{micros:06}:guest_hypertrace cpu={cpu:#x}  arg1={arg1}"
    );
    for (i, a) in args.iter().enumerate() {
        let _ = write!(out, " arg{}=0x{a:016x}", i + 2);
    }
}

impl Sink for QemuLogSink {
    fn events(&mut self, batch: &Batch) -> io::Result<()> {
        for (i, r) in batch.records.iter().enumerate() {
            self.line.clear();
            let wall = (r.ts_ns as i128 + self.wall_offset_ns).max(0) as u64;
            format_event(
                &mut self.line,
                self.pid,
                wall,
                r.cpu,
                r.arg1,
                batch.args_of(i),
            );
            self.line.push(b'\n');
            self.out.write_all(&self.line)?;
        }
        Ok(())
    }

    fn text(&mut self, line: &str) -> io::Result<()> {
        self.out.write_all(line.as_bytes())?;
        if !line.ends_with('\n') {
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_format() {
        let mut v = Vec::new();
        format_event(
            &mut v,
            23071,
            1_473_096_085_744_211_999,
            0,
            1,
            &[0xcafe, 0xdead, 0xbeef],
        );
        assert_eq!(
            String::from_utf8(v).unwrap(),
            "23071@1473096085.744211:guest_hypertrace cpu=0x0  arg1=1 \
             arg2=0x000000000000cafe arg3=0x000000000000dead arg4=0x000000000000beef"
        );
    }
}
