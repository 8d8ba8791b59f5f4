// SPDX-License-Identifier: GPL-2.0-or-later
//! The guest's byte order: [`Endian`], [`Encoder`] and [`StructBuilder`].

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endian {
    Little,
    Big,
}

/// Encodes integers in the guest's byte order.
#[derive(Clone, Copy)]
pub struct Encoder {
    pub endian: Endian,
}

impl Encoder {
    pub fn u16(self, v: u16) -> [u8; 2] {
        match self.endian {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }
    pub fn u32(self, v: u32) -> [u8; 4] {
        match self.endian {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }
    pub fn u64(self, v: u64) -> [u8; 8] {
        match self.endian {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }
    pub fn decode_u64(self, b: [u8; 8]) -> u64 {
        match self.endian {
            Endian::Little => u64::from_le_bytes(b),
            Endian::Big => u64::from_be_bytes(b),
        }
    }
    pub fn decode_u32(self, b: [u8; 4]) -> u32 {
        match self.endian {
            Endian::Little => u32::from_le_bytes(b),
            Endian::Big => u32::from_be_bytes(b),
        }
    }
}

/// Builds a guest struct field by field at fixed offsets, in guest byte order.
pub struct StructBuilder {
    pub bytes: Vec<u8>,
    enc: Encoder,
}

impl StructBuilder {
    pub fn new(size: usize, enc: Encoder) -> Self {
        StructBuilder {
            bytes: vec![0; size],
            enc,
        }
    }
    pub fn u16(&mut self, offset: usize, v: u16) -> &mut Self {
        self.bytes[offset..offset + 2].copy_from_slice(&self.enc.u16(v));
        self
    }
    pub fn u32(&mut self, offset: usize, v: u32) -> &mut Self {
        self.bytes[offset..offset + 4].copy_from_slice(&self.enc.u32(v));
        self
    }
    pub fn u64(&mut self, offset: usize, v: u64) -> &mut Self {
        self.bytes[offset..offset + 8].copy_from_slice(&self.enc.u64(v));
        self
    }
    pub fn bytes_at(&mut self, offset: usize, b: &[u8]) -> &mut Self {
        self.bytes[offset..offset + b.len()].copy_from_slice(b);
        self
    }
}
