// SPDX-License-Identifier: GPL-2.0-or-later
//! The layering of ARCHITECTURE.md, checked over the source: a top-level
//! module may name (`crate::m`) modules of its own layer or of layers
//! below it. The imports that still point up are listed, one per line, in
//! `tests/layers-upward.txt`; this test fails on any upward import not in
//! that list (so none is added) and on a listed one that is gone (so the
//! list only shrinks, and says what is left to do).
//!
//! It also checks that no source file is over 700 lines, except those
//! listed in `tests/long-files.txt` (a list that may only shrink, in the
//! same way).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The layers from the bottom up; modules of one layer may name each
/// other.
const LAYERS: &[&[&str]] = &[
    &["host"],
    &["mem"],
    &["abi"],
    &["signals"],
    &["trace", "hypertrace"],
    &["analysis"],
    &["arch"],
    &["kernel"],
    &["syscall"],
    &["machine"],
    &["monitor", "gdb", "loader"],
    &["runner"],
    &["cli", "embed"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`src/kernel/thread.rs`:
/// kernel), or None for the crate root and binaries.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_string();
    layer_of(&name).map(|_| name)
}

fn leading_name(s: &str) -> String {
    s.trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// Every `crate::NAME` (and `crate::{NAME, ...}`) in `text` outside line
/// comments, NAME a top-level module.
fn named_modules(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        let names = match after.strip_prefix('{') {
            // A group: the first segment of each item at its top level.
            Some(group) => {
                let mut depth = 0;
                let mut items = vec![String::new()];
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => items.push(String::new()),
                        _ => {}
                    }
                    if depth == 0 && c != ',' && c != '}' {
                        items.last_mut().expect("one item").push(c);
                    }
                }
                items.iter().map(|i| leading_name(i)).collect()
            }
            None => vec![leading_name(after)],
        };
        found.extend(names.into_iter().filter(|n| layer_of(n).is_some()));
        rest = after;
    }
    found
}

/// The upward imports in the source: "FROM -> TO" for each top-level
/// module FROM that names a module TO of a higher layer.
fn upward_imports() -> BTreeSet<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut upward = BTreeSet::new();
    for file in files {
        let Some(from) = module_of(&src, &file) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        // Unit tests may reach anywhere.
        let text = text.split("#[cfg(test)]").next().unwrap_or("");
        for to in named_modules(text) {
            if to != from && layer_of(&to) > layer_of(&from) {
                upward.insert(format!("{from} -> {to}"));
            }
        }
    }
    upward
}

/// The entries of a "may only shrink" list: one a line, blank lines and
/// `#` comments left out.
fn list_entries(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Checks what the source holds (`found`) against the committed list
/// `path` (relative to the crate) that may only shrink: fails, with
/// `new_message: [...]`, on anything found that the list lacks, and with
/// `gone_message: [...]` on a listed entry no longer found.
fn shrinking_list(path: &str, found: &BTreeSet<String>, new_message: &str, gone_message: &str) {
    let list = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let listed = list_entries(&std::fs::read_to_string(&list).unwrap());
    let new: Vec<_> = found.difference(&listed).collect();
    let gone: Vec<_> = listed.difference(found).collect();
    assert!(new.is_empty(), "{new_message}: {new:?}");
    assert!(gone.is_empty(), "{gone_message}: {gone:?}");
}

#[test]
fn a_list_of_comments_only_is_empty() {
    assert!(list_entries("# A header\n# that lists nothing.\n\n").is_empty());
    assert_eq!(
        list_entries("# A header\n a -> b \n\nsrc/x.rs\n")
            .into_iter()
            .collect::<Vec<_>>(),
        ["a -> b", "src/x.rs"]
    );
}

#[test]
fn imports_point_down_except_the_listed_ones() {
    shrinking_list(
        "tests/layers-upward.txt",
        &upward_imports(),
        "imports that point up a layer (ARCHITECTURE.md), not allowed",
        "upward imports listed in tests/layers-upward.txt that are gone (remove them)",
    );
}

#[test]
fn the_checker_sees_an_upward_import() {
    let names = named_modules(
        "use crate::runner::Loaded; // crate::cli\nlet x = crate::mem::page_ceil(1);\n\
         use crate::{kernel::{fork, exec}, machine};",
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["kernel", "machine", "mem", "runner"]
    );
    assert!(layer_of("runner") > layer_of("mem"));
    assert_eq!(layer_of("lib"), None);
}

/// The longest a source file may be, in lines.
const MAX_LINES: usize = 700;

/// The source files over [`MAX_LINES`] lines, relative to the crate
/// (`src/...`), sorted.
fn long_files() -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files
        .into_iter()
        .filter(|f| std::fs::read_to_string(f).unwrap().lines().count() > MAX_LINES)
        .map(|f| f.strip_prefix(root).unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn source_files_are_short_except_the_listed_ones() {
    shrinking_list(
        "tests/long-files.txt",
        &long_files(),
        &format!("source files over {MAX_LINES} lines (split them along their concerns)"),
        &format!(
            "files listed in tests/long-files.txt that are no longer over {MAX_LINES} lines \
             (remove them)"
        ),
    );
}
