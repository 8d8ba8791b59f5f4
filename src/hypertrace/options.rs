// SPDX-License-Identifier: GPL-2.0-or-later
//! [`ChannelOptions`]: what the user asked for with `-hypertrace`.

use std::path::PathBuf;

use super::{DEFAULT_ARGS, DEFAULT_MAX_CLIENTS, MAX_ARGS, MAX_CLIENTS_LIMIT};

/// A `-hypertrace` value that cannot be used, with the part at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChannelOptionsError {
    /// `max-clients=` or `args=` (`option`) given something else than a
    /// number.
    #[error("-hypertrace: {option} must be a number, not '{value}'")]
    NotANumber { option: &'static str, value: String },
    /// `counters=` given something else than on or off.
    #[error("-hypertrace: counters must be on or off, not '{0}'")]
    NotOnOrOff(String),
    /// An option `-hypertrace` does not take.
    #[error("-hypertrace: unknown option '{0}'")]
    UnknownOption(String),
    /// No base path, or an empty one.
    #[error("-hypertrace: missing base path (path=BASE)")]
    NoBase,
    /// A client count out of range.
    #[error("-hypertrace: max-clients must be 1..{MAX_CLIENTS_LIMIT}, not {0}")]
    MaxClients(u64),
    /// An argument count out of range.
    #[error("-hypertrace: args must be 1..{MAX_ARGS}, not {0}")]
    Args(u64),
}

/// What the user asked for with `-hypertrace`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelOptions {
    pub base: PathBuf,
    pub max_clients: u64,
    pub args: u64,
    /// Whether events carry the storing thread's instruction and block
    /// counts (`counters=on`, the default: counting costs every block one
    /// register add, about 2% of a CPU-bound guest; `counters=off` saves
    /// that and a few ns per event, see BENCHMARKS.md).
    pub counters: bool,
}

impl ChannelOptions {
    /// Parses `BASE` or `path=BASE[,max-clients=N][,args=N][,counters=on|off]`.
    pub fn parse(spec: &str) -> Result<Self, ChannelOptionsError> {
        let mut base = None;
        let mut max_clients = DEFAULT_MAX_CLIENTS;
        let mut args = DEFAULT_ARGS;
        let mut counters = true;
        for (i, part) in spec.split(',').enumerate() {
            let number = |v: &str, option| {
                v.parse::<u64>()
                    .map_err(|_| ChannelOptionsError::NotANumber {
                        option,
                        value: v.to_string(),
                    })
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
                    _ => return Err(ChannelOptionsError::NotOnOrOff(v.to_string())),
                };
            } else if i == 0 && !part.contains('=') {
                base = Some(part);
            } else {
                return Err(ChannelOptionsError::UnknownOption(part.to_string()));
            }
        }
        let base = base
            .filter(|b| !b.is_empty())
            .ok_or(ChannelOptionsError::NoBase)?;
        if !(1..=MAX_CLIENTS_LIMIT).contains(&max_clients) {
            return Err(ChannelOptionsError::MaxClients(max_clients));
        }
        if !(1..=MAX_ARGS).contains(&args) {
            return Err(ChannelOptionsError::Args(args));
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
