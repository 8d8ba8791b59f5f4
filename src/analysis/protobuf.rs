// SPDX-License-Identifier: GPL-2.0-or-later
//! The Protocol Buffers wire format, as much of it as `ht-trace convert
//! --to perfetto` writes, and a reader of the same subset for tests and
//! checks.
//!
//! A message is a sequence of fields, each a key (`field << 3 | wire
//! type`) and a value: a varint (wire type 0), 8 bytes (1), a length and
//! that many bytes (2: strings, bytes, nested messages) or 4 bytes (5).
//! The writer appends to a `Vec<u8>`; a nested message reserves one byte
//! for its length and moves its body only in the rare case that the
//! length needs more, so the usual small message costs no copy.

/// Wire type of varint fields.
pub const VARINT: u32 = 0;
/// Wire type of 64-bit fixed-size fields.
pub const FIXED64: u32 = 1;
/// Wire type of length-delimited fields.
pub const LEN: u32 = 2;
/// Wire type of 32-bit fixed-size fields.
pub const FIXED32: u32 = 5;

/// Appends `v` as a varint: 7 bits a byte, least significant first, the
/// top bit set on every byte but the last.
pub fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push(v as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Bytes [`put_varint`] takes for `v`.
pub fn varint_len(v: u64) -> usize {
    // One byte per started group of 7 bits; 0 still takes one.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_key(buf: &mut Vec<u8>, field: u32, wire: u32) {
    put_varint(buf, (u64::from(field) << 3) | u64::from(wire));
}

/// An unsigned integer field (uint32, uint64, an enum, a bool).
pub fn put_uint(buf: &mut Vec<u8>, field: u32, v: u64) {
    put_key(buf, field, VARINT);
    put_varint(buf, v);
}

/// A signed `int32`/`int64` field: two's complement, so a negative value
/// takes ten bytes (the encoding the protos' `int64` fields expect, not
/// `sint64`'s zigzag).
pub fn put_int(buf: &mut Vec<u8>, field: u32, v: i64) {
    put_uint(buf, field, v as u64);
}

/// A length-delimited field of raw bytes.
pub fn put_bytes(buf: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(buf, field, LEN);
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// A string field (UTF-8).
pub fn put_str(buf: &mut Vec<u8>, field: u32, s: &str) {
    put_bytes(buf, field, s.as_bytes());
}

/// A nested message being written: where its length byte is.
#[must_use = "a nested message must be ended"]
pub struct Nested(usize);

/// Starts a nested message in `field`; fields written until [`end`] are
/// its body.
pub fn begin(buf: &mut Vec<u8>, field: u32) -> Nested {
    put_key(buf, field, LEN);
    buf.push(0);
    Nested(buf.len() - 1)
}

/// Ends the nested message `m`, filling in its length.
pub fn end(buf: &mut Vec<u8>, m: Nested) {
    let at = m.0;
    let len = (buf.len() - at - 1) as u64;
    if len < 0x80 {
        buf[at] = len as u8;
    } else {
        let mut head = Vec::with_capacity(10);
        put_varint(&mut head, len);
        buf.splice(at..at + 1, head);
    }
}

/// A field's value as read back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

impl<'a> Value<'a> {
    /// The value of a varint field.
    pub fn uint(self) -> Option<u64> {
        match self {
            Value::Varint(v) => Some(v),
            _ => None,
        }
    }

    /// The bytes of a length-delimited field (a string, a message).
    pub fn bytes(self) -> Option<&'a [u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

/// Why bytes are not a message of this subset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes end inside a field (at this offset).
    Truncated(usize),
    /// A varint longer than ten bytes (at this offset).
    LongVarint(usize),
    /// A wire type this reader does not know (groups, or garbage).
    WireType(u32, usize),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Truncated(at) => write!(f, "truncated field at byte {at}"),
            DecodeError::LongVarint(at) => write!(f, "varint too long at byte {at}"),
            DecodeError::WireType(w, at) => write!(f, "unknown wire type {w} at byte {at}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Reads a varint at `*at`, moving past it.
pub fn read_varint(buf: &[u8], at: &mut usize) -> Result<u64, DecodeError> {
    let start = *at;
    let mut v = 0u64;
    for shift in (0..70).step_by(7) {
        let Some(&b) = buf.get(*at) else {
            return Err(DecodeError::Truncated(start));
        };
        *at += 1;
        if shift < 64 {
            v |= u64::from(b & 0x7f) << shift;
        }
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(DecodeError::LongVarint(start))
}

/// The fields of the message `buf`, in order (a field repeated is met
/// once per value). Stops at the first error, which it yields.
pub fn fields(buf: &[u8]) -> Fields<'_> {
    Fields {
        buf,
        at: 0,
        failed: false,
    }
}

/// Iterator of [`fields`].
pub struct Fields<'a> {
    buf: &'a [u8],
    at: usize,
    failed: bool,
}

impl<'a> Fields<'a> {
    fn next_field(&mut self) -> Result<(u32, Value<'a>), DecodeError> {
        let buf = self.buf;
        let start = self.at;
        let key = read_varint(buf, &mut self.at)?;
        let field = (key >> 3) as u32;
        let take = |at: &mut usize, n: usize| -> Result<&'a [u8], DecodeError> {
            let end = at
                .checked_add(n)
                .filter(|&e| e <= buf.len())
                .ok_or(DecodeError::Truncated(start))?;
            let s = &buf[*at..end];
            *at = end;
            Ok(s)
        };
        let value = match (key & 7) as u32 {
            VARINT => Value::Varint(read_varint(buf, &mut self.at)?),
            FIXED64 => Value::Fixed64(u64::from_le_bytes(
                take(&mut self.at, 8)?.try_into().expect("8 bytes"),
            )),
            LEN => {
                let n = read_varint(buf, &mut self.at)?;
                let n = usize::try_from(n).map_err(|_| DecodeError::Truncated(start))?;
                Value::Bytes(take(&mut self.at, n)?)
            }
            FIXED32 => Value::Fixed32(u32::from_le_bytes(
                take(&mut self.at, 4)?.try_into().expect("4 bytes"),
            )),
            w => return Err(DecodeError::WireType(w, start)),
        };
        Ok((field, value))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Value<'a>), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.at >= self.buf.len() {
            return None;
        }
        let r = self.next_field();
        self.failed = r.is_err();
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(v: u64) -> Vec<u8> {
        let mut b = Vec::new();
        put_varint(&mut b, v);
        b
    }

    #[test]
    fn varints_as_the_format_defines_them() {
        assert_eq!(varint(0), [0x00]);
        assert_eq!(varint(1), [0x01]);
        assert_eq!(varint(127), [0x7f]);
        assert_eq!(varint(128), [0x80, 0x01]);
        assert_eq!(varint(150), [0x96, 0x01]);
        assert_eq!(varint(300), [0xac, 0x02]);
        assert_eq!(varint(16_384), [0x80, 0x80, 0x01]);
        assert_eq!(
            varint(u64::MAX),
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
        for v in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            1 << 35,
            u64::MAX >> 1,
            u64::MAX,
        ] {
            let b = varint(v);
            assert_eq!(varint_len(v), b.len(), "{v}");
            let mut at = 0;
            assert_eq!(read_varint(&b, &mut at), Ok(v));
            assert_eq!(at, b.len());
        }
    }

    #[test]
    fn scalar_fields() {
        let mut b = Vec::new();
        put_uint(&mut b, 1, 150);
        assert_eq!(b, [0x08, 0x96, 0x01]);
        b.clear();
        put_str(&mut b, 2, "testing");
        assert_eq!(b, b"\x12\x07testing");
        b.clear();
        // int64 -1: ten bytes of two's complement.
        put_int(&mut b, 4, -1);
        assert_eq!(
            b,
            [0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
        b.clear();
        // A field number past 15 takes a two-byte key.
        put_uint(&mut b, 58, 3);
        assert_eq!(b, [0xd0, 0x03, 0x03]);
    }

    #[test]
    fn nested_messages() {
        // Field 3 holding {1: 150}: the example of the format's guide.
        let mut b = Vec::new();
        let m = begin(&mut b, 3);
        put_uint(&mut b, 1, 150);
        end(&mut b, m);
        assert_eq!(b, [0x1a, 0x03, 0x08, 0x96, 0x01]);

        // Two levels, the inner one empty.
        b.clear();
        let outer = begin(&mut b, 1);
        let inner = begin(&mut b, 11);
        end(&mut b, inner);
        put_uint(&mut b, 8, 5);
        end(&mut b, outer);
        assert_eq!(b, [0x0a, 0x04, 0x5a, 0x00, 0x40, 0x05]);
    }

    #[test]
    fn long_nested_messages_grow_their_length() {
        let mut b = vec![0xee];
        let outer = begin(&mut b, 1);
        let inner = begin(&mut b, 2);
        let text = "x".repeat(200);
        put_str(&mut b, 3, &text);
        end(&mut b, inner);
        end(&mut b, outer);
        // inner: key, 2-byte length 203, then the string field (key, 2-byte
        // length 200, text); outer: key, 2-byte length 206.
        assert_eq!(&b[..4], [0xee, 0x0a, 0xce, 0x01]);
        assert_eq!(&b[4..7], [0x12, 0xcb, 0x01]);
        assert_eq!(&b[7..10], [0x1a, 0xc8, 0x01]);
        assert_eq!(b.len(), 10 + 200);

        let (field, v) = fields(&b[1..]).next().unwrap().unwrap();
        assert_eq!(field, 1);
        let inner: Vec<_> = fields(v.bytes().unwrap()).collect();
        assert_eq!(inner.len(), 1);
        let (field, v) = inner[0].clone().unwrap();
        assert_eq!(field, 2);
        let (field, v) = fields(v.bytes().unwrap()).next().unwrap().unwrap();
        assert_eq!((field, v), (3, Value::Bytes(text.as_bytes())));
    }

    #[test]
    fn reading_back_every_wire_type() {
        let mut b = Vec::new();
        put_uint(&mut b, 1, 7);
        b.extend_from_slice(&[(2 << 3) | 1, 1, 0, 0, 0, 0, 0, 0, 0]);
        put_str(&mut b, 3, "hi");
        b.extend_from_slice(&[(4 << 3) | 5, 2, 0, 0, 0]);
        let got: Vec<_> = fields(&b).map(Result::unwrap).collect();
        assert_eq!(
            got,
            [
                (1, Value::Varint(7)),
                (2, Value::Fixed64(1)),
                (3, Value::Bytes(b"hi")),
                (4, Value::Fixed32(2)),
            ]
        );
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        // A length past the end, a varint cut short, an endless varint, a
        // group (wire type 3).
        for (bytes, want) in [
            (&[0x12, 0x05, b'a'][..], DecodeError::Truncated(0)),
            (&[0x08, 0x80][..], DecodeError::Truncated(1)),
            (
                &[
                    0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                ][..],
                DecodeError::LongVarint(1),
            ),
            (&[0x0b][..], DecodeError::WireType(3, 0)),
            (
                &[
                    0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                ][..],
                DecodeError::Truncated(0),
            ),
        ] {
            let got: Vec<_> = fields(bytes).collect();
            assert_eq!(got, [Err(want)], "{bytes:x?}");
        }
    }
}
