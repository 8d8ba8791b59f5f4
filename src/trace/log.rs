// SPDX-License-Identifier: GPL-2.0-or-later
//! QEMU's "log" trace backend format:
//! `PID@SECONDS.MICROS:guest_hypertrace cpu=0xN  arg1=A arg2=0x... ...`,
//! and the same prefix for the other events (see [`format_record`]).

use std::io::{self, BufWriter, Write};

use super::file::ClockAnchor;
use super::{Batch, EventKind, Sink};

pub struct QemuLogSink {
    out: BufWriter<Box<dyn Write + Send>>,
    pid: u32,
    anchor: ClockAnchor,
    /// Whether event lines are written (text lines always are).
    events: bool,
    /// Words of a guest_hypertrace record that are arguments: QEMU's line
    /// has no place for the counters after them.
    hypertrace_args: usize,
    line: Vec<u8>,
}

impl QemuLogSink {
    /// A sink converting timestamps to wall-clock time with `anchor`, so
    /// that its lines match a binary trace written alongside.
    pub fn with_anchor(out: Box<dyn Write + Send>, pid: u32, anchor: ClockAnchor) -> Self {
        QemuLogSink {
            out: BufWriter::with_capacity(1 << 20, out),
            pid,
            anchor,
            events: true,
            hypertrace_args: usize::MAX,
            line: Vec::with_capacity(256),
        }
    }

    /// Turns event lines on or off; text lines are written either way.
    pub fn set_events(&mut self, on: bool) {
        self.events = on;
    }

    /// Prints only the first `n` words of guest_hypertrace records (the
    /// arguments, not the counters that may follow them).
    pub fn set_hypertrace_args(&mut self, n: usize) {
        self.hypertrace_args = n;
    }
}

/// Formats one event line (without the newline) into `out`.
pub fn format_event(out: &mut Vec<u8>, pid: u32, wall_ns: u64, cpu: u32, arg1: u64, args: &[u64]) {
    push_dec(out, pid as u64);
    out.push(b'@');
    push_dec(out, wall_ns / 1_000_000_000);
    out.push(b'.');
    push_dec_width(out, (wall_ns % 1_000_000_000) / 1000, 6);
    out.extend_from_slice(b":guest_hypertrace cpu=0x");
    push_hex_width(out, cpu as u64, 1);
    out.extend_from_slice(b"  arg1=");
    push_dec(out, arg1);
    for (i, a) in args.iter().enumerate() {
        out.extend_from_slice(b" arg");
        push_dec(out, i as u64 + 2);
        out.extend_from_slice(b"=0x");
        push_hex_width(out, *a, 16);
    }
}

/// Formats one line of any event kind (without the newline): the
/// hypertrace line of [`format_event`], or
/// `guest_mem_before_exec cpu=0xN  vaddr=0x... info=N pc=0x...[ value=0x...]`,
/// `guest_exec_tb cpu=0xN  pc=0x... size=N insns=N`,
/// `guest_user_syscall cpu=0xN  num=0x... arg1=0x... .. arg6=0x...`,
/// `guest_user_syscall_ret cpu=0xN  num=0x... ret=0x...`,
/// `guest_hypertrace_name cpu=0xN  id=N offset=N len=N text="..."`
/// (QEMU's argument names; `info` in QEMU's encoding, see `mem_info`).
#[allow(clippy::too_many_arguments)]
pub fn format_record(
    out: &mut Vec<u8>,
    pid: u32,
    wall_ns: u64,
    cpu: u32,
    kind: EventKind,
    aux: u32,
    arg1: u64,
    words: &[u64],
) {
    if kind == EventKind::Hypertrace {
        format_event(out, pid, wall_ns, cpu, arg1, words);
        return;
    }
    push_dec(out, pid as u64);
    out.push(b'@');
    push_dec(out, wall_ns / 1_000_000_000);
    out.push(b'.');
    push_dec_width(out, (wall_ns % 1_000_000_000) / 1000, 6);
    out.push(b':');
    out.extend_from_slice(kind.name().as_bytes());
    out.extend_from_slice(b" cpu=0x");
    push_hex_width(out, cpu as u64, 1);
    out.push(b' ');
    let word = |i: usize| words.get(i).copied().unwrap_or(0);
    let field = |out: &mut Vec<u8>, name: &[u8], v: u64| {
        out.push(b' ');
        out.extend_from_slice(name);
        out.extend_from_slice(b"=0x");
        push_hex_width(out, v, 16);
    };
    match kind {
        EventKind::MemAccess => {
            field(out, b"vaddr", arg1);
            out.extend_from_slice(b" info=");
            push_dec(out, aux as u64);
            field(out, b"pc", word(0));
            if super::mem_info::is_store(aux) {
                field(out, b"value", word(1));
            }
        }
        EventKind::ExecTb => {
            // aux: size in bits 0-15, instructions in 16-31 (0: unknown,
            // a trace from before they were recorded).
            field(out, b"pc", arg1);
            out.extend_from_slice(b" size=");
            push_dec(out, u64::from(aux & 0xffff));
            if aux >> 16 != 0 {
                out.extend_from_slice(b" insns=");
                push_dec(out, u64::from(aux >> 16));
            }
        }
        EventKind::Syscall => {
            field(out, b"num", aux as u64);
            field(out, b"arg1", arg1);
            for (i, name) in [b"arg2", b"arg3", b"arg4", b"arg5", b"arg6"]
                .iter()
                .enumerate()
            {
                field(out, *name, word(i));
            }
        }
        EventKind::SyscallRet => {
            field(out, b"num", aux as u64);
            field(out, b"ret", arg1);
        }
        EventKind::HypertraceName => {
            // One line per piece: the text is the piece's bytes.
            let offset = arg1 & 0xffff_ffff;
            let len = arg1 >> 32;
            out.extend_from_slice(b" id=");
            push_dec(out, aux as u64);
            out.extend_from_slice(b" offset=");
            push_dec(out, offset);
            out.extend_from_slice(b" len=");
            push_dec(out, len);
            let take = len.saturating_sub(offset).min(words.len() as u64 * 8) as usize;
            let bytes: Vec<u8> = words
                .iter()
                .flat_map(|w| w.to_le_bytes())
                .take(take)
                .collect();
            out.extend_from_slice(b" text=\"");
            for c in bytes.escape_ascii() {
                out.push(c);
            }
            out.push(b'"');
        }
        EventKind::Hypertrace => unreachable!("handled above"),
    }
}

/// Appends `v` in decimal.
#[inline]
pub fn push_dec(out: &mut Vec<u8>, v: u64) {
    push_dec_width(out, v, 1);
}

/// Appends `v` in decimal, zero-padded to at least `width` digits.
#[inline]
pub fn push_dec_width(out: &mut Vec<u8>, mut v: u64, width: usize) {
    let digits = v.checked_ilog10().map_or(1, |l| l as usize + 1).max(width);
    let start = out.len();
    out.resize(start + digits, b'0');
    let field = &mut out[start..];
    let mut i = digits;
    while v > 0 {
        i -= 1;
        field[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Appends `v` in lower-case hex, zero-padded to at least `width` digits.
#[inline]
pub fn push_hex_width(out: &mut Vec<u8>, v: u64, width: usize) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digits = ((64 - v.leading_zeros() as usize).div_ceil(4)).max(width.clamp(1, 16));
    let start = out.len();
    out.resize(start + digits, b'0');
    for (k, d) in out[start..].iter_mut().rev().enumerate() {
        *d = DIGITS[((v >> (4 * k)) & 0xf) as usize];
    }
}

impl Sink for QemuLogSink {
    fn events(&mut self, batch: &Batch) -> io::Result<()> {
        if !self.events {
            return Ok(());
        }
        // The batch's lines are formatted into one buffer and written at once.
        self.line.clear();
        for (r, words) in batch.iter() {
            let wall = self.anchor.wall_ns(r.ts_ns);
            let words = if r.kind == EventKind::Hypertrace {
                &words[..words.len().min(self.hypertrace_args)]
            } else {
                words
            };
            format_record(
                &mut self.line,
                self.pid,
                wall,
                r.cpu,
                r.kind,
                r.aux,
                r.arg1,
                words,
            );
            self.line.push(b'\n');
        }
        self.out.write_all(&self.line)?;
        if self.line.capacity() > 4 << 20 {
            self.line = Vec::with_capacity(256);
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
    fn number_formatting_matches_std() {
        let values = [
            0u64,
            1,
            9,
            10,
            99,
            100,
            12345,
            u32::MAX as u64,
            u64::MAX,
            1 << 63,
        ];
        for v in values {
            let mut out = Vec::new();
            push_dec(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
            let mut out = Vec::new();
            push_dec_width(&mut out, v, 6);
            assert_eq!(String::from_utf8(out).unwrap(), format!("{v:06}"));
            let mut out = Vec::new();
            push_hex_width(&mut out, v, 16);
            assert_eq!(String::from_utf8(out).unwrap(), format!("{v:016x}"));
            let mut out = Vec::new();
            push_hex_width(&mut out, v, 1);
            assert_eq!(String::from_utf8(out).unwrap(), format!("{v:x}"));
        }
    }

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
