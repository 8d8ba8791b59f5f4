#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Benchmarks for ht-user. Prints markdown tables on stdout, one row per
# measurement, and progress on stderr.
#
#   bash benches/run.sh
#
# Environment:
#   HT_USER   ht-user binary to measure (default: build the release binary
#             into target/bench and use it)
#   RUNS      runs per measurement; the median is reported (default 5)
#   EVENTS    hypertrace events per event-bench run (default 10000000)
#   ARCH      guest architecture: testdata/ARCH guests (default x86_64); for
#             other architectures the native column is n/a and outputs are
#             checked against qemu-user's
#   QEMU      qemu-user binary to compare with (default /usr/bin/qemu-ARCH)
#   LOG_DIR   directory for the on-disk -D log (default: a fresh directory
#             under TMPDIR)
#   NO_HYPERFINE=1  use the plain timing loop even if hyperfine is installed
#   SECTIONS  which tables to produce, any of "events idle qemu" (default all)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-5}
EVENTS=${EVENTS:-10000000}
ARCH=${ARCH:-x86_64}
QEMU=${QEMU:-/usr/bin/qemu-$ARCH}
SECTIONS=${SECTIONS:-events idle qemu}
GUESTS=$ROOT/testdata/$ARCH
EVENT_BENCH=$GUESTS/event-bench
CPU_BENCH=$GUESTS/cpu-bench
# Free space needed before writing the event log to disk (bytes).
DISK_NEEDED=$((5 * 1024 * 1024 * 1024))

log() { printf '%s\n' "$*" >&2; }
die() { log "run.sh: $*"; exit 1; }

[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer"
[[ $EVENTS =~ ^[1-9][0-9]*$ ]] || die "EVENTS must be a positive integer"
[[ -x $EVENT_BENCH && -x $CPU_BENCH ]] || die "test guests missing in $GUESTS"

# ---- the binary under test ----------------------------------------------

# shellcheck source=benches/lib.sh
source "$ROOT/benches/lib.sh"
bench_binary
[[ -x $HT ]] || die "no ht-user binary at $HT"

# ---- scratch space and channel bases -------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ht-bench.XXXXXX")
LOG_DIR=${LOG_DIR:-$WORK/log}
mkdir -p "$LOG_DIR"
DISK_LOG=$LOG_DIR/ht-bench-events.$$.log

cleanup() {
    rm -f "$DISK_LOG"
    rm -rf "$WORK"
}
trap cleanup EXIT

# Channel files are created under $WORK/ch with a fresh base for every run;
# ht-user removes them when it exits. Anything left there is a leak.
CH_DIR=$WORK/ch
mkdir -p "$CH_DIR"

check_no_channel_files() {
    local left
    left=$(find "$CH_DIR" -mindepth 1 -print 2>/dev/null | head -5)
    if [[ -n $left ]]; then
        log "run.sh: channel files left behind after '$1':"
        log "$left"
        LEAKS=$((LEAKS + 1))
        rm -f "$CH_DIR"/*
    fi
}
LEAKS=0

# A helper the timed commands call: runs ht-user with a fresh channel base
# (every "@BASE" argument is replaced by it) and a fixed, one-variable
# environment. The guest's stack layout depends on the size of its argv and
# environment, and the per-event cost depends on that layout (see the
# "stack moved" rows), so the environment must not vary between runs.
#   with-channel.sh HT-USER-OPTIONS... GUEST ARGS...
RUNNER=$WORK/with-channel.sh
cat >"$RUNNER" <<EOF
#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
set -euo pipefail
base=\$(mktemp -u "$CH_DIR/ht.XXXXXX")
args=()
for a in "\$@"; do
    if [[ \$a == @BASE ]]; then args+=("\$base"); else args+=("\$a"); fi
done
exec env -i HT_BENCH=1 "$HT" "\${args[@]}"
EOF
chmod +x "$RUNNER"

# ---- timing ----------------------------------------------------------------

if [[ -z ${NO_HYPERFINE:-} ]] && command -v hyperfine >/dev/null; then
    TIMER=hyperfine
else
    TIMER=loop
fi

quote() {
    local out="" a
    for a in "$@"; do out+="$(printf '%q' "$a") "; done
    printf '%s' "${out% }"
}

# measure [--prepare CMD] COMMAND...
# Runs COMMAND $RUNS times (stdout and stderr discarded) and sets
#   T_MED, T_MIN, T_MAX  wall seconds (median, fastest, slowest)
#   T_CPU                mean user+system seconds of one run
measure() {
    local prepare=""
    if [[ $1 == --prepare ]]; then
        prepare=$2
        shift 2
    fi
    local cmd
    cmd=$(quote "$@")
    if [[ $TIMER == hyperfine ]]; then
        # hyperfine runs the command through bash, and subtracts the cost of
        # starting that shell.
        local json=$WORK/hf.json
        local hf=(hyperfine --style none --runs "$RUNS" --export-json "$json" --shell bash)
        [[ -n $prepare ]] && hf+=(--prepare "$prepare")
        "${hf[@]}" "$cmd" >/dev/null || die "command failed: $cmd"
        if command -v jq >/dev/null; then
            read -r T_MED T_MIN T_MAX T_CPU < <(jq -r \
                '.results[0] | "\(.median) \(.min) \(.max) \(.user + .system)"' "$json")
        else
            local key v
            for key in median min max user system; do
                v=$(sed -n "s/^ *\"$key\": *\([0-9.e+-]*\),*$/\1/p" "$json" | head -1)
                printf -v "J_$key" '%s' "$v"
            done
            T_MED=$J_median T_MIN=$J_min T_MAX=$J_max
            T_CPU=$(awk -v u="$J_user" -v s="$J_system" 'BEGIN { print u + s }')
        fi
    else
        local i line real user sys times=() cpu=0 TIMEFORMAT='%R %U %S'
        for ((i = 0; i < RUNS; i++)); do
            [[ -n $prepare ]] && bash -c "$prepare"
            line=$({ time "$@" >/dev/null 2>&1; } 2>&1) || die "command failed: $cmd"
            read -r real user sys <<<"$line"
            times+=("$real")
            cpu=$(awk -v c="$cpu" -v u="$user" -v s="$sys" 'BEGIN { print c + u + s }')
        done
        read -r T_MED T_MIN T_MAX < <(printf '%s\n' "${times[@]}" | sort -g | awk '
            { v[NR] = $1 }
            END {
                med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
                print med, v[1], v[NR]
            }')
        T_CPU=$(awk -v c="$cpu" -v n="$RUNS" 'BEGIN { print c / n }')
    fi
    T_MED=$(calc %.3f "$T_MED") T_MIN=$(calc %.3f "$T_MIN") T_MAX=$(calc %.3f "$T_MAX")
}

# The fixed environment for runs that do not go through $RUNNER.
CLEAN_ENV=(env -i HT_BENCH=1)

# Arithmetic on decimal strings.
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
load1() { cut -d' ' -f1 /proc/loadavg; }

# Runs a command once, checking its exit status, and prints its stdout.
verify_run() {
    local out
    out=$("$@" 2>"$WORK/verify.err") || {
        log "run.sh: verification run failed: $(quote "$@")"
        cat "$WORK/verify.err" >&2
        exit 1
    }
    printf '%s' "$out"
}

# How to disable the guest_hypertrace event: QEMU's `-trace -PATTERN` when
# the command line takes it, else the equivalent `-trace enable=-PATTERN`.
probe_err=$("$HT" -trace -guest_hypertrace "$CPU_BENCH" no-such-workload 2>&1 >/dev/null || true)
if [[ $probe_err == *"usage: cpu-bench"* ]]; then
    TRACE_OFF=(-trace -guest_hypertrace)
else
    TRACE_OFF=(-trace enable=-guest_hypertrace)
    log "run.sh: ht-user refuses '-trace -guest_hypertrace'; using '-trace enable=-guest_hypertrace'"
fi

# An environment variable big enough to move the guest's stack down by a
# couple of pages (see the "stack moved" rows).
STACK_PAD=(-E "HT_BENCH_PAD=$(printf '%*s' 6000 '' | tr ' ' x)")

# ---- header ------------------------------------------------------------------

log "timer: $TIMER, $RUNS runs per measurement, ht-user: $HT"
echo "Timer: $TIMER, $RUNS runs per measurement; times are the median wall-clock seconds,"
echo "[fastest-slowest] in brackets. Load average (1 min) at the start: $(load1), nproc $(nproc)."
echo "Every run gets the same one-variable environment (env -i HT_BENCH=1)."
echo

want() { [[ " $SECTIONS " == *" $1 "* ]]; }

# ---- a. cost of one hypertrace event ---------------------------------------

if want events; then
    log "a. hypertrace events ($EVENTS per run)"
    expect="done $EVENTS"
    got=$(verify_run "$RUNNER" -D /dev/null -hypertrace @BASE "$EVENT_BENCH" @BASE "$EVENTS" store)
    [[ $got == "$expect" ]] || die "event-bench printed '$got', expected '$expect'"
    check_no_channel_files "event-bench verification"

    echo "### Cost of one hypertrace event ($EVENTS events per run)"
    echo
    echo "ns/event = (store run - nostore run) / events. CPU/wall is user+system time over"
    echo "wall time of the store run: near 1 means one thread (the emulator) does the work,"
    echo "near 2 means the writer thread is busy on the second core as well. \"stack moved\""
    echo "rows add a 6 KB environment variable (-E), which moves the guest's stack a page"
    echo "or two lower; the other rows use the small fixed environment."
    echo
    echo "| configuration | store s | nostore s | ns/event | CPU/wall | load | limit |"
    echo "|---|---|---|---|---|---|---|"

    measure "$RUNNER" -D /dev/null -hypertrace @BASE "$EVENT_BENCH" @BASE "$EVENTS" nostore
    check_no_channel_files "nostore"
    base_med=$T_MED base_range="[$T_MIN-$T_MAX]"

    # The emulator thread alone: decode the store, no event record, no writer.
    measure "$RUNNER" -D /dev/null "${TRACE_OFF[@]}" -hypertrace @BASE \
        "$EVENT_BENCH" @BASE "$EVENTS" store
    check_no_channel_files "store, trace disabled"
    mmio_ns=$(calc %.1f "($T_MED - $base_med) * 1e9 / $EVENTS")
    printf '| event trace disabled (`%s`), `-D /dev/null` | %s [%s-%s] | %s %s | %s | %s | %s | emulator thread: MMIO store + decode |\n' \
        "${TRACE_OFF[*]}" "$T_MED" "$T_MIN" "$T_MAX" "$base_med" "$base_range" "$mmio_ns" \
        "$(calc %.2f "$T_CPU / $T_MED")" "$(load1)"

    # limit_of NS: which thread bounds a run that records and writes events.
    limit_of() {
        awk -v full="$1" -v emu="$mmio_ns" 'BEGIN {
            if (full > emu * 1.3 + 10)
                print "writer thread: formatting/writing lines (emulator waits on the full queue)"
            else
                print "emulator thread: MMIO store + record (writer keeps up)"
        }'
    }

    measure "$RUNNER" -D /dev/null -hypertrace @BASE "$EVENT_BENCH" @BASE "$EVENTS" store
    check_no_channel_files "store, /dev/null"
    ns=$(calc %.1f "($T_MED - $base_med) * 1e9 / $EVENTS")
    printf '| event trace on, `-D /dev/null` | %s [%s-%s] | %s %s | %s | %s | %s | %s |\n' \
        "$T_MED" "$T_MIN" "$T_MAX" "$base_med" "$base_range" "$ns" \
        "$(calc %.2f "$T_CPU / $T_MED")" "$(load1)" "$(limit_of "$ns")"

    # Diagnostics: the same two runs with the guest's stack a few pages
    # lower. The control page and the top stack page share a TLB index in
    # the default layout; this shows what that conflict costs.
    measure "$RUNNER" "${STACK_PAD[@]}" -D /dev/null "${TRACE_OFF[@]}" -hypertrace @BASE \
        "$EVENT_BENCH" @BASE "$EVENTS" store
    check_no_channel_files "store, trace disabled, stack moved"
    mmio_moved_ns=$(calc %.1f "($T_MED - $base_med) * 1e9 / $EVENTS")
    printf '| diagnostic: event trace disabled, stack moved (6 KB env var) | %s [%s-%s] | %s %s | %s | %s | %s | emulator thread: MMIO store + decode |\n' \
        "$T_MED" "$T_MIN" "$T_MAX" "$base_med" "$base_range" "$mmio_moved_ns" \
        "$(calc %.2f "$T_CPU / $T_MED")" "$(load1)"
    measure "$RUNNER" "${STACK_PAD[@]}" -D /dev/null -hypertrace @BASE \
        "$EVENT_BENCH" @BASE "$EVENTS" store
    check_no_channel_files "store, /dev/null, stack moved"
    ns=$(calc %.1f "($T_MED - $base_med) * 1e9 / $EVENTS")
    printf '| diagnostic: event trace on, `-D /dev/null`, stack moved | %s [%s-%s] | %s %s | %s | %s | %s | %s |\n' \
        "$T_MED" "$T_MIN" "$T_MAX" "$base_med" "$base_range" "$ns" \
        "$(calc %.2f "$T_CPU / $T_MED")" "$(load1)" "$(mmio_ns=$mmio_moved_ns limit_of "$ns")"

    avail=$(df -P -B1 "$LOG_DIR" | awk 'NR == 2 { print $4 }')
    if ((avail < DISK_NEEDED)); then
        printf '| event trace on, `-D` file on disk | skipped: %s GB free in %s, 5 GB wanted | | | | | |\n' \
            "$(calc %.1f "$avail / 1073741824")" "$LOG_DIR"
    else
        measure --prepare "rm -f $(printf '%q' "$DISK_LOG")" \
            "$RUNNER" -D "$DISK_LOG" -hypertrace @BASE "$EVENT_BENCH" @BASE "$EVENTS" store
        check_no_channel_files "store, disk log"
        size=$(stat -c %s "$DISK_LOG")
        lines=$(wc -l <"$DISK_LOG")
        rm -f "$DISK_LOG"
        ns=$(calc %.1f "($T_MED - $base_med) * 1e9 / $EVENTS")
        printf '| event trace on, `-D` file on disk (%s lines, %s MB, deleted) | %s [%s-%s] | %s %s | %s | %s | %s | %s |\n' \
            "$lines" "$(calc %.0f "$size / 1e6")" "$T_MED" "$T_MIN" "$T_MAX" \
            "$base_med" "$base_range" "$ns" \
            "$(calc %.2f "$T_CPU / $T_MED")" "$(load1)" "$(limit_of "$ns")"
        [[ $lines == "$EVENTS" ]] || log "run.sh: the log has $lines lines, expected $EVENTS"
    fi
    echo
fi

# ---- b. idle cost of an open channel ---------------------------------------------

if want idle; then
    log "b. idle overhead of -hypertrace"
    plain=$(verify_run "$RUNNER" "$CPU_BENCH" sha)
    with=$(verify_run "$RUNNER" -hypertrace @BASE "$CPU_BENCH" sha)
    [[ $plain == "$with" ]] || die "cpu-bench sha output differs with -hypertrace"
    check_no_channel_files "cpu-bench verification"

    echo "### Idle cost of \`-hypertrace\` (\`cpu-bench sha\`, no events emitted)"
    echo
    echo "| configuration | s | overhead | load |"
    echo "|---|---|---|---|"
    # Both runs go through the same wrapper so its few ms cancel out.
    measure "$RUNNER" "$CPU_BENCH" sha
    off=$T_MED
    printf '| without `-hypertrace` | %s [%s-%s] | | %s |\n' "$T_MED" "$T_MIN" "$T_MAX" "$(load1)"
    measure "$RUNNER" -hypertrace @BASE "$CPU_BENCH" sha
    check_no_channel_files "cpu-bench sha with channel"
    printf '| with `-hypertrace BASE` | %s [%s-%s] | %s%% | %s |\n' "$T_MED" "$T_MIN" "$T_MAX" \
        "$(calc %+.1f "($T_MED / $off - 1) * 100")" "$(load1)"
    echo
fi

# ---- c, d. ht-user against qemu-user and native ----------------------------------

if want qemu; then
    log "c/d. ht-user vs $QEMU vs native"
    have_qemu=1
    [[ -x $QEMU ]] || { have_qemu=0; log "run.sh: no $QEMU, skipping that column"; }
    qver=n/a
    ((have_qemu)) && qver=$("$QEMU" --version | head -1 | sed 's/^qemu-[a-z0-9_]* version //')

    echo "### $ARCH guests: ht-user vs qemu-$ARCH ($qver) vs native, \`cpu-bench WORKLOAD\`"
    echo
    echo "Target: ht-user within 2x of qemu-$ARCH."
    echo
    echo "| workload | native s | qemu-$ARCH s | ht-user s | ht-user / qemu | within 2x | ht-user / native | load |"
    echo "|---|---|---|---|---|---|---|---|"
    for w in sieve matmul sha; do
        if [[ $ARCH == x86_64 ]]; then
            ref=$(verify_run "${CLEAN_ENV[@]}" "$CPU_BENCH" "$w")
            measure "${CLEAN_ENV[@]}" "$CPU_BENCH" "$w"
            nat="$T_MED [$T_MIN-$T_MAX]" nat_med=$T_MED
        else
            # A foreign guest cannot run natively: qemu-user's output is the reference.
            ref=$(verify_run "${CLEAN_ENV[@]}" "$QEMU" "$CPU_BENCH" "$w")
            nat="n/a" nat_med=""
        fi
        [[ $(verify_run "$RUNNER" "$CPU_BENCH" "$w") == "$ref" ]] ||
            die "ht-user's cpu-bench $w output differs from the reference run"
        q="n/a" q_med=""
        if ((have_qemu)); then
            [[ $(verify_run "${CLEAN_ENV[@]}" "$QEMU" "$CPU_BENCH" "$w") == "$ref" ]] ||
                die "qemu's cpu-bench $w output differs from the native run"
            measure "${CLEAN_ENV[@]}" "$QEMU" "$CPU_BENCH" "$w"
            q="$T_MED [$T_MIN-$T_MAX]" q_med=$T_MED
        fi
        measure "$RUNNER" "$CPU_BENCH" "$w"
        ratio=n/a within=n/a
        if [[ -n $q_med ]]; then
            ratio=$(calc %.2f "$T_MED / $q_med")
            within=$(awk -v r="$ratio" 'BEGIN { print (r <= 2) ? "yes" : "no" }')
        fi
        printf '| %s | %s | %s | %s [%s-%s] | %s | %s | %s | %s |\n' "$w" "$nat" "$q" \
            "$T_MED" "$T_MIN" "$T_MAX" "$ratio" "$within" \
            "$([[ -n $nat_med ]] && calc %.1f "$T_MED / $nat_med" || echo n/a)" "$(load1)"
    done
    echo
fi

echo "Load average (1 min) at the end: $(load1)."
if ((LEAKS)); then
    echo "WARNING: channel files were left behind $LEAKS time(s) (see stderr)."
else
    echo "No channel files were left behind."
fi
