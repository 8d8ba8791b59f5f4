#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A Python environment with DuckDB, polars, pandas and pyarrow, which the
# Parquet tests (tests/parquet.rs) read ht-trace's tables with. Debian's
# pip refuses system-wide installs (PEP 668), so it is a venv, created once
# under target/py-parquet (or $HT_PY_ENV) and reused; needs python3-venv
# (scripts/deps.sh) and PyPI. Prints the environment's python.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${HT_PY_ENV:-$PWD/target/py-parquet}
packages=(duckdb polars pandas pyarrow)
mkdir -p "$(dirname "$venv")"
# Tests may ask for it at the same time: one installs, the others wait.
exec 9>"$venv.lock"
flock 9
stamp=$venv/.installed
if [ "$(cat "$stamp" 2>/dev/null)" != "${packages[*]}" ]; then
    base=/usr/bin/python3
    [ -x "$base" ] || base=python3
    rm -rf "$venv"
    "$base" -m venv "$venv" >&2 || {
        echo "py-env.sh: cannot create a venv (is python3-venv installed? bash scripts/deps.sh)" >&2
        exit 1
    }
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${packages[@]}" >&2
    "$venv/bin/python" -c 'import duckdb, polars, pandas, pyarrow' >&2
    echo "${packages[*]}" >"$stamp"
fi
echo "$venv/bin/python"
