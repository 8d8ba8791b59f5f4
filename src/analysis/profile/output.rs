// SPDX-License-Identifier: GPL-2.0-or-later
//! A profile's outputs: text, JSON, folded stacks, callgrind's format.

use std::fmt::Write as _;
use std::path::Path;

use super::{CallCost, Cost, FuncId, Profile, SyscallCost};

impl Profile {
    fn name(&self, f: FuncId) -> &str {
        &self.functions[f as usize].name
    }

    /// Folded stacks (`region;outer;...;inner count` per line), the input
    /// of flame graph tools; the region's label is the root.
    pub fn folded(&self) -> String {
        let mut lines = Vec::new();
        for r in &self.regions {
            for (node, insns) in &r.stacks {
                if *insns == 0 {
                    continue;
                }
                let mut line = sanitize(&r.label);
                for f in self.stacks.functions(*node) {
                    line.push(';');
                    line.push_str(&sanitize(self.name(f)));
                }
                lines.push(format!("{line} {insns}"));
            }
        }
        lines.sort();
        let mut out = lines.join("\n");
        out.push('\n');
        out
    }

    /// Callgrind's format (KCachegrind, QCachegrind): one part per region,
    /// event `Ir`, self costs per function, calls with inclusive costs.
    pub fn callgrind(&self, command: &str) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "# callgrind format");
        let _ = writeln!(o, "version: 1");
        let _ = writeln!(o, "creator: ht-trace profile");
        let _ = writeln!(o, "cmd: {command}");
        let _ = writeln!(o, "positions: line");
        let _ = writeln!(o, "events: Ir");
        let mut summary = 0u64;
        for (i, r) in self.regions.iter().enumerate() {
            if r.total.insns == 0 {
                continue;
            }
            summary += r.total.insns;
            let _ = writeln!(o, "\npart: {}", i + 1);
            let _ = writeln!(o, "desc: Region: {}", r.label);
            let mut funcs: Vec<FuncId> = r.functions.keys().copied().collect();
            // Callers of functions with no self cost need entries too.
            for (caller, callee) in r.calls.keys() {
                funcs.push(*caller);
                funcs.push(*callee);
            }
            funcs.sort_unstable();
            funcs.dedup();
            for f in funcs {
                let func = &self.functions[f as usize];
                let _ = writeln!(o, "ob={}", func.module);
                let _ = writeln!(o, "fn={}", func.name);
                let own = r.functions.get(&f).map_or(0, |c| c.insns);
                let _ = writeln!(o, "0 {own}");
                let mut callees: Vec<(&(FuncId, FuncId), &CallCost)> =
                    r.calls.iter().filter(|((c, _), _)| *c == f).collect();
                callees.sort_by_key(|((_, callee), _)| *callee);
                for ((_, callee), cost) in callees {
                    let target = &self.functions[*callee as usize];
                    let _ = writeln!(o, "cob={}", target.module);
                    let _ = writeln!(o, "cfn={}", target.name);
                    let _ = writeln!(o, "calls={} 0", cost.calls);
                    let _ = writeln!(o, "0 {}", cost.inclusive);
                }
            }
        }
        let _ = writeln!(o, "\nsummary: {summary}");
        let _ = writeln!(o, "totals: {summary}");
        o
    }

    /// The text report: per region, the functions by instructions (the
    /// first `top`), then the system calls.
    pub fn text(&self, top: usize, syscall_name: &dyn Fn(u64) -> Option<String>) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "blocks    {} inside regions, {} outside",
            self.blocks_in_regions, self.blocks_outside
        );
        for r in &self.regions {
            out.push('\n');
            let _ = writeln!(
                out,
                "region {}: {} instructions, {} blocks",
                crate::analysis::text::shown_name(&r.label),
                r.total.insns,
                r.total.blocks
            );
            let mut funcs: Vec<(&FuncId, &Cost)> = r.functions.iter().collect();
            funcs.sort_by(|a, b| b.1.insns.cmp(&a.1.insns).then(a.0.cmp(b.0)));
            let mut t = crate::analysis::text::Table::new(&[
                "function", "insns", "share", "blocks", "module",
            ])
            .left_aligned(4);
            let share = |n: u64| {
                if r.total.insns == 0 {
                    "-".to_string()
                } else {
                    format!("{:.1}%", n as f64 * 100.0 / r.total.insns as f64)
                }
            };
            for (f, c) in funcs.iter().take(top) {
                let func = &self.functions[**f as usize];
                t.row(vec![
                    crate::analysis::text::shown_name(&func.name),
                    c.insns.to_string(),
                    share(c.insns),
                    c.blocks.to_string(),
                    Path::new(&func.module)
                        .file_name()
                        .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
                ]);
            }
            if funcs.len() > top {
                let rest = funcs[top..].iter().fold(Cost::default(), |mut a, (_, c)| {
                    a.add(**c);
                    a
                });
                t.row(vec![
                    format!("({} more)", funcs.len() - top),
                    rest.insns.to_string(),
                    share(rest.insns),
                    rest.blocks.to_string(),
                    String::new(),
                ]);
            }
            out.push_str(&t.render("  "));
            if !r.syscalls.is_empty() {
                let mut calls: Vec<(&u64, &SyscallCost)> = r.syscalls.iter().collect();
                calls.sort_by(|a, b| b.1.total_ns.cmp(&a.1.total_ns).then(a.0.cmp(b.0)));
                let mut t = crate::analysis::text::Table::new(&[
                    "system call",
                    "count",
                    "total ns",
                    "ns per call",
                ]);
                for (nr, c) in calls {
                    t.row(vec![
                        syscall_name(*nr).unwrap_or_else(|| format!("syscall {nr}")),
                        c.count.to_string(),
                        c.total_ns.to_string(),
                        (c.total_ns / c.count.max(1)).to_string(),
                    ]);
                }
                out.push('\n');
                out.push_str(&t.render("  "));
            }
        }
        out
    }

    /// The same as JSON: per region its totals, functions (all, by
    /// instructions), calls and system calls.
    pub fn json(&self, syscall_name: &dyn Fn(u64) -> Option<String>) -> String {
        use serde_json::{json, Value};
        let regions: Vec<Value> = self
            .regions
            .iter()
            .map(|r| {
                let mut funcs: Vec<(&FuncId, &Cost)> = r.functions.iter().collect();
                funcs.sort_by(|a, b| b.1.insns.cmp(&a.1.insns).then(a.0.cmp(b.0)));
                let mut calls: Vec<(&(FuncId, FuncId), &CallCost)> = r.calls.iter().collect();
                calls.sort_by_key(|(k, _)| **k);
                let mut sys: Vec<(&u64, &SyscallCost)> = r.syscalls.iter().collect();
                sys.sort_by_key(|(nr, _)| **nr);
                json!({
                    "name": r.label,
                    "insns": r.total.insns,
                    "blocks": r.total.blocks,
                    "functions": funcs
                        .iter()
                        .map(|(f, c)| {
                            let func = &self.functions[**f as usize];
                            json!({
                                "name": func.name, "module": func.module,
                                "insns": c.insns, "blocks": c.blocks,
                            })
                        })
                        .collect::<Vec<_>>(),
                    "calls": calls
                        .into_iter()
                        .map(|((caller, callee), c)| json!({
                            "caller": self.name(*caller), "callee": self.name(*callee),
                            "calls": c.calls, "inclusive_insns": c.inclusive,
                        }))
                        .collect::<Vec<_>>(),
                    "syscalls": sys
                        .into_iter()
                        .map(|(nr, c)| json!({
                            "nr": nr,
                            "name": syscall_name(*nr).unwrap_or_else(|| format!("syscall {nr}")),
                            "count": c.count,
                            "total_ns": c.total_ns,
                        }))
                        .collect::<Vec<_>>(),
                })
            })
            .collect();
        let profile = json!({
            "regions": regions,
            "blocks_in_regions": self.blocks_in_regions,
            "blocks_outside": self.blocks_outside,
        });
        format!("{profile}\n")
    }
}

/// A frame name as folded stacks allow it: no `;` (the separator) and no
/// line break.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c == ';' || c == '\n' { '_' } else { c })
        .collect()
}
