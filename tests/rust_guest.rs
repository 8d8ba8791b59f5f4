// SPDX-License-Identifier: GPL-2.0-or-later
//! The Rust guest library (`guest/rust`, crate qemu-hypertrace) through its
//! test guest `rust-markers` (guest/rust/examples/rust-markers.rs, built by
//! guest/rust/build-testdata.sh): the exact events of its named regions,
//! points and plain markers on channels of several layouts, and without a
//! channel (ht-user without -hypertrace, natively, qemu-user) a failed
//! init and markers that do nothing. Skipped on architectures Rust has no
//! guest for (mipsel).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use ht_user::trace::file::{EventKind, TraceFile};

/// The arg1 values of named events (QEMU_HYPERTRACE_OP_* of the guest
/// library): "HTOP" in the top 32 bits.
const OP_NAME: u64 = 0x4854_4f50_0000_0001;
const OP_BEGIN: u64 = 0x4854_4f50_0000_0002;
const OP_END: u64 = 0x4854_4f50_0000_0003;
const OP_POINT: u64 = 0x4854_4f50_0000_0004;

/// The names the guest registers, by the id it must get.
const NAMES: [(u32, &str); 4] = [(1, "early"), (2, "compute"), (3, "tick"), (4, "io")];

/// The ids line the guest prints, with or without a channel.
const IDS: &str = "ids: early=1 compute=2 tick=3 io=4 empty=0\n";

/// The `rust-markers` guest of the architecture under test, or `None`
/// (with a note) where there is none. The five architectures Rust builds
/// it for must have it in the committed testdata.
fn rust_guest(test: &str) -> Option<PathBuf> {
    let path = testdata().join("rust-markers");
    if path.is_file() {
        return Some(path);
    }
    let required = std::env::var_os("HT_TESTDATA").is_none()
        && matches!(
            arch().as_str(),
            "x86_64" | "aarch64" | "arm" | "riscv64" | "i386"
        );
    assert!(
        !required,
        "{} is missing: build it with guest/rust/build-testdata.sh {}",
        path.display(),
        arch()
    );
    eprintln!("note: {test}: no rust-markers for {}, skipped", arch());
    None
}

/// One record of a run, as the checks compare them.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Rec {
    /// A name told to ht-user (the last of the name records it makes).
    Name(u32),
    /// A guest_hypertrace event: client, arg1, arg2 (`None` on a channel
    /// without data arguments).
    Event(u32, u64, Option<u64>),
}

/// The records of `trace` in order, and the text of each name id.
fn read_run(trace: &Path) -> (Vec<Rec>, BTreeMap<u32, Vec<u8>>) {
    let t = TraceFile::open(trace).unwrap_or_else(|e| panic!("{e}"));
    let mut recs = Vec::new();
    let mut names = BTreeMap::new();
    let mut partial: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
    for r in t.records() {
        let r = r.unwrap_or_else(|e| panic!("{e}"));
        let args: Vec<u64> = r.args().collect();
        match r.kind {
            EventKind::Hypertrace => {
                // The registration store becomes name records, never an
                // event of its own.
                assert_ne!(r.arg1, OP_NAME, "a NAME store recorded as an event");
                recs.push(Rec::Event(r.client, r.arg1, args.first().copied()));
            }
            EventKind::HypertraceName => {
                // A piece of a name: aux (client) = id, arg1 = offset |
                // len << 32, the words = the piece's bytes.
                let id = r.client;
                let (offset, len) = ((r.arg1 & 0xffff_ffff) as usize, (r.arg1 >> 32) as usize);
                let text = partial.entry(id).or_default();
                assert_eq!(offset, text.len(), "name {id}: piece out of order");
                let bytes = args.iter().flat_map(|w| w.to_le_bytes());
                text.extend(bytes.take(len - offset));
                if text.len() == len {
                    let text = partial.remove(&id).expect("the name's pieces");
                    assert!(names.insert(id, text).is_none(), "name {id} told twice");
                    recs.push(Rec::Name(id));
                }
            }
            _ => panic!("unexpected record {r:?}"),
        }
    }
    assert!(partial.is_empty(), "names left incomplete: {partial:?}");
    (recs, names)
}

/// What rust-markers must emit on a channel with `args` arguments and
/// `clients` clients (see the program's documentation).
fn expected(args: u64, clients: u64) -> Vec<Rec> {
    let mut want = Vec::new();
    // Named events need data slots 0 and 1.
    if args >= 2 {
        // "early", registered before init, told by it.
        want.push(Rec::Name(1));
        for i in 0..3 {
            if i == 0 {
                want.push(Rec::Name(2));
            }
            want.push(Rec::Event(0, OP_BEGIN, Some(2)));
            if i == 0 {
                want.push(Rec::Name(3));
            }
            want.push(Rec::Event(0, OP_POINT, Some(3)));
            want.push(Rec::Event(0, OP_END, Some(2)));
        }
        // "io", registered on client 1 (on client 0 if there is no
        // client 1, whose events then do nothing).
        want.push(Rec::Name(4));
        if clients > 1 {
            want.push(Rec::Event(1, OP_BEGIN, Some(4)));
            want.push(Rec::Event(1, OP_POINT, Some(1)));
            want.push(Rec::Event(1, OP_END, Some(4)));
        }
    }
    // The plain pair, data slot 0 = 0xcafe.
    let arg2 = (args >= 2).then_some(0xcafe);
    want.push(Rec::Event(0, 1, arg2));
    want.push(Rec::Event(0, 0, arg2));
    want
}

/// Runs rust-markers under ht-user on a channel `-hypertrace BASE<options>`
/// and checks its output, its events in order and the names it told.
fn check_channel(guest: &Path, options: &str, args: u64, clients: u64) {
    let (dir, base) = temp_base();
    let trace = dir.path().join("run.bin");
    let spec = format!("{}{options}", base.display());
    let mut cmd = ht(["-hypertrace", spec.as_str(), "-trace-file"]);
    cmd.arg(&trace).arg(guest);
    let r = run(cmd);
    r.assert_code(0);
    let mut want_out = format!("init: ok, {clients} clients, {args} arguments\n");
    if args >= 2 && clients > 1 {
        // The guest read its copy of "io" back through data slot 1.
        want_out.push_str("name at data slot 1: io\n");
    }
    want_out.push_str(IDS);
    want_out.push_str("done\n");
    assert_eq!(r.stdout, want_out, "{options:?}: stdout");
    assert_eq!(r.stderr, "", "{options:?}: stderr");
    assert_no_channel_files(&base);

    let (recs, names) = read_run(&trace);
    assert_eq!(recs, expected(args, clients), "{options:?}: records");
    if args < 2 {
        assert!(names.is_empty(), "{options:?}: names {names:?}");
        return;
    }
    assert_eq!(
        names.keys().copied().collect::<Vec<_>>(),
        NAMES.map(|(id, _)| id),
        "{options:?}: name ids"
    );
    for (id, text) in NAMES {
        // ht-user read the text the guest pointed it to.
        assert_eq!(names[&id], text.as_bytes(), "{options:?}: name {id}");
    }
}

/// The default channel (64 clients, 4 arguments): every named and plain
/// event in order, with its client, op and id; each name told once, before
/// its first use (the one registered before init by init), with its text.
#[test]
fn named_regions_points_and_plain_markers_in_order() {
    let Some(g) = rust_guest("named_regions_points_and_plain_markers_in_order") else {
        return;
    };
    check_channel(&g, "", 4, 64);
}

/// Other layouts: with 2 arguments the name's address travels in the spare
/// slot; with 1 client, "io" is told on client 0 and client 1's events do
/// nothing; with 1 argument there is no room for an id, so only the plain
/// markers remain.
#[test]
fn channel_layouts_limit_the_named_events() {
    let Some(g) = rust_guest("channel_layouts_limit_the_named_events") else {
        return;
    };
    check_channel(&g, ",args=2", 2, 64);
    check_channel(&g, ",max-clients=1", 4, 1);
    check_channel(&g, ",args=1", 1, 64);
}

/// Without a channel init fails and every marker does nothing: the program
/// runs to its end under ht-user without -hypertrace, natively (x86_64)
/// and under qemu-user, and with a base that names no channel.
#[test]
fn without_a_channel_init_fails_and_markers_do_nothing() {
    let Some(g) = rust_guest("without_a_channel_init_fails_and_markers_do_nothing") else {
        return;
    };
    let want = format!("init: failed (Invalid argument): markers do nothing\n{IDS}done\n");
    let r = run(ht([&g]));
    r.assert_code(0);
    assert_eq!(r.stdout, want, "under ht-user without -hypertrace");
    if arch() == "x86_64" && std::env::consts::ARCH == "x86_64" {
        let mut native = Command::new(&g);
        native.env_remove("QEMU_HYPERTRACE_BASE");
        let r = run(native);
        r.assert_code(0);
        assert_eq!(r.stdout, want, "native");
    }
    if let Some(q) = qemu_or_skip("without_a_channel_init_fails_and_markers_do_nothing") {
        let r = run(qemu(&q, [&g]));
        r.assert_code(0);
        assert_eq!(r.stdout, want, "under qemu-user");
    }
    let mut cmd = ht(["-E", "QEMU_HYPERTRACE_BASE=/nonexistent/ht"]);
    cmd.arg(&g);
    let r = run(cmd);
    r.assert_code(0);
    assert_eq!(
        r.stdout,
        format!("init: failed (No such file or directory): markers do nothing\n{IDS}done\n")
    );
}
