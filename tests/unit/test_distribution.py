"""The package under test is the installed one, with its data files and entry points.

`make wheel` and `make compat` run the suite from a copy of the repo without the package folder
and set HEP_EXPECT_PACKAGE_DIR to the venv's site-packages; elsewhere (the editable dev venv)
the package is expected in the source tree.
"""

from __future__ import annotations

import os
from importlib import import_module, metadata, resources
from pathlib import Path

import airflow_provider_hep

REPO = Path(__file__).resolve().parents[2]


def expected_package_dir() -> Path:
    return Path(os.environ.get("HEP_EXPECT_PACKAGE_DIR") or REPO / "airflow_provider_hep").resolve()


def test_the_package_is_imported_from_the_installation_under_test():
    assert Path(airflow_provider_hep.__file__).resolve().parent == expected_package_dir()


def test_the_package_ships_its_py_typed_marker():
    assert resources.files("airflow_provider_hep").joinpath("py.typed").is_file()


def test_the_sandbox_subpackage_is_installed_with_the_package():
    sandbox = import_module("airflow_provider_hep.sandbox")
    assert Path(sandbox.__file__).resolve().parent == expected_package_dir() / "sandbox"
    assert resources.files("airflow_provider_hep.sandbox").joinpath("__main__.py").is_file()


def test_the_hep_sandbox_console_script_points_at_the_sandbox_cli():
    (script,) = [
        ep for ep in metadata.entry_points(group="console_scripts") if ep.name == "hep-sandbox"
    ]
    assert script.value == "airflow_provider_hep.sandbox.cli:main"
    assert callable(script.load())
