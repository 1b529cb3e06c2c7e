"""Send HEP requests with requests: keep-alive sessions, fresh tokens, retries, redirects.

This is the synchronous I/O layer under :class:`~airflow_provider_hep.hooks.hep.HepHook`. Every
decision (token request and parsing, token reuse, what to retry, how long to wait) comes from
the sans-IO modules, which the async hook uses too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from airflow_provider_hep.auth import (
    Token,
    TokenPolicy,
    build_token_request,
    credentials_of,
    excerpt,
    parse_token_response,
)
from airflow_provider_hep.config import HepConnectionConfig, origin_of
from airflow_provider_hep.exceptions import (
    HepApiError,
    HepAuthError,
    HepTransportError,
)
from airflow_provider_hep.exchange import Exchange, Step, tls_failure_message
from airflow_provider_hep.ratelimit import RateLimiter
from airflow_provider_hep.retry import DEFAULT_MAX_RETRIES, Failure, Target
from airflow_provider_hep.routing import endpoint_url

log = logging.getLogger(__name__)
_sleep: Callable[[float], None] = time.sleep  # patched by tests; never the retry logic itself
_monotonic: Callable[[], float] = time.monotonic


def classify(exc: requests.RequestException) -> Failure:
    """Tell whether a requests failure happened before sending or after."""
    if isinstance(exc, requests.ConnectTimeout):
        return Failure.CONNECT
    if isinstance(exc, requests.Timeout):
        return Failure.READ_TIMEOUT
    if isinstance(exc, requests.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        name = type(reason).__name__ if reason is not None else ""
        if name in ("NewConnectionError", "NameResolutionError", "ConnectTimeoutError"):
            return Failure.CONNECT
    return Failure.BROKEN


class HepTransport:
    """Send API and token requests for one connection, one keep-alive session per thread.

    :param config: the validated connection config.
    :param max_retries: retries after the first attempt, for API and token requests.
    :param idempotency_key: name of a header that makes POST/PATCH safe to retry, if HEP
        supports one; when the caller sets it, those methods are retried like GET.
    :param pool_size: keep-alive connections per host, at least the concurrency used.
    """

    def __init__(
        self,
        config: HepConnectionConfig,
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        idempotency_key: str | None = None,
        pool_size: int = 10,
        max_requests_per_second: float | None = None,
    ) -> None:
        self.config = config
        self.limiter = RateLimiter(max_requests_per_second) if max_requests_per_second else None
        self.max_retries = max_retries
        self.idempotency_key = idempotency_key
        self.pool_size = pool_size
        self.policy = TokenPolicy(config.auth_policy)
        self.credentials = credentials_of(config)
        self.api_origin = origin_of(config.base_url)
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        self._ca_file: str | None = None
        self.retries = 0  # retries performed so far, for progress logs and manifests
        self.verify: bool | str = self._resolve_verify()

    # -- sessions -------------------------------------------------------------------------
    def session(self) -> requests.Session:
        """Return this thread's keep-alive session (requests.Session is not thread-safe)."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # no ~/.netrc credentials, no proxy surprises
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=self.pool_size, max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        """Close every session and remove the temporary CA file, if any."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self._local = threading.local()
        if self._ca_file:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._ca_file)
            self._ca_file = None

    def _resolve_verify(self) -> bool | str:
        cfg = self.config
        if not cfg.verify:
            log.warning(
                "TLS verification is OFF for the HEP connection to %s: development only.",
                self.api_origin,
            )
            return False
        if cfg.ca_bundle is None:
            return True
        if "-----BEGIN" not in cfg.ca_bundle:
            return cfg.ca_bundle
        # PEM text pasted into the connection: requests needs a file. A CA is public data.
        fd, path = tempfile.mkstemp(prefix="hep-ca-", suffix=".pem")
        with os.fdopen(fd, "w") as handle:
            handle.write(cfg.ca_bundle)
        self._ca_file = path
        return path

    # -- tokens ---------------------------------------------------------------------------
    def token(self) -> Token:
        """Return a token for the next API call: fresh under per_call, reused under per_task."""
        token = self.policy.reusable(_monotonic())
        if token is None:
            token = self.fetch_token()
            self.policy.store(token)
        return token

    def fetch_token(self, *, timeout: float | None = None, retries: int | None = None) -> Token:
        """Request a new token, retrying only 5xx answers and transport failures."""
        request = build_token_request(self.credentials)
        limit = self.max_retries if retries is None else retries
        exchange = Exchange(Target.TOKEN, "POST", request.url, limit)
        while True:
            self._throttle()
            try:
                resp = self.session().post(
                    request.url,
                    data=request.form,
                    headers=request.headers,
                    timeout=self._timeout(timeout),
                    verify=self.verify,
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                if exchange.after_no_answer(self._raise_if_tls(exc, request.url)) is Step.RETRY:
                    self._wait(exchange)
                    continue
                raise HepAuthError(exchange.no_answer_message(_describe(exc))) from None
            try:
                return parse_token_response(resp.status_code, resp.content, now=_monotonic())
            except HepAuthError as exc:
                step = exchange.after_token_error(
                    resp.status_code, resp.headers, retryable=exc.retryable, now=time.time()
                )
                if step is Step.RETRY:
                    self._wait(exchange)
                    continue
                raise

    # -- API requests ---------------------------------------------------------------------
    def url_for(self, endpoint: str) -> str:
        """Resolve an endpoint against the base URL; refuse absolute URLs of other hosts."""
        return endpoint_url(self.config.base_url, endpoint)

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        raise_for_status: bool = True,
    ) -> requests.Response:
        """Send one API request: a fresh token per attempt, retries, one 401 replay."""
        all_headers = {**self.config.headers, **(headers or {})}
        exchange = Exchange(
            Target.API,
            method,
            url,
            self.max_retries,
            params=params,
            json=json,
            data=data,
            idempotency_key=bool(self.idempotency_key and self.idempotency_key in all_headers),
            raise_for_status=raise_for_status,
        )
        while True:
            all_headers["Authorization"] = self.token().authorization
            self._throttle()
            try:
                resp = self.session().request(
                    exchange.method,
                    exchange.url,
                    params=exchange.params,
                    json=exchange.json,
                    data=exchange.data,
                    headers=all_headers,
                    timeout=self._timeout(None),
                    verify=self.verify,
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                failure = self._raise_if_tls(exc, exchange.url)
                if exchange.after_no_answer(failure) is Step.RETRY:
                    self._wait(exchange)
                    continue
                raise HepTransportError(
                    exchange.no_answer_message(_describe(exc)), failure
                ) from None
            step = exchange.after_answer(resp.status_code, resp.headers, now=time.time())
            if step is Step.DONE:
                return resp
            if step is Step.REAUTHENTICATE:
                self.policy.invalidate()
            elif step is Step.RETRY:
                self._wait(exchange)
            elif step is Step.FAIL:
                raise HepApiError(
                    resp.status_code, exchange.method, exchange.path, error_excerpt(resp)
                )

    def _throttle(self) -> None:
        if self.limiter is not None:
            wait = self.limiter.reserve(_monotonic())
            if wait > 0:
                _sleep(wait)

    def _timeout(self, override: float | None) -> tuple[float, float]:
        read = override if override is not None else self.config.timeout
        return (min(10.0, read), read)

    def _wait(self, exchange: Exchange) -> None:
        with self._lock:  # parallel slices retry from several threads
            self.retries += 1
        log.info("%s", exchange.retry_note)
        _sleep(exchange.delay)

    def _raise_if_tls(self, exc: requests.RequestException, url: str) -> Failure:
        if isinstance(exc, requests.exceptions.SSLError):
            raise HepTransportError(tls_failure_message(url), Failure.CONNECT) from None
        return classify(exc)


def _describe(exc: requests.RequestException) -> str:
    """Name a transport failure without echoing URLs (their queries may hold identifiers)."""
    if isinstance(exc, requests.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, requests.Timeout):
        return "no answer before the read timeout"
    if isinstance(exc, requests.ConnectionError):
        failure = classify(exc)
        return (
            "connection refused or host not found"
            if failure is Failure.CONNECT
            else ("connection broken before the answer was complete")
        )
    return type(exc).__name__


def error_excerpt(resp: requests.Response) -> str:
    """Return a short excerpt of an error body (never of a success body)."""
    return excerpt(resp.content) if resp.content else ""
