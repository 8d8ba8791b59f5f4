// SPDX-License-Identifier: GPL-2.0-or-later
//! Guest address space: the regions the guest has mapped, their permissions,
//! and checked, endian-aware access for syscall handlers.
//!
//! Every guest region is backed by host memory that ht-user owns (an anonymous
//! or file mapping), so handlers read and write guest memory without going
//! through Unicorn. Changes to the layout are queued as [`EngineOp`]s and
//! applied to the engine by `machine::memory` once the handler returns.

mod access;
mod encode;
mod host;
pub mod host_fault;
mod region;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::Arc;

pub use encode::{Encoder, Endian, StructBuilder};
pub use host::HostMapping;
pub use region::{Perms, Region, RegionKind};

pub const PAGE_SIZE: u64 = 4096;

pub fn page_floor(addr: u64) -> u64 {
    addr & !(PAGE_SIZE - 1)
}

/// Rounds up to a page boundary; `None` when that overflows.
pub fn page_ceil(addr: u64) -> Option<u64> {
    addr.checked_add(PAGE_SIZE - 1).map(page_floor)
}

/// Where a region's memory is on the host, for the engine to map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostAddr(pub *mut u8);

// SAFETY: an address, not an access: the memory behind it belongs to the
// region's `HostMapping` (itself Send and Sync), and an engine maps it only
// while that region holds the mapping. Queued ops may thus go to whichever
// thread runs an engine of the process.
unsafe impl Send for HostAddr {}

/// A change the engine must mirror. Produced by [`AddressSpace`], consumed by
/// `machine::memory::apply_pending`.
#[derive(Clone, Debug)]
pub enum EngineOp {
    Map {
        start: u64,
        len: u64,
        perms: Perms,
        host: HostAddr,
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
    /// With several engines (parallel threads): the host memory of removed
    /// regions, kept until every engine has unmapped it.
    retired: Option<Vec<Arc<HostMapping>>>,
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
            retired: None,
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

    /// From now on the host memory of removed regions is kept (see
    /// [`AddressSpace::take_retired`]): other engines may still map it.
    pub fn keep_retired(&mut self) {
        self.retired.get_or_insert_with(Vec::new);
    }

    /// The host memory of the regions removed since the last call.
    pub fn take_retired(&mut self) -> Vec<Arc<HostMapping>> {
        self.retired
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
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
                host: HostAddr(host),
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

    /// The engine changes that build the current layout in an engine that
    /// has nothing mapped (another thread's), leaving the queue as it is.
    pub fn layout_ops(&self) -> Vec<EngineOp> {
        self.regions
            .values()
            .map(|r| match r.host_ptr(r.start) {
                Some(host) => EngineOp::Map {
                    start: r.start,
                    len: r.len(),
                    perms: r.engine_perms(),
                    host: HostAddr(host),
                },
                None => EngineOp::MapControl {
                    start: r.start,
                    len: r.len(),
                    file_offset: r.backing_offset as u64,
                },
            })
            .collect()
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
            if let (Some(retired), Some(backing)) = (self.retired.as_mut(), region.backing) {
                retired.push(backing);
            }
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
            // Translated code knows whether its page is guarded.
            let guard_changes = perms.guarded() != region.perms.guarded();
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
            if (gains_exec || guard_changes) && region.kind != RegionKind::HypertraceControl {
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
}

#[derive(Debug, PartialEq, Eq)]
pub enum ProtectError {
    Unmapped,
    Denied,
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
    fn guarding_a_page_is_not_an_access_and_drops_its_code() {
        let mut s = space();
        map_anon(&mut s, 0x1000, 0x2000, Perms::RX);
        s.take_pending();
        // The region's most (rwx) still allows a guarded r-x page.
        let guarded = Perms::RX.with_guard(true);
        s.protect(0x2000, 0x1000, guarded).unwrap();
        assert_eq!(s.perms_at(0x2000), Some(guarded));
        assert_eq!(s.perms_at(0x1000), Some(Perms::RX));
        let ops = s.take_pending();
        assert!(
            ops.iter().any(|op| matches!(
                op,
                EngineOp::InvalidateCode {
                    start: 0x2000,
                    len: 0x1000
                }
            )),
            "translations made before the page was guarded must go: {ops:?}"
        );
        // The same access permissions again, unguarded: code goes again.
        s.protect(0x2000, 0x1000, Perms::RX).unwrap();
        assert!(s
            .take_pending()
            .iter()
            .any(|op| matches!(op, EngineOp::InvalidateCode { .. })));
        assert!(Perms::RX.contains(guarded));
        assert!(!Perms::R.contains(guarded));
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
