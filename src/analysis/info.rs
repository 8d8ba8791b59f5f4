// SPDX-License-Identifier: GPL-2.0-or-later
//! `ht-trace info`: a trace's header as text.

use std::path::{Path, PathBuf};

use super::report;
use crate::trace::file::{Layout, TraceFile};

/// The header of `file`: format version, tool, program, clock anchor,
/// counts, metadata, and the traces of the processes it forked found next
/// to it.
pub fn text(file: &TraceFile) -> String {
    let mut out = report::describe(file);
    let i = &file.info;
    out.push_str(&format!(
        "anchor    monotonic {} ns = wall {} ns ({})\n",
        i.anchor.monotonic_ns,
        i.anchor.realtime_ns,
        super::text::iso_utc(i.anchor.realtime_ns)
    ));
    let records = match i.layout {
        Layout::Fixed => format!("records of {} bytes", file.record_size),
        Layout::Compact => format!(
            "compact records ({:.1} bytes a record, {} once decoded)",
            file.body_bytes as f64 / file.records.max(1) as f64,
            file.record_size
        ),
    };
    out.push_str(&format!(
        "layout    header {} bytes, {records}: {} in the file, header count {}\n",
        file.header_size,
        file.records,
        file.declared_count
            .map_or("unknown (the writer did not finish)".to_string(), |c| c
                .to_string())
    ));
    for (k, _) in &i.metadata {
        let v = i.get(k).unwrap_or_default().replace('\0', " ");
        out.push_str(&format!("meta      {k} = {v}\n"));
    }
    let children = if file.path() == Path::new("(standard input)") {
        Vec::new()
    } else {
        child_traces(file.path())
    };
    if !children.is_empty() {
        let names: Vec<String> = children.iter().map(|p| p.display().to_string()).collect();
        out.push_str(&format!(
            "processes {} more trace file(s) next to it, one per forked process: {}\n",
            names.len(),
            names.join(" ")
        ));
    }
    out
}

/// [`text`] of each of `files` (named as given in `names`), each under a
/// line naming it, `==> NAME <==`, as `head` heads files; one file's alone.
pub fn text_files(files: &[(String, TraceFile)]) -> String {
    if let [(_, file)] = files {
        return text(file);
    }
    let heads: Vec<String> = files
        .iter()
        .map(|(name, file)| format!("==> {name} <==\n{}", text(file)))
        .collect();
    heads.join("\n")
}

/// The traces of processes forked during the run of `path` (ht-user
/// writes them as `PATH.PID`), in pid order.
pub fn child_traces(path: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Vec::new();
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    let pid = n.strip_prefix(&prefix)?.parse::<u64>().ok()?;
                    Some((pid, path.with_file_name(n)))
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.into_iter().map(|(_, p)| p).collect()
}
