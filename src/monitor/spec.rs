// SPDX-License-Identifier: GPL-2.0-or-later
//! `-monitor` address specs in QEMU's chardev syntax.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use super::MonitorAddr;

const FORMS: &str = "expected unix:PATH,server,nowait or tcp:[HOST]:PORT,server,nowait";

/// A `-monitor` spec that cannot be used, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("monitor '{spec}': {problem}")]
pub struct SpecError {
    pub spec: String,
    pub problem: SpecProblem,
}

/// What is wrong with a `-monitor` spec.
#[derive(Debug, thiserror::Error)]
pub enum SpecProblem {
    /// No `BACKEND:` in front.
    #[error("{FORMS}")]
    NoBackend,
    /// A backend other than unix, tcp and telnet.
    #[error("unsupported backend '{0}'; {FORMS}")]
    UnsupportedBackend(String),
    /// An option that takes on or off given something else.
    #[error("option '{option}' takes on or off, not '{value}'")]
    NotOnOrOff { option: String, value: String },
    /// An option the monitor does not take.
    #[error("unsupported option '{0}' (ht-user accepts server, nowait, wait=off)")]
    UnsupportedOption(String),
    /// `unix:` without a path.
    #[error("unix: needs a socket path")]
    NoSocketPath,
    /// No `,server`: the monitor only listens.
    #[error("ht-user's monitor only listens; add ',server'")]
    NotServer,
    /// No `,nowait`: the guest does not wait for a client.
    #[error("ht-user does not wait for a monitor client before starting the guest; add ',nowait'")]
    Waits,
    /// A `[` without its `]`.
    #[error("unterminated '[' in the host")]
    UnterminatedBracket,
    /// A bracketed host without `:PORT` after it.
    #[error("expected ':PORT' after the bracketed host")]
    NoPortAfterBracket,
    /// An IPv6 host outside brackets.
    #[error("an IPv6 host must be written in brackets, as [::1]:PORT")]
    UnbracketedIpv6,
    /// A TCP address without a port.
    #[error("expected tcp:[HOST]:PORT")]
    NoPort,
    /// A port that is not a number from 0 to 65535.
    #[error("'{0}' is not a port number (0-65535)")]
    NotAPort(String),
    /// A host name the resolver does not know.
    #[error("cannot resolve host '{host}': {source}")]
    Unresolved {
        host: String,
        source: std::io::Error,
    },
    /// A host name that resolves to no address.
    #[error("host '{0}' has no address")]
    NoAddress(String),
}

/// Parses `unix:PATH[,server][,nowait][,wait=off]` and
/// `tcp:[HOST]:PORT[,server][,nowait]` (`telnet:` is taken as `tcp:`: the
/// monitor ignores telnet negotiation either way).
///
/// `server` is required because the monitor only listens. The guest never
/// waits for a client, so `nowait` (or `wait=off`) is required too: a spec
/// that would make QEMU wait is refused rather than silently treated
/// differently. A comma inside PATH is written `,,` as in QEMU. An empty
/// HOST and `localhost` mean 127.0.0.1; an IPv6 HOST goes in brackets.
pub fn parse_spec(spec: &str) -> Result<MonitorAddr, SpecError> {
    let err = |problem| SpecError {
        spec: spec.to_string(),
        problem,
    };
    let Some((backend, rest)) = spec.split_once(':') else {
        return Err(err(SpecProblem::NoBackend));
    };
    let (target, options) = split_options(rest);
    let mut server = false;
    let mut wait = true;
    for option in &options {
        let (key, value) = match option.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (option.as_str(), None),
        };
        let flag = |v: Option<&str>| match v {
            None | Some("on" | "yes" | "true") => Ok(true),
            Some("off" | "no" | "false") => Ok(false),
            Some(other) => Err(err(SpecProblem::NotOnOrOff {
                option: key.to_string(),
                value: other.to_string(),
            })),
        };
        match key {
            "server" => server = flag(value)?,
            "wait" => wait = flag(value)?,
            "nowait" if value.is_none() => wait = false,
            _ => return Err(err(SpecProblem::UnsupportedOption(option.clone()))),
        }
    }
    let addr = match backend {
        "unix" => {
            if target.is_empty() {
                return Err(err(SpecProblem::NoSocketPath));
            }
            MonitorAddr::Unix(PathBuf::from(target))
        }
        "tcp" | "telnet" => MonitorAddr::Tcp(parse_host_port(&target).map_err(err)?),
        _ => return Err(err(SpecProblem::UnsupportedBackend(backend.to_string()))),
    };
    if !server {
        return Err(err(SpecProblem::NotServer));
    }
    if wait {
        return Err(err(SpecProblem::Waits));
    }
    Ok(addr)
}

/// Splits `TARGET,opt,opt` at single commas; `,,` is a literal comma.
fn split_options(text: &str) -> (String, Vec<String>) {
    let mut parts = vec![String::new()];
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ',' {
            if chars.peek() == Some(&',') {
                chars.next();
                parts.last_mut().expect("never empty").push(',');
            } else {
                parts.push(String::new());
            }
        } else {
            parts.last_mut().expect("never empty").push(c);
        }
    }
    let target = parts.remove(0);
    (target, parts)
}

fn parse_host_port(text: &str) -> Result<SocketAddr, SpecProblem> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return Err(SpecProblem::UnterminatedBracket);
        };
        let Some(port) = after.strip_prefix(':') else {
            return Err(SpecProblem::NoPortAfterBracket);
        };
        (host, port)
    } else {
        match text.rsplit_once(':') {
            Some((host, _)) if host.contains(':') => return Err(SpecProblem::UnbracketedIpv6),
            Some(pair) => pair,
            None => return Err(SpecProblem::NoPort),
        }
    };
    let port: u16 = port
        .parse()
        .map_err(|_| SpecProblem::NotAPort(port.to_string()))?;
    let ip = match host {
        "" | "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        _ => match host.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => resolve(host, port)?,
        },
    };
    Ok(SocketAddr::new(ip, port))
}

fn resolve(host: &str, port: u16) -> Result<IpAddr, SpecProblem> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|source| SpecProblem::Unresolved {
            host: host.to_string(),
            source,
        })?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .map(SocketAddr::ip)
        .ok_or_else(|| SpecProblem::NoAddress(host.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn tcp(spec: &str) -> SocketAddr {
        match parse_spec(spec) {
            Ok(MonitorAddr::Tcp(a)) => a,
            other => panic!("{spec}: {other:?}"),
        }
    }

    fn unix(spec: &str) -> PathBuf {
        match parse_spec(spec) {
            Ok(MonitorAddr::Unix(p)) => p,
            other => panic!("{spec}: {other:?}"),
        }
    }

    fn error(spec: &str) -> String {
        match parse_spec(spec) {
            Err(e) => e.to_string(),
            Ok(a) => panic!("{spec} accepted as {a:?}"),
        }
    }

    #[test]
    fn unix_forms() {
        assert_eq!(
            unix("unix:/tmp/m.sock,server,nowait"),
            PathBuf::from("/tmp/m.sock")
        );
        assert_eq!(unix("unix:rel/m,nowait,server"), PathBuf::from("rel/m"));
        assert_eq!(
            unix("unix:/tmp/m,server=on,wait=off"),
            PathBuf::from("/tmp/m")
        );
        assert_eq!(
            unix("unix:/tmp/a,,b,server,nowait"),
            PathBuf::from("/tmp/a,b")
        );
        assert_eq!(
            unix("unix:/tmp/a:b,server,nowait"),
            PathBuf::from("/tmp/a:b")
        );
    }

    #[test]
    fn tcp_forms() {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert_eq!(tcp("tcp::1234,server,nowait"), SocketAddr::new(lo, 1234));
        assert_eq!(
            tcp("tcp:localhost:1234,server,nowait"),
            SocketAddr::new(lo, 1234)
        );
        assert_eq!(tcp("tcp:127.0.0.1:0,server,nowait"), SocketAddr::new(lo, 0));
        assert_eq!(
            tcp("tcp:0.0.0.0:99,server,nowait").ip(),
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        );
        assert_eq!(
            tcp("tcp:[::1]:4444,server,nowait"),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 4444)
        );
        assert_eq!(tcp("telnet::7,server,nowait").port(), 7);
    }

    #[test]
    fn rejected_forms() {
        assert!(error("unix:/tmp/m,nowait").contains("add ',server'"));
        assert!(error("unix:/tmp/m,server").contains("add ',nowait'"));
        assert!(error("tcp::1234,server,wait=on").contains("add ',nowait'"));
        assert!(error("unix:,server,nowait").contains("socket path"));
        assert!(error("stdio").contains("expected unix:"));
        assert!(error("pty:x,server,nowait").contains("unsupported backend 'pty'"));
        assert!(error("tcp:1234,server,nowait").contains("expected tcp:"));
        assert!(error("tcp::99999,server,nowait").contains("not a port"));
        assert!(error("tcp::port,server,nowait").contains("not a port"));
        assert!(error("tcp:::1:80,server,nowait").contains("brackets"));
        assert!(error("tcp:[::1:80,server,nowait").contains("unterminated"));
        assert!(error("tcp:[::1]80,server,nowait").contains("':PORT'"));
        assert!(error("tcp::80,server,nowait,to=90").contains("unsupported option 'to=90'"));
        assert!(error("tcp::80,server=maybe,nowait").contains("on or off"));
        assert!(error("").contains("expected unix:"));
        assert_eq!(
            error("tcp::80,server"),
            "monitor 'tcp::80,server': ht-user does not wait for a monitor client before \
             starting the guest; add ',nowait'"
        );
        assert!(matches!(
            parse_spec("pty:x,server,nowait").unwrap_err().problem,
            SpecProblem::UnsupportedBackend(b) if b == "pty"
        ));
    }
}
