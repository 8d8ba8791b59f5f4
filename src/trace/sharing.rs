// SPDX-License-Identifier: GPL-2.0-or-later
//! Whether a recorder's output lands in the stream the guest writes its
//! own stdout/stderr to ([`OutputSharing`]), and so must wait for the
//! writer before the guest writes.

use std::fs::File;
use std::io;

/// Which of a recorder's output lands in the stream the guest writes its
/// own stdout/stderr to, and so must be ordered with the guest's writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputSharing {
    /// Event lines (`guest_hypertrace ...`) go there.
    pub events: bool,
    /// Text lines (`-strace`, messages) go there.
    pub text: bool,
}

impl OutputSharing {
    /// Everything is ordered with the guest's output: the safe default.
    pub const ALL: OutputSharing = OutputSharing {
        events: true,
        text: true,
    };

    /// The sharing of a run's sink ([`open_sink`](super::open_sink)): text lines go to `log`,
    /// event lines too unless a binary trace takes them without `-D`.
    /// `log` shares the guest's stream when it is the same open file as
    /// the host's stdout or stderr, which the guest starts with.
    pub fn of_log(log: std::os::fd::BorrowedFd<'_>, log_given: bool, binary_trace: bool) -> Self {
        let text = same_file_as_stdout_or_stderr(log);
        OutputSharing {
            events: text && (log_given || !binary_trace),
            text,
        }
    }
}

/// Whether `fd` is the file (device and inode) of descriptor 1 or 2.
fn same_file_as_stdout_or_stderr(fd: std::os::fd::BorrowedFd<'_>) -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let id = |fd: std::os::fd::BorrowedFd<'_>| {
        let file = File::from(fd.try_clone_to_owned().ok()?);
        file.metadata().ok().map(|m| (m.dev(), m.ino()))
    };
    match id(fd) {
        Some(me) => id(io::stdout().as_fd()) == Some(me) || id(io::stderr().as_fd()) == Some(me),
        // Unknown: keep the ordering.
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_is_shared_when_it_is_the_same_file_as_stdout_or_stderr() {
        use std::os::fd::AsFd;
        let dir = std::env::temp_dir().join(format!("ht-sharing-{}", std::process::id()));
        let file = File::create(&dir).unwrap();
        let own = OutputSharing::of_log(file.as_fd(), true, false);
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(
            own,
            OutputSharing {
                events: false,
                text: false
            }
        );
        let stderr = io::stderr();
        assert_eq!(
            OutputSharing::of_log(stderr.as_fd(), false, false),
            OutputSharing::ALL
        );
        // A binary trace without -D takes the events off the stream.
        assert_eq!(
            OutputSharing::of_log(stderr.as_fd(), false, true),
            OutputSharing {
                events: false,
                text: true
            }
        );
    }
}
