"""Call HEP APIs from an event loop (triggers) with httpx: a fresh token per call, retries.

Every decision (token request and parsing, token reuse, what to retry, how long to wait, which
redirects to follow) comes from the same sans-IO modules the sync :class:`HepHook` uses. Only the
I/O differs. httpx is used because Airflow already imports it; aiohttp would add ~74 ms to
every import of this module.

Nothing here blocks the event loop or calls the synchronous secrets masker: the triggerer's
comms raise ``DeadlockImminentError`` when a sync call meets an in-flight async one
(apache/airflow#71891).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from airflow.sdk import BaseHook

from airflow_provider_hep import CONN_TYPE, DEFAULT_CONN_ID, HOOK_NAME
from airflow_provider_hep.auth import (
    ClientCredentials,
    Token,
    TokenPolicy,
    basic_credentials,
    build_token_request,
    credentials_of,
    excerpt,
    parse_token_response,
)
from airflow_provider_hep.config import HepConnectionConfig
from airflow_provider_hep.exceptions import HepApiError, HepAuthError, HepTransportError
from airflow_provider_hep.exchange import Exchange, Step, tls_failure_message
from airflow_provider_hep.hooks.hep import config_from_connection
from airflow_provider_hep.retry import DEFAULT_MAX_RETRIES, Failure, Target
from airflow_provider_hep.routing import endpoint_url

log = logging.getLogger(__name__)
_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # patched by tests
_monotonic: Callable[[], float] = time.monotonic


def classify(exc: httpx.TransportError) -> Failure:
    """Tell whether an httpx failure happened before the request was sent, or after."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return Failure.CONNECT
    if isinstance(exc, httpx.TimeoutException):
        return Failure.READ_TIMEOUT
    return Failure.BROKEN  # RemoteProtocolError, ReadError, WriteError: maybe processed


def describe(exc: httpx.TransportError) -> str:
    """Name a transport failure in the sync hook's words, without echoing the URL."""
    failure = classify(exc)
    if isinstance(exc, httpx.ConnectTimeout):
        return "connection timed out"
    if failure is Failure.READ_TIMEOUT:
        return "no answer before the read timeout"
    if failure is Failure.CONNECT:
        return "connection refused or host not found"
    return "connection broken before the answer was complete"


def ssl_context_for(config: HepConnectionConfig) -> ssl.SSLContext:
    """Build the TLS context: the connection's CA bundle (a path or PEM text), or the defaults.

    PEM text goes straight to ``cadata``, so no temporary file is ever written.
    """
    if not config.verify:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if config.ca_bundle is None:
        return ssl.create_default_context()
    if "-----BEGIN" in config.ca_bundle:
        return ssl.create_default_context(cadata=config.ca_bundle)
    return ssl.create_default_context(cafile=config.ca_bundle)


async def amask_config(config: HepConnectionConfig) -> None:
    """Register the client secret and the Basic header value with the masker, asynchronously.

    ``airflow.sdk.log.amask_secret`` exists from Airflow 3.3; before that the sync
    ``mask_secret`` runs in a worker thread, where blocking on the supervisor is safe.
    """
    import airflow.sdk.log as sdk_log

    values = [config.client_secret, basic_credentials(config.client_id, config.client_secret)]
    amask_secret = getattr(sdk_log, "amask_secret", None)
    if amask_secret is not None:
        for value in values:
            await amask_secret(value)
        return
    from airflow.providers.common.compat.sdk import mask_secret

    def mask_all() -> None:
        for value in values:
            mask_secret(value)

    await asyncio.to_thread(mask_all)


@dataclass(frozen=True)
class _Session:
    """Hold what a resolved connection gives one hook: config, client, credentials, policy."""

    config: HepConnectionConfig
    client: httpx.AsyncClient
    credentials: ClientCredentials
    policy: TokenPolicy

    @property
    def timeout(self) -> httpx.Timeout:
        """Return the sync hook's timeouts: connect at most 10 s, read the configured value."""
        return httpx.Timeout(self.config.timeout, connect=min(10.0, self.config.timeout))


class HepAsyncHook(BaseHook):
    """Call HEP APIs asynchronously with a fresh OAuth 2.0 token per call (or per task run).

    The connection is resolved on first use, on the event loop, with common-compat's
    ``get_async_connection`` and ``get_async_extra_dejson``. Use it as an async context manager,
    or call :meth:`aclose`, to close the keep-alive connections.

    :param hep_conn_id: the ``sap_hep`` connection id.
    :param max_retries: retries after the first attempt of a request (default 5).
    :param idempotency_key: name of a header that makes POST/PATCH safe to retry, when HEP
        supports one. Only requests that carry that header are retried like GET.
    """

    conn_name_attr = "hep_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = HOOK_NAME

    def __init__(
        self,
        hep_conn_id: str = DEFAULT_CONN_ID,
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        idempotency_key: str | None = None,
    ) -> None:
        super().__init__()
        self.hep_conn_id = hep_conn_id
        self.max_retries = max_retries
        self.idempotency_key = idempotency_key
        self.retries = 0  # retries performed so far
        self._session: _Session | None = None
        self._setup_lock = asyncio.Lock()

    async def __aenter__(self) -> HepAsyncHook:
        await self.aconfig()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aconfig(self) -> HepConnectionConfig:
        """Return the connection's validated config, resolving it on first use."""
        return (await self._setup()).config

    async def _setup(self) -> _Session:
        """Resolve and validate the connection once, mask its secrets, open the client."""
        async with self._setup_lock:
            if self._session is None:
                from airflow.providers.common.compat.connection import (
                    get_async_connection,
                    get_async_extra_dejson,
                )

                conn = await get_async_connection(self.hep_conn_id, hook=type(self))
                config = config_from_connection(conn, extra=await get_async_extra_dejson(conn))
                await amask_config(config)
                # Loading CA certificates reads files: keep that off the event loop.
                context = await asyncio.to_thread(ssl_context_for, config)
                if not config.verify:
                    log.warning(
                        "TLS verification is OFF for the HEP connection to %s: development only.",
                        config.api_origin,
                    )
                self._session = _Session(
                    config=config,
                    client=httpx.AsyncClient(
                        verify=context, trust_env=False, follow_redirects=False
                    ),
                    credentials=credentials_of(config),
                    policy=TokenPolicy(config.auth_policy),
                )
            return self._session

    async def aclose(self) -> None:
        """Close the keep-alive connections; tokens are dropped with them."""
        session, self._session = self._session, None
        if session is not None:
            await session.client.aclose()

    async def get_token(self) -> Token:
        """Return a token for the next call: new under per_call, reused under per_task."""
        policy = (await self._setup()).policy
        token = policy.reusable(_monotonic())
        if token is None:
            token = await self.fetch_token()
            policy.store(token)
        return token

    async def fetch_token(self, *, retries: int | None = None) -> Token:
        """Request a new token, retrying only 5xx answers and transport failures."""
        session = await self._setup()
        request = build_token_request(session.credentials)
        limit = self.max_retries if retries is None else retries
        exchange = Exchange(Target.TOKEN, "POST", request.url, limit)
        while True:
            try:
                resp = await session.client.post(
                    request.url, data=request.form, headers=request.headers, timeout=session.timeout
                )
            except httpx.TransportError as exc:
                if exchange.after_no_answer(self._failure(exc, request.url)) is Step.RETRY:
                    await self._wait(exchange)
                    continue
                raise HepAuthError(exchange.no_answer_message(describe(exc))) from None
            try:
                return parse_token_response(resp.status_code, resp.content, now=_monotonic())
            except HepAuthError as exc:
                step = exchange.after_token_error(
                    resp.status_code, resp.headers, retryable=exc.retryable, now=time.time()
                )
                if step is Step.RETRY:
                    await self._wait(exchange)
                    continue
                raise

    def url_for(self, endpoint: str) -> str:
        """Resolve an endpoint against the base URL; refuse absolute URLs of other hosts."""
        if self._session is None:
            raise RuntimeError("await aconfig() before resolving URLs")
        return endpoint_url(self._session.config.base_url, endpoint)

    async def run(
        self,
        endpoint: str,
        *,
        method: str = "GET",
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Call ``endpoint`` (relative to the API base URL) and return the 2xx response.

        A fresh token per attempt, retries decided by :func:`~airflow_provider_hep.retry.
        is_retryable`, one replay after a 401, redirects followed on the API host only.

        :raises HepApiError: for a non-2xx answer (status, method, path, short excerpt).
        :raises HepAuthError: when no token could be obtained.
        :raises HepTransportError: when no answer arrived and retrying did not help.
        """
        session = await self._setup()
        config = session.config
        all_headers = {**config.headers, **(headers or {})}
        # requests drops None-valued query parameters; httpx would send "key=". Match the sync hook.
        query = {k: v for k, v in (params or {}).items() if v is not None} or None
        exchange = Exchange(
            Target.API,
            method,
            self.url_for(endpoint),
            self.max_retries,
            params=query,
            json=json,
            data=data,
            idempotency_key=bool(self.idempotency_key and self.idempotency_key in all_headers),
        )
        while True:
            all_headers["Authorization"] = (await self.get_token()).authorization
            try:
                resp = await self._send(session, exchange, all_headers)
            except httpx.TransportError as exc:
                failure = self._failure(exc, exchange.url)
                if exchange.after_no_answer(failure) is Step.RETRY:
                    await self._wait(exchange)
                    continue
                raise HepTransportError(
                    exchange.no_answer_message(describe(exc)), failure
                ) from None
            step = exchange.after_answer(resp.status_code, resp.headers, now=time.time())
            if step is Step.DONE:
                return resp
            if step is Step.REAUTHENTICATE:
                session.policy.invalidate()
            elif step is Step.RETRY:
                await self._wait(exchange)
            elif step is Step.FAIL:
                body = excerpt(resp.content) if resp.content else ""
                raise HepApiError(resp.status_code, exchange.method, exchange.path, body)

    @staticmethod
    async def _send(
        session: _Session, exchange: Exchange, headers: Mapping[str, str]
    ) -> httpx.Response:
        # httpx takes raw text or bytes as ``content`` and a mapping as form ``data``.
        data = exchange.data
        raw = data if isinstance(data, str | bytes) else None
        form = None if raw is not None else data
        return await session.client.request(
            exchange.method,
            exchange.url,
            params=exchange.params,
            json=exchange.json,
            data=form,
            content=raw,
            headers=headers,
            timeout=session.timeout,
        )

    async def _wait(self, exchange: Exchange) -> None:
        self.retries += 1
        log.info("%s", exchange.retry_note)
        await _sleep(exchange.delay)

    @staticmethod
    def _failure(exc: httpx.TransportError, url: str) -> Failure:
        """Classify a failure; a TLS verification failure is final and explained."""
        cause: BaseException | None = exc
        seen: set[int] = set()
        while cause is not None and id(cause) not in seen:
            seen.add(id(cause))
            if isinstance(cause, ssl.SSLCertVerificationError):
                raise HepTransportError(tls_failure_message(url), Failure.CONNECT) from None
            cause = cause.__cause__ or cause.__context__
        return classify(exc)
