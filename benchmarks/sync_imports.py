"""Measure what importing each public provider module adds after ``import airflow.sdk``.

Each measurement is a fresh ``python -X importtime -c "import airflow.sdk; import <module>"``.
Everything ``importtime`` reports after the ``airflow.sdk`` line was imported because of our
module: our own ``airflow_provider_hep.*`` modules and whatever they pull in that Airflow's
SDK had not loaded (``requests``, ``airflow.triggers.base`` ...). The cost is the sum of the
*self* times of those entries, so nothing is counted twice; the ~1 s of ``import airflow.sdk``
itself is excluded instead of being subtracted as a noisy difference of two totals.

A deployed provider is imported from byte-code (pip compiles a wheel at install), so a warm-up
run writes ``.pyc`` files first, into a temporary ``PYTHONPYCACHEPREFIX``, even where the
environment sets ``PYTHONDONTWRITEBYTECODE`` (compiling the source would be counted otherwise).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field

OURS = "airflow_provider_hep"
PUBLIC_MODULES = (
    "airflow_provider_hep",
    "airflow_provider_hep.operators.sync",
    "airflow_provider_hep.operators.hep",
    "airflow_provider_hep.sensors.hep",
    "airflow_provider_hep.triggers.hep",
    "airflow_provider_hep.hooks.hep",
    "airflow_provider_hep.hooks.hep_async",
    "airflow_provider_hep.pagination",
    "airflow_provider_hep.exceptions",
)
ALL = "all of the above"
# What a DAG file imports: the operators and the sensor (hooks and triggers load at run time).
DAG_FILE = "operators.sync + operators.hep + sensors.hep"
DAG_MODULES = (
    "airflow_provider_hep.operators.sync",
    "airflow_provider_hep.operators.hep",
    "airflow_provider_hep.sensors.hep",
)


@dataclass
class ImportCost:
    """Median added import time of one module (ms), split into ours and what we pull in."""

    module: str
    total_ms: float
    ours_ms: float
    pulled: list[tuple[str, float]] = field(default_factory=list)  # heaviest other packages


def added_entries(stderr: str) -> list[tuple[str, int]]:
    """Return (module, self µs) of the entries importtime printed after ``airflow.sdk``."""
    entries: list[tuple[str, int]] = []
    after_sdk = False
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = line.removeprefix("import time:").split("|", 2)
        if after_sdk:
            entries.append((name.strip(), int(self_us)))
        elif name.rstrip() == " airflow.sdk":  # the top-level entry: the SDK is fully imported
            after_sdk = True
    if not after_sdk:
        raise RuntimeError("no top-level airflow.sdk entry in the importtime output")
    return entries


def one_run(modules: tuple[str, ...], pycache: str) -> list[tuple[str, int]]:
    """Import ``modules`` after airflow.sdk in a fresh interpreter; return the added entries."""
    code = "import airflow.sdk\n" + "".join(f"import {m}\n" for m in modules)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "PYTHONPYCACHEPREFIX": pycache},
    )
    if done.returncode != 0:
        raise RuntimeError(f"importing {modules} failed:\n{done.stderr[-2000:]}")
    return added_entries(done.stderr)


def measure(label: str, modules: tuple[str, ...], runs: int, pycache: str) -> ImportCost:
    """Return the median added cost of importing ``modules`` over ``runs`` interpreters."""
    totals, ours, per_module = [], [], {}
    one_run(modules, pycache)  # warm-up: writes the byte-code a deployed DAG parser has
    for _ in range(runs):
        entries = one_run(modules, pycache)
        totals.append(sum(us for _, us in entries) / 1000)
        ours.append(sum(us for name, us in entries if name.split(".")[0] == OURS) / 1000)
        packages: dict[str, float] = {}
        for name, us in entries:
            top = name.split(".")[0]
            if top != OURS:
                packages[top] = packages.get(top, 0.0) + us / 1000
        for top, ms in packages.items():
            per_module.setdefault(top, []).append(ms)
    pulled = sorted(
        ((name, statistics.median(v)) for name, v in per_module.items()),
        key=lambda item: -item[1],
    )
    return ImportCost(label, statistics.median(totals), statistics.median(ours), pulled[:3])


def measure_imports(
    runs: int, log: Callable[[str], None], only: tuple[str, ...] | None = None
) -> list[ImportCost]:
    """Return the cost of each public module (or of ``only``), then of all of them together."""
    costs = []
    public = only or PUBLIC_MODULES
    groups = {DAG_FILE: DAG_MODULES, ALL: public} if only is None else {}
    with tempfile.TemporaryDirectory(prefix="hep-bench-pycache-") as pycache:
        for module in (*public, *groups):
            modules = groups.get(module, (module,))
            cost = measure(module, modules, runs, pycache)
            log(f"import {module}: +{cost.total_ms:.1f} ms (ours {cost.ours_ms:.1f} ms)")
            costs.append(cost)
    return costs
