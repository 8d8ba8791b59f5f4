// SPDX-License-Identifier: GPL-2.0-or-later
//! What the trace records: [`EventKind`], [`EventSet`], [`EventRecord`],
//! guest names in pieces, and memory accesses' `info` bits.

/// What a record is. The values are the binary trace's record kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum EventKind {
    /// A store into the hypertrace control channel.
    Hypertrace = 0,
    /// A guest load or store (`guest_mem_before_exec`).
    MemAccess = 1,
    /// An executed translation block (`guest_exec_tb`).
    ExecTb = 2,
    /// A system call on entry (`guest_user_syscall`).
    Syscall = 3,
    /// A system call's result (`guest_user_syscall_ret`).
    SyscallRet = 4,
    /// A piece of a name the guest registered for its hypertrace events
    /// (`guest_hypertrace_name`, the trace's string table; see
    /// [`name_pieces`]). Recorded with guest_hypertrace, not switched on
    /// its own.
    HypertraceName = 5,
}

impl EventKind {
    pub const ALL: [EventKind; 6] = [
        EventKind::Hypertrace,
        EventKind::MemAccess,
        EventKind::ExecTb,
        EventKind::Syscall,
        EventKind::SyscallRet,
        EventKind::HypertraceName,
    ];

    /// QEMU's trace event name.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Hypertrace => "guest_hypertrace",
            EventKind::MemAccess => "guest_mem_before_exec",
            EventKind::ExecTb => "guest_exec_tb",
            EventKind::Syscall => "guest_user_syscall",
            EventKind::SyscallRet => "guest_user_syscall_ret",
            EventKind::HypertraceName => "guest_hypertrace_name",
        }
    }

    pub fn from_name(name: &str) -> Option<EventKind> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    pub fn from_u32(v: u32) -> Option<EventKind> {
        Self::ALL.get(v as usize).copied()
    }

    /// Bit of this kind in an [`EventSet`].
    pub const fn bit(self) -> u32 {
        1 << self as u32
    }

    /// 64-bit words after `arg1` that a record of this kind carries;
    /// `hypertrace_extra` is the channel's arguments after arg1.
    pub fn words(self, hypertrace_extra: usize) -> usize {
        match self {
            // A name piece fills the words a hypertrace record has.
            EventKind::Hypertrace | EventKind::HypertraceName => hypertrace_extra,
            // pc, value
            EventKind::MemAccess => 2,
            EventKind::ExecTb | EventKind::SyscallRet => 0,
            // syscall arguments 2..6
            EventKind::Syscall => 5,
        }
    }
}

/// A set of event kinds, one bit each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventSet(pub u32);

impl EventSet {
    pub fn contains(self, kind: EventKind) -> bool {
        self.0 & kind.bit() != 0
    }
    pub fn set(&mut self, kind: EventKind, on: bool) {
        if on {
            self.0 |= kind.bit();
        } else {
            self.0 &= !kind.bit();
        }
    }
    pub fn kinds(self) -> impl Iterator<Item = EventKind> {
        EventKind::ALL
            .into_iter()
            .filter(move |k| self.contains(*k))
    }
}

/// Longest name a trace stores, in bytes (the guest library's
/// `QEMU_HYPERTRACE_NAME_MAX`); longer names are cut there.
pub const NAME_MAX: usize = 255;

/// Splits a name into the records that store it (kind
/// [`EventKind::HypertraceName`]): each piece carries `words` 64-bit words
/// of the name's bytes (little-endian, zero-padded) and has arg1 = its
/// byte offset in the low 32 bits and the name's whole length in the high
/// 32 bits. An empty name is one piece of length 0.
pub fn name_pieces(name: &[u8], words: usize) -> impl Iterator<Item = (u64, Vec<u64>)> + '_ {
    let per = (words * 8).max(1);
    let len = name.len() as u64;
    let count = name.len().div_ceil(per).max(1);
    (0..count).map(move |i| {
        let at = i * per;
        let piece = &name[at.min(name.len())..(at + per).min(name.len())];
        let mut packed = vec![0u64; words];
        for (k, b) in piece.iter().enumerate() {
            packed[k / 8] |= u64::from(*b) << (8 * (k % 8));
        }
        (at as u64 | len << 32, packed)
    })
}

/// Reassembles names from their pieces, in record order; a later name for
/// the same id replaces the earlier one (a program started by execve
/// numbers its names again).
#[derive(Clone, Debug, Default)]
pub struct NameAssembler {
    partial: std::collections::HashMap<u32, Vec<u8>>,
}

impl NameAssembler {
    /// Takes one piece; returns the whole name once its last piece is in.
    pub fn piece(&mut self, id: u32, arg1: u64, words: &[u64]) -> Option<(u32, Vec<u8>)> {
        let offset = (arg1 & 0xffff_ffff) as usize;
        let len = ((arg1 >> 32) as usize).min(NAME_MAX);
        let buf = self.partial.entry(id).or_default();
        if offset == 0 {
            buf.clear();
        }
        if offset != buf.len() || offset > len {
            // A piece out of order: start over at the next offset 0.
            self.partial.remove(&id);
            return None;
        }
        let take = (len - offset).min(words.len() * 8);
        buf.extend(words.iter().flat_map(|w| w.to_le_bytes()).take(take));
        if buf.len() == len {
            let name = self.partial.remove(&id).unwrap_or_default();
            return Some((id, name));
        }
        None
    }
}

/// One event; the words after `arg1` live in [`Batch::args`](super::Batch::args).
///
/// | kind | `aux` | `arg1` | words |
/// |---|---|---|---|
/// | Hypertrace | client | arg1 | arg2..argN |
/// | MemAccess | QEMU's info bits | vaddr | pc, value (stores) |
/// | ExecTb | block size | pc | |
/// | Syscall | number | argument 1 | arguments 2..6 |
/// | SyscallRet | number | result | |
/// | HypertraceName | name id | offset \| length << 32 | the piece's bytes |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventRecord {
    /// Host CLOCK_MONOTONIC nanoseconds when the event happened.
    pub ts_ns: u64,
    /// The guest thread (virtual CPU) the event belongs to.
    pub cpu: u32,
    pub kind: EventKind,
    pub aux: u32,
    pub arg1: u64,
}

impl EventRecord {
    /// A hypertrace event of `client` (the `aux` field).
    pub fn hypertrace(ts_ns: u64, cpu: u32, client: u32, arg1: u64) -> Self {
        EventRecord {
            ts_ns,
            cpu,
            kind: EventKind::Hypertrace,
            aux: client,
            arg1,
        }
    }
}

/// Bits of a memory access's `info`, as QEMU's `guest_mem_before_exec`
/// encodes them: log2 of the size, sign extension, big endian, store.
pub mod mem_info {
    pub const SIZE_SHIFT_MASK: u32 = 0x3;
    pub const SIGN_EXTEND: u32 = 1 << 2;
    pub const BIG_ENDIAN: u32 = 1 << 3;
    pub const STORE: u32 = 1 << 4;

    pub fn encode(size: usize, store: bool, big_endian: bool) -> u32 {
        let shift = size.max(1).trailing_zeros().min(3);
        shift | if store { STORE } else { 0 } | if big_endian { BIG_ENDIAN } else { 0 }
    }

    pub fn size(info: u32) -> u32 {
        1 << (info & SIZE_SHIFT_MASK)
    }

    pub fn is_store(info: u32) -> bool {
        info & STORE != 0
    }
}
