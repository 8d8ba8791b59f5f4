// SPDX-License-Identifier: GPL-2.0-or-later
//! 64-bit PowerPC as gdb numbers its registers (`gdbstub_arch` has only
//! the 32-bit one): the general registers, the floating-point registers,
//! then pc, msr, cr, lr, ctr, xer and fpscr, each in the guest's byte
//! order (little-endian: ht-user runs ppc64le).

use gdbstub::arch::{Arch, Registers};

/// The register file gdb reads and writes (gdb's rs6000 64-bit numbering).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ppc64Regs {
    pub r: [u64; 32],
    pub f: [u64; 32],
    pub pc: u64,
    pub msr: u64,
    pub cr: u32,
    pub lr: u64,
    pub ctr: u64,
    pub xer: u32,
    pub fpscr: u32,
}

impl Ppc64Regs {
    /// The size of each register in gdb's order, for (de)serialising.
    const SIZES: [usize; 7] = [8, 8, 4, 8, 8, 4, 4];
}

impl Registers for Ppc64Regs {
    type ProgramCounter = u64;

    fn pc(&self) -> u64 {
        self.pc
    }

    fn gdb_serialize(&self, mut write_byte: impl FnMut(Option<u8>)) {
        let mut put = |bytes: &[u8]| bytes.iter().for_each(|b| write_byte(Some(*b)));
        for v in self.r.iter().chain(&self.f) {
            put(&v.to_le_bytes());
        }
        put(&self.pc.to_le_bytes());
        put(&self.msr.to_le_bytes());
        put(&self.cr.to_le_bytes());
        put(&self.lr.to_le_bytes());
        put(&self.ctr.to_le_bytes());
        put(&self.xer.to_le_bytes());
        put(&self.fpscr.to_le_bytes());
    }

    fn gdb_deserialize(&mut self, bytes: &[u8]) -> Result<(), ()> {
        let specials: usize = Self::SIZES.iter().sum();
        if bytes.len() != 64 * 8 + specials {
            return Err(());
        }
        let (words, rest) = bytes.split_at(64 * 8);
        for (i, chunk) in words.chunks_exact(8).enumerate() {
            let v = u64::from_le_bytes(chunk.try_into().map_err(|_| ())?);
            if i < 32 {
                self.r[i] = v;
            } else {
                self.f[i - 32] = v;
            }
        }
        let mut at = 0;
        let mut next = |size: usize| {
            let mut b = [0u8; 8];
            b[..size].copy_from_slice(&rest[at..at + size]);
            at += size;
            u64::from_le_bytes(b)
        };
        self.pc = next(8);
        self.msr = next(8);
        self.cr = next(4) as u32;
        self.lr = next(8);
        self.ctr = next(8);
        self.xer = next(4) as u32;
        self.fpscr = next(4) as u32;
        Ok(())
    }
}

/// gdb's `powerpc:common64` with the core and floating-point features.
pub enum Ppc64 {}

impl Arch for Ppc64 {
    type Usize = u64;
    type Registers = Ppc64Regs;
    type BreakpointKind = usize;
    type RegId = ();

    fn target_description_xml() -> Option<&'static str> {
        Some(TARGET_XML.as_str())
    }
}

/// The target description; its runs of numbered registers are generated.
static TARGET_XML: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "<?xml version=\"1.0\"?>\n\
         <!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n\
         <target version=\"1.0\">\n  \
         <architecture>powerpc:common64</architecture>\n  \
         <feature name=\"org.gnu.gdb.power.core\">\n{}    \
         <reg name=\"pc\" bitsize=\"64\" type=\"code_ptr\" regnum=\"64\"/>\n    \
         <reg name=\"msr\" bitsize=\"64\" type=\"uint64\"/>\n    \
         <reg name=\"cr\" bitsize=\"32\" type=\"uint32\"/>\n    \
         <reg name=\"lr\" bitsize=\"64\" type=\"code_ptr\"/>\n    \
         <reg name=\"ctr\" bitsize=\"64\" type=\"uint64\"/>\n    \
         <reg name=\"xer\" bitsize=\"32\" type=\"uint32\"/>\n  \
         </feature>\n  \
         <feature name=\"org.gnu.gdb.power.fpu\">\n{}    \
         <reg name=\"fpscr\" bitsize=\"32\" group=\"float\" regnum=\"70\"/>\n  \
         </feature>\n\
         </target>\n",
        super::numbered_regs("r", 32, 64, "uint64", 0),
        super::numbered_regs("f", 32, 64, "ieee_double", 32),
    )
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_round_trip_in_gdbs_order() {
        let mut regs = Ppc64Regs {
            pc: 0x1000_0abc,
            cr: 0x2200_0044,
            xer: 0x2000_0000,
            fpscr: 0x8,
            lr: 0x1000_0100,
            ..Ppc64Regs::default()
        };
        regs.r[1] = 0x7fff_0000;
        regs.f[31] = 1.5f64.to_bits();
        let mut bytes = Vec::new();
        regs.gdb_serialize(|b| bytes.push(b.unwrap()));
        assert_eq!(bytes.len(), 64 * 8 + 8 + 8 + 4 + 8 + 8 + 4 + 4);
        // pc is register 64, right after f31.
        assert_eq!(&bytes[512..520], &0x1000_0abcu64.to_le_bytes());
        assert_eq!(&bytes[528..532], &0x2200_0044u32.to_le_bytes());
        let mut back = Ppc64Regs::default();
        back.gdb_deserialize(&bytes).unwrap();
        assert_eq!(back, regs);
        assert!(back.gdb_deserialize(&bytes[1..]).is_err());
        // gdb numbers f0 after r31, and the runs end where pc and fpscr start.
        assert!(TARGET_XML
            .contains("<reg name=\"f0\" bitsize=\"64\" type=\"ieee_double\" regnum=\"32\"/>"));
        assert!(TARGET_XML
            .contains("<reg name=\"r31\" bitsize=\"64\" type=\"uint64\"/>\n    <reg name=\"pc\""));
    }
}
