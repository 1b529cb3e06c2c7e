"""The control flow of one HTTP exchange, shared by the sync and async hooks (sans-IO).

A hook sends a request, then tells the :class:`Exchange` what came back: no answer (a transport
:class:`~airflow_provider_hep.retry.Failure`) or an HTTP status. The exchange says what to do
next, as a :class:`Step`: return the answer, wait :attr:`Exchange.delay` and resend, resend
with a new token, resend to the redirect's target, or fail. Only the I/O differs between the
hooks (requests and ``time.sleep``, or httpx and ``asyncio.sleep``); every decision is here,
in :mod:`~airflow_provider_hep.retry` and in :mod:`~airflow_provider_hep.routing`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_hep.retry import (
    Attempt,
    Failure,
    Target,
    backoff_delay,
    is_retryable,
    parse_retry_after,
)
from airflow_provider_hep.routing import REDIRECT_STATUSES, redirect_target


class Step(Enum):
    """Say what a hook does after an attempt."""

    DONE = "done"  # return the answer
    RETRY = "retry"  # wait Exchange.delay seconds, then send again (with a new token)
    REAUTHENTICATE = "reauthenticate"  # drop any reusable token, then send again at once
    REDIRECT = "redirect"  # send again to Exchange.url (method and body may have changed)
    FAIL = "fail"  # raise: the hook knows the error type, the exchange gives the message


@dataclass
class Exchange:
    """Track one request through its retries, its 401 replay and its redirects.

    :param target: the API or the token endpoint.
    :param method: the HTTP method; a 303 redirect turns it into GET.
    :param url: where the next attempt goes; a redirect changes it.
    :param max_retries: how many retries the exchange may use.
    :param params: the URL query; dropped after a redirect (the Location carries its own).
    :param json: the JSON body; dropped after a 303.
    :param data: the form or raw body; dropped after a 303.
    :param idempotency_key: whether the request carries an idempotency key header.
    :param raise_for_status: when False, a 4xx/5xx answer is returned, never retried.
    """

    target: Target
    method: str
    url: str
    max_retries: int
    params: Mapping[str, Any] | None = None
    json: Any = None
    data: Any = None
    idempotency_key: bool = False
    raise_for_status: bool = True
    retries: int = 0  # retries used so far
    delay: float = 0.0  # the wait that the last Step.RETRY asked for
    reauthenticated: bool = False
    redirects: int = 0

    def __post_init__(self) -> None:
        self.method = self.method.upper()

    @property
    def attempts(self) -> int:
        """Return how many attempts were made, the current one included."""
        return self.retries + 1

    @property
    def path(self) -> str:
        """Return the URL path of the request, for messages (never the query: it may hold PHI)."""
        return urlsplit(self.url).path

    def after_no_answer(self, failure: Failure) -> Step:
        """Decide after a transport failure: retry it (Step.RETRY) or give up (Step.FAIL)."""
        return self._retry_or_fail(
            Attempt(self.target, self.method, failure=failure, idempotency_key=self.idempotency_key)
        )

    def after_answer(
        self, status: int, headers: Mapping[str, str] | None = None, *, now: float = 0.0
    ) -> Step:
        """Decide after an API answer with ``status`` and ``headers``.

        :param headers: the answer's headers (case-insensitive, as requests and httpx give
            them): ``Location`` and ``Retry-After`` are read.
        :param now: the wall-clock time (epoch seconds), for a ``Retry-After`` HTTP date.
        :raises HepApiError: for a redirect to another host, or too many redirects.
        """
        headers = headers or {}
        location = headers.get("Location")
        if status == 401 and not self.reauthenticated:
            # RFC 6750 §3.1 invalid_token: the token expired or was revoked; one new token.
            self.reauthenticated = True
            return Step.REAUTHENTICATE
        if status in REDIRECT_STATUSES and location:
            self.redirects += 1
            self.url = redirect_target(
                self.url, location, status=status, method=self.method, redirects=self.redirects
            )
            if status == 303:
                self.method, self.json, self.data = "GET", None, None
            self.params = None
            return Step.REDIRECT
        if status < 400 or not self.raise_for_status:
            return Step.DONE
        attempt = Attempt(
            self.target,
            self.method,
            status=status,
            retry_after=parse_retry_after(headers.get("Retry-After"), now=now),
            idempotency_key=self.idempotency_key,
        )
        return self._retry_or_fail(attempt)

    def after_token_error(
        self,
        status: int,
        headers: Mapping[str, str] | None = None,
        *,
        retryable: bool,
        now: float = 0.0,
    ) -> Step:
        """Decide after a token endpoint answer that did not parse as a token.

        :param retryable: False for an RFC 6749 error (``invalid_client`` ...): never retried.
        """
        if not retryable:
            return Step.FAIL
        retry_after = parse_retry_after((headers or {}).get("Retry-After"), now=now)
        return self._retry_or_fail(
            Attempt(Target.TOKEN, self.method, status=status, retry_after=retry_after)
        )

    def no_answer_message(self, reason: str) -> str:
        """Return the error message for a request that got no answer, without the query."""
        if self.target is Target.TOKEN:
            return f"token endpoint {self.url} unreachable: {reason}"
        return f"{self.method} {self.path} failed after {self.attempts} attempt(s): {reason}"

    @property
    def retry_note(self) -> str:
        """Return the log line for the retry that the last Step.RETRY asked for."""
        return (
            f"Retrying HEP request in {self.delay:.1f} s "
            f"(retry {self.retries} of {self.max_retries})."
        )

    def _retry_or_fail(self, attempt: Attempt) -> Step:
        if self.retries < self.max_retries and is_retryable(attempt):
            self.retries += 1
            self.delay = backoff_delay(self.retries, attempt.retry_after)
            return Step.RETRY
        return Step.FAIL


def tls_failure_message(url: str) -> str:
    """Return the error message for a certificate that failed verification, with the fix."""
    return (
        f"TLS verification failed for {urlsplit(url).hostname}: the server's certificate is not "
        "trusted. If it is signed by a private CA, set the connection's ca_bundle to that CA "
        "(a file path or the PEM text)."
    )
