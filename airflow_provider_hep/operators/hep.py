"""Run one HEP API call as a task: templated, checked, filtered, its result in XCom."""

from __future__ import annotations

import json as jsonlib
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.providers.common.compat.sdk import AirflowFailException, BaseOperator, conf

from airflow_provider_hep import DEFAULT_CONN_ID
from airflow_provider_hep.checks import decode_body
from airflow_provider_hep.exceptions import HepApiError, HepAuthError, HepConfigError, HepError
from airflow_provider_hep.sealing import unseal

if TYPE_CHECKING:
    import requests
    from airflow.sdk import Context

    from airflow_provider_hep.triggers.hep import HepTrigger

# requests, httpx and the trigger are imported when a task runs, not when a DAG file is parsed.

# XCom lives in the metadata DB: refuse return values above this (JSON-serialized) size.
MAX_XCOM_BYTES = 1024 * 1024
# RFC 6749 §5.2: the client itself is rejected; no retry can change that.
FINAL_AUTH_ERRORS = frozenset({"invalid_client", "unauthorized_client"})
REQUEST_TEMPLATE_FIELDS = ("endpoint", "query", "json", "data", "headers", "hep_conn_id")
REQUEST_RENDERERS = {"query": "json", "json": "json", "headers": "json"}


def resolve_deferrable(deferrable: bool | None) -> bool:
    """Return ``deferrable``, or ``[operators] default_deferrable`` when it is None."""
    if deferrable is None:
        return bool(conf.getboolean("operators", "default_deferrable", fallback=False))
    return deferrable


def final_failure(
    exc: HepError, *, poke_on_404: bool = False, method: str = "GET"
) -> AirflowFailException | None:
    """Return an ``AirflowFailException`` when retrying the task cannot fix ``exc``, else None.

    Final: a rejected client (``invalid_client``, ``unauthorized_client``), 403, 404 (unless
    a sensor waits for the resource to appear), and a POST or PATCH that HEP may have applied
    although it failed (its answer was lost after sending, or it got a 500, 502 or 504): a
    task retry would apply it twice.
    Everything else may be transient.
    """
    if isinstance(exc, HepAuthError) and exc.error in FINAL_AUTH_ERRORS:
        hint = "check the connection's Client ID and Client Secret"
    elif isinstance(exc, HepApiError) and exc.status == 403:
        hint = "the client lacks the scope or permission for this call"
    elif isinstance(exc, HepApiError) and exc.status == 404 and not poke_on_404:
        hint = "the endpoint or resource does not exist"
    elif _maybe_applied(exc, method):
        hint = (
            "the request reached HEP and may have been applied although it failed; check "
            "before running it again"
        )
    else:
        return None
    return AirflowFailException(f"{exc} - retrying cannot fix this ({hint}), so no retries.")


MAYBE_APPLIED_STATUSES = frozenset({500, 502, 504})


def _maybe_applied(exc: HepError, method: str) -> bool:
    """Tell whether a non-idempotent request may have been processed although it failed."""
    from airflow_provider_hep.exceptions import HepTransportError
    from airflow_provider_hep.retry import IDEMPOTENT_METHODS, Failure

    if method.upper() in IDEMPOTENT_METHODS:
        return False
    if isinstance(exc, HepTransportError):
        return exc.failure in (Failure.READ_TIMEOUT, Failure.BROKEN)
    # An error or a gateway's "no answer in time" after the request was sent: HEP may have
    # applied it. (429, and 503 with Retry-After, mean it was not; the hook retries those.)
    return isinstance(exc, HepApiError) and exc.status in MAYBE_APPLIED_STATUSES


def raise_for_hep_error(
    exc: HepError, *, poke_on_404: bool = False, method: str = "GET"
) -> NoReturn:
    """Raise ``exc`` as an ``AirflowFailException`` when final, else as itself."""
    failure = final_failure(exc, poke_on_404=poke_on_404, method=method)
    if failure is not None:
        raise failure from exc
    raise exc


def check_headers(headers: Mapping[str, Any] | None) -> None:
    """Refuse an Authorization header: the hook sends a fresh HEP token with every call."""
    if headers and any(str(name).lower() == "authorization" for name in headers):
        raise HepConfigError(
            "headers", "must not set Authorization; the hook sends a fresh HEP token per call"
        )


def response_from_event(payload: Mapping[str, Any]) -> requests.Response:
    """Rebuild the ``requests.Response`` a trigger described, so callables see one type."""
    import requests
    from requests.structures import CaseInsensitiveDict

    response = requests.Response()
    response.status_code = payload["status_code"]
    response.headers = CaseInsensitiveDict(payload["headers"])
    response._content = unseal(payload["sealed_text"]).encode("utf-8")
    response.encoding = "utf-8"
    response.url = payload["url"]
    return response


class HepOperator(BaseOperator):
    """Call a HEP API endpoint as a task and return the decoded answer (pushed to XCom).

    Every call gets a fresh OAuth 2.0 token. The return value is the decoded JSON body, the
    text when the body is not JSON, None when it is empty, or ``response_filter``'s result.
    XCom is stored in the metadata DB: for patient data, return only what downstream tasks
    need with ``response_filter``, or use ``HepSyncOperator`` to write to object storage.

    :param endpoint: path relative to the connection's API base URL (templated).
    :param method: HTTP method.
    :param query: URL query parameters (templated). Not ``params``: BaseOperator reserves it.
    :param json: JSON request body (templated).
    :param data: form fields (a dict) or a raw body (a string) (templated).
    :param headers: extra request headers (templated); Authorization is not allowed.
    :param response_check: called with the ``requests.Response``; returning False fails the
        task without retries.
    :param response_filter: called with the ``requests.Response``; its result is returned.
    :param hep_conn_id: the ``sap_hep`` connection id (templated).
    :param deferrable: make the call in the triggerer, freeing the worker slot while it waits
        (including retry waits). None reads ``[operators] default_deferrable``.
    :param log_response: log the response body. Off by default: bodies can hold patient data.
    """

    template_fields: Sequence[str] = REQUEST_TEMPLATE_FIELDS
    template_fields_renderers = REQUEST_RENDERERS
    ui_color = "#d9ecfc"

    def __init__(
        self,
        *,
        endpoint: str,
        method: str = "GET",
        query: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        response_check: Callable[[requests.Response], bool] | None = None,
        response_filter: Callable[[requests.Response], Any] | None = None,
        hep_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool | None = None,
        log_response: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.endpoint = endpoint
        self.method = method.upper()
        self.query = query
        self.json = json
        self.data = data
        self.headers = headers
        self.response_check = response_check
        self.response_filter = response_filter
        self.hep_conn_id = hep_conn_id
        self.deferrable = resolve_deferrable(deferrable)
        self.log_response = log_response

    def execute(self, context: Context) -> Any:
        """Call the endpoint here, or defer the call to the triggerer."""
        from airflow_provider_hep.hooks.hep import HepHook

        check_headers(self.headers)
        if self.deferrable:
            self.defer(trigger=self.build_trigger(), method_name="execute_complete")
        self.log.info("Calling HEP: %s %s", self.method, self.endpoint)
        hook = HepHook(self.hep_conn_id)
        try:
            response = hook.run(
                self.endpoint,
                method=self.method,
                params=self.query,
                json=self.json,
                data=self.data,
                headers=self.headers,
            )
        except HepError as exc:
            raise_for_hep_error(exc, method=self.method)
        finally:
            hook.close()
        return self.process_response(response)

    def build_trigger(self) -> HepTrigger:
        """Return the trigger that makes this call in the triggerer."""
        from airflow_provider_hep.triggers.hep import HepTrigger

        return HepTrigger(
            endpoint=self.endpoint,
            method=self.method,
            query=self.query,
            json=self.json,
            data=self.data,
            headers=self.headers,
            hep_conn_id=self.hep_conn_id,
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Turn the trigger's event into the same return value, or error, as sync mode."""
        from airflow_provider_hep.triggers.hep import MAX_EVENT_BODY_BYTES, error_from_event

        if event["status"] == "success":
            return self.process_response(response_from_event(event["response"]))
        error = event["error"]
        if error["type"] == "too_large":
            raise AirflowFailException(
                f"The response body is {error['size']} bytes, more than a trigger event may carry "
                f"({MAX_EVENT_BODY_BYTES} bytes). Run the call without deferrable=True and a "
                "response_filter, or use HepSyncOperator to write the data to object storage."
            )
        raise_for_hep_error(error_from_event(error), method=self.method)

    def process_response(self, response: requests.Response) -> Any:
        """Log (when asked), check and filter the response; return the value for XCom."""
        self.log.info("HEP answered %d (%d bytes).", response.status_code, len(response.content))
        if self.log_response:
            self.log.info("Response body: %s", response.text)
        if self.response_check is not None and not self.response_check(response):
            raise AirflowFailException(
                f"response_check returned False for the {response.status_code} answer to "
                f"{self.method} {self.endpoint}"
            )
        if self.response_filter is not None:
            value = self.response_filter(response)
        else:
            value = decode_body(response.content)
        if self.do_xcom_push:
            check_xcom_size(value)
        return value


def check_xcom_size(value: Any) -> None:
    """Fail the task when ``value`` would be too large for XCom in the metadata DB."""
    size = len(jsonlib.dumps(value, default=str).encode("utf-8"))
    if size > MAX_XCOM_BYTES:
        raise AirflowFailException(
            f"The return value is {size} bytes of JSON, more than the {MAX_XCOM_BYTES}-byte XCom "
            "limit (XCom lives in the metadata DB). Return only what downstream tasks need with "
            "response_filter, or use HepSyncOperator to write the data to object storage."
        )
