#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Multi-threaded guests: hypertrace events per second with 1, 2 and 8
# emitting threads, the scheduler's cost per switch and its share of the
# run time on a compute-bound 4-thread guest, and ht-user against
# qemu-user on that guest. Prints markdown tables; progress on stderr.
#
#   bash benches/threads.sh
#
# Environment:
#   HT_USER  ht-user binary (default: build the release binary into
#            target/bench and use it)
#   RUNS     runs per measurement, median reported (default 5)
#   TOTAL    events per run, split over the emitting threads (default 8000000)
#   ARCH     guest architecture (default x86_64)
#   QEMU     qemu-user binary (default /usr/bin/qemu-ARCH)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-5}
TOTAL=${TOTAL:-8000000}
ARCH=${ARCH:-x86_64}
QEMU=${QEMU:-/usr/bin/qemu-$ARCH}
GUESTS=$ROOT/testdata/$ARCH
# shellcheck source=benches/lib.sh
source "$ROOT/benches/lib.sh"

log() { printf '%s\n' "$*" >&2; }
die() { log "threads.sh: $*"; exit 1; }

[[ -x $GUESTS/threads-events && -x $GUESTS/threads-cpu ]] || die "thread guests missing in $GUESTS"
command -v hyperfine >/dev/null || die "hyperfine is needed"

bench_binary

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ht-threads-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

calc() { awk "BEGIN { printf \"$1\", $2 }"; }
load1() { cut -d' ' -f1 /proc/loadavg; }


# A fresh channel base for every run (ht-user refuses existing files).
BASE_CMD="b=\$(mktemp -u $WORK/ch.XXXXXX);"

# The scheduler's counters of one run (debug log) and its wall time:
# "switches preemptions switch_ns timed_switches wall_ns".
sched_counts() {
    local t0 t1 line
    t0=$(date +%s%N)
    line=$(HT_USER_LOG=debug "$HT" "$@" 2>&1 >/dev/null |
        sed -n 's/.*threads created, \([0-9]*\) switches, \([0-9]*\) preemptions, \([0-9]*\) ns in \([0-9]*\) timed.*/\1 \2 \3 \4/p')
    t1=$(date +%s%N)
    echo "${line:-0 0 0 0} $((t1 - t0))"
}

echo "hyperfine, $RUNS runs per measurement, median wall-clock seconds, [fastest-slowest]."
echo "Load average (1 min) at the start: $(load1), nproc $(nproc). ht-user: $HT"
echo

# ---- events per second --------------------------------------------------------

log "a. events per second with 1, 2, 8 emitting threads"
echo "### $ARCH: hypertrace events per second, $TOTAL events per run"
echo
echo "\`threads-events BASE THREADS TOTAL/THREADS\`: each thread on its own client,"
echo "4 arguments per event. Binary trace to /dev/null (\`-trace-file /dev/null\`), or"
echo "the event disabled (\`-trace -guest_hypertrace\`: the emulator's share alone)."
echo
echo "| threads | sink | s | M events/s | CPU/wall | switches | load |"
echo "|---|---|---|---|---|---|---|"
for t in 1 2 8; do
    n=$((TOTAL / t))
    for sink in file off; do
        if [[ $sink == file ]]; then
            opts="-trace-file /dev/null"
            name='`-trace-file /dev/null`'
        else
            opts="-trace -guest_hypertrace"
            name='event disabled'
        fi
        out=$(bash -c "$BASE_CMD $HT $opts -hypertrace \$b $GUESTS/threads-events \$b $t $n" | tail -1)
        [[ $out == "threads=$t events=$((n * t))" ]] || die "threads-events printed '$out'"
        counts=$(bash -c "$BASE_CMD HT_USER_LOG=debug $HT $opts -hypertrace \$b $GUESTS/threads-events \$b $t $n 2>&1 >/dev/null" |
            sed -n 's/.*threads created, \([0-9]*\) switches.*/\1/p')
        measure "$BASE_CMD $HT $opts -hypertrace \$b $GUESTS/threads-events \$b $t $n"
        printf '| %s | %s | %s [%s-%s] | %s | %s | %s | %s |\n' "$t" "$name" "$T_MED" "$T_MIN" "$T_MAX" \
            "$(calc %.1f "$n * $t / $T_MED / 1e6")" "$(calc %.2f "$T_CPU / $T_MED")" "${counts:-0}" "$(load1)"
    done
done
echo

# ---- scheduler cost ---------------------------------------------------------------

log "b. scheduler cost on threads-cpu"
CPU=$GUESTS/threads-cpu
ref=$("$QEMU" "$CPU" 1 2>/dev/null || "$HT" "$CPU" 1)
for args in "4" "1"; do
    got=$("$HT" "$CPU" $args)
    [[ $got == "$ref" ]] || die "threads-cpu $args printed '$got', expected '$ref'"
done
echo "### $ARCH: scheduler cost, \`threads-cpu 4\` (compute-bound, 4 threads, no synchronisation)"
echo
echo "Every switch in this guest is a preemption at the end of a time slice (a slice"
echo "that ends with no other thread ready and nothing parked just runs on). ht-user"
echo "times each one on the host clock, from the block hook that ends the slice to"
echo "the first block of the next (leaving emu_start, saving and restoring the CPU"
echo "contexts, re-entering emu_start): the per-switch and share columns come from that"
echo "(one run with HT_USER_LOG=debug). Wall and CPU seconds are medians of the timed runs."
echo
echo "| run | wall s | CPU s | switches | us/switch | share of run time | load |"
echo "|---|---|---|---|---|---|---|"
for cfg in "1-thread|$CPU 1" "default|$CPU 4" "slice=2000|-sched slice=2000 $CPU 4" \
    "slice=200|-sched slice=200 $CPU 4" "no preemption|-sched slice=4000000000 $CPU 4"; do
    label=${cfg%%|*} args=${cfg#*|}
    # shellcheck disable=SC2086
    read -r sw _ sns timed wall < <(sched_counts $args)
    measure "$HT $args"
    case $label in
        1-thread) desc='`threads-cpu 1` (same work on one worker; main waits in join)' ;;
        default) desc='`threads-cpu 4`, default slices (20000 blocks)' ;;
        no\ preemption) desc='`threads-cpu 4`, `-sched slice=4000000000` (hook, no switches)' ;;
        *) desc="\`threads-cpu 4\`, \`-sched $label\`" ;;
    esac
    per=n/a share=n/a
    if ((timed > 0)); then
        per=$(calc %.2f "$sns / $timed / 1000")
        share=$(calc %.2f%% "$sns / $wall * 100")
    fi
    printf '| %s | %s [%s-%s] | %s | %s | %s | %s | %s |\n' "$desc" "$T_MED" "$T_MIN" "$T_MAX" "$T_CPU" \
        "$sw" "$per" "$share" "$(load1)"
done
echo

# ---- against qemu-user -------------------------------------------------------------

if [[ -x $QEMU ]]; then
    log "c. ht-user vs $QEMU on threads-cpu"
    qver=$("$QEMU" --version | head -1 | sed 's/^qemu-[a-z0-9_]* version //')
    echo "### $ARCH: \`threads-cpu\` under ht-user and qemu-$ARCH ($qver)"
    echo
    echo "qemu-user runs each guest thread on its own host thread, in parallel on the"
    echo "machine's $(nproc) cores; ht-user runs them one at a time on one host thread."
    echo
    echo "| threads | qemu wall s | qemu CPU s | ht-user wall s | ht-user CPU s | wall ratio | CPU ratio | load |"
    echo "|---|---|---|---|---|---|---|---|"
    for t in 4 1; do
        measure "$QEMU $CPU $t"
        q=$T_MED qr="[$T_MIN-$T_MAX]" qc=$T_CPU
        measure "$HT $CPU $t"
        printf '| %s | %s %s | %s | %s [%s-%s] | %s | %s | %s | %s |\n' "$t" "$q" "$qr" "$qc" \
            "$T_MED" "$T_MIN" "$T_MAX" "$T_CPU" "$(calc %.2f "$T_MED / $q")" \
            "$(calc %.2f "$T_CPU / $qc")" "$(load1)"
    done
    echo
fi
echo "Load average (1 min) at the end: $(load1)."
