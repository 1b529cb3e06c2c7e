"""Part files and the manifest commit, on Airflow's ObjectStoragePath over a local disk."""

from __future__ import annotations

import gzip
import hashlib
import json

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_hep.exceptions import HepCommitError
from airflow_provider_hep.manifest import (
    check_commit,
    read_manifest,
    remove_superseded,
    run_prefix_name,
    start_attempt,
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
    write_manifest(folder, {"run": "old-try2"})
    start = start_attempt(folder)  # what was there when current-try1 started
    assert start.committed_run == "old-try2"
    make_runs(tmp_path, "current-try1")
    write_manifest(folder, {"run": "current-try1"})
    assert remove_superseded(folder, "current-try1", start) == ["old-try1", "old-try2"]
    assert [p.name for p in (tmp_path / "_runs").iterdir()] == ["current-try1"]


def test_an_attempt_that_started_later_is_never_removed(folder, tmp_path):
    # run-try1 started, then run-try2 (the retry of a zombie) started while it ran; run-try1
    # committed first. Its cleanup must leave run-try2 alone, which may be writing still.
    make_runs(tmp_path, "stale-try1")
    start = start_attempt(folder)
    make_runs(tmp_path, "run-try1", "run-try2")
    write_manifest(folder, {"run": "run-try1"})
    assert remove_superseded(folder, "run-try1", start) == ["stale-try1"]
    assert sorted(p.name for p in (tmp_path / "_runs").iterdir()) == ["run-try1", "run-try2"]


def test_the_first_of_two_overlapping_attempts_to_commit_wins(folder, tmp_path, caplog):
    # try1 (a zombie) and try2 overlap. try2 commits first: try1 must commit nothing.
    first, second = start_attempt(folder), start_attempt(folder)
    make_runs(tmp_path, "run-try1", "run-try2")
    mine = {"run": "run-try2", "parts": [{"path": "_runs/run-try2/part-00000.jsonl"}]}
    check_commit(folder, mine, second)
    write_manifest(folder, mine)
    zombie = {"run": "run-try1", "parts": [{"path": "_runs/run-try1/part-00000.jsonl"}]}
    with pytest.raises(HepCommitError, match=r"another attempt .*\(run 'run-try2'\) committed"):
        check_commit(folder, zombie, first)
    assert read_manifest(folder) == mine
    # A cleanup that runs anyway (an older release's attempt) deletes nothing.
    assert remove_superseded(folder, "run-try1", first) == []
    assert "the manifest now names run 'run-try2', not 'run-try1'" in caplog.text


def test_a_manifest_whose_parts_were_removed_is_not_committed(folder, tmp_path):
    make_runs(tmp_path, "run-try1")
    start = start_attempt(folder)
    manifest = {"run": "run-try1", "parts": [{"path": "_runs/run-try1/part-00000.jsonl"}]}
    check_commit(folder, manifest, start)  # all there, nobody committed meanwhile: no error
    manifest["parts"].append({"path": "_runs/run-try1/part-00001.jsonl"})
    with pytest.raises(HepCommitError, match=r"part _runs/run-try1/part-00001.jsonl of run"):
        check_commit(folder, manifest, start)


def test_a_manifest_that_is_not_ours_is_named_with_the_fix(folder, tmp_path):
    (tmp_path / "_manifest.json").write_text("[1, 2")
    with pytest.raises(HepCommitError, match=r"_manifest.json is not a manifest .*move it away"):
        start_attempt(folder)


def test_run_prefixes_are_path_safe_and_unique_per_attempt():
    assert (
        run_prefix_name("scheduled__2026-01-01T05:00:00+00:00", 2, "ab12cd34")
        == "scheduled__2026-01-01T05_00_00_00_00-try2-ab12cd34"
    )
    assert run_prefix_name("manual__x", 1) != run_prefix_name("manual__x", 1)
