#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs ht-user's fuzz targets (fuzz/, cargo-fuzz layout; see FUZZING.md).
#
#   bash scripts/fuzz.sh                   every target, FUZZ_SECONDS each
#   bash scripts/fuzz.sh options elf_loader  only these
#   FUZZ_SECONDS=3600 FUZZ_RUNS=10000000 bash scripts/fuzz.sh   the full campaign (FUZZING.md)
#
# Environment:
#   FUZZ_SECONDS    seconds per target (default 30)
#   FUZZ_RUNS       also stop a target after this many executions (default:
#                   time only; the full campaign stops at 10000000 or the hour)
#   FUZZ_CORPUS     directory whose <target>/ subdirectories keep the corpus
#                   between runs (default: a scratch directory, removed)
#   FUZZ_SANITIZER  cargo-fuzz sanitizer (default none: the targets are safe
#                   Rust over engine-free code; address also works)
#   FUZZ_TOOLCHAIN  the nightly toolchain (default nightly-2026-05-19, pinned
#                   so that a new nightly cannot break CI's short run)
#   CARGO_TARGET_DIR is honoured as by cargo.
#
# Each target starts from its committed seeds (fuzz/seeds/<target>/, only
# read) plus the corpus directory, with -rss_limit_mb=4096 -timeout=10.
# Installs the pinned nightly toolchain and cargo-fuzz when missing. Prints the
# executions per target; exits 1 if any target found a crash, a hang or
# a memory blow-up (the input is in fuzz/artifacts/<target>/).
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
toolchain=${FUZZ_TOOLCHAIN:-nightly-2026-05-19}
seconds=${FUZZ_SECONDS:-30}
runs=()
if [ -n "${FUZZ_RUNS:-}" ]; then
    runs=(-runs="$FUZZ_RUNS")
fi
sanitizer=${FUZZ_SANITIZER:-none}
all_targets=(elf_loader trace_reader options monitor_command)
if [ $# -gt 0 ]; then
    targets=("$@")
else
    targets=("${all_targets[@]}")
fi
for t in "${targets[@]}"; do
    [ -d "fuzz/seeds/$t" ] || { echo "fuzz.sh: unknown target '$t' (${all_targets[*]})" >&2; exit 2; }
done

if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
    rustup toolchain install "$toolchain" --profile minimal
fi
if ! cargo +"$toolchain" fuzz --version >/dev/null 2>&1; then
    cargo +"$toolchain" install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
corpus_root=${FUZZ_CORPUS:-$scratch/corpus}

echo "== building the fuzz targets (sanitizer: $sanitizer)"
# All of them: cargo fuzz build takes one target or all, and they share
# everything but their small main files.
if ! cargo +"$toolchain" fuzz build -s "$sanitizer" >"$scratch/build.log" 2>&1; then
    tail -n 40 "$scratch/build.log"
    echo "fuzz.sh: the fuzz targets do not build" >&2
    exit 1
fi

failed=()
summary=()
for t in "${targets[@]}"; do
    corpus="$corpus_root/$t"
    mkdir -p "$corpus"
    log="$scratch/$t.log"
    echo "== $t: ${seconds}s from $(ls "fuzz/seeds/$t" | wc -l) seeds"
    start=$(date +%s)
    status=0
    cargo +"$toolchain" fuzz run -s "$sanitizer" "$t" "$corpus" "fuzz/seeds/$t" -- \
        -max_total_time="$seconds" "${runs[@]}" -rss_limit_mb=4096 -timeout=10 \
        -print_final_stats=1 >"$log" 2>&1 || status=$?
    elapsed=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    entries=$(find "$corpus" -type f | wc -l)
    if [ "$status" -ne 0 ]; then
        failed+=("$t")
        grep -E '^(==[0-9]+==|SUMMARY|thread .* panicked|ALARM|artifact_prefix|Test unit written)' "$log" \
            | head -n 20 || true
        tail -n 30 "$log"
        verdict="FAILED (exit $status)"
    else
        verdict=ok
    fi
    summary+=("$(printf '%-16s %12s execs %8s exec/s %6ss %6s corpus  %s' \
        "$t" "${execs:-?}" "${rate:-?}" "$elapsed" "$entries" "$verdict")")
done

echo "== summary"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz.sh: ${failed[*]} found a failing input (fuzz/artifacts/)" >&2
    exit 1
fi
