// SPDX-License-Identifier: GPL-2.0-or-later
//! Guest structures built field by field in the guest's layout and byte
//! order; host structures are never copied into guest memory raw.

use crate::mem::{Encoder, StructBuilder};

/// The fields of `struct stat` that every ABI carries.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub mode: u32,
    pub nlink: u64,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u64,
    pub size: i64,
    pub blksize: i64,
    pub blocks: i64,
    pub atime: (i64, i64),
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
}

impl From<&libc::stat> for Stat {
    fn from(s: &libc::stat) -> Stat {
        Stat {
            dev: s.st_dev,
            ino: s.st_ino,
            mode: s.st_mode,
            nlink: s.st_nlink,
            uid: s.st_uid,
            gid: s.st_gid,
            rdev: s.st_rdev,
            size: s.st_size,
            blksize: s.st_blksize,
            blocks: s.st_blocks,
            atime: (s.st_atime, s.st_atime_nsec),
            mtime: (s.st_mtime, s.st_mtime_nsec),
            ctime: (s.st_ctime, s.st_ctime_nsec),
        }
    }
}

/// `struct stat` of the kernel's generic ABI (aarch64, riscv64): 128 bytes.
pub fn encode_stat_generic64(st: &Stat, enc: Encoder) -> Vec<u8> {
    let mut b = StructBuilder::new(128, enc);
    b.u64(0, st.dev)
        .u64(8, st.ino)
        .u32(16, st.mode)
        .u32(20, st.nlink as u32)
        .u32(24, st.uid)
        .u32(28, st.gid)
        .u64(32, st.rdev)
        .u64(48, st.size as u64)
        .u32(56, st.blksize as u32)
        .u64(64, st.blocks as u64)
        .u64(72, st.atime.0 as u64)
        .u64(80, st.atime.1 as u64)
        .u64(88, st.mtime.0 as u64)
        .u64(96, st.mtime.1 as u64)
        .u64(104, st.ctime.0 as u64)
        .u64(112, st.ctime.1 as u64);
    b.bytes
}

/// `struct statx`: one layout on every architecture.
pub fn encode_statx(s: &libc::statx, enc: Encoder) -> Vec<u8> {
    let mut b = StructBuilder::new(256, enc);
    b.u32(0, s.stx_mask)
        .u32(4, s.stx_blksize)
        .u64(8, s.stx_attributes)
        .u32(16, s.stx_nlink)
        .u32(20, s.stx_uid)
        .u32(24, s.stx_gid)
        .u16(28, s.stx_mode)
        .u64(32, s.stx_ino)
        .u64(40, s.stx_size)
        .u64(48, s.stx_blocks)
        .u64(56, s.stx_attributes_mask);
    for (off, t) in [
        (64, s.stx_atime),
        (80, s.stx_btime),
        (96, s.stx_ctime),
        (112, s.stx_mtime),
    ] {
        b.u64(off, t.tv_sec as u64).u32(off + 8, t.tv_nsec);
    }
    b.u32(128, s.stx_rdev_major)
        .u32(132, s.stx_rdev_minor)
        .u32(136, s.stx_dev_major)
        .u32(140, s.stx_dev_minor);
    b.bytes
}

/// `struct timespec` / `struct timeval` for a guest with `word`-byte longs.
pub fn encode_time_pair(sec: i64, frac: i64, word: usize, enc: Encoder) -> Vec<u8> {
    let mut b = StructBuilder::new(word * 2, enc);
    if word == 8 {
        b.u64(0, sec as u64).u64(8, frac as u64);
    } else {
        b.u32(0, sec as u32).u32(4, frac as u32);
    }
    b.bytes
}

/// Reads a guest `struct timespec` (two longs).
pub fn decode_time_pair(bytes: &[u8], word: usize, enc: Encoder) -> (i64, i64) {
    if word == 8 {
        (
            enc.decode_u64(bytes[0..8].try_into().unwrap()) as i64,
            enc.decode_u64(bytes[8..16].try_into().unwrap()) as i64,
        )
    } else {
        (
            enc.decode_u32(bytes[0..4].try_into().unwrap()) as i32 as i64,
            enc.decode_u32(bytes[4..8].try_into().unwrap()) as i32 as i64,
        )
    }
}

/// `struct utsname`: six 65-byte fields.
pub fn encode_utsname(fields: [&str; 6]) -> Vec<u8> {
    let mut out = vec![0u8; 65 * 6];
    for (i, f) in fields.iter().enumerate() {
        let n = f.len().min(64);
        out[i * 65..i * 65 + n].copy_from_slice(&f.as_bytes()[..n]);
    }
    out
}

/// What statfs reports, for the ABI to encode.
#[derive(Clone, Copy, Debug, Default)]
pub struct StatFs {
    pub fs_type: u64,
    pub bsize: u64,
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub fsid: [i32; 2],
    pub namelen: u64,
    pub frsize: u64,
    pub flags: u64,
}

/// `struct statfs64` of i386 and arm EABI (packed to 4-byte alignment by
/// the kernel on arm): 32-bit type and block size, 64-bit counts, 84 bytes.
pub fn encode_statfs64_32(s: &StatFs, enc: Encoder) -> Vec<u8> {
    encode_statfs_int_fields(s, 84, enc)
}

/// A `struct statfs` of 32-bit type, block size, name length, fragment
/// size and flags around 64-bit counts (i386's and arm's statfs64,
/// s390x's statfs), `size` bytes with its spare words.
pub fn encode_statfs_int_fields(s: &StatFs, size: usize, enc: Encoder) -> Vec<u8> {
    let mut b = StructBuilder::new(size, enc);
    b.u32(0, s.fs_type as u32)
        .u32(4, s.bsize as u32)
        .u64(8, s.blocks)
        .u64(16, s.bfree)
        .u64(24, s.bavail)
        .u64(32, s.files)
        .u64(40, s.ffree)
        .u32(48, s.fsid[0] as u32)
        .u32(52, s.fsid[1] as u32)
        .u32(56, s.namelen as u32)
        .u32(60, s.frsize as u32)
        .u32(64, s.flags as u32);
    b.bytes
}

/// x86_64's `struct stat` (144 bytes: the link count before the mode),
/// which ppc64 shares.
pub fn encode_stat_x86_64(st: &Stat, enc: Encoder) -> Vec<u8> {
    let mut b = StructBuilder::new(144, enc);
    b.u64(0, st.dev)
        .u64(8, st.ino)
        .u64(16, st.nlink)
        .u32(24, st.mode)
        .u32(28, st.uid)
        .u32(32, st.gid)
        .u64(40, st.rdev)
        .u64(48, st.size as u64)
        .u64(56, st.blksize as u64)
        .u64(64, st.blocks as u64)
        .u64(72, st.atime.0 as u64)
        .u64(80, st.atime.1 as u64)
        .u64(88, st.mtime.0 as u64)
        .u64(96, st.mtime.1 as u64)
        .u64(104, st.ctime.0 as u64)
        .u64(112, st.ctime.1 as u64);
    b.bytes
}

/// `struct statfs` of the generic 64-bit ABIs (x86_64, aarch64,
/// riscv64): 120 bytes of longs, the fragment size after the name length.
pub fn encode_statfs_64(s: &StatFs, enc: Encoder) -> Vec<u8> {
    let mut b = StructBuilder::new(120, enc);
    b.u64(0, s.fs_type)
        .u64(8, s.bsize)
        .u64(16, s.blocks)
        .u64(24, s.bfree)
        .u64(32, s.bavail)
        .u64(40, s.files)
        .u64(48, s.ffree)
        .u32(56, s.fsid[0] as u32)
        .u32(60, s.fsid[1] as u32)
        .u64(64, s.namelen)
        .u64(72, s.frsize)
        .u64(80, s.flags);
    b.bytes
}
