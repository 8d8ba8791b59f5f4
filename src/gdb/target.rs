// SPDX-License-Identifier: GPL-2.0-or-later
//! gdbstub's `Target` for a [`Session`]: registers, memory, resume and
//! step, breakpoints and watchpoints, auxv and the executable's name.

use gdbstub::arch::Arch;
use gdbstub::common::Signal;
use gdbstub::target::ext::auxv::{Auxv, AuxvOps};
use gdbstub::target::ext::base::singlethread::{
    SingleThreadBase, SingleThreadResume, SingleThreadResumeOps, SingleThreadSingleStep,
    SingleThreadSingleStepOps,
};
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::ext::breakpoints::{
    Breakpoints, BreakpointsOps, HwWatchpoint, HwWatchpointOps, SwBreakpoint, SwBreakpointOps,
    WatchKind,
};
use gdbstub::target::ext::exec_file::{ExecFile, ExecFileOps};
use gdbstub::target::{Target, TargetError, TargetResult};
use unicorn_engine::unicorn_const::HookType;

use super::*;

fn to_u64<U: num_traits::ToPrimitive>(v: U) -> u64 {
    v.to_u64().unwrap_or(u64::MAX)
}

/// Copies `data[offset..]` into `buf` as gdb's qXfer reads want it.
fn copy_from(data: &[u8], offset: u64, length: usize, buf: &mut [u8]) -> usize {
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(data.len());
    let n = (data.len() - start).min(length).min(buf.len());
    buf[..n].copy_from_slice(&data[start..start + n]);
    n
}

impl<R: DebugRegs> Target for Session<'_, '_, R> {
    type Arch = R::Arch;
    type Error = SessionEnd;

    fn base_ops(&mut self) -> BaseOps<'_, Self::Arch, Self::Error> {
        BaseOps::SingleThread(self)
    }

    fn support_breakpoints(&mut self) -> Option<BreakpointsOps<'_, Self>> {
        Some(self)
    }

    fn support_auxv(&mut self) -> Option<AuxvOps<'_, Self>> {
        Some(self)
    }

    fn support_exec_file(&mut self) -> Option<ExecFileOps<'_, Self>> {
        Some(self)
    }
}

impl<R: DebugRegs> SingleThreadBase for Session<'_, '_, R> {
    fn read_registers(
        &mut self,
        regs: &mut <Self::Arch as Arch>::Registers,
    ) -> TargetResult<(), Self> {
        R::read(self.uc, regs).map_err(|_| TargetError::NonFatal)
    }

    fn write_registers(
        &mut self,
        regs: &<Self::Arch as Arch>::Registers,
    ) -> TargetResult<(), Self> {
        R::write(self.uc, regs).map_err(|_| TargetError::NonFatal)?;
        let abi = self.uc.get_data().abi;
        self.start = abi.resume_address(self.uc);
        Ok(())
    }

    fn read_addrs(
        &mut self,
        start: <Self::Arch as Arch>::Usize,
        data: &mut [u8],
    ) -> TargetResult<usize, Self> {
        let start = to_u64(start);
        let mem = &self.uc.get_data().lock_process().mem;
        // Page by page: a read that runs into an unmapped page gives what
        // precedes it, as gdb expects.
        let mut done = 0;
        while done < data.len() {
            let addr = start.wrapping_add(done as u64);
            let to_page_end = 0x1000 - (addr & 0xfff);
            let n = (data.len() - done).min(to_page_end as usize);
            if mem
                .read_privileged(addr, &mut data[done..done + n])
                .is_err()
            {
                break;
            }
            done += n;
        }
        if done == 0 && !data.is_empty() {
            return Err(TargetError::Errno(libc::EFAULT as u8));
        }
        Ok(done)
    }

    fn write_addrs(
        &mut self,
        start: <Self::Arch as Arch>::Usize,
        data: &[u8],
    ) -> TargetResult<(), Self> {
        let start = to_u64(start);
        {
            let mut p = self.uc.get_data().lock_process();
            p.mem
                .write_privileged(start, data)
                .map_err(|_| TargetError::Errno(libc::EFAULT as u8))?;
            // gdb may write code: what was translated from it goes.
            p.mem.invalidate_code(start, data.len() as u64);
        }
        crate::machine::memory::apply_pending(self.uc).map_err(|_| TargetError::NonFatal)?;
        Ok(())
    }

    fn support_resume(&mut self) -> Option<SingleThreadResumeOps<'_, Self>> {
        Some(self)
    }
}

impl<R: DebugRegs> SingleThreadResume for Session<'_, '_, R> {
    fn resume(&mut self, _signal: Option<Signal>) -> Result<(), Self::Error> {
        self.stepping = false;
        Ok(())
    }

    fn support_single_step(&mut self) -> Option<SingleThreadSingleStepOps<'_, Self>> {
        Some(self)
    }
}

impl<R: DebugRegs> SingleThreadSingleStep for Session<'_, '_, R> {
    fn step(&mut self, _signal: Option<Signal>) -> Result<(), Self::Error> {
        self.stepping = true;
        Ok(())
    }
}

impl<R: DebugRegs> Breakpoints for Session<'_, '_, R> {
    fn support_sw_breakpoint(&mut self) -> Option<SwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_watchpoint(&mut self) -> Option<HwWatchpointOps<'_, Self>> {
        Some(self)
    }
}

fn watch_kind_number(kind: WatchKind) -> u8 {
    match kind {
        WatchKind::Write => 2,
        WatchKind::Read => 3,
        WatchKind::ReadWrite => 4,
    }
}

pub(super) fn watch_kind(number: u8) -> WatchKind {
    match number {
        3 => WatchKind::Read,
        4 => WatchKind::ReadWrite,
        _ => WatchKind::Write,
    }
}

/// Watchpoints are memory hooks on the watched range; the access they
/// see has not happened yet, so a code hook over everything stops the
/// guest before the next instruction, as a CPU's debug registers do.
impl<R: DebugRegs> HwWatchpoint for Session<'_, '_, R> {
    fn add_hw_watchpoint(
        &mut self,
        addr: <Self::Arch as Arch>::Usize,
        len: <Self::Arch as Arch>::Usize,
        kind: WatchKind,
    ) -> TargetResult<bool, Self> {
        let (start, len) = (to_u64(addr), to_u64(len).max(1));
        let Some(end) = start.checked_add(len - 1) else {
            return Ok(false);
        };
        let key = (start, len, watch_kind_number(kind));
        if self.watchpoints.contains_key(&key) {
            return Ok(true);
        }
        let hook_type = match kind {
            WatchKind::Write => HookType::MEM_WRITE,
            WatchKind::Read => HookType::MEM_READ,
            WatchKind::ReadWrite => HookType::MEM_READ | HookType::MEM_WRITE,
        };
        let hook = self
            .uc
            .add_mem_hook(
                hook_type,
                start,
                end,
                move |uc: &mut Engine<'_>, ty, _, _, _| {
                    let wrote = ty == unicorn_engine::unicorn_const::MemType::WRITE;
                    uc.get_data_mut().debug_pause.watch_hit = Some((start, wrote));
                    true
                },
            )
            .map_err(|_| TargetError::NonFatal)?;
        self.watchpoints.insert(key, hook);
        if self.watch_stop_hook.is_none() {
            let stop = self
                .uc
                .add_code_hook(1, 0, |uc: &mut Engine<'_>, _, _| {
                    if uc.get_data().debug_pause.watch_hit.is_some() {
                        pause(uc);
                    }
                })
                .map_err(|_| TargetError::NonFatal)?;
            self.watch_stop_hook = Some(stop);
        }
        // Code translated before calls neither hook.
        let _ = self.uc.ctl_flush_tb();
        Ok(true)
    }

    fn remove_hw_watchpoint(
        &mut self,
        addr: <Self::Arch as Arch>::Usize,
        len: <Self::Arch as Arch>::Usize,
        kind: WatchKind,
    ) -> TargetResult<bool, Self> {
        let key = (to_u64(addr), to_u64(len).max(1), watch_kind_number(kind));
        let Some(hook) = self.watchpoints.remove(&key) else {
            return Ok(false);
        };
        let _ = self.uc.remove_hook(hook);
        if self.watchpoints.is_empty() {
            if let Some(stop) = self.watch_stop_hook.take() {
                let _ = self.uc.remove_hook(stop);
            }
            self.uc.get_data_mut().debug_pause.watch_hit = None;
        }
        let _ = self.uc.ctl_flush_tb();
        Ok(true)
    }
}

impl<R: DebugRegs> SwBreakpoint for Session<'_, '_, R> {
    fn add_sw_breakpoint(
        &mut self,
        addr: <Self::Arch as Arch>::Usize,
        _kind: <Self::Arch as Arch>::BreakpointKind,
    ) -> TargetResult<bool, Self> {
        let addr = to_u64(addr);
        if self.breakpoints.contains_key(&addr) {
            return Ok(true);
        }
        let hook = self
            .uc
            .add_code_hook(addr, addr, |uc: &mut Engine<'_>, at, _| {
                let m = uc.get_data_mut();
                if m.debug_pause.skip_at == Some(at) {
                    // The breakpoint the guest resumes from.
                    m.debug_pause.skip_at = None;
                } else {
                    pause(uc);
                }
            })
            .map_err(|_| TargetError::NonFatal)?;
        // What was translated at the address has no call to the hook.
        let _ = self.uc.ctl_remove_cache(addr, addr.saturating_add(1));
        self.breakpoints.insert(addr, hook);
        Ok(true)
    }

    fn remove_sw_breakpoint(
        &mut self,
        addr: <Self::Arch as Arch>::Usize,
        _kind: <Self::Arch as Arch>::BreakpointKind,
    ) -> TargetResult<bool, Self> {
        let addr = to_u64(addr);
        match self.breakpoints.remove(&addr) {
            Some(hook) => {
                let _ = self.uc.remove_hook(hook);
                let _ = self.uc.ctl_remove_cache(addr, addr.saturating_add(1));
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

impl<R: DebugRegs> Auxv for Session<'_, '_, R> {
    fn get_auxv(&self, offset: u64, length: usize, buf: &mut [u8]) -> TargetResult<usize, Self> {
        Ok(copy_from(&self.auxv, offset, length, buf))
    }
}

impl<R: DebugRegs> ExecFile for Session<'_, '_, R> {
    fn get_exec_file(
        &self,
        _pid: Option<gdbstub::common::Pid>,
        offset: u64,
        length: usize,
        buf: &mut [u8],
    ) -> TargetResult<usize, Self> {
        Ok(copy_from(&self.exe, offset, length, buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qxfer_reads_are_windows() {
        let mut buf = [0u8; 4];
        assert_eq!(copy_from(b"abcdef", 2, 10, &mut buf), 4);
        assert_eq!(&buf, b"cdef");
        assert_eq!(copy_from(b"abcdef", 9, 10, &mut buf), 0);
    }
}
