#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build the Rust test guest (examples/rust-markers.rs) statically and
# write it, stripped, to testdata/<ARCH>/rust-markers.
#
#   guest/rust/build-testdata.sh [ARCH...]
#
# ARCH: x86_64 aarch64 arm riscv64 i386 (default: all five). OUT_DIR
# overrides the destination directory (one ARCH only). Each ARCH uses the
# first Rust target of its list whose standard library is installed
# (`rustup target add ...`): the musl one, else the glibc one linked with
# +crt-static (for arm and riscv64 when their musl one is missing). TARGET
# overrides the choice (one ARCH only). Cross builds link with Debian's
# <triplet>-gcc (LINKER overrides it) and strip with <triplet>-strip
# (STRIP overrides it).
#
# The build is reproducible: source paths are remapped, there is no build
# id and symbols are stripped, so two runs with the same toolchain give the
# same bytes (compare with `sha256sum testdata/*/rust-markers`).
set -eu

CRATE_DIR=$(cd "$(dirname "$0")" && pwd)
TOP_DIR=$(cd "$CRATE_DIR/../.." && pwd)
CARGO_HOME_DIR=${CARGO_HOME:-$HOME/.cargo}
SYSROOT=$(rustc --print sysroot)
TARGET_DIR=$CRATE_DIR/target/testdata

if [ $# -eq 0 ]; then
    set -- x86_64 aarch64 arm riscv64 i386
fi
if [ $# -gt 1 ] && { [ -n "${OUT_DIR:-}" ] || [ -n "${TARGET:-}" ]; }; then
    echo "build-testdata.sh: OUT_DIR and TARGET need a single ARCH" >&2
    exit 1
fi

have() {
    command -v "$1" >/dev/null 2>&1
}

# Whether the standard library of Rust target $1 is installed.
have_target() {
    [ -d "$SYSROOT/lib/rustlib/$1/lib" ]
}

for arch in "$@"; do
    case "$arch" in
        x86_64) targets=x86_64-unknown-linux-musl triplet=x86_64-linux-gnu ;;
        aarch64) targets=aarch64-unknown-linux-musl triplet=aarch64-linux-gnu ;;
        arm)
            targets="armv7-unknown-linux-musleabihf armv7-unknown-linux-gnueabihf"
            triplet=arm-linux-gnueabihf
            ;;
        riscv64)
            targets="riscv64gc-unknown-linux-musl riscv64gc-unknown-linux-gnu"
            triplet=riscv64-linux-gnu
            ;;
        i386) targets=i686-unknown-linux-musl triplet=i686-linux-gnu ;;
        *)
            echo "build-testdata.sh: no Rust target for $arch" >&2
            exit 1
            ;;
    esac
    target=${TARGET:-}
    if [ -z "$target" ]; then
        for t in $targets; do
            if have_target "$t"; then
                target=$t
                break
            fi
        done
    fi
    if [ -z "$target" ] || ! have_target "$target"; then
        echo "build-testdata.sh: no Rust standard library for $arch ($targets);" \
            "install one with rustup target add" >&2
        exit 1
    fi
    case "$target" in
        *-gnu*) echo "note: no Rust musl target for $arch; linking glibc statically" ;;
    esac

    if [ "$arch" = x86_64 ] && [ "$(uname -m)" = x86_64 ]; then
        linker=${LINKER:-cc}
        strip=${STRIP:-strip}
    else
        linker=${LINKER:-$triplet-gcc}
        strip=${STRIP:-$triplet-strip}
    fi
    for tool in "$linker" "$strip"; do
        if ! have "$tool"; then
            echo "build-testdata.sh: $tool not found" >&2
            exit 1
        fi
    done

    # Static, not PIE; no build id; no paths of this machine in the binary.
    flags="-C relocation-model=static -C target-feature=+crt-static"
    flags="$flags -C link-arg=-Wl,--build-id=none -C strip=symbols"
    flags="$flags --remap-path-prefix=$CRATE_DIR=/qemu-hypertrace"
    flags="$flags --remap-path-prefix=$CARGO_HOME_DIR=/cargo"
    target_env=$(echo "$target" | tr 'a-z-' 'A-Z_')

    echo "== $arch ($target)"
    # (RUSTFLAGS and the like would replace the target's flags.)
    env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS -u CARGO_BUILD_RUSTFLAGS \
        "CARGO_TARGET_${target_env}_LINKER=$linker" \
        "CARGO_TARGET_${target_env}_RUSTFLAGS=$flags" \
        cargo build --quiet --locked --release --example rust-markers \
        --manifest-path "$CRATE_DIR/Cargo.toml" \
        --target "$target" --target-dir "$TARGET_DIR"

    out_dir=${OUT_DIR:-$TOP_DIR/testdata/$arch}
    mkdir -p "$out_dir"
    tmp=$out_dir/.rust-markers.tmp
    cp "$TARGET_DIR/$target/release/examples/rust-markers" "$tmp"
    "$strip" --strip-all -R .comment "$tmp"
    chmod 755 "$tmp"
    mv "$tmp" "$out_dir/rust-markers"
    ls -l "$out_dir/rust-markers"
done
