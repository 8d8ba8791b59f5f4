#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Export benchmark: records a trace of about 10,000,000 events with named
# regions (the named-regions guest: a parent's trace and a forked child's),
# converts it with `ht-trace convert --to parquet`, `--to chrome` and `--to
# perfetto`, and reports the time, peak memory and size of each, then how
# long DuckDB takes to query the tables. Prints markdown on stdout and
# progress on stderr.
#
#   bash benches/parquet.sh
#
# Environment:
#   HT_USER, HT_TRACE  binaries to measure (default: cargo build --release
#                      and use target/release/{ht-user,ht-trace})
#   EVENTS     events wanted in the trace (default 10000000)
#   RUNS       runs per conversion; the median is reported (default 3)
#   TRACE_DIR  where the trace and the outputs go (default: a fresh
#              directory under TMPDIR; needs about 3 GB for 10 M events)
#   QUERY      0: skip the DuckDB query (which needs scripts/py-env.sh)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EVENTS=${EVENTS:-10000000}
RUNS=${RUNS:-3}
QUERY=${QUERY:-1}
GUEST=$ROOT/testdata/x86_64/named-regions

log() { printf '%s\n' "$*" >&2; }
die() { log "parquet.sh: $*"; exit 1; }

[[ $EVENTS =~ ^[1-9][0-9]*$ ]] || die "EVENTS must be a positive integer"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer"
[[ -x $GUEST ]] || die "test guest missing: $GUEST"

if [[ -z ${HT_USER:-} || -z ${HT_TRACE:-} ]]; then
    log "building the release binaries ..."
    (cd "$ROOT" && cargo build --release --quiet --bins) || die "release build failed"
fi
HT=${HT_USER:-$ROOT/target/release/ht-user}
HTT=${HT_TRACE:-$ROOT/target/release/ht-trace}
[[ -x $HT && -x $HTT ]] || die "no binaries at $HT and $HTT"

WORK=$(mktemp -d "${TRACE_DIR:-${TMPDIR:-/tmp}}/ht-parquet-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM

now_ns() { date +%s%N; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
secs() { awk -v d="$1" 'BEGIN { printf "%.2f", d / 1e9 }'; }
mb() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1e6 }'; }

# named-regions emits 6 events an iteration and a point every 10th
# (docs: guest/tests/named-regions.c), and 8 more.
ITER=$((EVENTS * 10 / 61))
log "recording named-regions $ITER (about $EVENTS events) ..."
t0=$(now_ns)
"$HT" -hypertrace "$WORK/ht" -trace-file "$WORK/run.bin" "$GUEST" "$ITER" >/dev/null
t1=$(now_ns)
FILES=("$WORK"/run.bin "$WORK"/run.bin.*)
trace_bytes=$(cat "${FILES[@]}" | wc -c)
events=$("$HTT" report --json "${FILES[@]}" | python3 -c 'import json, sys; print(json.load(sys.stdin)["events"])')

# run_conv OUT ARGS...: times `ht-trace ARGS` $RUNS times; sets T (median
# ns) and M (peak resident KB of the last run).
run_conv() {
    local out=$1 i s e
    shift
    T=$(for ((i = 0; i < RUNS; i++)); do
        rm -rf "$out"
        s=$(now_ns)
        /usr/bin/time -f %M -o "$WORK/mem" "$HTT" "$@" || die "failed: ht-trace $*"
        e=$(now_ns)
        echo $((e - s))
    done | median)
    M=$(cat "$WORK/mem")
}

echo "### ht-trace convert on a trace of $events events with named regions (median of $RUNS)"
echo
echo "Trace written by \`ht-user -hypertrace BASE -trace-file FILE testdata/x86_64/named-regions $ITER\`" \
    "in $(secs $((t1 - t0))) s: $(mb "$trace_bytes") MB in ${#FILES[@]} files (compact layout)."
echo
echo "| output | seconds | M events/s | peak memory MB | output MB |"
echo "|---|---:|---:|---:|---:|"
row() { # LABEL SECONDS-NS KB BYTES
    printf '| %s | %s | %s | %s | %s |\n' "$1" "$(secs "$2")" \
        "$(awk -v t="$2" -v e="$events" 'BEGIN { printf "%.1f", e / (t / 1e9) / 1e6 }')" \
        "$(awk -v k="$3" 'BEGIN { printf "%.0f", k / 1000 }')" "$(mb "$4")"
}
log "converting to parquet ..."
run_conv "$WORK/tables" convert --to parquet -o "$WORK/tables" "${FILES[@]}"
pq_t=$T pq_m=$M
pq_bytes=$(cat "$WORK"/tables/*.parquet | wc -c)
row '`convert --to parquet -o DIR`' "$pq_t" "$pq_m" "$pq_bytes"
log "converting to chrome JSON ..."
run_conv "$WORK/trace.json" convert --to chrome -o "$WORK/trace.json" "${FILES[@]}"
row '`convert --to chrome -o FILE`' "$T" "$M" "$(stat -c %s "$WORK/trace.json")"
rm -f "$WORK/trace.json"
log "converting to perfetto ..."
run_conv "$WORK/trace.perfetto-trace" convert --to perfetto -o "$WORK/trace.perfetto-trace" "${FILES[@]}"
row '`convert --to perfetto -o FILE`' "$T" "$M" "$(stat -c %s "$WORK/trace.perfetto-trace")"
rm -f "$WORK/trace.perfetto-trace"
echo
echo "Parquet tables:"
echo
for t in events regions memory blocks syscalls; do
    printf -- '- `%s.parquet`: %s MB\n' "$t" "$(mb "$(stat -c %s "$WORK/tables/$t.parquet")")"
done
echo

if [[ $QUERY != 0 ]]; then
    log "querying with DuckDB ..."
    PY=$(bash "$ROOT/scripts/py-env.sh") || die "scripts/py-env.sh failed"
    "$PY" - "$WORK/tables" <<'EOF'
import sys, time
import duckdb

d = sys.argv[1]
for sql in [
    f"SELECT name, count(*), median(duration_ns) FROM '{d}/regions.parquet' GROUP BY name ORDER BY name",
    f"SELECT role, count(*) FROM '{d}/events.parquet' GROUP BY role ORDER BY role",
]:
    con = duckdb.connect()
    t0 = time.perf_counter()
    rows = con.execute(sql).fetchall()
    t = time.perf_counter() - t0
    print(f"DuckDB {duckdb.__version__}, {t:.2f} s: `{sql.replace(d, 'DIR')}`")
    print()
    for r in rows:
        # The guest's 255-byte name, shortened.
        print("    " + " | ".join(str(v) if len(str(v)) <= 40 else str(v)[:37] + "..." for v in r))
    print()
EOF
fi
