"""Scan log files for secrets: the client secret, its Basic credential, every issued token."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

# Airflow's own supervisor logs, at DEBUG, the secret a task asks it to mask. It is Airflow's
# line, not ours, and the only one the scan excuses; the report counts it.
EXCUSED = "MaskSecret(value="


@dataclass
class LeakReport:
    """Where secrets appeared, and how many excused MaskSecret lines were seen."""

    files: int = 0
    lines: int = 0
    leaks: list[str] = field(default_factory=list)
    excused: list[str] = field(default_factory=list)


def secret_forms(client_id: str, client_secret: str, tokens: Iterable[str]) -> dict[str, str]:
    """Return every form a credential could take in a log line, each with a printable label."""
    basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    labelled = [
        (client_secret, "client secret"),
        (quote(client_secret, safe=""), "client secret (URL-encoded)"),  # a form body
        (basic, "Basic credential"),
        *((token, f"token #{i}") for i, token in enumerate(tokens)),
    ]
    forms: dict[str, str] = {}
    for secret, label in labelled:
        forms.setdefault(secret, label)  # the first label wins where two forms coincide
    return forms


def scan(paths: Iterable[Path], forms: dict[str, str]) -> LeakReport:
    """Report each line of ``paths`` that holds one of ``forms`` (none may be short)."""
    assert all(len(secret) >= 8 for secret in forms), "a short secret would match by chance"
    report = LeakReport()
    for path in paths:
        report.files += 1
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            report.lines += 1
            found = [label for secret, label in forms.items() if secret in line]
            if not found:
                continue
            where = f"{path}:{number}: {', '.join(sorted(set(found)))}"
            (report.excused if EXCUSED in line else report.leaks).append(where)
    return report


def task_log_files(home: Path) -> list[Path]:
    """Return the per-task log files: the workers' and the triggerer's (``*.trigger.*.log``)."""
    return sorted((home / "logs").glob("dag_id=*/**/*.log"))


def component_output_files(home: Path) -> list[Path]:
    """Return every Airflow component's own output, and the DAG processor's log files.

    The sandbox's output is left out: it prints its client secret by design.
    """
    outputs = [p for p in (home / "process-output").glob("*.log") if p.name != "sandbox.log"]
    return sorted(outputs) + sorted((home / "logs").glob("dag_processor/**/*.log"))


def scan_deployment(
    home: Path, client_id: str, client_secret: str, tokens: list[str]
) -> dict[str, LeakReport]:
    """Scan the task logs and the component output of one deployment."""
    assert tokens, "the sandbox issued no token: nothing ran"
    forms = secret_forms(client_id, client_secret, tokens)
    return {
        "task logs": scan(task_log_files(home), forms),
        "component output": scan(component_output_files(home), forms),
    }
