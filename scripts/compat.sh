#!/usr/bin/env bash
# make compat: run the unit and DAG suites from the built wheel on each supported Airflow version.
#
# Usage: scripts/compat.sh SPEC...   SPEC is AIRFLOW_VERSION[@PYTHON], e.g. 3.1.8@python3.11
#
# The FIRST spec is the floor. Its version must be the declared `apache-airflow>=` bound, and
# there every direct dependency is pinned to its declared lower bound (what uv calls
# lowest-direct), so the bounds in pyproject.toml are tested, not guessed. The other specs get
# the newest dependencies pip finds. No constraint file is used: each venv holds what a user
# gets from `pip install apache-airflow==X airflow-provider-hep`.
#
# Each spec gets its own venv under .venvs/, kept between runs while its stamp matches (see
# ensure_venv in wheel_venv.sh); pip's cache is shared by all of them.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
# shellcheck source=scripts/wheel_venv.sh
source scripts/wheel_venv.sh

if [[ $# -eq 0 ]]; then
    echo "usage: $0 AIRFLOW_VERSION[@PYTHON]..." >&2
    exit 2
fi
wheel=$(hep_wheel)

# Print `name==bound` for each unconditional requirement of the wheel with a `>=bound`.
lowest_direct_pins() {
    python3 - "$wheel" <<'PY'
import re
import sys
import zipfile

with zipfile.ZipFile(sys.argv[1]) as whl:
    meta = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
    for line in whl.read(meta).decode().splitlines():
        if not line.startswith("Requires-Dist:") or ";" in line:
            continue  # extras and environment markers are not direct runtime dependencies
        name = re.match(r"Requires-Dist:\s*([A-Za-z0-9._-]+)", line)
        bound = re.search(r">=\s*([^,)\s]+)", line)
        if name and bound:
            print(f"{name.group(1)}=={bound.group(1)}")
PY
}

# Old Airflow releases break with some of today's newest dependencies; Airflow's constraint files
# (not reachable here) would have pinned these. The breaks are Airflow's, not the provider's.
airflow_pins() {
    case $1 in
    # dag.test() fails on 3.2.2: svcs 26 leaves no svcs_registry on app.state for the in-process
    # execution API; fastapi 0.137+ makes pydantic reject TITerminalStatePayload's discriminator.
    # Airflow 3.3 fixed the first and itself pins fastapi<0.137.
    3.2.*) echo "fastapi<0.137" "svcs<26" ;;
    esac
}

pins=$(lowest_direct_pins)
floor=$(sed -n 's/^apache-airflow==//p' <<<"$pins")
if [[ ${1%%@*} != "$floor" ]]; then
    echo "compat: the first spec ($1) must be the declared floor apache-airflow>=$floor" >&2
    exit 1
fi

summary=()
failures=0
first=1
for spec in "$@"; do
    version=${spec%%@*}
    python=python3
    [[ $spec == *@* ]] && python=${spec#*@}
    interpreter=$(find_python "$python")
    py_version=$("$interpreter" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    read -r -a requirements <<<"apache-airflow==$version $(airflow_pins "$version")"
    label="Airflow $version, Python $py_version"
    venv="$VENVS_DIR/airflow-$version-py$py_version"
    if ((first)); then
        read -r -a requirements <<<"$(tr '\n' ' ' <<<"$pins") $(airflow_pins "$version")"
        label="$label, lowest direct dependencies"
        venv="$venv-lowest"
        first=0
    fi
    started=$SECONDS
    echo "compat: $label"
    ensure_venv "$venv" "$interpreter" "$wheel" "${requirements[@]}"
    installed=$("$venv/bin/python" -c 'from importlib.metadata import version as v; print(v("apache-airflow"))')
    if [[ $installed != "$version" ]]; then
        echo "compat: $venv has Airflow $installed, not $version" >&2
        exit 1
    fi
    # Run both suites and every version even after a failure: one CI run shows every break.
    failed=()
    # A test module that cannot import on this Airflow still fails the run, but the rest runs.
    pytest=(python -m pytest -q --continue-on-collection-errors)
    run_outside_tree "$venv" "${pytest[@]}" tests/unit tests/sandbox -m "not dags" || failed+=(unit)
    run_outside_tree "$venv" "${pytest[@]}" tests -m dags || failed+=(dags)
    if ((${#failed[@]})); then
        failures=$((failures + 1))
        summary+=("$label: FAILED (${failed[*]}) in $((SECONDS - started)) s")
    else
        summary+=("$label: passed in $((SECONDS - started)) s")
    fi
done
printf 'compat: %s\n' "${summary[@]}"
exit $((failures > 0))
