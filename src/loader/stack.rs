// SPDX-License-Identifier: GPL-2.0-or-later
//! The initial process stack as Linux lays it out: strings at the top, then
//! auxv, envp, argv and argc, 16-byte aligned.

use std::sync::Arc;

use super::{LoadError, LoadedImage};
use crate::arch::Abi;
use crate::mem::{AddressSpace, HostMapping, Perms, RegionKind};

pub const STACK_SIZE: u64 = 8 << 20;

const AT_NULL: u64 = 0;
const AT_PHDR: u64 = 3;
const AT_PHENT: u64 = 4;
const AT_PHNUM: u64 = 5;
const AT_PAGESZ: u64 = 6;
const AT_BASE: u64 = 7;
const AT_FLAGS: u64 = 8;
const AT_ENTRY: u64 = 9;
const AT_UID: u64 = 11;
const AT_EUID: u64 = 12;
const AT_GID: u64 = 13;
const AT_EGID: u64 = 14;
const AT_PLATFORM: u64 = 15;
const AT_HWCAP: u64 = 16;
const AT_CLKTCK: u64 = 17;
const AT_SECURE: u64 = 23;
const AT_RANDOM: u64 = 25;
const AT_HWCAP2: u64 = 26;
const AT_EXECFN: u64 = 31;

#[derive(Debug, Clone)]
pub struct StackInfo {
    pub sp: u64,
    /// The auxiliary vector as (type, value), for /proc/self/auxv and tests.
    pub auxv: Vec<(u64, u64)>,
}

/// Maps the stack and writes argv, envp and auxv. Returns the initial sp.
/// `interp_base` is where the program interpreter was loaded (AT_BASE), 0
/// for a static executable.
#[allow(clippy::too_many_arguments)] // the process's parts the stack shows
pub fn build_stack(
    abi: &dyn Abi,
    hwcap: &crate::arch::cpu::CpuFacts,
    mem: &mut AddressSpace,
    image: &LoadedImage,
    interp_base: u64,
    execfn: &[u8],
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
) -> Result<StackInfo, LoadError> {
    let top = abi.stack_top();
    let bottom = top - STACK_SIZE;
    let host = HostMapping::anonymous(STACK_SIZE as usize)
        .map_err(|e| LoadError(format!("cannot allocate the stack: {e}")))?;
    mem.map(
        bottom,
        STACK_SIZE,
        Perms::RW,
        Perms(7),
        RegionKind::Memory {
            name: "[stack]".into(),
        },
        Some(Arc::new(host)),
        0,
    );

    let word = if abi.is_64bit() { 8u64 } else { 4 };
    let mut sp = top;
    let too_big = || LoadError("arguments and environment do not fit in the stack".into());
    let mut push_bytes =
        |mem: &mut AddressSpace, bytes: &[u8], nul: bool| -> Result<u64, LoadError> {
            let len = bytes.len() as u64 + u64::from(nul);
            sp = sp
                .checked_sub(len)
                .filter(|s| *s > bottom + (1 << 16))
                .ok_or_else(too_big)?;
            mem.write(sp, bytes).map_err(|_| too_big())?;
            if nul {
                mem.write(sp + bytes.len() as u64, &[0])
                    .map_err(|_| too_big())?;
            }
            Ok(sp)
        };
    let execfn_addr = push_bytes(mem, execfn, true)?;
    let mut env_addrs = Vec::with_capacity(envp.len());
    for e in envp.iter().rev() {
        env_addrs.push(push_bytes(mem, e, true)?);
    }
    env_addrs.reverse();
    let mut arg_addrs = Vec::with_capacity(argv.len());
    for a in argv.iter().rev() {
        arg_addrs.push(push_bytes(mem, a, true)?);
    }
    arg_addrs.reverse();
    let platform = hwcap.platform.unwrap_or_else(|| abi.platform());
    let platform_addr = push_bytes(mem, platform.as_bytes(), true)?;
    let mut random = [0u8; 16];
    crate::host::fill_random(&mut random)
        .map_err(|e| LoadError(format!("no random bytes for AT_RANDOM: {e}")))?;
    let random_addr = push_bytes(mem, &random, false)?;

    // SAFETY: plain identity queries.
    let (uid, euid, gid, egid) = unsafe {
        (
            libc::getuid(),
            libc::geteuid(),
            libc::getgid(),
            libc::getegid(),
        )
    };
    let mut auxv = vec![
        (AT_PHDR, image.phdr),
        (AT_PHENT, image.phent),
        (AT_PHNUM, image.phnum),
        (AT_PAGESZ, crate::mem::PAGE_SIZE),
        (AT_BASE, interp_base),
        (AT_FLAGS, 0),
        (AT_ENTRY, image.entry),
        (AT_UID, u64::from(uid)),
        (AT_EUID, u64::from(euid)),
        (AT_GID, u64::from(gid)),
        (AT_EGID, u64::from(egid)),
        (AT_PLATFORM, platform_addr),
        (AT_HWCAP, hwcap.hwcap),
        (AT_CLKTCK, 100),
        (AT_SECURE, 0),
        (AT_RANDOM, random_addr),
        (AT_HWCAP2, hwcap.hwcap2),
        (AT_EXECFN, execfn_addr),
    ];
    auxv.extend_from_slice(hwcap.auxv);
    auxv.push((AT_NULL, 0));

    // Words below the strings: argc, argv..., 0, envp..., 0, auxv pairs.
    let mut words: Vec<u64> = Vec::new();
    words.push(argv.len() as u64);
    words.extend(&arg_addrs);
    words.push(0);
    words.extend(&env_addrs);
    words.push(0);
    for (k, v) in &auxv {
        words.push(*k);
        words.push(*v);
    }
    let table_size = words.len() as u64 * word;
    sp = (sp - table_size) & !15;
    if sp <= bottom + (1 << 16) {
        return Err(too_big());
    }
    let enc = mem.encoder();
    let mut table = Vec::with_capacity(table_size as usize);
    for w in &words {
        if word == 8 {
            table.extend_from_slice(&enc.u64(*w));
        } else {
            table.extend_from_slice(&enc.u32(*w as u32));
        }
    }
    mem.write(sp, &table).map_err(|_| too_big())?;
    auxv.pop();
    Ok(StackInfo { sp, auxv })
}
