#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Region tracing benchmarks: how fast memory accesses are recorded to the
# binary trace, what a region boundary costs, and what rules cost outside
# regions. Prints markdown tables on stdout, progress on stderr.
#
#   bash benches/region_trace.sh
#
# Environment:
#   HT_USER   ht-user binary (default: build the release binary into
#             target/bench)
#   RUNS      runs per measurement, the median is reported (default 5)
#   ITERS     memregion iterations (2 accesses each; default 10000000)
#   ARCH      guest architecture (default x86_64)
#   TRACE_DIR directory for the binary traces (default /dev/shm if present:
#             tmpfs, so the figure is the emulator's, not the disk's); a
#             directory on disk (e.g. TRACE_DIR=/work/tmp-trace, created if
#             missing) measures what the disk takes
#   SYNC      1: time each traced run until its trace is on the device
#             (ht-user, then `sync FILE`), so the page cache does not
#             hide the disk; default 1 when TRACE_DIR is not on tmpfs
#   FORMATS   -trace-format layouts of the memory-access table (default
#             "compact fixed")
#   ONLY      "mem": only the memory-access table
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-5}
ITERS=${ITERS:-10000000}
ARCH=${ARCH:-x86_64}
GUESTS=$ROOT/testdata/$ARCH

log() { printf '%s\n' "$*" >&2; }
die() { log "region_trace.sh: $*"; exit 1; }

[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer"
[[ $ITERS =~ ^[1-9][0-9]*$ ]] || die "ITERS must be a positive integer"
for g in memregion regions cpu-bench; do
    [[ -x $GUESTS/$g ]] || die "test guest $GUESTS/$g missing"
done

if [[ -n ${HT_USER:-} ]]; then
    HT=$HT_USER
else
    log "building the release binary into target/bench ..."
    (cd "$ROOT" && CARGO_TARGET_DIR="$ROOT/target/bench" cargo build --release --quiet) ||
        die "release build failed"
    HT=$ROOT/target/bench/release/ht-user
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ht-region.XXXXXX")
if [[ -z ${TRACE_DIR:-} ]]; then
    if [[ -d /dev/shm && -w /dev/shm ]]; then TRACE_DIR=$(mktemp -d /dev/shm/ht-region.XXXXXX); else TRACE_DIR=$WORK; fi
    CLEAN_TRACE_DIR=$TRACE_DIR
else
    mkdir -p "$TRACE_DIR"
fi
FSTYPE=$(stat -f -c %T "$TRACE_DIR")
if [[ -z ${SYNC:-} ]]; then
    if [[ $FSTYPE == tmpfs ]]; then SYNC=0; else SYNC=1; fi
fi
FORMATS=${FORMATS:-compact fixed}
log "traces in $TRACE_DIR ($FSTYPE), SYNC=$SYNC"
cleanup() { rm -rf "$WORK" "${CLEAN_TRACE_DIR:-}"; }
trap cleanup EXIT
BASE=$WORK/ht

# median of the arguments (seconds)
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# Runs "$@" RUNS times; prints "WALL CPU" medians in seconds.
measure() {
    local walls=() cpus=() out
    for ((r = 0; r < RUNS; r++)); do
        rm -f "$TRACE_DIR"/t.bin
        /usr/bin/time -o "$WORK/time" -f '%e %U %S' "$@" >/dev/null 2>&1 || die "failed: $*"
        read -r wall user sys <"$WORK/time"
        walls+=("$wall")
        cpus+=("$(awk -v u="$user" -v s="$sys" 'BEGIN {print u + s}')")
    done
    echo "$(median "${walls[@]}") $(median "${cpus[@]}")"
}

records() { python3 - "$1" <<'EOF'
import struct, sys
with open(sys.argv[1], "rb") as f:
    h = f.read(64)
print(struct.unpack_from("<Q", h, 24)[0])
EOF
}

# ht-user "$@", then (SYNC=1) the trace flushed to the device.
traced() {
    "$@" || return
    if [[ $SYNC == 1 ]]; then sync "$TRACE_DIR/t.bin"; fi
}
export -f traced
export SYNC TRACE_DIR

echo "## Memory accesses recorded to the binary trace ($ARCH, $ITERS iterations, median of $RUNS, traces on $FSTYPE, SYNC=$SYNC)"
echo
echo "| run | -trace-format | wall s | cpu s | records | records/s (wall) | bytes/record | ns per record (wall, over the untraced run) |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
read -r w0 c0 < <(measure "$HT" -hypertrace "$BASE" -trace-file "$TRACE_DIR/t.bin" "$GUESTS/memregion" "$BASE" "$ITERS")
echo "| no rule | - | $w0 | $c0 | - | - | - | - |"
for fmt in $FORMATS; do
    read -r w1 c1 < <(measure bash -c 'traced "$@"' _ "$HT" -hypertrace "$BASE" -hypertrace-region guest_mem_before_exec \
        -trace-file "$TRACE_DIR/t.bin" -trace-format "$fmt" "$GUESTS/memregion" "$BASE" "$ITERS")
    n=$(records "$TRACE_DIR/t.bin")
    bytes=$(stat -c %s "$TRACE_DIR/t.bin")
    rate=$(awk -v n="$n" -v w="$w1" 'BEGIN {printf "%.2f M", n / w / 1e6}')
    per=$(awk -v n="$n" -v w="$w1" -v b="$w0" 'BEGIN {printf "%.0f", (w - b) * 1e9 / n}')
    bpr=$(awk -v n="$n" -v b="$bytes" 'BEGIN {printf "%.2f", b / n}')
    echo "| -hypertrace-region guest_mem_before_exec | $fmt | $w1 | $c1 | $n | $rate | $bpr | $per |"
done
if [[ ${ONLY:-} == mem ]]; then exit 0; fi
read -r w2 c2 < <(measure bash -c 'traced "$@"' _ "$HT" -hypertrace "$BASE" -trace enable=guest_mem_before_exec \
    -trace-file "$TRACE_DIR/t.bin" "$GUESTS/memregion" "$BASE" "$ITERS")
n2=$(records "$TRACE_DIR/t.bin")
rate2=$(awk -v n="$n2" -v w="$w2" 'BEGIN {printf "%.2f M", n / w / 1e6}')
bpr2=$(awk -v n="$n2" -v b="$(stat -c %s "$TRACE_DIR/t.bin")" 'BEGIN {printf "%.2f", b / n}')
echo "| -trace enable=guest_mem_before_exec (whole run) | compact | $w2 | $c2 | $n2 | $rate2 | $bpr2 | - |"
echo

echo "## Rules installed, outside regions ($ARCH, runs alternated, median of $((2 * RUNS)))"
echo
echo "| guest (all with \`-hypertrace\`) | no rule s | with region rules s | ratio |"
echo "|---|---:|---:|---:|"
for w in sieve matmul; do
    as=() bs=()
    # Alternating the two keeps a change in machine load from favouring one.
    for ((k = 0; k < 2 * RUNS; k++)); do
        read -r a _ < <(RUNS=1 measure "$HT" -hypertrace "$BASE" "$GUESTS/cpu-bench" "$w")
        read -r b _ < <(RUNS=1 measure "$HT" -hypertrace "$BASE" \
            -hypertrace-region guest_mem_before_exec -hypertrace-region guest_exec_tb \
            "$GUESTS/cpu-bench" "$w")
        as+=("$a") bs+=("$b")
    done
    a=$(median "${as[@]}") b=$(median "${bs[@]}")
    echo "| cpu-bench $w | $a | $b | $(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.3f", b / a}') |"
done
echo

REPS=2000
# regions: REPS * 3 regions, each with k units of 200 work iterations and
# a progress point per unit.
echo "## Cost of a region boundary ($ARCH, regions $REPS 200, median of $RUNS)"
echo
echo "| run | wall s | per region (open + close) |"
echo "|---|---:|---:|"
read -r r0 _ < <(measure "$HT" -hypertrace "$BASE" -trace-file "$TRACE_DIR/t.bin" "$GUESTS/regions" "$BASE" "$REPS" 200)
echo "| no rule | $r0 | - |"
read -r r1 _ < <(measure "$HT" -hypertrace "$BASE" -hypertrace-region guest_exec_tb \
    -trace-file "$TRACE_DIR/t.bin" "$GUESTS/regions" "$BASE" "$REPS" 200)
echo "| -hypertrace-region guest_exec_tb | $r1 | $(awk -v a="$r0" -v b="$r1" -v n="$((REPS * 3))" 'BEGIN {printf "%.1f us", (b - a) * 1e6 / n}') |"
