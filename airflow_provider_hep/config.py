"""Parse a ``sap_hep`` connection into a frozen, validated configuration (sans-IO).

Built from plain values (host, login, password, extra), so the sync hook, the async hook and
the tests share one parser. It never imports Airflow.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_hep.exceptions import HepConfigError

CONN_TYPE = "sap_hep"
CLIENT_AUTH_METHODS = ("basic", "post")
AUTH_POLICIES = ("per_call", "per_task")
ALLOWED_EXTRAS = (
    "auth_url",
    "scope",
    "client_auth",
    "auth_policy",
    "timeout",
    "verify",
    "ca_bundle",
    "auth_params",
    "headers",
    "allow_insecure_http",
)
DEFAULT_TIMEOUT = 30.0
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")
# Older Airflow UIs store form extras as "extra__<conn_type>__<name>".
_LEGACY_PREFIX = f"extra__{CONN_TYPE}__"


@dataclass(frozen=True)
class HepConnectionConfig:
    """Hold the validated settings of one ``sap_hep`` connection.

    :param base_url: API base URL (the connection's Host), without a trailing slash.
    :param auth_url: OAuth 2.0 token endpoint.
    :param client_id: OAuth client id (the connection's Login).
    :param client_secret: OAuth client secret (the connection's Password); never in repr.
    :param scope: space-separated scopes to request, or None.
    :param client_auth: ``basic`` (RFC 6749 §2.3.1 header) or ``post`` (form fields).
    :param auth_policy: ``per_call`` (a new token per HTTP request) or ``per_task``.
    :param timeout: connect and read timeout in seconds.
    :param verify: whether TLS certificates are verified.
    :param ca_bundle: a CA file path or PEM text, or None.
    :param auth_params: extra token request form parameters.
    :param headers: extra headers for API calls.
    :param allow_insecure_http: allow ``http://`` to hosts other than loopback.
    """

    base_url: str
    auth_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scope: str | None = None
    client_auth: str = "basic"
    auth_policy: str = "per_call"
    timeout: float = DEFAULT_TIMEOUT
    verify: bool = True
    ca_bundle: str | None = None
    auth_params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    allow_insecure_http: bool = False

    @classmethod
    def from_values(
        cls,
        *,
        host: str | None,
        login: str | None,
        password: str | None,
        extra: Mapping[str, Any] | str | None,
        port: int | None = None,
        schema: str | None = None,
    ) -> HepConnectionConfig:
        """Validate plain connection values and build the config; raise ``HepConfigError``.

        No message carries the client secret, even when it was pasted into another field.
        """
        try:
            return cls._from_values(host, login, password, extra, port, schema)
        except HepConfigError as exc:
            if not password or password not in str(exc):
                raise
            message = str(exc).removeprefix(f"{exc.field}: ").replace(password, "***")
            raise HepConfigError(exc.field, message) from None

    @classmethod
    def _from_values(
        cls,
        host: str | None,
        login: str | None,
        password: str | None,
        extra: Mapping[str, Any] | str | None,
        port: int | None,
        schema: str | None,
    ) -> HepConnectionConfig:
        extras = _normalise_extra(extra)
        insecure_ok = _parse_bool(extras, "allow_insecure_http", default=False)
        base_url = _parse_base_url(host, port, schema)
        auth_url = _require_str(extras, "auth_url", "the OAuth token endpoint URL")
        _check_url("host", base_url, insecure_ok)
        _check_url("auth_url", auth_url, insecure_ok)
        if not login:
            raise HepConfigError("login", "the Client ID is missing; set the connection's Login")
        if not password:
            raise HepConfigError(
                "password", "the Client Secret is missing; set the connection's Password"
            )
        return cls(
            base_url=base_url,
            auth_url=auth_url,
            client_id=login,
            client_secret=password,
            scope=_optional_str(extras, "scope"),
            client_auth=_parse_choice(extras, "client_auth", CLIENT_AUTH_METHODS),
            auth_policy=_parse_choice(extras, "auth_policy", AUTH_POLICIES),
            timeout=_parse_timeout(extras),
            verify=_parse_bool(extras, "verify", default=True),
            ca_bundle=_parse_ca_bundle(extras),
            auth_params=_parse_str_map(extras, "auth_params"),
            headers=_parse_str_map(extras, "headers"),
            allow_insecure_http=insecure_ok,
        )

    @property
    def api_origin(self) -> str:
        """Return the scheme://host[:port] of the API, the only origin a token may go to."""
        return origin_of(self.base_url)


def origin_of(url: str) -> str:
    """Return ``scheme://host[:port]`` of ``url``, lower-cased, default ports dropped."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def is_loopback_host(host: str) -> bool:
    """Tell whether ``host`` is localhost or a loopback address (127.0.0.0/8, ::1)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _normalise_extra(extra: Mapping[str, Any] | str | None) -> dict[str, Any]:
    if extra is None or extra == "":
        return {}
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except json.JSONDecodeError as exc:
            raise HepConfigError("extra", f"is not valid JSON ({exc.msg})") from exc
    if not isinstance(extra, Mapping):
        raise HepConfigError("extra", "must be a JSON object of settings")
    extras: dict[str, Any] = {}
    for key, value in extra.items():
        name = key[len(_LEGACY_PREFIX) :] if key.startswith(_LEGACY_PREFIX) else key
        if value is None or value == "":
            continue  # a field left empty in the UI form means "use the default"
        extras[name] = value
    unknown = sorted(set(extras) - set(ALLOWED_EXTRAS))
    if unknown:
        raise HepConfigError(
            "extra",
            f"unknown setting(s) {', '.join(unknown)}; "
            f"allowed settings are: {', '.join(ALLOWED_EXTRAS)}",
        )
    return extras


def _parse_base_url(host: str | None, port: int | None, schema: str | None) -> str:
    if not host:
        raise HepConfigError("host", "the API base URL is missing; set the connection's Host")
    url = host.strip()
    if "://" not in url:
        url = f"https://{url}"
    parts = _split_url("host", url)
    if not parts.hostname:
        raise HepConfigError("host", f"{host!r} is not a URL; use e.g. https://api.example.com")
    if port and not 0 < port < 65536:
        raise HepConfigError("port", f"{port!r} is not a TCP port (1-65535)")
    if port and parts.port is None:
        url = f"{parts.scheme}://{parts.hostname}:{port}{parts.path}"
    if schema and not urlsplit(url).path.strip("/"):
        url = f"{url.rstrip('/')}/{schema.strip('/')}"
    return url.rstrip("/")


def _split_url(name: str, url: str) -> Any:
    """Split ``url`` and read its port, turning a malformed URL into ``HepConfigError``."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError as exc:
        raise HepConfigError(name, f"is not a valid URL ({exc})") from None
    return parts


def _check_url(name: str, url: str, insecure_ok: bool) -> None:
    parts = _split_url(name, url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HepConfigError(name, f"{url!r} must be an http(s) URL with a host")
    if parts.query or parts.fragment:
        raise HepConfigError(name, "must not carry a query string or fragment")
    if parts.scheme == "http" and not (insecure_ok or is_loopback_host(parts.hostname)):
        raise HepConfigError(
            name,
            f"plain http:// to {parts.hostname} would send credentials unencrypted; "
            "use https://, or set allow_insecure_http to true (development only)",
        )


def _require_str(extras: Mapping[str, Any], name: str, what: str) -> str:
    value = extras.get(name)
    if value is None:
        raise HepConfigError(name, f"{what} is missing; set '{name}' in the connection's extra")
    if not isinstance(value, str):
        raise HepConfigError(name, f"must be a string, got {type(value).__name__}")
    return value.strip()


def _optional_str(extras: Mapping[str, Any], name: str) -> str | None:
    value = extras.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise HepConfigError(name, f"must be a string, got {type(value).__name__}")
    return " ".join(value.split()) or None


def _parse_choice(extras: Mapping[str, Any], name: str, choices: tuple[str, ...]) -> str:
    value = extras.get(name, choices[0])
    if value not in choices:
        raise HepConfigError(name, f"{value!r} is not one of: {', '.join(choices)}")
    return str(value)


def _parse_bool(extras: Mapping[str, Any], name: str, *, default: bool) -> bool:
    value = extras.get(name, default)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise HepConfigError(name, f"{value!r} is not a boolean; use true or false")


def _parse_timeout(extras: Mapping[str, Any]) -> float:
    value = extras.get("timeout", DEFAULT_TIMEOUT)
    try:
        if isinstance(value, bool):
            raise TypeError
        seconds = float(value)
    except (TypeError, ValueError, OverflowError):
        raise HepConfigError("timeout", f"{value!r} is not a number of seconds") from None
    if not 0 < seconds <= 3600:
        raise HepConfigError(
            "timeout", f"{value!r} must be more than 0 and at most 3600 seconds, e.g. 30"
        )
    return seconds


def _parse_ca_bundle(extras: Mapping[str, Any]) -> str | None:
    value = _optional_text(extras, "ca_bundle")
    if value is None or "-----BEGIN CERTIFICATE-----" in value:
        return value
    if not os.path.isfile(value):
        raise HepConfigError(
            "ca_bundle", f"{value!r} is neither PEM text nor a readable file on this worker"
        )
    return value


def _optional_text(extras: Mapping[str, Any], name: str) -> str | None:
    value = extras.get(name)
    if value is not None and not isinstance(value, str):
        raise HepConfigError(name, f"must be a string, got {type(value).__name__}")
    return value.strip() or None if value else None


def _parse_str_map(extras: Mapping[str, Any], name: str) -> dict[str, str]:
    value = extras.get(name, {})
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise HepConfigError(
                name, f'is not valid JSON ({exc.msg}); use an object like {{"name": "value"}}'
            ) from exc
    if not isinstance(value, Mapping):
        raise HepConfigError(name, 'must be a JSON object like {"name": "value"}')
    bad = [
        k for k, v in value.items() if not isinstance(v, str | int | float) or isinstance(v, bool)
    ]
    if bad:
        raise HepConfigError(name, f"values must be strings; fix the entries {', '.join(bad)}")
    return {str(k): str(v) for k, v in value.items()}
