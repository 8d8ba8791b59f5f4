// SPDX-License-Identifier: GPL-2.0-or-later
//! Hypertrace actions: rules that switch trace events on or off when a
//! hypertrace event arrives (`-hypertrace-on`, `-hypertrace-region`).
//!
//! ```text
//! -hypertrace-on 'MATCH:ACTION[;ACTION...]'
//!     MATCH   comma-separated conditions that must all hold: client=N,
//!             arg1=V, argK=V (K up to the channel's args), name=TEXT;
//!             empty or `*` matches every event. Values in decimal or 0x
//!             hex.
//!     ACTION  `enable PATTERN` or `disable PATTERN` (QEMU trace patterns)
//!             `name=TEXT` holds when arg2 is the id the guest registered
//!             for TEXT (the library's named events).
//! -hypertrace-region 'PATTERN[,open=V][,close=V][,client=N][,name=TEXT]'
//!     PATTERN on from an event with arg1=open (default 1) to the matching
//!     arg1=close (default 0), or with name=TEXT inside the regions the
//!     guest named TEXT; regions nest (counted), as in ht-trace.
//! ```
//!
//! -hypertrace-profile
//!     guest_exec_tb and the system call events inside every region, the
//!     seed's and the guest's named ones (one nesting depth for all).
//!
//! Rules are evaluated in the order given, for every hypertrace event,
//! whether or not `guest_hypertrace` itself is recorded.

use super::{EventKind, EventSet};

/// What is wrong with a `-hypertrace-on` or `-hypertrace-region` value, or
/// with a trace pattern ([`parse_pattern`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RuleProblem {
    /// A value that is neither decimal nor 0x hex.
    #[error("'{0}' is not a number (decimal or 0x hex)")]
    NotANumber(String),
    /// A pattern that names no trace event.
    #[error(
        "trace event '{0}' does not exist (known: {known})",
        known = super::events::KNOWN_EVENTS.join(", ")
    )]
    UnknownEvent(String),
    /// A condition without `=`.
    #[error("condition '{0}' should be client=N, argK=V or name=TEXT")]
    BadCondition(String),
    /// `argK` with K not a number from 1.
    #[error("'{0}': arguments are arg1, arg2, ...")]
    BadArgument(String),
    /// A condition on something events do not have.
    #[error("unknown condition '{0}' (client, arg1, arg2, ..., name)")]
    UnknownCondition(String),
    /// A `-hypertrace-on` value without `:`.
    #[error("expected MATCH:ACTION, e.g. 'arg1=1:enable guest_mem_before_exec'")]
    NoActionPart,
    /// An action that is not `VERB PATTERN`.
    #[error("action '{0}' should be 'enable PATTERN' or 'disable PATTERN'")]
    BadAction(String),
    /// An action whose verb is neither enable nor disable.
    #[error("unknown action '{0}' (enable, disable)")]
    UnknownAction(String),
    /// A `-hypertrace-on` value whose actions are all empty.
    #[error("no action")]
    NoAction,
    /// A `-hypertrace-region` option without `=`.
    #[error("'{0}' should be open=V, close=V, client=N or name=TEXT")]
    BadRegionOption(String),
    /// A `-hypertrace-region` option it does not take.
    #[error("unknown option '{0}' (open, close, client, name)")]
    UnknownRegionOption(String),
    /// `name=` together with `open=` or `close=`.
    #[error("name= takes the place of open= and close=")]
    NameWithValues,
    /// A region that would open and close on the same value.
    #[error("open and close values must differ")]
    SameOpenAndClose,
}

/// A `-hypertrace-on` or `-hypertrace-region` value that cannot be used:
/// the option, its value and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{option} '{spec}': {problem}")]
pub struct RuleError {
    /// `-hypertrace-on` or `-hypertrace-region`.
    pub option: &'static str,
    pub spec: String,
    pub problem: RuleProblem,
}

/// Conditions on one hypertrace event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Match {
    pub client: Option<u64>,
    /// (K, value) for `argK=value`, K >= 1.
    pub args: Vec<(usize, u64)>,
    /// `name=TEXT`: arg2 must be the id the guest registered for TEXT
    /// (None until it registers it, when nothing matches).
    pub name: Option<(String, Option<u64>)>,
}

impl Match {
    /// Whether the event (client, arg1, arg2..) satisfies every condition.
    /// A condition on an argument the channel does not carry never holds.
    pub fn matches(&self, client: u32, arg1: u64, extra: &[u64]) -> bool {
        if self.client.is_some_and(|c| c != u64::from(client)) {
            return false;
        }
        if let Some((_, id)) = &self.name {
            if id.is_none() || extra.first().copied() != *id {
                return false;
            }
        }
        self.args.iter().all(|&(k, v)| {
            let actual = if k == 1 {
                Some(arg1)
            } else {
                extra.get(k - 2).copied()
            };
            actual == Some(v)
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Enable(EventSet),
    Disable(EventSet),
    /// Opens region rule `index` (its events go on at depth 1).
    Open(usize),
    /// Closes region rule `index` (its events go off at depth 0).
    Close(usize),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub when: Match,
    pub actions: Vec<Action>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Region {
    events: EventSet,
    depth: u64,
}

/// All rules of a run and the state of their regions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    rules: Vec<Rule>,
    regions: Vec<Region>,
}

fn parse_value(text: &str) -> Result<u64, RuleProblem> {
    let t = text.trim();
    let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => t.parse(),
    };
    parsed.map_err(|_| RuleProblem::NotANumber(t.to_string()))
}

/// The events a QEMU trace pattern names (`events::select`); an error if
/// none.
pub fn parse_pattern(pattern: &str, enabling: bool) -> Result<EventSet, RuleProblem> {
    let mut set = EventSet::default();
    for name in super::events::select(pattern.trim(), enabling) {
        if let Some(kind) = EventKind::from_name(name) {
            set.set(kind, true);
        }
    }
    if set.0 == 0 {
        return Err(RuleProblem::UnknownEvent(pattern.trim().to_string()));
    }
    Ok(set)
}

fn parse_match(text: &str) -> Result<Match, RuleProblem> {
    let mut m = Match::default();
    let text = text.trim();
    if text.is_empty() || text == "*" {
        return Ok(m);
    }
    for cond in text.split(',') {
        let (key, value) = cond
            .split_once('=')
            .ok_or_else(|| RuleProblem::BadCondition(cond.to_string()))?;
        let key = key.trim();
        if key == "name" {
            m.name = Some((value.trim().to_string(), None));
            continue;
        }
        let value = parse_value(value)?;
        if key == "client" {
            m.client = Some(value);
        } else if let Some(k) = key.strip_prefix("arg") {
            let k: usize = k
                .parse()
                .ok()
                .filter(|k| *k >= 1)
                .ok_or_else(|| RuleProblem::BadArgument(key.to_string()))?;
            m.args.push((k, value));
        } else {
            return Err(RuleProblem::UnknownCondition(key.to_string()));
        }
    }
    Ok(m)
}

impl Rules {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Adds a `-hypertrace-on` rule.
    pub fn add_on(&mut self, spec: &str) -> Result<(), RuleError> {
        let err = |problem| RuleError {
            option: "-hypertrace-on",
            spec: spec.to_string(),
            problem,
        };
        let (when, actions) = spec
            .split_once(':')
            .ok_or_else(|| err(RuleProblem::NoActionPart))?;
        let when = parse_match(when).map_err(err)?;
        let mut parsed = Vec::new();
        for action in actions.split(';').map(str::trim).filter(|a| !a.is_empty()) {
            let (verb, pattern) = action
                .split_once(char::is_whitespace)
                .ok_or_else(|| err(RuleProblem::BadAction(action.to_string())))?;
            let events = parse_pattern(pattern, verb != "disable").map_err(err)?;
            parsed.push(match verb {
                "enable" => Action::Enable(events),
                "disable" => Action::Disable(events),
                other => return Err(err(RuleProblem::UnknownAction(other.to_string()))),
            });
        }
        if parsed.is_empty() {
            return Err(err(RuleProblem::NoAction));
        }
        self.rules.push(Rule {
            when,
            actions: parsed,
        });
        Ok(())
    }

    /// Adds a `-hypertrace-region` shortcut: two rules sharing a depth.
    pub fn add_region(&mut self, spec: &str) -> Result<(), RuleError> {
        let err = |problem| RuleError {
            option: "-hypertrace-region",
            spec: spec.to_string(),
            problem,
        };
        let mut parts = spec.split(',');
        let events = parse_pattern(parts.next().unwrap_or(""), true).map_err(err)?;
        let (mut open, mut close, mut client, mut name) = (1, 0, None, None);
        let mut values_given = false;
        for part in parts {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| err(RuleProblem::BadRegionOption(part.to_string())))?;
            if key.trim() == "name" {
                name = Some((value.trim().to_string(), None));
                continue;
            }
            let value = parse_value(value).map_err(err)?;
            match key.trim() {
                "open" => open = value,
                "close" => close = value,
                "client" => client = Some(value),
                other => return Err(err(RuleProblem::UnknownRegionOption(other.to_string()))),
            }
            values_given |= key.trim() != "client";
        }
        if name.is_some() {
            if values_given {
                return Err(err(RuleProblem::NameWithValues));
            }
            // The guest library's BEGIN and END of that name.
            (open, close) = (crate::hypertrace::op::BEGIN, crate::hypertrace::op::END);
        }
        if open == close {
            return Err(err(RuleProblem::SameOpenAndClose));
        }
        let index = self.regions.len();
        self.regions.push(Region { events, depth: 0 });
        for (value, action) in [(open, Action::Open(index)), (close, Action::Close(index))] {
            self.rules.push(Rule {
                when: Match {
                    client,
                    args: vec![(1, value)],
                    name: name.clone(),
                },
                actions: vec![action],
            });
        }
        Ok(())
    }

    /// Adds `-hypertrace-profile`: the blocks and system calls inside
    /// every region, the seed's (arg1=1 opens, arg1=0 closes) and the
    /// guest's named ones, counted as one nesting depth.
    pub fn add_profile(&mut self) {
        let events = EventSet(
            EventKind::ExecTb.bit() | EventKind::Syscall.bit() | EventKind::SyscallRet.bit(),
        );
        let index = self.regions.len();
        self.regions.push(Region { events, depth: 0 });
        use crate::hypertrace::op;
        for (value, action) in [
            (1, Action::Open(index)),
            (op::BEGIN, Action::Open(index)),
            (0, Action::Close(index)),
            (op::END, Action::Close(index)),
        ] {
            self.rules.push(Rule {
                when: Match {
                    args: vec![(1, value)],
                    ..Default::default()
                },
                actions: vec![action],
            });
        }
    }

    /// The guest registered `text` as name `id`: conditions on that name
    /// now match it.
    pub fn learn_name(&mut self, id: u32, text: &[u8]) {
        for rule in &mut self.rules {
            if let Some((name, known)) = &mut rule.when.name {
                if name.as_bytes() == text {
                    *known = Some(u64::from(id));
                }
            }
        }
    }

    /// Every event some rule may switch on or off.
    pub fn controlled(&self) -> EventSet {
        let mut set = EventSet::default();
        for action in self.rules.iter().flat_map(|r| &r.actions) {
            set.0 |= match *action {
                Action::Enable(e) | Action::Disable(e) => e.0,
                Action::Open(i) | Action::Close(i) => self.regions[i].events.0,
            };
        }
        set
    }

    /// Applies the rules matching a hypertrace event to `enabled`.
    /// Returns whether `enabled` changed.
    pub fn apply(&mut self, client: u32, arg1: u64, extra: &[u64], enabled: &mut EventSet) -> bool {
        let before = *enabled;
        for rule in &self.rules {
            if !rule.when.matches(client, arg1, extra) {
                continue;
            }
            for action in &rule.actions {
                match *action {
                    Action::Enable(e) => enabled.0 |= e.0,
                    Action::Disable(e) => enabled.0 &= !e.0,
                    Action::Open(i) => {
                        let region = &mut self.regions[i];
                        region.depth += 1;
                        if region.depth == 1 {
                            enabled.0 |= region.events.0;
                        }
                    }
                    Action::Close(i) => {
                        let region = &mut self.regions[i];
                        // A close without an open changes nothing.
                        if region.depth > 0 {
                            region.depth -= 1;
                            if region.depth == 0 {
                                enabled.0 &= !region.events.0;
                            }
                        }
                    }
                }
            }
        }
        *enabled != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEM: EventSet = EventSet(EventKind::MemAccess.bit());

    #[test]
    fn on_rules_enable_and_disable() {
        let mut r = Rules::default();
        r.add_on("arg1=1:enable guest_mem_before_exec").unwrap();
        r.add_on("arg1=0:disable guest_mem_before_exec").unwrap();
        assert_eq!(r.controlled(), MEM);
        let mut on = EventSet::default();
        assert!(!r.apply(0, 5, &[], &mut on));
        assert!(r.apply(0, 1, &[], &mut on));
        assert_eq!(on, MEM);
        assert!(!r.apply(3, 1, &[], &mut on), "already on");
        assert!(r.apply(0, 0, &[], &mut on));
        assert_eq!(on, EventSet::default());
    }

    #[test]
    fn matches_on_client_and_later_arguments() {
        let mut r = Rules::default();
        r.add_on("client=2,arg1=0x10,arg3=7:enable guest_exec_tb;enable guest_user_*")
            .unwrap();
        let mut on = EventSet::default();
        assert!(!r.apply(1, 16, &[0, 7], &mut on), "other client");
        assert!(!r.apply(2, 16, &[0, 8], &mut on), "arg3 differs");
        assert!(!r.apply(2, 16, &[0], &mut on), "no arg3 in the channel");
        assert!(r.apply(2, 16, &[0, 7], &mut on));
        assert!(on.contains(EventKind::ExecTb));
        assert!(on.contains(EventKind::Syscall) && on.contains(EventKind::SyscallRet));
        assert!(!on.contains(EventKind::MemAccess));
    }

    #[test]
    fn named_regions_match_once_the_guest_registers_the_name() {
        use crate::hypertrace::op;
        let mut r = Rules::default();
        r.add_region("guest_mem_before_exec,name=compute").unwrap();
        let mut on = EventSet::default();
        assert!(
            !r.apply(0, op::BEGIN, &[3], &mut on),
            "name not registered yet"
        );
        r.learn_name(4, b"io");
        r.learn_name(3, b"compute");
        assert!(!r.apply(0, op::BEGIN, &[4], &mut on), "another name");
        assert!(!r.apply(0, 1, &[3], &mut on), "not the library's BEGIN");
        assert!(r.apply(0, op::BEGIN, &[3], &mut on));
        assert_eq!(on, MEM);
        assert!(!r.apply(0, op::END, &[4], &mut on), "another name's end");
        assert!(r.apply(0, op::END, &[3], &mut on));
        assert_eq!(on, EventSet::default());
        assert!(r.add_region("guest_exec_tb,name=a,open=3").is_err());
        assert!(r.add_on("name=compute:enable guest_exec_tb").is_ok());
    }

    #[test]
    fn regions_nest_by_depth() {
        let mut r = Rules::default();
        r.add_region("guest_mem_before_exec").unwrap();
        let mut on = EventSet::default();
        assert!(!r.apply(0, 0, &[], &mut on), "close before open");
        assert!(r.apply(0, 1, &[], &mut on));
        assert!(!r.apply(0, 1, &[], &mut on), "inner open");
        assert!(!r.apply(0, 0, &[], &mut on), "inner close keeps it on");
        assert_eq!(on, MEM);
        assert!(r.apply(0, 0, &[], &mut on));
        assert_eq!(on, EventSet::default());
    }

    #[test]
    fn region_options() {
        let mut r = Rules::default();
        r.add_region("guest_exec_tb,open=2,close=3,client=1")
            .unwrap();
        let mut on = EventSet::default();
        assert!(!r.apply(0, 2, &[], &mut on));
        assert!(r.apply(1, 2, &[], &mut on));
        assert!(r.apply(1, 3, &[], &mut on));
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        let mut r = Rules::default();
        for (spec, needle) in [
            ("arg1=1", "MATCH:ACTION"),
            ("arg1=x:enable guest_exec_tb", "not a number"),
            ("argX=1:enable guest_exec_tb", "arg1, arg2"),
            ("pc=1:enable guest_exec_tb", "unknown condition"),
            ("arg1=1:enable nosuch", "does not exist"),
            ("arg1=1:start guest_exec_tb", "unknown action"),
            ("arg1=1:", "no action"),
        ] {
            let e = r.add_on(spec).unwrap_err().to_string();
            assert!(e.contains(needle), "{spec}: {e}");
        }
        let e = r.add_region("guest_exec_tb,open=1,close=1").unwrap_err();
        assert_eq!(e.problem, RuleProblem::SameOpenAndClose);
        assert_eq!(
            e.to_string(),
            "-hypertrace-region 'guest_exec_tb,open=1,close=1': open and close values must differ"
        );
        let e = r.add_region("guest_exec_tb,depth=1").unwrap_err();
        assert_eq!(e.problem, RuleProblem::UnknownRegionOption("depth".into()));
        assert!(e.to_string().contains("unknown option 'depth'"), "{e}");
        let e = r.add_on("arg1=1:enable nosuch").unwrap_err();
        assert_eq!(e.problem, RuleProblem::UnknownEvent("nosuch".into()));
        assert!(e.to_string().starts_with(
            "-hypertrace-on 'arg1=1:enable nosuch': trace event 'nosuch' does not exist (known: "
        ));
        assert!(r.is_empty());
    }
}
