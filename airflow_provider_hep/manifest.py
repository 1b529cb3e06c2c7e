"""Commit a sync run by writing ``_manifest.json`` as one object, then drop superseded runs.

Layout under the destination (one data interval)::

    _manifest.json                      the commit: lists the current parts
    _runs/<run>-try<n>/part-00000.jsonl  the parts of one run attempt

A rename is not atomic on object stores (S3 "moves" by copying) and ``ObjectStoragePath.move``
onto an existing folder nests it, so parts are never moved: each attempt writes under its own
prefix and the manifest, written last as a single object, says which prefix is current.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Any

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


def remove_superseded(destination: Any, current: str) -> list[str]:
    """Delete every run prefix except ``current``, if the manifest names it; return the names.

    The committed manifest is read back first: when another attempt of the same interval (a
    zombie try, or a second run) committed after this one, its parts are the current data and
    nothing is deleted; its own cleanup removes this attempt's prefix.
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
    runs = destination / RUNS
    if not runs.exists():
        return []
    removed = []
    for child in runs.iterdir():
        if child.name != current:
            remove_tree(child)
            removed.append(child.name)
    return removed


def remove_tree(path: Any) -> None:
    """Delete a folder and everything in it, if it exists."""
    if path.exists():
        path.fs.rm(str(path.path), recursive=True)
