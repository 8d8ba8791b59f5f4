// SPDX-License-Identifier: GPL-2.0-or-later
//! Making engines: the first thread's, and one for another thread of the
//! same process. Both are made the same way: the engine with its CPU model
//! and exception hooks, the controls of our engine patches, the TLB-fill
//! and fault-address hooks. A thread's engine then gets the process's
//! whole memory layout (the same host memory mapped at the same guest
//! addresses) and its creator's CPU state.

use unicorn_engine::unicorn_const::uc_error;
use unicorn_engine::Unicorn;

use crate::arch::ArchError;
use crate::machine::memory::{self as mem_engine, EngineError};
use crate::machine::{engine_ctl, Engine, Machine};

/// Why an engine could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The engine cannot be created for the architecture.
    #[error("cannot create the {arch} emulator: {err:?}")]
    Create { arch: &'static str, err: uc_error },
    /// The engine refused one of the controls our patches add, or a CPU
    /// state.
    #[error("cannot configure the engine: {0:?}")]
    Configure(uc_error),
    #[error(transparent)]
    Arch(#[from] ArchError),
    /// The engine refused a hook or the memory layout.
    #[error(transparent)]
    Memory(#[from] EngineError),
    /// The run's trace is written inline (no writer thread), which only
    /// one thread can feed.
    #[error("the trace writer cannot take another thread's events")]
    NoSharedWriter,
}

/// An engine for `machine`, configured as every engine of ht-user is. The
/// process's pending memory changes are not applied yet.
pub fn engine_for(machine: Machine) -> Result<Engine<'static>, BuildError> {
    let abi = machine.abi;
    let insn_counting = machine.trace.insn_counting;
    let (arch, mode) = abi.unicorn();
    let mut uc = Unicorn::new_with_data(arch, mode, machine).map_err(|err| BuildError::Create {
        arch: abi.name(),
        err,
    })?;
    crate::machine::cpu::prepare(&mut uc)?;
    // Stops land on block boundaries, so nothing runs twice (engine patch
    // 0005); control stores are one callback (0006); a map or unmap costs
    // the region's own pages, not all regions' (0025).
    engine_ctl::set_exit_check_at_block_start(&mut uc)
        .and_then(|()| engine_ctl::set_mmio_wide_access(&mut uc))
        .and_then(|()| engine_ctl::set_incremental_memory_map(&mut uc))
        .and_then(|()| engine_ctl::set_insn_count(&mut uc, insn_counting))
        .and_then(|()| engine_ctl::set_block_hook_insns(&mut uc, true))
        .map_err(BuildError::Configure)?;
    mem_engine::install_tlb(&mut uc)?;
    mem_engine::install_fault_address_hook(&mut uc)?;
    Ok(uc)
}

/// An engine for another guest thread of `parent`'s process (trace index
/// `thread_index`): every region of the process mapped as in `parent`,
/// and `parent`'s CPU state, which the caller then gives the new thread's
/// stack, TLS and clone result.
pub fn thread_engine(
    parent: &mut Engine<'_>,
    thread_index: u32,
) -> Result<Engine<'static>, BuildError> {
    let machine = parent
        .get_data()
        .for_thread(thread_index)
        .ok_or(BuildError::NoSharedWriter)?;
    let mut uc = engine_for(machine)?;
    mem_engine::mirror_layout(&mut uc)?;
    // The CPU state is the architecture's register file, which the same
    // engine build holds the same way in every instance.
    let mut state = parent.context_alloc().map_err(BuildError::Configure)?;
    parent
        .context_save(&mut state)
        .map_err(BuildError::Configure)?;
    uc.context_restore(&state).map_err(BuildError::Configure)?;
    Ok(uc)
}

/// What makes one thread's [`Machine`] besides its trace state: its
/// process, its place in the trace and the run's shared parts. The rest
/// starts fresh ([`Machine::assemble`]).
#[derive(Clone)]
pub(crate) struct MachineParts {
    pub abi: &'static dyn crate::arch::Abi,
    pub process: crate::kernel::SharedProcess,
    pub thread_index: u32,
    pub cpu_model: crate::arch::cpu::Cpu,
    pub cpu_facts: crate::arch::cpu::CpuFacts,
    pub hypertrace: Option<std::sync::Arc<crate::hypertrace::Channel>>,
    pub lineage: std::sync::Arc<crate::machine::fork::Lineage>,
}

impl Machine {
    /// The Machine of `parts` and `trace`: CPU, fault, signal, hook and
    /// scheduler state fresh, no handler, not stopped.
    pub(crate) fn assemble(parts: MachineParts, trace: crate::machine::TraceState) -> Machine {
        let MachineParts {
            abi,
            process,
            thread_index,
            cpu_model,
            cpu_facts,
            hypertrace,
            lineage,
        } = parts;
        Machine {
            abi,
            process,
            thread_index,
            cpu_model,
            cpu_facts,
            hypertrace,
            lineage,
            monitor_due: false,
            debug_pause: Default::default(),
            handler: None,
            stop: None,
            vfork_parent: None,
            sched: crate::machine::sched::Scheduler::default(),
            m5: Default::default(),
            trace,
            fault: Default::default(),
            signals: Default::default(),
            arch: Default::default(),
            tlb: Default::default(),
            blocks: Default::default(),
            parallel: None,
        }
    }

    /// This Machine's process, place in the trace and shared parts.
    pub(crate) fn parts(&self) -> MachineParts {
        MachineParts {
            abi: self.abi,
            process: self.process.clone(),
            thread_index: self.thread_index,
            cpu_model: self.cpu_model,
            cpu_facts: self.cpu_facts.clone(),
            hypertrace: self.hypertrace.clone(),
            lineage: self.lineage.clone(),
        }
    }
}

/// What another guest thread's Machine is made of, in a form that can go
/// to the host thread that will run it: the process, the channel and the
/// lineage shared, a recorder of its own feeding the same writer, the
/// trace settings copied.
pub struct ThreadParts {
    machine: MachineParts,
    recorder: crate::trace::Recorder,
    enabled: crate::trace::EventSet,
    rules: crate::trace::rules::Rules,
    resident_hooks: crate::trace::EventSet,
    record_events: bool,
    clock: crate::trace::clock::EventClock,
    strace: bool,
    insn_counting: bool,
    debug: crate::trace::debug::DebugItems,
    disassembles: bool,
    report_modules: bool,
    modules_reported: std::collections::HashSet<(u64, String)>,
    extra_args: usize,
}

impl ThreadParts {
    /// The parts of `creator`'s Machine for a thread with trace index
    /// `thread_index`; None when the run's writer is inline.
    pub fn of(creator: &Machine, thread_index: u32) -> Option<ThreadParts> {
        let t = &creator.trace;
        Some(ThreadParts {
            machine: MachineParts {
                thread_index,
                ..creator.parts()
            },
            recorder: t.recorder.as_ref()?.for_another_thread()?,
            enabled: t.enabled,
            rules: t.rules.clone(),
            resident_hooks: t.resident_hooks,
            record_events: t.record_events,
            clock: t.clock.clone(),
            strace: t.strace,
            insn_counting: t.insn_counting,
            debug: t.debug,
            disassembles: t.disasm.is_some(),
            report_modules: t.report_modules,
            modules_reported: t.modules_reported.clone(),
            extra_args: t.args_scratch.len(),
        })
    }

    /// The thread's Machine: CPU, fault, signal and hook state fresh.
    pub fn into_machine(self) -> Machine {
        let disasm = self
            .disassembles
            .then(|| crate::machine::disasm::Disassembler::for_arch(self.machine.abi.name()).ok())
            .flatten();
        let fresh = crate::machine::TraceState::new(
            (self.recorder, None),
            self.enabled,
            self.clock,
            self.strace,
            self.extra_args,
        );
        Machine::assemble(
            self.machine,
            crate::machine::TraceState {
                rules: self.rules,
                // Its engine gets the hooks the enabled events need.
                reconfigure_due: true,
                resident_hooks: self.resident_hooks,
                record_events: self.record_events,
                insn_counting: self.insn_counting,
                debug: self.debug,
                disasm,
                report_modules: self.report_modules,
                modules_reported: self.modules_reported,
                ..fresh
            },
        )
    }
}

impl Machine {
    /// The Machine of another guest thread of this process (see
    /// [`ThreadParts`]); None when the run's writer is inline.
    pub fn for_thread(&self, thread_index: u32) -> Option<Machine> {
        ThreadParts::of(self, thread_index).map(ThreadParts::into_machine)
    }
}

// A thread's parts go to the host thread that runs it.
const _: fn() = || {
    fn sendable<T: Send>() {}
    sendable::<ThreadParts>();
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::StopReason;
    use crate::syscall::ExitKind;

    fn load(arch: &str, program: &str, args: &[&str]) -> Option<crate::runner::Loaded> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(arch)
            .join(program);
        let mut argv = vec![path.clone().into_os_string()];
        argv.extend(args.iter().map(Into::into));
        let cfg = crate::runner::RunConfig {
            program: path,
            argv,
            ..Default::default()
        };
        Some(crate::runner::load(&cfg, None, true).expect("loads"))
    }

    /// A thread's engine is a whole engine of the process: the same memory
    /// at the same addresses (a store through the process shows in both
    /// engines), and a guest program runs on it from its creator's CPU
    /// state to its exit, its system calls served through its own Machine.
    #[test]
    fn a_thread_engine_runs_the_process_from_its_creators_state() {
        let archs = [
            "x86_64", "i386", "aarch64", "arm", "riscv64", "mipsel", "mips64el", "ppc64le", "s390x",
        ];
        for arch in archs {
            let mut loaded = load(arch, "exit-code", &["7"]).expect("the committed guest");
            let entry = loaded.entry;
            let parent = &mut loaded.uc;
            let mut second = thread_engine(parent, 1).expect("a thread engine");
            let abi = parent.get_data().abi;
            let sp = abi.thread_regs().sp;
            assert_eq!(second.reg_read(sp), parent.reg_read(sp), "{arch}: sp");
            assert_eq!(abi.pc(&second), abi.pc(parent), "{arch}: pc");
            let regions = |uc: &Engine<'_>| -> Vec<(u64, u64)> {
                let mut r: Vec<_> = uc
                    .mem_regions()
                    .unwrap()
                    .iter()
                    .map(|m| (m.begin, m.end))
                    .collect();
                r.sort_unstable();
                r
            };
            assert_eq!(regions(&second), regions(parent), "{arch}: memory map");
            let at = parent.reg_read(sp).unwrap() - 64;
            parent
                .get_data()
                .lock_process()
                .mem
                .write(at, b"shared")
                .unwrap();
            let mut seen = [0u8; 6];
            second.mem_read(at, &mut seen).unwrap();
            assert_eq!(&seen, b"shared", "{arch}: the same host memory");

            crate::machine::sched::run(&mut second, entry, &mut ()).expect("runs");
            assert_eq!(
                second.get_data().stop,
                Some(StopReason::Exit(ExitKind::Exited(7))),
                "{arch}"
            );
            if let Some(r) = second.get_data_mut().trace.recorder.take() {
                r.close();
            }
        }
    }
}
