// SPDX-License-Identifier: GPL-2.0-or-later
//! `-d in_asm`: each guest block, disassembled (capstone) the first time
//! it runs, in the log as qemu-user writes it:
//!
//! ```text
//! ----------------
//! IN:
//! 0x00401000:  xor ebp, ebp
//! ```

use capstone::arch::{self, BuildsCapstone, BuildsCapstoneEndian, BuildsCapstoneExtraMode};
use capstone::Capstone;

/// Disassemblers for one guest architecture (arm: Arm and Thumb state).
pub struct Disassembler {
    main: Capstone,
    thumb: Option<Capstone>,
}

/// Why no disassembler could be set up.
#[derive(Debug, thiserror::Error)]
pub enum DisasmError {
    #[error("no disassembler for {0}")]
    Unsupported(String),
    #[error("cannot set up the {arch} disassembler: {source}")]
    Capstone {
        arch: String,
        source: capstone::Error,
    },
}

impl Disassembler {
    /// The disassembler of the architecture QEMU calls `arch`.
    pub fn for_arch(arch: &str) -> Result<Disassembler, DisasmError> {
        let err = |source: capstone::Error| DisasmError::Capstone {
            arch: arch.to_string(),
            source,
        };
        let main = match arch {
            "x86_64" => Capstone::new()
                .x86()
                .mode(arch::x86::ArchMode::Mode64)
                .build(),
            "i386" => Capstone::new()
                .x86()
                .mode(arch::x86::ArchMode::Mode32)
                .build(),
            "aarch64" => Capstone::new()
                .arm64()
                .mode(arch::arm64::ArchMode::Arm)
                .build(),
            "arm" => Capstone::new().arm().mode(arch::arm::ArchMode::Arm).build(),
            "riscv64" => Capstone::new()
                .riscv()
                .mode(arch::riscv::ArchMode::RiscV64)
                .extra_mode([arch::riscv::ArchExtraMode::RiscVC].into_iter())
                .build(),
            "mipsel" => Capstone::new()
                .mips()
                .mode(arch::mips::ArchMode::Mips32)
                .endian(capstone::Endian::Little)
                .build(),
            "mips64el" => Capstone::new()
                .mips()
                .mode(arch::mips::ArchMode::Mips64)
                .endian(capstone::Endian::Little)
                .build(),
            "ppc64le" => Capstone::new()
                .ppc()
                .mode(arch::ppc::ArchMode::Mode64)
                .endian(capstone::Endian::Little)
                .build(),
            "s390x" => Capstone::new()
                .sysz()
                .mode(arch::sysz::ArchMode::Default)
                .build(),
            other => return Err(DisasmError::Unsupported(other.to_string())),
        }
        .map_err(err)?;
        let thumb = if arch == "arm" {
            Some(
                Capstone::new()
                    .arm()
                    .mode(arch::arm::ArchMode::Thumb)
                    .build()
                    .map_err(err)?,
            )
        } else {
            None
        };
        Ok(Disassembler { main, thumb })
    }

    /// The block's instructions, one line each (`0xADDR:  mnemonic ops`);
    /// bytes capstone cannot decode end the listing with a `.byte` line.
    pub fn block(&self, code: &[u8], pc: u64, thumb: bool) -> Vec<String> {
        let cs = match (&self.thumb, thumb) {
            (Some(t), true) => t,
            _ => &self.main,
        };
        let mut lines = Vec::new();
        let mut used = 0usize;
        if let Ok(insns) = cs.disasm_all(code, pc) {
            for i in insns.iter() {
                let ops = i.op_str().unwrap_or("");
                let text = format!("{} {ops}", i.mnemonic().unwrap_or("?"));
                lines.push(format!("{:#010x}:  {}", i.address(), text.trim_end()));
                used += i.len();
            }
        }
        if used < code.len() {
            let rest: Vec<String> = code[used..].iter().map(|b| format!("{b:#04x}")).collect();
            lines.push(format!(
                "{:#010x}:  .byte {}",
                pc + used as u64,
                rest.join(", ")
            ));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_architecture_decodes_a_known_instruction() {
        let cases: [(&str, &[u8], bool, &str); 9] = [
            ("x86_64", &[0x31, 0xed], false, "xor ebp, ebp"),
            ("i386", &[0x89, 0xe5], false, "mov ebp, esp"),
            ("aarch64", &[0x20, 0x00, 0x80, 0xd2], false, "mov x0, #1"),
            ("arm", &[0x01, 0x00, 0xa0, 0xe3], false, "mov r0, #1"),
            ("arm", &[0x01, 0x20], true, "movs r0, #1"),
            ("riscv64", &[0x05, 0x45], false, "c.li a0, 1"),
            (
                "mipsel",
                &[0x01, 0x00, 0x02, 0x24],
                false,
                "addiu $v0, $zero, 1",
            ),
            (
                "mips64el",
                &[0x01, 0x00, 0x02, 0x64],
                false,
                "daddiu $v0, $zero, 1",
            ),
            ("ppc64le", &[0x01, 0x00, 0x60, 0x38], false, "li r3, 1"),
        ];
        for (arch, code, thumb, want) in cases {
            let d = Disassembler::for_arch(arch).unwrap();
            let lines = d.block(code, 0x1000, thumb);
            assert_eq!(lines, vec![format!("0x00001000:  {want}")], "{arch}");
        }
        let d = Disassembler::for_arch("x86_64").unwrap();
        let lines = d.block(&[0x31, 0xed, 0x0f], 0x1000, false);
        assert_eq!(lines[1], "0x00001002:  .byte 0x0f");
    }
}
