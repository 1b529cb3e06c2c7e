"""Hold the sandbox's synthetic collections and their sorted indexes.

The records are SYNTHETIC and deterministic for a given seed. Their fields are invented to look
plausible (``firstName``, ``mrn``, ``patientId``, ...); they are NOT the schema of SAP Health for
Patient Engagement, and every value is plainly fake (``Testperson-4821``, ``FAKE-MRN-...``,
``...@example.invalid``) so that tests can grep logs for leaked record data.

Each record lives at an integer index ``idx``; its id is ``<PREFIX>-<idx+1 zero-padded>`` so ids
sort as strings in index order. Records are kept as pre-serialized compact JSON bytes and
re-serialized only when modified. ``keys`` is the list of ``lastModified * KEY_SPAN + idx``
sorted ascending, i.e. the ``(lastModified, id)`` order, searched with :mod:`bisect`.
Callers must hold the sandbox lock around every method.
"""

from __future__ import annotations

import json
import random
from array import array
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterator
from datetime import date

from .odata_filter import CompiledFilter, Record
from .timeutil import format_iso

KEY_SPAN = 1 << 32
KEY_MASK = KEY_SPAN - 1
SPECS = {
    "patients": ("PAT", "Patient"),
    "appointments": ("APT", "Appointment"),
    "care-plans": ("CPL", "CarePlan"),
    "messages": ("MSG", "Communication"),
}
_FIRST = ("Zorvath", "Quillon", "Mirabeth", "Tavisk", "Elowyn", "Brannoc", "Sylvaine", "Dorrik")
_APT_STATUS = ("booked", "arrived", "fulfilled", "cancelled", "noshow")
_CPL_STATUS = ("draft", "active", "completed", "revoked")
_FIELDS = {
    "patients": ("firstName", "lastName", "birthDate", "mrn", "email"),
    "appointments": ("patientId", "start", "status"),
    "care-plans": ("patientId", "title", "status"),
    "messages": ("patientId", "text"),
}
_BIRTH_BASE = date(1930, 1, 1).toordinal()


def _iso_fast() -> Callable[[int], str]:
    """Return a memoizing-by-day epoch-seconds formatter (generation hot path)."""
    days: dict[int, str] = {}

    def fmt(epoch_s: int) -> str:
        day, rem = divmod(epoch_s, 86400)
        prefix = days.get(day)
        if prefix is None:
            prefix = days[day] = format_iso(day * 86400)[:11]
        hours, rem = divmod(rem, 3600)
        return f"{prefix}{hours:02d}:{rem // 60:02d}:{rem % 60:02d}Z"

    return fmt


_fast_iso = _iso_fast()


def _patient(rng: random.Random, i: int, head: str, n: int) -> str:
    first = _FIRST[int(rng.random() * 8)]
    last = f"Testperson-{1000 + int(rng.random() * 9000)}"
    birth = date.fromordinal(_BIRTH_BASE + int(rng.random() * 32000)).isoformat()
    email = f"{first.lower()}.{last.lower()}.{i + 1}@example.invalid"
    return (
        f'{head},"firstName":"{first}","lastName":"{last}","birthDate":"{birth}",'
        f'"mrn":"FAKE-MRN-{i + 1:08d}","email":"{email}"}}'
    )


def _appointment(rng: random.Random, i: int, head: str, n: int) -> str:
    patient = f"PAT-{1 + int(rng.random() * n):07d}"
    start = _fast_iso(1767225600 + 900 * int(rng.random() * 2880))
    status = _APT_STATUS[int(rng.random() * 5)]
    return f'{head},"patientId":"{patient}","start":"{start}","status":"{status}"}}'


def _care_plan(rng: random.Random, i: int, head: str, n: int) -> str:
    patient = f"PAT-{1 + int(rng.random() * n):07d}"
    status = _CPL_STATUS[int(rng.random() * 4)]
    title = f"Synthetic care plan {1 + int(rng.random() * 500)}"
    return f'{head},"patientId":"{patient}","title":"{title}","status":"{status}"}}'


_GENERATORS: dict[str, Callable[[random.Random, int, str, int], str]] = {
    "patients": _patient,
    "appointments": _appointment,
    "care-plans": _care_plan,
}


def dumps(record: Record) -> bytes:
    """Serialize a record as compact JSON bytes."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()


class Collection:
    """Store one collection's records, ``lastModified`` values and sorted key index."""

    def __init__(self, name: str, width: int = 7) -> None:
        self.name = name
        self.prefix, self.resource_type = SPECS[name]
        self.width = width
        self.fields = frozenset(("id", "lastModified", *_FIELDS[name]))
        self.blobs: list[bytes | None] = []
        self.lm = array("q")
        self.keys: list[int] = []
        self.original: dict[int, int] = {}

    def id_of(self, idx: int) -> str:
        """Return the string id of index ``idx``."""
        return f"{self.prefix}-{idx + 1:0{self.width}d}"

    def idx_of(self, rid: str) -> int | None:
        """Return the index for an id, or None if it is not a live record of this collection."""
        head, _, digits = rid.rpartition("-")
        if head != self.prefix or not digits.isdigit() or len(digits) != self.width:
            return None
        idx = int(digits) - 1
        return idx if 0 <= idx < len(self.blobs) and self.blobs[idx] is not None else None

    def record(self, idx: int) -> Record:
        """Return a fresh dict of the record at ``idx``."""
        blob = self.blobs[idx]
        assert blob is not None
        record: Record = json.loads(blob)
        return record

    def live(self) -> Iterator[int]:
        """Yield the indexes of records that are not deleted, in id order."""
        return (i for i, blob in enumerate(self.blobs) if blob is not None)

    def append(self, record: Record, lm: int) -> int:
        """Add a record (its ``id`` and ``lastModified`` are set here); return its index."""
        idx = len(self.blobs)
        record = {"id": self.id_of(idx), "lastModified": format_iso(lm), **record}
        self.blobs.append(dumps(record))
        self.lm.append(lm)
        insort(self.keys, lm * KEY_SPAN + idx)
        return idx

    def replace(self, idx: int, record: Record, lm: int) -> None:
        """Store a new version of a record with ``lastModified`` = ``lm``, fixing the index."""
        old = self.lm[idx] * KEY_SPAN + idx
        del self.keys[bisect_left(self.keys, old)]
        record["lastModified"] = format_iso(lm)
        self.blobs[idx] = dumps(record)
        self.lm[idx] = lm
        insort(self.keys, lm * KEY_SPAN + idx)

    def touch(self, idx: int, lm: int) -> None:
        """Set a record's ``lastModified`` (a concurrent modification) and remember the original."""
        self.original.setdefault(idx, self.lm[idx])
        self.replace(idx, self.record(idx), lm)

    def delete(self, idx: int) -> None:
        """Remove a record; its id is never reused."""
        del self.keys[bisect_left(self.keys, self.lm[idx] * KEY_SPAN + idx)]
        self.blobs[idx] = None

    def lm_range(self, flt: CompiledFilter) -> tuple[int, int]:
        """Return the ``keys`` positions ``[lo, hi)`` that can match ``flt``."""
        lo = 0 if flt.lo is None else bisect_left(self.keys, flt.lo * KEY_SPAN)
        hi = len(self.keys) if flt.hi is None else bisect_left(self.keys, flt.hi * KEY_SPAN)
        return lo, max(lo, hi)

    def after(self, key: int) -> int:
        """Return the position of the first key greater than ``key``."""
        return bisect_right(self.keys, key)

    def matches(self, flt: CompiledFilter, idx: int) -> bool:
        """Evaluate the full filter on the record at ``idx``."""
        return flt.matches(self.lm[idx], self.id_of(idx), lambda: self.record(idx))

    def count(self, flt: CompiledFilter) -> int:
        """Count the records matching ``flt`` (O(candidate range))."""
        lo, hi = self.lm_range(flt)
        if flt.exact:
            return hi - lo
        return sum(1 for key in self.keys[lo:hi] if self.matches(flt, key & KEY_MASK))

    def truth(self, lo: int, hi: int) -> dict[str, list[str]]:
        """Split ids by whether their current / original ``lastModified`` is in ``[lo, hi)``."""
        start = bisect_left(self.keys, lo * KEY_SPAN)
        stop = bisect_left(self.keys, hi * KEY_SPAN)
        current = {key & KEY_MASK for key in self.keys[start:stop]}
        modified = {i for i in self.original if self.blobs[i] is not None}
        original = (current - modified) | {i for i in modified if lo <= self.original[i] < hi}
        return {
            "current": [self.id_of(i) for i in sorted(current)],
            "original": [self.id_of(i) for i in sorted(original)],
            "unmodified": [self.id_of(i) for i in sorted(original - modified)],
            "modified": [self.id_of(i) for i in sorted(modified)],
        }


def generate(name: str, n: int, seed: int, start: int, end: int) -> Collection:
    """Build a deterministic synthetic collection of ``n`` records over ``[start, end)``.

    About one record in ten reuses the previous record's ``lastModified`` so that ties occur.
    """
    coll = Collection(name, width=max(7, len(str(n))))
    rng = random.Random(f"hep-sandbox:{seed}:{name}")
    make, fmt, span = _GENERATORS[name], _iso_fast(), max(1, end - start)
    blobs, lms, prefix, width = coll.blobs, coll.lm, coll.prefix, coll.width
    lm = start
    for i in range(n):
        if i == 0 or rng.random() >= 0.1:
            lm = start + int(rng.random() * span)
        head = f'{{"id":"{prefix}-{i + 1:0{width}d}","lastModified":"{fmt(lm)}"'
        blobs.append(make(rng, i, head, n).encode())
        lms.append(lm)
    coll.keys = sorted(lm * KEY_SPAN + i for i, lm in enumerate(lms))
    return coll
