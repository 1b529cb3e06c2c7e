"""Shared helpers for the sync DAG tests: run a DAG, read outputs, compare with the sandbox."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

WINDOW_END = datetime(2026, 1, 1, 5, tzinfo=timezone.utc)  # logical date: interval 04:00-05:00
WINDOW = ("2026-01-01T04:00:00Z", "2026-01-01T05:00:00Z")


def manifest(folder: Path) -> dict:
    return json.loads((folder / "_manifest.json").read_text())


def ids_via_manifest(folder: Path) -> list[str]:
    ids: list[str] = []
    for part in manifest(folder)["parts"]:
        ids += [json.loads(line)["id"] for line in (folder / part["path"]).read_text().splitlines()]
    return ids


def ids_via_glob(folder: Path) -> list[str]:
    ids: list[str] = []
    for part in sorted(folder.glob("_runs/*/part-*.jsonl")):
        ids += [json.loads(line)["id"] for line in part.read_text().splitlines()]
    return ids


def task_states(dag_run) -> dict[int, str]:
    return {ti.map_index: ti.state for ti in dag_run.get_task_instances()}
