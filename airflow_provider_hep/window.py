"""Build OData time-window filters and convert OData v2 dates, without any I/O.

Every datetime that reaches a filter goes through :func:`format_odata_datetime`, which writes the
OData v4 ``DateTimeOffset`` literal form (OData v4 ABNF ``dateTimeOffsetValue``) in UTC with a
``Z``. Windows are half-open, ``[start, end)``, so consecutive windows never see a record twice.

:func:`convert_odata_v2_dates` is the one documented place where OData v2 ``/Date(ms)/`` values
are parsed; it is opt-in and per record, so nothing else pays for it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from airflow_provider_hep.exceptions import HepConfigError, HepPaginationError

__all__ = [
    "combine_filters",
    "convert_odata_v2_dates",
    "format_odata_datetime",
    "odata_v2_date_to_iso",
    "split_window",
    "window_filter",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROS_PER_SECOND = 1_000_000
# An OData property path (OData v4 ABNF odataIdentifier, joined by "/"): no spaces, no quotes.
PROPERTY_PATH = re.compile(r"[^\W\d]\w*(?:/[^\W\d]\w*)*")
# OData v2 JSON dates (OData v2 JSON format, DateTime): /Date(<ms since epoch, UTC>[+-hhmm])/.
_V2_DATE = re.compile(r"/Date\((-?\d{1,18})(?:[+-]\d{4})?\)/", re.ASCII)


def _to_utc(value: datetime | str) -> datetime:
    """Turn an aware datetime or an ISO 8601 string into an aware UTC datetime."""
    if isinstance(value, str):
        text = value.strip()
        # A raw "{{ data_interval_start }}" renders as "2026-01-01 00:00:00+00:00".
        if len(text) > 10 and text[10] == " ":
            text = f"{text[:10]}T{text[11:]}"
        if text[-1:] in ("Z", "z"):
            text = f"{text[:-1]}+00:00"  # Python 3.10's fromisoformat() rejects "Z"
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise HepConfigError(
                "window", f"{text[:40]!r} is not an ISO 8601 datetime such as 2026-01-01T00:00:00Z"
            ) from None
    elif not isinstance(value, datetime):
        raise HepConfigError(
            "window", f"expected a datetime or an ISO 8601 string, got {type(value).__name__}"
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise HepConfigError(
            "window",
            "naive datetime: pass a timezone-aware datetime (e.g. data_interval_start, or "
            "datetime(..., tzinfo=timezone.utc)) or a string with an offset or 'Z'",
        )
    try:
        utc = value.astimezone(UTC)
        # Plain datetime, not a subclass: pendulum's DateTime (Airflow's data_interval_start)
        # changes what subtraction returns.
        return datetime(
            utc.year,
            utc.month,
            utc.day,
            utc.hour,
            utc.minute,
            utc.second,
            utc.microsecond,
            tzinfo=UTC,
        )
    except (OverflowError, ValueError):
        raise HepConfigError("window", "datetime is out of range once converted to UTC") from None


def format_odata_datetime(dt: datetime | str) -> str:
    """Write ``dt`` as an OData DateTimeOffset literal in UTC, e.g. ``2026-01-01T00:00:00Z``.

    Accepts an aware datetime or an ISO 8601 string (``Z`` allowed). A string with a space
    instead of ``T`` is accepted too: it is what a raw ``{{ data_interval_start }}`` renders.
    Microseconds are written only when non-zero. A naive datetime raises ``HepConfigError``.
    """
    utc = _to_utc(dt).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds" if utc.microsecond else "seconds") + "Z"


def window_filter(field: str, start: datetime | str, end: datetime | str) -> str:
    """Build the half-open OData filter ``field ge start and field lt end``."""
    if not isinstance(field, str) or not PROPERTY_PATH.fullmatch(field):
        raise HepConfigError("field", f"{field!r} is not an OData property name or path")
    if _to_utc(start) >= _to_utc(end):
        raise HepConfigError(
            "window",
            f"start {format_odata_datetime(start)} must be before end {format_odata_datetime(end)}",
        )
    return f"{field} ge {format_odata_datetime(start)} and {field} lt {format_odata_datetime(end)}"


def combine_filters(user_filter: str | None, extra: str) -> str:
    """Join the caller's ``$filter`` and ``extra`` as ``(user) and (extra)``, or give ``extra``."""
    if not isinstance(extra, str) or not extra.strip():
        raise HepConfigError("filter", "the filter to add is empty")
    if user_filter is None or not user_filter.strip():
        return extra
    return f"({user_filter}) and ({extra})"


def _micros(dt: datetime) -> int:
    """Count the microseconds from the Unix epoch to the aware ``dt``, exactly."""
    return (dt - _EPOCH) // timedelta(microseconds=1)


def split_window(
    start: datetime | str, end: datetime | str, slices: int
) -> list[tuple[datetime, datetime]]:
    """Split ``[start, end)`` into at most ``slices`` contiguous, non-empty half-open slices.

    The slices cover exactly ``[start, end)``; inner boundaries fall on whole seconds, because
    OData literals (and the sandbox) compare at second precision. A window shorter than
    ``slices`` seconds yields fewer slices rather than empty ones. All values are in UTC.
    """
    if isinstance(slices, bool) or not isinstance(slices, int) or slices < 1:
        raise HepConfigError("slices", "must be an integer >= 1")
    low, high = _to_utc(start), _to_utc(end)
    if low >= high:
        raise HepConfigError(
            "window",
            f"start {format_odata_datetime(low)} must be before end {format_odata_datetime(high)}",
        )
    first, last = _micros(low), _micros(high)
    bounds = [low]
    previous = first
    for index in range(1, slices):
        ideal = first + (last - first) * index // slices
        second = (ideal + _MICROS_PER_SECOND // 2) // _MICROS_PER_SECOND * _MICROS_PER_SECOND
        if previous < second < last:
            bounds.append(_EPOCH + timedelta(microseconds=second))
            previous = second
    bounds.append(high)
    return list(pairwise(bounds))


def odata_v2_date_to_iso(value: str) -> str:
    """Convert an OData v2 ``/Date(1767225600000)/`` value to ``2026-01-01T00:00:00Z``.

    The milliseconds are UTC; an offset suffix (``+0000``) is informational and ignored.
    Milliseconds are kept when non-zero. Anything else raises ``HepPaginationError``.
    """
    match = _V2_DATE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise HepPaginationError("value is not an OData v2 date literal /Date(<milliseconds>)/")
    try:
        moment = (_EPOCH + timedelta(milliseconds=int(match.group(1)))).replace(tzinfo=None)
    except OverflowError:
        raise HepPaginationError("OData v2 date literal is out of range") from None
    return moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds") + "Z"


def convert_odata_v2_dates(
    record: dict[str, Any], fields: Iterable[str] | None = None
) -> dict[str, Any]:
    """Return a copy of ``record`` with its top-level OData v2 dates as ISO 8601 strings.

    With ``fields=None`` every string value that is a ``/Date(...)/`` literal is converted and
    other strings are left alone. With explicit ``fields``, each listed field that is present
    and not null must be such a literal, else ``HepPaginationError`` names the field.
    """
    if not isinstance(record, dict):
        raise HepPaginationError(f"expected a record object, got {type(record).__name__}")
    converted = dict(record)
    if fields is None:
        for key, value in record.items():
            if isinstance(value, str) and _V2_DATE.fullmatch(value):
                converted[key] = odata_v2_date_to_iso(value)
        return converted
    for key in fields:
        value = record.get(key)
        if value is None:
            continue
        try:
            converted[key] = odata_v2_date_to_iso(value)
        except HepPaginationError as exc:
            raise HepPaginationError(f"field {key!r}: {exc}") from None
    return converted
