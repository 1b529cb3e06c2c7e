"""Emulate the OAuth 2.0 client-credentials token endpoint (RFC 6749 §4.4) and bearer checks."""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote_plus

from .responses import Response, json_response
from .stats import Stats

DEFAULT_SCOPES = (
    "patients.read",
    "appointments.read",
    "care-plans.read",
    "messages.write",
    "exports.write",
)
_NO_STORE = [("Cache-Control", "no-store"), ("Pragma", "no-cache")]
_BASIC_CHALLENGE = [("WWW-Authenticate", 'Basic realm="hep-sandbox"')]
BEARER_CHALLENGE = [("WWW-Authenticate", 'Bearer error="invalid_token"')]


class OAuthError(Exception):
    """Carry an RFC 6749 §5.2 error answer."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description

    def response(self) -> Response:
        """Render the error as a JSON answer."""
        headers = _NO_STORE + (_BASIC_CHALLENGE if self.status == 401 else [])
        body = {"error": self.error, "error_description": self.description}
        return json_response(self.status, body, headers)


def decode_basic(header: str) -> tuple[str, str]:
    """Decode ``Basic`` credentials per RFC 6749 §2.3.1 (form-urlencoded id and secret)."""
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise OAuthError(401, "invalid_client", "Client authentication failed")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError(401, "invalid_client", "Client authentication failed") from None
    if ":" not in decoded:
        raise OAuthError(401, "invalid_client", "Client authentication failed")
    client_id, _, secret = decoded.partition(":")
    return unquote_plus(client_id), unquote_plus(secret)


@dataclass
class _Token:
    expires_at: float
    scope: str
    uses: int = 0


class TokenStore:
    """Issue opaque tokens and validate bearer tokens against the sandbox clock."""

    def __init__(self, ttl: int, single_use: bool, clock: Callable[[], float]) -> None:
        self.ttl, self.single_use, self.clock = ttl, single_use, clock
        self._tokens: dict[str, _Token] = {}
        self._lock = threading.Lock()

    def issue(self, scope: str) -> str:
        """Create and remember a new access token."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = _Token(self.clock() + self.ttl, scope)
        return token

    def revoke_all(self) -> None:
        """Invalidate every outstanding token."""
        with self._lock:
            self._tokens.clear()

    def check(self, token: str) -> str | None:
        """Accept one use of ``token``; return None if valid or a reason it is not."""
        with self._lock:
            info = self._tokens.get(token)
            if info is None:
                return "unknown or revoked token"
            if self.clock() >= info.expires_at:
                return "token expired"
            if self.single_use and info.uses >= 1:
                return "single-use token already used"
            info.uses += 1
        return None


@dataclass
class ClientConfig:
    """Hold the accepted client credentials and scopes."""

    client_id: str
    client_secret: str
    scopes: tuple[str, ...] = DEFAULT_SCOPES


def _parse_form(content_type: str, body: bytes) -> dict[str, str]:
    if content_type and content_type.split(";")[0].strip().lower() != (
        "application/x-www-form-urlencoded"
    ):
        raise OAuthError(400, "invalid_request", "body must be application/x-www-form-urlencoded")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        raise OAuthError(400, "invalid_request", "malformed form body") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:
            raise OAuthError(400, "invalid_request", f"parameter {key!r} repeated")
        form[key] = value
    return form


def _authenticate(config: ClientConfig, authorization: str, form: dict[str, str]) -> None:
    in_form = "client_id" in form or "client_secret" in form
    if authorization and in_form:
        raise OAuthError(400, "invalid_request", "use one client authentication method, not two")
    if authorization:
        client_id, secret = decode_basic(authorization)
    else:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
    id_ok = hmac.compare_digest(client_id.encode(), config.client_id.encode())
    secret_ok = hmac.compare_digest(secret.encode(), config.client_secret.encode())
    if not (id_ok and secret_ok):
        raise OAuthError(401, "invalid_client", "Client authentication failed")


def _granted_scope(config: ClientConfig, requested: str | None) -> str:
    if requested is None or not requested.strip():
        return " ".join(config.scopes)
    wanted = requested.split()
    unknown = [s for s in wanted if s not in config.scopes]
    if unknown:
        raise OAuthError(400, "invalid_scope", f"scope not allowed: {' '.join(unknown)}")
    return " ".join(dict.fromkeys(wanted))


def token_endpoint(
    config: ClientConfig,
    store: TokenStore,
    stats: Stats,
    headers: dict[str, str],
    body: bytes,
) -> Response:
    """Answer ``POST /oauth/token`` for the client-credentials grant."""
    stats.bump("token_requests")
    try:
        form = _parse_form(headers.get("content-type", ""), body)
        stats.token_form(list(form))
        grant = form.get("grant_type")
        if not grant:
            raise OAuthError(400, "invalid_request", "grant_type is required")
        _authenticate(config, headers.get("authorization", ""), form)
        if grant != "client_credentials":
            raise OAuthError(400, "unsupported_grant_type", f"grant_type {grant!r} not supported")
        scope = _granted_scope(config, form.get("scope"))
    except OAuthError as exc:
        return exc.response()
    token = store.issue(scope)
    stats.token_issued(token)
    payload = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": store.ttl,
        "scope": scope,
    }
    return json_response(200, payload, _NO_STORE)
