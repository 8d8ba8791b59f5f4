// SPDX-License-Identifier: GPL-2.0-or-later
//! The hypertrace channel: three files the guest maps.
//!
//! - `BASE-config`: five guest-endian u64: max_clients, client_args,
//!   client_data_size, control_size, data_size.
//! - `BASE-data`: `client_args` u64 slots per client; an event's arg2..argN
//!   are the first N-1 slots of the emitting client.
//! - `BASE-control`: one u64 slot per client. A guest store of `arg1` into
//!   slot c is one event. The guest's mapping of this file is MMIO, so the
//!   store never reaches memory; ht-user decodes it here.
//!
//! A 64-bit store arrives from the engine either whole or as two 4-byte
//! halves. 32-bit guests store the slot as two 4-byte words in address order.
//! Either way the store to the slot's *second* word completes the event and
//! is combined with the last store to its first word; a store to the first
//! word alone only records that word. The halves are kept per slot, so a
//! thread switched out between its two halves is not mixed up with other
//! threads' stores to their own clients (a client belongs to one thread at
//! a time); the 64-bit halves come from one instruction, which a thread
//! switch never splits.

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::Mutex;

use memmap2::MmapMut;

use crate::mem::{page_ceil, Encoder, Endian};

mod files;
mod options;

pub use files::{
    format_file_ids, parse_file_ids, ChannelError, FileId, FileIdProblem, FileIdsError,
};
pub use options::{ChannelOptions, ChannelOptionsError};

/// Upper bound for `args=`; QEMU's configure option had no practical need
/// for more and it keeps per-event records bounded.
pub const MAX_ARGS: u64 = 16;
pub const DEFAULT_ARGS: u64 = 4;
pub const DEFAULT_MAX_CLIENTS: u64 = 64;

/// The arg1 values the guest library reserves for named events ("HTOP" in
/// the top 32 bits; `QEMU_HYPERTRACE_OP_*` in qemu-hypertrace.h). Each
/// carries a name id in data slot 0 (arg2).
pub mod op {
    const BASE: u64 = 0x4854_4f50_0000_0000;
    /// Registers a name: slot 0 the id, slot 1 the address of its text.
    /// Consumed by ht-user: it becomes the trace's name records.
    pub const NAME: u64 = BASE | 1;
    /// A region of the named kind opens.
    pub const BEGIN: u64 = BASE | 2;
    /// The innermost open region of the named kind closes.
    pub const END: u64 = BASE | 3;
    /// A named progress point.
    pub const POINT: u64 = BASE | 4;
    /// ht-user's own: a file mapped for execution (arg2 its path's name
    /// id, arg3 the mapping's start, arg4 its end), for `ht-trace
    /// profile`. Neither a region nor a progress point.
    pub const MODULE: u64 = BASE | 5;
}

/// Name ids from here up are ht-user's own (gem5 m5ops); the guest
/// library numbers its names 1 up to this.
pub const HOST_NAME_IDS: u32 = 0x8000_0000;
/// The most clients a channel may have (`max-clients=`).
const MAX_CLIENTS_LIMIT: u64 = 65536;

/// Sizes published in `-config`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub max_clients: u64,
    pub client_args: u64,
    pub client_data_size: u64,
    pub control_size: u64,
    pub data_size: u64,
}

impl Layout {
    pub fn new(max_clients: u64, client_args: u64) -> Self {
        let client_data_size = client_args * 8;
        let round = |n: u64| page_ceil(n).expect("bounded sizes");
        Layout {
            max_clients,
            client_args,
            client_data_size,
            control_size: round(max_clients * 8),
            data_size: round(max_clients * client_data_size),
        }
    }

    pub fn encode(&self, enc: Encoder) -> Vec<u8> {
        [
            self.max_clients,
            self.client_args,
            self.client_data_size,
            self.control_size,
            self.data_size,
        ]
        .iter()
        .flat_map(|v| enc.u64(*v))
        .collect()
    }
}

/// The host side of a live channel. Dropping it removes the files, in the
/// process that owns them only: a forked child (or a program it executes)
/// shares the channel and leaves the files to their owner.
pub struct Channel {
    /// The channel's files and their (device, inode): only these are
    /// removed, never a file that took their place.
    files: Vec<(PathBuf, FileId)>,
    /// The process whose exit removes the files (0: none).
    owner_pid: u32,
    /// Whether `create` found the files of a run that had died (killed
    /// without its clean-up) and removed them first.
    pub took_over_abandoned: bool,
    pub layout: Layout,
    /// The data file may be truncated by another process: ht-user's reads
    /// of the slots then find zeros instead of dying (mem::host_fault).
    /// Declared before `data` so it is unwatched before being unmapped.
    _data_watch: crate::mem::host_fault::Registration,
    /// Kept open for the watch (it maps the file back over lost pages).
    _data_file: File,
    data: MmapMut,
    control_id: (u64, u64),
    enc: Encoder,
    /// Last value stored in each control word (two per slot), for reads
    /// and for assembling split stores. Atomic so that every thread's
    /// engine decodes its stores through one shared channel (a client is
    /// normally one thread's; relaxed order is what a store to a device
    /// register gives).
    words: Vec<AtomicU32>,
    ignored_stores: AtomicU64,
    /// The names the guest registered (id -> text), kept so that a forked
    /// child's trace gets them too.
    names: Mutex<std::collections::BTreeMap<u32, Vec<u8>>>,
}

// Every thread's engine of a process decodes its stores through one channel.
const _: fn() = || {
    fn shareable<T: Send + Sync>() {}
    shareable::<Channel>();
};

impl Channel {
    /// Decodes a store into the control file at `offset`. Returns the
    /// (client, arg1) of a completed event. Inlined into the MMIO callback:
    /// it runs twice per event.
    #[inline]
    pub fn decode_store(&self, offset: u64, size: usize, value: u64) -> Option<(u32, u64)> {
        let word = (offset / 4) as usize;
        if word + size.div_ceil(4) > self.words.len()
            || offset % 4 != 0
            || !(size == 4 || size == 8)
        {
            self.ignore_store();
            return None;
        }
        let client = offset / 8;
        let first_word = offset % 8 == 0;
        if size == 8 {
            if !first_word {
                self.ignore_store();
                return None;
            }
            // Keep the words as they would sit in guest memory.
            let bytes = self.enc.u64(value);
            self.words[word].store(self.enc.decode_u32(bytes[..4].try_into().unwrap()), Relaxed);
            self.words[word + 1]
                .store(self.enc.decode_u32(bytes[4..].try_into().unwrap()), Relaxed);
        } else {
            self.words[word].store(value as u32, Relaxed);
            if first_word {
                return None;
            }
        }
        if client >= self.layout.max_clients {
            self.ignore_store();
            return None;
        }
        let slot = client as usize * 2;
        Some((client as u32, self.slot_value(slot)))
    }

    /// The u64 whose guest-memory image is the two words from `first_word`.
    #[inline]
    fn slot_value(&self, first_word: usize) -> u64 {
        let low_address = u64::from(self.words[first_word].load(Relaxed));
        let high_address = u64::from(self.words[first_word + 1].load(Relaxed));
        match self.enc.endian {
            Endian::Little => low_address | high_address << 32,
            Endian::Big => low_address << 32 | high_address,
        }
    }

    /// A guest read of the control file sees the last values stored.
    pub fn read_slot(&self, offset: u64, size: usize) -> u64 {
        let word = (offset / 4) as usize;
        if word + 1 >= self.words.len() || offset % 4 != 0 {
            return 0;
        }
        match size {
            8 if offset % 8 == 0 => self.slot_value(word),
            4 => u64::from(self.words[word].load(Relaxed)),
            _ => 0,
        }
    }

    /// Counts a store that is no event (misplaced, misaligned, beyond the
    /// clients).
    pub fn ignore_store(&self) {
        self.ignored_stores.fetch_add(1, Relaxed);
    }

    /// Stores that were no event, so far.
    pub fn ignored_stores(&self) -> u64 {
        self.ignored_stores.load(Relaxed)
    }

    /// Data slot `k` of `client`, if the channel has that many slots.
    pub fn slot(&self, client: u32, k: usize) -> Option<u64> {
        if (k as u64 + 1) * 8 > self.layout.client_data_size {
            return None;
        }
        self.args(client, k + 1).last()
    }

    /// Remembers that `id` names `text` (replacing an earlier text).
    pub fn set_name(&self, id: u32, text: Vec<u8>) {
        self.lock_names().insert(id, text);
    }

    fn lock_names(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<u32, Vec<u8>>> {
        self.names
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The id of one of ht-user's own names (from [`HOST_NAME_IDS`] up),
    /// and whether it is new (to be written into the trace).
    pub fn host_name(&self, text: &[u8]) -> (u32, bool) {
        let mut names = self.lock_names();
        let own = names.range(HOST_NAME_IDS..);
        if let Some((&id, _)) = own.clone().find(|(_, t)| t.as_slice() == text) {
            return (id, false);
        }
        let id = own
            .last()
            .map_or(HOST_NAME_IDS, |(&id, _)| id.saturating_add(1));
        names.insert(id, text.to_vec());
        (id, true)
    }

    /// The names registered so far, by id.
    pub fn names(&self) -> Vec<(u32, Vec<u8>)> {
        self.lock_names()
            .iter()
            .map(|(id, t)| (*id, t.clone()))
            .collect()
    }

    /// Copies arg2.. of `client` from the shared data file into `out`.
    #[inline]
    pub fn read_args(&self, client: u32, out: &mut [u64]) {
        let n = out.len();
        for (slot, value) in out.iter_mut().zip(self.args(client, n)) {
            *slot = value;
        }
    }

    /// The first `n` data slots of `client` (arg2..), read as the
    /// iterator advances.
    #[inline]
    pub fn args(&self, client: u32, n: usize) -> impl Iterator<Item = u64> + '_ {
        let base = client as usize * self.layout.client_data_size as usize;
        let slots = &self.data[base..base + n * 8];
        let ptr = slots.as_ptr().cast::<u64>();
        let enc = self.enc;
        (0..n).map(move |i| {
            // The guest may store to these bytes at any time; read them
            // with a volatile load so each event sees the current value.
            // SAFETY: slot i lies within `slots` (checked above), which
            // the iterator borrows; the mapping is page-aligned and slots
            // are 8 bytes apart, so the u64 is aligned.
            let raw = unsafe { std::ptr::read_volatile(ptr.add(i)) };
            enc.decode_u64(raw.to_ne_bytes())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    fn channel(dir: &Path, endian: Endian) -> Channel {
        let opts = ChannelOptions::parse(&format!(
            "path={},max-clients=3,args=4",
            dir.join("ht").display()
        ))
        .unwrap();
        Channel::create(&opts, endian).unwrap()
    }

    #[test]
    fn parse_options() {
        let o = ChannelOptions::parse("/tmp/x").unwrap();
        assert_eq!((o.max_clients, o.args), (DEFAULT_MAX_CLIENTS, DEFAULT_ARGS));
        assert!(o.counters, "counting is on by default");
        assert!(
            ChannelOptions::parse("/tmp/x,counters=on")
                .unwrap()
                .counters
        );
        assert!(
            !ChannelOptions::parse("/tmp/x,counters=off")
                .unwrap()
                .counters
        );
        let bad = ChannelOptions::parse("/tmp/x,counters=yes").unwrap_err();
        assert_eq!(bad, ChannelOptionsError::NotOnOrOff("yes".into()));
        assert_eq!(
            bad.to_string(),
            "-hypertrace: counters must be on or off, not 'yes'"
        );
        let o = ChannelOptions::parse("path=/tmp/y,args=2,max-clients=8").unwrap();
        assert_eq!(
            (o.base.to_str().unwrap(), o.max_clients, o.args),
            ("/tmp/y", 8, 2)
        );
        assert_eq!(
            ChannelOptions::parse("path=/a,args=0"),
            Err(ChannelOptionsError::Args(0))
        );
        assert_eq!(
            ChannelOptions::parse("path=/a,args=99")
                .unwrap_err()
                .to_string(),
            "-hypertrace: args must be 1..16, not 99"
        );
        assert_eq!(
            ChannelOptions::parse("/a,max-clients=0")
                .unwrap_err()
                .to_string(),
            "-hypertrace: max-clients must be 1..65536, not 0"
        );
        assert_eq!(
            ChannelOptions::parse("/a,args=two"),
            Err(ChannelOptionsError::NotANumber {
                option: "args",
                value: "two".into()
            })
        );
        assert_eq!(
            ChannelOptions::parse("max-clients=2"),
            Err(ChannelOptionsError::NoBase)
        );
        assert_eq!(
            ChannelOptions::parse("path=/a,colour=red"),
            Err(ChannelOptionsError::UnknownOption("colour=red".into()))
        );
    }

    #[test]
    fn files_layout_and_cleanup() {
        let dir = tempfile::tempdir().unwrap();
        let ch = channel(dir.path(), Endian::Little);
        let config = std::fs::read(dir.path().join("ht-config")).unwrap();
        let vals: Vec<u64> = config
            .chunks(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(vals, [3, 4, 32, 4096, 4096]);
        let mode = std::fs::metadata(dir.path().join("ht-control"))
            .unwrap()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // A second channel on the same base refuses and names the file.
        let opts = ChannelOptions::parse(&dir.path().join("ht").display().to_string()).unwrap();
        let err = Channel::create(&opts, Endian::Little).err().unwrap();
        assert!(
            err.0.contains("ht-config")
                && err.0.contains("ht-control")
                && err.0.contains("already exist"),
            "{err}"
        );
        drop(ch);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn adopted_channel_shares_data_and_leaves_files_to_owner() {
        let dir = tempfile::tempdir().unwrap();
        let opts = ChannelOptions::parse(&format!(
            "path={},max-clients=3,args=4",
            dir.path().join("ht").display()
        ))
        .unwrap();
        let ch = Channel::create(&opts, Endian::Little).unwrap();
        assert!(Channel::files_exist(&opts));
        let adopted = Channel::adopt(&opts, Endian::Little, false, None).unwrap();
        assert_eq!(adopted.control_id(), ch.control_id());
        // The data file is the same memory for both.
        let mut bytes = vec![0u8; 4096];
        bytes[32..40].copy_from_slice(&0xfeed_u64.to_le_bytes());
        std::fs::write(dir.path().join("ht-data"), &bytes).unwrap();
        let mut out = [0u64; 3];
        adopted.read_args(1, &mut out);
        assert_eq!(out[0], 0xfeed);
        drop(adopted);
        assert!(Channel::files_exist(&opts), "only the owner removes them");
        // Another layout is refused.
        let other = ChannelOptions::parse(&format!(
            "path={},max-clients=3,args=2",
            dir.path().join("ht").display()
        ))
        .unwrap();
        let err = Channel::adopt(&other, Endian::Little, false, None)
            .err()
            .unwrap();
        assert!(err.0.contains("another layout"), "{err}");
        // An owning adopter removes them (an execve in the creator).
        let owner = Channel::adopt(&opts, Endian::Little, true, None).unwrap();
        drop(owner);
        assert!(!Channel::files_exist(&opts));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        drop(ch);
    }

    #[test]
    fn big_endian_config() {
        let dir = tempfile::tempdir().unwrap();
        let _ch = channel(dir.path(), Endian::Big);
        let config = std::fs::read(dir.path().join("ht-config")).unwrap();
        assert_eq!(u64::from_be_bytes(config[8..16].try_into().unwrap()), 4);
    }

    #[test]
    fn whole_and_split_stores() {
        let dir = tempfile::tempdir().unwrap();
        let ch = channel(dir.path(), Endian::Little);
        assert_eq!(
            ch.decode_store(8, 8, 0x1_0000_0002),
            Some((1, 0x1_0000_0002))
        );
        assert_eq!(ch.read_slot(8, 8), 0x1_0000_0002);
        // Halves: the low word alone is no event; the high word completes it.
        assert_eq!(ch.decode_store(16, 4, 0xdead_beef), None);
        assert_eq!(ch.decode_store(20, 4, 0x7), Some((2, 0x7_dead_beef)));
        // Beyond max_clients (3) but inside the page: ignored and counted.
        assert_eq!(ch.decode_store(3 * 8, 8, 1), None);
        assert_eq!(ch.decode_store(4090, 4, 1), None);
        assert_eq!(ch.ignored_stores(), 2);
    }

    #[test]
    fn interleaved_split_stores_of_two_clients_do_not_mix() {
        // A 32-bit guest thread is switched out between the two halves of
        // its store; another thread completes a store on its own client.
        let dir = tempfile::tempdir().unwrap();
        let ch = channel(dir.path(), Endian::Little);
        assert_eq!(ch.decode_store(0, 4, 0xaaaa_0001), None);
        assert_eq!(ch.decode_store(8, 4, 0xbbbb_0002), None);
        assert_eq!(ch.decode_store(12, 4, 0xb), Some((1, 0xb_bbbb_0002)));
        assert_eq!(ch.decode_store(4, 4, 0xa), Some((0, 0xa_aaaa_0001)));
        assert_eq!(ch.ignored_stores(), 0);
    }

    #[test]
    fn big_endian_split_store() {
        let dir = tempfile::tempdir().unwrap();
        let ch = channel(dir.path(), Endian::Big);
        // Big-endian: the first word in memory is the high half.
        assert_eq!(ch.decode_store(0, 4, 0x1), None);
        assert_eq!(ch.decode_store(4, 4, 0x2), Some((0, 0x1_0000_0002)));
        assert_eq!(
            ch.decode_store(0, 8, 0x3_0000_0004),
            Some((0, 0x3_0000_0004))
        );
    }

    #[test]
    fn args_come_from_the_data_file() {
        let dir = tempfile::tempdir().unwrap();
        let ch = channel(dir.path(), Endian::Little);
        let mut bytes = vec![0u8; 4096];
        for (i, v) in [0xcafe_u64, 0xdead, 0xbeef].iter().enumerate() {
            let at = 32 + i * 8; // client 1
            bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
        }
        std::fs::write(dir.path().join("ht-data"), &bytes).unwrap();
        let mut out = [0u64; 3];
        ch.read_args(1, &mut out);
        assert_eq!(out, [0xcafe, 0xdead, 0xbeef]);
    }

    #[test]
    fn file_ids_round_trip_and_bad_ones_are_refused() {
        let ids = vec![(2049, 17), (2049, 18), (64768, 1 << 40)];
        assert_eq!(parse_file_ids(&format_file_ids(&ids)).unwrap(), ids);
        for bad in ["", "1", "1:2,3", "x:1", "1:y"] {
            assert!(parse_file_ids(bad).is_err(), "{bad}");
        }
        let e = parse_file_ids("1:2,3:y").unwrap_err();
        assert_eq!(e.problem, FileIdProblem::Inode);
        assert_eq!(
            e.to_string(),
            "channel file ids '1:2,3:y': bad inode number"
        );
    }
}
