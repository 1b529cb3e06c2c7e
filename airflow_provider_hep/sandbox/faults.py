"""Parse fault-injection specs and decide, per request, which faults fire.

Spec grammar: faults separated by ``,``; each is ``NAME[:key=value]...``, for example
``429:every=3:retry_after=1,500:p=0.2,reset:every=5,modify:every=2:count=3``. A ``:`` piece
without ``=`` continues the previous value, so ``host=evil.example.invalid:8443`` works.

Schedule keys (all optional, combined with AND; none means "every eligible request"):
``every=N`` (every Nth), ``p=0.x`` (seeded coin), ``first=K``, ``at=N``, ``after=N`` (only past
the Nth), ``path=<substring of the request path>``, ``method=GET|POST|...``, ``max=M`` (cap).
Per-kind keys: status faults ``retry_after=N|date``; ``delay``: ``seconds`` (default 2);
``token_fail``: ``status`` (default 503), ``retry_after``; ``foreign_next``: ``host`` (default
``evil.example.invalid:<port>``); ``modify``: ``count`` (default 1).

Kinds: ``429``/``500``/``502``/``503``/``504`` answer that status with a JSON error body;
``revoke`` revokes every outstanding token. Both act BEFORE the bearer check, so they do not
consume single-use tokens. ``delay``, ``reset`` (headers plus half the body, then a TCP RST) and
``malformed`` (200 with broken JSON) act on successful answers after the handler ran, so a
delayed write has been applied. ``foreign_next`` moves next links (odata, odata_v2,
link_header, fhir) to another origin; ``modify`` touches records of the listed collection.
``token_fail`` answers token requests. Counters count the eligible requests that reach the
fault's stage.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field, fields

STATUS_KINDS = frozenset({"403", "404", "429", "500", "502", "503", "504"})
PRE_KINDS = STATUS_KINDS | {"revoke"}
POST_KINDS = frozenset({"delay", "reset", "malformed", "foreign_next", "modify"})
TOKEN_KINDS = frozenset({"token_fail"})
KINDS = PRE_KINDS | POST_KINDS | TOKEN_KINDS
_SCHEDULE = {"every", "p", "first", "at", "after", "path", "method", "max"}
_EXTRA = {
    **{kind: {"retry_after"} for kind in STATUS_KINDS},
    "delay": {"seconds"},
    "token_fail": {"status", "retry_after"},
    "foreign_next": {"host"},
    "modify": {"count"},
}
_INT_KEYS = {"every", "first", "at", "after", "max", "status", "count"}


@dataclass
class Fault:
    """Describe one fault and its schedule (see the module docstring for the keys)."""

    kind: str
    every: int | None = None
    p: float | None = None
    first: int | None = None
    at: int | None = None
    after: int | None = None
    path: str | None = None
    method: str | None = None
    max: int | None = None
    retry_after: str | None = None
    seconds: float | None = None
    status: int | None = None
    host: str | None = None
    count: int | None = None

    def __post_init__(self) -> None:
        self.kind = str(self.kind)
        if self.kind not in KINDS:
            raise ValueError(
                f"unknown fault {self.kind!r}; known faults: {', '.join(sorted(KINDS))}"
            )
        allowed = _SCHEDULE | _EXTRA.get(self.kind, set())
        for f in fields(self):
            if f.name != "kind" and getattr(self, f.name) is not None and f.name not in allowed:
                raise ValueError(
                    f"fault {self.kind!r} does not take option {f.name!r};"
                    f" allowed: {', '.join(sorted(allowed))}"
                )
        if self.every is not None and self.every < 1:
            raise ValueError(f"fault {self.kind!r}: every must be >= 1")
        if self.p is not None and not 0.0 <= self.p <= 1.0:
            raise ValueError(f"fault {self.kind!r}: p must be within [0, 1]")
        if self.retry_after is not None:
            self.retry_after = str(self.retry_after)
            if self.retry_after != "date" and not self.retry_after.isdigit():
                raise ValueError(f"fault {self.kind!r}: retry_after must be seconds or 'date'")
        if self.method is not None:
            self.method = self.method.upper()


def _coerce(kind: str, key: str, value: str) -> object:
    try:
        if key in _INT_KEYS:
            return int(value)
        if key in {"p", "seconds"}:
            return float(value)
    except ValueError:
        raise ValueError(f"fault {kind!r}: option {key}={value!r} is not a number") from None
    return value


def parse_fault(text: str) -> Fault:
    """Parse one ``NAME[:key=value]...`` item into a :class:`Fault`."""
    kind, *pieces = text.strip().split(":")
    options: dict[str, str] = {}
    last: str | None = None
    for piece in pieces:
        if "=" not in piece:
            if last is None:
                raise ValueError(f"fault {kind!r}: option {piece!r} is not key=value")
            options[last] += ":" + piece
            continue
        last, _, value = piece.partition("=")
        if last not in {f.name for f in fields(Fault)} or last == "kind":
            raise ValueError(f"fault {kind!r}: unknown option {last!r}")
        options[last] = value
    coerced = {key: _coerce(kind, key, value) for key, value in options.items()}
    return Fault(kind, **coerced)  # type: ignore[arg-type]


def parse_faults(spec: str | Fault | list[Fault | str] | None) -> list[Fault]:
    """Turn a spec string, a Fault or a list of Faults/strings into a list of Faults."""
    if spec is None:
        return []
    if isinstance(spec, Fault):
        return [spec]
    if isinstance(spec, str):
        return [parse_fault(item) for item in spec.split(",") if item.strip()]
    result: list[Fault] = []
    for item in spec:
        result.extend(parse_faults(item))
    return result


@dataclass
class _Armed:
    fault: Fault
    rng: random.Random
    seen: int = 0
    injected: int = 0

    def fires(self) -> bool:
        f = self.fault
        if f.max is not None and self.injected >= f.max:
            return False
        self.seen += 1
        n = self.seen
        checks = (
            f.every is None or n % f.every == 0,
            f.first is None or n <= f.first,
            f.at is None or n == f.at,
            f.after is None or n > f.after,
        )
        if not all(checks):
            return False
        return f.p is None or self.rng.random() < f.p


@dataclass
class FaultPlan:
    """Hold the armed faults and their counters; thread-safe."""

    seed: int = 0
    armed: list[_Armed] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set(self, spec: str | Fault | list[Fault | str] | None) -> None:
        """Replace the faults (counters restart)."""
        faults = parse_faults(spec)
        with self.lock:
            self.armed = [
                _Armed(f, random.Random(f"hep-sandbox-fault:{self.seed}:{i}"))
                for i, f in enumerate(faults)
            ]

    def describe(self) -> list[str]:
        """Return the armed faults' kinds."""
        with self.lock:
            return [a.fault.kind for a in self.armed]

    def decide(self, kinds: frozenset[str], method: str, path: str) -> list[Fault]:
        """Advance the counters of the eligible faults among ``kinds``; return those firing."""
        firing: list[Fault] = []
        if not self.armed:
            return firing
        with self.lock:
            for armed in self.armed:
                f = armed.fault
                if f.kind not in kinds:
                    continue
                if (f.path is not None and f.path not in path) or (
                    f.method is not None and f.method != method
                ):
                    continue
                if armed.fires():
                    armed.injected += 1
                    firing.append(f)
        return firing
