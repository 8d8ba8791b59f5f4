// SPDX-License-Identifier: GPL-2.0-or-later
//! The monitor's input side on arbitrary client bytes: telnet filtering
//! and line splitting, command parsing, and the engine-free part of
//! carrying a command out (the event selection of `trace-event` and
//! `info trace-events`).
#![no_main]

use ht_user::monitor::command::{format_trace_events, parse_line, Action};
use ht_user::monitor::line::{Input, LineReader};
use ht_user::monitor::Command;
use ht_user::trace::events::{glob_match, select, KNOWN_EVENTS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The stream arrives in two reads split where the first byte says,
    // as a client's packets would split it.
    let Some((&cut, bytes)) = data.split_first() else {
        return;
    };
    let cut = usize::from(cut).min(bytes.len());
    let mut reader = LineReader::default();
    let mut inputs = Vec::new();
    reader.feed(&bytes[..cut], &mut inputs);
    reader.feed(&bytes[cut..], &mut inputs);
    for input in inputs {
        let Input::Line(line) = input else {
            continue;
        };
        match parse_line(&line) {
            Action::Run(Command::TraceEvent { pattern, on }) => {
                let _ = select(&pattern, on);
            }
            Action::Run(Command::InfoTraceEvents { pattern }) => {
                let states: Vec<(&str, bool)> = KNOWN_EVENTS
                    .iter()
                    .filter(|name| pattern.as_deref().is_none_or(|p| glob_match(p, name)))
                    .map(|name| (*name, true))
                    .collect();
                let _ = format_trace_events(&states);
            }
            _ => {}
        }
    }
});
