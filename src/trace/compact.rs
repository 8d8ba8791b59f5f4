// SPDX-License-Identifier: GPL-2.0-or-later
//! The compact record encoding of the binary trace (format 2.0,
//! `-trace-format compact`): records in chunks, each record a tag byte
//! and varints, most fields as differences from the record before.
//! `docs/trace-format.md` is the specification.
//!
//! ```text
//! chunk   u32 payload_bytes, u32 record_count, payload (the records)
//! record  tag, [thread], [timestamp delta], [aux], kind's fields
//! tag     bits 0-2 kind, 3 thread follows, 4 timestamp delta follows,
//!         5 aux follows, 6 (memory access) value follows, 7 zero
//! ```
//!
//! Every chunk starts from the same state (timestamp 0, thread 0, every
//! kind's aux 0, addresses and pcs 0), so chunks decode on their own.

use super::EventKind;

/// Bytes of a chunk's header: `u32 payload_bytes, u32 record_count`.
pub const CHUNK_HEADER: usize = 8;
/// A chunk is closed once its payload reaches this size (the writer
/// starts the next record in a new chunk).
pub const CHUNK_LIMIT: usize = 1 << 20;

pub const TAG_KIND: u8 = 0x07;
pub const TAG_THREAD: u8 = 0x08;
pub const TAG_TIME: u8 = 0x10;
pub const TAG_AUX: u8 = 0x20;
pub const TAG_VALUE: u8 = 0x40;
pub const TAG_RESERVED: u8 = 0x80;

/// Longest varint of a u64.
pub const MAX_VARINT: usize = 10;

/// Largest encoding of one record whose kind carries `words` words after
/// arg1: tag, thread, timestamp, aux, arg1 and the words.
pub const fn max_record_bytes(words: usize) -> usize {
    1 + 5 + MAX_VARINT + 5 + MAX_VARINT * (1 + words)
}

/// Zigzag: small negative and positive numbers to small unsigned ones
/// (0, -1, 1, -2, ... to 0, 1, 2, 3, ...).
#[inline(always)]
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline(always)]
pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Writes `v` as an unsigned LEB128 varint at `out[at..]`; returns the
/// offset after it.
///
/// # Safety
/// `out` must have room for [`MAX_VARINT`] bytes at `at`.
#[inline(always)]
unsafe fn put(out: *mut u8, mut at: usize, mut v: u64) -> usize {
    while v >= 0x80 {
        // SAFETY: at most MAX_VARINT bytes from the caller's `at`.
        unsafe { *out.add(at) = v as u8 | 0x80 };
        v >>= 7;
        at += 1;
    }
    // SAFETY: as above.
    unsafe { *out.add(at) = v as u8 };
    at + 1
}

/// The state both ends keep: the previous record's fields.
#[derive(Clone, Copy, Debug, Default)]
struct State {
    ts: u64,
    thread: u32,
    aux: [u32; 6],
    mem_addr: u64,
    mem_pc: u64,
    tb_pc: u64,
}

/// Encodes records of one chunk after another.
#[derive(Clone, Debug, Default)]
pub struct Encoder {
    s: State,
}

impl Encoder {
    /// Back to the state a chunk starts from.
    pub fn reset(&mut self) {
        self.s = State::default();
    }

    /// Encodes one record at the start of `out`, which has room for
    /// [`max_record_bytes`] of its words; returns the bytes written.
    /// `words` are the kind's words after arg1 ([`EventKind::words`]).
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub fn encode(
        &mut self,
        out: &mut [u8],
        ts_ns: u64,
        thread: u32,
        kind: EventKind,
        aux: u32,
        arg1: u64,
        words: &[u64],
    ) -> usize {
        // Checked once: the writes below stay within this bound (one tag,
        // thread and aux of at most 5 bytes, at most 2 + words.len()
        // further varints), which makes them safe without a check each.
        assert!(out.len() >= max_record_bytes(words.len()));
        let out = out.as_mut_ptr();
        let s = &mut self.s;
        let mut tag = kind as u8;
        let mut at = 1;
        if thread != s.thread {
            tag |= TAG_THREAD;
            at = unsafe { put(out, at, u64::from(thread)) };
            s.thread = thread;
        }
        if ts_ns != s.ts {
            tag |= TAG_TIME;
            at = unsafe { put(out, at, zigzag(ts_ns.wrapping_sub(s.ts) as i64)) };
            s.ts = ts_ns;
        }
        let k = kind as usize;
        if aux != s.aux[k] {
            tag |= TAG_AUX;
            at = unsafe { put(out, at, u64::from(aux)) };
            s.aux[k] = aux;
        }
        match kind {
            EventKind::MemAccess => {
                at = unsafe { put(out, at, zigzag(arg1.wrapping_sub(s.mem_addr) as i64)) };
                s.mem_addr = arg1;
                at = unsafe { put(out, at, zigzag(words[0].wrapping_sub(s.mem_pc) as i64)) };
                s.mem_pc = words[0];
                if words[1] != 0 {
                    tag |= TAG_VALUE;
                    at = unsafe { put(out, at, words[1]) };
                }
            }
            EventKind::ExecTb => {
                at = unsafe { put(out, at, zigzag(arg1.wrapping_sub(s.tb_pc) as i64)) };
                s.tb_pc = arg1;
            }
            EventKind::SyscallRet => at = unsafe { put(out, at, zigzag(arg1 as i64)) },
            EventKind::Hypertrace | EventKind::Syscall | EventKind::HypertraceName => {
                at = unsafe { put(out, at, arg1) };
                for &w in words {
                    at = unsafe { put(out, at, w) };
                }
            }
        }
        // SAFETY: within the bound checked above.
        unsafe { *out = tag };
        at
    }
}

/// One decoded record; its words are in the vector given to
/// [`Decoder::decode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    pub ts_ns: u64,
    pub thread: u32,
    pub kind: EventKind,
    pub aux: u32,
    pub arg1: u64,
}

/// Why a record does not decode, at which byte of the payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Offset in the payload of the byte that is wrong or missing.
    pub at: usize,
    /// The payload ended inside the record (a truncated chunk), rather
    /// than holding something no writer produces.
    pub incomplete: bool,
    pub message: String,
}

/// Decodes the records of one chunk in order.
#[derive(Clone, Debug, Default)]
pub struct Decoder {
    s: State,
}

fn get(p: &[u8], at: &mut usize) -> Result<u64, DecodeError> {
    let start = *at;
    let mut v = 0u64;
    for i in 0..MAX_VARINT {
        let Some(&b) = p.get(start + i) else {
            return Err(DecodeError {
                at: start + i,
                incomplete: true,
                message: "the chunk ends inside a varint".into(),
            });
        };
        if i == MAX_VARINT - 1 && b > 1 {
            return Err(DecodeError {
                at: start + i,
                incomplete: false,
                message: "varint larger than 64 bits".into(),
            });
        }
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            *at = start + i + 1;
            return Ok(v);
        }
    }
    unreachable!("the tenth byte ends the varint or is refused")
}

fn get32(p: &[u8], at: &mut usize, what: &str) -> Result<u32, DecodeError> {
    let start = *at;
    let v = get(p, at)?;
    u32::try_from(v).map_err(|_| DecodeError {
        at: start,
        incomplete: false,
        message: format!("{what} {v} does not fit 32 bits"),
    })
}

impl Decoder {
    /// Decodes the record at `p[*at..]`, moves `at` past it and replaces
    /// `words` with its words after arg1; `extra_args` is the words of a
    /// guest_hypertrace record ([`super::file::TraceInfo::hypertrace_words`]).
    pub fn decode(
        &mut self,
        p: &[u8],
        at: &mut usize,
        extra_args: usize,
        words: &mut Vec<u64>,
    ) -> Result<Decoded, DecodeError> {
        let start = *at;
        let Some(&tag) = p.get(start) else {
            return Err(DecodeError {
                at: start,
                incomplete: true,
                message: "the chunk ends before this record".into(),
            });
        };
        let corrupt = |message: String| DecodeError {
            at: start,
            incomplete: false,
            message,
        };
        let kind = EventKind::from_u32(u32::from(tag & TAG_KIND))
            .ok_or_else(|| corrupt(format!("unknown record kind {} (tag {tag:#04x})", tag & 7)))?;
        if tag & TAG_RESERVED != 0 || (tag & TAG_VALUE != 0 && kind != EventKind::MemAccess) {
            return Err(corrupt(format!("tag {tag:#04x} sets a reserved bit")));
        }
        let mut s = self.s;
        let mut pos = start + 1;
        if tag & TAG_THREAD != 0 {
            s.thread = get32(p, &mut pos, "thread")?;
        }
        if tag & TAG_TIME != 0 {
            s.ts = s.ts.wrapping_add(unzigzag(get(p, &mut pos)?) as u64);
        }
        let k = kind as usize;
        if tag & TAG_AUX != 0 {
            s.aux[k] = get32(p, &mut pos, "aux")?;
        }
        words.clear();
        let arg1 = match kind {
            EventKind::MemAccess => {
                s.mem_addr = s.mem_addr.wrapping_add(unzigzag(get(p, &mut pos)?) as u64);
                s.mem_pc = s.mem_pc.wrapping_add(unzigzag(get(p, &mut pos)?) as u64);
                let value = if tag & TAG_VALUE != 0 {
                    get(p, &mut pos)?
                } else {
                    0
                };
                words.extend_from_slice(&[s.mem_pc, value]);
                s.mem_addr
            }
            EventKind::ExecTb => {
                s.tb_pc = s.tb_pc.wrapping_add(unzigzag(get(p, &mut pos)?) as u64);
                s.tb_pc
            }
            EventKind::SyscallRet => unzigzag(get(p, &mut pos)?) as u64,
            EventKind::Hypertrace | EventKind::Syscall | EventKind::HypertraceName => {
                let arg1 = get(p, &mut pos)?;
                for _ in 0..kind.words(extra_args) {
                    words.push(get(p, &mut pos)?);
                }
                arg1
            }
        };
        self.s = s;
        *at = pos;
        Ok(Decoded {
            ts_ns: s.ts,
            thread: s.thread,
            kind,
            aux: s.aux[k],
            arg1,
        })
    }
}

/// A chunk's header at `b[at..]`: (payload_bytes, record_count), or None
/// when fewer than [`CHUNK_HEADER`] bytes are left.
pub fn chunk_header(b: &[u8], at: usize) -> Option<(usize, u32)> {
    let h = b.get(at..at.checked_add(CHUNK_HEADER)?)?;
    let payload = u32::from_le_bytes(h[0..4].try_into().expect("4 bytes"));
    let count = u32::from_le_bytes(h[4..8].try_into().expect("4 bytes"));
    Some((payload as usize, count))
}

/// Builds chunks into a growing byte vector: for [`super::file::TraceBuilder`]
/// and tests (the trace writer keeps its own buffer).
#[derive(Debug, Default)]
pub struct ChunkBuilder {
    enc: Encoder,
    /// Offset of the open chunk's header, if one is open.
    open: Option<usize>,
    count: u32,
}

impl ChunkBuilder {
    /// Appends a record to `out`, opening a chunk first if none is open
    /// and closing it once its payload reaches [`CHUNK_LIMIT`].
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        out: &mut Vec<u8>,
        ts_ns: u64,
        thread: u32,
        kind: EventKind,
        aux: u32,
        arg1: u64,
        words: &[u64],
    ) {
        let start = match self.open {
            Some(s) => s,
            None => {
                let s = out.len();
                out.extend_from_slice(&[0; CHUNK_HEADER]);
                self.enc.reset();
                self.count = 0;
                self.open = Some(s);
                s
            }
        };
        let len = out.len();
        out.resize(len + max_record_bytes(words.len()), 0);
        let n = self
            .enc
            .encode(&mut out[len..], ts_ns, thread, kind, aux, arg1, words);
        out.truncate(len + n);
        self.count += 1;
        if out.len() - start - CHUNK_HEADER >= CHUNK_LIMIT {
            self.close(out);
        }
    }

    /// Fills in the open chunk's header.
    pub fn close(&mut self, out: &mut [u8]) {
        if let Some(start) = self.open.take() {
            let payload = (out.len() - start - CHUNK_HEADER) as u32;
            out[start..start + 4].copy_from_slice(&payload.to_le_bytes());
            out[start + 4..start + 8].copy_from_slice(&self.count.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Rec = (u64, u32, EventKind, u32, u64, Vec<u64>);

    fn round_trip(recs: &[Rec], extra: usize) -> usize {
        let mut enc = Encoder::default();
        let mut buf = Vec::new();
        for (ts, th, kind, aux, arg1, words) in recs {
            assert_eq!(words.len(), kind.words(extra));
            let at = buf.len();
            buf.resize(at + max_record_bytes(words.len()), 0xee);
            let n = enc.encode(&mut buf[at..], *ts, *th, *kind, *aux, *arg1, words);
            buf.truncate(at + n);
        }
        let mut dec = Decoder::default();
        let mut at = 0;
        let mut words = Vec::new();
        for (ts, th, kind, aux, arg1, w) in recs {
            let d = dec.decode(&buf, &mut at, extra, &mut words).unwrap();
            assert_eq!(
                (d.ts_ns, d.thread, d.kind, d.aux, d.arg1),
                (*ts, *th, *kind, *aux, *arg1)
            );
            assert_eq!(&words, w);
        }
        assert_eq!(at, buf.len());
        let e = dec.decode(&buf, &mut at, extra, &mut words).unwrap_err();
        assert!(e.incomplete);
        buf.len()
    }

    #[test]
    fn zigzag_and_varint_edges() {
        for v in [0i64, 1, -1, 63, -64, 64, i64::MAX, i64::MIN] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(i64::MIN), u64::MAX);
        for v in [0u64, 127, 128, 16383, 16384, u32::MAX as u64, u64::MAX] {
            let mut b = [0u8; MAX_VARINT];
            // SAFETY: b holds MAX_VARINT bytes.
            let n = unsafe { put(b.as_mut_ptr(), 0, v) };
            let mut at = 0;
            assert_eq!(get(&b[..n], &mut at).unwrap(), v);
            assert_eq!(at, n);
        }
        let mut b = [0u8; MAX_VARINT];
        // SAFETY: b holds MAX_VARINT bytes.
        assert_eq!(unsafe { put(b.as_mut_ptr(), 0, u64::MAX) }, 10);
        assert_eq!(b[9], 1);
        // An eleventh byte would be needed: refused, not wrapped.
        b[9] = 2;
        let e = get(&b, &mut 0).unwrap_err();
        assert_eq!((e.at, e.incomplete), (9, false));
        let e = get(&b[..4], &mut 0).unwrap_err();
        assert_eq!((e.at, e.incomplete), (4, true));
    }

    #[test]
    fn every_kind_and_edge_value_round_trips() {
        use EventKind::*;
        let m = u64::MAX;
        let recs: Vec<Rec> = vec![
            (0, 0, Hypertrace, 0, 0, vec![0, 0, 0]),
            (m, u32::MAX, Hypertrace, u32::MAX, m, vec![m, 1, m - 1]),
            // Time going back (wrapping deltas), and thread changes.
            (5, 3, MemAccess, 0x13, 0x1000, vec![0x401000, m]),
            (5, 3, MemAccess, 0x03, 0x0ff8, vec![0x400ff0, 0]),
            (4, 0, MemAccess, 0x03, m, vec![0, 0]),
            (m, 7, MemAccess, 0x13, 0, vec![m, 1]),
            (m, 7, ExecTb, 12, 0x401000, vec![]),
            (m, 7, ExecTb, 4, 0x400000, vec![]),
            (0, 7, ExecTb, 0, m, vec![]),
            (1, 1, Syscall, 60, m, vec![1, 2, 3, 4, m]),
            (2, 1, SyscallRet, 60, (-2i64) as u64, vec![]),
            (2, 1, SyscallRet, 60, i64::MIN as u64, vec![]),
            (3, 1, SyscallRet, 0, m / 2, vec![]),
            (3, 2, Hypertrace, 1, 1, vec![2, 3, 4]),
        ];
        round_trip(&recs, 3);
        // Without channel arguments, hypertrace records carry none.
        round_trip(&[(9, 0, Hypertrace, 0, 7, vec![])], 0);
    }

    #[test]
    fn a_loop_of_loads_and_stores_is_a_few_bytes_a_record() {
        let mut recs = Vec::new();
        for k in 0..1000u64 {
            let addr = 0x4c0000 + 8 * (k % 8);
            let ts = 1_000_000 + (k / 128) * 4000;
            recs.push((ts, 0, EventKind::MemAccess, 0x03, addr, vec![0x401130, 0]));
            recs.push((ts, 0, EventKind::MemAccess, 0x13, addr, vec![0x401137, k]));
        }
        let bytes = round_trip(&recs, 3);
        assert!(bytes <= 6 * recs.len(), "{bytes} bytes");
    }

    #[test]
    fn corrupt_records_are_located() {
        let mut words = Vec::new();
        for (bytes, at, what) in [
            (&[0x06u8][..], 0, "unknown record kind 6"),
            (&[0x80, 0][..], 0, "reserved"),
            (&[0x42, 0][..], 0, "reserved"),
            (&[0x08, 0xff, 0xff, 0xff, 0xff, 0x7f, 0][..], 1, "thread"),
        ] {
            let e = Decoder::default()
                .decode(bytes, &mut 0, 3, &mut words)
                .unwrap_err();
            assert_eq!(e.at, at, "{bytes:?}");
            assert!(!e.incomplete);
            assert!(e.message.contains(what), "{}", e.message);
        }
        // A memory access cut after its address.
        let e = Decoder::default()
            .decode(&[0x01, 0x10], &mut 0, 3, &mut words)
            .unwrap_err();
        assert_eq!((e.at, e.incomplete), (2, true));
    }

    #[test]
    fn chunks_close_at_the_limit() {
        let mut out = Vec::new();
        let mut b = ChunkBuilder::default();
        let words = [u64::MAX; 3];
        let per = max_record_bytes(3);
        let n = CHUNK_LIMIT / 30 + 10;
        for i in 0..n as u64 {
            b.push(&mut out, i, 0, EventKind::Hypertrace, 0, u64::MAX, &words);
        }
        b.close(&mut out);
        let (p1, c1) = chunk_header(&out, 0).unwrap();
        assert!((CHUNK_LIMIT..CHUNK_LIMIT + per).contains(&p1));
        let (p2, c2) = chunk_header(&out, CHUNK_HEADER + p1).unwrap();
        assert_eq!(c1 as usize + c2 as usize, n);
        assert_eq!(2 * CHUNK_HEADER + p1 + p2, out.len());
        assert_eq!(chunk_header(&out, out.len() - 7), None);
    }
}
