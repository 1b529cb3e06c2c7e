"""Call the SAP Health for Patient Engagement (HEP) APIs with OAuth 2.0 client credentials."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from airflow_provider_hep import CONN_TYPE, DEFAULT_CONN_ID, HOOK_NAME
from airflow_provider_hep.auth import Token, basic_credentials
from airflow_provider_hep.config import HepConnectionConfig
from airflow_provider_hep.exceptions import (
    HepAuthError,
    HepConfigError,
    HepError,
    HepTransportError,
)
from airflow_provider_hep.retry import DEFAULT_MAX_RETRIES

if TYPE_CHECKING:
    import requests
    from airflow.sdk import Connection

    from airflow_provider_hep.hooks.hep_auth import HepAuth
    from airflow_provider_hep.hooks.transport import HepTransport

# requests (with urllib3 and charset_normalizer, ~30 ms) loads on the first call, not when a
# DAG file or the triggerer imports this module; HepAuth, a requests AuthBase, loads on access.
__all__ = ["HepAuth", "HepHook", "config_from_connection", "register_masks"]


def __getattr__(name: str) -> Any:
    """Load ``HepAuth`` and ``HepTransport`` (and so requests) only when they are used."""
    if name == "HepAuth":
        from airflow_provider_hep.hooks.hep_auth import HepAuth

        return HepAuth
    if name == "HepTransport":  # its home is hooks.transport; this older path still works
        from airflow_provider_hep.hooks.transport import HepTransport

        return HepTransport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


TEST_CONNECTION_TIMEOUT = 10.0


def config_from_connection(
    conn: Connection, extra: Mapping[str, Any] | None = None
) -> HepConnectionConfig:
    """Build the validated config of an Airflow connection (extra passed in by async callers)."""
    return HepConnectionConfig.from_values(
        host=conn.host,
        login=conn.login,
        password=conn.password,
        extra=extra if extra is not None else conn.extra_dejson,
        port=conn.port,
        schema=conn.schema,
    )


def register_masks(config: HepConnectionConfig) -> None:
    """Register the client secret and the Basic header value with Airflow's masker, once.

    Per-call tokens are deliberately NOT registered: the masker recompiles one regex over
    every secret on each addition, so thousands of tokens would cost seconds. Tokens stay out
    of output by construction instead (no header logging, Token's repr hides the value).
    """
    from airflow.providers.common.compat.sdk import mask_secret

    mask_secret(config.client_secret)
    mask_secret(basic_credentials(config.client_id, config.client_secret))


class HepHook(BaseHook):
    """Call HEP APIs with a fresh OAuth 2.0 token per call (or per task, if the connection says so).

    :param hep_conn_id: the ``sap_hep`` connection id.
    :param max_retries: retries after the first attempt of a request (default 5).
    :param idempotency_key: name of a header that makes POST/PATCH safe to retry, when HEP
        supports one. Only requests that carry that header are retried like GET.
    :param max_concurrency: the most threads that will call this hook at once; sizes the pool.
    :param max_requests_per_second: optional client-side rate limit over all of this hook's
        requests, token requests included. Use an Airflow pool to bound load across DAGs.
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
        max_concurrency: int = 1,
        max_requests_per_second: float | None = None,
    ) -> None:
        super().__init__()
        self.max_requests_per_second = max_requests_per_second
        self.hep_conn_id = hep_conn_id
        self.max_retries = max_retries
        self.idempotency_key = idempotency_key
        self.max_concurrency = max_concurrency
        self.config  # noqa: B018 - validate at creation: a bad connection fails here, clearly

    @cached_property
    def config(self) -> HepConnectionConfig:
        """Return the connection's validated config (parsed once per hook)."""
        config = config_from_connection(self.get_connection(self.hep_conn_id))
        register_masks(config)
        return config

    @cached_property
    def transport(self) -> HepTransport:
        """Return the I/O layer: keep-alive sessions, tokens, retries."""
        from airflow_provider_hep.hooks.transport import HepTransport

        return HepTransport(
            self.config,
            max_retries=self.max_retries,
            idempotency_key=self.idempotency_key,
            pool_size=max(10, self.max_concurrency + 2),
            max_requests_per_second=self.max_requests_per_second,
        )

    def get_conn(self) -> requests.Session:
        """Return this thread's keep-alive session (without credentials attached)."""
        return self.transport.session()

    def get_token(self) -> Token:
        """Return a token for the next call: new under per_call, reused under per_task."""
        return self.transport.token()

    def run(
        self,
        endpoint: str,
        *,
        method: str = "GET",
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Call ``endpoint`` (relative to the API base URL) and return the response.

        :raises HepApiError: for a non-2xx answer, with the status, method, URL path (no
            query values) and a short excerpt of the error body.
        :raises HepAuthError: when no token could be obtained.
        """
        url = self.transport.url_for(endpoint)
        return self.transport.request(
            method, url, params=params, json=json, data=data, headers=headers
        )

    def paginate(self, endpoint: str, **kwargs: Any) -> Iterator[list[Any]]:
        """Yield one list of records per page; see :mod:`airflow_provider_hep.hooks.paging`."""
        from airflow_provider_hep.hooks.paging import paginate

        return paginate(self, endpoint, **kwargs)

    def close(self) -> None:
        """Close the keep-alive sessions; tokens are dropped with them."""
        if "transport" in self.__dict__:
            self.transport.close()

    def test_connection(self) -> tuple[bool, str]:
        """Request one token, once, with a short timeout; report the outcome without secrets."""
        from airflow_provider_hep.hooks.transport import HepTransport

        try:
            config = self.config
            transport = HepTransport(config, max_retries=0)
            try:
                token = transport.fetch_token(timeout=TEST_CONNECTION_TIMEOUT, retries=0)
            finally:
                transport.close()
        except (HepConfigError, HepAuthError, HepTransportError) as exc:
            return False, str(exc)
        except HepError as exc:
            return False, f"{type(exc).__name__}: {exc}"
        lifetime = (
            f"expires in {token.expires_in} s"
            if token.expires_in is not None
            else ("no expiry given")
        )
        return (
            True,
            f"Token issued by {config.auth_url}: {lifetime}, scope {token.scope or '(default)'}",
        )

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabel and hide the standard fields (Airflow before 3.2 reads this method)."""
        from airflow_provider_hep import UI_FIELD_BEHAVIOUR

        return {
            "hidden_fields": UI_FIELD_BEHAVIOUR["hidden-fields"],
            "relabeling": UI_FIELD_BEHAVIOUR["relabeling"],
            "placeholders": UI_FIELD_BEHAVIOUR["placeholders"],
        }

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Declare the extra fields for Airflow before 3.2 (3.2+ reads ``conn-fields``)."""
        from airflow_provider_hep.hooks.form import legacy_form_widgets

        return legacy_form_widgets()
