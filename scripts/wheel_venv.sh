# Venvs that install the built wheel, and test runs with the source tree off sys.path.
# Sourced by scripts/wheel_test.sh and scripts/compat.sh, which set REPO (the repo root) first.

# Venvs live here; CI starts from a fresh clone, so there they are always new.
VENVS_DIR=${VENVS_DIR:-$REPO/.venvs}

# Print the path of this version's wheel in dist/ (make wheel builds it).
hep_wheel() {
    local version wheel
    version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$REPO/airflow_provider_hep/__init__.py")
    wheel="$REPO/dist/airflow_provider_hep-${version}-py3-none-any.whl"
    if [[ ! -f $wheel ]]; then
        echo "no $wheel: run 'make wheel' first" >&2
        return 1
    fi
    echo "$wheel"
}

# Print the command of a Python X.Y interpreter: pythonX.Y on PATH, else pyenv's build of it.
find_python() {
    local want=$1 candidate
    if [[ $want != python* ]]; then
        echo "$want"
        return 0
    fi
    if "$want" -c '' 2>/dev/null; then
        command -v "$want"
        return 0
    fi
    # pyenv's shims answer only for its global versions; its other builds live under its root.
    for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"${want#python}".*/bin/"$want"; do
        if [[ -x $candidate ]] && "$candidate" -c ''; then
            echo "$candidate"
            return 0
        fi
    done
    echo "no $want interpreter found (looked on PATH and under pyenv)" >&2
    return 1
}

# pip without this machine's warnings about missing local index folders.
quiet_pip() {
    local python=$1
    shift
    "$python" -m pip "$@" 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
}

# ensure_venv DIR PYTHON WHEEL [REQUIREMENT...]
# Make DIR a venv with WHEEL[test] and the requirements installed. A venv whose stamp matches
# (same interpreter, requirements and wheel dependencies) is kept and only gets this wheel
# reinstalled, so a rerun costs seconds; anything else starts from an empty venv.
ensure_venv() {
    local dir=$1 python=$2 wheel=$3
    shift 3
    local key
    key=$(
        {
            "$python" -VV
            printf '%s\n' "$@"
            "$python" - "$wheel" <<'PY'
import sys
import zipfile

with zipfile.ZipFile(sys.argv[1]) as whl:
    meta = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
    for line in whl.read(meta).decode().splitlines():
        if line.startswith(("Requires-Dist:", "Requires-Python:", "Provides-Extra:")):
            print(line)
PY
        } | sha256sum | cut -c1-16
    )
    if [[ -f $dir/.hep-stamp && $(cat "$dir/.hep-stamp") == "$key" ]]; then
        echo "reusing $dir (stamp $key)"
        quiet_pip "$dir/bin/python" install -q --no-deps --force-reinstall "$wheel"
        return 0
    fi
    echo "creating $dir: $("$python" -V), the wheel with its test extra${*:+, $*}"
    rm -rf "$dir"
    "$python" -m venv "$dir"
    quiet_pip "$dir/bin/python" install -q --upgrade pip
    quiet_pip "$dir/bin/python" install -q "$wheel[test]" "$@"
    echo "$key" >"$dir/.hep-stamp"
}

# run_outside_tree VENV COMMAND...
# Run COMMAND (e.g. python -m pytest ...) with VENV's bin first on PATH, from a temporary copy
# of the repo WITHOUT airflow_provider_hep/, so imports can only resolve into VENV's
# site-packages. Tests find the expected package folder in HEP_EXPECT_PACKAGE_DIR.
run_outside_tree() {
    local venv
    venv=$(cd "$1" && pwd)
    shift
    local work package_dir status=0
    work=$(mktemp -d "${TMPDIR:-/tmp}/hep-outside-tree.XXXXXX")
    # *.egg-info is left behind too: importlib.metadata would read a stale one from the cwd.
    tar -C "$REPO" -cf - \
        --exclude=./airflow_provider_hep --exclude=./.git --exclude=./.venv --exclude=./.venvs \
        --exclude=./dist --exclude=./build --exclude='*.egg-info' --exclude=__pycache__ \
        --exclude=./.mypy_cache --exclude=./.ruff_cache --exclude=./.pytest_cache \
        --exclude=./.hypothesis --exclude=./.airflow --exclude=./.artifacts --exclude=./demo-output \
        . | tar -C "$work" -xf -
    package_dir=$("$venv/bin/python" -c \
        'import sysconfig; print(sysconfig.get_path("purelib"))')/airflow_provider_hep
    (
        cd "$work" || exit 1
        export PATH="$venv/bin:$PATH" HEP_EXPECT_PACKAGE_DIR="$package_dir"
        unset PYTHONPATH
        # The guard the suite also checks (test_distribution.py), here before any test runs.
        "$venv/bin/python" -c '
import os, pathlib, airflow_provider_hep as p
found = pathlib.Path(p.__file__).resolve().parent
expected = pathlib.Path(os.environ["HEP_EXPECT_PACKAGE_DIR"]).resolve()
assert found == expected, f"airflow_provider_hep imported from {found}, not {expected}"
' && "$@" # (errexit does not apply inside this subshell: it runs left of ||)
    ) || status=$?
    rm -rf "$work"
    return "$status"
}
