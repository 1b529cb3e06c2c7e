"""Evaluate a declarative response check: a JSON path and the values it may hold (sans-IO).

A callable ``response_check`` cannot travel to the triggerer, because a trigger's arguments are
stored as JSON. A deferrable :class:`~airflow_provider_hep.sensors.hep.HepSensor` therefore
takes this plain-data form instead, and the trigger evaluates it::

    {"path": "status", "equals": "done"}
    {"path": "status", "in": ["done", "partial"], "fail_on": ["failed", "cancelled"]}

``path`` walks dicts by key and lists by index: ``status``, ``job.state``, ``items[0].status``
or ``items.0.status``; a leading ``$.`` is allowed. Nothing here imports Airflow.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from airflow_provider_hep.exceptions import HepConfigError

CHECK_KEYS = ("path", "equals", "in", "fail_on")
_INDEX = re.compile(r"\[(\d+)\]")
_MISSING = object()


class Verdict(Enum):
    """Say what a checked response means for the task."""

    PASSED = "passed"  # the value is one of the accepted values
    PENDING = "pending"  # not there yet: a sensor pokes again, an operator fails
    FAILED = "failed"  # the value is one of the ``fail_on`` values: waiting cannot help


@dataclass(frozen=True)
class CheckResult:
    """Hold a check's verdict and the value found at the path (None when absent).

    :param verdict: passed, pending or failed.
    :param value: the value found at the path, or None.
    :param found: whether the path exists in the body.
    """

    verdict: Verdict
    value: Any = None
    found: bool = False


@dataclass(frozen=True)
class JsonCheck:
    """Check that the JSON value at ``path`` is one of ``accepted``.

    :param path: where the value lives, e.g. ``status`` or ``items[0].status``.
    :param accepted: the values that pass the check (JSON scalars or structures).
    :param failing: values that fail the check at once instead of waiting for a change.
    """

    path: str
    accepted: tuple[Any, ...]
    failing: tuple[Any, ...] = ()

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | JsonCheck) -> JsonCheck:
        """Validate a check spec such as ``{"path": "status", "equals": "done"}``."""
        if isinstance(spec, JsonCheck):
            return spec
        if not isinstance(spec, Mapping):
            raise HepConfigError(
                "check", 'must be a dict like {"path": "status", "equals": "done"}'
            )
        unknown = sorted(set(spec) - set(CHECK_KEYS))
        if unknown:
            raise HepConfigError(
                "check",
                f"unknown key(s) {', '.join(unknown)}; allowed keys are: {', '.join(CHECK_KEYS)}",
            )
        path = spec.get("path")
        if not isinstance(path, str):
            raise HepConfigError("check", 'needs a "path" string, e.g. "status" or "job.state"')
        parse_path(path)
        if ("equals" in spec) == ("in" in spec):
            raise HepConfigError("check", 'give exactly one of "equals" (a value) or "in" (a list)')
        accepted = (spec["equals"],) if "equals" in spec else _as_values("in", spec["in"])
        failing = _as_values("fail_on", spec.get("fail_on", []))
        return cls(path=path, accepted=accepted, failing=failing)

    def to_spec(self) -> dict[str, Any]:
        """Return the canonical, JSON-serializable spec (what a trigger carries)."""
        spec: dict[str, Any] = {"path": self.path, "in": list(self.accepted)}
        if self.failing:
            spec["fail_on"] = list(self.failing)
        return spec

    def evaluate(self, body: Any) -> CheckResult:
        """Look up the path in a decoded JSON body and give the verdict."""
        value = lookup(body, parse_path(self.path))
        if value is _MISSING:
            return CheckResult(Verdict.PENDING)
        if any(same_json(value, v) for v in self.failing):
            return CheckResult(Verdict.FAILED, value, True)
        if any(same_json(value, v) for v in self.accepted):
            return CheckResult(Verdict.PASSED, value, True)
        return CheckResult(Verdict.PENDING, value, True)

    def describe(self) -> str:
        """Say what the check expects, for log lines and error messages."""
        wanted = repr(self.accepted[0]) if len(self.accepted) == 1 else repr(list(self.accepted))
        verb = "==" if len(self.accepted) == 1 else "in"
        return f"{self.path} {verb} {wanted}"


def decode_body(content: bytes) -> Any:
    """Return the decoded JSON body, the text when it is not JSON, or None when empty."""
    if not content:
        return None
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return content.decode("utf-8", "replace")


def parse_path(path: str) -> tuple[str | int, ...]:
    """Split ``a.b[0].c`` (or ``a.b.0.c``, or ``$.a``) into keys and list indices."""
    text = path.strip()
    text = text[1:] if text.startswith("$") else text
    text = text[1:] if text.startswith(".") else text
    if not text:
        return ()
    steps: list[str | int] = []
    for part in text.split("."):
        name, _, rest = part.partition("[")
        rest = f"[{rest}" if rest else ""
        if not name and not rest:
            raise HepConfigError("check", f"path {path!r} has an empty step; use e.g. 'job.state'")
        if name:
            steps.append(int(name) if name.isdigit() else name)
        indices = _INDEX.findall(rest)
        if "".join(f"[{i}]" for i in indices) != rest:
            raise HepConfigError("check", f"path {path!r} has a malformed index; use e.g. items[0]")
        steps.extend(int(i) for i in indices)
    return tuple(steps)


def lookup(body: Any, steps: tuple[str | int, ...]) -> Any:
    """Return the value at ``steps`` in ``body``, or the module's missing marker."""
    value = body
    for step in steps:
        if isinstance(value, Mapping):
            key = str(step)
            if key not in value:
                return _MISSING
            value = value[key]
        elif isinstance(value, list) and isinstance(step, int) and step < len(value):
            value = value[step]
        else:
            return _MISSING
    return value


def same_json(left: Any, right: Any) -> bool:
    """Compare two JSON values; unlike Python, ``true`` never equals ``1``."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    return bool(left == right)


def _as_values(key: str, values: Any) -> tuple[Any, ...]:
    if isinstance(values, str | bytes) or not isinstance(values, list | tuple | set | frozenset):
        raise HepConfigError("check", f'"{key}" must be a list of values, got {values!r}')
    if key == "in" and not values:
        raise HepConfigError("check", '"in" must list at least one accepted value')
    return tuple(values)
