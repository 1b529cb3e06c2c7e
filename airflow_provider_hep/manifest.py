"""Commit a sync run by writing ``_manifest.json`` as one object, then drop superseded runs.

Layout under the destination (one data interval)::

    _manifest.json                      the commit: lists the current parts
    _runs/<run>-try<n>/part-00000.jsonl  the parts of one run attempt

A rename is not atomic on object stores (S3 "moves" by copying) and ``ObjectStoragePath.move``
onto an existing folder nests it, so parts are never moved: each attempt writes under its own
prefix and the manifest, written last as a single object, says which prefix is current.

After its commit, an attempt removes the prefixes that were there when it started: older
attempts' and killed attempts' parts. A prefix that appeared later is a newer attempt's; it is
never touched. Two attempts of one interval that overlap in time (a zombie task) cannot
publish a manifest with missing parts, except in one window no store without conditional
writes can close: the older attempt checks its parts, the newer one removes them, then the
older one commits.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Collection
from typing import Any

from airflow_provider_hep.exceptions import HepCommitError

log = logging.getLogger(__name__)

MANIFEST = "_manifest.json"
RUNS = "_runs"
MANIFEST_VERSION = 1
_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]+")


def run_prefix_name(run_id: str, try_number: int) -> str:
    """Return a path-safe folder name for one run attempt."""
    return f"{_UNSAFE.sub('_', run_id)}-try{try_number}"


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
        data: dict[str, Any] = json.loads(handle.read())
    return data


def run_names(destination: Any) -> frozenset[str]:
    """Return the run prefixes under ``destination`` now: call it before an attempt starts.

    These are the attempts older than the one starting (or the leftovers of killed ones); only
    they are ever removed by its cleanup, never one that starts later.
    """
    runs = destination / RUNS
    if not runs.exists():
        return frozenset()
    return frozenset(child.name for child in runs.iterdir())


def check_parts(destination: Any, manifest: dict[str, Any]) -> None:
    """Refuse to commit a manifest whose parts are not all there.

    An attempt that ran on after a newer attempt of its interval committed (a zombie task on a
    lost worker) finds its parts removed by that attempt's cleanup: committing would publish a
    manifest that points at missing files, over complete output.

    :raises HepCommitError: naming the first missing part; nothing is committed.
    """
    for part in manifest["parts"]:
        if not (destination / part["path"]).exists():
            raise HepCommitError(
                f"part {part['path']} of run {manifest['run']!r} is gone: a newer attempt of "
                "this data interval committed and removed it. Nothing was committed; the "
                "newer attempt's output stands."
            )


def remove_superseded(destination: Any, current: str, older: Collection[str]) -> list[str]:
    """Delete the ``older`` run prefixes, if the manifest names ``current``; return the names.

    :param older: the prefixes that existed when ``current`` started (:func:`run_names`).
        A prefix that appeared later belongs to a newer attempt, perhaps still running: it is
        left alone, and that attempt's own cleanup removes ``current`` once it commits.

    The committed manifest is read back first: when another attempt of the same interval (a
    zombie try, or a second run) committed after this one, its parts are the current data and
    nothing is deleted.
    """
    committed = read_manifest(destination)
    if committed is None or committed.get("run") != current:
        log.warning(
            "Not removing superseded runs: the manifest now names run %r, not %r (another "
            "attempt of this interval committed after this one).",
            None if committed is None else committed.get("run"),
            current,
        )
        return []
    removed = []
    for name in sorted(set(older) - {current}):
        remove_tree(destination / RUNS / name)
        removed.append(name)
    return removed


def remove_tree(path: Any) -> None:
    """Delete a folder and everything in it, if it exists."""
    if path.exists():
        path.fs.rm(str(path.path), recursive=True)
