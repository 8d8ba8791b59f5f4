// SPDX-License-Identifier: GPL-2.0-or-later
//! Guest address space: the regions the guest has mapped, their permissions,
//! and checked, endian-aware access for syscall handlers.
//!
//! Every guest region is backed by host memory that ht-user owns (an anonymous
//! or file mapping), so handlers read and write guest memory without going
//! through Unicorn. Changes to the layout are queued as [`EngineOp`]s and
//! applied to the engine by [`engine`] once the handler returns.

mod host;
pub mod host_fault;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::Arc;

pub use host::HostMapping;

pub const PAGE_SIZE: u64 = 4096;

pub fn page_floor(addr: u64) -> u64 {
    addr & !(PAGE_SIZE - 1)
}

/// Rounds up to a page boundary; `None` when that overflows.
pub fn page_ceil(addr: u64) -> Option<u64> {
    addr.checked_add(PAGE_SIZE - 1).map(page_floor)
}

/// Guest page permissions (PROT_* bits as Linux defines them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Perms(pub u8);

impl Perms {
    pub const NONE: Perms = Perms(0);
    pub const R: Perms = Perms(1);
    pub const W: Perms = Perms(2);
    pub const X: Perms = Perms(4);
    pub const RW: Perms = Perms(3);
    pub const RX: Perms = Perms(5);

    pub fn from_prot(prot: u64) -> Perms {
        Perms((prot & 7) as u8)
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
    pub fn contains(self, other: Perms) -> bool {
        self.0 & other.0 == other.0
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endian {
    Little,
    Big,
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
    fn engine_perms(&self) -> Perms {
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
    fn host_ptr(&self, addr: u64) -> Option<*mut u8> {
        let backing = self.backing.as_ref()?;
        let offset = self.backing_offset + (addr - self.start) as usize;
        Some(backing.ptr_at(offset))
    }
    fn slice(&self, from: u64, to: u64) -> Region {
        let mut piece = self.clone();
        piece.start = from;
        piece.end = to;
        piece.backing_offset = self.backing_offset + (from - self.start) as usize;
        piece
    }
}

/// A change the engine must mirror. Produced by [`AddressSpace`], consumed by
/// [`engine::apply_pending`].
#[derive(Debug)]
pub enum EngineOp {
    Map {
        start: u64,
        len: u64,
        perms: Perms,
        host: *mut u8,
    },
    MapControl {
        start: u64,
        len: u64,
        /// Offset in the control file of `start`.
        file_offset: u64,
    },
    Unmap {
        start: u64,
        len: u64,
    },
    Protect {
        start: u64,
        len: u64,
        perms: Perms,
    },
    /// Nothing changes in the engine's map, but TLB entries granting the
    /// old permissions must go (the control channel's pages, whose
    /// permissions only the TLB-fill hook enforces).
    FlushTlb,
    /// Translated code of the range must go: it was written while the
    /// range was not executable (stores to data pages are not watched for
    /// code), or the guest flushed its instruction cache.
    InvalidateCode {
        start: u64,
        len: u64,
    },
    /// All translated code must go (riscv_flush_icache flushes the whole
    /// instruction cache).
    InvalidateAllCode,
}

/// A guest access that hit no region or lacked permission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub addr: u64,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad guest address {:#x}", self.addr)
    }
}

pub type MemResult<T> = Result<T, Fault>;

/// Top of the area where the guest's mmap(NULL) allocations go (downwards).
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    pub mmap_top: u64,
    pub mmap_bottom: u64,
}

pub struct AddressSpace {
    regions: BTreeMap<u64, Region>,
    pending: Vec<EngineOp>,
    endian: Endian,
    layout: Layout,
    /// Every page of `[packed_from, layout.mmap_top)` is mapped, so the
    /// top-down search for free space starts here: with thousands of
    /// mappings packed below the top, walking them all made each mmap O(N).
    /// A search lowers it past the mapped pages it walked.
    packed_from: Cell<u64>,
}

impl AddressSpace {
    pub fn new(endian: Endian, layout: Layout) -> Self {
        AddressSpace {
            regions: BTreeMap::new(),
            pending: Vec::new(),
            endian,
            layout,
            packed_from: Cell::new(layout.mmap_top),
        }
    }

    pub fn endian(&self) -> Endian {
        self.endian
    }

    pub fn regions(&self) -> impl Iterator<Item = &Region> {
        self.regions.values()
    }

    pub fn take_pending(&mut self) -> Vec<EngineOp> {
        std::mem::take(&mut self.pending)
    }

    /// The region containing `addr`.
    pub fn region_at(&self, addr: u64) -> Option<&Region> {
        self.regions
            .range(..=addr)
            .next_back()
            .map(|(_, r)| r)
            .filter(|r| addr < r.end)
    }

    /// What the engine lets the guest do on the page holding `addr` (for
    /// the engine's TLB fill): nothing past a file's end.
    pub fn perms_at(&self, addr: u64) -> Option<Perms> {
        self.region_at(addr).map(Region::engine_perms)
    }

    pub fn is_free(&self, start: u64, end: u64) -> bool {
        if let Some(r) = self.regions.range(..end).next_back() {
            if r.1.end > start {
                return false;
            }
        }
        true
    }

    /// Finds `len` free bytes, top-down from the mmap area's top.
    pub fn find_free(&self, len: u64) -> Option<u64> {
        let mut candidate_end = self.packed_from.get().min(self.layout.mmap_top);
        let mut packed = true;
        for region in self.regions.range(..candidate_end).rev().map(|(_, r)| r) {
            if region.end <= candidate_end && candidate_end - region.end >= len {
                break;
            }
            // A gap too small for `len` still ends the packed pages.
            packed &= region.end >= candidate_end;
            candidate_end = candidate_end.min(region.start);
            if packed {
                self.packed_from.set(candidate_end);
            }
        }
        let start = candidate_end.checked_sub(len)?;
        (start >= self.layout.mmap_bottom && self.is_free(start, candidate_end)).then_some(start)
    }

    /// Maps `[start, start+len)` with host memory `backing` (from `offset`).
    /// Whatever was mapped there before is unmapped first, as MAP_FIXED does.
    #[allow(clippy::too_many_arguments)] // one argument per Region field
    pub fn map(
        &mut self,
        start: u64,
        len: u64,
        perms: Perms,
        max_perms: Perms,
        kind: RegionKind,
        backing: Option<Arc<HostMapping>>,
        offset: usize,
    ) {
        self.unmap(start, len);
        let region = Region {
            start,
            end: start + len,
            perms,
            max_perms,
            kind,
            backing,
            backing_offset: offset,
        };
        match region.host_ptr(start) {
            Some(host) => self.pending.push(EngineOp::Map {
                start,
                len,
                perms: region.engine_perms(),
                host,
            }),
            None => self.pending.push(EngineOp::MapControl {
                start,
                len,
                file_offset: offset as u64,
            }),
        }
        self.regions.insert(start, region);
        if start + len == self.packed_from.get() {
            self.packed_from.set(start);
        }
    }

    /// Removes every region piece inside `[start, start+len)`, splitting
    /// regions that straddle the edges. Returns whether anything was mapped.
    pub fn unmap(&mut self, start: u64, len: u64) -> bool {
        let end = start.saturating_add(len);
        let affected = self.split_range(start, end);
        for key in &affected {
            let region = self
                .regions
                .remove(key)
                .expect("split returned a mapped key");
            if region.end > self.packed_from.get() {
                self.packed_from.set(region.end.min(self.layout.mmap_top));
            }
            self.pending.push(EngineOp::Unmap {
                start: region.start,
                len: region.len(),
            });
        }
        !affected.is_empty()
    }

    /// Changes permissions of the mapped pages in the range. Fails with the
    /// first unmapped address (ENOMEM in Linux) or when the new permissions
    /// exceed what the mapping allows (EACCES).
    pub fn protect(&mut self, start: u64, len: u64, perms: Perms) -> Result<(), ProtectError> {
        let end = start.saturating_add(len);
        let mut cursor = start;
        for r in self
            .regions
            .range(..end)
            .map(|(_, r)| r)
            .filter(|r| r.end > start)
        {
            if r.start > cursor {
                return Err(ProtectError::Unmapped);
            }
            if !r.max_perms.contains(perms) {
                return Err(ProtectError::Denied);
            }
            cursor = r.end;
        }
        if cursor < end {
            return Err(ProtectError::Unmapped);
        }
        for key in self.split_range(start, end) {
            let region = self
                .regions
                .get_mut(&key)
                .expect("split returned a mapped key");
            let gains_exec = perms.executable() && !region.perms.executable();
            region.perms = perms;
            self.pending
                .push(if region.kind == RegionKind::HypertraceControl {
                    EngineOp::FlushTlb
                } else {
                    EngineOp::Protect {
                        start: region.start,
                        len: region.len(),
                        perms: region.engine_perms(),
                    }
                });
            if gains_exec && region.kind != RegionKind::HypertraceControl {
                // A JIT writes code while the page is writable and not
                // executable, then mprotects it: translations from before
                // the write must not run.
                self.pending.push(EngineOp::InvalidateCode {
                    start: region.start,
                    len: region.len(),
                });
            }
        }
        Ok(())
    }

    /// After another process shrank a file under one of ht-user's own
    /// accesses ([`host_fault::settle`]): the file is mapped back over the
    /// pages that access found zeroed, and the mappings follow the files'
    /// sizes. Says whether anything shrank.
    pub fn settle_host_faults(&mut self) -> bool {
        let shrank = host_fault::settle();
        if shrank {
            self.follow_file_sizes();
        }
        shrank
    }

    /// Makes shared file mappings follow their files' sizes, as on Linux:
    /// pages wholly past a file's end become [`RegionKind::PastEndOfFile`]
    /// (an access is SIGBUS, and the host, whose access would fault, never
    /// touches them), and pages a grown file covers again become memory.
    /// Call after the guest may have changed a file's size, and before
    /// reporting a fault past a file's end.
    pub fn follow_file_sizes(&mut self) {
        let shared: Vec<Region> = self
            .regions
            .values()
            .filter(|r| r.backing.as_ref().is_some_and(|b| b.is_shared_file()))
            .cloned()
            .collect();
        for r in shared {
            let Some(backing) = r.backing.clone() else {
                continue;
            };
            let Some((file, file_offset)) = backing.shared_file_at(r.backing_offset) else {
                continue;
            };
            let Ok(stat) = nix::sys::stat::fstat(std::os::fd::AsRawFd::as_raw_fd(&*file)) else {
                continue;
            };
            let size = u64::try_from(stat.st_size).unwrap_or(0);
            let covered = page_ceil(size.saturating_sub(file_offset))
                .unwrap_or(u64::MAX)
                .min(r.len());
            let name = r.name().to_string();
            let past_end = matches!(r.kind, RegionKind::PastEndOfFile { .. });
            if !past_end && covered < r.len() {
                self.map(
                    r.start + covered,
                    r.len() - covered,
                    r.perms,
                    r.max_perms,
                    RegionKind::PastEndOfFile { name },
                    Some(backing),
                    r.backing_offset + covered as usize,
                );
            } else if past_end && covered > 0 {
                self.map(
                    r.start,
                    covered,
                    r.perms,
                    r.max_perms,
                    RegionKind::Memory { name },
                    Some(backing),
                    r.backing_offset,
                );
            }
        }
    }

    /// The guest flushed its instruction cache for `start..start + len`
    /// (arm and mips cacheflush): translations of the range go. Unmapped
    /// parts are skipped.
    pub fn invalidate_code(&mut self, start: u64, len: u64) {
        let end = start.saturating_add(len);
        for r in self
            .regions
            .range(..end)
            .map(|(_, r)| r)
            .filter(|r| r.end > start)
        {
            let (from, to) = (r.start.max(start), r.end.min(end));
            if r.kind != RegionKind::HypertraceControl && from < to {
                self.pending.push(EngineOp::InvalidateCode {
                    start: page_floor(from),
                    len: page_ceil(to).unwrap_or(to) - page_floor(from),
                });
            }
        }
    }

    /// All translated code goes (riscv_flush_icache).
    pub fn invalidate_all_code(&mut self) {
        self.pending.push(EngineOp::InvalidateAllCode);
    }

    /// Splits regions at `start` and `end` and returns the keys of the
    /// regions now lying entirely inside the range.
    fn split_range(&mut self, start: u64, end: u64) -> Vec<u64> {
        for cut in [start, end] {
            let straddling = self
                .region_at(cut)
                .filter(|r| r.start < cut)
                .map(|r| r.start);
            if let Some(key) = straddling {
                let region = self.regions.remove(&key).expect("key just looked up");
                let low = region.slice(region.start, cut);
                let high = region.slice(cut, region.end);
                self.regions.insert(low.start, low);
                self.regions.insert(high.start, high);
            }
        }
        self.regions.range(start..end).map(|(k, _)| *k).collect()
    }

    // ---- checked access -------------------------------------------------

    /// Visits the host bytes behind `[addr, addr+len)`, region by region,
    /// after checking every byte is mapped with `need`.
    fn for_each_chunk(
        &self,
        addr: u64,
        len: usize,
        need: Perms,
        mut visit: impl FnMut(*mut u8, usize, usize),
    ) -> MemResult<()> {
        let end = addr.checked_add(len as u64).ok_or(Fault { addr })?;
        // Check first so a failing access has no partial effect.
        let mut cursor = addr;
        while cursor < end {
            let r = self.region_at(cursor).ok_or(Fault { addr: cursor })?;
            let past_end = matches!(r.kind, RegionKind::PastEndOfFile { .. });
            if !r.perms.contains(need) || r.backing.is_none() || past_end {
                return Err(Fault { addr: cursor });
            }
            cursor = r.end.min(end);
        }
        let mut cursor = addr;
        let mut done = 0usize;
        let epoch = host_fault::epoch();
        while cursor < end {
            let r = self.region_at(cursor).expect("checked above");
            let chunk_end = r.end.min(end);
            let n = (chunk_end - cursor) as usize;
            let host = r.host_ptr(cursor).expect("checked above");
            visit(host, done, n);
            // Another process truncated the file behind these bytes: what
            // was read or written is not the file's (see host_fault).
            if let Some(offset) = host_fault::zeroed_since(epoch, host, n) {
                return Err(Fault {
                    addr: cursor + offset as u64,
                });
            }
            done += n;
            cursor = chunk_end;
        }
        Ok(())
    }

    pub fn read(&self, addr: u64, buf: &mut [u8]) -> MemResult<()> {
        self.read_with(addr, buf, Perms::R)
    }

    fn read_with(&self, addr: u64, buf: &mut [u8], need: Perms) -> MemResult<()> {
        let len = buf.len();
        self.for_each_chunk(addr, len, need, |host, done, n| {
            // SAFETY: `host` points at `n` bytes of a live HostMapping that
            // the region holds (checked by for_each_chunk); `buf` is a
            // distinct Rust allocation, so the ranges cannot overlap.
            unsafe { std::ptr::copy_nonoverlapping(host, buf[done..].as_mut_ptr(), n) }
        })
    }

    /// Reads ignoring the guest's read permission (moving a mapping's
    /// contents); the pages must still be mapped.
    pub fn read_privileged(&self, addr: u64, buf: &mut [u8]) -> MemResult<()> {
        self.read_with(addr, buf, Perms::NONE)
    }

    pub fn write(&mut self, addr: u64, data: &[u8]) -> MemResult<()> {
        self.write_with(addr, data, Perms::W)
    }

    /// Writes ignoring the guest's write permission (the loader filling
    /// read-only segments); the pages must still be mapped.
    pub fn write_privileged(&mut self, addr: u64, data: &[u8]) -> MemResult<()> {
        self.write_with(addr, data, Perms::NONE)
    }

    fn write_with(&mut self, addr: u64, data: &[u8], need: Perms) -> MemResult<()> {
        self.for_each_chunk(addr, data.len(), need, |host, done, n| {
            // SAFETY: as in `read`; the host mapping is always writable by
            // ht-user, only the guest's view carries permissions.
            unsafe { std::ptr::copy_nonoverlapping(data[done..].as_ptr(), host, n) }
        })
    }

    pub fn fill(&mut self, addr: u64, len: usize, byte: u8) -> MemResult<()> {
        self.for_each_chunk(addr, len, Perms::NONE, |host, _, n| {
            // SAFETY: as in `read`.
            unsafe { std::ptr::write_bytes(host, byte, n) }
        })
    }

    pub fn read_vec(&self, addr: u64, len: usize) -> MemResult<Vec<u8>> {
        let mut buf = vec![0u8; len];
        self.read(addr, &mut buf)?;
        Ok(buf)
    }

    /// Checks that the guest could write `len` bytes at `addr`.
    pub fn check_writable(&self, addr: u64, len: usize) -> MemResult<()> {
        self.for_each_chunk(addr, len, Perms::W, |_, _, _| {})
    }

    /// Reads a NUL-terminated string of at most `max` bytes (without the NUL).
    pub fn read_cstr(&self, addr: u64, max: usize) -> MemResult<Vec<u8>> {
        let mut out = Vec::new();
        let mut cursor = addr;
        loop {
            let r = self.region_at(cursor).ok_or(Fault { addr: cursor })?;
            if !r.perms.readable() || r.backing.is_none() {
                return Err(Fault { addr: cursor });
            }
            let n = (r.end - cursor) as usize;
            let mut chunk = vec![0u8; n.min(4096)];
            self.read(cursor, &mut chunk)?;
            if let Some(nul) = chunk.iter().position(|&b| b == 0) {
                out.extend_from_slice(&chunk[..nul]);
                return Ok(out);
            }
            out.extend_from_slice(&chunk);
            if out.len() > max {
                return Err(Fault { addr });
            }
            cursor += chunk.len() as u64;
        }
    }

    pub fn read_u32(&self, addr: u64) -> MemResult<u32> {
        let mut b = [0u8; 4];
        self.read(addr, &mut b)?;
        Ok(match self.endian {
            Endian::Little => u32::from_le_bytes(b),
            Endian::Big => u32::from_be_bytes(b),
        })
    }

    pub fn read_u64(&self, addr: u64) -> MemResult<u64> {
        let mut b = [0u8; 8];
        self.read(addr, &mut b)?;
        Ok(match self.endian {
            Endian::Little => u64::from_le_bytes(b),
            Endian::Big => u64::from_be_bytes(b),
        })
    }

    /// Reads a guest word (pointer-sized) of `size` bytes (4 or 8).
    pub fn read_word(&self, addr: u64, size: usize) -> MemResult<u64> {
        if size == 4 {
            self.read_u32(addr).map(u64::from)
        } else {
            self.read_u64(addr)
        }
    }

    pub fn write_u64(&mut self, addr: u64, v: u64) -> MemResult<()> {
        self.write(addr, &self.encoder().u64(v))
    }

    pub fn write_u32(&mut self, addr: u64, v: u32) -> MemResult<()> {
        self.write(addr, &self.encoder().u32(v))
    }

    pub fn encoder(&self) -> Encoder {
        Encoder {
            endian: self.endian,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum ProtectError {
    Unmapped,
    Denied,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn space() -> AddressSpace {
        AddressSpace::new(
            Endian::Little,
            Layout {
                mmap_top: 0x10_0000,
                mmap_bottom: 0x1_0000,
            },
        )
    }

    fn map_anon(s: &mut AddressSpace, start: u64, len: u64, perms: Perms) {
        let host = Arc::new(HostMapping::anonymous(len as usize).unwrap());
        s.map(
            start,
            len,
            perms,
            Perms(7),
            RegionKind::Memory {
                name: String::new(),
            },
            Some(host),
            0,
        );
    }

    #[test]
    fn read_write_across_regions_and_faults() {
        let mut s = space();
        map_anon(&mut s, 0x1000, 0x1000, Perms::RW);
        map_anon(&mut s, 0x2000, 0x1000, Perms::RW);
        s.write(0x1ffc, b"abcdefgh").unwrap();
        assert_eq!(s.read_vec(0x1ffc, 8).unwrap(), b"abcdefgh");
        assert_eq!(s.read_vec(0x2ffc, 8), Err(Fault { addr: 0x3000 }));
        // A failing write leaves the mapped part untouched.
        assert!(s.write(0x2ffe, b"zzzz").is_err());
        assert_eq!(s.read_vec(0x2ffe, 2).unwrap(), [0, 0]);
    }

    #[test]
    fn write_needs_write_permission() {
        let mut s = space();
        map_anon(&mut s, 0x1000, 0x1000, Perms::R);
        assert_eq!(s.write(0x1000, b"x"), Err(Fault { addr: 0x1000 }));
        s.write_privileged(0x1000, b"x").unwrap();
        assert_eq!(s.read_vec(0x1000, 1).unwrap(), b"x");
    }

    #[test]
    fn unmap_middle_splits_and_keeps_contents() {
        let mut s = space();
        map_anon(&mut s, 0x1000, 0x3000, Perms::RW);
        s.write(0x3000, b"tail").unwrap();
        s.take_pending();
        assert!(s.unmap(0x2000, 0x1000));
        assert!(s.read_vec(0x2000, 1).is_err());
        assert_eq!(s.read_vec(0x3000, 4).unwrap(), b"tail");
        let ops = s.take_pending();
        assert!(matches!(
            ops[..],
            [EngineOp::Unmap {
                start: 0x2000,
                len: 0x1000
            }]
        ));
        assert_eq!(s.regions().count(), 2);
    }

    #[test]
    fn protect_checks_holes_and_max_perms() {
        let mut s = space();
        map_anon(&mut s, 0x1000, 0x1000, Perms::RW);
        map_anon(&mut s, 0x3000, 0x1000, Perms::RW);
        assert_eq!(
            s.protect(0x1000, 0x3000, Perms::R),
            Err(ProtectError::Unmapped)
        );
        s.protect(0x1000, 0x1000, Perms::R).unwrap();
        assert_eq!(s.perms_at(0x1800), Some(Perms::R));
        let host = Arc::new(HostMapping::anonymous(0x1000).unwrap());
        s.map(
            0x5000,
            0x1000,
            Perms::R,
            Perms::R,
            RegionKind::Memory { name: "f".into() },
            Some(host),
            0,
        );
        assert_eq!(
            s.protect(0x5000, 0x1000, Perms::RW),
            Err(ProtectError::Denied)
        );
    }

    #[test]
    fn find_free_goes_top_down_and_skips_used() {
        let mut s = space();
        let a = s.find_free(0x2000).unwrap();
        assert_eq!(a, 0x10_0000 - 0x2000);
        map_anon(&mut s, a, 0x2000, Perms::RW);
        let b = s.find_free(0x1000).unwrap();
        assert_eq!(b, a - 0x1000);
        assert!(s.find_free(0x100_0000).is_none());
    }

    /// The highest free range of `len` bytes in the mmap area, found by
    /// walking every page from the top: what `find_free` must return.
    fn highest_free_by_pages(s: &AddressSpace, len: u64) -> Option<u64> {
        let mut end = s.layout.mmap_top;
        while end >= s.layout.mmap_bottom + len {
            if s.is_free(end - len, end) {
                return Some(end - len);
            }
            end -= PAGE_SIZE;
        }
        None
    }

    #[test]
    fn find_free_matches_a_page_by_page_search_after_any_map_and_unmap() {
        let mut s = space();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..2000 {
            let len = (1 + next(4)) * PAGE_SIZE;
            match next(3) {
                0 | 1 => {
                    let found = s.find_free(len);
                    assert_eq!(found, highest_free_by_pages(&s, len));
                    if let Some(start) = found {
                        map_anon(&mut s, start, len, Perms::RW);
                    }
                }
                _ => {
                    let page = s.layout.mmap_bottom / PAGE_SIZE
                        + next((s.layout.mmap_top - s.layout.mmap_bottom) / PAGE_SIZE);
                    s.unmap(page * PAGE_SIZE, len);
                }
            }
        }
    }

    #[test]
    fn cstr_and_endianness() {
        let mut s = space();
        map_anon(&mut s, 0x1000, 0x2000, Perms::RW);
        s.write(0x1ffe, b"hi!\0").unwrap();
        assert_eq!(s.read_cstr(0x1ffe, 100).unwrap(), b"hi!");
        s.write_u64(0x1100, 0x0102030405060708).unwrap();
        assert_eq!(s.read_vec(0x1100, 1).unwrap(), [8]);
        assert_eq!(s.read_u32(0x1104).unwrap(), 0x01020304);
    }
}
