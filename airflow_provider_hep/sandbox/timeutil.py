"""Convert between ISO-8601 strings, datetimes and integer epoch times (UTC)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import formatdate

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ISO_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$"
)


def parse_iso_us(text: str) -> int:
    """Parse a strict ISO-8601 datetime with offset into epoch microseconds.

    Accepts ``2026-01-01T00:00:00Z``, fractional seconds and ``+hh:mm`` offsets. Raises
    ``ValueError`` for anything else (a space instead of ``T``, a missing offset, ...).
    """
    match = _ISO_RE.match(text)
    if match is None:
        raise ValueError(f"not an ISO-8601 datetime with offset: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    frac, offset = match.group(7), match.group(8)
    tz = UTC
    if offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        if hours > 23 or minutes > 59:
            raise ValueError(f"bad UTC offset in {text!r}")
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        value = datetime(year, month, day, hour, minute, second, tzinfo=tz)
    except ValueError as exc:
        raise ValueError(f"invalid datetime {text!r}: {exc}") from None
    micros = int((frac or "0").ljust(9, "0")[:6])
    delta = value - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + micros


def to_epoch_s(value: datetime | str | int | float) -> int:
    """Return whole epoch seconds (floor) for a datetime, ISO string or number."""
    if isinstance(value, (int, float)):
        return int(value // 1)
    if isinstance(value, str):
        return parse_iso_us(value) // 1_000_000
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    return delta.days * 86400 + delta.seconds


def format_iso(epoch_s: int) -> str:
    """Format epoch seconds as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def http_date(epoch_s: float) -> str:
    """Format epoch seconds as an RFC 9110 HTTP-date."""
    return formatdate(epoch_s, usegmt=True)
