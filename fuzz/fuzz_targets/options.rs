// SPDX-License-Identifier: GPL-2.0-or-later
//! ht-user's option parsers on arbitrary text. The first byte chooses the
//! parser; the rest is its input. For the whole command line, NUL bytes
//! separate the arguments (any bytes, as an execve gives them).
#![no_main]

use std::ffi::{OsStr, OsString};
use std::net::IpAddr;
use std::os::unix::ffi::OsStrExt;

use ht_user::analysis::RegionSpec;
use ht_user::hypertrace::{parse_file_ids, ChannelOptions};
use ht_user::machine::exec::{parse_fds, parse_signals};
use ht_user::machine::sched::SchedOptions;
use ht_user::trace::events::TraceEvents;
use ht_user::trace::rules::{parse_pattern, Rules};
use ht_user::trace::EventSet;
use libfuzzer_sys::fuzz_target;

/// Whether a `-monitor` value may name a TCP host that is neither an
/// address nor `localhost`: parsing it would ask the system's resolver,
/// which is slow, needs the network and is not ours to fuzz. Errs on the
/// side of yes; such inputs are skipped.
fn may_resolve(text: &[u8]) -> bool {
    let text = String::from_utf8_lossy(text);
    for backend in ["tcp:", "telnet:"] {
        for (at, _) in text.match_indices(backend) {
            let target = text[at + backend.len()..].split(',').next().unwrap_or("");
            let host = match target.strip_prefix('[') {
                Some(rest) => rest.split(']').next().unwrap_or(""),
                None => target.rsplit_once(':').map_or("", |(h, _)| h),
            };
            if !(host.is_empty() || host == "localhost" || host.parse::<IpAddr>().is_ok()) {
                return true;
            }
        }
    }
    false
}

/// `-trace events=FILE` reads FILE: the fuzzer must not read the host's
/// files (a FIFO or /dev/zero would stall it).
fn reads_files(text: &[u8]) -> bool {
    text.windows(7).any(|w| w == b"events=")
}

fn rules(text: &str) {
    let mut rules = Rules::default();
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("on", spec)) => {
                let _ = rules.add_on(spec);
            }
            Some(("region", spec)) => {
                let _ = rules.add_region(spec);
            }
            _ => {
                let _ = rules.add_on(line);
                let _ = rules.add_region(line);
            }
        }
    }
    // Events that open, close and match the rules' usual values.
    let mut enabled = EventSet::default();
    let _ = rules.controlled();
    for (client, arg1) in [
        (0, 0),
        (0, 1),
        (1, 1),
        (1, 0),
        (0, 2),
        (0, 3),
        (0, 1),
        (0, 0),
    ] {
        rules.apply(client, arg1, &[arg1, client.into()], &mut enabled);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    if reads_files(rest) || may_resolve(rest) {
        return;
    }
    if which % 10 == 0 {
        let mut args = vec![OsString::from("ht-user")];
        args.extend(
            rest.split(|b| *b == 0)
                .map(|a| OsStr::from_bytes(a).to_os_string()),
        );
        args.push("/fuzz/program".into());
        let _ = ht_user::cli::parse(args);
        return;
    }
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match which % 10 {
        1 => {
            if let Ok(o) = ChannelOptions::parse(text) {
                let _ = o.path(".ctl");
            }
        }
        2 => {
            let _ = parse_pattern(text, true);
            let _ = parse_pattern(text, false);
        }
        3 => rules(text),
        4 => {
            let mut events = TraceEvents::default();
            let _ = events.apply_option(text);
            let _ = events.kinds();
        }
        5 => {
            let _ = SchedOptions::parse(text);
        }
        6 => {
            let _ = ht_user::monitor::parse_spec(text);
        }
        7 => {
            let specs: Vec<RegionSpec> = text
                .lines()
                .filter_map(|l| RegionSpec::parse(l).ok())
                .collect();
            let _ = RegionSpec::check_set(&specs);
        }
        8 => {
            let _ = parse_fds(text);
            let _ = parse_signals(text);
        }
        _ => {
            let _ = parse_file_ids(text);
        }
    }
});
