"""The sandbox stays an independent oracle, and its opt-in pytest plugin works on its own."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import airflow_provider_hep.sandbox

# The installed package under test (the source tree, or site-packages when run from the wheel).
SANDBOX = Path(airflow_provider_hep.sandbox.__file__).resolve().parent
PACKAGE_ROOT = SANDBOX.parent.parent
ALLOWED_THIRD_PARTY = {"cryptography", "pytest"}


def imported_roots(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]


def test_sandbox_modules_import_only_the_stdlib_cryptography_and_pytest():
    assert len(list(SANDBOX.glob("*.py"))) > 10  # the modules are really there to check
    offenders = {
        f"{path.name}: {root}"
        for path in SANDBOX.glob("*.py")
        for root in imported_roots(path)
        if root not in sys.stdlib_module_names and root not in ALLOWED_THIRD_PARTY
    }

    assert offenders == set()


def test_cryptography_is_imported_only_by_the_tls_module_and_pytest_only_by_the_plugin():
    users = {
        (path.name, root)
        for path in SANDBOX.glob("*.py")
        for root in imported_roots(path)
        if root in ALLOWED_THIRD_PARTY
    }

    assert users == {("tls.py", "cryptography"), ("pytest_plugin.py", "pytest")}


def run_python(code, cwd):
    env = {
        **os.environ,
        "PYTHONPATH": f"{PACKAGE_ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_sandbox_modules_import_nothing_from_the_provider_outside_the_sandbox():
    absolute = {
        f"{path.name}: {node.module}"
        for path in SANDBOX.glob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
        if node.module.startswith("airflow_provider_hep")
    }
    parents = {
        f"{path.name}: level {node.level}"
        for path in SANDBOX.glob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.level > 1
    }

    assert absolute == set()
    assert parents == set()


def test_running_a_sandbox_loads_neither_airflow_nor_cryptography(tmp_path):
    code = textwrap.dedent(
        """
        import sys
        from airflow_provider_hep.sandbox import HepSandbox
        with HepSandbox(records=5):
            pass
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("airflow", "cryptography")))
        """
    )

    result = run_python(code, tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_plugin_fixtures_work_when_enabled_with_dash_p(tmp_path):
    (tmp_path / "test_uses_plugin.py").write_text(
        textwrap.dedent(
            """
            import json, os, sys
            import requests

            def test_sandbox(hep_sandbox):
                assert requests.get(hep_sandbox.base_url + "/health", timeout=10).ok

            def test_factory(hep_sandbox_factory):
                sb = hep_sandbox_factory(records=3, page_size=2)
                assert len(sb.records("patients")) == 3

            def test_connection(hep_connection):
                conn = json.loads(os.environ["AIRFLOW_CONN_SAP_HEP_DEFAULT"])
                assert conn["host"] == hep_connection.base_url

            def test_no_airflow():
                assert "airflow" not in sys.modules
            """
        )
    )
    code = (
        "import sys, pytest; sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '-p',"
        " 'airflow_provider_hep.sandbox.pytest_plugin', 'test_uses_plugin.py']))"
    )

    result = run_python(code, tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout
