"""The version lives in one place, `airflow_provider_hep.__version__`, and every report agrees."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.version import Version

from airflow_provider_hep import __version__, get_provider_info

REPO = Path(__file__).resolve().parents[2]


def test_the_version_is_a_canonical_pep_440_version():
    assert str(Version(__version__)) == __version__


def test_the_installed_distribution_reports_the_package_version():
    assert metadata.version("airflow-provider-hep") == __version__


def test_provider_info_reports_the_package_version_first():
    assert get_provider_info()["versions"][0] == __version__


def test_pyproject_reads_the_version_from_the_package_instead_of_repeating_it():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in pyproject["project"]
    assert "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "airflow_provider_hep.__version__"
    }


def test_the_changelog_has_a_section_for_the_version():
    changelog = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "https://keepachangelog.com/" in changelog
    headings = re.findall(r"^## \[([^\]]+)\]", changelog, re.MULTILINE)
    assert __version__ in headings, f"CHANGELOG.md has no '## [{__version__}]' section"
