"""Give the stock ``HttpOperator``/``HttpSensor`` a fresh HEP token per request.

Import it as ``airflow_provider_hep.hooks.hep.HepAuth``. It lives in its own module so that
importing ``HepHook`` (and the triggerer's hooks) does not import ``requests`` at parse time.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase

from airflow_provider_hep import DEFAULT_CONN_ID
from airflow_provider_hep.config import origin_of
from airflow_provider_hep.exceptions import HepApiError, HepConfigError
from airflow_provider_hep.hooks.hep import HepHook


class HepAuth(AuthBase):
    """Give the stock ``HttpHook``/``HttpOperator``/``HttpSensor`` a fresh HEP token per request.

    Use it as the operator's ``auth_type``: ``HttpOperator(..., auth_type=HepAuth)`` for the
    default connection, or ``auth_type=HepAuth.for_connection("my_hep")``. The HTTP
    connection then needs only the API host; the credentials come from the ``sap_hep``
    connection, and no ``sap_hep`` setting is ever sent as a header.

    ``HttpHook`` calls ``auth_type(login, password)`` when its HTTP connection has a login;
    those two values are ignored.

    A token goes only to the ``sap_hep`` connection's API host (scheme, host and port of its
    base URL): a request to any other origin is refused before a token is fetched, and the 401
    replay never answers a response that came from another origin (after a redirect, requests
    itself strips the header it had).

    :param hep_conn_id: the ``sap_hep`` connection id (keyword only).
    """

    def __init__(self, *http_credentials: Any, hep_conn_id: str = DEFAULT_CONN_ID) -> None:
        if len(http_credentials) not in (0, 2):
            raise HepConfigError(
                "hep_conn_id", "pass the connection id as HepAuth(hep_conn_id='...')"
            )
        self.hep_conn_id = hep_conn_id
        self._hook: HepHook | None = None

    @classmethod
    def for_connection(cls, hep_conn_id: str) -> Any:
        """Return an ``auth_type`` factory bound to ``hep_conn_id``."""

        def factory(*http_credentials: Any) -> HepAuth:
            return cls(*http_credentials, hep_conn_id=hep_conn_id)

        return factory

    @property
    def hook(self) -> HepHook:
        """Return the HEP hook, created on first use."""
        if self._hook is None:
            self._hook = HepHook(self.hep_conn_id)
        return self._hook

    @property
    def api_origin(self) -> str:
        """Return the origin that HEP tokens may go to: the ``sap_hep`` connection's API host."""
        return origin_of(self.hook.config.base_url)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        url = request.url or ""
        if origin_of(url) != self.api_origin:
            raise HepApiError(
                0,
                request.method or "-",
                urlsplit(url).path,
                f"refused: HepAuth sends HEP tokens only to the {self.hep_conn_id!r} connection's "
                f"API host ({self.api_origin}), not to {origin_of(url)}. Set the HTTP "
                "connection's host (and schema, port) to the HEP API base URL.",
            )
        request.headers["Authorization"] = self.hook.get_token().authorization
        request.register_hook("response", self._replay_on_401)  # type: ignore[no-untyped-call]
        return request

    def _replay_on_401(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        """Replay a request once with a new token after a 401 (RFC 6750 §3.1)."""
        if response.status_code != 401 or getattr(response.request, "_hep_replayed", False):
            return response
        if origin_of(response.request.url or "") != self.api_origin:
            return response  # a redirect led elsewhere: that host never gets a token
        self.hook.transport.policy.invalidate()
        retry = response.request.copy()
        retry.headers["Authorization"] = self.hook.get_token().authorization
        retry._hep_replayed = True  # type: ignore[attr-defined]
        response.content  # noqa: B018 - drain the body so the connection can be reused
        response.close()
        new_response = response.connection.send(retry, **kwargs)
        new_response.history.append(response)
        new_response.request = retry
        return new_response
