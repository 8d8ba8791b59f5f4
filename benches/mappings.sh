#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Address-space bookkeeping: N one-page mappings created and removed
# (`mapping-bench many N`), and created, partly replaced, protected and
# checked (`mapping-bench check N`) under qemu-user and ht-user, and mprotect/munmap
# of single pages inside a 512 GiB reservation (64 GiB where the guest's
# address space is 39 bits, riscv64; `mapping-bench reserve`,
# which prints its own times per call). Prints markdown tables; progress
# on stderr.
#
#   bash benches/mappings.sh
#
# Environment:
#   HT_USER  ht-user binary (default: build the release binary into
#            target/bench and use it)
#   RUNS     runs per measurement, median reported (default 3)
#   COUNTS   mapping counts (default "1000 2000 4000 8000")
#   ARCH     guest architecture (default x86_64)
#   QEMU     qemu-user binary (default /usr/bin/qemu-ARCH)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-3}
COUNTS=${COUNTS:-1000 2000 4000 8000}
ARCH=${ARCH:-x86_64}
QEMU=${QEMU:-/usr/bin/qemu-$ARCH}
GUEST=$ROOT/testdata/$ARCH/mapping-bench
# shellcheck source=benches/lib.sh
source "$ROOT/benches/lib.sh"

log() { printf '%s\n' "$*" >&2; }
die() { log "mappings.sh: $*"; exit 1; }

[[ -x $GUEST ]] || die "guest missing: $GUEST"
command -v hyperfine >/dev/null || die "hyperfine is needed"
[[ -x $QEMU ]] || die "qemu-user missing: $QEMU"

bench_binary

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ht-mappings-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

printf '| mappings | qemu-user s | ht-user s | ht-user / qemu |\n'
printf '|---:|---:|---:|---:|\n'
for n in $COUNTS; do
    log "many $n ..."
    measure "$QEMU $GUEST many $n >/dev/null"
    q=$T_MED
    measure "$HT $GUEST many $n >/dev/null"
    h=$T_MED
    printf '| %s | %s | %s | %s |\n' "$n" "$q" "$h" \
        "$(python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) / float(sys.argv[1])))" "$q" "$h")"
done

printf '\n| mappings checked | qemu-user s | ht-user s | ht-user / qemu |\n'
printf '|---:|---:|---:|---:|\n'
for n in $COUNTS; do
    log "check $n ..."
    measure "$QEMU $GUEST check $n >/dev/null"
    q=$T_MED
    measure "$HT $GUEST check $n >/dev/null"
    h=$T_MED
    printf '| %s | %s | %s | %s |\n' "$n" "$q" "$h" \
        "$(python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) / float(sys.argv[1])))" "$q" "$h")"
done

printf '\n| 512 GiB reservation | qemu-user | ht-user |\n|---|---:|---:|\n'
log "reserve ..."
paste -d'|' <("$QEMU" "$GUEST" reserve | sed 's/: /|/') <("$HT" "$GUEST" reserve | sed 's/.*: //') |
    awk -F'|' '{ printf "| %s | %s | %s |\n", $1, $2, $3 }'
