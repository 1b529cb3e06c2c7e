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
    "pagination",
    "ratelimit",
    "retry",
    "routing",
    "window",
]


@pytest.mark.parametrize("module", SANS_IO)
def test_sans_io_module_imports_no_airflow_and_no_http_client(module):
    code = (
        f"import sys, importlib; importlib.import_module('airflow_provider_hep.{module}'); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'airflow', 'requests', 'httpx'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_importing_the_package_root_reads_no_airflow():
    code = "import sys, airflow_provider_hep; print('airflow' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "False", result.stderr
