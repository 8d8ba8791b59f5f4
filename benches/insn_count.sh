#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# What the exact instruction counters of hypertrace events cost (engine
# patch 0023): CPU-bound guests with a channel open, `counters=on` against
# off (the default); the per-event cost with the binary trace
# on tmpfs, on and off; and the repeatability of the counts (the
# `insn-count` guest ten times, every count compared). Markdown on stdout,
# progress on stderr.
#
#   bash benches/insn_count.sh
#
# Environment: HT_USER (default: build the release binary into
# target/bench), RUNS (default 5), ARCH (default x86_64), EVENTS (events per
# event-bench run, default 10000000), WORKLOADS (default "sieve matmul sha").
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-5}
ARCH=${ARCH:-x86_64}
EVENTS=${EVENTS:-10000000}
WORKLOADS=${WORKLOADS:-sieve matmul sha}
GUESTS=$ROOT/testdata/$ARCH

log() { printf '%s\n' "$*" >&2; }
die() { log "insn_count.sh: $*"; exit 1; }

[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer"
[[ $EVENTS =~ ^[1-9][0-9]*$ ]] || die "EVENTS must be a positive integer"
command -v hyperfine >/dev/null || die "needs hyperfine (apt-get install hyperfine)"
for g in cpu-bench event-bench insn-count; do
    [[ -x $GUESTS/$g ]] || die "test guest $GUESTS/$g missing"
done
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
TRACE_DIR=/dev/shm
[[ -d $TRACE_DIR ]] || TRACE_DIR=$WORK
# shellcheck source=lib.sh
source "$ROOT/benches/lib.sh"
bench_binary

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.1f%%", (b / a - 1) * 100 }'; }

echo "### Counting cost on CPU-bound guests ($ARCH, \`cpu-bench WORKLOAD\` with \`-hypertrace\`, median of $RUNS [min-max] s)"
echo
echo "| workload | counters=off | counters=on | cost |"
echo "|---|---|---|---|"
for w in $WORKLOADS; do
    log "cpu-bench $w"
    measure "$HT -hypertrace path=$WORK/ht,counters=off $GUESTS/cpu-bench $w >/dev/null"
    off=$T_MED off_r="$T_MIN-$T_MAX"
    measure "$HT -hypertrace path=$WORK/ht,counters=on $GUESTS/cpu-bench $w >/dev/null"
    echo "| $w | $off [$off_r] | $T_MED [$T_MIN-$T_MAX] | $(ratio "$off" "$T_MED") |"
done
echo

echo "### Event cost with the counters ($ARCH, event-bench $EVENTS events, \`-trace-file\` on tmpfs, median of $RUNS)"
echo
echo "| counters | s | ns per event |"
echo "|---|---|---|"
for c in off on; do
    log "event-bench counters=$c"
    measure "$HT -hypertrace path=$WORK/ht,counters=$c -trace-file $TRACE_DIR/ht-bench.httrace $GUESTS/event-bench $WORK/ht $EVENTS store >/dev/null"
    echo "| $c | $T_MED [$T_MIN-$T_MAX] | $(awk -v t="$T_MED" -v n="$EVENTS" 'BEGIN { printf "%.1f", t * 1e9 / n }') |"
done
rm -f "$TRACE_DIR/ht-bench.httrace"
echo

log "repeatability"
first=
for run in $(seq 1 10); do
    "$HT" -hypertrace "path=$WORK/ht,counters=on" -trace-file "$WORK/r.httrace" "$GUESTS/insn-count" "$WORK/ht" 1 10 1000 100000 >/dev/null
    counts=$(python3 "$ROOT/docs/read_trace.py" --csv "$WORK/r.httrace" | python3 -c '
import csv, sys
print(" ".join(",".join((row["arg1"], row["insns"], row["blocks"])) for row in csv.DictReader(sys.stdin)))
')
    [[ $counts == *[1-9]*,*[1-9]*,*[1-9]* ]] || die "no counts in the trace: $counts"
    if [[ -z $first ]]; then
        first=$counts
    elif [[ $counts != "$first" ]]; then
        die "run $run counted differently: $counts against $first"
    fi
done
echo "### Repeatability: \`insn-count\` ($ARCH) 10 runs, every event's counts identical"
echo
echo "arg1,insns,blocks of each event: $first"
