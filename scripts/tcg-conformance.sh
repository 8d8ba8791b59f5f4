#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Conformance suite: QEMU 7.2's linux-user TCG tests (tests/tcg), built
# statically with Debian's cross compilers the way their Makefiles say, run
# under qemu-user and under ht-user, results compared with the committed
# lists of known failures in tests/tcg/. See CONFORMANCE.md.
#
#   bash scripts/tcg-conformance.sh [ARCH...]
#
# ARCH: x86_64 i386 aarch64 arm riscv64 mipsel mips64el ppc64le s390x (default: all nine).
#
# Environment:
#   HT_TCG_TARBALL  tests-tcg tarball (default ../shared/qemu-tcg/tests-tcg-v7.2.0.tar.gz
#                   relative to the repository, else Debian's qemu 7.2 source is downloaded)
#   HT_TCG_DIR      scratch directory (default target/tcg): sources, builds, results
#   HT_USER         the ht-user binary (default: cargo build --release, then
#                   ${CARGO_TARGET_DIR:-target}/release/ht-user)
#   HT_TCG_PROFILE  debug: build and use target/debug/ht-user instead (CI does,
#                   reusing the build of cargo test)
#   HT_TCG_TIMEOUT  seconds per run (default 30)
#   HT_TCG_JOBS     parallel runs (default: number of CPUs)
#   HT_TCG_NO_QEMU  set to 1 to run without qemu-user (compare with .ref files only)
#
# Exit status: 0 when every failure under ht-user is a known failure (or the
# test fails under qemu-user too), 1 on a regression, 2 on a setup error.
set -euo pipefail
# Paths given in the environment are relative to where the script was started.
absolute() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac }
[ -z "${HT_USER:-}" ] || HT_USER=$(absolute "$HT_USER")
[ -z "${HT_TCG_DIR:-}" ] || HT_TCG_DIR=$(absolute "$HT_TCG_DIR")
[ -z "${HT_TCG_TARBALL:-}" ] || HT_TCG_TARBALL=$(absolute "$HT_TCG_TARBALL")
cd "$(dirname "$0")/.."
repo=$(pwd)

all_arches=(x86_64 i386 aarch64 arm riscv64 mipsel mips64el ppc64le s390x)
arches=()
for a in "$@"; do
    case "$a" in
        -h | --help)
            sed -n '3,25p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        x86_64 | i386 | aarch64 | arm | riscv64 | mipsel | mips64el | ppc64le | s390x) arches+=("$a") ;;
        *)
            echo "tcg-conformance: unknown argument '$a' (architectures: ${all_arches[*]})" >&2
            exit 2
            ;;
    esac
done
((${#arches[@]})) || arches=("${all_arches[@]}")

work=${HT_TCG_DIR:-$repo/target/tcg}
timeout_s=${HT_TCG_TIMEOUT:-30}
jobs=${HT_TCG_JOBS:-$(nproc)}
lists=$repo/tests/tcg
mkdir -p "$work"
work=$(cd "$work" && pwd)

# ---------------------------------------------------------------- sources
src=$work/src/tests/tcg
debian_pool=https://deb.debian.org/debian/pool/main/q/qemu
debian_orig=qemu_7.2+dfsg.orig.tar.xz
obtain_sources() {
    local tarball=${HT_TCG_TARBALL:-}
    if [ -z "$tarball" ] && [ -f "$repo/../shared/qemu-tcg/tests-tcg-v7.2.0.tar.gz" ]; then
        tarball=$repo/../shared/qemu-tcg/tests-tcg-v7.2.0.tar.gz
    fi
    local stamp
    if [ -n "$tarball" ]; then
        [ -f "$tarball" ] || {
            echo "tcg-conformance: HT_TCG_TARBALL=$tarball does not exist" >&2
            exit 2
        }
        stamp="tarball $(sha256sum "$tarball" | cut -d' ' -f1)"
    else
        stamp="debian $debian_orig"
    fi
    if [ -f "$work/src/.stamp" ] && [ "$(cat "$work/src/.stamp")" = "$stamp" ]; then
        return
    fi
    rm -rf "$work/src"
    mkdir -p "$work/src"
    if [ -n "$tarball" ]; then
        echo "== tests from $tarball"
        tar -xzf "$tarball" -C "$work/src"
    else
        echo "== tests from Debian's $debian_orig (only tests/tcg is extracted)"
        local dl=$work/$debian_orig
        if [ ! -f "$dl" ]; then
            curl -fsSL -o "$dl.part" "$debian_pool/$debian_orig"
            mv "$dl.part" "$dl"
        fi
        tar -xJf "$dl" -C "$work/src" --strip-components=1 --wildcards '*/tests/tcg/*'
    fi
    [ -f "$src/Makefile.target" ] || {
        echo "tcg-conformance: no tests/tcg/Makefile.target in the sources" >&2
        exit 2
    }
    echo "$stamp" >"$work/src/.stamp"
}

# ---------------------------------------------------------------- tools
cross_cc() {
    case "$1" in
        x86_64) echo gcc ;;
        i386) echo i686-linux-gnu-gcc ;;
        aarch64) echo aarch64-linux-gnu-gcc ;;
        arm) echo arm-linux-gnueabihf-gcc ;;
        riscv64) echo riscv64-linux-gnu-gcc ;;
        mipsel) echo mipsel-linux-gnu-gcc ;;
        mips64el) echo mips64el-linux-gnuabi64-gcc ;;
        ppc64le) echo powerpc64le-linux-gnu-gcc ;;
        s390x) echo s390x-linux-gnu-gcc ;;
    esac
}
qemu_for() { echo "qemu-$1"; }

# ---------------------------------------------------------------- the tests
# What tests/tcg/Makefile.target, multiarch/Makefile.target and
# <arch>/Makefile.target (QEMU 7.2, linux-user, SPEED unset) build and run.
#
# build ARCH BIN "SOURCES" "CFLAGS" "LDFLAGS" [GENERATED-HEADER]
# run   ARCH RUN BIN "EMULATOR-OPTIONS" [REFERENCE]
# SOURCES and REFERENCE are relative to tests/tcg; REFERENCE "@NAME" is the
# output of run NAME under the same emulator (the Makefile's sha1.out).
cflags_default="-Wall -Werror -O0 -g -fno-strict-aliasing"
builds=()
runs=()
build() { builds+=("$1|$2|$3|$4|$5|${6:-}"); }
run() { runs+=("$1|$2|$3|${4:-}|${5:-}"); }

# A plain test: built by the generic rule, run without options.
plain() { # ARCH NAME SOURCE [EXTRA-CFLAGS] [EXTRA-LDFLAGS] [OPTIONS] [REF]
    build "$1" "$2" "$3" "$cflags_default${4:+ $4}" "-static${5:+ $5}"
    run "$1" "$2" "$2" "${6:-}" "${7:-}"
}

ref_if() { if [ -f "$src/$1" ]; then echo "$1"; fi; }

multiarch() { # ARCH REF-DIR
    local a=$1 d=$2 t
    for t in float_convd float_convs float_madds; do
        local extra=
        [ "$a" = arm ] && [ $t = float_madds ] && extra=-mfpu=neon-vfpv4
        build "$a" $t "multiarch/$t.c multiarch/libs/float_helpers.c" "$cflags_default${extra:+ $extra}" "-static -lm"
        run "$a" $t $t "" "$(ref_if "$d/$t.ref")"
    done
    plain "$a" munmap-pthread multiarch/munmap-pthread.c -pthread -pthread
    plain "$a" overflow multiarch/overflow.c
    plain "$a" sha1 multiarch/sha1.c
    plain "$a" sha512 multiarch/sha512.c
    plain "$a" sigbus multiarch/sigbus.c
    plain "$a" signals multiarch/signals.c "" "-lrt -lpthread"
    plain "$a" test-mmap multiarch/test-mmap.c
    plain "$a" testthread multiarch/testthread.c "" -lpthread
    plain "$a" threadcount multiarch/threadcount.c "" -lpthread
    plain "$a" linux-madvise multiarch/linux/linux-madvise.c
    plain "$a" linux-test multiarch/linux/linux-test.c
}

define_tests() {
    local a t
    for a in "${arches[@]}"; do
        case "$a" in
            x86_64)
                multiarch x86_64 x86_64
                # From i386/: X86_64_TESTS (test-i386-bmi2 and the SKIP_I386_TESTS).
                build x86_64 test-i386-bmi2 i386/test-i386-bmi2.c "-O2" "-static"
                run x86_64 test-i386-bmi2 test-i386-bmi2 "-cpu max"
                plain x86_64 test-i386-ssse3 i386/test-i386-ssse3.c "" "" "-cpu max"
                build x86_64 test-avx i386/test-avx.c "$cflags_default -mavx -masm=intel -O -I." "-static" test-avx.h
                run x86_64 test-avx test-avx "-cpu max"
                build x86_64 test-3dnow i386/test-3dnow.c "$cflags_default -masm=intel -O -I." "-static" test-3dnow.h
                run x86_64 test-3dnow test-3dnow "-cpu max"
                build x86_64 test-mmx i386/test-mmx.c "$cflags_default -masm=intel -O -I." "-static" test-mmx.h
                run x86_64 test-mmx test-mmx "-cpu max"
                for t in vsyscall noexec cmpxchg; do plain x86_64 $t x86_64/$t.c; done
                plain x86_64 test-x86_64 i386/test-i386.c "" "-lm -lc"
                run x86_64 test-mmap-4096 test-mmap "-p 4096"
                ;;
            i386)
                multiarch i386 i386
                plain i386 hello-i386 i386/hello-i386.c -ffreestanding -nostdlib
                build i386 test-i386-bmi2 i386/test-i386-bmi2.c "-O2" "-static"
                run i386 test-i386-bmi2 test-i386-bmi2 "-cpu max"
                for t in f2xm1 fbstp fisttp fldcst fp-exceptions fpatan fscale fxam fxtract \
                    fyl2x fyl2xp1 pseudo-denormal snan-convert; do
                    plain i386 test-i386-$t i386/test-i386-$t.c
                done
                plain i386 test-i386-pcmpistri i386/test-i386-pcmpistri.c -msse4.2 "" "-cpu max"
                plain i386 test-i386-sse-exceptions i386/test-i386-sse-exceptions.c \
                    "-msse4.1 -mfpmath=sse" "" "-cpu max"
                build i386 test-i386 "i386/test-i386.c i386/test-i386-code16.S i386/test-i386-vm86.S" \
                    "$cflags_default -fno-pie" "-static -lm"
                run i386 test-i386 test-i386
                build i386 sha512-sse multiarch/sha512.c "-msse4.1 -O3" "-static"
                run i386 sha512-sse sha512-sse "-cpu max"
                run i386 test-mmap-4096 test-mmap "-p 4096"
                ;;
            aarch64)
                multiarch aarch64 aarch64
                build aarch64 sha1-vector multiarch/sha1.c "-O3" "-static"
                run aarch64 sha1-vector sha1-vector "" @sha1
                build aarch64 sha512-vector multiarch/sha512.c "-O3" "-static"
                run aarch64 sha512-vector sha512-vector
                plain aarch64 fcvt arm/fcvt.c "" -lm "" aarch64/fcvt.ref
                plain aarch64 pcalign-a64 aarch64/pcalign-a64.c
                for t in 1 2 4 5; do
                    plain aarch64 pauth-$t aarch64/pauth-$t.c -march=armv8.3-a "" "-cpu max"
                done
                for t in 1 3; do
                    plain aarch64 bti-$t aarch64/bti-$t.c -mbranch-protection=standard -nostdlib
                done
                plain aarch64 bti-2 aarch64/bti-2.c
                for t in 1 2 3 4 5 6 7; do
                    plain aarch64 mte-$t aarch64/mte-$t.c -march=armv8.5-a+memtag
                done
                plain aarch64 sysregs aarch64/sysregs.c -march=armv8.1-a+sve
                plain aarch64 sve-ioctls aarch64/sve-ioctls.c -march=armv8.1-a+sve
                plain aarch64 test-826 aarch64/test-826.c -march=armv8.1-a+sve2
                ;;
            arm)
                multiarch arm arm
                plain arm hello-arm arm/hello-arm.c "-marm -ffreestanding" -nostdlib
                plain arm test-arm-iwmmxt arm/test-arm-iwmmxt.S \
                    "-marm -march=iwmmxt -mabi=aapcs -mfpu=fpv4-sp-d16"
                plain arm fcvt arm/fcvt.c "" -lm "" arm/fcvt.ref
                plain arm pcalign-a32 arm/pcalign-a32.c -marm
                plain arm commpage arm/commpage.c
                build arm sha1-vector multiarch/sha1.c "-O3" "-static"
                run arm sha1-vector sha1-vector "" @sha1
                build arm sha512-vector multiarch/sha512.c "-O3" "-static"
                run arm sha512-vector sha512-vector
                run arm test-mmap-4096 test-mmap "-p 4096"
                ;;
            riscv64)
                multiarch riscv64 riscv64
                plain riscv64 test-div riscv64/test-div.c
                plain riscv64 noexec riscv64/noexec.c
                ;;
            mipsel)
                # QEMU names this target mipsel; its tests live in mips/.
                multiarch mipsel mips
                plain mipsel hello-mips mips/hello-mips.c "-mno-abicalls -fno-PIC -mabi=32" -nostdlib
                # The DSP ASE tests, as mips/user/ase/dsp/Makefile builds
                # and runs them: mips32r2 with DSP r2, on a 74Kf.
                for t in $(sed -n 's/^TESTCASES *+*= *\(test_dsp_[a-z0-9_]*\)\.tst$/\1/p' \
                    "$src/mips/user/ase/dsp/Makefile"); do
                    build mipsel "$t" "mips/user/ase/dsp/$t.c" \
                        "-EL -mabi=32 -march=mips32r2 -mgp32 -mdsp -mdspr2" "-static"
                    run mipsel "$t" "$t" "-cpu 74Kf"
                done
                ;;
            mips64el)
                # mips/Makefile.target adds hello-mips for 32-bit targets only.
                multiarch mips64el mips
                ;;
            ppc64le)
                # ppc64le/Makefile.target includes ppc64's.
                multiarch ppc64le ppc64le
                for t in bcdsub non_signalling_xscv; do
                    plain ppc64le $t ppc64/$t.c -mpower8-vector
                done
                for t in mtfsf mffsce signal_save_restore_xer xxspltw; do
                    plain ppc64le $t ppc64/$t.c
                done
                plain ppc64le byte_reverse ppc64/byte_reverse.c -mcpu=power10 "" "-cpu POWER10"
                build ppc64le sha512-vector multiarch/sha512.c "-mcpu=power10 -O3" "-static"
                run ppc64le sha512-vector sha512-vector "-cpu POWER10"
                ;;
            s390x)
                # s390x/Makefile.target builds every test for zEC12 (its
                # CFLAGS apply to the multiarch tests too).
                multiarch s390x s390x
                for t in hello-s390x csst ipm exrl-trt exrl-trtr pack mie3-compl mie3-mvcrl \
                    mie3-sel mvo mvc shift trap signals-s390x branch-relative-long noexec; do
                    plain s390x $t s390x/$t.c "-march=zEC12 -m64"
                done
                plain s390x vistr s390x/vistr.c "-march=z13 -O2"
                plain s390x vfminmax s390x/vfminmax.c "-march=z14 -O2" -lm
                for t in vxeh2_vs vxeh2_vcvt vxeh2_vlstr; do
                    plain s390x $t s390x/$t.c "-march=z15 -O2"
                done
                build s390x sha512-mvx multiarch/sha512.c "-march=z13 -mvx -O3" "-static"
                run s390x sha512-mvx sha512-mvx
                ;;
        esac
    done
}

# ---------------------------------------------------------------- build
build_one() { # ENTRY
    local a bin srcs cflags ldflags gen
    IFS='|' read -r a bin srcs cflags ldflags gen <<<"$1"
    local dir=$work/build/$a cc
    cc=$(cross_cc "$a")
    mkdir -p "$dir"
    local -a s=()
    local f
    for f in $srcs; do s+=("$src/$f"); done
    # shellcheck disable=SC2206 # flags are word lists
    local -a cmd=("$cc" $cflags "${s[@]}" -o "$dir/$bin" $ldflags)
    local stamp="${cmd[*]} gen=$gen"
    if [ -x "$dir/$bin" ] && [ -f "$dir/$bin.cmd" ] && [ "$(cat "$dir/$bin.cmd")" = "$stamp" ]; then
        return 0
    fi
    rm -f "$dir/$bin" "$dir/$bin.cmd"
    (
        cd "$dir"
        case "$gen" in
            test-avx.h) python3 "$src/i386/test-avx.py" "$src/i386/x86.csv" test-avx.h ;;
            test-mmx.h) python3 "$src/i386/test-mmx.py" "$src/i386/x86.csv" test-mmx.h MMX SSE SSE2 SSE3 SSSE3 ;;
            test-3dnow.h) python3 "$src/i386/test-mmx.py" "$src/i386/x86.csv" test-3dnow.h 3DNOW ;;
        esac
        "${cmd[@]}"
    ) >"$dir/$bin.build.log" 2>&1 && echo "$stamp" >"$dir/$bin.cmd" && return 0
    echo "   build of $a/$bin failed, see $dir/$bin.build.log" >&2
    return 0
}

# ---------------------------------------------------------------- run
# Runs one program with a timeout and records how it ended: "exit N",
# "signal N" (the process itself was killed by a signal) or "timeout".
run_prog() { # STATUS-FILE OUT ERR CWD PROGRAM...
    local status=$1 out=$2 err=$3 cwd=$4
    shift 4
    local start=$SECONDS
    (
        cd "$cwd"
        # timeout re-raises the signal a command died from; perl reports the
        # wait status undistorted (bash would fold signal N into exit 128+N).
        perl -e 'open(my $f, ">", shift) or die; system { $ARGV[0] } @ARGV; my $s = $?;
                 print $f ($s == -1 ? "exit 127" : ($s & 127) ? "signal " . ($s & 127) : "exit " . ($s >> 8)), "\n";' \
            "$status" timeout -k 5 "$timeout_s" "$@" >"$out" 2>"$err" </dev/null
    )
    local code
    code=$(cat "$status")
    if [ "$code" = "exit 124" ] || { [ "$code" = "exit 137" ] && ((SECONDS - start >= timeout_s)); }; then
        echo timeout >"$status"
    fi
    echo $((SECONDS - start)) >"${status%.status}.seconds"
}

run_one() { # ENTRY RUNNER(qemu|ht)
    local a name bin opts ref
    IFS='|' read -r a name bin opts ref <<<"$1"
    local runner=$2 res=$work/results/$a
    local exe=$work/build/$a/$bin
    local base=$res/$name.$runner
    rm -rf "$base".*
    [ -x "$exe" ] || return 0
    mkdir -p "$base.d"
    local -a o=()
    if [ "$runner" = qemu ]; then
        # shellcheck disable=SC2206
        o=($opts)
        run_prog "$base.status" "$base.out" "$base.err" "$base.d" "$(qemu_for "$a")" "${o[@]}" "$exe"
    else
        # The Makefiles' -cpu MODEL is passed on; -p (host page size) is not:
        # ht-user's pages are 4 KiB, the only size the tests ask for.
        # shellcheck disable=SC2206
        local -a given=($opts)
        local i
        for ((i = 0; i < ${#given[@]}; i++)); do
            if [ "${given[i]}" = -cpu ]; then
                o+=(-cpu "${given[i + 1]}")
            fi
        done
        run_prog "$base.status" "$base.out" "$base.err" "$base.d" "$ht_user" "${o[@]}" "$exe"
    fi
    rm -rf "$base.d"
}

# pass / fail / timeout / crash / not-built for one runner's run.
verdict() { # ARCH NAME BIN REF RUNNER
    local a=$1 name=$2 bin=$3 ref=$4 runner=$5
    local base=$work/results/$a/$name.$runner
    [ -x "$work/build/$a/$bin" ] || {
        echo not-built
        return
    }
    [ -f "$base.status" ] || {
        echo none
        return
    }
    local code
    code=$(cat "$base.status")
    case "$code" in
        timeout)
            echo timeout
            return
            ;;
        signal*)
            if [ "$runner" = ht ]; then echo crash; else echo fail; fi
            return
            ;;
    esac
    if [ "$runner" = ht ] && grep -q "panicked at" "$base.err"; then
        echo crash
        return
    fi
    [ "$code" = "exit 0" ] || {
        echo fail
        return
    }
    if [ -n "$ref" ]; then
        local reffile
        case "$ref" in
            @*) reffile=$work/results/$a/${ref#@}.$runner.out ;;
            *) reffile=$src/$ref ;;
        esac
        cmp -s "$base.out" "$reffile" || {
            echo fail
            return
        }
    fi
    echo pass
}

# ---------------------------------------------------------------- lists
listed() { # FILE NAME: is NAME a line's first word in FILE?
    [ -f "$1" ] && grep -v '^[[:space:]]*#' "$1" | awk '{print $1}' | grep -qxF "$2"
}

# ---------------------------------------------------------------- main
bash scripts/deps.sh tcg || echo "note: scripts/deps.sh tcg could not install everything" >&2
obtain_sources
define_tests

have_qemu=1
if [ "${HT_TCG_NO_QEMU:-0}" = 1 ]; then
    have_qemu=0
else
    for a in "${arches[@]}"; do
        command -v "$(qemu_for "$a")" >/dev/null || have_qemu=0
    done
fi
((have_qemu)) || echo "note: qemu-user is not used (not installed, or HT_TCG_NO_QEMU=1): results are compared with .ref files and the known-failure lists only"

for a in "${arches[@]}"; do
    command -v "$(cross_cc "$a")" >/dev/null || {
        echo "tcg-conformance: $(cross_cc "$a") is missing (bash scripts/deps.sh tcg installs the cross compilers)" >&2
        exit 2
    }
done

if [ -n "${HT_USER:-}" ]; then
    ht_user=$HT_USER
else
    if [ "${HT_TCG_PROFILE:-release}" = debug ]; then
        echo "== cargo build"
        cargo build --quiet
        ht_user=${CARGO_TARGET_DIR:-$repo/target}/debug/ht-user
    else
        echo "== cargo build --release"
        cargo build --release --quiet
        ht_user=${CARGO_TARGET_DIR:-$repo/target}/release/ht-user
    fi
fi
[ -x "$ht_user" ] || {
    echo "tcg-conformance: no ht-user at $ht_user" >&2
    exit 2
}
ht_user=$(cd "$(dirname "$ht_user")" && pwd)/$(basename "$ht_user")

selected=("${runs[@]}")

echo "== building ${#builds[@]} tests for ${arches[*]} in $work/build"
for b in "${builds[@]}"; do
    build_one "$b" &
    while (($(jobs -rp | wc -l) >= jobs)); do wait -n || true; done
done
wait

echo "== running ${#selected[@]} tests (timeout ${timeout_s}s, $jobs at a time)"
runners=(ht)
((have_qemu)) && runners=(qemu ht)
for r in "${selected[@]}"; do
    for runner in "${runners[@]}"; do
        run_one "$r" "$runner" &
        while (($(jobs -rp | wc -l) >= jobs)); do wait -n || true; done
    done
done
wait

# ---------------------------------------------------------------- report
tsv=$work/results.tsv
md=$work/results.md
regressions=()
fixed=()
printf 'arch\ttest\tqemu\tht_user\tknown_failure\toutcome\tht_user_status\tqemu_seconds\tht_user_seconds\n' >"$tsv"
declare -A n_run n_qpass n_hpass n_only n_timeout n_crash n_nobuild
for a in "${arches[@]}"; do
    n_run[$a]=0 n_qpass[$a]=0 n_hpass[$a]=0 n_only[$a]=0 n_timeout[$a]=0 n_crash[$a]=0 n_nobuild[$a]=0
done
for r in "${selected[@]}"; do
    IFS='|' read -r a name bin _ ref <<<"$r"
    q=-
    ((have_qemu)) && q=$(verdict "$a" "$name" "$bin" "$ref" qemu)
    h=$(verdict "$a" "$name" "$bin" "$ref" ht)
    known=no
    listed "$lists/known-failures-$a.txt" "$name" && known=yes
    n_run[$a]=$((n_run[$a] + 1))
    [ "$q" = pass ] && n_qpass[$a]=$((n_qpass[$a] + 1))
    [ "$h" = pass ] && n_hpass[$a]=$((n_hpass[$a] + 1))
    [ "$h" = timeout ] && n_timeout[$a]=$((n_timeout[$a] + 1))
    [ "$h" = crash ] && n_crash[$a]=$((n_crash[$a] + 1))
    [ "$h" = not-built ] && n_nobuild[$a]=$((n_nobuild[$a] + 1))
    # A test counts against ht-user when qemu-user passes it (or, without
    # qemu-user, always) and ht-user does not.
    outcome=ok
    if [ "$h" != pass ] && [ "$h" != not-built ] && { [ "$q" = pass ] || [ "$q" = - ]; }; then
        n_only[$a]=$((n_only[$a] + 1))
        if [ $known = yes ]; then
            outcome="known-failure"
        else
            outcome=REGRESSION
            regressions+=("$a/$name ($h)")
        fi
    elif [ "$h" = not-built ]; then
        outcome="not-built"
    elif [ "$h" != pass ]; then
        outcome="fails-under-qemu-too"
    elif [ $known = yes ]; then
        outcome=FIXED
        fixed+=("$a/$name")
    fi
    st=$(cat "$work/results/$a/$name.ht.status" 2>/dev/null || echo -)
    qs=$(cat "$work/results/$a/$name.qemu.seconds" 2>/dev/null || echo -)
    hs=$(cat "$work/results/$a/$name.ht.seconds" 2>/dev/null || echo -)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$a" "$name" "$q" "$h" "$known" "$outcome" "$st" "$qs" "$hs" >>"$tsv"
done

{
    echo "| arch | tests run | pass under qemu-user | pass under ht-user | only ht-user fails | ht-user timeouts | ht-user crashes | not built |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    t_run=0 t_q=0 t_h=0 t_o=0 t_t=0 t_c=0 t_n=0
    for a in "${arches[@]}"; do
        qcol=${n_qpass[$a]}
        ((have_qemu)) || qcol=-
        echo "| $a | ${n_run[$a]} | $qcol | ${n_hpass[$a]} | ${n_only[$a]} | ${n_timeout[$a]} | ${n_crash[$a]} | ${n_nobuild[$a]} |"
        t_run=$((t_run + n_run[$a])) t_q=$((t_q + n_qpass[$a])) t_h=$((t_h + n_hpass[$a]))
        t_o=$((t_o + n_only[$a])) t_t=$((t_t + n_timeout[$a])) t_c=$((t_c + n_crash[$a])) t_n=$((t_n + n_nobuild[$a]))
    done
    ((have_qemu)) || t_q=-
    echo "| **all** | $t_run | $t_q | $t_h | $t_o | $t_t | $t_c | $t_n |"
} >"$md"

echo
cat "$md"
echo
awk -F'\t' 'NR > 1 && $6 != "ok" {printf "  %-8s %-26s qemu=%-8s ht-user=%-8s %s\n", $1, $2, $3, $4, $6}' "$tsv"
echo
for a in "${arches[@]}"; do
    n=$(grep -v '^[[:space:]]*#' "$lists/not-applicable.txt" | awk -v a="$a" '$1 == a || $1 == "all"' | wc -l)
    echo "not applicable on $a: $n (see tests/tcg/not-applicable.txt)"
done
echo "results: $tsv and $md; outputs in $work/results/"
if ((${#fixed[@]})); then
    echo
    echo "NOW PASSING (remove from tests/tcg/known-failures-<arch>.txt): ${fixed[*]}"
fi
if ((${#regressions[@]})); then
    echo
    echo "REGRESSIONS (fail under ht-user, pass under qemu-user, not known failures): ${regressions[*]}"
    exit 1
fi
echo "no regressions"
