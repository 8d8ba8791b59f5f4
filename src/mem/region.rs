// SPDX-License-Identifier: GPL-2.0-or-later
//! What a guest region is: [`Perms`], [`RegionKind`] and [`Region`].

use std::sync::Arc;

use super::HostMapping;

/// Guest page permissions (PROT_* bits as Linux defines them), and whether
/// the page is guarded ([`Perms::GUARDED`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Perms(pub u8);

impl Perms {
    pub const NONE: Perms = Perms(0);
    pub const R: Perms = Perms(1);
    pub const W: Perms = Perms(2);
    pub const X: Perms = Perms(4);
    pub const RW: Perms = Perms(3);
    pub const RX: Perms = Perms(5);
    /// A guarded page (arm64's PROT_BTI, the same bit): an indirect branch
    /// into it must land on a branch target instruction. Not an access
    /// permission: [`Perms::contains`] ignores it.
    pub const GUARDED: Perms = Perms(0x10);

    /// The access permissions of PROT_* bits (other bits are dropped).
    pub fn from_prot(prot: u64) -> Perms {
        Perms((prot & 7) as u8)
    }
    pub fn guarded(self) -> bool {
        self.0 & Perms::GUARDED.0 != 0
    }
    /// These permissions on a guarded page, or not.
    pub fn with_guard(self, guarded: bool) -> Perms {
        if guarded {
            Perms(self.0 | Perms::GUARDED.0)
        } else {
            Perms(self.0 & !Perms::GUARDED.0)
        }
    }
    pub fn readable(self) -> bool {
        self.0 & 1 != 0
    }
    pub fn writable(self) -> bool {
        self.0 & 2 != 0
    }
    pub fn executable(self) -> bool {
        self.0 & 4 != 0
    }
    /// Whether these permissions grant every access `other` asks for.
    pub fn contains(self, other: Perms) -> bool {
        let access = other.0 & 7;
        self.0 & access == access
    }
}

impl std::fmt::Display for Perms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = if self.readable() { 'r' } else { '-' };
        let w = if self.writable() { 'w' } else { '-' };
        let x = if self.executable() { 'x' } else { '-' };
        write!(f, "{r}{w}{x}")
    }
}

/// What a region is, for /proc-style listings and for the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegionKind {
    /// Plain memory (anonymous or file-backed).
    Memory { name: String },
    /// The hypertrace control channel: stores are intercepted, never land in memory.
    HypertraceControl,
    /// The pages of a file mapping wholly past the file's end: no access
    /// is allowed, and one is SIGBUS, as on Linux.
    PastEndOfFile { name: String },
}

#[derive(Clone, Debug)]
pub struct Region {
    pub start: u64,
    pub end: u64,
    pub perms: Perms,
    /// The most a later mprotect may grant (a read-only shared file stays read-only).
    pub max_perms: Perms,
    pub kind: RegionKind,
    /// Host memory behind the region; `None` for MMIO regions.
    pub backing: Option<Arc<HostMapping>>,
    /// Offset of `start` inside `backing`.
    pub backing_offset: usize,
}

impl Region {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
    /// The permissions the engine gives the guest: none past a file's
    /// end, whatever the mapping's own.
    pub(super) fn engine_perms(&self) -> Perms {
        match self.kind {
            RegionKind::PastEndOfFile { .. } => Perms::NONE,
            _ => self.perms,
        }
    }
    /// The name /proc/self/maps shows.
    pub fn name(&self) -> &str {
        match &self.kind {
            RegionKind::Memory { name } | RegionKind::PastEndOfFile { name } => name,
            RegionKind::HypertraceControl => "[hypertrace control]",
        }
    }
    pub(super) fn host_ptr(&self, addr: u64) -> Option<*mut u8> {
        let backing = self.backing.as_ref()?;
        let offset = self.backing_offset + (addr - self.start) as usize;
        Some(backing.ptr_at(offset))
    }
    pub(super) fn slice(&self, from: u64, to: u64) -> Region {
        let mut piece = self.clone();
        piece.start = from;
        piece.end = to;
        piece.backing_offset = self.backing_offset + (from - self.start) as usize;
        piece
    }
}
