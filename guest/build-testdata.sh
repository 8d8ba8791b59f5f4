#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build the test guests into testdata/<ARCH>/ (static, and one dynamic
# guest for x86_64, aarch64 and arm).
#
#   guest/build-testdata.sh [ARCH]        (default ARCH: x86_64)
#
# OUT_DIR overrides the destination (CI rebuilds into a scratch directory).
# Compilers can be overridden with MUSL_CC, GLIBC_CC and STRIP. For x86_64
# the defaults are musl-gcc, gcc and strip; for other architectures
# <ARCH>-linux-musl-gcc (falling back to <ARCH>-linux-gnu-gcc),
# <ARCH>-linux-gnu-gcc and <ARCH>-linux-gnu-strip.
set -eu

ARCH=${1:-x86_64}
GUEST_DIR=$(cd "$(dirname "$0")" && pwd)
TOP_DIR=$(dirname "$GUEST_DIR")
OUT_DIR=${OUT_DIR:-$TOP_DIR/testdata/$ARCH}
BUILD_DIR=build-testdata-$ARCH

have() {
    command -v "$1" >/dev/null 2>&1
}

if [ "$ARCH" = x86_64 ] && [ "$(uname -m)" = x86_64 ]; then
    : "${MUSL_CC:=musl-gcc}"
    : "${GLIBC_CC:=gcc}"
    : "${STRIP:=strip}"
else
    # Debian's cross toolchain prefix and musl directory for each guest.
    case "$ARCH" in
        arm) TRIPLET=arm-linux-gnueabihf MUSL_DIR=arm-linux-musleabihf ;;
        i386) TRIPLET=i686-linux-gnu MUSL_DIR=i386-linux-musl ;;
        mips64el) TRIPLET=mips64el-linux-gnuabi64 MUSL_DIR=mips64el-linux-musl ;;
        ppc64le) TRIPLET=powerpc64le-linux-gnu MUSL_DIR=powerpc64le-linux-musl ;;
        *) TRIPLET=$ARCH-linux-gnu MUSL_DIR=$ARCH-linux-musl ;;
    esac
    if [ -z "${MUSL_CC:-}" ]; then
        if have "$ARCH-linux-musl-gcc"; then
            MUSL_CC=$ARCH-linux-musl-gcc
        elif [ -f "/usr/lib/$MUSL_DIR/musl-gcc.specs" ]; then
            # Debian's musl-dev:<arch> with the cross gcc.
            MUSL_CC="$TRIPLET-gcc -specs /usr/lib/$MUSL_DIR/musl-gcc.specs"
        else
            # No musl for this architecture (riscv64 on Debian 12): glibc,
            # with stdout line-buffered like musl's first line so guest
            # output and trace lines interleave the same way.
            MUSL_CC=$TRIPLET-gcc
            LINEBUF=linebuf.c
            echo "note: no musl for $ARCH; building the musl guests with glibc"
        fi
    fi
    # musl's long double on ppc64 is 64-bit; gcc's default is IBM's
    # 128-bit double-double, which does not link with it.
    if [ "$ARCH" = ppc64le ] && [ "${MUSL_CC#*musl-gcc.specs}" != "$MUSL_CC" ]; then
        MUSL_CC="$MUSL_CC -mlong-double-64"
    fi
    : "${GLIBC_CC:=$TRIPLET-gcc}"
    : "${STRIP:=$TRIPLET-strip}"
fi
: "${LINEBUF:=}"

for tool in "${MUSL_CC%% *}" "$GLIBC_CC" "$STRIP"; do
    if ! have "$tool"; then
        echo "build-testdata.sh: $tool not found" >&2
        exit 1
    fi
done

# Fixed flags so that rebuilding gives the same bytes.
# Large-file and 64-bit time interfaces, so 32-bit guests handle big inode
# numbers and directory offsets (and exercise the *_time64 calls).
CFLAGS="-static -O2 -std=gnu99 -Wall -Wextra -Wl,--build-id=none -D_FILE_OFFSET_BITS=64 -D_TIME_BITS=64"
LIB=$GUEST_DIR/$BUILD_DIR/libqemu-hypertrace-guest.a

echo "== library ($MUSL_CC)"
make -s -C "$GUEST_DIR" CC="$MUSL_CC" BUILD="$BUILD_DIR" clean
make -s -C "$GUEST_DIR" CC="$MUSL_CC" BUILD="$BUILD_DIR"

mkdir -p "$OUT_DIR"
TMP_DIR=$(mktemp -d)
trap 'rm -rf "$TMP_DIR"' EXIT INT TERM

# build NAME CC SOURCE [EXTRA...]
build() {
    name=$1
    cc=$2
    src=$3
    shift 3
    echo "== $name ($cc)"
    # Compile from inside the tests directory with a relative source path so
    # that no absolute path of this checkout ends up in the binary.
    (cd "$GUEST_DIR/tests" &&
        $cc $CFLAGS -I"$GUEST_DIR/include" -o "$TMP_DIR/$name" "$src" $LINEBUF "$@")
    "$STRIP" -o "$OUT_DIR/$name" "$TMP_DIR/$name"
}

# build_with_symbols NAME CC SOURCE [EXTRA...]: keeps the symbol table
# (ht-trace profile names functions from it), drops the debug info.
build_with_symbols() {
    name=$1
    cc=$2
    src=$3
    shift 3
    echo "== $name ($cc, with symbols)"
    (cd "$GUEST_DIR/tests" &&
        $cc $CFLAGS -I"$GUEST_DIR/include" -o "$TMP_DIR/$name" "$src" $LINEBUF "$@")
    "$STRIP" --strip-debug -o "$OUT_DIR/$name" "$TMP_DIR/$name"
}

# build_with_debug_info NAME CC SOURCE [EXTRA...]: unoptimised, with DWARF
# for gdb; the build directory is recorded as '.' so rebuilding gives the
# same bytes wherever the checkout is.
build_with_debug_info() {
    name=$1
    cc=$2
    src=$3
    shift 3
    echo "== $name ($cc, with debug information)"
    (cd "$GUEST_DIR/tests" &&
        $cc $CFLAGS -O0 -g -fdebug-prefix-map="$GUEST_DIR/tests"=. -I"$GUEST_DIR/include" \
            -o "$OUT_DIR/$name" "$src" $LINEBUF "$@")
}

build seed-example "$MUSL_CC" seed-example.c "$LIB" -lpthread
build hello        "$MUSL_CC" hello.c
build argv-env     "$MUSL_CC" argv-env.c
build exit-code    "$MUSL_CC" exit-code.c
build files        "$MUSL_CC" files.c
build timecheck    "$MUSL_CC" timecheck.c
build memory       "$MUSL_CC" memory.c
build events       "$MUSL_CC" events.c "$LIB" -lpthread
build event-bench  "$MUSL_CC" event-bench.c "$LIB" -lpthread
build regions      "$MUSL_CC" regions.c "$LIB" -lpthread
build insn-count   "$MUSL_CC" insn-count.c "$LIB" -lpthread
build markers      "$MUSL_CC" markers.c "$LIB" -lpthread
build named-regions "$MUSL_CC" named-regions.c "$LIB" -lpthread
build m5ops        "$MUSL_CC" m5ops.c
build_with_symbols profile "$MUSL_CC" profile.c "$LIB" -lpthread
build_with_debug_info gdb-target "$MUSL_CC" gdb-target.c
build memregion    "$MUSL_CC" memregion.c "$LIB" -lpthread
build cpu-bench    "$MUSL_CC" cpu-bench.c
build fork-exec    "$MUSL_CC" fork-exec.c "$LIB" -lpthread
build threads-events "$MUSL_CC" threads-events.c "$LIB" -lpthread
build threads-sync   "$MUSL_CC" threads-sync.c -lpthread
build threads-block  "$MUSL_CC" threads-block.c -lpthread
build threads-exit   "$MUSL_CC" threads-exit.c -lpthread
build threads-cpu    "$MUSL_CC" threads-cpu.c -lpthread
build threads-futex  "$MUSL_CC" threads-futex.c -lpthread
build threads-atomics "$MUSL_CC" threads-atomics.c -lpthread
build threads-memory "$MUSL_CC" threads-memory.c -lpthread
build sockets        "$MUSL_CC" sockets.c -lpthread
build signals        "$MUSL_CC" signals.c -lpthread
build signal-bench   "$MUSL_CC" signal-bench.c
build posix-timers   "$MUSL_CC" posix-timers.c -lpthread
build hostile        "$MUSL_CC" hostile.c "$LIB" -lpthread
build mapping-bench  "$MUSL_CC" mapping-bench.c
build syscall-fuzz   "$MUSL_CC" syscall-fuzz.c
build fp-state       "$MUSL_CC" fp-state.c
build jit            "$MUSL_CC" jit.c -lpthread
build kuser          "$MUSL_CC" kuser.c
# Pointer authentication and the ID register emulation exist only on
# aarch64: built there alone.
if [ "$ARCH" = aarch64 ]; then
    build pauth      "$MUSL_CC" pauth.c -march=armv8.3-a -lpthread
    build cpu-features "$MUSL_CC" cpu-features.c
fi
build sysv-ipc       "$MUSL_CC" sysv-ipc.c -lpthread
build hello-glibc  "$GLIBC_CC" hello.c
build spawn        "$GLIBC_CC" spawn.c
# Position-independent static executable (loaded at a chosen base).
# Some cross toolchains lack the static-PIE start file (rcrt1.o): skip it there.
PIE_CFLAGS=$(echo "$CFLAGS" | sed 's/-static /-static-pie -fPIE /')
if (CFLAGS=$PIE_CFLAGS build hello-pie "$GLIBC_CC" hello.c) 2>/dev/null; then
    :
else
    echo "note: $GLIBC_CC cannot link static-PIE executables; hello-pie skipped"
fi

# A dynamically linked PIE glibc guest (the library compiled in), for the
# dynamic-executable tests; it runs with the guest architecture's glibc
# sysroot (-L). Only for the architectures those tests cover.
case "$ARCH" in
    x86_64 | i386 | aarch64 | arm | mipsel | mips64el | ppc64le | s390x)
        DYN_CFLAGS=$(echo "$CFLAGS" | sed 's/-static /-fPIE -pie /')
        CFLAGS=$DYN_CFLAGS build events-dyn "$GLIBC_CC" events.c ../src/qemu-hypertrace.c
        ;;
esac

rm -rf "${GUEST_DIR:?}/$BUILD_DIR"
echo "== done: $OUT_DIR"
ls -l "$OUT_DIR"
