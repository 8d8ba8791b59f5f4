#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The engine patch series before and after: CPU-bound guests (cpu-bench
# sieve, matmul, sha) under qemu-user, under an ht-user built on another
# engine (BEFORE, e.g. one built on the pristine Unicorn) and under this
# tree's ht-user (AFTER), plus the geometric mean of the ratios to
# qemu-user; and the hypertrace event cost (event-bench, -trace-file on
# disk) for both builds. Every run's output is checked against qemu-user's.
#
#   BEFORE=/path/to/old/ht-user bash benches/engine.sh > results.md
#
# Environment: BEFORE (required), AFTER (default: cargo build --release,
# target/release/ht-user), ARCH (default x86_64), QEMU (default
# /usr/bin/qemu-$ARCH), RUNS (default 3), WORKLOADS (default "sieve matmul
# sha"), EVENTS (default 10000000), SECTIONS (any of "cpu events"),
# BEFORE_GUEST (the event-bench the before binary runs; default the
# committed one).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/benches/lib.sh"
ARCH=${ARCH:-x86_64}
QEMU=${QEMU:-/usr/bin/qemu-$ARCH}
RUNS=${RUNS:-3}
WORKLOADS=${WORKLOADS:-sieve matmul sha}
EVENTS=${EVENTS:-10000000}
SECTIONS=${SECTIONS:-cpu events}
GUESTS=$ROOT/testdata/$ARCH

log() { printf '%s\n' "$*" >&2; }
die() { log "engine.sh: $*"; exit 1; }

[[ -n ${BEFORE:-} && -x $BEFORE ]] || die "set BEFORE to the ht-user binary to compare with"
if [[ -z ${AFTER:-} ]]; then
    log "building the release binary ..."
    (cd "$ROOT" && cargo build --release --quiet --bin ht-user) || die "release build failed"
fi
AFTER=${AFTER:-$ROOT/target/release/ht-user}
command -v hyperfine >/dev/null || die "needs hyperfine (apt-get install hyperfine)"
[[ -x $QEMU ]] || die "no qemu-user at $QEMU"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT INT TERM

# median_s CMD...: median wall seconds of $RUNS runs (lib.sh's measure).
median_s() {
    measure "$(printf '%q ' "$@")"
    echo "$T_MED"
}

if [[ " $SECTIONS " == *" cpu "* ]]; then
    echo "### CPU-bound guests, $ARCH (median of $RUNS)"
    echo
    echo "| workload | qemu-user s | before s | after s | before / qemu | after / qemu |"
    echo "|---|---:|---:|---:|---:|---:|"
    ratios_before=()
    ratios_after=()
    for w in $WORKLOADS; do
        log "cpu-bench $w ($ARCH) ..."
        expected=$("$QEMU" "$GUESTS/cpu-bench" "$w")
        for bin in "$BEFORE" "$AFTER"; do
            [[ $("$bin" "$GUESTS/cpu-bench" "$w") == "$expected" ]] \
                || die "$bin: cpu-bench $w output differs from qemu-user's"
        done
        q=$(median_s "$QEMU" "$GUESTS/cpu-bench" "$w")
        b=$(median_s "$BEFORE" "$GUESTS/cpu-bench" "$w")
        a=$(median_s "$AFTER" "$GUESTS/cpu-bench" "$w")
        rb=$(awk -v x="$b" -v y="$q" 'BEGIN { printf "%.2f", x / y }')
        ra=$(awk -v x="$a" -v y="$q" 'BEGIN { printf "%.2f", x / y }')
        ratios_before+=("$rb")
        ratios_after+=("$ra")
        echo "| $w | $q | $b | $a | $rb | $ra |"
    done
    geo() { printf '%s\n' "$@" | awk '{ s += log($1) } END { printf "%.2f", exp(s / NR) }'; }
    echo "| geometric mean | | | | $(geo "${ratios_before[@]}") | $(geo "${ratios_after[@]}") |"
    echo
fi

if [[ " $SECTIONS " == *" events "* ]]; then
    echo "### Hypertrace event with \`-trace-file\` on disk, $ARCH ($EVENTS events, median of $RUNS)"
    echo
    echo "| build | store s | nostore s | ns/event |"
    echo "|---|---:|---:|---:|"
    # BEFORE_GUEST: the event-bench the before binary runs (a guest built
    # with an older guest library, to measure both sides as users had
    # them); the after rows run the committed one, with each trace layout.
    rows=("before|$BEFORE|${BEFORE_GUEST:-$GUESTS/event-bench}|"
        "after|$AFTER|$GUESTS/event-bench|"
        "after, -trace-format fixed|$AFTER|$GUESTS/event-bench|-trace-format fixed")
    for row in "${rows[@]}"; do
        IFS='|' read -r label bin guest extra <<<"$row"
        for mode in store nostore; do
            base=$WORK/ht-$mode
            log "event-bench $mode ($label) ..."
            # shellcheck disable=SC2086 # $extra is zero or more words
            t=$(median_s "$bin" -hypertrace "$base" -trace-file "$WORK/trace.bin" $extra \
                "$guest" "$base" "$EVENTS" "$mode")
            printf -v "t_$mode" '%s' "$t"
        done
        ns=$(awk -v s="$t_store" -v n="$t_nostore" -v e="$EVENTS" 'BEGIN { printf "%.1f", (s - n) * 1e9 / e }')
        echo "| $label | $t_store | $t_nostore | $ns |"
    done
    echo
fi
