// SPDX-License-Identifier: GPL-2.0-or-later
//! Running guests from Rust: configure a [`Runner`], load, run, and see
//! events through an [`EventHandler`].
//!
//! ```no_run
//! use ht_user::{EventHandler, MemAccess, Runner};
//!
//! #[derive(Default)]
//! struct Count(u64);
//! impl EventHandler for Count {
//!     fn mem_access(&mut self, _: &MemAccess) {
//!         self.0 += 1;
//!     }
//! }
//!
//! let base = "/tmp/ht-example";
//! let (report, count) = Runner::new("testdata/x86_64/memregion")
//!     .args([base])
//!     .hypertrace(base)?
//!     // Memory accesses only between arg1=1 and arg1=0 events.
//!     .region("guest_mem_before_exec")?
//!     // To the handler only: nothing is written to the trace log.
//!     .record_events(false)
//!     .run_with(Count::default())?;
//! println!("{} accesses, guest exit status {}", count.0, report.exit_status());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::cell::RefCell;
use std::ffi::OsString;
use std::path::PathBuf;
use std::rc::Rc;

use crate::hypertrace::ChannelOptions;
use crate::machine::handler::{
    Block, EventHandler, HypertraceEvent, MemAccess, SyscallEntry, SyscallExit,
};
use crate::runner::{self, Loaded, RunConfig, RunReport, SetupError};

/// A guest run being configured. Every option has its command-line
/// counterpart; [`Runner::from_config`] takes a whole [`RunConfig`].
#[derive(Clone, Debug)]
pub struct Runner {
    config: RunConfig,
    record_events: bool,
}

/// A configuration value that cannot be used: the option's own error,
/// one line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The hypertrace channel ([`Runner::hypertrace`]).
    #[error(transparent)]
    Channel(#[from] crate::hypertrace::ChannelOptionsError),
    /// Trace events ([`Runner::trace`]).
    #[error(transparent)]
    Trace(#[from] crate::trace::TraceOptionError),
    /// A hypertrace action or region ([`Runner::on`], [`Runner::region`]).
    #[error(transparent)]
    Rule(#[from] crate::trace::rules::RuleError),
}

impl Runner {
    /// Runs `program` with `argv[0]` = `program` and ht-user's environment.
    pub fn new(program: impl Into<PathBuf>) -> Runner {
        let program = program.into();
        let env = std::env::vars_os()
            .map(|(k, v)| {
                let mut kv = k;
                kv.push("=");
                kv.push(v);
                kv
            })
            .collect();
        let mut trace_events = crate::trace::TraceEvents::default();
        trace_events.set("guest_hypertrace", true);
        Runner {
            config: RunConfig {
                argv: vec![program.clone().into_os_string()],
                program,
                env,
                trace_events,
                ..RunConfig::default()
            },
            record_events: true,
        }
    }

    /// A runner for a configuration made elsewhere (e.g. by `cli::parse`).
    pub fn from_config(config: RunConfig) -> Runner {
        Runner {
            config,
            record_events: true,
        }
    }

    pub fn config(&self) -> &RunConfig {
        &self.config
    }

    /// Appends guest arguments (after `argv[0]`).
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.config.argv.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets a guest environment variable (`-E`).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        let prefix = format!("{key}=");
        self.config
            .env
            .retain(|kv| !kv.as_encoded_bytes().starts_with(prefix.as_bytes()));
        self.config.env.push(format!("{key}={value}").into());
        self
    }

    /// The hypertrace channel (`-hypertrace [path=]BASE[,max-clients=N][,args=N]`).
    pub fn hypertrace(mut self, spec: &str) -> Result<Self, ConfigError> {
        self.config.hypertrace = Some(ChannelOptions::parse(spec)?);
        Ok(self)
    }

    /// Enables or disables trace events (`-trace`, QEMU syntax).
    pub fn trace(mut self, option: &str) -> Result<Self, ConfigError> {
        self.config.trace_events.apply_option(option)?;
        Ok(self)
    }

    /// A hypertrace action (`-hypertrace-on 'MATCH:ACTION'`).
    pub fn on(mut self, spec: &str) -> Result<Self, ConfigError> {
        self.config.rules.add_on(spec)?;
        Ok(self)
    }

    /// Events on only inside regions (`-hypertrace-region`).
    pub fn region(mut self, spec: &str) -> Result<Self, ConfigError> {
        self.config.rules.add_region(spec)?;
        Ok(self)
    }

    /// The text log (`-D`); stderr by default.
    pub fn log_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.log_file = Some(path.into());
        self
    }

    /// The guest's sysroot (`-L`): where a dynamic executable's interpreter
    /// and the guest's absolute paths are looked up first. Made absolute,
    /// since the guest may change its working directory.
    pub fn sysroot(mut self, path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        self.config.sysroot = Some(std::path::absolute(&path).unwrap_or(path));
        self
    }

    /// The binary trace (`-trace-file`).
    pub fn trace_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.trace_file = Some(path.into());
        self
    }

    /// The layout of the binary trace's records (`-trace-format`;
    /// compact by default).
    pub fn trace_format(mut self, layout: crate::trace::file::Layout) -> Self {
        self.config.trace_format = layout;
        self
    }

    /// Whether enabled events are also written to the log and trace file
    /// (default) or only given to the handler.
    pub fn record_events(mut self, on: bool) -> Self {
        self.record_events = on;
        self
    }

    /// Loads the guest without a handler.
    pub fn load(self) -> Result<Loaded, SetupError> {
        runner::load(&self.config, None, self.record_events)
    }

    /// Loads the guest; `handler` receives its events.
    pub fn load_with(self, handler: Box<dyn EventHandler>) -> Result<Loaded, SetupError> {
        runner::load(&self.config, Some(handler), self.record_events)
    }

    /// Loads and runs the guest to its end.
    pub fn run(self) -> Result<RunReport, SetupError> {
        Ok(self.load()?.run())
    }

    /// Loads and runs the guest with `handler`, and hands it back.
    pub fn run_with<H: EventHandler + 'static>(
        self,
        handler: H,
    ) -> Result<(RunReport, H), SetupError> {
        let shared = Rc::new(RefCell::new(handler));
        let report = self.load_with(Box::new(Shared(shared.clone())))?.run();
        let handler = Rc::try_unwrap(shared)
            .ok()
            .expect("the engine and its handler are gone after the run")
            .into_inner();
        Ok((report, handler))
    }
}

/// Forwards to a handler the caller gets back after the run.
struct Shared<H>(Rc<RefCell<H>>);

impl<H: EventHandler> EventHandler for Shared<H> {
    fn hypertrace(&mut self, event: &HypertraceEvent<'_>) {
        self.0.borrow_mut().hypertrace(event);
    }
    fn mem_access(&mut self, access: &MemAccess) {
        self.0.borrow_mut().mem_access(access);
    }
    fn block(&mut self, block: &Block) {
        self.0.borrow_mut().block(block);
    }
    fn syscall(&mut self, call: &SyscallEntry<'_>) {
        self.0.borrow_mut().syscall(call);
    }
    fn syscall_ret(&mut self, ret: &SyscallExit) {
        self.0.borrow_mut().syscall_ret(ret);
    }
    fn finish(&mut self) {
        self.0.borrow_mut().finish();
    }
}
