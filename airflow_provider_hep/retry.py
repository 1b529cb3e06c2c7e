"""Decide what to retry and how long to wait, for both hooks (sans-IO).

:func:`is_retryable` is the one predicate that decides every retry; the sync and async hooks
only classify what happened into an :class:`Attempt` and ask it.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import Enum

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
DEFAULT_MAX_RETRIES = 5
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 30.0
RETRY_AFTER_CAP_SECONDS = 120.0


class Failure(Enum):
    """Classify a transport failure by whether the server can have processed the request."""

    CONNECT = "connect"  # never reached the server (refused, DNS, TLS handshake, connect timeout)
    READ_TIMEOUT = "read_timeout"  # sent, no answer in time: the server may have processed it
    BROKEN = "broken"  # sent, connection reset or body cut: the server may have processed it


class Target(Enum):
    """Say which endpoint an attempt went to."""

    API = "api"
    TOKEN = "token"  # noqa: S105 - an endpoint name, not a credential


@dataclass(frozen=True)
class Attempt:
    """Describe one finished attempt: an HTTP status, or a transport failure.

    :param target: the API or the token endpoint.
    :param method: the HTTP method.
    :param status: the HTTP status, when an answer arrived.
    :param failure: the transport failure, when no answer arrived.
    :param retry_after: the parsed ``Retry-After`` delay in seconds, if any.
    :param idempotency_key: whether the request carried an idempotency key header.
    """

    target: Target
    method: str
    status: int | None = None
    failure: Failure | None = None
    retry_after: float | None = None
    idempotency_key: bool = False


def is_retryable(attempt: Attempt) -> bool:
    """Decide whether retrying ``attempt`` is safe and useful.

    - Token endpoint: only 5xx, connection errors and timeouts (RFC 6749 errors are final).
    - API, idempotent methods (and requests carrying an idempotency key): transport failures,
      429, 502, 503, 504 and 500.
    - API, non-idempotent methods (POST, PATCH): only when the request was surely not
      processed: a connection failure before sending, a 429, or a 503 with ``Retry-After``.
    - Never 400, 401 (re-authentication is handled separately, once), 403 or 404.
    """
    if attempt.target is Target.TOKEN:
        return attempt.failure is not None or (attempt.status or 0) >= 500
    safe = attempt.method.upper() in IDEMPOTENT_METHODS or attempt.idempotency_key
    if attempt.failure is not None:
        return safe or attempt.failure is Failure.CONNECT
    status = attempt.status or 0
    if safe:
        return status in RETRYABLE_STATUSES or status == 500
    return status == 429 or (status == 503 and attempt.retry_after is not None)


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Parse ``Retry-After`` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.

    :param now: the current wall-clock time (epoch seconds), for HTTP dates.
    """
    if not value:
        return None
    value = value.strip()
    # ASCII digits only: str.isdigit() also accepts superscripts and other scripts' digits.
    if re.fullmatch(r"\d+", value, re.ASCII):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now)


def backoff_delay(retry_number: int, retry_after: float | None = None) -> float:
    """Return the wait before retry ``retry_number`` (1-based).

    Exponential backoff with full jitter, or the server's ``Retry-After`` when it gave one,
    capped at two minutes so a hostile header cannot stall a task for hours.
    """
    if retry_after is not None:
        return min(retry_after, RETRY_AFTER_CAP_SECONDS)
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (retry_number - 1))
    return random.uniform(ceiling / 2, ceiling)
