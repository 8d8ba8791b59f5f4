# SPDX-License-Identifier: GPL-2.0-or-later
# Shared by the benchmark scripts (sourced): the ht-user binary to measure
# and hyperfine measurements. The script sets ROOT, RUNS and WORK and
# defines die() before calling these.

# bench_binary: sets HT to $HT_USER, or builds the release binary into
# target/bench and uses it.
bench_binary() {
    if [[ -n ${HT_USER:-} ]]; then
        HT=$HT_USER
    else
        printf '%s\n' "building the release binary into target/bench ..." >&2
        (cd "$ROOT" && CARGO_TARGET_DIR="$ROOT/target/bench" cargo build --release --quiet) ||
            die "release build failed"
        HT=$ROOT/target/bench/release/ht-user
    fi
}

# measure COMMAND (a shell string): runs it $RUNS times with hyperfine and
# sets T_MED T_MIN T_MAX (wall seconds) and T_CPU (mean user+system seconds).
measure() {
    local json=$WORK/hf.json
    hyperfine --style none --runs "$RUNS" --export-json "$json" --shell bash "$1" >/dev/null ||
        die "command failed: $1"
    read -r T_MED T_MIN T_MAX T_CPU < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print("%.3f %.3f %.3f %.3f" % (r["median"], r["min"], r["max"], r["user"] + r["system"]))
' "$json")
}
