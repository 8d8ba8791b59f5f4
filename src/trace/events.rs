// SPDX-License-Identifier: GPL-2.0-or-later
//! Which trace events are enabled, set with QEMU's `-trace` syntax.

use std::path::Path;

/// Events ht-user can emit, with QEMU's names.
pub const KNOWN_EVENTS: &[&str] = &["guest_hypertrace"];

#[derive(Clone, Debug, Default)]
pub struct TraceEvents {
    enabled: Vec<&'static str>,
}

impl TraceEvents {
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
        let mut matched = 0;
        for name in KNOWN_EVENTS {
            if glob_match(pattern, name) {
                self.set(name, on);
                matched += 1;
            }
        }
        matched
    }

    /// Parses one `-trace` argument: `[enable=]PATTERN`, `events=FILE`,
    /// comma-separated. Returns warnings for patterns that match nothing.
    pub fn apply_option(&mut self, arg: &str) -> Result<Vec<String>, String> {
        let mut warnings = Vec::new();
        for part in arg.split(',').filter(|p| !p.is_empty()) {
            let patterns: Vec<String> = if let Some(file) = part.strip_prefix("events=") {
                read_events_file(Path::new(file))?
            } else if let Some(p) = part.strip_prefix("enable=") {
                vec![p.to_string()]
            } else if part.starts_with("file=") {
                return Err(
                    "-trace file=... is not supported: use -D FILE for the trace log, \
                     -trace-file FILE for the binary trace"
                        .to_string(),
                );
            } else if part.contains('=') {
                return Err(format!("-trace: unknown option '{part}'"));
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

fn read_events_file(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("-trace events={}: {e}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect())
}

/// Shell-style match supporting `*` and `?`, as QEMU's trace patterns do.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn rec(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => rec(&p[1..], n) || (!n.is_empty() && rec(p, &n[1..])),
            (Some(b'?'), Some(_)) => rec(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => rec(&p[1..], &n[1..]),
            _ => false,
        }
    }
    rec(pattern.as_bytes(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("guest*", "guest_hypertrace"));
        assert!(glob_match("*hyper*", "guest_hypertrace"));
        assert!(glob_match("guest_hypertrac?", "guest_hypertrace"));
        assert!(!glob_match("guest", "guest_hypertrace"));
        assert!(!glob_match("vcpu*", "guest_hypertrace"));
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
        assert!(t.apply_option("bogus=1").is_err());
    }

    #[test]
    fn events_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("events");
        std::fs::write(&f, "# comment\n\nguest_hypertrace\n").unwrap();
        let mut t = TraceEvents::default();
        t.apply_option(&format!("events={}", f.display())).unwrap();
        assert!(t.is_enabled("guest_hypertrace"));
        assert!(t.apply_option("events=/nonexistent/file").is_err());
    }
}
