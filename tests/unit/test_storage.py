"""Part files and the manifest commit, on Airflow's ObjectStoragePath over a local disk."""

from __future__ import annotations

import gzip
import hashlib
import json

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_hep.exceptions import HepCommitError
from airflow_provider_hep.manifest import (
    check_parts,
    read_manifest,
    remove_superseded,
    run_names,
    run_prefix_name,
    write_manifest,
)
from airflow_provider_hep.parts import PartWriter


@pytest.fixture
def folder(tmp_path):
    path = ObjectStoragePath(f"file://{tmp_path}")
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz"])
def test_parts_roll_over_at_the_record_limit_with_true_hashes(folder, tmp_path, fmt):
    writer = PartWriter(folder, format=fmt, part_records=3)
    writer.write([{"id": i, "name": "Zoë"} for i in range(4)])
    writer.write([{"id": i} for i in range(4, 7)])
    parts = writer.close()
    assert [(p.name, p.records) for p in parts] == [
        (f"part-00000.{fmt}", 3),
        (f"part-00001.{fmt}", 3),
        (f"part-00002.{fmt}", 1),
    ]
    ids = []
    for part in parts:
        raw = (tmp_path / part.name).read_bytes()
        assert part.sha256 == hashlib.sha256(raw).hexdigest()
        assert part.bytes == len(raw)
        text = gzip.decompress(raw) if fmt == "jsonl.gz" else raw
        ids += [json.loads(line)["id"] for line in text.decode().splitlines()]
    assert ids == list(range(7))


def test_no_records_means_no_parts(folder):
    writer = PartWriter(folder)
    writer.write([])
    assert writer.close() == []


def test_the_manifest_is_replaced_whole_and_leaves_no_temporary_file(folder, tmp_path):
    write_manifest(folder, {"records": 1})
    write_manifest(folder, {"records": 2})
    assert read_manifest(folder) == {"records": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["_manifest.json"]


def make_runs(tmp_path, *names):
    for name in names:
        (tmp_path / "_runs" / name).mkdir(parents=True)
        (tmp_path / "_runs" / name / "part-00000.jsonl").write_text("{}\n")


def test_superseded_runs_are_removed_and_the_current_one_kept(folder, tmp_path):
    make_runs(tmp_path, "old-try1", "old-try2")
    older = run_names(folder)  # what was there when current-try1 started
    make_runs(tmp_path, "current-try1")
    write_manifest(folder, {"run": "current-try1"})
    assert remove_superseded(folder, "current-try1", older) == ["old-try1", "old-try2"]
    assert [p.name for p in (tmp_path / "_runs").iterdir()] == ["current-try1"]


def test_an_attempt_that_started_later_is_never_removed(folder, tmp_path):
    # run-try1 started, then run-try2 (the retry of a zombie) started while it ran; run-try1
    # committed first. Its cleanup must leave run-try2 alone, which may be writing still.
    make_runs(tmp_path, "stale-try1")
    older = run_names(folder)
    make_runs(tmp_path, "run-try1", "run-try2")
    write_manifest(folder, {"run": "run-try1"})
    assert remove_superseded(folder, "run-try1", older) == ["stale-try1"]
    assert sorted(p.name for p in (tmp_path / "_runs").iterdir()) == ["run-try1", "run-try2"]


def test_an_attempt_overtaken_by_a_later_commit_deletes_nothing(folder, tmp_path, caplog):
    # Try 1 (a zombie) committed, then try 2 committed over it: try 1's cleanup must not
    # delete try 2's parts, which the manifest now names.
    make_runs(tmp_path, "run-try1", "run-try2")
    write_manifest(folder, {"run": "run-try2"})
    assert remove_superseded(folder, "run-try1", {"run-try2"}) == []
    assert sorted(p.name for p in (tmp_path / "_runs").iterdir()) == ["run-try1", "run-try2"]
    assert "the manifest now names run 'run-try2', not 'run-try1'" in caplog.text
    assert remove_superseded(folder, "run-try2", {"run-try1"}) == ["run-try1"]


def test_a_manifest_whose_parts_were_removed_is_not_committed(folder, tmp_path):
    make_runs(tmp_path, "run-try1")
    manifest = {"run": "run-try1", "parts": [{"path": "_runs/run-try1/part-00000.jsonl"}]}
    check_parts(folder, manifest)  # all there: no error
    manifest["parts"].append({"path": "_runs/run-try1/part-00001.jsonl"})
    with pytest.raises(HepCommitError, match=r"part _runs/run-try1/part-00001.jsonl of run"):
        check_parts(folder, manifest)


def test_run_prefixes_are_path_safe():
    assert (
        run_prefix_name("scheduled__2026-01-01T05:00:00+00:00", 2)
        == "scheduled__2026-01-01T05_00_00_00_00-try2"
    )
