#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# ht-trace profile on a large region trace: the `profile` guest with N
# named regions recorded with -hypertrace-profile and counters=on (N=35000
# gives about 10 million blocks inside regions), then `ht-trace profile`
# with every output (text, folded stacks, flame graph, callgrind) timed;
# and what recording the blocks costs the run against recording only the
# events. Markdown on stdout, progress on stderr.
#
#   bash benches/profile.sh
#
# Environment: HT_USER (default: build the release binary into
# target/bench; ht-trace is taken from the same directory), RUNS (default
# 3), ARCH (default x86_64), REGIONS (default 35000).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-3}
ARCH=${ARCH:-x86_64}
REGIONS=${REGIONS:-35000}
GUEST=$ROOT/testdata/$ARCH/profile

log() { printf '%s\n' "$*" >&2; }
die() { log "profile.sh: $*"; exit 1; }

[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer"
[[ $REGIONS =~ ^[1-9][0-9]*$ ]] || die "REGIONS must be a positive integer"
command -v hyperfine >/dev/null || die "needs hyperfine (apt-get install hyperfine)"
[[ -x $GUEST ]] || die "test guest $GUEST missing"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# shellcheck source=lib.sh
source "$ROOT/benches/lib.sh"
bench_binary
HT_TRACE=$(dirname "$HT")/ht-trace
[[ -x $HT_TRACE ]] || die "no ht-trace next to $HT"

log "recording"
"$HT" -hypertrace "path=$WORK/ht,counters=on" -hypertrace-profile -trace-file "$WORK/run.bin" "$GUEST" "$REGIONS" >/dev/null
blocks=$("$HT_TRACE" profile --json "$WORK/run.bin" | python3 -c 'import json,sys; print(json.load(sys.stdin)["blocks_in_regions"])')
size=$(stat -c %s "$WORK/run.bin")

echo "### \`ht-trace profile\` ($ARCH, \`profile $REGIONS\`: $blocks blocks inside regions, trace $((size / 1000000)) MB, median of $RUNS [min-max] s)"
echo
echo "| outputs | s |"
echo "|---|---|"
log "profile, text"
measure "$HT_TRACE profile $WORK/run.bin >/dev/null"
echo "| text | $T_MED [$T_MIN-$T_MAX] |"
log "profile, every output"
measure "$HT_TRACE profile --folded $WORK/f.txt --svg $WORK/f.svg --callgrind $WORK/cg.out $WORK/run.bin >/dev/null"
echo "| text, folded, SVG, callgrind | $T_MED [$T_MIN-$T_MAX] |"
echo

echo "### Recording for the profile ($ARCH, \`profile $REGIONS\`, \`-trace-file\` in a temporary directory, median of $RUNS [min-max] s)"
echo
echo "| run | s |"
echo "|---|---|"
log "record without the profile"
measure "$HT -hypertrace path=$WORK/ht,counters=on -trace-file $WORK/r.bin $GUEST $REGIONS >/dev/null"
echo "| events only | $T_MED [$T_MIN-$T_MAX] |"
log "record with the profile"
measure "$HT -hypertrace path=$WORK/ht,counters=on -hypertrace-profile -trace-file $WORK/r.bin $GUEST $REGIONS >/dev/null"
echo "| \`-hypertrace-profile\` | $T_MED [$T_MIN-$T_MAX] |"
