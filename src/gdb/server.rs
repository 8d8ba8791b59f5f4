// SPDX-License-Identifier: GPL-2.0-or-later
//! Where gdb connects: [`GdbAddr`] (`-g`'s value) and [`GdbServer`], the
//! bound socket that accepts gdb.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

use gdbstub::conn::ConnectionExt;

/// Where gdb connects: `-g PORT` (TCP on 127.0.0.1), `-g HOST:PORT` or
/// `-g PATH` (a Unix socket, as qemu-user accepts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GdbAddr {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl std::fmt::Display for GdbAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GdbAddr::Tcp(a) => write!(f, "{a}"),
            GdbAddr::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A `-g` value that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GdbAddrError {
    /// `-g` with an empty value.
    #[error("-g expects a port, HOST:PORT or a socket path")]
    Empty,
    /// Digits that are no port number.
    #[error("-g {0}: not a port number (0-65535)")]
    NotAPort(String),
    /// `HOST:PORT` with a HOST that is no IP address.
    #[error("-g {0}: expected PORT, HOST:PORT (an IP address) or a socket path")]
    NotAnAddress(String),
}

/// A gdb socket that cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum GdbListenError {
    /// The socket cannot be bound (in use, not allowed).
    #[error("-g: cannot listen on {addr}: {source}")]
    Bind { addr: GdbAddr, source: io::Error },
    /// The bound TCP socket does not tell its address.
    #[error("-g: cannot tell the address listened on: {0}")]
    LocalAddr(#[source] io::Error),
}

impl GdbAddr {
    pub fn parse(spec: &str) -> Result<GdbAddr, GdbAddrError> {
        if spec.is_empty() {
            return Err(GdbAddrError::Empty);
        }
        if let Ok(port) = spec.parse::<u16>() {
            return Ok(GdbAddr::Tcp(SocketAddr::from(([127, 0, 0, 1], port))));
        }
        if let Ok(addr) = spec.parse::<SocketAddr>() {
            return Ok(GdbAddr::Tcp(addr));
        }
        if spec.bytes().all(|b| b.is_ascii_digit()) {
            return Err(GdbAddrError::NotAPort(spec.to_string()));
        }
        if spec.contains(':') && !spec.contains('/') {
            return Err(GdbAddrError::NotAnAddress(spec.to_string()));
        }
        Ok(GdbAddr::Unix(PathBuf::from(spec)))
    }
}

/// A bound gdb socket, waiting for gdb to connect.
pub struct GdbServer {
    listener: Listener,
    addr: GdbAddr,
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

impl GdbServer {
    /// Binds the socket now, so that a port in use is a setup error.
    pub fn bind(addr: &GdbAddr) -> Result<GdbServer, GdbListenError> {
        let listen = |source| GdbListenError::Bind {
            addr: addr.clone(),
            source,
        };
        let listener = match addr {
            GdbAddr::Tcp(a) => Listener::Tcp(TcpListener::bind(a).map_err(listen)?),
            GdbAddr::Unix(p) => {
                remove_stale_socket(p);
                Listener::Unix(UnixListener::bind(p).map_err(listen)?, p.clone())
            }
        };
        let addr = match &listener {
            Listener::Tcp(l) => GdbAddr::Tcp(l.local_addr().map_err(GdbListenError::LocalAddr)?),
            Listener::Unix(_, p) => GdbAddr::Unix(p.clone()),
        };
        Ok(GdbServer { listener, addr })
    }

    /// Where gdb connects (with the port the system chose for port 0).
    pub fn addr(&self) -> &GdbAddr {
        &self.addr
    }

    /// Waits for gdb; gives the connection and a second descriptor of it
    /// that only watches for gdb's interrupt while the guest runs.
    pub(super) fn accept(
        &self,
    ) -> io::Result<(Box<dyn ConnectionExt<Error = io::Error>>, OwnedFd)> {
        self.wait_for_connection()?;
        Ok(match &self.listener {
            Listener::Tcp(l) => {
                let (s, _) = l.accept()?;
                // Small packets each way: no waiting to coalesce them.
                let _ = s.set_nodelay(true);
                let watch = OwnedFd::from(s.try_clone()?);
                (Box::new(s), watch)
            }
            Listener::Unix(l, _) => {
                let (s, _) = l.accept()?;
                let watch = OwnedFd::from(s.try_clone()?);
                (Box::new(s), watch)
            }
        })
    }
}

impl GdbServer {
    /// Waits until gdb connects, or fails with `Interrupted` when a
    /// signal ends the run (SIGINT, SIGTERM, ...): a blocking accept would
    /// be retried after the signal, and nothing would end the wait.
    fn wait_for_connection(&self) -> io::Result<()> {
        let fd = match &self.listener {
            Listener::Tcp(l) => l.as_raw_fd(),
            Listener::Unix(l, _) => l.as_raw_fd(),
        };
        loop {
            if let Some(sig) = crate::signals::interrupted() {
                return Err(io::Error::new(
                    io::ErrorKind::Interrupted,
                    format!("signal {sig} while waiting for gdb"),
                ));
            }
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd, for the duration of the call.
            let ready = unsafe { libc::poll(&mut pfd, 1, 100) };
            if ready > 0 {
                return Ok(());
            }
            if ready < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

/// Removes a socket file at `path` that no process listens on any more (a
/// run killed with SIGKILL leaves it), so that the path can be bound again;
/// a live server's socket is left alone, and bind then reports it in use.
fn remove_stale_socket(path: &std::path::Path) {
    use std::os::unix::fs::FileTypeExt;
    let is_socket = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket());
    if is_socket
        && std::os::unix::net::UnixStream::connect(path)
            .is_err_and(|e| e.kind() == io::ErrorKind::ConnectionRefused)
    {
        let _ = std::fs::remove_file(path);
    }
}

impl Drop for GdbServer {
    fn drop(&mut self) {
        if let Listener::Unix(_, path) = &self.listener {
            if !crate::machine::fork::is_descendant() {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            GdbAddr::parse("1234"),
            Ok(GdbAddr::Tcp("127.0.0.1:1234".parse().unwrap()))
        );
        assert_eq!(
            GdbAddr::parse("0.0.0.0:99"),
            Ok(GdbAddr::Tcp("0.0.0.0:99".parse().unwrap()))
        );
        assert_eq!(
            GdbAddr::parse("/tmp/gdb.sock"),
            Ok(GdbAddr::Unix("/tmp/gdb.sock".into()))
        );
        assert_eq!(
            GdbAddr::parse("70000"),
            Err(GdbAddrError::NotAPort("70000".into()))
        );
        assert_eq!(GdbAddr::parse(""), Err(GdbAddrError::Empty));
        assert_eq!(
            GdbAddr::parse("localhost:1234").unwrap_err().to_string(),
            "-g localhost:1234: expected PORT, HOST:PORT (an IP address) or a socket path"
        );
    }
}
