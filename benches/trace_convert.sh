#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Binary trace benchmarks: what writing -trace-file costs per event, and how
# fast ht-trace reads a 10-million-event trace. Prints markdown tables on
# stdout and progress on stderr.
#
#   bash benches/trace_convert.sh
#
# Environment:
#   HT_USER, HT_TRACE  binaries to measure (default: cargo build --release
#                      and use target/release/{ht-user,ht-trace})
#   EVENTS     events in the trace and per event-bench run (default 10000000)
#   RUNS       runs per measurement; the median is reported (default 3)
#   TRACE_DIR  where the trace file goes (default: a fresh directory under
#              TMPDIR; needs 56 bytes per event, 560 MB for 10 M)
#   SECTIONS   any of "write convert" (default both)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EVENTS=${EVENTS:-10000000}
RUNS=${RUNS:-3}
SECTIONS=${SECTIONS:-write convert}
GUESTS=$ROOT/testdata/x86_64

log() { printf '%s\n' "$*" >&2; }
die() { log "trace_convert.sh: $*"; exit 1; }

[[ $EVENTS =~ ^[1-9][0-9]*$ ]] || die "EVENTS must be a positive integer"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer"
[[ -x $GUESTS/events && -x $GUESTS/event-bench ]] || die "test guests missing in $GUESTS"

if [[ -z ${HT_USER:-} || -z ${HT_TRACE:-} ]]; then
    log "building the release binaries ..."
    (cd "$ROOT" && cargo build --release --quiet --bins) || die "release build failed"
fi
HT=${HT_USER:-$ROOT/target/release/ht-user}
HTT=${HT_TRACE:-$ROOT/target/release/ht-trace}
[[ -x $HT && -x $HTT ]] || die "no binaries at $HT and $HTT"

WORK=$(mktemp -d)
TRACE_DIR=${TRACE_DIR:-$WORK}
TRACE=$TRACE_DIR/trace-$$.bin
cleanup() { rm -rf "$WORK"; rm -f "$TRACE"; }
trap cleanup EXIT INT TERM

# now_ns: monotonic-enough wall clock in ns.
now_ns() { date +%s%N; }

# median of the numbers on stdin
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# time_runs CMD...: runs CMD $RUNS times, prints the median seconds.
time_runs() {
    local i t0 t1
    for ((i = 0; i < RUNS; i++)); do
        t0=$(now_ns)
        "$@" >/dev/null 2>"$WORK/stderr" || { cat "$WORK/stderr" >&2; die "failed: $*"; }
        t1=$(now_ns)
        echo $((t1 - t0))
    done | median | awk '{ printf "%.3f", $1 / 1e9 }'
}

# A fresh channel base per run.
base() { echo "$WORK/ht-$RANDOM$RANDOM"; }

bench_event() { # MODE OPTIONS...
    local mode=$1 b
    shift
    b=$(base)
    "$HT" -hypertrace "$b" "$@" "$GUESTS/event-bench" "$b" "$EVENTS" "$mode"
}

if [[ " $SECTIONS " == *" write "* ]]; then
    log "event cost: event-bench, $EVENTS events, $RUNS runs each ..."
    echo "### Writing the binary trace: cost per event ($EVENTS events, median of $RUNS)"
    echo
    echo "| output | store s | nostore s | ns/event |"
    echo "|---|---:|---:|---:|"
    # The -trace-file rows write $EVENTS * 56 bytes to TRACE_DIR.
    row() { # LABEL OPTIONS...
        local label=$1 s n
        shift
        s=$(time_runs bench_event store "$@")
        n=$(time_runs bench_event nostore "$@")
        printf '| %s | %s | %s | %s |\n' "$label" "$s" "$n" \
            "$(awk -v s="$s" -v n="$n" -v e="$EVENTS" 'BEGIN { printf "%.1f", (s - n) * 1e9 / e }')"
    }
    row 'event trace disabled (`-trace -guest_hypertrace`): emulator alone' -trace -guest_hypertrace -D /dev/null
    row '`-D /dev/null` (QEMU log text)' -D /dev/null
    row '`-trace-file` on disk' -trace-file "$TRACE"
    row '`-trace-file /dev/null`' -trace-file /dev/null
    row '`-D /dev/null -trace-file` on disk (both)' -D /dev/null -trace-file "$TRACE"
    echo
fi

if [[ " $SECTIONS " == *" convert "* ]]; then
    log "writing a trace of $EVENTS events with the events guest ..."
    b=$(base)
    t0=$(now_ns)
    "$HT" -hypertrace "$b" -trace-file "$TRACE" "$GUESTS/events" "$b" "$EVENTS" >/dev/null
    t1=$(now_ns)
    size=$(stat -c %s "$TRACE")
    echo "### ht-trace on a trace of $EVENTS events ($((size / 1000000)) MB, median of $RUNS)"
    echo
    echo "Trace written by \`ht-user -hypertrace BASE -trace-file FILE testdata/x86_64/events BASE $EVENTS\`" \
        "in $(awk -v d=$((t1 - t0)) 'BEGIN { printf "%.2f", d / 1e9 }') s."
    echo
    echo "| command | seconds | M events/s | output MB |"
    echo "|---|---:|---:|---:|"
    row() { # LABEL ARGS...
        local label=$1 s out
        shift
        s=$(time_runs "$HTT" "$@")
        out=$("$HTT" "$@" | wc -c)
        printf '| %s | %s | %s | %s |\n' "$label" "$s" \
            "$(awk -v s="$s" -v e="$EVENTS" 'BEGIN { printf "%.1f", e / s / 1e6 }')" \
            "$((out / 1000000))"
    }
    row '`ht-trace convert --to csv`' convert --to csv "$TRACE"
    row '`ht-trace convert --to log`' convert --to log "$TRACE"
    row '`ht-trace convert --to chrome`' convert --to chrome "$TRACE"
    row '`ht-trace convert --to perfetto`' convert --to perfetto "$TRACE"
    row '`ht-trace report`' report "$TRACE"
    echo
    echo "Output goes to a pipe counted by \`wc -c\` (timed runs: /dev/null); the trace is in the page cache."
fi
