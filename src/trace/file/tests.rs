// SPDX-License-Identifier: GPL-2.0-or-later
//! Tests of the trace file format: header, reader (both layouts), builder.

use super::*;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::trace::compact;

fn info(args: u32) -> TraceInfo {
    TraceInfo::for_run(
        42,
        args,
        "x86_64",
        Path::new("/bin/prog"),
        &[OsString::from("prog"), OsString::from("a b")],
        Some(64),
        ClockAnchor {
            monotonic_ns: 1000,
            realtime_ns: 1_700_000_000_000_000_000,
        },
    )
}

fn write(dir: &Path, bytes: &[u8]) -> PathBuf {
    let p = dir.join("t.bin");
    std::fs::File::create(&p).unwrap().write_all(bytes).unwrap();
    p
}

fn sample(n: u64, count: bool) -> Vec<u8> {
    let i = info(3);
    let mut b = i.encode();
    for k in 0..n {
        encode_any(
            &mut b,
            i.record_size(),
            2000 + k,
            42,
            0,
            EventKind::Hypertrace,
            (k % 2) as u32,
            k,
            &[k * 10, k * 20],
        );
    }
    if count {
        b[24..32].copy_from_slice(&n.to_le_bytes());
    }
    b
}

#[test]
fn header_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), &sample(5, true));
    let f = TraceFile::open(&p).unwrap();
    assert_eq!(f.info, info(3));
    assert_eq!(f.records, 5);
    assert_eq!(f.record_size, 48);
    assert_eq!(f.header_size % 8, 0);
    assert_eq!(f.info.get("argv").unwrap(), "prog\0a b");
    let evs: Vec<_> = f.events().map(Result::unwrap).collect();
    assert_eq!(evs.len(), 5);
    assert_eq!(evs[3].arg1, 3);
    assert_eq!(evs[3].client, 1);
    assert_eq!(evs[3].args().collect::<Vec<_>>(), vec![30, 60]);
    assert_eq!(evs[3].arg(3), Some(60));
    assert_eq!(evs[3].arg(4), None);
    assert_eq!(f.span(), Some((2000, 2004)));
}

#[test]
fn a_file_truncated_after_opening_is_still_read_whole() {
    // A new run writing the same path truncates it while ht-trace
    // reads it: mapped, the records would be gone (SIGBUS).
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), &sample(5000, true));
    let f = TraceFile::open(&p).unwrap();
    std::fs::File::create(&p).unwrap();
    let arg1s: Vec<u64> = f.events().map(|e| e.unwrap().arg1).collect();
    assert_eq!(arg1s, (0..5000).collect::<Vec<_>>());
}

#[test]
fn truncation_and_corruption_are_located() {
    let dir = tempfile::tempdir().unwrap();
    let full = sample(5, true);
    let hs = info(3).encode().len();
    // A partial last record.
    let p = write(dir.path(), &full[..full.len() - 3]);
    let e = TraceFile::open(&p).err().unwrap().to_string();
    assert!(
        e.contains(&format!("record 4 at byte {}", hs + 4 * 48)),
        "{e}"
    );
    assert!(e.contains("incomplete (45 of 48 bytes)"), "{e}");
    let f = TraceFile::open_with(
        &p,
        ReadOptions {
            allow_truncated: true,
        },
    )
    .unwrap();
    assert_eq!(f.records, 4);
    // Whole records missing.
    let p = write(dir.path(), &full[..hs + 2 * 48]);
    let e = TraceFile::open(&p).err().unwrap().to_string();
    assert!(e.contains("announces 5 records"), "{e}");
    // Inside the header.
    for cut in [3, 40, hs - 1] {
        let p = write(dir.path(), &full[..cut]);
        let e = TraceFile::open(&p).err().unwrap().to_string();
        assert!(e.contains("truncated"), "{cut}: {e}");
    }
    // Not a trace.
    let p = write(dir.path(), b"23071@1473096085.744211:guest_hypertrace");
    let e = TraceFile::open(&p).err().unwrap().to_string();
    assert!(e.contains("not an ht-user trace"), "{e}");
    // A timestamp going backwards.
    let mut bad = full.clone();
    bad[hs + 2 * 48..hs + 2 * 48 + 8].copy_from_slice(&5u64.to_le_bytes());
    let p = write(dir.path(), &bad);
    let f = TraceFile::open(&p).unwrap();
    let e = f.events().find_map(Result::err).unwrap().to_string();
    assert!(e.contains(&format!("record 2 at byte {}", hs + 96)), "{e}");
    // An unknown kind.
    let mut bad = full.clone();
    bad[hs + 48 + 20] = 7;
    let p = write(dir.path(), &bad);
    let f = TraceFile::open(&p).unwrap();
    let e = f.events().find_map(Result::err).unwrap().to_string();
    assert!(e.contains("record 1") && e.contains("kind 7"), "{e}");
    // A bad version and bad sizes.
    let mut bad = full.clone();
    bad[8] = 9;
    let e = TraceFile::open(&write(dir.path(), &bad))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("version 9.1"), "{e}");
    // A compact header over fixed records: a located error, no panic.
    let mut bad = full.clone();
    bad[8] = 2;
    let e = TraceFile::open(&write(dir.path(), &bad))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("corrupt") || e.contains("truncated"), "{e}");
    let mut bad = full.clone();
    bad[16] = 8;
    let e = TraceFile::open(&write(dir.path(), &bad))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("record_size"), "{e}");
    let mut bad = full;
    bad[52] = 200;
    let e = TraceFile::open(&write(dir.path(), &bad))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("metadata"), "{e}");
}

/// A compact trace of `n` records of every kind, as TraceBuilder
/// writes it, and the same records in the fixed layout.
fn compact_sample(n: u64) -> (Vec<u8>, Vec<u8>) {
    let all = super::super::EventSet(0x1f);
    let layouts = [Layout::Compact, Layout::Fixed];
    let mut out = layouts.iter().map(|&l| {
        let mut b = TraceBuilder::new(info(3).with_kinds(all).with_layout(l));
        for k in 0..n {
            let t = 2000 + 3 * k;
            let th = (k / 50) as u32 % 3;
            b.push_any(
                t,
                th,
                EventKind::MemAccess,
                0x13,
                0x4000 + 8 * (k % 8),
                &[0x401000 + k % 2, k],
            );
            b.push_any(t, th, EventKind::ExecTb, 12, u64::MAX - k, &[]);
            b.push_any(
                t + 1,
                th,
                EventKind::Syscall,
                60,
                k,
                &[1, 2, 3, 4, u64::MAX],
            );
            b.push_any(
                t + 1,
                th,
                EventKind::SyscallRet,
                60,
                (-(k as i64)) as u64,
                &[],
            );
            b.push(t + 1, th, (k % 2) as u32, k, &[k * 10, u64::MAX]);
        }
        b.finish()
    });
    (out.next().unwrap(), out.next().unwrap())
}

type Fields = (u64, u32, u32, EventKind, u32, u64, Vec<u64>);

fn records_of(f: &TraceFile) -> Vec<Fields> {
    f.records()
        .map(|r| {
            let r = r.unwrap();
            (
                r.ts_ns,
                r.pid,
                r.thread,
                r.kind,
                r.client,
                r.arg1,
                r.args().collect(),
            )
        })
        .collect()
}

#[test]
fn compact_and_fixed_files_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let (compact, fixed) = compact_sample(3000);
    assert!(
        compact.len() * 4 < fixed.len(),
        "{} {}",
        compact.len(),
        fixed.len()
    );
    let c = TraceFile::open(&write(dir.path(), &compact)).unwrap();
    assert_eq!(c.version, (2, 0));
    assert_eq!(c.info.layout, Layout::Compact);
    let cr = records_of(&c);
    let f = TraceFile::open(&write(dir.path(), &fixed)).unwrap();
    assert_eq!(f.version, (1, 1));
    assert_eq!((c.records, c.declared_count), (15000, Some(15000)));
    assert_eq!(cr, records_of(&f));
    assert_eq!(c.span(), f.span());
    assert_eq!(cr[4].6, vec![0, u64::MAX]);
    assert_eq!(cr[5 * 2999 + 1].5, u64::MAX - 2999);
    // Headers differ only in the version.
    let mut info = c.info.clone();
    info.layout = Layout::Fixed;
    assert_eq!(info, f.info);
}

#[test]
fn docs_example_is_what_the_encoder_writes() {
    let i = info(3)
        .with_kinds(super::super::EventSet(0x1f))
        .with_layout(Layout::Compact);
    let hs = i.encode().len();
    let mut b = TraceBuilder::new(i);
    b.push(1000, 0, 0, 1, &[5, 0]);
    b.push_any(
        1000,
        0,
        EventKind::MemAccess,
        0x03,
        0x4c6f00,
        &[0x401bd4, 0],
    );
    b.push_any(
        1000,
        0,
        EventKind::MemAccess,
        0x13,
        0x4c6f00,
        &[0x401bd8, 42],
    );
    b.push_any(1300, 1, EventKind::ExecTb, 12, 0x401bc0, &[]);
    b.push_any(1300, 1, EventKind::SyscallRet, 60, (-2i64) as u64, &[]);
    let bytes = b.finish();
    let hex: Vec<String> = bytes[hs..].iter().map(|b| format!("{b:02x}")).collect();
    let doc = include_str!("../../../docs/trace-format.md");
    let want = [
        "21 00 00 00 05 00 00 00",
        "10 d0 0f 01 05 00",
        "21 03 80 bc e3 04 a8 ef 80 04",
        "61 13 00 08 2a",
        "3a 01 d8 04 0c 80 ef 80 04",
        "24 3c 03",
    ];
    for line in want {
        assert!(
            doc.contains(&format!("\n{line} ")),
            "{line} not in the docs"
        );
    }
    assert_eq!(hex.join(" "), want.join(" "));
}

#[test]
fn compact_truncation_and_corruption_are_located() {
    let dir = tempfile::tempdir().unwrap();
    let i = info(3).with_kinds(super::super::EventSet(0x1f));
    let hs = i.encode().len();
    // Two chunks of 10 records, as two batches of the writer make.
    let mut two = i.clone().with_layout(Layout::Compact).encode();
    let mut chunks = compact::ChunkBuilder::default();
    for k in 0..20u64 {
        let kind = EventKind::ALL[k as usize % 5];
        let words = vec![k; kind.words(2)];
        chunks.push(&mut two, 2000 + k, 0, kind, 1, k, &words);
        if k == 9 {
            chunks.close(&mut two);
        }
    }
    chunks.close(&mut two);
    two[24..32].copy_from_slice(&20u64.to_le_bytes());
    let (payload1, count1) = compact::chunk_header(&two, hs).unwrap();
    assert_eq!(count1, 10);
    let chunk = two[hs..hs + 8 + payload1].to_vec();
    let p = write(dir.path(), &two);
    assert_eq!(TraceFile::open(&p).unwrap().records, 20);
    let second = hs + chunk.len();
    // Torn inside the second chunk: its records are not read.
    for cut in [second + 3, second + 8, two.len() - 1] {
        let p = write(dir.path(), &two[..cut]);
        let e = TraceFile::open(&p).err().unwrap().to_string();
        assert!(
            e.contains(&format!("record 10 at byte {second}: truncated")),
            "{e}"
        );
        assert!(e.contains("reads the 10 whole records"), "{e}");
        let f = TraceFile::open_with(
            &p,
            ReadOptions {
                allow_truncated: true,
            },
        )
        .unwrap();
        assert_eq!(f.records, 10);
        assert!(f
            .truncation
            .as_deref()
            .unwrap()
            .contains(&format!("byte {second}")));
        assert_eq!(f.records().count(), 10);
    }
    // Whole chunks missing although the header counted them.
    let p = write(dir.path(), &two[..second]);
    let e = TraceFile::open(&p).err().unwrap().to_string();
    assert!(e.contains("announces 20 records"), "{e}");
    // A count below the records present.
    let mut less = two.clone();
    less[24..32].copy_from_slice(&12u64.to_le_bytes());
    let e = TraceFile::open(&write(dir.path(), &less))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("announces 12 records but 8 more"), "{e}");
    // An unknown kind in the second record of the second chunk.
    let first_len = {
        let mut d = compact::Decoder::default();
        let mut at = 0;
        d.decode(&chunk[8..], &mut at, 2, &mut Vec::new()).unwrap();
        at
    };
    let mut bad = two.clone();
    let at = second + 8 + first_len;
    bad[at] = 0x07;
    let e = TraceFile::open(&write(dir.path(), &bad))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains(&format!(
            "record 11 at byte {at}: corrupt: unknown record kind 7"
        )),
        "{e}"
    );
    // A chunk whose records end before its payload does.
    let mut bad = two.clone();
    bad[second..second + 4].copy_from_slice(&(payload1 as u32 + 1).to_le_bytes());
    bad.push(0);
    let e = TraceFile::open(&write(dir.path(), &bad))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains(&format!(
            "chunk at byte {second} declares {} payload bytes",
            payload1 + 1
        )),
        "{e}"
    );
    // ... or run past it.
    let mut bad = two.clone();
    bad[second + 4] = 11;
    let e = TraceFile::open(&write(dir.path(), &bad))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("record 20 at byte") && e.contains("runs past the end of its chunk"),
        "{e}"
    );
    // A timestamp going back.
    let (mut back, _) = compact_sample(1);
    // The first record's time delta: from 0 to 2000 (zigzag 4000).
    assert_eq!(back[hs + 8..hs + 11], [0x01 | 0x10 | 0x20, 0xa0, 0x1f]);
    back[hs + 10] = 0x0f;
    let e = TraceFile::open(&write(dir.path(), &back))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains(&format!("record 0 at byte {}", hs + 8))
            && e.contains("earlier than the header's clock anchor"),
        "{e}"
    );
    // A kind the header's record_size cannot hold (system calls in a
    // trace of hypertrace events only).
    let mut small = info(3).with_layout(Layout::Compact).encode();
    let mut chunks = compact::ChunkBuilder::default();
    chunks.push(&mut small, 2000, 0, EventKind::Syscall, 1, 1, &[0; 5]);
    chunks.close(&mut small);
    let e = TraceFile::open(&write(dir.path(), &small))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("record kind 3 does not fit the header's record_size 48"),
        "{e}"
    );
    // Every cut and every byte flipped: an error or a file, no panic.
    for cut in hs..two.len() {
        let _ = TraceFile::open(&write(dir.path(), &two[..cut])).map(|f| f.records().count());
    }
    for at in hs..two.len() {
        for x in [0x01u8, 0x80, 0xff] {
            let mut c = two.clone();
            c[at] ^= x;
            let _ = TraceFile::from_bytes(Path::new("x"), c, ReadOptions::default())
                .map(|f| f.records().count());
        }
    }
}

#[test]
fn unknown_count_and_empty() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), &sample(3, false));
    let f = TraceFile::open(&p).unwrap();
    assert_eq!(f.declared_count, None);
    assert_eq!(f.records, 3);
    let p = write(dir.path(), b"");
    assert!(TraceFile::open(&p).is_err());
}

#[test]
fn anchor_converts() {
    let a = ClockAnchor {
        monotonic_ns: 100,
        realtime_ns: 1_000,
    };
    assert_eq!(a.wall_ns(150), 1_050);
    assert_eq!(a.wall_ns(0), 900);
}
