#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Events and system calls together: a guest doing one hypertrace event and
# one getppid per iteration (event-bench "mixed") against the two alone
# ("store", "syscall") and the bare loop ("nostore"), for each place the
# trace can go. The ratio is mixed / (store + syscall - nostore): 1.0 means
# an event and a system call cost no more together than apart. Prints a
# markdown table; progress on stderr.
#
#   bash benches/event_syscall_mix.sh
#
# Environment:
#   HT_USER  ht-user binary (default: build the release binary into
#            target/bench and use it)
#   RUNS     runs per measurement, median reported (default 5)
#   ITER     iterations per run (default 1000000)
#   ARCH     guest architecture (default x86_64)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-5}
ITER=${ITER:-1000000}
ARCH=${ARCH:-x86_64}
GUEST=$ROOT/testdata/$ARCH/event-bench
# shellcheck source=benches/lib.sh
source "$ROOT/benches/lib.sh"

log() { printf '%s\n' "$*" >&2; }
die() { log "event_syscall_mix.sh: $*"; exit 1; }

[[ -x $GUEST ]] || die "guest missing: $GUEST"
command -v hyperfine >/dev/null || die "hyperfine is needed"

bench_binary

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ht-mix-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
BASE=$WORK/ht

# Where the trace goes: a binary trace file, a -D log file, and the text
# log on stderr (shared with the guest's output, so ordered with it).
declare -A OUTPUTS=(
    ["binary trace (-trace-file)"]="-trace-file $WORK/trace.bin"
    ["log file (-D)"]="-trace guest_hypertrace -D $WORK/log"
    ["log on stderr"]="-trace guest_hypertrace"
)

printf '| trace to | nostore | store | syscall | mixed | mixed / (store + syscall - nostore) |\n'
printf '|---|---:|---:|---:|---:|---:|\n'
for label in "binary trace (-trace-file)" "log file (-D)" "log on stderr"; do
    declare -A T=()
    for mode in nostore store syscall mixed; do
        log "$label: $mode ..."
        measure "rm -f $WORK/trace.bin* $WORK/log; $HT -hypertrace $BASE ${OUTPUTS[$label]} $GUEST $BASE $ITER $mode >/dev/null 2>$WORK/stderr"
        T[$mode]=$T_MED
    done
    ratio=$(python3 -c "import sys; n,s,c,m=map(float,sys.argv[1:]); print('%.2f' % (m / (s + c - n)))" \
        "${T[nostore]}" "${T[store]}" "${T[syscall]}" "${T[mixed]}")
    printf '| %s | %s s | %s s | %s s | %s s | %s |\n' "$label" \
        "${T[nostore]}" "${T[store]}" "${T[syscall]}" "${T[mixed]}" "$ratio"
done
