#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Native self-test of the guest library: build a fake hypertrace channel
# (the files the emulator would create), run the test guests directly on
# the host and inspect what they wrote into the channel files.
#
#   guest/tests/selftest.sh [BINDIR]     (default: testdata/x86_64)
#
# Guests built for another architecture can be checked through a user-mode
# emulator: SELFTEST_RUNNER=qemu-aarch64 (or any command prefix), and
# SELFTEST_ENDIAN=big for big-endian guests (default: little).
set -eu

TESTS_DIR=$(cd "$(dirname "$0")" && pwd)
TOP_DIR=$(dirname "$(dirname "$TESTS_DIR")")
BIN_DIR=${1:-$TOP_DIR/testdata/x86_64}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT INT TERM
BASE=$WORK/ht
FAILED=0
RUNNER=${SELFTEST_RUNNER:-}
case ${SELFTEST_ENDIAN:-little} in
little) export SELFTEST_FMT='<' ;;
big) export SELFTEST_FMT='>' ;;
*) echo "SELFTEST_ENDIAN must be little or big" >&2; exit 2 ;;
esac

# guest PROGRAM ARGS...: run a test guest (through the runner, if any).
guest() {
    prog=$1
    shift
    $RUNNER "$BIN_DIR/$prog" "$@"
}

fail() {
    echo "FAIL: $*"
    FAILED=1
}

# make_channel MAX_CLIENTS CLIENT_ARGS CONTROL_SIZE DATA_SIZE
make_channel() {
    python3 - "$BASE" "$@" <<'PY'
import os, struct, sys
fmt = os.environ["SELFTEST_FMT"]
base = sys.argv[1]
max_clients, client_args, control_size, data_size = map(int, sys.argv[2:6])
with open(base + "-config", "wb") as f:
    f.write(struct.pack(fmt + "5Q", max_clients, client_args, client_args * 8,
                        control_size, data_size))
for name, size in (("-control", control_size), ("-data", data_size)):
    with open(base + name, "wb") as f:
        f.write(bytes(size))
PY
}

# check_slots CLIENT ARGS CONTROL_EXPECTED DATA_EXPECTED...
check_slots() {
    python3 - "$BASE" "$@" <<'PY'
import os, struct, sys
fmt = os.environ["SELFTEST_FMT"]
base = sys.argv[1]
client, client_args, control = (int(v, 0) for v in sys.argv[2:5])
expected = [int(v, 0) for v in sys.argv[5:]]
with open(base + "-control", "rb") as f:
    ctrl = f.read()
with open(base + "-data", "rb") as f:
    data = f.read()
got_ctrl = struct.unpack_from(fmt + "Q", ctrl, client * 8)[0]
got_data = list(struct.unpack_from(fmt + "%dQ" % len(expected), data,
                                   client * client_args * 8))
ok = got_ctrl == control and got_data == expected
# Nothing outside the client's slots may have been touched.
others_ctrl = ctrl[:client * 8] + ctrl[client * 8 + 8:]
lo = client * client_args * 8
others_data = data[:lo] + data[lo + len(expected) * 8:]
ok = ok and not any(others_ctrl) and not any(others_data)
print("control[%d]=%#x data=%s" % (client, got_ctrl,
                                    ", ".join("%#x" % v for v in got_data)))
sys.exit(0 if ok else 1)
PY
}

# 1. events BASE 3 1: client 1, last event i=2 -> control 2, data 2, 7, ~2.
make_channel 4 4 4096 4096
out=$(guest events "$BASE" 3 1) || fail "events exited with $?"
[ "$out" = "emitted 3" ] || fail "events printed '$out'"
check_slots 1 4 2 2 7 0xfffffffffffffffd || fail "events slots"

# 2. The seed example: client 0, final arg1 0, data cafe/dead/beef.
make_channel 4 4 4096 4096
out=$(guest seed-example "$BASE") || fail "seed-example exited with $?"
[ "$out" = "Some computation..." ] || fail "seed-example printed '$out'"
check_slots 0 4 0 0xcafe 0xdead 0xbeef || fail "seed-example slots"

# 3. Base from the environment when no argument is given.
make_channel 4 4 4096 4096
out=$(export QEMU_HYPERTRACE_BASE="$BASE"; guest seed-example) ||
    fail "seed-example (env) exited with $?"
check_slots 0 4 0 0xcafe 0xdead 0xbeef || fail "seed-example (env) slots"

# 4. Event benchmark in both modes.
make_channel 2 3 4096 4096
out=$(guest event-bench "$BASE" 1000 store) || fail "event-bench store"
[ "$out" = "done 1000" ] || fail "event-bench store printed '$out'"
check_slots 0 3 999 999 999 || fail "event-bench store slots"
make_channel 2 3 4096 4096
guest event-bench "$BASE" 10 nostore >/dev/null || fail "event-bench nostore"
check_slots 0 3 0 9 9 || fail "event-bench nostore slots"

# 5. Error paths: missing channel, truncated config, no base at all.
rm -f "$BASE"-*
err=$(guest events "$BASE" 1 2>&1) && fail "events without channel succeeded"
case $err in
*"No such file or directory"*) echo "missing channel: $err" ;;
*) fail "missing channel: '$err'" ;;
esac
make_channel 4 4 4096 4096
head -c 20 "$BASE-config" > "$BASE-config.short"
mv "$BASE-config.short" "$BASE-config"
err=$(guest events "$BASE" 1 2>&1) && fail "events with short config succeeded"
case $err in
*"Invalid argument"*) echo "short config: $err" ;;
*) fail "short config: '$err'" ;;
esac
err=$(unset QEMU_HYPERTRACE_BASE; guest seed-example 2>&1) &&
    fail "seed-example without base succeeded"
case $err in
*"Invalid argument"*) echo "no base: $err" ;;
*) fail "no base: '$err'" ;;
esac

if [ $FAILED -ne 0 ]; then
    echo "selftest: FAILED"
    exit 1
fi
echo "selftest: all ok"
