"""Hold the sandbox configuration and its mutable state (clock, data, tokens, faults, stats)."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .data import Collection, generate
from .faults import Fault, FaultPlan
from .stats import Stats
from .timeutil import format_iso, parse_iso_us, to_epoch_s
from .tokens import DEFAULT_SCOPES, ClientConfig, TokenStore

GENERATED = ("patients", "appointments", "care-plans")
COLLECTIONS = (*GENERATED, "messages")
DEFAULT_CLIENT_ID = "hep-sandbox-client"
DEFAULT_CLIENT_SECRET = "hep-sandbox-secret"  # noqa: S105 - public sandbox default
DEFAULT_START = "2026-01-01T00:00:00Z"
DEFAULT_END = "2026-01-02T00:00:00Z"
_FAR = 1 << 40

FaultSpec = str | Fault | list[Fault | str] | None
TimeLike = datetime | str


@dataclass
class SandboxConfig:
    """Collect every sandbox option (see :class:`~.sandbox.HepSandbox`)."""

    records: int = 1000
    host: str = "127.0.0.1"
    port: int = 0
    latency_ms: float = 0
    single_use_tokens: bool = False
    token_ttl: int = 299
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    seed: int = 0
    faults: FaultSpec = None
    tls: bool = False
    page_size: int = 100
    start: TimeLike = DEFAULT_START
    end: TimeLike = DEFAULT_END
    scopes: tuple[str, ...] = DEFAULT_SCOPES

    def __post_init__(self) -> None:
        if self.records < 0 or self.page_size < 1 or self.token_ttl < 1:
            raise ValueError("records must be >= 0, page_size and token_ttl >= 1")
        if to_epoch_s(self.start) >= to_epoch_s(self.end):
            raise ValueError("start must be before end")
        if not self.client_id or len(self.client_secret) < 5:
            raise ValueError("client_id must be set and client_secret have >= 5 characters")
        self.scopes = tuple(self.scopes.split() if isinstance(self.scopes, str) else self.scopes)


def _bound(value: TimeLike | None, default: int) -> int:
    return default if value is None or value == "" else to_epoch_s(value)


class SandboxState:
    """Own the data and counters shared by every request thread."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.clock_offset = 0.0
        self.start_s, self.end_s = to_epoch_s(config.start), to_epoch_s(config.end)
        self._collections: dict[str, Collection] = {"messages": Collection("messages")}
        self.exports: dict[str, dict[str, Any]] = {}
        self.idempotency: dict[str, tuple[str, Any]] = {}
        self.stats = Stats()
        self.tokens = TokenStore(config.token_ttl, config.single_use_tokens, self.now)
        self.client = ClientConfig(config.client_id, config.client_secret, config.scopes)
        self.faults = FaultPlan(config.seed)
        self.faults.set(config.faults)
        self.modify_rng = random.Random(f"hep-sandbox-modify:{config.seed}")
        self.origin = ""
        self.base_url = ""

    def set_origin(self, scheme: str, host: str, port: int) -> None:
        """Record the public origin once the server is bound."""
        shown = "127.0.0.1" if host in ("", "0.0.0.0") else host  # noqa: S104
        self.origin = f"{scheme}://{shown}:{port}"
        self.base_url = f"{self.origin}/api/v1"

    def now(self) -> float:
        """Return the sandbox clock: real time plus the advanced offset."""
        return time.time() + self.clock_offset

    def advance_clock(self, seconds: float) -> float:
        """Move the sandbox clock forward (or back) and return the new offset."""
        with self.lock:
            self.clock_offset += float(seconds)
            return self.clock_offset

    def collection(self, name: str) -> Collection | None:
        """Return a collection, generating it on first use; None if unknown."""
        coll = self._collections.get(name)
        if coll is None and name in GENERATED:
            with self.lock:
                coll = self._collections.get(name)
                if coll is None:
                    cfg = self.config
                    coll = generate(name, cfg.records, cfg.seed, self.start_s, self.end_s)
                    self._collections[name] = coll
        return coll

    def _require(self, name: str) -> Collection:
        coll = self.collection(name)
        if coll is None:
            raise KeyError(f"unknown collection {name!r}; known: {', '.join(COLLECTIONS)}")
        return coll

    def truth(
        self,
        name: str,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        field: str = "lastModified",
    ) -> dict[str, list[str]]:
        """Return the ids in ``[start, end)`` now, originally, unmodified and modified."""
        coll = self._require(name)
        lo, hi = _bound(start, -_FAR), _bound(end, _FAR)
        with self.lock:
            if field == "lastModified":
                return coll.truth(lo, hi)
            if field not in coll.fields:
                raise KeyError(f"unknown field {field!r} for {name}")
            ids = [coll.id_of(i) for i in coll.live() if _in_range(coll.record(i), field, lo, hi)]
            modified = [coll.id_of(i) for i in sorted(coll.original)]
        unmodified = sorted(set(ids) - set(modified))
        return {"current": ids, "original": ids, "unmodified": unmodified, "modified": modified}

    def records(self, name: str) -> list[dict[str, Any]]:
        """Return copies of a collection's current records in id order."""
        coll = self._require(name)
        with self.lock:
            return [coll.record(i) for i in coll.live()]

    def now_iso(self) -> str:
        """Return the sandbox clock as an ISO string."""
        return format_iso(int(self.now()))


def _in_range(record: dict[str, Any], field: str, lo: int, hi: int) -> bool:
    value = record.get(field)
    if not isinstance(value, str):
        return False
    try:
        return lo <= parse_iso_us(value) // 1_000_000 < hi
    except ValueError:
        return False
