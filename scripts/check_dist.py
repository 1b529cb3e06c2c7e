"""Check that the built sdist and wheel ship every file of the package and the provider entry point.

Usage: python scripts/check_dist.py DIST_DIR

Setuptools silently leaves out a folder without ``__init__.py`` and any data file that
package-data does not name; this compares the built archives with the source tree instead.
"""

from __future__ import annotations

import re
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "airflow_provider_hep"
ENTRY_POINT = f"provider_info = {PACKAGE}:get_provider_info"


def source_files() -> set[str]:
    """Return the package's files in the source tree, as archive paths."""
    root = REPO / PACKAGE
    return {
        path.relative_to(REPO).as_posix()
        for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def source_version() -> str:
    """Return ``__version__`` as the source tree declares it."""
    text = (REPO / PACKAGE / "__init__.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    if match is None:
        raise SystemExit(f"no __version__ in {PACKAGE}/__init__.py")
    return match.group(1)


def check_wheel(wheel: Path, expected: set[str], version: str) -> list[str]:
    """Return the problems found in the wheel."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        dist_info = f"{PACKAGE}-{version}.dist-info"
        meta = Parser().parsestr(archive.read(f"{dist_info}/METADATA").decode())
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
    problems = [f"wheel lacks {name}" for name in sorted(expected - names)]
    if meta["Version"] != version:
        problems.append(f"wheel metadata version {meta['Version']} != __version__ {version}")
    if "[apache_airflow_provider]" not in entry_points or ENTRY_POINT not in entry_points:
        problems.append(f"wheel lacks the entry point {ENTRY_POINT!r}")
    return problems


def check_sdist(sdist: Path, expected: set[str], version: str) -> list[str]:
    """Return the problems found in the sdist."""
    prefix = f"{PACKAGE}-{version}/"
    with tarfile.open(sdist) as archive:
        names = {name.removeprefix(prefix) for name in archive.getnames()}
    required = expected | {"pyproject.toml", "README.md"}
    return [f"sdist lacks {name}" for name in sorted(required - names)]


def main(dist: Path) -> int:
    """Check the one wheel and the one sdist in ``dist``; print every problem."""
    version = source_version()
    expected = source_files()
    wheel = dist / f"{PACKAGE}-{version}-py3-none-any.whl"
    sdist = dist / f"{PACKAGE}-{version}.tar.gz"
    missing = [str(path) for path in (wheel, sdist) if not path.is_file()]
    if missing:
        print(f"check_dist: not built: {', '.join(missing)}", file=sys.stderr)
        return 1
    problems = check_wheel(wheel, expected, version) + check_sdist(sdist, expected, version)
    for problem in problems:
        print(f"check_dist: {problem}", file=sys.stderr)
    if not problems:
        print(f"check_dist: wheel and sdist ship all {len(expected)} package files")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "dist")))
