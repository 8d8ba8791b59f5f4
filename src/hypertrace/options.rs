// SPDX-License-Identifier: GPL-2.0-or-later
//! [`ChannelOptions`]: what the user asked for with `-hypertrace`.

use std::path::PathBuf;

use super::{DEFAULT_ARGS, DEFAULT_MAX_CLIENTS, MAX_ARGS, MAX_CLIENTS_LIMIT};

/// What the user asked for with `-hypertrace`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelOptions {
    pub base: PathBuf,
    pub max_clients: u64,
    pub args: u64,
    /// Whether events carry the storing thread's instruction and block
    /// counts (`counters=on`; off by default: counting costs every block a
    /// memory add, see BENCHMARKS.md).
    pub counters: bool,
}

impl ChannelOptions {
    /// Parses `BASE` or `path=BASE[,max-clients=N][,args=N][,counters=on|off]`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut base = None;
        let mut max_clients = DEFAULT_MAX_CLIENTS;
        let mut args = DEFAULT_ARGS;
        let mut counters = false;
        for (i, part) in spec.split(',').enumerate() {
            let number = |v: &str, what: &str| {
                v.parse::<u64>()
                    .map_err(|_| format!("-hypertrace: {what} must be a number, not '{v}'"))
            };
            if let Some(v) = part.strip_prefix("path=") {
                base = Some(v);
            } else if let Some(v) = part.strip_prefix("max-clients=") {
                max_clients = number(v, "max-clients")?;
            } else if let Some(v) = part.strip_prefix("args=") {
                args = number(v, "args")?;
            } else if let Some(v) = part.strip_prefix("counters=") {
                counters = match v {
                    "on" => true,
                    "off" => false,
                    _ => {
                        return Err(format!(
                            "-hypertrace: counters must be on or off, not '{v}'"
                        ))
                    }
                };
            } else if i == 0 && !part.contains('=') {
                base = Some(part);
            } else {
                return Err(format!("-hypertrace: unknown option '{part}'"));
            }
        }
        let base = base
            .filter(|b| !b.is_empty())
            .ok_or("-hypertrace: missing base path (path=BASE)")?;
        if !(1..=MAX_CLIENTS_LIMIT).contains(&max_clients) {
            return Err(format!(
                "-hypertrace: max-clients must be 1..65536, not {max_clients}"
            ));
        }
        if !(1..=MAX_ARGS).contains(&args) {
            return Err(format!(
                "-hypertrace: args must be 1..{MAX_ARGS}, not {args}"
            ));
        }
        Ok(ChannelOptions {
            base: PathBuf::from(base),
            max_clients,
            args,
            counters,
        })
    }

    pub fn path(&self, suffix: &str) -> PathBuf {
        let mut p = self.base.clone().into_os_string();
        p.push(suffix);
        PathBuf::from(p)
    }
}
