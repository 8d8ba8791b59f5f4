// SPDX-License-Identifier: GPL-2.0-or-later
//! s390x as gdb numbers its registers (`gdbstub_arch` has no s390x): the
//! PSW mask and address, r0-r15, the access registers, then the
//! floating-point control register and f0-f15, each big-endian.

use gdbstub::arch::{Arch, Registers};

/// The register file gdb reads and writes (gdb's "s390:64-bit").
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct S390xRegs {
    pub pswm: u64,
    pub pswa: u64,
    pub r: [u64; 16],
    pub acr: [u32; 16],
    pub fpc: u32,
    pub f: [u64; 16],
}

/// Bytes of the register file.
const SIZE: usize = 8 * 2 + 8 * 16 + 4 * 16 + 4 + 8 * 16;

impl Registers for S390xRegs {
    type ProgramCounter = u64;

    fn pc(&self) -> u64 {
        self.pswa
    }

    fn gdb_serialize(&self, mut write_byte: impl FnMut(Option<u8>)) {
        let mut put = |bytes: &[u8]| bytes.iter().for_each(|b| write_byte(Some(*b)));
        put(&self.pswm.to_be_bytes());
        put(&self.pswa.to_be_bytes());
        self.r.iter().for_each(|v| put(&v.to_be_bytes()));
        self.acr.iter().for_each(|v| put(&v.to_be_bytes()));
        put(&self.fpc.to_be_bytes());
        self.f.iter().for_each(|v| put(&v.to_be_bytes()));
    }

    fn gdb_deserialize(&mut self, bytes: &[u8]) -> Result<(), ()> {
        if bytes.len() != SIZE {
            return Err(());
        }
        let mut at = 0;
        let mut next = |size: usize| {
            let mut b = [0u8; 8];
            b[8 - size..].copy_from_slice(&bytes[at..at + size]);
            at += size;
            u64::from_be_bytes(b)
        };
        self.pswm = next(8);
        self.pswa = next(8);
        self.r.iter_mut().for_each(|v| *v = next(8));
        self.acr.iter_mut().for_each(|v| *v = next(4) as u32);
        self.fpc = next(4) as u32;
        self.f.iter_mut().for_each(|v| *v = next(8));
        Ok(())
    }
}

/// gdb's `s390:64-bit` with the core, access and floating-point features.
pub enum S390x {}

impl Arch for S390x {
    type Usize = u64;
    type Registers = S390xRegs;
    type BreakpointKind = usize;
    type RegId = ();

    fn target_description_xml() -> Option<&'static str> {
        Some(TARGET_XML.as_str())
    }
}

/// The target description; its runs of numbered registers are generated.
static TARGET_XML: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n\
         <target version=\"1.0\">\n  <architecture>s390:64-bit</architecture>\n\
         <feature name=\"org.gnu.gdb.s390.core\">\n\
         \x20   <reg name=\"pswm\" bitsize=\"64\" type=\"uint64\" group=\"psw\" regnum=\"0\"/>\n\
         \x20   <reg name=\"pswa\" bitsize=\"64\" type=\"uint64\" group=\"psw\"/>\n\
         {}  </feature>\n  <feature name=\"org.gnu.gdb.s390.acr\">\n{}  </feature>\n\
         <feature name=\"org.gnu.gdb.s390.fpr\">\n\
         \x20   <reg name=\"fpc\" bitsize=\"32\" type=\"uint32\" group=\"float\" regnum=\"34\"/>\n\
         {}  </feature>\n</target>\n",
        super::numbered_regs("r", 16, 64, "uint64", 2),
        super::numbered_regs("acr", 16, 32, "uint32", 18),
        super::numbered_regs("f", 16, 64, "ieee_double", 35),
    )
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_round_trip_in_gdbs_order_and_big_endian() {
        let mut regs = S390xRegs {
            pswm: 0x0705_0001_8000_0000,
            pswa: 0x1000_0abc,
            fpc: 0x8,
            ..S390xRegs::default()
        };
        regs.r[15] = 0x3ff_ffff_f000;
        regs.acr[1] = 0x1234;
        let mut bytes = Vec::new();
        regs.gdb_serialize(|b| bytes.push(b.unwrap()));
        assert_eq!(bytes.len(), SIZE);
        assert_eq!(&bytes[8..16], &0x1000_0abcu64.to_be_bytes());
        let mut back = S390xRegs::default();
        back.gdb_deserialize(&bytes).unwrap();
        assert_eq!(back, regs);
        assert!(TARGET_XML.contains("<reg name=\"acr15\" bitsize=\"32\""));
    }
}
