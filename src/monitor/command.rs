// SPDX-License-Identifier: GPL-2.0-or-later
//! The human monitor's command language: parsing one line, help, and the
//! reply formats the emulation side fills in.

use std::fmt::Write as _;

use super::Command;

/// What the connection does with one input line.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing to do but prompt again.
    Nothing,
    /// Text the monitor thread answers by itself.
    Reply(String),
    /// An error line (or lines) for the client.
    Error(String),
    /// A command for the emulation thread.
    Run(Command),
}

struct Help {
    names: &'static [&'static str],
    params: &'static str,
    text: &'static str,
}

const COMMANDS: &[Help] = &[
    Help {
        names: &["help", "?"],
        params: "[cmd]",
        text: "show the help",
    },
    Help {
        names: &["info"],
        params: "[subcommand]",
        text: "show the emulator's state",
    },
    Help {
        names: &["quit", "q"],
        params: "",
        text: "stop the guest and exit ht-user",
    },
    Help {
        names: &["trace-event"],
        params: "name|pattern on|off",
        text: "enable or disable the trace events matching a name or glob pattern",
    },
];

const INFO: &[Help] = &[
    Help {
        names: &["registers"],
        params: "",
        text: "show the guest's CPU registers",
    },
    Help {
        names: &["trace-events"],
        params: "[name|pattern]",
        text: "show the trace events and whether each is enabled",
    },
];

const TRACE_EVENT_USAGE: &str = "usage: trace-event NAME|PATTERN on|off";

fn help_line(out: &mut String, prefix: &str, help: &Help) {
    let names = help.names.join("|");
    let _ = match help.params {
        "" => writeln!(out, "{prefix}{names} -- {}", help.text),
        params => writeln!(out, "{prefix}{names} {params} -- {}", help.text),
    };
}

fn info_help() -> String {
    let mut out = String::new();
    for help in INFO {
        help_line(&mut out, "info ", help);
    }
    out
}

fn help(topic: Option<&str>) -> Action {
    let mut out = String::new();
    match topic {
        None => {
            for help in COMMANDS {
                help_line(&mut out, "", help);
            }
            out.push_str(&info_help());
        }
        Some("info") => {
            help_line(&mut out, "", &COMMANDS[1]);
            out.push_str(&info_help());
        }
        Some(name) => match COMMANDS.iter().find(|h| h.names.contains(&name)) {
            Some(help) => help_line(&mut out, "", help),
            None => return Action::Error(format!("unknown command: '{name}'")),
        },
    }
    Action::Reply(out)
}

fn extraneous(command: &str, usage: &str) -> Action {
    Action::Error(format!(
        "{command}: extraneous characters at the end of line\n{usage}"
    ))
}

/// Parses one line as QEMU's human monitor would (the commands ht-user has).
pub fn parse_line(line: &str) -> Action {
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some((&name, args)) = words.split_first() else {
        return Action::Nothing;
    };
    match name {
        "help" | "?" => match args {
            [] => help(None),
            [topic] => help(Some(topic)),
            _ => extraneous(name, "usage: help [cmd]"),
        },
        "quit" | "q" => match args {
            [] => Action::Run(Command::Quit),
            _ => extraneous(name, "usage: quit"),
        },
        "trace-event" => trace_event(args),
        "info" => info(args),
        _ => Action::Error(format!("unknown command: '{name}'")),
    }
}

fn trace_event(args: &[&str]) -> Action {
    match args {
        [] | [_] => Action::Error(format!(
            "trace-event: a name or pattern and on|off are required\n{TRACE_EVENT_USAGE}"
        )),
        [pattern, state] => {
            let on = match *state {
                "on" => true,
                "off" => false,
                other => {
                    return Action::Error(format!(
                        "trace-event: expected 'on' or 'off', not '{other}'\n{TRACE_EVENT_USAGE}"
                    ))
                }
            };
            Action::Run(Command::TraceEvent {
                pattern: (*pattern).to_owned(),
                on,
            })
        }
        _ => extraneous("trace-event", TRACE_EVENT_USAGE),
    }
}

fn info(args: &[&str]) -> Action {
    match args {
        [] => Action::Reply(info_help()),
        ["registers"] => Action::Run(Command::InfoRegisters),
        ["registers", ..] => extraneous("info registers", "usage: info registers"),
        ["trace-events"] => Action::Run(Command::InfoTraceEvents { pattern: None }),
        ["trace-events", pattern] => Action::Run(Command::InfoTraceEvents {
            pattern: Some((*pattern).to_owned()),
        }),
        ["trace-events", ..] => extraneous(
            "info trace-events",
            "usage: info trace-events [NAME|PATTERN]",
        ),
        [sub, ..] => Action::Error(format!("unknown command: 'info {sub}'")),
    }
}

/// The reply to `info trace-events`, one `NAME : state 0|1` line per event
/// as QEMU prints it.
pub fn format_trace_events(events: &[(&str, bool)]) -> String {
    let mut out = String::new();
    for (name, on) in events {
        let _ = writeln!(out, "{name} : state {}", u8::from(*on));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(line: &str) -> Command {
        match parse_line(line) {
            Action::Run(c) => c,
            other => panic!("{line}: {other:?}"),
        }
    }

    fn error(line: &str) -> String {
        match parse_line(line) {
            Action::Error(e) => e,
            other => panic!("{line}: {other:?}"),
        }
    }

    fn reply(line: &str) -> String {
        match parse_line(line) {
            Action::Reply(r) => r,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn commands() {
        assert_eq!(
            run("trace-event guest_mem_before_exec on"),
            Command::TraceEvent {
                pattern: "guest_mem_before_exec".into(),
                on: true
            }
        );
        assert_eq!(
            run("  trace-event\tguest* off  "),
            Command::TraceEvent {
                pattern: "guest*".into(),
                on: false
            }
        );
        assert_eq!(
            run("info trace-events"),
            Command::InfoTraceEvents { pattern: None }
        );
        assert_eq!(
            run("info trace-events g?est*"),
            Command::InfoTraceEvents {
                pattern: Some("g?est*".into())
            }
        );
        assert_eq!(run("info registers"), Command::InfoRegisters);
        assert_eq!(run("quit"), Command::Quit);
        assert_eq!(run("q"), Command::Quit);
        assert_eq!(parse_line(""), Action::Nothing);
        assert_eq!(parse_line(" \t "), Action::Nothing);
    }

    #[test]
    fn errors() {
        assert_eq!(error("xyz"), "unknown command: 'xyz'");
        assert_eq!(error("info xyz"), "unknown command: 'info xyz'");
        assert_eq!(error("help xyz"), "unknown command: 'xyz'");
        let e = error("trace-event foo maybe");
        assert!(e.contains("expected 'on' or 'off', not 'maybe'"), "{e}");
        assert!(e.contains(TRACE_EVENT_USAGE));
        assert!(error("trace-event").contains(TRACE_EVENT_USAGE));
        assert!(error("trace-event foo").contains("required"));
        assert!(error("trace-event foo on 0").contains("extraneous"));
        assert!(error("info registers -a").contains("extraneous"));
        assert!(error("info trace-events a b").contains("extraneous"));
        assert!(error("quit now").contains("extraneous"));
        assert!(error("help a b").contains("extraneous"));
        assert_eq!(error("Quit"), "unknown command: 'Quit'");
    }

    #[test]
    fn help_lists_every_command() {
        let all = reply("help");
        assert_eq!(all, reply("?"));
        for needle in [
            "help|? [cmd] -- ",
            "info [subcommand] -- ",
            "quit|q -- ",
            "trace-event name|pattern on|off -- ",
            "info registers -- ",
            "info trace-events [name|pattern] -- ",
        ] {
            assert!(all.contains(needle), "{needle} missing from\n{all}");
        }
        assert!(reply("help trace-event").starts_with("trace-event name|pattern on|off -- "));
        assert_eq!(reply("help q"), reply("help quit"));
        assert!(reply("help info").contains("info registers -- "));
        assert_eq!(reply("info"), info_help());
    }

    #[test]
    fn trace_events_format() {
        assert_eq!(format_trace_events(&[]), "");
        assert_eq!(
            format_trace_events(&[("guest_hypertrace", true), ("guest_mem_before_exec", false)]),
            "guest_hypertrace : state 1\nguest_mem_before_exec : state 0\n"
        );
    }
}
