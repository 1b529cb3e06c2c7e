"""The sans-IO modules never import Airflow or an HTTP client."""

from __future__ import annotations

import subprocess
import sys

import pytest

SANS_IO = [
    "auth",
    "checks",
    "config",
    "exceptions",
    "exchange",
    "pagination",
    "ratelimit",
    "retry",
    "routing",
    "window",
]


def python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter, so that sys.modules shows what it imported."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("module", SANS_IO)
def test_sans_io_module_imports_no_airflow_and_no_http_client(module):
    code = (
        f"import sys, importlib; importlib.import_module('airflow_provider_hep.{module}'); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'airflow', 'requests', 'httpx'}))"
    )
    result = python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_importing_the_package_root_reads_no_airflow():
    code = "import sys, airflow_provider_hep; print('airflow' in sys.modules)"
    result = python(code)
    assert result.stdout.strip() == "False", result.stderr


# What a DAG file or the triggerer imports. requests (with urllib3 and charset_normalizer,
# ~30 ms) must load on the first HTTP call, not at parse time; Airflow itself does not load it.
DAG_FACING = [
    "hooks.hep",
    "hooks.hep_async",
    "operators.hep",
    "operators.sync",
    "sensors.hep",
    "triggers.hep",
]


@pytest.mark.parametrize("module", DAG_FACING)
def test_dag_facing_module_does_not_import_requests_at_parse_time(module):
    code = (
        "import sys, importlib, airflow.sdk; before = 'requests' in sys.modules; "
        f"importlib.import_module('airflow_provider_hep.{module}'); "
        "print(before, 'requests' in sys.modules)"
    )
    result = python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False False"


def test_hep_auth_keeps_its_public_import_path_and_loads_requests_then():
    code = (
        "import sys; from airflow_provider_hep.hooks.hep import HepAuth; "
        "from requests.auth import AuthBase; "
        "print(issubclass(HepAuth, AuthBase), HepAuth.__module__)"
    )
    result = python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True airflow_provider_hep.hooks.hep_auth"
