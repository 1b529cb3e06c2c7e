#!/usr/bin/env bash
# make wheel: build the sdist and the wheel, check them, and run the unit suite from the wheel.
#
# The wheel goes into a venv of its own (.venvs/wheel) and the suite runs from a copy of the repo
# without airflow_provider_hep/, so a module or data file the wheel lacks (the sandbox, py.typed)
# fails here rather than on a user's machine.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
# shellcheck source=scripts/wheel_venv.sh
source scripts/wheel_venv.sh

BUILD_PYTHON=${BUILD_PYTHON:-$REPO/.venv/bin/python} # has the release extra: build and twine
WHEEL_PYTHON=$(find_python "${PYTHON:-python3}")
WHEEL_VENV=${WHEEL_VENV:-$VENVS_DIR/wheel}
started=$SECONDS

# python -m build makes the sdist, then the wheel FROM the sdist: a file missing from the sdist
# is missing from the wheel too, and the checks below see it. It builds from a clean copy: a
# stale *.egg-info/SOURCES.txt in the work tree (the editable install leaves one) would slip
# files into the sdist that a fresh clone would not ship.
rm -rf dist
src=$(mktemp -d "${TMPDIR:-/tmp}/hep-build-src.XXXXXX")
log="$src.log"
tar -C "$REPO" -cf - \
    --exclude=./.git --exclude=./.venv --exclude=./.venvs --exclude=./dist --exclude=./build \
    --exclude='*.egg-info' --exclude=__pycache__ --exclude=./.mypy_cache --exclude=./.ruff_cache \
    --exclude=./.pytest_cache --exclude=./.hypothesis --exclude=./.airflow --exclude=./.artifacts \
    . | tar -C "$src" -xf -
if ! "$BUILD_PYTHON" -m build --outdir "$REPO/dist" "$src" >"$log" 2>&1; then
    cat "$log"
    rm -rf "$src" "$log"
    exit 1
fi
rm -rf "$src" "$log"
"$BUILD_PYTHON" -m twine check --strict dist/*
"$BUILD_PYTHON" scripts/check_dist.py dist
wheel=$(hep_wheel)
echo "wheel: built and checked in $((SECONDS - started)) s"

ensure_venv "$WHEEL_VENV" "$WHEEL_PYTHON" "$wheel"
airflow=$("$WHEEL_VENV/bin/python" -c 'from importlib.metadata import version as v; print(v("apache-airflow"))')
run_outside_tree "$WHEEL_VENV" python -m pytest tests/unit tests/sandbox -q -m "not dags"
echo "wheel: unit suite passed from the wheel (Airflow $airflow, $("$WHEEL_VENV/bin/python" -V)) in $((SECONDS - started)) s"
