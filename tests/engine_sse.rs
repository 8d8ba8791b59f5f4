// SPDX-License-Identifier: GPL-2.0-or-later
//! The x86 SSE integer ops that patch 0007 translates as vector code (66-prefixed
//! padd*, psub*, pand, pandn, por, pxor, and psrl*/psra*/psll* by an immediate),
//! run on the engine alone with pseudo-random 128-bit inputs and compared bit
//! for bit with a lane-by-lane reference computed here. The results were right
//! before the patch too: these tests guard that the patch keeps them so.

use unicorn_engine::unicorn_const::{Arch, Mode, Prot};
use unicorn_engine::{RegisterX86, Unicorn};

const CODE: u64 = 0x10000;
const CODE_SIZE: u64 = 0x10000;
const DATA: u64 = 0x40000;
const DATA_SIZE: u64 = 0x1000;
/// Random inputs per instruction form.
const ITERATIONS: usize = 1000;

const XMM: [RegisterX86; 16] = [
    RegisterX86::XMM0,
    RegisterX86::XMM1,
    RegisterX86::XMM2,
    RegisterX86::XMM3,
    RegisterX86::XMM4,
    RegisterX86::XMM5,
    RegisterX86::XMM6,
    RegisterX86::XMM7,
    RegisterX86::XMM8,
    RegisterX86::XMM9,
    RegisterX86::XMM10,
    RegisterX86::XMM11,
    RegisterX86::XMM12,
    RegisterX86::XMM13,
    RegisterX86::XMM14,
    RegisterX86::XMM15,
];

/// Fixed-seed xorshift64*, so that a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Mostly random values, with lane-boundary patterns (carries, borrows,
    /// sign bits) every now and then.
    fn next_u128(&mut self) -> u128 {
        const EDGES: [u128; 6] = [
            0,
            u128::MAX,
            0x8000_0000_0000_0000_8000_0000_0000_0000,
            0x7fff_ffff_ffff_ffff_7fff_ffff_ffff_ffff,
            0x8080_8080_8080_8080_8080_8080_8080_8080,
            0x0001_0001_0001_0001_0001_0001_0001_0001,
        ];
        let word = u128::from(self.next_u64()) << 64 | u128::from(self.next_u64());
        if word % 8 == 0 {
            EDGES[(word >> 64) as usize % EDGES.len()]
        } else {
            word
        }
    }
}

/// One engine with a code area where each snippet gets its own address (so
/// no translation is ever stale) and a page of data.
struct Guest {
    uc: Unicorn<'static, ()>,
    next_code: u64,
}

/// A loaded snippet: run from `start` until `end`.
#[derive(Clone, Copy)]
struct Snippet {
    start: u64,
    end: u64,
}

impl Guest {
    fn new() -> Self {
        let mut uc = Unicorn::new(Arch::X86, Mode::MODE_64).expect("engine");
        uc.mem_map(CODE, CODE_SIZE, Prot::READ | Prot::EXEC)
            .unwrap();
        uc.mem_map(DATA, DATA_SIZE, Prot::READ | Prot::WRITE)
            .unwrap();
        Guest {
            uc,
            next_code: CODE,
        }
    }

    fn load(&mut self, code: &[u8]) -> Snippet {
        let start = self.next_code;
        self.uc.mem_write(start, code).unwrap();
        self.next_code += (code.len() as u64).next_multiple_of(64);
        assert!(self.next_code <= CODE + CODE_SIZE, "code area full");
        Snippet {
            start,
            end: start + code.len() as u64,
        }
    }

    fn run(&mut self, snippet: Snippet) {
        self.uc.emu_start(snippet.start, snippet.end, 0, 0).unwrap();
    }

    fn set_xmm(&mut self, n: usize, value: u128) {
        self.uc
            .reg_write_long(XMM[n], &value.to_le_bytes())
            .unwrap();
    }

    fn xmm(&self, n: usize) -> u128 {
        let bytes = self.uc.reg_read_long(XMM[n]).unwrap();
        u128::from_le_bytes(bytes[..16].try_into().unwrap())
    }

    fn set_rsi(&mut self, value: u64) {
        self.uc.reg_write(RegisterX86::RSI, value).unwrap();
    }

    fn write_u128(&mut self, address: u64, value: u128) {
        self.uc.mem_write(address, &value.to_le_bytes()).unwrap();
    }
}

/// Applies `f` to each `bits`-wide lane of `a` and `b` (`f` sees the lanes
/// zero-extended and its result is truncated to the lane).
fn lanes(a: u128, b: u128, bits: u32, f: impl Fn(u64, u64) -> u64) -> u128 {
    let mask = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    (0..128 / bits).fold(0u128, |acc, i| {
        let shift = i * bits;
        let x = (a >> shift) as u64 & mask;
        let y = (b >> shift) as u64 & mask;
        acc | u128::from(f(x, y) & mask) << shift
    })
}

/// Sign-extends the low `bits` of `x` to 64 bits.
fn sign_extend(x: u64, bits: u32) -> i64 {
    ((x << (64 - bits)) as i64) >> (64 - bits)
}

/// The reference of a shift of each `bits`-wide lane of `d` by `count`:
/// past the lane width a logical shift gives zero and an arithmetic one
/// fills the lane with its sign.
fn shift(kind: Shift, bits: u32, count: u32, d: u128) -> u128 {
    lanes(d, 0, bits, |x, _| match kind {
        Shift::RightLogical if count >= bits => 0,
        Shift::RightLogical => x >> count,
        Shift::RightArithmetic => (sign_extend(x, bits) >> count.min(bits - 1)) as u64,
        Shift::Left if count >= bits => 0,
        Shift::Left => x << count,
    })
}

#[derive(Clone, Copy)]
enum Shift {
    RightLogical,
    RightArithmetic,
    Left,
}

/// A two-operand op in four forms; `reference(dst, src)` is the new dst.
struct AluOp {
    name: &'static str,
    reference: fn(u128, u128) -> u128,
    /// op xmm1, xmm2
    low: &'static [u8],
    /// op xmm9, xmm14 (REX.R and REX.B)
    high: &'static [u8],
    /// op xmm5, xmm5
    same: &'static [u8],
    /// op xmm3, xmmword ptr [rsi]
    memory: &'static [u8],
}

// Encodings from llvm-mc -triple=x86_64-linux-gnu -show-encoding.
const ALU_OPS: [AluOp; 12] = [
    AluOp {
        name: "paddb",
        reference: |d, s| lanes(d, s, 8, u64::wrapping_add),
        low: &[0x66, 0x0f, 0xfc, 0xca],        // paddb xmm1, xmm2
        high: &[0x66, 0x45, 0x0f, 0xfc, 0xce], // paddb xmm9, xmm14
        same: &[0x66, 0x0f, 0xfc, 0xed],       // paddb xmm5, xmm5
        memory: &[0x66, 0x0f, 0xfc, 0x1e],     // paddb xmm3, xmmword ptr [rsi]
    },
    AluOp {
        name: "paddw",
        reference: |d, s| lanes(d, s, 16, u64::wrapping_add),
        low: &[0x66, 0x0f, 0xfd, 0xca],        // paddw xmm1, xmm2
        high: &[0x66, 0x45, 0x0f, 0xfd, 0xce], // paddw xmm9, xmm14
        same: &[0x66, 0x0f, 0xfd, 0xed],       // paddw xmm5, xmm5
        memory: &[0x66, 0x0f, 0xfd, 0x1e],     // paddw xmm3, xmmword ptr [rsi]
    },
    AluOp {
        name: "paddd",
        reference: |d, s| lanes(d, s, 32, u64::wrapping_add),
        low: &[0x66, 0x0f, 0xfe, 0xca],        // paddd xmm1, xmm2
        high: &[0x66, 0x45, 0x0f, 0xfe, 0xce], // paddd xmm9, xmm14
        same: &[0x66, 0x0f, 0xfe, 0xed],       // paddd xmm5, xmm5
        memory: &[0x66, 0x0f, 0xfe, 0x1e],     // paddd xmm3, xmmword ptr [rsi]
    },
    AluOp {
        name: "paddq",
        reference: |d, s| lanes(d, s, 64, u64::wrapping_add),
        low: &[0x66, 0x0f, 0xd4, 0xca],        // paddq xmm1, xmm2
        high: &[0x66, 0x45, 0x0f, 0xd4, 0xce], // paddq xmm9, xmm14
        same: &[0x66, 0x0f, 0xd4, 0xed],       // paddq xmm5, xmm5
        memory: &[0x66, 0x0f, 0xd4, 0x1e],     // paddq xmm3, xmmword ptr [rsi]
    },
    AluOp {
        name: "psubb",
        reference: |d, s| lanes(d, s, 8, u64::wrapping_sub),
        low: &[0x66, 0x0f, 0xf8, 0xca],        // psubb xmm1, xmm2
        high: &[0x66, 0x45, 0x0f, 0xf8, 0xce], // psubb xmm9, xmm14
        same: &[0x66, 0x0f, 0xf8, 0xed],       // psubb xmm5, xmm5
        memory: &[0x66, 0x0f, 0xf8, 0x1e],     // psubb xmm3, xmmword ptr [rsi]
    },
    AluOp {
        name: "psubw",
        reference: |d, s| lanes(d, s, 16, u64::wrapping_sub),
        low: &[0x66, 0x0f, 0xf9, 0xca],        // psubw xmm1, xmm2
        high: &[0x66, 0x45, 0x0f, 0xf9, 0xce], // psubw xmm9, xmm14
        same: &[0x66, 0x0f, 0xf9, 0xed],       // psubw xmm5, xmm5
        memory: &[0x66, 0x0f, 0xf9, 0x1e],     // psubw xmm3, xmmword ptr [rsi]
    },
    AluOp {
        name: "psubd",
        reference: |d, s| lanes(d, s, 32, u64::wrapping_sub),
        low: &[0x66, 0x0f, 0xfa, 0xca],        // psubd xmm1, xmm2
        high: &[0x66, 0x45, 0x0f, 0xfa, 0xce], // psubd xmm9, xmm14
        same: &[0x66, 0x0f, 0xfa, 0xed],       // psubd xmm5, xmm5
        memory: &[0x66, 0x0f, 0xfa, 0x1e],     // psubd xmm3, xmmword ptr [rsi]
    },
    AluOp {
        name: "psubq",
        reference: |d, s| lanes(d, s, 64, u64::wrapping_sub),
        low: &[0x66, 0x0f, 0xfb, 0xca],        // psubq xmm1, xmm2
        high: &[0x66, 0x45, 0x0f, 0xfb, 0xce], // psubq xmm9, xmm14
        same: &[0x66, 0x0f, 0xfb, 0xed],       // psubq xmm5, xmm5
        memory: &[0x66, 0x0f, 0xfb, 0x1e],     // psubq xmm3, xmmword ptr [rsi]
    },
    AluOp {
        name: "pand",
        reference: |d, s| d & s,
        low: &[0x66, 0x0f, 0xdb, 0xca],        // pand xmm1, xmm2
        high: &[0x66, 0x45, 0x0f, 0xdb, 0xce], // pand xmm9, xmm14
        same: &[0x66, 0x0f, 0xdb, 0xed],       // pand xmm5, xmm5
        memory: &[0x66, 0x0f, 0xdb, 0x1e],     // pand xmm3, xmmword ptr [rsi]
    },
    AluOp {
        name: "pandn",
        reference: |d, s| !d & s,
        low: &[0x66, 0x0f, 0xdf, 0xca],        // pandn xmm1, xmm2
        high: &[0x66, 0x45, 0x0f, 0xdf, 0xce], // pandn xmm9, xmm14
        same: &[0x66, 0x0f, 0xdf, 0xed],       // pandn xmm5, xmm5
        memory: &[0x66, 0x0f, 0xdf, 0x1e],     // pandn xmm3, xmmword ptr [rsi]
    },
    AluOp {
        name: "por",
        reference: |d, s| d | s,
        low: &[0x66, 0x0f, 0xeb, 0xca],        // por xmm1, xmm2
        high: &[0x66, 0x45, 0x0f, 0xeb, 0xce], // por xmm9, xmm14
        same: &[0x66, 0x0f, 0xeb, 0xed],       // por xmm5, xmm5
        memory: &[0x66, 0x0f, 0xeb, 0x1e],     // por xmm3, xmmword ptr [rsi]
    },
    AluOp {
        name: "pxor",
        reference: |d, s| d ^ s,
        low: &[0x66, 0x0f, 0xef, 0xca],        // pxor xmm1, xmm2
        high: &[0x66, 0x45, 0x0f, 0xef, 0xce], // pxor xmm9, xmm14
        same: &[0x66, 0x0f, 0xef, 0xed],       // pxor xmm5, xmm5
        memory: &[0x66, 0x0f, 0xef, 0x1e],     // pxor xmm3, xmmword ptr [rsi]
    },
];

/// Runs `snippet` with xmm`dst` = d and xmm`src` = s for random d and s and
/// checks xmm`dst` against `reference` and that xmm`src` is unchanged.
fn check_register_form(
    guest: &mut Guest,
    rng: &mut Rng,
    name: &str,
    snippet: Snippet,
    dst: usize,
    src: usize,
    reference: fn(u128, u128) -> u128,
) {
    for i in 0..ITERATIONS {
        let d = rng.next_u128();
        let s = rng.next_u128();
        guest.set_xmm(dst, d);
        guest.set_xmm(src, s);
        guest.run(snippet);
        let expected = reference(d, s);
        let got = guest.xmm(dst);
        assert_eq!(
            got, expected,
            "{name} xmm{dst}, xmm{src} #{i}: d={d:#034x} s={s:#034x}: got {got:#034x}, want {expected:#034x}"
        );
        assert_eq!(
            guest.xmm(src),
            s,
            "{name} xmm{dst}, xmm{src} #{i} changed the source"
        );
    }
}

/// padd*, psub*, pand, pandn, por and pxor with register sources, low and
/// high (REX) registers, against the lane-by-lane reference.
#[test]
fn alu_ops_with_register_sources() {
    let mut guest = Guest::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for op in &ALU_OPS {
        let low = guest.load(op.low);
        let high = guest.load(op.high);
        check_register_form(&mut guest, &mut rng, op.name, low, 1, 2, op.reference);
        check_register_form(&mut guest, &mut rng, op.name, high, 9, 14, op.reference);
    }
}

/// The same ops with the source in memory, 16-byte aligned as legacy SSE
/// requires, at addresses all over the data page; the memory is unchanged.
#[test]
fn alu_ops_with_aligned_memory_sources() {
    let mut guest = Guest::new();
    let mut rng = Rng(0xd1b5_4a32_d192_ed03);
    for op in &ALU_OPS {
        let snippet = guest.load(op.memory);
        for i in 0..ITERATIONS {
            let address = DATA + (i as u64 * 16) % DATA_SIZE;
            let d = rng.next_u128();
            let s = rng.next_u128();
            guest.set_xmm(3, d);
            guest.write_u128(address, s);
            guest.set_rsi(address);
            guest.run(snippet);
            let expected = (op.reference)(d, s);
            let got = guest.xmm(3);
            assert_eq!(
                got, expected,
                "{} xmm3, [{address:#x}] #{i}: d={d:#034x} s={s:#034x}: got {got:#034x}, want {expected:#034x}",
                op.name
            );
            let mut memory = [0u8; 16];
            guest.uc.mem_read(address, &mut memory).unwrap();
            assert_eq!(
                u128::from_le_bytes(memory),
                s,
                "{} wrote its source",
                op.name
            );
        }
    }
}

/// Destination and source the same register: the zeroing idioms (pxor
/// xmm0, xmm0; psubb xmm1, xmm1) and every op as op xmm5, xmm5.
#[test]
fn alu_ops_with_the_same_register_twice() {
    let mut guest = Guest::new();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let pxor_xmm0_xmm0 = guest.load(&[0x66, 0x0f, 0xef, 0xc0]); // pxor xmm0, xmm0
    let psubb_xmm1_xmm1 = guest.load(&[0x66, 0x0f, 0xf8, 0xc9]); // psubb xmm1, xmm1
    for _ in 0..ITERATIONS {
        guest.set_xmm(0, rng.next_u128());
        guest.set_xmm(1, rng.next_u128());
        guest.run(pxor_xmm0_xmm0);
        guest.run(psubb_xmm1_xmm1);
        assert_eq!(guest.xmm(0), 0, "pxor xmm0, xmm0");
        assert_eq!(guest.xmm(1), 0, "psubb xmm1, xmm1");
    }
    for op in &ALU_OPS {
        let snippet = guest.load(op.same);
        for i in 0..ITERATIONS {
            let x = rng.next_u128();
            guest.set_xmm(5, x);
            guest.run(snippet);
            let expected = (op.reference)(x, x);
            let got = guest.xmm(5);
            assert_eq!(
                got, expected,
                "{} xmm5, xmm5 #{i}: x={x:#034x}: got {got:#034x}, want {expected:#034x}",
                op.name
            );
        }
    }
}

/// A shift by an immediate, encoded without its count byte.
struct ShiftOp {
    name: &'static str,
    kind: Shift,
    bits: u32,
    /// op xmm1, imm8
    low: &'static [u8],
    /// op xmm13, imm8 (REX.B)
    high: &'static [u8],
}

// Encodings from llvm-mc -triple=x86_64-linux-gnu -show-encoding of
// "op xmm1, 0" and "op xmm13, 0", without the final count byte.
const SHIFT_OPS: [ShiftOp; 8] = [
    ShiftOp {
        name: "psrlw",
        kind: Shift::RightLogical,
        bits: 16,
        low: &[0x66, 0x0f, 0x71, 0xd1],        // psrlw xmm1, imm8
        high: &[0x66, 0x41, 0x0f, 0x71, 0xd5], // psrlw xmm13, imm8
    },
    ShiftOp {
        name: "psraw",
        kind: Shift::RightArithmetic,
        bits: 16,
        low: &[0x66, 0x0f, 0x71, 0xe1],        // psraw xmm1, imm8
        high: &[0x66, 0x41, 0x0f, 0x71, 0xe5], // psraw xmm13, imm8
    },
    ShiftOp {
        name: "psllw",
        kind: Shift::Left,
        bits: 16,
        low: &[0x66, 0x0f, 0x71, 0xf1],        // psllw xmm1, imm8
        high: &[0x66, 0x41, 0x0f, 0x71, 0xf5], // psllw xmm13, imm8
    },
    ShiftOp {
        name: "psrld",
        kind: Shift::RightLogical,
        bits: 32,
        low: &[0x66, 0x0f, 0x72, 0xd1],        // psrld xmm1, imm8
        high: &[0x66, 0x41, 0x0f, 0x72, 0xd5], // psrld xmm13, imm8
    },
    ShiftOp {
        name: "psrad",
        kind: Shift::RightArithmetic,
        bits: 32,
        low: &[0x66, 0x0f, 0x72, 0xe1],        // psrad xmm1, imm8
        high: &[0x66, 0x41, 0x0f, 0x72, 0xe5], // psrad xmm13, imm8
    },
    ShiftOp {
        name: "pslld",
        kind: Shift::Left,
        bits: 32,
        low: &[0x66, 0x0f, 0x72, 0xf1],        // pslld xmm1, imm8
        high: &[0x66, 0x41, 0x0f, 0x72, 0xf5], // pslld xmm13, imm8
    },
    ShiftOp {
        name: "psrlq",
        kind: Shift::RightLogical,
        bits: 64,
        low: &[0x66, 0x0f, 0x73, 0xd1],        // psrlq xmm1, imm8
        high: &[0x66, 0x41, 0x0f, 0x73, 0xd5], // psrlq xmm13, imm8
    },
    ShiftOp {
        name: "psllq",
        kind: Shift::Left,
        bits: 64,
        low: &[0x66, 0x0f, 0x73, 0xf1],        // psllq xmm1, imm8
        high: &[0x66, 0x41, 0x0f, 0x73, 0xf5], // psllq xmm13, imm8
    },
];

/// psrl*, psra* and psll* xmm, imm8 for each lane width with counts 0, 1,
/// width - 1, width, width + 1 and 255: past the width a logical shift
/// gives zero and an arithmetic one fills each lane with its sign.
#[test]
fn shifts_by_immediate() {
    let mut guest = Guest::new();
    let mut rng = Rng(0x5851_f42d_4c95_7f2d);
    for op in &SHIFT_OPS {
        for count in [0, 1, op.bits - 1, op.bits, op.bits + 1, 255] {
            for (reg, encoding) in [(1, op.low), (13, op.high)] {
                let mut code = encoding.to_vec();
                code.push(count as u8);
                let snippet = guest.load(&code);
                for i in 0..ITERATIONS {
                    let d = rng.next_u128();
                    guest.set_xmm(reg, d);
                    guest.run(snippet);
                    let expected = shift(op.kind, op.bits, count, d);
                    let got = guest.xmm(reg);
                    assert_eq!(
                        got, expected,
                        "{} xmm{reg}, {count} #{i}: d={d:#034x}: got {got:#034x}, want {expected:#034x}",
                        op.name
                    );
                }
            }
        }
    }
}

/// The byte shifts of the same opcode group (psrldq, pslldq), which stay
/// helper calls, still decode and compute as before.
#[test]
fn byte_shifts_beside_the_vector_shifts() {
    let mut guest = Guest::new();
    let mut rng = Rng(0x1405_7b7e_f767_814f);
    for count in [0u32, 1, 7, 15, 16, 200] {
        // psrldq xmm1, imm8 and pslldq xmm13, imm8 (count byte appended)
        let psrldq = guest.load(&[0x66, 0x0f, 0x73, 0xd9, count as u8]);
        let pslldq = guest.load(&[0x66, 0x41, 0x0f, 0x73, 0xfd, count as u8]);
        for _ in 0..ITERATIONS / 10 {
            let a = rng.next_u128();
            let b = rng.next_u128();
            guest.set_xmm(1, a);
            guest.set_xmm(13, b);
            guest.run(psrldq);
            guest.run(pslldq);
            let bytes = count.min(16) * 8;
            let right = if bytes == 128 { 0 } else { a >> bytes };
            let left = if bytes == 128 { 0 } else { b << bytes };
            assert_eq!(guest.xmm(1), right, "psrldq xmm1, {count}: a={a:#034x}");
            assert_eq!(guest.xmm(13), left, "pslldq xmm13, {count}: b={b:#034x}");
        }
    }
}

/// Every XMM register as destination of a vector op in one block, with
/// sources from 16-byte aligned memory (through the engine's scratch
/// register) and from other registers: the register file and the scratch
/// register sit where vector code can load and store them whole, and each
/// register reads back exactly.
#[test]
fn every_register_with_aligned_memory_and_register_sources() {
    // paddd xmmN, xmmword ptr [rsi + 16 * N] for N = 0..15, then
    // psubq xmmN, xmm((N + 7) % 16) for N = 0..15, in order.
    let code: &[u8] = &[
        0x66, 0x0f, 0xfe, 0x06, // paddd xmm0, [rsi]
        0x66, 0x0f, 0xfe, 0x4e, 0x10, // paddd xmm1, [rsi + 16]
        0x66, 0x0f, 0xfe, 0x56, 0x20, // paddd xmm2, [rsi + 32]
        0x66, 0x0f, 0xfe, 0x5e, 0x30, // paddd xmm3, [rsi + 48]
        0x66, 0x0f, 0xfe, 0x66, 0x40, // paddd xmm4, [rsi + 64]
        0x66, 0x0f, 0xfe, 0x6e, 0x50, // paddd xmm5, [rsi + 80]
        0x66, 0x0f, 0xfe, 0x76, 0x60, // paddd xmm6, [rsi + 96]
        0x66, 0x0f, 0xfe, 0x7e, 0x70, // paddd xmm7, [rsi + 112]
        0x66, 0x44, 0x0f, 0xfe, 0x86, 0x80, 0x00, 0x00, 0x00, // paddd xmm8, [rsi + 128]
        0x66, 0x44, 0x0f, 0xfe, 0x8e, 0x90, 0x00, 0x00, 0x00, // paddd xmm9, [rsi + 144]
        0x66, 0x44, 0x0f, 0xfe, 0x96, 0xa0, 0x00, 0x00, 0x00, // paddd xmm10, [rsi + 160]
        0x66, 0x44, 0x0f, 0xfe, 0x9e, 0xb0, 0x00, 0x00, 0x00, // paddd xmm11, [rsi + 176]
        0x66, 0x44, 0x0f, 0xfe, 0xa6, 0xc0, 0x00, 0x00, 0x00, // paddd xmm12, [rsi + 192]
        0x66, 0x44, 0x0f, 0xfe, 0xae, 0xd0, 0x00, 0x00, 0x00, // paddd xmm13, [rsi + 208]
        0x66, 0x44, 0x0f, 0xfe, 0xb6, 0xe0, 0x00, 0x00, 0x00, // paddd xmm14, [rsi + 224]
        0x66, 0x44, 0x0f, 0xfe, 0xbe, 0xf0, 0x00, 0x00, 0x00, // paddd xmm15, [rsi + 240]
        0x66, 0x0f, 0xfb, 0xc7, // psubq xmm0, xmm7
        0x66, 0x41, 0x0f, 0xfb, 0xc8, // psubq xmm1, xmm8
        0x66, 0x41, 0x0f, 0xfb, 0xd1, // psubq xmm2, xmm9
        0x66, 0x41, 0x0f, 0xfb, 0xda, // psubq xmm3, xmm10
        0x66, 0x41, 0x0f, 0xfb, 0xe3, // psubq xmm4, xmm11
        0x66, 0x41, 0x0f, 0xfb, 0xec, // psubq xmm5, xmm12
        0x66, 0x41, 0x0f, 0xfb, 0xf5, // psubq xmm6, xmm13
        0x66, 0x41, 0x0f, 0xfb, 0xfe, // psubq xmm7, xmm14
        0x66, 0x45, 0x0f, 0xfb, 0xc7, // psubq xmm8, xmm15
        0x66, 0x44, 0x0f, 0xfb, 0xc8, // psubq xmm9, xmm0
        0x66, 0x44, 0x0f, 0xfb, 0xd1, // psubq xmm10, xmm1
        0x66, 0x44, 0x0f, 0xfb, 0xda, // psubq xmm11, xmm2
        0x66, 0x44, 0x0f, 0xfb, 0xe3, // psubq xmm12, xmm3
        0x66, 0x44, 0x0f, 0xfb, 0xec, // psubq xmm13, xmm4
        0x66, 0x44, 0x0f, 0xfb, 0xf5, // psubq xmm14, xmm5
        0x66, 0x44, 0x0f, 0xfb, 0xfe, // psubq xmm15, xmm6
    ];
    let mut guest = Guest::new();
    let snippet = guest.load(code);
    let mut rng = Rng(0xbf58_476d_1ce4_e5b9);
    for i in 0..ITERATIONS {
        // An aligned block of 16 sources anywhere in the page.
        let base = DATA + (i as u64 * 256) % DATA_SIZE;
        let mut regs = [0u128; 16];
        for (n, reg) in regs.iter_mut().enumerate() {
            *reg = rng.next_u128();
            guest.set_xmm(n, *reg);
            let source = rng.next_u128();
            guest.write_u128(base + 16 * n as u64, source);
        }
        guest.set_rsi(base);
        let initial = regs;
        let mut memory = [0u8; 256];
        guest.uc.mem_read(base, &mut memory).unwrap();
        for n in 0..16 {
            let source = u128::from_le_bytes(memory[16 * n..16 * n + 16].try_into().unwrap());
            regs[n] = lanes(regs[n], source, 32, u64::wrapping_add);
        }
        for n in 0..16 {
            regs[n] = lanes(regs[n], regs[(n + 7) % 16], 64, u64::wrapping_sub);
        }
        guest.run(snippet);
        for (n, want) in regs.iter().enumerate() {
            let got = guest.xmm(n);
            assert_eq!(
                got, *want,
                "xmm{n} #{i} (initially {:#034x}): got {got:#034x}, want {want:#034x}",
                initial[n]
            );
        }
    }
}

/// Vector ops mixed with helper ops in one block, fed by an unaligned
/// movdqu load (any alignment is allowed there) and an aligned memory
/// source: movdqu xmm2, [rsi + k]; paddd xmm1, xmm2; pshufd xmm3, xmm1,
/// 0x1b; pxor xmm3, xmm1; psrad xmm3, 3; psubw xmm3, [rdi]; pandn xmm2,
/// xmm3; psllq xmm2, 63.
#[test]
fn vector_and_helper_ops_mixed_after_an_unaligned_load() {
    let code: &[u8] = &[
        0xf3, 0x0f, 0x6f, 0x16, // movdqu xmm2, xmmword ptr [rsi]
        0x66, 0x0f, 0xfe, 0xca, // paddd xmm1, xmm2
        0x66, 0x0f, 0x70, 0xd9, 0x1b, // pshufd xmm3, xmm1, 0x1b
        0x66, 0x0f, 0xef, 0xd9, // pxor xmm3, xmm1
        0x66, 0x0f, 0x72, 0xe3, 0x03, // psrad xmm3, 3
        0x66, 0x0f, 0xf9, 0x1f, // psubw xmm3, xmmword ptr [rdi]
        0x66, 0x0f, 0xdf, 0xd3, // pandn xmm2, xmm3
        0x66, 0x0f, 0x73, 0xf2, 0x3f, // psllq xmm2, 63
    ];
    let mut guest = Guest::new();
    let snippet = guest.load(code);
    let mut rng = Rng(0x94d0_49bb_1331_11eb);
    for i in 0..ITERATIONS {
        let unaligned = DATA + 0x100 + (i as u64 % 16);
        let aligned = DATA + 0x200;
        let loaded = rng.next_u128();
        let subtrahend = rng.next_u128();
        let x1 = rng.next_u128();
        guest.write_u128(unaligned, loaded);
        guest.write_u128(aligned, subtrahend);
        guest.set_rsi(unaligned);
        guest.uc.reg_write(RegisterX86::RDI, aligned).unwrap();
        guest.set_xmm(1, x1);
        guest.run(snippet);

        let xmm2 = loaded;
        let xmm1 = lanes(x1, xmm2, 32, u64::wrapping_add);
        // pshufd 0x1b: the dwords in reverse order.
        let shuffled = (0..4).fold(0u128, |acc, k| {
            acc | ((xmm1 >> (32 * (3 - k))) & 0xffff_ffff) << (32 * k)
        });
        let xmm3 = shift(Shift::RightArithmetic, 32, 3, shuffled ^ xmm1);
        let xmm3 = lanes(xmm3, subtrahend, 16, u64::wrapping_sub);
        let xmm2 = shift(Shift::Left, 64, 63, !xmm2 & xmm3);
        assert_eq!(guest.xmm(1), xmm1, "xmm1 #{i}");
        assert_eq!(guest.xmm(3), xmm3, "xmm3 #{i}");
        assert_eq!(guest.xmm(2), xmm2, "xmm2 #{i}");
    }
}
