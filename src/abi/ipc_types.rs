// SPDX-License-Identifier: GPL-2.0-or-later
//! The System V IPC structures (`ipc64_perm`, `shmid64_ds`, `semid64_ds`,
//! `msqid64_ds`) in each ABI's layout, word size and byte order.

use crate::mem::{Encoder, StructBuilder};

/// How an ABI's SysV IPC structures differ from the kernel's generic ones
/// (`asm-generic/{shm,sem,msg}buf.h` at the ABI's word size); see
/// `IpcCodec`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpcLayout {
    /// aarch64, riscv64, arm, i386: the generic layouts.
    Generic,
    /// x86_64: `semid64_ds` has a padding word after each time.
    X86_64,
    /// 32-bit MIPS: `shmid64_ds` and `semid64_ds` keep the times' high
    /// halves after the other fields.
    Mips32,
    /// 64-bit PowerPC: `shmid64_ds` has its times before `shm_segsz`.
    Ppc64,
    /// s390x: `ipc64_perm` has a 16-bit pad before `seq`.
    S390x,
}

/// `struct ipc64_perm`: one layout on every ABI ht-user runs (words of
/// the ABI's size after seq); `mode` is read as 32 bits, which for the
/// 16-bit mode of i386 and arm takes the zero padding after it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpcPerm {
    pub key: i32,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    pub mode: u32,
    pub seq: u16,
}

/// `struct shmid64_ds`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShmDs {
    pub perm: IpcPerm,
    pub segsz: u64,
    pub atime: i64,
    pub dtime: i64,
    pub ctime: i64,
    pub cpid: i32,
    pub lpid: i32,
    pub nattch: u64,
}

/// `struct semid64_ds`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SemDs {
    pub perm: IpcPerm,
    pub otime: i64,
    pub ctime: i64,
    pub nsems: u64,
}

/// `struct msqid64_ds`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MsqDs {
    pub perm: IpcPerm,
    pub stime: i64,
    pub rtime: i64,
    pub ctime: i64,
    pub cbytes: u64,
    pub qnum: u64,
    pub qbytes: u64,
    pub lspid: i32,
    pub lrpid: i32,
}

/// Where a time's upper 32 bits go on a 32-bit ABI.
#[derive(Clone, Copy)]
enum High {
    /// A word of its own at this offset.
    Word(usize),
    /// A 16-bit field at this offset (MIPS `shmid64_ds`).
    Half(usize),
}

/// Encodes and decodes the SysV IPC structures of one ABI (or of the
/// host): the layout, the word size and the byte order.
#[derive(Clone, Copy)]
pub struct IpcCodec {
    pub layout: IpcLayout,
    pub word: usize,
    pub enc: Encoder,
}

/// Field offsets of `shmid64_ds`: segsz, times (with their high halves on
/// 32-bit ABIs), cpid, lpid, nattch, and the size.
struct ShmAt {
    segsz: usize,
    times: [(usize, Option<High>); 3],
    cpid: usize,
    lpid: usize,
    nattch: usize,
    size: usize,
}

struct SemAt {
    times: [(usize, Option<High>); 2],
    nsems: usize,
    size: usize,
}

struct MsqAt {
    times: [(usize, Option<High>); 3],
    cbytes: usize,
    qnum: usize,
    qbytes: usize,
    lspid: usize,
    lrpid: usize,
    size: usize,
}

impl IpcCodec {
    fn shm_at(self) -> ShmAt {
        use IpcLayout::*;
        let w = |o| Some(High::Word(o));
        match (self.word, self.layout) {
            (8, Ppc64) => ShmAt {
                segsz: 72,
                times: [(48, None), (56, None), (64, None)],
                cpid: 80,
                lpid: 84,
                nattch: 88,
                size: 112,
            },
            (8, _) => ShmAt {
                segsz: 48,
                times: [(56, None), (64, None), (72, None)],
                cpid: 80,
                lpid: 84,
                nattch: 88,
                size: 112,
            },
            (_, Mips32) => ShmAt {
                segsz: 36,
                times: [
                    (40, Some(High::Half(64))),
                    (44, Some(High::Half(66))),
                    (48, Some(High::Half(68))),
                ],
                cpid: 52,
                lpid: 56,
                nattch: 60,
                size: 72,
            },
            _ => ShmAt {
                segsz: 36,
                times: [(40, w(44)), (48, w(52)), (56, w(60))],
                cpid: 64,
                lpid: 68,
                nattch: 72,
                size: 84,
            },
        }
    }

    fn sem_at(self) -> SemAt {
        use IpcLayout::*;
        match (self.word, self.layout) {
            (8, X86_64) => SemAt {
                times: [(48, None), (64, None)],
                nsems: 80,
                size: 104,
            },
            (8, _) => SemAt {
                times: [(48, None), (56, None)],
                nsems: 64,
                size: 88,
            },
            (_, Mips32) => SemAt {
                times: [(36, Some(High::Word(48))), (40, Some(High::Word(52)))],
                nsems: 44,
                size: 56,
            },
            _ => SemAt {
                times: [(36, Some(High::Word(40))), (44, Some(High::Word(48)))],
                nsems: 52,
                size: 64,
            },
        }
    }

    fn msq_at(self) -> MsqAt {
        if self.word == 8 {
            MsqAt {
                times: [(48, None), (56, None), (64, None)],
                cbytes: 72,
                qnum: 80,
                qbytes: 88,
                lspid: 96,
                lrpid: 100,
                size: 120,
            }
        } else {
            let w = |o| Some(High::Word(o));
            MsqAt {
                times: [(36, w(40)), (44, w(48)), (52, w(56))],
                cbytes: 60,
                qnum: 64,
                qbytes: 68,
                lspid: 72,
                lrpid: 76,
                size: 88,
            }
        }
    }

    /// Size of `shmid64_ds`, `semid64_ds` and `msqid64_ds`.
    pub fn shm_size(self) -> usize {
        self.shm_at().size
    }
    pub fn sem_size(self) -> usize {
        self.sem_at().size
    }
    pub fn msq_size(self) -> usize {
        self.msq_at().size
    }

    fn u16_at(self, b: &[u8], at: usize) -> u16 {
        let v = [b[at], b[at + 1]];
        match self.enc.endian {
            crate::mem::Endian::Little => u16::from_le_bytes(v),
            crate::mem::Endian::Big => u16::from_be_bytes(v),
        }
    }
    fn u32_at(self, b: &[u8], at: usize) -> u32 {
        self.enc.decode_u32(b[at..at + 4].try_into().unwrap())
    }
    fn word_at(self, b: &[u8], at: usize) -> u64 {
        if self.word == 8 {
            self.enc.decode_u64(b[at..at + 8].try_into().unwrap())
        } else {
            u64::from(self.u32_at(b, at))
        }
    }
    fn put_word(self, s: &mut StructBuilder, at: usize, v: u64) {
        if self.word == 8 {
            s.u64(at, v);
        } else {
            s.u32(at, v as u32);
        }
    }
    fn time_at(self, b: &[u8], (at, high): (usize, Option<High>)) -> i64 {
        let low = self.word_at(b, at);
        match high {
            None => low as i64,
            Some(High::Word(h)) => ((u64::from(self.u32_at(b, h)) << 32) | low) as i64,
            Some(High::Half(h)) => ((u64::from(self.u16_at(b, h)) << 32) | low) as i64,
        }
    }
    fn put_time(self, s: &mut StructBuilder, (at, high): (usize, Option<High>), v: i64) {
        self.put_word(s, at, v as u64);
        match high {
            None => {}
            Some(High::Word(h)) => {
                s.u32(h, (v as u64 >> 32) as u32);
            }
            Some(High::Half(h)) => {
                s.u16(h, (v as u64 >> 32) as u16);
            }
        }
    }

    /// Where `ipc64_perm` keeps `seq`.
    fn seq_at(self) -> usize {
        if self.layout == IpcLayout::S390x {
            26
        } else {
            24
        }
    }

    fn perm(self, b: &[u8]) -> IpcPerm {
        IpcPerm {
            key: self.u32_at(b, 0) as i32,
            uid: self.u32_at(b, 4),
            gid: self.u32_at(b, 8),
            cuid: self.u32_at(b, 12),
            cgid: self.u32_at(b, 16),
            mode: self.u32_at(b, 20),
            seq: self.u16_at(b, self.seq_at()),
        }
    }
    fn put_perm(self, s: &mut StructBuilder, p: &IpcPerm) {
        s.u32(0, p.key as u32)
            .u32(4, p.uid)
            .u32(8, p.gid)
            .u32(12, p.cuid)
            .u32(16, p.cgid)
            .u32(20, p.mode)
            .u16(self.seq_at(), p.seq);
    }

    /// Decodes `shmid64_ds`; `b` holds at least [`IpcCodec::shm_size`] bytes.
    pub fn decode_shm(self, b: &[u8]) -> ShmDs {
        let at = self.shm_at();
        ShmDs {
            perm: self.perm(b),
            segsz: self.word_at(b, at.segsz),
            atime: self.time_at(b, at.times[0]),
            dtime: self.time_at(b, at.times[1]),
            ctime: self.time_at(b, at.times[2]),
            cpid: self.u32_at(b, at.cpid) as i32,
            lpid: self.u32_at(b, at.lpid) as i32,
            nattch: self.word_at(b, at.nattch),
        }
    }
    pub fn encode_shm(self, d: &ShmDs) -> Vec<u8> {
        let at = self.shm_at();
        let mut s = StructBuilder::new(at.size, self.enc);
        self.put_perm(&mut s, &d.perm);
        self.put_word(&mut s, at.segsz, d.segsz);
        self.put_time(&mut s, at.times[0], d.atime);
        self.put_time(&mut s, at.times[1], d.dtime);
        self.put_time(&mut s, at.times[2], d.ctime);
        s.u32(at.cpid, d.cpid as u32).u32(at.lpid, d.lpid as u32);
        self.put_word(&mut s, at.nattch, d.nattch);
        s.bytes
    }

    pub fn decode_sem(self, b: &[u8]) -> SemDs {
        let at = self.sem_at();
        SemDs {
            perm: self.perm(b),
            otime: self.time_at(b, at.times[0]),
            ctime: self.time_at(b, at.times[1]),
            nsems: self.word_at(b, at.nsems),
        }
    }
    pub fn encode_sem(self, d: &SemDs) -> Vec<u8> {
        let at = self.sem_at();
        let mut s = StructBuilder::new(at.size, self.enc);
        self.put_perm(&mut s, &d.perm);
        self.put_time(&mut s, at.times[0], d.otime);
        self.put_time(&mut s, at.times[1], d.ctime);
        self.put_word(&mut s, at.nsems, d.nsems);
        s.bytes
    }

    pub fn decode_msq(self, b: &[u8]) -> MsqDs {
        let at = self.msq_at();
        MsqDs {
            perm: self.perm(b),
            stime: self.time_at(b, at.times[0]),
            rtime: self.time_at(b, at.times[1]),
            ctime: self.time_at(b, at.times[2]),
            cbytes: self.word_at(b, at.cbytes),
            qnum: self.word_at(b, at.qnum),
            qbytes: self.word_at(b, at.qbytes),
            lspid: self.u32_at(b, at.lspid) as i32,
            lrpid: self.u32_at(b, at.lrpid) as i32,
        }
    }
    pub fn encode_msq(self, d: &MsqDs) -> Vec<u8> {
        let at = self.msq_at();
        let mut s = StructBuilder::new(at.size, self.enc);
        self.put_perm(&mut s, &d.perm);
        self.put_time(&mut s, at.times[0], d.stime);
        self.put_time(&mut s, at.times[1], d.rtime);
        self.put_time(&mut s, at.times[2], d.ctime);
        self.put_word(&mut s, at.cbytes, d.cbytes);
        self.put_word(&mut s, at.qnum, d.qnum);
        self.put_word(&mut s, at.qbytes, d.qbytes);
        s.u32(at.lspid, d.lspid as u32)
            .u32(at.lrpid, d.lrpid as u32);
        s.bytes
    }

    /// Converts a structure of `words` longs (`shminfo64`: 9) or of an
    /// int followed by longs (`shm_info`: `int_first`) from `from`'s
    /// layout to this one's; a 32-bit ABI keeps the low halves.
    pub fn convert_longs(self, from: IpcCodec, b: &[u8], words: usize, int_first: bool) -> Vec<u8> {
        let (from_start, to_start) = if int_first {
            (from.word, self.word)
        } else {
            (0, 0)
        };
        let mut s = StructBuilder::new(to_start + words * self.word, self.enc);
        if int_first {
            s.u32(0, from.u32_at(b, 0));
        }
        for i in 0..words {
            let v = from.word_at(b, from_start + i * from.word);
            self.put_word(&mut s, to_start + i * self.word, v);
        }
        s.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::Endian;

    fn codec(layout: IpcLayout, word: usize) -> IpcCodec {
        IpcCodec {
            layout,
            word,
            enc: Encoder {
                endian: Endian::Little,
            },
        }
    }

    fn perm() -> IpcPerm {
        IpcPerm {
            key: 0x1234,
            uid: 1000,
            gid: 100,
            cuid: 1001,
            cgid: 101,
            mode: 0o600,
            seq: 7,
        }
    }

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn ipc_structures_round_trip_in_every_layout() {
        let shm = ShmDs {
            perm: perm(),
            segsz: 10000,
            atime: 0x1_2345_6789,
            dtime: 5,
            ctime: 6,
            cpid: 42,
            lpid: 43,
            nattch: 2,
        };
        let sem = SemDs {
            perm: perm(),
            otime: 0x1_0000_0001,
            ctime: 9,
            nsems: 3,
        };
        let msq = MsqDs {
            perm: perm(),
            stime: 0x2_0000_0003,
            rtime: 4,
            ctime: 5,
            cbytes: 14,
            qnum: 3,
            qbytes: 16384,
            lspid: 50,
            lrpid: 51,
        };
        for (layout, word) in [
            (IpcLayout::Generic, 8),
            (IpcLayout::X86_64, 8),
            (IpcLayout::Generic, 4),
            (IpcLayout::Mips32, 4),
            (IpcLayout::Ppc64, 8),
            (IpcLayout::S390x, 8),
        ] {
            let c = codec(layout, word);
            let b = c.encode_shm(&shm);
            assert_eq!(b.len(), c.shm_size());
            assert_eq!(c.decode_shm(&b), shm, "{layout:?} {word}");
            assert_eq!(c.decode_sem(&c.encode_sem(&sem)), sem, "{layout:?} {word}");
            assert_eq!(c.decode_msq(&c.encode_msq(&msq)), msq, "{layout:?} {word}");
        }
    }

    #[test]
    fn ipc_layouts_put_fields_where_the_kernel_does() {
        let shm = ShmDs {
            cpid: 42,
            atime: 0x1_0000_0002,
            ..ShmDs::default()
        };
        // i386/arm: cpid after three time pairs; mips: after three times.
        let b = codec(IpcLayout::Generic, 4).encode_shm(&shm);
        assert_eq!((b.len(), u32_at(&b, 64), u32_at(&b, 44)), (84, 42, 1));
        let b = codec(IpcLayout::Mips32, 4).encode_shm(&shm);
        assert_eq!((b.len(), u32_at(&b, 52), b[64]), (72, 42, 1));
        // ppc64: the times come before shm_segsz.
        let segment = ShmDs { segsz: 4096, ..shm };
        let b = codec(IpcLayout::Ppc64, 8).encode_shm(&segment);
        assert_eq!(
            (b.len(), u32_at(&b, 72), u32_at(&b, 80), u32_at(&b, 48)),
            (112, 4096, 42, 2)
        );
        // x86_64 semid64_ds pads each time; aarch64's does not.
        let sem = SemDs {
            nsems: 2,
            ..SemDs::default()
        };
        assert_eq!(u32_at(&codec(IpcLayout::X86_64, 8).encode_sem(&sem), 80), 2);
        assert_eq!(
            u32_at(&codec(IpcLayout::Generic, 8).encode_sem(&sem), 64),
            2
        );
        assert_eq!(u32_at(&codec(IpcLayout::Mips32, 4).encode_sem(&sem), 44), 2);
        assert_eq!(
            u32_at(&codec(IpcLayout::Generic, 4).encode_sem(&sem), 52),
            2
        );
    }
}
