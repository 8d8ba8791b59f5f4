// SPDX-License-Identifier: GPL-2.0-or-later
//! Checked access: reads and writes of guest memory through the host
//! memory behind its regions, each byte checked to be mapped with the
//! permission the access needs (a bad pointer is a [`Fault`]).

use super::{host_fault, AddressSpace, Encoder, Endian, Fault, MemResult, Perms, RegionKind};

impl AddressSpace {
    /// Visits the host bytes behind `[addr, addr+len)`, region by region,
    /// after checking every byte is mapped with `need`.
    fn for_each_chunk(
        &self,
        addr: u64,
        len: usize,
        need: Perms,
        mut visit: impl FnMut(*mut u8, usize, usize),
    ) -> MemResult<()> {
        let end = addr.checked_add(len as u64).ok_or(Fault { addr })?;
        // Check first so a failing access has no partial effect.
        let mut cursor = addr;
        while cursor < end {
            let r = self.region_at(cursor).ok_or(Fault { addr: cursor })?;
            let past_end = matches!(r.kind, RegionKind::PastEndOfFile { .. });
            if !r.perms.contains(need) || r.backing.is_none() || past_end {
                return Err(Fault { addr: cursor });
            }
            cursor = r.end.min(end);
        }
        let mut cursor = addr;
        let mut done = 0usize;
        let epoch = host_fault::epoch();
        while cursor < end {
            let r = self.region_at(cursor).expect("checked above");
            let chunk_end = r.end.min(end);
            let n = (chunk_end - cursor) as usize;
            let host = r.host_ptr(cursor).expect("checked above");
            visit(host, done, n);
            // Another process truncated the file behind these bytes: what
            // was read or written is not the file's (see host_fault).
            if let Some(offset) = host_fault::zeroed_since(epoch, host, n) {
                return Err(Fault {
                    addr: cursor + offset as u64,
                });
            }
            done += n;
            cursor = chunk_end;
        }
        Ok(())
    }

    pub fn read(&self, addr: u64, buf: &mut [u8]) -> MemResult<()> {
        self.read_with(addr, buf, Perms::R)
    }

    fn read_with(&self, addr: u64, buf: &mut [u8], need: Perms) -> MemResult<()> {
        let len = buf.len();
        self.for_each_chunk(addr, len, need, |host, done, n| {
            // SAFETY: `host` points at `n` bytes of a live HostMapping that
            // the region holds (checked by for_each_chunk); `buf` is a
            // distinct Rust allocation, so the ranges cannot overlap.
            unsafe { std::ptr::copy_nonoverlapping(host, buf[done..].as_mut_ptr(), n) }
        })
    }

    /// Reads ignoring the guest's read permission (moving a mapping's
    /// contents); the pages must still be mapped.
    pub fn read_privileged(&self, addr: u64, buf: &mut [u8]) -> MemResult<()> {
        self.read_with(addr, buf, Perms::NONE)
    }

    pub fn write(&mut self, addr: u64, data: &[u8]) -> MemResult<()> {
        self.write_with(addr, data, Perms::W)
    }

    /// Writes ignoring the guest's write permission (the loader filling
    /// read-only segments); the pages must still be mapped.
    pub fn write_privileged(&mut self, addr: u64, data: &[u8]) -> MemResult<()> {
        self.write_with(addr, data, Perms::NONE)
    }

    fn write_with(&mut self, addr: u64, data: &[u8], need: Perms) -> MemResult<()> {
        self.for_each_chunk(addr, data.len(), need, |host, done, n| {
            // SAFETY: as in `read`; the host mapping is always writable by
            // ht-user, only the guest's view carries permissions.
            unsafe { std::ptr::copy_nonoverlapping(data[done..].as_ptr(), host, n) }
        })
    }

    /// Changes the aligned 32-bit word at `addr` atomically on the host, as
    /// the kernel changes a futex word: `change` sees the guest's value
    /// and says the new one (None: leave it), and is asked again if a
    /// guest thread running on another engine changed the word meanwhile.
    /// Returns the value `change` last saw and whether it was replaced.
    pub fn update_u32(
        &mut self,
        addr: u64,
        mut change: impl FnMut(u32) -> Option<u32>,
    ) -> MemResult<(u32, bool)> {
        if addr % 4 != 0 {
            return Err(Fault { addr });
        }
        let mut word: *mut u8 = std::ptr::null_mut();
        self.for_each_chunk(addr, 4, Perms::W, |host, _, _| word = host)?;
        // SAFETY: `word` points at 4 bytes of a live HostMapping (checked
        // by for_each_chunk; an aligned guest word is in one region), 4-byte
        // aligned since mappings are page-aligned; guest threads on other
        // engines access it only with their own atomics or plain stores.
        let atomic = unsafe { std::sync::atomic::AtomicU32::from_ptr(word.cast()) };
        let enc = self.encoder();
        let to_guest = |raw: u32| enc.decode_u32(raw.to_ne_bytes());
        let to_host = |v: u32| u32::from_ne_bytes(enc.u32(v));
        let mut raw = atomic.load(std::sync::atomic::Ordering::SeqCst);
        loop {
            let seen = to_guest(raw);
            let Some(new) = change(seen) else {
                return Ok((seen, false));
            };
            match atomic.compare_exchange(
                raw,
                to_host(new),
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
            ) {
                Ok(_) => return Ok((seen, true)),
                Err(now) => raw = now,
            }
        }
    }

    pub fn read_vec(&self, addr: u64, len: usize) -> MemResult<Vec<u8>> {
        let mut buf = vec![0u8; len];
        self.read(addr, &mut buf)?;
        Ok(buf)
    }

    /// Checks that the guest could write `len` bytes at `addr`.
    pub fn check_writable(&self, addr: u64, len: usize) -> MemResult<()> {
        self.for_each_chunk(addr, len, Perms::W, |_, _, _| {})
    }

    /// Reads a NUL-terminated string of at most `max` bytes (without the NUL).
    pub fn read_cstr(&self, addr: u64, max: usize) -> MemResult<Vec<u8>> {
        let mut out = Vec::new();
        let mut cursor = addr;
        loop {
            let r = self.region_at(cursor).ok_or(Fault { addr: cursor })?;
            if !r.perms.readable() || r.backing.is_none() {
                return Err(Fault { addr: cursor });
            }
            let n = (r.end - cursor) as usize;
            let mut chunk = vec![0u8; n.min(4096)];
            self.read(cursor, &mut chunk)?;
            if let Some(nul) = chunk.iter().position(|&b| b == 0) {
                out.extend_from_slice(&chunk[..nul]);
                return Ok(out);
            }
            out.extend_from_slice(&chunk);
            if out.len() > max {
                return Err(Fault { addr });
            }
            cursor += chunk.len() as u64;
        }
    }

    pub fn read_u32(&self, addr: u64) -> MemResult<u32> {
        let mut b = [0u8; 4];
        self.read(addr, &mut b)?;
        Ok(match self.endian {
            Endian::Little => u32::from_le_bytes(b),
            Endian::Big => u32::from_be_bytes(b),
        })
    }

    pub fn read_u64(&self, addr: u64) -> MemResult<u64> {
        let mut b = [0u8; 8];
        self.read(addr, &mut b)?;
        Ok(match self.endian {
            Endian::Little => u64::from_le_bytes(b),
            Endian::Big => u64::from_be_bytes(b),
        })
    }

    /// Reads a guest word (pointer-sized) of `size` bytes (4 or 8).
    pub fn read_word(&self, addr: u64, size: usize) -> MemResult<u64> {
        if size == 4 {
            self.read_u32(addr).map(u64::from)
        } else {
            self.read_u64(addr)
        }
    }

    pub fn write_u64(&mut self, addr: u64, v: u64) -> MemResult<()> {
        self.write(addr, &self.encoder().u64(v))
    }

    pub fn write_u32(&mut self, addr: u64, v: u32) -> MemResult<()> {
        self.write(addr, &self.encoder().u32(v))
    }

    pub fn encoder(&self) -> Encoder {
        Encoder {
            endian: self.endian,
        }
    }
}
