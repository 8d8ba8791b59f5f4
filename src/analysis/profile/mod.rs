// SPDX-License-Identifier: GPL-2.0-or-later
//! `ht-trace profile`: where the instructions of each region go.
//!
//! It reads the `guest_exec_tb` records recorded inside regions (each with
//! its block's instruction count, metadata `exec_tb_insns`), the modules
//! ht-user saw mapped for execution (`op::MODULE` events: the program, its
//! interpreter, and every file the guest mapped executable, with the
//! mapping's start and end), and the system calls. Per region
//! (by label, as `report` names them) it gives:
//!
//! - per guest function (symbols from the ELF symbol tables of the modules,
//!   placed where their executable segment was mapped; an address no
//!   symbol covers is shown as `module+0xVADDR`, one outside every module
//!   as its address): the
//!   instructions and blocks executed in it and its share of the region;
//! - call stacks from a shadow stack per guest thread, built from the
//!   block stream: entering a function at its first instruction from
//!   another block is a call (its return address is the end of the block
//!   that jumped there, where every architecture's call instruction ends a
//!   block), reaching an address a frame will return to is the return to
//!   that frame. They are written as folded stacks (for flame graphs) and
//!   as callgrind's format, whose inclusive call costs come from the
//!   frames' instruction counts when they return;
//! - the system calls made inside it: count and host time per call.
//!
//! A block belongs to every region open on its thread (opened by an event
//! of that thread) when it starts. Blocks are traced only inside regions,
//! so a region's stacks start in the function its first block runs (the
//! callers of the code that opened the region are not known). With
//! `counters=on` the functions add up to the region's exact count: the
//! instructions after the opening store in its block (inside the region,
//! but in a block that started before it) less those after the closing
//! store are counted to the function of the region's last block.

use std::collections::HashMap;
use std::path::PathBuf;

mod output;
mod symbols;

use super::{Kind, RegionSpec, Tracker};
use crate::hypertrace::op;
use crate::trace::file::{EventKind, InsnCounts, TraceError, TraceFile};
use symbols::Symbolizer;

use crate::trace::file::EXEC_TB_INSNS_KEY;

/// Why a profile cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// The trace has no instruction counts per block (an older trace).
    #[error(
        "the trace's guest_exec_tb records carry no instruction counts (it was recorded by an \
         older ht-user)"
    )]
    NoBlockCounts,
}

/// Function index into [`Profile::functions`].
pub type FuncId = u32;
/// Call stack index into [`Profile::stacks`].
pub type StackId = u32;

/// Call stacks as a tree: each node is a function called from its parent
/// node's stack (`NO_PARENT` for an outermost frame).
#[derive(Clone, Debug, Default)]
pub struct StackTree {
    pub nodes: Vec<(StackId, FuncId)>,
    index: HashMap<(StackId, FuncId), StackId>,
}

/// The parent of an outermost frame's node.
pub const NO_PARENT: StackId = StackId::MAX;

impl StackTree {
    fn intern(&mut self, parent: StackId, func: FuncId) -> StackId {
        if let Some(&id) = self.index.get(&(parent, func)) {
            return id;
        }
        let id = self.nodes.len() as StackId;
        self.nodes.push((parent, func));
        self.index.insert((parent, func), id);
        id
    }

    /// The functions of stack `id`, outermost first.
    pub fn functions(&self, mut id: StackId) -> Vec<FuncId> {
        let mut v = Vec::new();
        while id != NO_PARENT {
            let (parent, func) = self.nodes[id as usize];
            v.push(func);
            id = parent;
        }
        v.reverse();
        v
    }
}

/// The instructions and blocks executed in one function of a region.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    pub insns: u64,
    pub blocks: u64,
}

impl Cost {
    fn add(&mut self, other: Cost) {
        self.insns += other.insns;
        self.blocks += other.blocks;
    }
}

/// Calls from one function to another, and what they cost in all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallCost {
    pub calls: u64,
    /// Instructions from the call to the return, the callee's callees
    /// included.
    pub inclusive: u64,
}

/// System calls of one number in one region.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyscallCost {
    pub count: u64,
    pub total_ns: u64,
}

/// Everything the profile found for one region label.
#[derive(Clone, Debug, Default)]
pub struct RegionProfile {
    pub label: String,
    pub total: Cost,
    /// Self cost per function.
    pub functions: HashMap<FuncId, Cost>,
    /// Instructions per call stack (a node of [`Profile::stacks`]).
    pub stacks: HashMap<StackId, u64>,
    /// Calls per (caller, callee).
    pub calls: HashMap<(FuncId, FuncId), CallCost>,
    /// System calls by number.
    pub syscalls: HashMap<u64, SyscallCost>,
}

/// A function (or an address range without a symbol) as the profile
/// names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function {
    pub name: String,
    /// The module's path ("" for an address outside every module).
    pub module: String,
}

/// One trace's profile, per region label in order of first appearance.
#[derive(Clone, Debug, Default)]
pub struct Profile {
    pub regions: Vec<RegionProfile>,
    pub functions: Vec<Function>,
    pub stacks: StackTree,
    /// Blocks executed inside regions, and outside any.
    pub blocks_in_regions: u64,
    pub blocks_outside: u64,
}

impl Profile {
    /// Pools the profiles of several processes (a forked run's files):
    /// functions of the same name and module, stacks of the same
    /// functions and regions of the same name are one.
    pub fn merge(parts: Vec<Profile>) -> Profile {
        let mut out = Profile::default();
        let mut ids: HashMap<(String, String), FuncId> = HashMap::new();
        for p in parts {
            let mut fmap = Vec::with_capacity(p.functions.len());
            for f in &p.functions {
                let key = (f.name.clone(), f.module.clone());
                let id = match ids.get(&key) {
                    Some(&id) => id,
                    None => {
                        out.functions.push(f.clone());
                        let id = (out.functions.len() - 1) as FuncId;
                        ids.insert(key, id);
                        id
                    }
                };
                fmap.push(id);
            }
            // Nodes come after their parents: map them in order.
            let mut nmap: Vec<StackId> = Vec::with_capacity(p.stacks.nodes.len());
            for &(parent, func) in &p.stacks.nodes {
                let parent = if parent == NO_PARENT {
                    NO_PARENT
                } else {
                    nmap[parent as usize]
                };
                nmap.push(out.stacks.intern(parent, fmap[func as usize]));
            }
            out.blocks_in_regions += p.blocks_in_regions;
            out.blocks_outside += p.blocks_outside;
            for r in p.regions {
                let at = match out.regions.iter().position(|x| x.label == r.label) {
                    Some(at) => at,
                    None => {
                        out.regions.push(RegionProfile {
                            label: r.label.clone(),
                            ..Default::default()
                        });
                        out.regions.len() - 1
                    }
                };
                let x = &mut out.regions[at];
                x.total.add(r.total);
                for (f, c) in r.functions {
                    x.functions.entry(fmap[f as usize]).or_default().add(c);
                }
                for (node, n) in r.stacks {
                    *x.stacks.entry(nmap[node as usize]).or_default() += n;
                }
                for ((a, b), c) in r.calls {
                    let e = x
                        .calls
                        .entry((fmap[a as usize], fmap[b as usize]))
                        .or_default();
                    e.calls += c.calls;
                    e.inclusive += c.inclusive;
                }
                for (nr, c) in r.syscalls {
                    let e = x.syscalls.entry(nr).or_default();
                    e.count += c.count;
                    e.total_ns += c.total_ns;
                }
            }
        }
        out
    }
}

/// A shadow-stack frame.
#[derive(Clone, Copy, Debug)]
struct Frame {
    func: FuncId,
    node: StackId,
    /// Where the caller goes on when this frame returns (0 for the
    /// outermost frame).
    ret: u64,
    /// The thread's instruction count when the frame was entered.
    entered_at: u64,
}

#[derive(Default)]
struct ThreadState {
    /// The regions open on this thread, innermost last: label, and the
    /// thread's traced instructions when it opened.
    regions: Vec<(usize, u64)>,
    /// Distinct labels of `regions` (a block counts once per label).
    labels: Vec<usize>,
    stack: Vec<Frame>,
    /// The function and stack of the last block.
    last: Option<(FuncId, StackId)>,
    /// End of the previous block (its fall-through / return address).
    last_end: u64,
    insns: u64,
    /// A system call in progress: number, entry time.
    syscall: Option<(u64, u64)>,
}

/// Options of a profile run.
#[derive(Clone, Debug, Default)]
pub struct ProfileOptions {
    /// Maps a guest path as recorded to the file to read symbols from
    /// (`-L`: the sysroot the run used).
    pub sysroot: Option<PathBuf>,
}

fn host_path(opts: &ProfileOptions, guest: &str) -> String {
    if let Some(root) = &opts.sysroot {
        let candidate = root.join(guest.trim_start_matches('/'));
        if candidate.exists() {
            return candidate.to_string_lossy().into_owned();
        }
    }
    guest.to_string()
}

/// Profiles `file`'s regions (`specs` as for `report`).
pub fn profile(
    file: &TraceFile,
    specs: &[RegionSpec],
    opts: &ProfileOptions,
) -> Result<Profile, ProfileError> {
    let counted = file.info.get(EXEC_TB_INSNS_KEY).is_some();
    let arm = file.info.get("arch").as_deref() == Some("arm");
    let mut tracker = Tracker::new(specs.to_vec());
    let mut sym = Symbolizer::new(arm);
    let mut threads: HashMap<u32, ThreadState> = HashMap::new();
    let mut regions: Vec<RegionProfile> = Vec::new();
    let mut out = Profile::default();
    for rec in file.records() {
        let rec = rec?;
        match rec.kind {
            EventKind::ExecTb => {
                let t = threads.entry(rec.thread).or_default();
                if t.regions.is_empty() {
                    out.blocks_outside += 1;
                    t.last_end = 0;
                    continue;
                }
                if !counted {
                    return Err(ProfileError::NoBlockCounts);
                }
                out.blocks_in_regions += 1;
                let pc = rec.arg1;
                let size = u64::from(rec.client & 0xffff);
                let insns = u64::from(rec.client >> 16);
                let (func, entry) = sym.lookup(pc);
                step_stack(t, &mut regions, &mut out.stacks, pc, func, entry);
                t.insns += insns;
                t.last_end = pc + size;
                let node = t.stack.last().expect("a frame").node;
                t.last = Some((func, node));
                let cost = Cost { insns, blocks: 1 };
                // A block counts in every region open on its thread (an
                // outer region holds its inner ones, as its count does).
                for &label in &t.labels {
                    let r = &mut regions[label];
                    r.total.add(cost);
                    r.functions.entry(func).or_default().add(cost);
                    *r.stacks.entry(node).or_default() += insns;
                }
            }
            EventKind::Syscall => {
                let t = threads.entry(rec.thread).or_default();
                t.syscall = Some((u64::from(rec.client), rec.ts_ns));
            }
            EventKind::SyscallRet => {
                let t = threads.entry(rec.thread).or_default();
                if let Some((nr, at)) = t.syscall.take() {
                    for &label in &t.labels {
                        let c = regions[label].syscalls.entry(nr).or_default();
                        c.count += 1;
                        c.total_ns += rec.ts_ns.saturating_sub(at);
                    }
                }
            }
            EventKind::Hypertrace if rec.arg1 == op::MODULE => {
                if let (Some(id), Some(start)) = (rec.arg(2), rec.arg(3)) {
                    let path = host_path(opts, &tracker.name(id));
                    sym.add_mapping(&path, start, rec.arg(4).unwrap_or(0));
                }
            }
            _ => {
                let Some(kind) = tracker.feed(&rec) else {
                    continue;
                };
                while regions.len() < tracker.labels.len() {
                    let label = tracker.labels[regions.len()].clone();
                    regions.push(RegionProfile {
                        label,
                        ..Default::default()
                    });
                }
                let (closed, opened) = match kind {
                    Kind::Open(l) => (None, Some(l)),
                    Kind::Close(s) => (Some(s), None),
                    Kind::CloseOpen(s, l) => (Some(s), Some(l)),
                    _ => (None, None),
                };
                if let Some(span) = closed {
                    let t = threads.entry(span.thread).or_default();
                    if let Some(i) = t.regions.iter().rposition(|&(l, _)| l == span.label) {
                        let (label, opened_at) = t.regions.remove(i);
                        settle(t, &mut regions[label], span.counts, opened_at);
                        if t.regions.is_empty() {
                            unwind(t, &mut regions);
                        }
                        t.labels = distinct_labels(&t.regions);
                    }
                }
                if let Some(label) = opened {
                    let t = threads.entry(rec.thread).or_default();
                    t.regions.push((label, t.insns));
                    t.labels = distinct_labels(&t.regions);
                }
            }
        }
    }
    for t in threads.values_mut() {
        unwind(t, &mut regions);
    }
    out.regions = regions;
    out.functions = sym.functions;
    Ok(out)
}

fn distinct_labels(open: &[(usize, u64)]) -> Vec<usize> {
    let mut v: Vec<usize> = open.iter().map(|&(l, _)| l).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// A region closed on thread `t`. When the trace counts instructions at
/// the stores (`counts`), the blocks traced in it differ from that exact
/// count by the ends of the two blocks that held the stores: the opening
/// block's instructions after the opening store (run inside the region,
/// but that block started before it) less the closing block's after the
/// closing store. Both belong to the function that marks the region, so
/// the difference goes to the function of the region's last block, and
/// the functions add up to the region's exact count.
fn settle(t: &ThreadState, r: &mut RegionProfile, counts: Option<InsnCounts>, opened_at: u64) {
    let (Some(c), Some((func, node))) = (counts, t.last) else {
        return;
    };
    let traced = t.insns - opened_at;
    if traced == 0 {
        return;
    }
    let diff = c.insns.wrapping_sub(traced);
    r.total.insns = r.total.insns.wrapping_add(diff);
    let f = r.functions.entry(func).or_default();
    f.insns = f.insns.wrapping_add(diff);
    let n = r.stacks.entry(node).or_default();
    *n = n.wrapping_add(diff);
}

/// Moves thread `t`'s shadow stack to the block at `pc` (function `func`,
/// `entry` if `pc` is its first instruction).
fn step_stack(
    t: &mut ThreadState,
    regions: &mut [RegionProfile],
    tree: &mut StackTree,
    pc: u64,
    func: FuncId,
    entry: bool,
) {
    // A return: to an address a frame waits for (the innermost such).
    if let Some(i) = t.stack.iter().rposition(|f| f.ret == pc && f.ret != 0) {
        while t.stack.len() > i {
            pop(t, regions);
        }
    }
    let Some(top) = t.stack.last().copied() else {
        t.stack.push(Frame {
            func,
            node: tree.intern(NO_PARENT, func),
            ret: 0,
            entered_at: t.insns,
        });
        return;
    };
    if entry && t.last_end != 0 && pc != t.last_end {
        // A call: entered at its first instruction from elsewhere.
        t.stack.push(Frame {
            func,
            node: tree.intern(top.node, func),
            ret: t.last_end,
            entered_at: t.insns,
        });
        return;
    }
    if top.func != func {
        // A jump into another function (a tail call, or code the stack
        // did not see entered): it takes the frame's place.
        let parent = tree.nodes[top.node as usize].0;
        let f = t.stack.last_mut().expect("not empty");
        f.func = func;
        f.node = tree.intern(parent, func);
    }
}

/// The innermost frame returns: a call with its inclusive cost for every
/// region open on the thread.
fn pop(t: &mut ThreadState, regions: &mut [RegionProfile]) {
    let Some(f) = t.stack.pop() else {
        return;
    };
    if let Some(caller) = t.stack.last() {
        for &label in &t.labels {
            let c = regions[label]
                .calls
                .entry((caller.func, f.func))
                .or_default();
            c.calls += 1;
            c.inclusive += t.insns - f.entered_at;
        }
    }
}

/// The thread left its last region: its frames return.
fn unwind(t: &mut ThreadState, regions: &mut [RegionProfile]) {
    while !t.stack.is_empty() {
        pop(t, regions);
    }
    t.last_end = 0;
    t.last = None;
}
