"""Shared helpers for the sync DAG tests: run a DAG, read outputs, compare with the sandbox."""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime
from pathlib import Path

WINDOW_END = datetime(2026, 1, 1, 5, tzinfo=UTC)  # logical date: interval 04:00-05:00
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


# -- shared by the trigger tests ----------------------------------------------------------------
def export_job(sb, ready_after=2):
    """Start an export job on the sandbox directly (no provider code) and return its id."""
    import requests

    auth = (sb.client_id, sb.client_secret)
    form = {"grant_type": "client_credentials"}
    token = requests.post(sb.token_url, data=form, auth=auth, timeout=10).json()["access_token"]
    answer = requests.post(
        f"{sb.base_url}/exports",
        json={"collection": "patients", "ready_after": ready_after},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    sb.reset_stats()
    return answer.json()["id"]


async def events_of(trigger):
    return [event.payload async for event in trigger.run()]


def import_dag(path: Path, dag_id: str):
    """Import a DAG file from the dags_folder afresh and return its module-level DAG ``dag_id``."""
    spec = importlib.util.spec_from_file_location(f"hep_test_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dags = [v for v in vars(module).values() if type(v).__name__ == "DAG" and v.dag_id == dag_id]
    assert dags, f"{path.name} defines no module-level DAG {dag_id!r}"
    return dags[0]
