// SPDX-License-Identifier: GPL-2.0-or-later
//! Which trace events are enabled, set with QEMU's `-trace` syntax.

use std::path::{Path, PathBuf};

/// Events ht-user can emit, with QEMU's names. Only guest_hypertrace is
/// enabled by default.
pub const KNOWN_EVENTS: &[&str] = &[
    "guest_hypertrace",
    "guest_mem_before_exec",
    "guest_exec_tb",
    "guest_user_syscall",
    "guest_user_syscall_ret",
];

/// A `-trace` value that cannot be used, with the part at fault.
#[derive(Debug, thiserror::Error)]
pub enum TraceOptionError {
    /// QEMU's `file=`, which ht-user takes with other options.
    #[error(
        "-trace file=... is not supported: use -D FILE for the trace log, \
         -trace-file FILE for the binary trace"
    )]
    FileOption,
    /// A `KEY=VALUE` part other than `enable=` and `events=`.
    #[error("-trace: unknown option '{0}'")]
    UnknownOption(String),
    /// An events file that cannot be opened or read.
    #[error("-trace events={}: {source}", path.display())]
    EventsFileUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    /// An events file longer than anything that lists event names.
    #[error(
        "-trace events={}: longer than {EVENTS_FILE_LIMIT} bytes: not an events file",
        .0.display()
    )]
    EventsFileTooLong(PathBuf),
    /// An events file that is not UTF-8 text.
    #[error("-trace events={}: not UTF-8 text", .0.display())]
    EventsFileNotText(PathBuf),
}

#[derive(Clone, Debug, Default)]
pub struct TraceEvents {
    enabled: Vec<&'static str>,
}

impl TraceEvents {
    /// The enabled events as a set of kinds.
    pub fn kinds(&self) -> super::EventSet {
        let mut set = super::EventSet::default();
        for name in &self.enabled {
            if let Some(kind) = super::EventKind::from_name(name) {
                set.set(kind, true);
            }
        }
        set
    }

    pub fn is_enabled(&self, name: &str) -> bool {
        self.enabled.contains(&name)
    }

    pub fn set(&mut self, name: &'static str, on: bool) {
        self.enabled.retain(|n| *n != name);
        if on {
            self.enabled.push(name);
        }
    }

    /// Applies one pattern (`guest*`, `-guest_hypertrace`); returns how many
    /// known events it matched so callers can warn about typos.
    pub fn apply_pattern(&mut self, pattern: &str) -> usize {
        let (on, pattern) = match pattern.strip_prefix('-') {
            Some(rest) => (false, rest),
            None => (true, pattern),
        };
        let matched = select(pattern, on);
        for name in &matched {
            self.set(name, on);
        }
        matched.len()
    }

    /// Parses one `-trace` argument: `[enable=]PATTERN`, `events=FILE`,
    /// comma-separated. Returns warnings for patterns that match nothing.
    pub fn apply_option(&mut self, arg: &str) -> Result<Vec<String>, TraceOptionError> {
        let mut warnings = Vec::new();
        for part in arg.split(',').filter(|p| !p.is_empty()) {
            let patterns: Vec<String> = if let Some(file) = part.strip_prefix("events=") {
                read_events_file(Path::new(file))?
            } else if let Some(p) = part.strip_prefix("enable=") {
                vec![p.to_string()]
            } else if part.starts_with("file=") {
                return Err(TraceOptionError::FileOption);
            } else if part.contains('=') {
                return Err(TraceOptionError::UnknownOption(part.to_string()));
            } else {
                vec![part.to_string()]
            };
            for p in patterns {
                if self.apply_pattern(&p) == 0 {
                    warnings.push(format!(
                        "trace event '{}' does not exist (known: {})",
                        p.trim_start_matches('-'),
                        KNOWN_EVENTS.join(", ")
                    ));
                }
            }
        }
        Ok(warnings)
    }
}

/// The most an events file may hold: far more than every event name,
/// and a bound on what a device such as `/dev/zero` makes us read.
const EVENTS_FILE_LIMIT: u64 = 1 << 20;

fn read_events_file(path: &Path) -> Result<Vec<String>, TraceOptionError> {
    use std::io::Read;
    let unreadable = |source| TraceOptionError::EventsFileUnreadable {
        path: path.to_path_buf(),
        source,
    };
    // Any readable file is accepted (a pipe from `<(...)` included), but
    // only up to the limit.
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let mut bytes = Vec::new();
    file.take(EVENTS_FILE_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > EVENTS_FILE_LIMIT {
        return Err(TraceOptionError::EventsFileTooLong(path.to_path_buf()));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| TraceOptionError::EventsFileNotText(path.to_path_buf()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect())
}

/// The events a pattern selects. When enabling, a wildcard pattern that
/// also matches `guest_hypertrace` (`guest*`, `*`) selects only it: the
/// instrumentation events (every memory access, block, system call) are
/// enabled by naming them, or by a pattern that only they match
/// (`guest_user_syscall*`), as they are in QEMU builds where the seed's
/// `-trace enable=guest*` prints only hypertrace lines.
pub fn select(pattern: &str, enabling: bool) -> Vec<&'static str> {
    let Some(matcher) = pattern_matcher(pattern) else {
        return Vec::new();
    };
    let matched: Vec<&'static str> = KNOWN_EVENTS
        .iter()
        .copied()
        .filter(|name| matcher.is_match(name))
        .collect();
    let wildcard = pattern.contains(['*', '?']);
    if enabling && wildcard && matched.contains(&"guest_hypertrace") {
        return vec!["guest_hypertrace"];
    }
    matched
}

/// Shell-style match supporting `*` and `?`, as QEMU's trace patterns do
/// (glib's `g_pattern_match_simple`): every other character is itself.
/// The pattern becomes a `globset` glob with globset's own special
/// characters escaped and runs of stars made one (a `**` means the same
/// to glib, and is a path rule to globset).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    pattern_matcher(pattern).is_some_and(|m| m.is_match(name))
}

/// The matcher of a QEMU trace pattern (see [`glob_match`]).
pub fn pattern_matcher(pattern: &str) -> Option<globset::GlobMatcher> {
    let mut glob = String::with_capacity(pattern.len() * 2);
    for c in pattern.chars() {
        match c {
            '*' if glob.ends_with('*') => {}
            '*' | '?' => glob.push(c),
            '[' | ']' | '{' | '}' | '\\' | ',' | '!' | '-' | '^' => {
                glob.push('\\');
                glob.push(c);
            }
            _ => glob.push(c),
        }
    }
    globset::GlobBuilder::new(&glob)
        .literal_separator(false)
        .backslash_escape(true)
        .build()
        .ok()
        .map(|g| g.compile_matcher())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broad_patterns_leave_instrumentation_events_off() {
        let mut t = TraceEvents::default();
        assert_eq!(t.apply_pattern("guest*"), 1);
        assert_eq!(t.kinds(), super::super::EventSet(1));
        assert_eq!(t.apply_pattern("guest_user_syscall*"), 2);
        assert!(t.is_enabled("guest_user_syscall_ret"));
        assert_eq!(t.apply_pattern("guest_mem_before_exec"), 1);
        assert!(t.is_enabled("guest_mem_before_exec"));
        // Disabling with a wildcard reaches every event it matches.
        assert_eq!(t.apply_pattern("-guest*"), 5);
        assert_eq!(t.kinds().0, 0);
    }

    #[test]
    fn globs() {
        assert!(glob_match("guest*", "guest_hypertrace"));
        assert!(glob_match("*hyper*", "guest_hypertrace"));
        assert!(glob_match("guest_hypertrac?", "guest_hypertrace"));
        assert!(!glob_match("guest", "guest_hypertrace"));
        assert!(!glob_match("vcpu*", "guest_hypertrace"));
        assert!(glob_match("*", ""));
        assert!(glob_match("**e*t**", "guest_exec_tb") && !glob_match("?", ""));
        assert!(glob_match("*_*_*", "guest_exec_tb") && !glob_match("*_*_*_*", "guest_exec_tb"));
        // Only `*` and `?` are special, as in glib: globset's classes,
        // alternatives and escapes are plain characters here.
        assert!(glob_match("a[b]{c,d}\\e", "a[b]{c,d}\\e"));
        assert!(!glob_match("a[bc]", "ab") && !glob_match("{a,b}", "a"));
        assert!(glob_match("x/*", "x/y/z") && glob_match("\\*", "\\abc"));
        assert!(glob_match("g*t*b", "guest_exec_tb") && !glob_match("g*t*x", "guest_exec_tb"));
    }

    #[test]
    fn many_stars_match_in_linear_time() {
        // Found by fuzzing: this took minutes (exponential backtracking).
        let stars = "*".repeat(200);
        assert!(!glob_match(&format!("{stars}x"), "guest_mem_before_exec"));
        assert!(glob_match(&format!("{stars}exec"), "guest_mem_before_exec"));
        assert_eq!(select(&format!("-{stars}q"), false), Vec::<&str>::new());
    }

    #[test]
    fn options_enable_disable_and_warn() {
        let mut t = TraceEvents::default();
        assert!(t.apply_option("enable=guest*").unwrap().is_empty());
        assert!(t.is_enabled("guest_hypertrace"));
        t.apply_option("-guest_hypertrace").unwrap();
        assert!(!t.is_enabled("guest_hypertrace"));
        let w = t.apply_option("nosuch_event").unwrap();
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("nosuch_event"));
        let e = t.apply_option("bogus=1").unwrap_err();
        assert!(matches!(&e, TraceOptionError::UnknownOption(o) if o == "bogus=1"));
        assert_eq!(e.to_string(), "-trace: unknown option 'bogus=1'");
    }

    #[test]
    fn events_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("events");
        std::fs::write(&f, "# comment\n\nguest_hypertrace\n").unwrap();
        let mut t = TraceEvents::default();
        t.apply_option(&format!("events={}", f.display())).unwrap();
        assert!(t.is_enabled("guest_hypertrace"));
        let missing = t.apply_option("events=/nonexistent/file").unwrap_err();
        assert!(
            missing
                .to_string()
                .starts_with("-trace events=/nonexistent/file: No such file"),
            "{missing}"
        );
        let endless = t.apply_option("events=/dev/zero").unwrap_err();
        assert_eq!(
            endless.to_string(),
            "-trace events=/dev/zero: longer than 1048576 bytes: not an events file"
        );
        // A pipe, as `-trace events=<(...)` gives, is read to its end.
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::write(fifo, "-guest_hypertrace\n").unwrap())
        };
        t.apply_option(&format!("events={}", fifo.display()))
            .unwrap();
        writer.join().unwrap();
        assert!(!t.is_enabled("guest_hypertrace"));
    }
}
