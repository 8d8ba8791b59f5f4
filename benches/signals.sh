#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Signals: the cost of one signal round trip (raise, handler, sigreturn)
# natively, under qemu-user and under ht-user; and what an installed
# handler costs a compute-bound guest (ht-user then checks for host
# signals at every translated block). Prints markdown tables; progress on
# stderr.
#
#   bash benches/signals.sh
#
# Environment:
#   HT_USER  ht-user binary (default: build the release binary into
#            target/bench and use it)
#   RUNS     runs per measurement, median reported (default 5)
#   SIGNALS  signals per signal-bench run (default 200000)
#   ARCH     guest architecture (default x86_64)
#   QEMU     qemu-user binary (default /usr/bin/qemu-ARCH)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-5}
SIGNALS=${SIGNALS:-200000}
ARCH=${ARCH:-x86_64}
QEMU=${QEMU:-/usr/bin/qemu-$ARCH}
GUESTS=$ROOT/testdata/$ARCH
# shellcheck source=benches/lib.sh
source "$ROOT/benches/lib.sh"

log() { printf '%s\n' "$*" >&2; }
die() { log "signals.sh: $*"; exit 1; }

[[ -x $GUESTS/signal-bench && -x $GUESTS/cpu-bench ]] || die "guests missing in $GUESTS"
command -v hyperfine >/dev/null || die "hyperfine is needed"

bench_binary

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ht-signals-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

calc() { awk "BEGIN { printf \"$1\", $2 }"; }

echo "### Signal round trip ($ARCH, $SIGNALS signals, median of $RUNS, load $(cut -d' ' -f1 /proc/loadavg))"
echo
echo "| runner | s | us per signal |"
echo "|---|---|---|"
runners=()
if [[ $ARCH == "$(uname -m)" ]]; then
    runners+=("native|$GUESTS/signal-bench")
fi
[[ -x $QEMU ]] && runners+=("qemu-user|$QEMU $GUESTS/signal-bench")
runners+=("ht-user|$HT $GUESTS/signal-bench")
for r in "${runners[@]}"; do
    name=${r%%|*}
    cmd=${r#*|}
    log "signal-bench under $name ..."
    measure "$cmd $SIGNALS"
    echo "| $name | $T_MED [$T_MIN-$T_MAX] | $(calc '%.2f' "$T_MED * 1000000 / $SIGNALS") |"
done
echo

echo "### A handler installed, compute-bound guest (cpu-bench sha, $ARCH, median of $RUNS)"
echo
echo "| run | s | ratio |"
echo "|---|---|---|"
log "cpu-bench sha without a handler ..."
measure "$HT $GUESTS/cpu-bench sha 1"
base=$T_MED
echo "| no handler | $T_MED [$T_MIN-$T_MAX] | |"
log "cpu-bench sha with a handler ..."
measure "$HT $GUESTS/cpu-bench sha 1 handler"
echo "| SIGUSR1 handler installed | $T_MED [$T_MIN-$T_MAX] | $(calc '%.3f' "$T_MED / $base") |"
