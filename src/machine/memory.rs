// SPDX-License-Identifier: GPL-2.0-or-later
//! The only place that changes Unicorn's memory map.
//!
//! Unicorn runs with the virtual TLB and a TLB-fill hook that hands out each
//! page's real permissions: data pages without EXEC let guest stores take
//! the fast path (see the project's Unicorn notes).

use unicorn_engine::unicorn_const::{MemType, Prot, TlbEntry, TlbType};

use crate::machine::Engine;
use crate::mem::{EngineOp, Perms};
use crate::trace::file::InsnCounts;

#[derive(Debug)]
pub struct EngineError {
    pub op: String,
    pub err: unicorn_engine::unicorn_const::uc_error,
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "emulator refused {}: {:?}", self.op, self.err)
    }
}

impl std::error::Error for EngineError {}

fn prot(perms: Perms) -> Prot {
    Prot(u32::from(perms.0 & 7))
}

/// A TLB entry's permissions: the access ones, and on a guarded page the
/// engine's guarded-page bit (engine patch 0038; only AArch64 reads it).
fn tlb_perms(perms: Perms) -> Prot {
    let guarded = if perms.guarded() {
        unicorn_engine_sys::UC_TLB_ARM64_GUARDED
    } else {
        0
    };
    Prot(prot(perms).0 | guarded)
}

/// TLB fills after which the fill hook flushes the TLB so the engine can
/// size it to the guest's working set (a memory sweep otherwise refills a
/// 256-entry TLB forever). The engine's memory helpers look their TLB entry
/// up again after a fill, so a flush inside the fill is safe. Stopping the
/// engine there instead is not: it reports the filling instruction's pc
/// although that instruction completed, and resuming runs it twice (fatal
/// for `ldr x19, [x19, #880]`).
pub const TLB_FILLS_BEFORE_RESIZE: u32 = 16 * 1024;

/// Where a refused data access is sent to learn its exact address: a page
/// no guest maps in practice (64 GiB - 4 KiB), inside every target's
/// physical address space.
pub const FAULT_PROBE_PAGE: u64 = 0xf_ffff_f000;

/// Records the exact address of a guest access that faults: through the
/// probe page the TLB-fill hook maps a refused access to. 32-bit targets
/// (mipsel) report the probe's physical address cut to 32 bits, so the
/// hook also covers that page.
pub fn install_fault_address_hook(uc: &mut Engine<'_>) -> Result<(), EngineError> {
    use unicorn_engine::unicorn_const::HookType;
    let kinds = HookType::MEM_READ_UNMAPPED | HookType::MEM_WRITE_UNMAPPED;
    for probe in [FAULT_PROBE_PAGE, FAULT_PROBE_PAGE & 0xffff_ffff] {
        uc.add_mem_hook(
            kinds,
            probe,
            probe + 0xfff,
            move |uc, _kind, addr, _size, _value| {
                let pc = uc.get_data().abi.pc(uc);
                let m = uc.get_data_mut();
                m.fault.fault_pc = Some(pc);
                let page = m.fault.last_fault.map_or(0, |(page, _)| page);
                m.fault.fault_addr = Some(page | (addr & 0xfff));
                false
            },
        )
        .map_err(|err| EngineError {
            op: "fault address hook".into(),
            err,
        })?;
    }
    Ok(())
}

/// Switches the engine to the virtual TLB and installs the TLB-fill hook.
pub fn install_tlb(uc: &mut Engine<'_>) -> Result<(), EngineError> {
    uc.ctl_set_tlb_type(TlbType::VIRTUAL)
        .map_err(|err| EngineError {
            op: "virtual TLB".into(),
            err,
        })?;
    uc.add_tlb_hook(0, u64::MAX, |uc, addr, access: MemType| {
        // `addr` is already aligned to the engine's page size, which is
        // smaller than 4 KiB on some targets (1 KiB on arm): map it 1:1.
        let page = addr;
        if uc.get_data().tlb.engine_op_in_progress {
            // Unicorn translates the range of an unmap or protect itself to
            // drop cached code; refusing would abort emulation, so answer
            // with an identity entry that the TLB flush afterwards discards.
            return Some(TlbEntry {
                paddr: page,
                perms: Prot::ALL,
            });
        }
        let perms = uc.get_data().lock_process().mem.perms_at(addr);
        let allowed = perms.is_some_and(|p| match access {
            MemType::READ => p.readable(),
            MemType::WRITE => p.writable(),
            MemType::FETCH => p.executable(),
            _ => true,
        });
        if !allowed {
            // Remembered so the fault can be reported with its address. A
            // refused fetch may also be the translator's probe of the next
            // page (engine patch 0017), which ends the block before it
            // instead of faulting; a real fault or system call comes next
            // and replaces or clears this.
            uc.get_data_mut().fault.last_fault = Some((addr, access));
            tracing::debug!("guest fault: {access:?} at {addr:#x} (perms {perms:?})");
            let probe_free = uc
                .get_data()
                .lock_process()
                .mem
                .perms_at(FAULT_PROBE_PAGE)
                .is_none();
            if access != MemType::FETCH && probe_free {
                // The fill only knows the page: send the access to a page
                // with nothing behind it, whose unmapped-access hook sees
                // the exact address (the engine then reports the fault with
                // the instruction undone, as for a refused fill).
                return Some(TlbEntry {
                    paddr: FAULT_PROBE_PAGE,
                    perms: Prot::ALL,
                });
            }
            return None;
        }
        let machine = uc.get_data_mut();
        machine.tlb.tlb_fills += 1;
        if machine.tlb.tlb_fills >= TLB_FILLS_BEFORE_RESIZE {
            // The engine only grows its TLB when it is flushed.
            machine.tlb.tlb_fills = 0;
            let _ = uc.ctl_flush_tlb();
        }
        Some(TlbEntry {
            paddr: page,
            perms: tlb_perms(perms?),
        })
    })
    .map_err(|err| EngineError {
        op: "TLB hook".into(),
        err,
    })?;
    Ok(())
}

/// Mirrors the address space's queued changes into the engine; returns
/// how many there were.
pub fn apply_pending(uc: &mut Engine<'_>) -> Result<usize, EngineError> {
    if uc.get_data().parallel.is_some() {
        // Parallel threads: through the process's journal, which every
        // engine follows (see `parallel`).
        return crate::machine::parallel::sync_memory(uc);
    }
    let ops = uc.get_data_mut().lock_process().mem.take_pending();
    apply_and_flush(uc, ops, false)
}

/// Applies changes another engine published (parallel threads). They may
/// repeat what this engine already has: one made for a new thread maps
/// the layout as it is, which may include changes published after.
pub fn replay(uc: &mut Engine<'_>, ops: Vec<EngineOp>) -> Result<(), EngineError> {
    apply_and_flush(uc, ops, true).map(drop)
}

fn apply_and_flush(
    uc: &mut Engine<'_>,
    ops: Vec<EngineOp>,
    replaying: bool,
) -> Result<usize, EngineError> {
    if ops.is_empty() {
        return Ok(0);
    }
    let count = ops.len();
    uc.get_data_mut().tlb.engine_op_in_progress = true;
    let result = apply_ops(uc, ops, replaying);
    uc.get_data_mut().tlb.engine_op_in_progress = false;
    // Cached translations of old permissions (and the identity entries
    // handed out while the ops ran) must not outlive the change.
    let flushed = uc.ctl_flush_tlb().map_err(|err| EngineError {
        op: "TLB flush".into(),
        err,
    });
    result.and(flushed).map(|()| count)
}

/// Maps the process's whole current layout into a new engine (another
/// thread's): every region at its address, over the same host memory.
pub fn mirror_layout(uc: &mut Engine<'_>) -> Result<(), EngineError> {
    let ops = uc.get_data().lock_process().mem.layout_ops();
    apply_and_flush(uc, ops, true).map(drop)
}

/// Applies `ops` in order; `replaying` (changes another engine published)
/// makes them idempotent: a map replaces what is there, an unmap or a
/// protection change of what is not there is nothing.
fn apply_ops(uc: &mut Engine<'_>, ops: Vec<EngineOp>, replaying: bool) -> Result<(), EngineError> {
    for op in ops {
        if replaying {
            if let EngineOp::Map { start, len, .. } | EngineOp::MapControl { start, len, .. } = op {
                unmap_what_is_there(uc, start, len);
            }
        }
        let result = match op {
            EngineOp::Map {
                start,
                len,
                perms,
                host,
            } => {
                // SAFETY: `host` points at `len` bytes of a HostMapping kept
                // alive by the region that queued this op; the region's
                // removal queues an Unmap before the memory is released and
                // before the guest runs again (with parallel threads the
                // journal keeps it until every engine has unmapped it).
                unsafe { uc.mem_map_ptr(start, len, prot(perms), host.0.cast()) }
            }
            EngineOp::MapControl {
                start,
                len,
                file_offset,
            } => map_control(uc, start, len, file_offset),
            EngineOp::Unmap { start, len } if replaying => {
                unmap_what_is_there(uc, start, len);
                Ok(())
            }
            EngineOp::Unmap { start, len } => uc.mem_unmap(start, len),
            EngineOp::Protect { start, len, perms } if replaying => {
                let _ = uc.mem_protect(start, len, prot(perms));
                Ok(())
            }
            EngineOp::Protect { start, len, perms } => uc.mem_protect(start, len, prot(perms)),
            // apply_pending flushes the TLB after every batch of ops.
            EngineOp::FlushTlb => Ok(()),
            // Guest addresses are the engine's physical addresses (the
            // TLB-fill hook maps pages to themselves), so the range is
            // contiguous; the hook grants every page while ops run.
            EngineOp::InvalidateCode { start, len } => {
                uc.ctl_remove_cache(start, start.saturating_add(len))
            }
            EngineOp::InvalidateAllCode => uc.ctl_flush_tb(),
        };
        result.map_err(|err| EngineError {
            op: format!("{op:?}"),
            err,
        })?;
    }
    Ok(())
}

/// Unmaps whatever the engine has mapped in `[start, start+len)` (the
/// engine refuses to unmap a range that is not mapped whole).
fn unmap_what_is_there(uc: &mut Engine<'_>, start: u64, len: u64) {
    let end = start.saturating_add(len);
    let Ok(regions) = uc.mem_regions() else {
        return;
    };
    for r in regions {
        // `end` of an engine region is its last byte.
        let (from, to) = (r.begin.max(start), r.end.saturating_add(1).min(end));
        if from < to {
            let _ = uc.mem_unmap(from, to - from);
        }
    }
}

/// `value`, the low `size` bytes of it, in the other byte order.
fn byte_swapped(value: u64, size: usize) -> u64 {
    match size {
        1..=8 => value.swap_bytes() >> (64 - 8 * size),
        _ => value,
    }
}

/// Maps the hypertrace control channel as MMIO: each guest store becomes a
/// callback, reads return the last value stored in the slot. The callbacks
/// get offsets relative to `start`; `file_offset` turns them into offsets
/// in the control file.
fn map_control(
    uc: &mut Engine<'_>,
    start: u64,
    len: u64,
    file_offset: u64,
) -> Result<(), unicorn_engine::unicorn_const::uc_error> {
    let swapped = uc.get_data().abi.mmio_byte_swapped();
    let order = move |value: u64, size: usize| {
        if swapped {
            byte_swapped(value, size)
        } else {
            value
        }
    };
    uc.mmio_map(
        start,
        len,
        Some(
            move |uc: &mut Engine<'_>, offset: u64, size: usize| -> u64 {
                let value = uc
                    .get_data()
                    .hypertrace
                    .as_ref()
                    .map_or(0, |channel| channel.read_slot(file_offset + offset, size));
                order(value, size)
            },
        ),
        Some(
            move |uc: &mut Engine<'_>, offset: u64, size: usize, value: u64| {
                let value = order(value, size);
                // Read inside the callback, where the engine knows the
                // storing instruction: the count is exact at the store.
                let counts = if uc.get_data().trace.insn_counting {
                    crate::machine::engine_ctl::insn_counters(uc)
                        .ok()
                        .map(|c| InsnCounts {
                            insns: c.insns,
                            blocks: c.blocks,
                        })
                } else {
                    None
                };
                if uc
                    .get_data_mut()
                    .on_control_store(file_offset + offset, size, value, counts)
                {
                    // The hooks the events need changed: stop at the end
                    // of this block to install or remove them.
                    let _ = uc.emu_stop();
                }
            },
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::byte_swapped;

    #[test]
    fn a_value_is_swapped_within_its_size() {
        assert_eq!(byte_swapped(1 << 56, 8), 1);
        assert_eq!(byte_swapped(0x1122_3344, 4), 0x4433_2211);
        assert_eq!(byte_swapped(0xaabb, 2), 0xbbaa);
        assert_eq!(byte_swapped(0x7f, 1), 0x7f);
    }
}
