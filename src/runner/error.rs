// SPDX-License-Identifier: GPL-2.0-or-later
//! Why a run could not start.

use std::path::PathBuf;

use unicorn_engine::unicorn_const::uc_error;

use crate::loader;
use crate::machine::memory as mem_engine;

/// A run that could not start: what failed, with the value it failed on.
/// The message is one line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The linked engine is not the one this ht-user was built with.
    #[error(
        "the linked Unicorn engine has patch series {linked:?}, this ht-user was built for {built:?}"
    )]
    EnginePatchSeries {
        linked: &'static str,
        built: &'static str,
    },
    /// The program cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    ReadProgram {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The program or its interpreter is not one ht-user can load.
    #[error(transparent)]
    Load(#[from] loader::LoadError),
    /// The program's segments cannot be mapped.
    #[error("{}: {source}", path.display())]
    MapProgram {
        path: PathBuf,
        source: loader::LoadError,
    },
    /// `-cpu` names no model of the program's architecture.
    #[error(transparent)]
    CpuModel(#[from] crate::arch::cpu::UnknownCpuModel),
    /// The architecture refused a set-up step.
    #[error(transparent)]
    Arch(#[from] crate::arch::ArchError),
    /// The monitor cannot listen on its address.
    #[error("cannot start the monitor on {addr}: {source}")]
    Monitor {
        addr: crate::monitor::MonitorAddr,
        source: std::io::Error,
    },
    /// `-g`'s socket cannot be bound.
    #[error(transparent)]
    Gdb(#[from] crate::gdb::GdbListenError),
    /// The hypertrace channel's files cannot be created or adopted.
    #[error(transparent)]
    Channel(#[from] crate::hypertrace::ChannelError),
    /// The process's state cannot be created.
    #[error("cannot set up the process: {0}")]
    Process(#[source] std::io::Error),
    /// The log stream (stderr or stdout) cannot be duplicated.
    #[error("cannot use the log stream: {0}")]
    LogStream(#[source] std::io::Error),
    /// The `-D` log file cannot be opened.
    #[error("cannot open log file {}: {source}", path.display())]
    LogFile {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The trace output cannot be set up.
    #[error(transparent)]
    Trace(#[from] crate::trace::SinkError),
    /// `-d in_asm`'s disassembler cannot be set up.
    #[error(transparent)]
    Disasm(#[from] crate::machine::disasm::DisasmError),
    /// The engine cannot be created for the architecture.
    #[error("cannot create the {arch} emulator: {err:?}")]
    CreateEngine { arch: &'static str, err: uc_error },
    /// The engine refused one of the controls ht-user's patches add.
    #[error("cannot configure the engine: {0:?}")]
    ConfigureEngine(uc_error),
    /// The engine refused a memory hook or the initial memory map.
    #[error(transparent)]
    Engine(#[from] mem_engine::EngineError),
    /// `-sched parallel` with something that serves one engine.
    #[error("-sched parallel cannot be used with {0} yet")]
    ParallelWith(&'static str),
    /// The monitor's polling hook cannot be installed.
    #[error("cannot hook the monitor: {0:?}")]
    MonitorHook(uc_error),
}

impl From<crate::machine::build::BuildError> for SetupError {
    fn from(e: crate::machine::build::BuildError) -> Self {
        use crate::machine::build::BuildError;
        match e {
            BuildError::Create { arch, err } => SetupError::CreateEngine { arch, err },
            BuildError::Configure(err) => SetupError::ConfigureEngine(err),
            BuildError::Arch(e) => SetupError::Arch(e),
            BuildError::Memory(e) => SetupError::Engine(e),
            // Only a thread's engine shares a writer.
            BuildError::NoSharedWriter => SetupError::ConfigureEngine(uc_error::ARG),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{check_engine, load, open_log, RunConfig};
    use super::*;

    fn config(program: &std::path::Path) -> RunConfig {
        RunConfig {
            program: program.to_path_buf(),
            argv: vec![program.as_os_str().to_owned()],
            ..RunConfig::default()
        }
    }

    fn load_error(cfg: &RunConfig) -> SetupError {
        match load(cfg, None, true) {
            Ok(_) => panic!("{} loaded", cfg.program.display()),
            Err(e) => e,
        }
    }

    #[test]
    fn a_missing_program_is_named_with_the_io_error() {
        let e = load_error(&config("/nonexistent/guest".as_ref()));
        assert!(
            matches!(&e, SetupError::ReadProgram { path, source }
                if path.as_os_str() == "/nonexistent/guest"
                    && source.kind() == std::io::ErrorKind::NotFound),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "cannot read /nonexistent/guest: No such file or directory (os error 2)"
        );
        assert!(std::error::Error::source(&e).is_some());
    }

    #[test]
    fn a_program_that_is_not_elf_is_a_load_error() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("script");
        std::fs::write(&program, b"not an executable\n").unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = load_error(&config(&program));
        assert!(matches!(&e, SetupError::Load(_)), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!("{}: not an ELF executable", program.display())
        );
    }

    #[test]
    fn an_unopenable_log_file_is_named_with_the_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = open_log(Some(&dir.path().to_path_buf()), true).unwrap_err();
        assert!(
            matches!(&e, SetupError::LogFile { path, source }
                if path == dir.path() && source.raw_os_error() == Some(libc::EISDIR)),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            format!(
                "cannot open log file {}: Is a directory (os error 21)",
                dir.path().display()
            )
        );
    }

    #[test]
    fn an_unknown_cpu_model_keeps_its_message() {
        let abi = crate::arch::all()[0];
        let inner = crate::arch::cpu::find(abi, "no-such-cpu").unwrap_err();
        let text = inner.to_string();
        let e = SetupError::from(inner);
        assert!(
            matches!(&e, SetupError::CpuModel(m) if m.name == "no-such-cpu"),
            "{e:?}"
        );
        assert_eq!(e.to_string(), text);
        assert!(
            text.starts_with("unknown CPU model 'no-such-cpu' for "),
            "{text}"
        );
    }

    #[test]
    fn messages_name_the_value_that_failed() {
        let os = std::io::Error::from_raw_os_error;
        let cases = [
            (
                SetupError::EnginePatchSeries {
                    linked: "a",
                    built: "b",
                },
                r#"the linked Unicorn engine has patch series "a", this ht-user was built for "b""#,
            ),
            (
                SetupError::Monitor {
                    addr: crate::monitor::MonitorAddr::Unix("/tmp/m.sock".into()),
                    source: os(libc::EADDRINUSE),
                },
                "cannot start the monitor on unix:/tmp/m.sock: Address already in use (os error 98)",
            ),
            (
                SetupError::Process(os(libc::EMFILE)),
                "cannot set up the process: Too many open files (os error 24)",
            ),
            (
                SetupError::LogStream(os(libc::EBADF)),
                "cannot use the log stream: Bad file descriptor (os error 9)",
            ),
            (
                SetupError::MapProgram {
                    path: "/bin/guest".into(),
                    source: loader::LoadError("segment outside memory".into()),
                },
                "/bin/guest: segment outside memory",
            ),
            (
                SetupError::CreateEngine {
                    arch: "mipsel",
                    err: uc_error::ARCH,
                },
                "cannot create the mipsel emulator: ARCH",
            ),
            (
                SetupError::ConfigureEngine(uc_error::ARG),
                "cannot configure the engine: ARG",
            ),
            (
                SetupError::MonitorHook(uc_error::HOOK),
                "cannot hook the monitor: HOOK",
            ),
            (
                SetupError::Channel(crate::hypertrace::ChannelError("channel busy".into())),
                "channel busy",
            ),
        ];
        for (e, text) in cases {
            assert_eq!(e.to_string(), text, "{e:?}");
        }
    }

    #[test]
    fn this_build_links_its_own_engine() {
        check_engine().unwrap();
    }
}
