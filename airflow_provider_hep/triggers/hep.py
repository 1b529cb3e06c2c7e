"""Run HEP calls and polls in the triggerer: a fresh token for every call, plain-value kwargs.

A trigger's arguments and events are stored in the metadata DB. :class:`HepTrigger` therefore
carries the connection id and plain request values only (never a token or a secret: the
triggerer resolves the connection itself), and a poll's event carries the verdict and the
checked value, never the body.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_hep import DEFAULT_CONN_ID
from airflow_provider_hep.checks import JsonCheck, Verdict, decode_body
from airflow_provider_hep.exceptions import (
    HepApiError,
    HepAuthError,
    HepConfigError,
    HepError,
    HepTransportError,
)
from airflow_provider_hep.hooks.hep_async import HepAsyncHook
from airflow_provider_hep.retry import DEFAULT_MAX_RETRIES, Failure
from airflow_provider_hep.sealing import seal

# A trigger event is stored in the metadata DB until the task resumes; keep it bounded.
MAX_EVENT_BODY_BYTES = 1024 * 1024
# Response headers that never travel in an event: they can carry session credentials.
_DROPPED_HEADERS = frozenset({"set-cookie", "set-cookie2"})


class HepTrigger(BaseTrigger):
    """Make one HEP API call, or poll an endpoint until a declarative check passes.

    :param endpoint: path relative to the connection's API base URL.
    :param method: HTTP method.
    :param query: URL query parameters.
    :param json: JSON request body.
    :param data: form fields (a dict) or a raw body (a string).
    :param headers: extra request headers for this call.
    :param hep_conn_id: the ``sap_hep`` connection id; the triggerer resolves it.
    :param poll: False: one call, whose response returns in the event. True: call every
        ``poke_interval`` seconds until a 2xx answer passes ``check``.
    :param check: a declarative check spec (see :mod:`airflow_provider_hep.checks`); poll only.
    :param poke_interval: seconds between polls.
    :param poke_on_404: keep polling while the endpoint answers 404.
    :param max_retries: retries per call for transient failures (429, 5xx, timeouts).
    """

    def __init__(
        self,
        *,
        endpoint: str,
        method: str = "GET",
        query: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        hep_conn_id: str = DEFAULT_CONN_ID,
        poll: bool = False,
        check: Mapping[str, Any] | None = None,
        poke_interval: float = 60.0,
        poke_on_404: bool = False,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.endpoint = endpoint
        self.method = method.upper()
        self.query = dict(query) if query else None
        self.json = json
        self.data = data
        self.headers = dict(headers) if headers else None
        self.hep_conn_id = hep_conn_id
        self.poll = poll
        self.check = JsonCheck.from_spec(check).to_spec() if check is not None else None
        if self.check is not None and not poll:
            raise HepConfigError("check", "applies to polls only; pass poll=True")
        self.poke_interval = float(poke_interval)
        self.poke_on_404 = poke_on_404
        self.max_retries = max_retries

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the class path and plain values: no token, no secret."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "endpoint": self.endpoint,
                "method": self.method,
                "query": self.query,
                "json": self.json,
                "data": self.data,
                "headers": self.headers,
                "hep_conn_id": self.hep_conn_id,
                "poll": self.poll,
                "check": self.check,
                "poke_interval": self.poke_interval,
                "poke_on_404": self.poke_on_404,
                "max_retries": self.max_retries,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Call (or poll) with a fresh token per call and yield exactly one event."""
        try:
            async with HepAsyncHook(self.hep_conn_id, max_retries=self.max_retries) as hook:
                payload = await (self._poll(hook) if self.poll else self._call(hook))
        except HepError as exc:
            payload = {"status": "error", "error": error_to_event(exc)}
        yield TriggerEvent(payload)  # type: ignore[no-untyped-call]

    async def _request(self, hook: HepAsyncHook) -> httpx.Response:
        return await hook.run(
            self.endpoint,
            method=self.method,
            params=self.query,
            json=self.json,
            data=self.data,
            headers=self.headers,
        )

    async def _call(self, hook: HepAsyncHook) -> dict[str, Any]:
        response = await self._request(hook)
        if len(response.content) > MAX_EVENT_BODY_BYTES:
            return {
                "status": "error",
                "error": {"type": "too_large", "size": len(response.content)},
            }
        return {"status": "success", "response": response_to_event(response)}

    async def _poll(self, hook: HepAsyncHook) -> dict[str, Any]:
        check = JsonCheck.from_spec(self.check) if self.check is not None else None
        polls = 0
        while True:
            polls += 1
            try:
                response = await self._request(hook)
            except HepApiError as exc:
                if not (exc.status == 404 and self.poke_on_404):
                    raise
                self.log.info("Poll %d: %s answered 404; polling again.", polls, exc.path)
            else:
                if check is None:
                    return {"status": "success", "value": None, "polls": polls}
                result = check.evaluate(decode_body(response.content))
                if result.verdict is Verdict.PASSED:
                    return {"status": "success", "value": result.value, "polls": polls}
                if result.verdict is Verdict.FAILED:
                    return {"status": "check_failed", "value": result.value, "polls": polls}
                self.log.info("Poll %d: %s not met yet.", polls, check.describe())
            await asyncio.sleep(self.poke_interval)


def response_to_event(response: httpx.Response) -> dict[str, Any]:
    """Describe a response in plain values (the worker rebuilds a ``requests.Response``)."""
    headers = {k: v for k, v in response.headers.items() if k.lower() not in _DROPPED_HEADERS}
    url = urlsplit(str(response.url))
    return {
        "status_code": response.status_code,
        "headers": headers,
        # Sealed with Airflow's Fernet key: events are stored in the metadata DB and logged
        # by the triggerer, and the body can hold patient data.
        "sealed_text": seal(response.text),
        # Without the query string: query values can identify a patient.
        "url": f"{url.scheme}://{url.netloc}{url.path}",
    }


def error_to_event(exc: HepError) -> dict[str, Any]:
    """Describe a provider error in plain values, so the worker can raise the same error."""
    if isinstance(exc, HepApiError):
        return {
            "type": "api",
            "status": exc.status,
            "method": exc.method,
            "path": exc.path,
            "excerpt": exc.excerpt,
        }
    if isinstance(exc, HepAuthError):
        return {
            "type": "auth",
            "message": str(exc),
            "error": exc.error,
            "description": exc.description,
            "status": exc.status,
        }
    if isinstance(exc, HepTransportError):
        failure = exc.failure.value if exc.failure is not None else None
        return {"type": "transport", "message": str(exc), "failure": failure}
    if isinstance(exc, HepConfigError):
        message = str(exc).removeprefix(f"{exc.field}: ")
        return {"type": "config", "field": exc.field, "message": message}
    return {"type": "hep", "message": str(exc)}


def error_from_event(error: Mapping[str, Any]) -> HepError:
    """Rebuild the provider error that :func:`error_to_event` described."""
    kind = error.get("type")
    if kind == "api":
        return HepApiError(error["status"], error["method"], error["path"], error["excerpt"])
    if kind == "auth":
        return HepAuthError(
            error["message"],
            error=error["error"],
            description=error["description"],
            status=error["status"],
        )
    if kind == "transport":
        failure = Failure(error["failure"]) if error["failure"] is not None else None
        return HepTransportError(error["message"], failure)
    if kind == "config":
        return HepConfigError(error["field"], error["message"])
    return HepError(error.get("message", f"unexpected trigger error {kind!r}"))
