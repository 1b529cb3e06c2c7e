"""Commit a sync run by writing ``_manifest.json`` as one object, then drop superseded runs.

Layout under the destination (one data interval)::

    _manifest.json                      the commit: lists the current parts
    _runs/<run>-try<n>-<id>/part-00000.jsonl  the parts of one run attempt

A rename is not atomic on object stores (S3 "moves" by copying) and ``ObjectStoragePath.move``
onto an existing folder nests it, so parts are never moved: each attempt writes under its own
prefix and the manifest, written last as a single object, says which prefix is current.

After its commit, an attempt removes the prefixes that were there when it started (older and
killed attempts' parts) and the run committed then. A prefix that appeared later is a newer
attempt's; it is never touched. When attempts of one interval overlap (a zombie task), the
first to commit wins: the other finds the manifest changed, commits nothing and removes its own
parts. One window stays open on stores without conditional writes: two attempts that both check
the manifest, then both write it. The later write wins, and is complete; the other's parts may
stay behind for a glob until the interval's next run removes them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

from airflow_provider_hep.exceptions import HepCommitError

log = logging.getLogger(__name__)

MANIFEST = "_manifest.json"
RUNS = "_runs"
MANIFEST_VERSION = 1
_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]+")


def run_prefix_name(run_id: str, try_number: int, attempt: str | None = None) -> str:
    """Return a path-safe folder name for one run attempt, unique by ``attempt``.

    :param attempt: a random suffix (default: a new one). ``airflow tasks test`` and repeated
        ``dag.test()`` runs reuse a run id and try number: without it, a rerun would write into
        the committed attempt's folder.
    """
    attempt = uuid.uuid4().hex[:8] if attempt is None else attempt
    return f"{_UNSAFE.sub('_', run_id)}-try{try_number}-{attempt}"


@dataclass(frozen=True)
class AttemptStart:
    """What a sync attempt saw under its destination before it wrote anything.

    :param older: the run prefixes there: older attempts' or killed ones'. Only these (and
        the committed run's) are removed after this attempt commits, never a later one's.
    :param committed_run: the run the manifest named, or None. If the manifest names another
        run at commit time, another attempt committed meanwhile and this one must not.
    """

    older: frozenset[str]
    committed_run: str | None


def start_attempt(destination: Any) -> AttemptStart:
    """Note the run prefixes and the committed run under ``destination``, before writing."""
    runs = destination / RUNS
    older = frozenset(child.name for child in runs.iterdir()) if runs.exists() else frozenset()
    return AttemptStart(older, committed_run(destination))


def is_local(path: Any) -> bool:
    """Tell whether ``path`` is on a local filesystem, where a rename is atomic."""
    protocol = getattr(getattr(path, "fs", None), "protocol", "file")
    protocols = protocol if isinstance(protocol, tuple | list) else (protocol,)
    return bool({"file", "local"} & set(protocols))


def write_manifest(destination: Any, manifest: dict[str, Any]) -> None:
    """Write the manifest as one object: temp name + rename locally, one PUT on object stores."""
    payload = json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8")
    target = destination / MANIFEST
    if not is_local(destination):
        with target.open("wb") as handle:  # a single PUT: readers see all of it or none
            handle.write(payload)
        return
    temp = destination / f".{MANIFEST}.{uuid.uuid4().hex}.tmp"
    try:
        with temp.open("wb") as handle:
            handle.write(payload)
        temp.fs.mv(str(temp.path), str(target.path))
    except BaseException:
        if temp.exists():  # a full disk or a kill mid-write: leave no stray file behind
            temp.unlink()
        raise


def read_manifest(destination: Any) -> dict[str, Any] | None:
    """Return the committed manifest under ``destination``, or None."""
    target = destination / MANIFEST
    if not target.exists():
        return None
    with target.open("rb") as handle:
        raw = handle.read()
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise HepCommitError(
            f"{target} is not a manifest this provider wrote (not a JSON object); move it "
            "away, then run the task again"
        )
    return data


def committed_run(destination: Any) -> str | None:
    """Return the run that the committed manifest names, or None when nothing is committed."""
    committed = read_manifest(destination)
    return None if committed is None else committed.get("run")


def check_commit(destination: Any, manifest: dict[str, Any], start: AttemptStart) -> None:
    """Refuse to commit over another attempt's commit, or a manifest whose parts are gone.

    Two attempts of one interval can overlap: a zombie task on a lost worker and its retry, or
    two runs of one data interval. The first to commit wins; the other commits nothing.

    :raises HepCommitError: naming the run that committed meanwhile, or the first missing part.
    """
    now = committed_run(destination)
    if now != start.committed_run:
        raise HepCommitError(
            f"another attempt of this data interval (run {now!r}) committed while run "
            f"{manifest['run']!r} was running, so this one committed nothing and that output "
            "stands. Run the task again to sync the interval anew."
        )
    for part in manifest["parts"]:
        if not (destination / part["path"]).exists():
            raise HepCommitError(
                f"part {part['path']} of run {manifest['run']!r} disappeared before the commit "
                "(removed by another attempt of this data interval or a storage rule), so "
                "nothing was committed. Run the task again."
            )


def remove_superseded(destination: Any, current: str, start: AttemptStart) -> list[str]:
    """Delete the runs ``current`` superseded, if the manifest names it; return their names.

    Those are the prefixes there when ``current`` started, and the run committed then. A prefix
    that appeared later belongs to a newer attempt, perhaps still running: it is left alone
    (that attempt will find the manifest changed and commit nothing, then remove its own).
    """
    now = committed_run(destination)
    if now != current:
        log.warning(
            "Not removing superseded runs: the manifest now names run %r, not %r (another "
            "attempt of this interval committed after this one).",
            now,
            current,
        )
        return []
    superseded = set(start.older)
    if start.committed_run:
        superseded.add(start.committed_run)
    removed = []
    for name in sorted(superseded - {current}):
        remove_tree(destination / RUNS / name)
        removed.append(name)
    return removed


def remove_tree(path: Any) -> None:
    """Delete a folder and everything in it, if it exists (gone meanwhile is fine too)."""
    with contextlib.suppress(FileNotFoundError):
        if path.exists():
            path.fs.rm(str(path.path), recursive=True)
