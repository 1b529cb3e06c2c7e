"""Route requests, check bearer tokens and inject faults around the endpoint handlers."""

from __future__ import annotations

import time
from functools import partial
from urllib.parse import parse_qsl, unquote

from .api import get_record, list_records, redirect
from .control import control
from .faults import PRE_KINDS, STATUS_KINDS, TOKEN_KINDS, Fault
from .responses import Response, json_response, odata_error
from .state import COLLECTIONS, SandboxState
from .timeutil import http_date
from .tokens import BEARER_CHALLENGE, token_endpoint
from .writes import create_export, poll_export, write_message

API_PREFIX = "/api/v1"
_HEALTH = {"/health", f"{API_PREFIX}/health"}
_LATE = frozenset({"delay", "reset", "malformed"})
_MALFORMED = b'{"value": [{"id": "PAT-0000001", "lastModified": 2026-01-01T00:00:00Z'


_ERROR_CODES = {403: "Forbidden", 404: "NotFound", 429: "TooManyRequests"}


def _retry_after(fault: Fault) -> list[tuple[str, str]]:
    """Build the Retry-After header; an HTTP-date is about one second ahead of real time."""
    if fault.retry_after is None:
        return []
    if fault.retry_after == "date":
        return [("Retry-After", http_date(time.time() + 1.5))]
    return [("Retry-After", fault.retry_after)]


class SandboxApp:
    """Turn a parsed request into a :class:`Response` (transport-independent)."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Response:
        """Answer one request; ``headers`` keys are lower case."""
        path, _, query = target.partition("?")
        path = unquote(path)
        if path.startswith("/_sandbox/"):
            params = dict(parse_qsl(query, keep_blank_values=True))
            return control(self.state, method, path, params, body)
        if path in _HEALTH:
            response = json_response(200, {"status": "ok"})
        else:
            if self.state.config.latency_ms:
                time.sleep(self.state.config.latency_ms / 1000)
            if path == "/oauth/token":
                response = self._token(method, headers, body)
            elif path == API_PREFIX or path.startswith(API_PREFIX + "/"):
                response = self._api(method, path, query, target, headers, body)
            else:
                response = odata_error(404, "NotFound", f"no route for {path}")
        self.state.stats.request(path, response.status)
        return response

    def fire(self, kinds: frozenset[str], method: str, path: str) -> list[Fault]:
        """Return the faults among ``kinds`` that fire now, recording them in stats."""
        fired = self.state.faults.decide(kinds, method, path)
        for fault in fired:
            self.state.stats.fault(fault.kind)
        return fired

    def _token(self, method: str, headers: dict[str, str], body: bytes) -> Response:
        if method != "POST":
            return Response(405, b"", [("Allow", "POST")], content_type=None)
        for fault in self.fire(TOKEN_KINDS, method, "/oauth/token"):
            self.state.stats.bump("token_requests")
            payload = {"error": "temporarily_unavailable", "error_description": "injected fault"}
            return json_response(fault.status or 503, payload, _retry_after(fault))
        state = self.state
        return token_endpoint(state.client, state.tokens, state.stats, headers, body)

    def _pre_faults(self, method: str, path: str) -> Response | None:
        for fault in self.fire(PRE_KINDS, method, path):
            if fault.kind == "revoke":
                self.state.tokens.revoke_all()
            elif fault.kind in STATUS_KINDS:
                status = int(fault.kind)
                code = _ERROR_CODES.get(status, "ServiceUnavailable")
                error = odata_error(status, code, f"injected fault {fault.kind}")
                error.headers += _retry_after(fault)
                return error
        return None

    @staticmethod
    def _bearer(headers: dict[str, str]) -> str | None:
        scheme, _, token = headers.get("authorization", "").strip().partition(" ")
        return token.strip() or None if scheme.lower() == "bearer" else None

    def _authenticate(self, token: str | None) -> Response | None:
        stats = self.state.stats
        reason = "missing bearer token"
        if token is not None:
            checked = self.state.tokens.check(token)
            if checked is None:
                stats.token_used(token)
                return None
            reason = checked
        stats.bump("auth_failures")
        body = {"error": "invalid_token", "error_description": reason}
        return json_response(401, body, list(BEARER_CHALLENGE))

    def _api(
        self, method: str, path: str, query: str, target: str, headers: dict[str, str], body: bytes
    ) -> Response:
        token = self._bearer(headers)
        if token is not None:
            self.state.stats.bump("api_calls")
        pre = self._pre_faults(method, path)
        if pre is not None:
            return pre
        denied = self._authenticate(token)
        if denied is not None:
            return denied
        params = parse_qsl(query, keep_blank_values=True)
        parts = path[len(API_PREFIX) + 1 :].split("/")
        response = self._route(method, parts, params, target, headers, body)
        if response.status < 400:
            for fault in self.fire(_LATE, method, path):
                self._late_fault(fault, response)
        return response

    def _route(
        self,
        method: str,
        parts: list[str],
        params: list[tuple[str, str]],
        target: str,
        headers: dict[str, str],
        body: bytes,
    ) -> Response:
        name, rest = parts[0], parts[1:]
        key = headers.get("idempotency-key")
        if name == "redirect" and not rest and method == "GET":
            return redirect(dict(params))
        if name == "exports":
            if method == "POST" and not rest:
                return create_export(self.state, body, key)
            if method == "GET" and len(rest) == 1:
                return poll_export(self.state, rest[0])
        elif name in COLLECTIONS and len(rest) <= 1:
            rid = rest[0] if rest else None
            if method == "GET":
                if rid is None:
                    decide = partial(self.fire, method=method, path=target.partition("?")[0])
                    return list_records(self.state, name, params, target, decide)
                return get_record(self.state, name, rid)
            if name == "messages" and (method, rid is None) in _WRITES:
                return write_message(self.state, method, rid, body, key)
        else:
            return odata_error(404, "NotFound", f"no resource {'/'.join(parts)!r}")
        return odata_error(405, "MethodNotAllowed", f"{method} not allowed here")

    def _late_fault(self, fault: Fault, response: Response) -> None:
        if fault.kind == "delay":
            response.delay += 2.0 if fault.seconds is None else fault.seconds
        elif fault.kind == "reset":
            response.reset = True
        elif fault.kind == "malformed":
            response.status, response.body = 200, _MALFORMED
            response.content_type = "application/json"


_WRITES = {("POST", True), ("PATCH", False), ("DELETE", False)}
