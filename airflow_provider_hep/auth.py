"""Speak OAuth 2.0 client credentials (RFC 6749 §4.4) without doing any I/O.

The sync hook (requests) and the async hook (httpx) both build the token request here, send it
themselves, and hand the answer back to :func:`parse_token_response`. :class:`TokenPolicy`
decides when a new token is needed. Nothing here imports Airflow.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from airflow_provider_hep.exceptions import HepAuthError

if TYPE_CHECKING:
    from airflow_provider_hep.config import HepConnectionConfig

EXCERPT_CHARS = 200
# A credential in a body shown in an error message: a JSON member, a form field or an XML
# element named access_token, refresh_token, id_token or client_secret. Its value is hidden.
_CREDENTIAL = re.compile(
    r"""(?P<key>\b(?:access_token|refresh_token|id_token|client_secret)\b["']?\s*[:=]\s*)"""
    r"""(?:"(?:[^"\\]|\\.)*"?|'[^']*'?|[^\s&,;}\]]+)"""
    r"""|(?P<tag><(?:access_token|refresh_token|id_token|client_secret)>)[^<]*""",
    re.IGNORECASE,
)
MAX_EXPIRES_IN = 10**12  # seconds, about 31,700 years
# Renew a per_task token when fewer than min(60 s, half its lifetime) remain.
REFRESH_MARGIN_SECONDS = 60.0


@dataclass(frozen=True)
class ClientCredentials:
    """Hold what a token request needs; the secret never appears in repr.

    :param token_url: the OAuth 2.0 token endpoint.
    :param client_id: the client identifier.
    :param client_secret: the client secret.
    :param client_auth: ``basic`` (RFC 6749 §2.3.1) or ``post`` (form fields).
    :param scope: space-separated scopes, or None.
    :param extra_params: extra form parameters such as ``audience`` or ``resource``.
    """

    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    client_auth: str = "basic"
    scope: str | None = None
    extra_params: tuple[tuple[str, str], ...] = ()


def credentials_of(config: HepConnectionConfig) -> ClientCredentials:
    """Return the token client's credentials for a connection config."""
    return ClientCredentials(
        token_url=config.auth_url,
        client_id=config.client_id,
        client_secret=config.client_secret,
        client_auth=config.client_auth,
        scope=config.scope,
        extra_params=tuple(config.auth_params.items()),
    )


@dataclass(frozen=True)
class TokenRequest:
    """Describe one token request: POST ``form`` to ``url`` with ``headers``."""

    url: str
    headers: dict[str, str] = field(repr=False)
    form: dict[str, str] = field(repr=False)


@dataclass(frozen=True)
class Token:
    """Hold an access token; its value never appears in repr or str.

    :param value: the access token.
    :param token_type: always ``Bearer``.
    :param expires_in: lifetime in seconds as issued, or None.
    :param scope: the granted scope, or None.
    :param obtained_at: clock reading (monotonic seconds) when the token was received.
    """

    value: str = field(repr=False)
    token_type: str = "Bearer"  # noqa: S105 - a scheme name, not a credential
    expires_in: int | None = None
    scope: str | None = None
    obtained_at: float = 0.0

    def __str__(self) -> str:
        return repr(self)

    @property
    def authorization(self) -> str:
        """Return the Authorization header value (RFC 6750 §2.1)."""
        return f"Bearer {self.value}"

    def remaining(self, now: float) -> float | None:
        """Return the seconds left before expiry, or None when the lifetime is unknown."""
        if self.expires_in is None:
            return None
        return self.obtained_at + self.expires_in - now

    def needs_refresh(self, now: float) -> bool:
        """Tell whether fewer than min(60 s, half the lifetime) remain."""
        remaining = self.remaining(now)
        if remaining is None or self.expires_in is None:
            return False
        return remaining < min(REFRESH_MARGIN_SECONDS, self.expires_in / 2)


def basic_credentials(client_id: str, client_secret: str) -> str:
    """Return the RFC 6749 §2.3.1 Basic credentials: form-urlencode both, then base64."""
    raw = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
    return base64.b64encode(raw.encode("utf-8")).decode("ascii")


def build_token_request(credentials: ClientCredentials) -> TokenRequest:
    """Build the client-credentials token request (RFC 6749 §4.4.2)."""
    form = {"grant_type": "client_credentials"}
    headers = {
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    if credentials.client_auth == "post":
        form["client_id"] = credentials.client_id
        form["client_secret"] = credentials.client_secret
    else:
        secret = basic_credentials(credentials.client_id, credentials.client_secret)
        headers["Authorization"] = f"Basic {secret}"
    if credentials.scope:
        form["scope"] = credentials.scope
    for name, value in credentials.extra_params:
        form.setdefault(name, value)
    return TokenRequest(url=credentials.token_url, headers=headers, form=form)


def parse_token_response(status: int, body: bytes, *, now: float) -> Token:
    """Turn a token endpoint answer into a ``Token`` or raise ``HepAuthError``.

    Follows RFC 6749 §5.1 (success) and §5.2 (error). The access token is stripped of
    surrounding whitespace: the sample token in HEP's documentation starts with a space.
    """
    payload = _decode_json(status, body)
    if status != 200:
        raise _error_from_payload(status, payload)
    if not isinstance(payload, dict):
        raise HepAuthError(
            f"token endpoint answered {status} with a JSON value that is not an object"
        )
    return _token_from_payload(payload, status, now)


def _decode_json(status: int, body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        shown = _shown(status, body)
        raise HepAuthError(
            f"token endpoint answered {status} with a body that is not JSON: {shown}",
            status=status,
        ) from None


def _shown(status: int, body: bytes) -> str:
    """Quote an error body, except a 2xx one: it may be a token in another format."""
    if not 200 <= status < 300:
        return repr(excerpt(body))
    hint = "; it looks like HTML: is auth_url a login page?" if body.lstrip()[:1] == b"<" else ""
    return f"{len(body)} bytes, not shown as a successful answer may hold a credential{hint}"


def _error_from_payload(status: int, payload: Any) -> HepAuthError:
    error = payload.get("error") if isinstance(payload, dict) else None
    description = payload.get("error_description") if isinstance(payload, dict) else None
    if not isinstance(error, str):
        return HepAuthError(
            f"token endpoint answered {status} without an OAuth error code: "
            f"{_shown(status, json.dumps(payload).encode())}",
            status=status,
        )
    # Both are the server's words: one line, short, any credential in them hidden. They are
    # kept only in that form: the exception's fields travel on, e.g. into trigger events.
    error = excerpt(error, 64)
    description = excerpt(description) if isinstance(description, str) else None
    detail = f" ({description})" if description else ""
    return HepAuthError(
        f"token endpoint refused the request: {error}{detail} [HTTP {status}]",
        error=error,
        description=description,
        status=status,
    )


def _token_from_payload(payload: dict[str, Any], status: int, now: float) -> Token:
    value = payload.get("access_token")
    if not isinstance(value, str) or not value.strip():
        raise HepAuthError("token response has no access_token string", status=status)
    token_type = payload.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise HepAuthError(
            f"token response has token_type {token_type!r}; only Bearer is supported",
            status=status,
        )
    expires_in = payload.get("expires_in")
    # ASCII digits only: str.isdigit() also accepts superscripts and other scripts' digits.
    if isinstance(expires_in, str) and re.fullmatch(r"\d{1,18}", expires_in, re.ASCII):
        expires_in = int(expires_in)
    if expires_in is not None and (isinstance(expires_in, bool) or not isinstance(expires_in, int)):
        raise HepAuthError(f"token response has a non-integer expires_in {expires_in!r:.40}")
    if expires_in is not None and expires_in > MAX_EXPIRES_IN:
        # Beyond float range the expiry arithmetic would raise OverflowError.
        raise HepAuthError("token response has an expires_in of more than 10**12 seconds")
    scope = payload.get("scope")
    return Token(
        value=value.strip(),
        expires_in=expires_in,
        scope=scope if isinstance(scope, str) else None,
        obtained_at=now,
    )


def excerpt(body: bytes | str, limit: int = EXCERPT_CHARS) -> str:
    """Return a short, single-line excerpt of an error body, credentials hidden.

    A token endpoint that answers form-encoded (ignoring ``Accept: application/json``), cuts
    its JSON short, or answers 201, carries a live access token in a body that then fails to
    parse: its value must not reach the error message, where no masker knows it.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = _CREDENTIAL.sub(_hide_credential, " ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _hide_credential(match: re.Match[str]) -> str:
    return f"{match.group('tag')}***" if match.group("tag") else f"{match.group('key')}***"


class TokenPolicy:
    """Decide when a new token is needed: per API call, or once per task run.

    :param policy: ``per_call`` (never reuse) or ``per_task`` (reuse until near expiry).
    """

    def __init__(self, policy: str) -> None:
        self.policy = policy
        self._token: Token | None = None
        self._lock = threading.Lock()

    def reusable(self, now: float) -> Token | None:
        """Return a token that may be used for the next call, or None to fetch a new one."""
        if self.policy != "per_task":
            return None
        with self._lock:
            token = self._token
        if token is None or token.needs_refresh(now):
            return None
        return token

    def store(self, token: Token) -> None:
        """Remember a freshly issued token (per_task only; per_call keeps nothing)."""
        if self.policy == "per_task":
            with self._lock:
                self._token = token

    def invalidate(self) -> None:
        """Forget the current token, e.g. after the API answered 401."""
        with self._lock:
            self._token = None
