// SPDX-License-Identifier: GPL-2.0-or-later
//! qemu-user's `-d ITEM[,ITEM...]` (and `QEMU_LOG`): what the log gets
//! besides the trace events, in the items qemu-user names.
//!
//! | item | in the log (`-D FILE`, else stderr) |
//! |---|---|
//! | `in_asm` | each block's guest instructions (disassembled) the first time it runs |
//! | `exec` | `Trace CPU: [PC] N insns, M bytes` before each executed block |
//! | `cpu` | the guest registers before each executed block |
//! | `page` | the guest's memory map when the program starts |
//! | `strace` | the system calls, as `-strace` |
//! | `unimp` | every unsupported system call (without it: the first of each number) |
//! | `guest_errors` | each fault or trap the guest takes (signal, address, pc) |
//! | `trace:PATTERN` | the trace events PATTERN names, as `-trace PATTERN` |
//! | `help` | the list of items |

/// A `-d` value (`text`) with an item ht-user does not log, and why not
/// when qemu-user has it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "-d {text}: item '{item}' is not supported{why} (ht-user logs: {known}; -d help)",
    why = why.map_or_else(String::new, |why| format!(": {why}")),
    known = ITEMS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
)]
pub struct DebugItemError {
    pub text: String,
    pub item: String,
    /// Why ht-user does not log a qemu-user item.
    pub why: Option<&'static str>,
}

/// The `-d` items a run logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DebugItems {
    pub in_asm: bool,
    pub exec: bool,
    pub cpu: bool,
    pub page: bool,
    pub strace: bool,
    pub unimp: bool,
    pub guest_errors: bool,
}

/// The items and what each logs, for `-d help`.
pub const ITEMS: &[(&str, &str)] = &[
    (
        "in_asm",
        "show each block's guest instructions the first time it runs",
    ),
    (
        "exec",
        "show each executed block (guest pc, instructions, bytes)",
    ),
    ("cpu", "show the guest registers before each executed block"),
    (
        "page",
        "show the guest's memory map when the program starts",
    ),
    ("strace", "log the system calls (as -strace)"),
    (
        "unimp",
        "log every unsupported system call, not only the first of each",
    ),
    ("guest_errors", "log each fault or trap the guest takes"),
    (
        "trace:PATTERN",
        "enable the trace events PATTERN names (as -trace)",
    ),
];

/// qemu-user items ht-user does not have, and why.
const NOT_SUPPORTED: &[(&str, &str)] = &[
    (
        "in_asm",
        "ht-user has no disassembler; -d exec shows each block's pc",
    ),
    ("out_asm", "the host code is the engine's"),
    ("op", "the engine's TCG ops are not shown"),
    ("op_opt", "the engine's TCG ops are not shown"),
    ("op_ind", "the engine's TCG ops are not shown"),
    (
        "int",
        "interrupts: use -d guest_errors for faults and traps",
    ),
    ("mmu", "user mode has no MMU to show"),
    ("pcall", "no protected-mode calls in user mode"),
    ("cpu_reset", "the CPU is set up once"),
    (
        "fpu",
        "the registers of -d cpu include what the engine shows",
    ),
    ("nochain", "block chaining is the engine's"),
    ("plugin", "no TCG plugins"),
    ("tid", "one log per process (-D FILE with %d)"),
];

impl DebugItems {
    /// Parses `ITEM[,ITEM...]`; returns the items and the trace patterns
    /// of `trace:PATTERN` items.
    pub fn parse(text: &str) -> Result<(DebugItems, Vec<String>), DebugItemError> {
        let mut items = DebugItems::default();
        let mut patterns = Vec::new();
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            if let Some(pattern) = item.strip_prefix("trace:") {
                patterns.push(pattern.to_string());
                continue;
            }
            match item {
                "in_asm" => items.in_asm = true,
                "exec" => items.exec = true,
                "cpu" => items.cpu = true,
                "page" => items.page = true,
                "strace" => items.strace = true,
                "unimp" => items.unimp = true,
                "guest_errors" => items.guest_errors = true,
                other => {
                    return Err(DebugItemError {
                        text: text.to_string(),
                        item: other.to_string(),
                        why: NOT_SUPPORTED
                            .iter()
                            .find(|(name, _)| *name == other)
                            .map(|(_, why)| *why),
                    });
                }
            }
        }
        Ok((items, patterns))
    }

    /// Whether a block hook must run for these items.
    pub fn needs_block_hook(self) -> bool {
        self.exec || self.cpu || self.in_asm
    }

    /// The `-d help` text.
    pub fn help() -> String {
        let mut out = String::from("Log items (comma separated):\n");
        for (name, what) in ITEMS {
            out.push_str(&format!("{name:<15} {what}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_parse_and_unknown_ones_say_why() {
        let (d, p) = DebugItems::parse("exec,cpu,trace:guest_user_*,unimp").unwrap();
        assert!(d.exec && d.cpu && d.unimp && !d.page && !d.strace);
        assert_eq!(p, vec!["guest_user_*".to_string()]);
        assert!(d.needs_block_hook());
        let e = DebugItems::parse("page,out_asm").unwrap_err().to_string();
        assert!(
            e.contains("'out_asm' is not supported: the host code"),
            "{e}"
        );
        assert!(DebugItems::parse("in_asm").unwrap().0.needs_block_hook());
        let e = DebugItems::parse("frob").unwrap_err();
        assert_eq!((e.item.as_str(), e.why), ("frob", None));
        assert!(
            e.to_string()
                .starts_with("-d frob: item 'frob' is not supported (ht-user logs: in_asm, exec"),
            "{e}"
        );
        assert_eq!(DebugItems::parse("").unwrap().0, DebugItems::default());
    }
}
