// SPDX-License-Identifier: GPL-2.0-or-later
//! The emulation thread's side of the monitor: carries out queued
//! requests between two blocks, where the guest is at an instruction
//! boundary and hooks may change.

use super::{Command, CommandError, Monitor};
use crate::machine::{Engine, StopReason};
use crate::trace::events::{pattern_matcher, select, KNOWN_EVENTS};
use crate::trace::EventKind;

/// The monitor (when there is one) between two engine runs: forgotten in
/// a forked child, else its queued requests answered.
impl crate::machine::sched::BetweenRuns for Option<Monitor> {
    fn serve(&mut self, uc: &mut Engine<'_>) {
        forget_in_child(uc, self);
        if let Some(monitor) = self.as_ref() {
            serve_requests(uc, monitor);
        }
    }
}

/// In a forked child the monitor is the parent's: its thread does not
/// exist here and its socket is not this process's to remove, so it is
/// forgotten, never served or dropped.
pub fn forget_in_child(uc: &mut Engine<'_>, monitor: &mut Option<Monitor>) {
    if monitor.is_some() && crate::machine::fork::is_descendant() {
        if let Some(m) = monitor.take() {
            m.attention()
                .store(false, std::sync::atomic::Ordering::Release);
            std::mem::forget(m);
        }
        uc.get_data_mut().monitor_due = false;
    }
}

/// Answers every queued request. Changes to hooked events take effect
/// before the guest's next instruction (the runner syncs the hooks).
pub fn serve_requests(uc: &mut Engine<'_>, monitor: &Monitor) {
    uc.get_data_mut().monitor_due = false;
    crate::signals::take_monitor_waiting();
    for request in monitor.take_requests() {
        let reply = match &request.command {
            Command::TraceEvent { pattern, on } => trace_event(uc, pattern, *on),
            Command::InfoTraceEvents { pattern } => Ok(info_trace_events(uc, pattern.as_deref())),
            Command::InfoRegisters => {
                let abi = uc.get_data().abi;
                Ok(abi.dump_registers(uc))
            }
            Command::Quit => {
                let m = uc.get_data_mut();
                if m.stop.is_none() {
                    m.stop = Some(StopReason::Quit);
                }
                Ok(String::new())
            }
        };
        request.answer(reply);
    }
}

fn trace_event(uc: &mut Engine<'_>, pattern: &str, on: bool) -> Result<String, CommandError> {
    let names = select(pattern, on);
    if names.is_empty() {
        return Err(CommandError::UnknownEvent(pattern.to_string()));
    }
    let m = uc.get_data_mut();
    let before = m.trace.enabled;
    for name in names {
        let kind = EventKind::from_name(name).expect("known events have kinds");
        m.trace.enabled.set(kind, on);
    }
    m.events_changed(before);
    Ok(String::new())
}

fn info_trace_events(uc: &Engine<'_>, pattern: Option<&str>) -> String {
    let enabled = uc.get_data().trace.enabled;
    // Compiled once for all the events; an invalid pattern matches none.
    let matcher = pattern.map(pattern_matcher);
    let states: Vec<(&str, bool)> = KNOWN_EVENTS
        .iter()
        .filter(|name| match &matcher {
            None => true,
            Some(m) => m.as_ref().is_some_and(|m| m.is_match(name)),
        })
        .map(|name| {
            let kind = EventKind::from_name(name).expect("known events have kinds");
            (*name, enabled.contains(kind))
        })
        .collect();
    super::format_trace_events(&states)
}
