"""Stream records into JSON Lines part files, each with its sha256, in bounded memory.

Works on any path object with ``/`` and ``open("wb")`` (Airflow's ``ObjectStoragePath`` or
``pathlib.Path``), so it does not import Airflow.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any, Protocol

FORMATS = ("jsonl", "jsonl.gz")
# Compact JSON, non-ASCII kept as UTF-8. The encoder holds no state between calls.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class WritablePath(Protocol):
    """The part of ``ObjectStoragePath``/``pathlib.Path`` the writer needs."""

    def __truediv__(self, other: str) -> WritablePath: ...

    def open(self, mode: str = ...) -> IO[Any]: ...


@dataclass(frozen=True)
class PartInfo:
    """Describe one written part, as listed in the manifest."""

    name: str
    records: int
    bytes: int
    sha256: str


class _HashingSink:
    """Count and hash the bytes that reach the file, whatever compression sits above."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.handle.write(data)

    def flush(self) -> None:
        self.handle.flush()


class PartWriter:
    """Write records into ``part-00000.<format>``, ``part-00001...`` under ``folder``.

    :param folder: where the parts go (the run's own prefix).
    :param format: ``jsonl`` or ``jsonl.gz``.
    :param part_records: the most records in one part.
    """

    def __init__(self, folder: Any, *, format: str = "jsonl", part_records: int = 100_000) -> None:
        self.folder = folder
        self.format = format
        self.part_records = part_records
        self.parts: list[PartInfo] = []
        self._handle: IO[bytes] | None = None
        self._sink: _HashingSink | None = None
        self._stream: Any = None
        self._in_part = 0

    def write(self, records: Iterable[Any]) -> int:
        """Append records; open a new part whenever the current one is full."""
        batch = records if isinstance(records, list) else list(records)
        done = 0
        while done < len(batch):
            if self._stream is None or self._in_part >= self.part_records:
                self._roll()
            room = self.part_records - self._in_part
            chunk = batch if done == 0 and len(batch) <= room else batch[done : done + room]
            # One join and one UTF-8 encode per page, not per record: the hot path of a sync.
            self._stream.write(("\n".join(map(_encode, chunk)) + "\n").encode("utf-8"))
            self._in_part += len(chunk)
            done += len(chunk)
        return done

    def close(self) -> list[PartInfo]:
        """Finish the last part and return every part's description."""
        self._finish_part()
        return self.parts

    def _roll(self) -> None:
        self._finish_part()
        name = f"part-{len(self.parts):05d}.{self.format}"
        self._handle = (self.folder / name).open("wb")
        self._sink = _HashingSink(self._handle)
        if self.format == "jsonl.gz":
            self._stream = gzip.GzipFile(filename="", mode="wb", fileobj=self._sink, mtime=0)
        else:
            self._stream = self._sink
        self._current_name = name
        self._in_part = 0

    def _finish_part(self) -> None:
        if self._stream is None or self._sink is None or self._handle is None:
            return
        if self._stream is not self._sink:
            self._stream.close()
        self._handle.close()
        self.parts.append(
            PartInfo(
                self._current_name, self._in_part, self._sink.size, self._sink.digest.hexdigest()
            )
        )
        self._stream = self._sink = self._handle = None
