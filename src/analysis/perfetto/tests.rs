// SPDX-License-Identifier: GPL-2.0-or-later
//! The Perfetto writer's unit tests.

use super::proto::{annotation as ann, event as te, interned, packet, track};
use super::writer::MAX_INTERNED;
use super::*;
use crate::analysis::protobuf::{fields, Value};
use crate::trace::file::{ClockAnchor, EventKind, TraceBuilder, TraceInfo};
use crate::trace::EventSet;
use std::path::Path;

/// A packet, decoded as far as the tests look.
#[derive(Debug, Default)]
struct Packet {
    ts: Option<u64>,
    seq: Option<u64>,
    flags: u64,
    clocks: Vec<(u64, u64)>,
    primary_clock: Option<u64>,
    default_clock: Option<u64>,
    /// Interned (field, iid, name): categories, names, annotation names.
    interned: Vec<(u32, u64, String)>,
    event: Option<TrackEvent>,
    track: Option<Descriptor>,
}

#[derive(Debug, Default)]
struct TrackEvent {
    ty: u64,
    track: u64,
    cat: u64,
    name_iid: Option<u64>,
    name: Option<String>,
    /// (name iid, field, value).
    anns: Vec<(u64, u32, u64)>,
}

#[derive(Debug, Default)]
struct Descriptor {
    uuid: u64,
    parent: Option<u64>,
    name: Option<String>,
    pid: Option<u64>,
    tid: Option<u64>,
    title: Option<String>,
    cmdline: Vec<String>,
}

fn msg(bytes: &[u8]) -> Vec<(u32, Value<'_>)> {
    fields(bytes).map(Result::unwrap).collect()
}

fn text(v: Value<'_>) -> String {
    String::from_utf8(v.bytes().unwrap().to_vec()).unwrap()
}

fn decode(trace: &[u8]) -> Vec<Packet> {
    let mut packets = Vec::new();
    for (field, v) in msg(trace) {
        assert_eq!(field, proto::TRACE_PACKET);
        let mut p = Packet::default();
        for (f, v) in msg(v.bytes().unwrap()) {
            match f {
                packet::TIMESTAMP => p.ts = v.uint(),
                packet::TRUSTED_PACKET_SEQUENCE_ID => p.seq = v.uint(),
                packet::SEQUENCE_FLAGS => p.flags = v.uint().unwrap(),
                packet::CLOCK_SNAPSHOT => {
                    for (f, v) in msg(v.bytes().unwrap()) {
                        match f {
                            proto::clock::CLOCKS => {
                                let c = msg(v.bytes().unwrap());
                                p.clocks
                                    .push((c[0].1.uint().unwrap(), c[1].1.uint().unwrap()));
                            }
                            proto::clock::PRIMARY_TRACE_CLOCK => p.primary_clock = v.uint(),
                            _ => panic!("clock field {f}"),
                        }
                    }
                }
                packet::TRACE_PACKET_DEFAULTS => {
                    let d = msg(v.bytes().unwrap());
                    assert_eq!(d[0].0, proto::DEFAULTS_TIMESTAMP_CLOCK_ID);
                    p.default_clock = d[0].1.uint();
                }
                packet::INTERNED_DATA => {
                    for (f, v) in msg(v.bytes().unwrap()) {
                        let e = msg(v.bytes().unwrap());
                        assert_eq!((e[0].0, e[1].0), (interned::IID, interned::NAME));
                        p.interned.push((f, e[0].1.uint().unwrap(), text(e[1].1)));
                    }
                }
                packet::TRACK_EVENT => {
                    let mut e = TrackEvent::default();
                    for (f, v) in msg(v.bytes().unwrap()) {
                        match f {
                            te::TYPE => e.ty = v.uint().unwrap(),
                            te::TRACK_UUID => e.track = v.uint().unwrap(),
                            te::CATEGORY_IIDS => e.cat = v.uint().unwrap(),
                            te::NAME_IID => e.name_iid = v.uint(),
                            te::NAME => e.name = Some(text(v)),
                            te::DEBUG_ANNOTATIONS => {
                                let a = msg(v.bytes().unwrap());
                                assert_eq!(a[0].0, ann::NAME_IID);
                                e.anns.push((
                                    a[0].1.uint().unwrap(),
                                    a[1].0,
                                    a[1].1.uint().unwrap(),
                                ));
                            }
                            _ => panic!("track event field {f}"),
                        }
                    }
                    p.event = Some(e);
                }
                packet::TRACK_DESCRIPTOR => {
                    let mut d = Descriptor::default();
                    for (f, v) in msg(v.bytes().unwrap()) {
                        match f {
                            track::UUID => d.uuid = v.uint().unwrap(),
                            track::PARENT_UUID => d.parent = v.uint(),
                            track::NAME => d.name = Some(text(v)),
                            track::PROCESS => {
                                for (f, v) in msg(v.bytes().unwrap()) {
                                    match f {
                                        track::PROCESS_PID => d.pid = v.uint(),
                                        track::PROCESS_NAME => d.title = Some(text(v)),
                                        track::PROCESS_CMDLINE => d.cmdline.push(text(v)),
                                        _ => panic!("process field {f}"),
                                    }
                                }
                            }
                            track::THREAD => {
                                for (f, v) in msg(v.bytes().unwrap()) {
                                    match f {
                                        track::THREAD_PID => d.pid = v.uint(),
                                        track::THREAD_TID => d.tid = v.uint(),
                                        track::THREAD_NAME => d.title = Some(text(v)),
                                        _ => panic!("thread field {f}"),
                                    }
                                }
                            }
                            _ => panic!("descriptor field {f}"),
                        }
                    }
                    p.track = Some(d);
                }
                packet::FIRST_PACKET_ON_SEQUENCE => assert_eq!(v.uint(), Some(1)),
                _ => panic!("packet field {f}"),
            }
        }
        packets.push(p);
    }
    packets
}

/// Interned strings of the whole output, by (interned field, iid).
fn strings(packets: &[Packet]) -> HashMap<(u32, u64), String> {
    let mut m = HashMap::new();
    for (f, iid, s) in packets.iter().flat_map(|p| p.interned.iter()) {
        assert!(
            m.insert((*f, *iid), s.clone()).is_none(),
            "{s} interned twice"
        );
    }
    m
}

fn trace(pid: u32, kinds: u32, build: impl Fn(&mut TraceBuilder)) -> TraceFile {
    let info = TraceInfo::for_run(
        pid,
        2,
        "x86_64",
        Path::new("prog"),
        &[std::ffi::OsString::from("prog"), "-v".into()],
        Some(4),
        ClockAnchor {
            monotonic_ns: 50,
            realtime_ns: 1_700_000_000_000_000_000,
        },
    )
    .with_kinds(EventSet(kinds))
    .with_exec_tb_insns();
    let mut b = TraceBuilder::new(info);
    build(&mut b);
    TraceFile::from_bytes(Path::new("t"), b.finish(), Default::default()).unwrap()
}

fn convert(files: &[TraceFile], specs: &[RegionSpec]) -> Vec<Packet> {
    let names = |_: &TraceFile, nr: u64| (nr == 1).then(|| "write".to_string());
    let mut out = Vec::new();
    write(files, specs, &names, &mut out).unwrap();
    decode(&out)
}

/// An event as (type, track, category name, event name, annotations
/// by name).
type Ev = (u64, u64, u64, String, String, Vec<(String, u64)>);

fn events(packets: &[Packet]) -> Vec<Ev> {
    let s = strings(packets);
    packets
        .iter()
        .filter_map(|p| {
            let e = p.event.as_ref()?;
            let name = match (e.name_iid, &e.name) {
                (Some(iid), None) => s[&(interned::EVENT_NAMES, iid)].clone(),
                (None, Some(n)) => n.clone(),
                other => panic!("name {other:?}"),
            };
            let anns = e
                .anns
                .iter()
                .map(|(iid, _, v)| (s[&(interned::DEBUG_ANNOTATION_NAMES, *iid)].clone(), *v))
                .collect();
            Some((
                e.ty,
                e.track,
                p.ts.unwrap(),
                s[&(interned::EVENT_CATEGORIES, e.cat)].clone(),
                name,
                anns,
            ))
        })
        .collect()
}

#[test]
fn the_sequence_starts_with_the_clock_and_cleared_state() {
    let f = trace(7, 1, |b| b.push(1_500, 0, 0, 5, &[9]));
    let packets = convert(&[f], &[RegionSpec::default_spec()]);
    assert_eq!(packets[0].clocks, [(3, 50), (1, 1_700_000_000_000_000_000)]);
    assert_eq!(packets[0].primary_clock, Some(proto::clock::MONOTONIC));
    assert_eq!(packets[1].flags, packet::SEQ_INCREMENTAL_STATE_CLEARED);
    assert_eq!(packets[1].default_clock, Some(proto::clock::MONOTONIC));
    assert!(packets.iter().all(|p| p.seq == Some(SEQUENCE)));
    for p in packets.iter().filter(|p| p.event.is_some()) {
        assert_eq!(p.flags, packet::SEQ_NEEDS_INCREMENTAL_STATE);
        assert!(p.ts.is_some());
    }
    // The process, then the thread as it appears, under the process.
    let tracks: Vec<&Descriptor> = packets.iter().filter_map(|p| p.track.as_ref()).collect();
    assert_eq!(tracks.len(), 2);
    assert_eq!(tracks[0].pid, Some(7));
    assert_eq!(tracks[0].title.as_deref(), Some("prog (pid 7)"));
    assert_eq!(tracks[0].cmdline, ["prog", "-v"]);
    assert_eq!(tracks[1].parent, Some(tracks[0].uuid));
    assert_eq!((tracks[1].pid, tracks[1].tid), (Some(7), Some(1)));
    assert_eq!(tracks[1].title.as_deref(), Some("thread 0"));
    let evs = events(&packets);
    assert_eq!(
        evs,
        [(
            te::INSTANT,
            tracks[1].uuid,
            1_500,
            "progress".to_string(),
            "arg1=5".to_string(),
            vec![
                ("client".into(), 0),
                ("thread".into(), 0),
                ("record".into(), 0),
                ("arg2".into(), 9)
            ]
        )]
    );
}

#[test]
fn regions_are_balanced_slices_on_their_clients_tracks() {
    let f = trace(7, 1, |b| {
        b.push(100, 0, 0, 1, &[0]);
        b.push(150, 0, 0, 1, &[0]);
        b.push(200, 0, 0, 0, &[0]);
        // Another client on the same thread: its own child track.
        b.push(220, 0, 3, 1, &[0]);
        b.push(300, 0, 0, 0, &[0]);
        b.push(310, 0, 3, 0, &[0]);
        // Left open, and an unmatched close on another thread.
        b.push(400, 1, 1, 1, &[0]);
        b.push(450, 2, 2, 0, &[0]);
    });
    let packets = convert(&[f], &[RegionSpec::default_spec()]);
    let tracks: Vec<&Descriptor> = packets.iter().filter_map(|p| p.track.as_ref()).collect();
    // Process, thread 0, client 3's child track, threads 1 and 2.
    assert_eq!(tracks.len(), 5);
    assert_eq!(tracks[2].parent, Some(tracks[1].uuid));
    assert_eq!(tracks[2].name.as_deref(), Some("client 3"));
    assert_eq!(tracks[3].title.as_deref(), Some("thread 1"));
    assert_eq!(tracks[3].tid, Some(2));

    let evs = events(&packets);
    let mut depth: HashMap<u64, i64> = HashMap::new();
    for (ty, track, _, cat, name, _) in &evs {
        if cat == "region" {
            assert_eq!(name, "region");
            *depth.entry(*track).or_default() += match *ty {
                te::SLICE_BEGIN => 1,
                te::SLICE_END => -1,
                t => panic!("type {t}"),
            };
            assert!(depth[track] >= 0);
        }
    }
    assert!(depth.values().all(|&d| d == 0), "{depth:?}");
    let ends: Vec<&Ev> = evs.iter().filter(|e| e.0 == te::SLICE_END).collect();
    assert_eq!(ends.len(), 4);
    assert_eq!(ends[0].2, 200);
    assert_eq!(ends[0].5[0], ("duration_ns".to_string(), 50));
    assert_eq!(ends[0].5[1], ("close_record".to_string(), 2));
    assert_eq!((ends[1].1, ends[1].2), (tracks[1].uuid, 300));
    assert_eq!((ends[2].1, ends[2].2), (tracks[2].uuid, 310));
    // Left open: ends at the last event, marked.
    assert_eq!((ends[3].1, ends[3].2), (tracks[3].uuid, 450));
    assert_eq!(ends[3].5[1], ("unclosed".to_string(), 1));
    let unmatched: Vec<&Ev> = evs.iter().filter(|e| e.3 == "unmatched close").collect();
    assert_eq!(unmatched.len(), 1);
    assert_eq!(unmatched[0].4, "arg1=0");
    assert_eq!(unmatched[0].0, te::INSTANT);
}

#[test]
fn system_calls_blocks_and_accesses() {
    use EventKind::*;
    let f = trace(7, 0x1f, |b| {
        b.push_any(100, 0, Syscall, 1, 1, &[0x1000, 5, 0, 0, 0]);
        b.push_any(150, 0, SyscallRet, 1, 5, &[]);
        b.push_any(160, 0, ExecTb, 12 | (3 << 16), 0x401000, &[]);
        b.push_any(170, 0, MemAccess, 0x13, 0x5000, &[0x401004, 42]);
        // A failed call, then one that never returns (exit_group).
        b.push_any(200, 0, Syscall, 2, 0, &[0, 0, 0, 0, 0]);
        b.push_any(210, 0, SyscallRet, 2, (-2i64) as u64, &[]);
        b.push_any(300, 0, Syscall, 231, 0, &[0, 0, 0, 0, 0]);
        // A return whose entry the trace lacks (a forked child's).
        b.push_any(320, 1, SyscallRet, 57, 0, &[]);
    });
    let evs = events(&convert(&[f], &[RegionSpec::default_spec()]));
    let brief: Vec<(u64, u64, &str, &str)> = evs
        .iter()
        .map(|e| (e.0, e.2, e.3.as_str(), e.4.as_str()))
        .collect();
    assert_eq!(
        brief,
        [
            (te::SLICE_BEGIN, 100, "syscall", "write"),
            (te::SLICE_END, 150, "syscall", "write"),
            // A block lasts until the thread's next call; the access is
            // inside it.
            (te::SLICE_BEGIN, 160, "block", "block"),
            (te::INSTANT, 170, "memory", "store"),
            (te::SLICE_END, 200, "block", "block"),
            (te::SLICE_BEGIN, 200, "syscall", "syscall 2"),
            (te::SLICE_END, 210, "syscall", "syscall 2"),
            (te::SLICE_BEGIN, 300, "syscall", "syscall 231"),
            (te::INSTANT, 320, "syscall", "syscall 57"),
            // exit_group ends where its thread's records end.
            (te::SLICE_END, 300, "syscall", "syscall 231"),
        ]
    );
    let ann = |i: usize, name: &str| evs[i].5.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
    assert_eq!(ann(0, "nr"), Some(1));
    assert_eq!(ann(0, "arg1"), Some(1));
    assert_eq!(ann(0, "arg2"), Some(0x1000));
    assert_eq!(ann(0, "arg3"), Some(5));
    assert_eq!(ann(1, "ret"), Some(5));
    assert_eq!(ann(2, "pc"), Some(0x401000));
    assert_eq!((ann(2, "size"), ann(2, "insns")), (Some(12), Some(3)));
    assert_eq!(ann(3, "address"), Some(0x5000));
    assert_eq!((ann(3, "pc"), ann(3, "value")), (Some(0x401004), Some(42)));
    // -ENOENT as int64: two's complement.
    assert_eq!(ann(6, "ret"), Some((-2i64) as u64));
    assert_eq!(ann(9, "no_return"), Some(1));
    // The thread's and the other thread's tracks.
    assert_eq!(evs[0].1, evs[9].1);
    assert_eq!(evs[2].1, evs[4].1);
    assert_ne!(evs[8].1, evs[0].1);
}

#[test]
fn a_forked_run_is_a_process_per_file_with_distinct_tids() {
    let parent = trace(10, 1, |b| b.push(100, 0, 0, 5, &[0]));
    let child = trace(11, 1, |b| b.push(200, 0, 0, 5, &[0]));
    let packets = convert(&[parent, child], &[RegionSpec::default_spec()]);
    let tracks: Vec<&Descriptor> = packets.iter().filter_map(|p| p.track.as_ref()).collect();
    let ids: Vec<(Option<u64>, Option<u64>)> = tracks.iter().map(|t| (t.pid, t.tid)).collect();
    assert_eq!(
        ids,
        [
            (Some(10), None),
            (Some(10), Some(1)),
            (Some(11), None),
            (Some(11), Some(2))
        ]
    );
    let uuids: std::collections::HashSet<u64> = tracks.iter().map(|t| t.uuid).collect();
    assert_eq!(uuids.len(), 4);
    // The name interned once serves both files.
    let s = strings(&packets);
    assert_eq!(s.values().filter(|n| *n == "arg1=5").count(), 1);
}

#[test]
fn names_go_inline_once_the_table_is_full() {
    let n = MAX_INTERNED as u64 + 10;
    let f = trace(7, 1, |b| {
        for i in 0..n {
            b.push(100 + i, 0, 0, 1000 + i, &[0]);
        }
    });
    let packets = convert(&[f], &[RegionSpec::default_spec()]);
    let evs = events(&packets);
    assert_eq!(evs.len() as u64, n);
    assert_eq!(evs.last().unwrap().4, format!("arg1={}", 1000 + n - 1));
    let inline = packets
        .iter()
        .filter(|p| p.event.as_ref().is_some_and(|e| e.name.is_some()))
        .count();
    assert_eq!(inline, 10);
}
