"""Wait for HEP state: poke an endpoint until a 2xx answer passes the check."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowFailException,
    BaseSensorOperator,
    PokeReturnValue,
)

from airflow_provider_hep import DEFAULT_CONN_ID
from airflow_provider_hep.checks import JsonCheck, Verdict, decode_body
from airflow_provider_hep.exceptions import HepApiError, HepConfigError, HepError
from airflow_provider_hep.operators.hep import (
    REQUEST_RENDERERS,
    REQUEST_TEMPLATE_FIELDS,
    check_headers,
    raise_for_hep_error,
    resolve_deferrable,
)

if TYPE_CHECKING:
    import requests
    from airflow.sdk import Context

    from airflow_provider_hep.triggers.hep import HepTrigger


class HepSensor(BaseSensorOperator):
    """Poke a HEP endpoint (a fresh token per poke) until a 2xx answer passes the check.

    Two kinds of check, both optional (without any, the first 2xx answer succeeds):

    - ``check``: declarative, ``{"path": "status", "equals": "done"}`` or
      ``{"path": "status", "in": ["done", "partial"], "fail_on": ["failed"]}``. It works in
      every mode, including deferrable, where the trigger evaluates it. A value in ``fail_on``
      fails the task at once. The value found at ``path`` is the task's return value.
    - ``response_check``: a callable that receives the ``requests.Response``; False means
      "not yet". It cannot travel to the triggerer, so it is refused with ``deferrable=True``.

    :param endpoint: path relative to the connection's API base URL (templated).
    :param method: HTTP method.
    :param query: URL query parameters (templated).
    :param json: JSON request body (templated).
    :param data: form fields (a dict) or a raw body (a string) (templated).
    :param headers: extra request headers (templated); Authorization is not allowed.
    :param check: the declarative check, see above.
    :param response_check: the callable check, see above.
    :param poke_on_404: keep poking while the endpoint answers 404 (the resource will appear).
        Otherwise a 404 fails the task.
    :param hep_conn_id: the ``sap_hep`` connection id (templated).
    :param deferrable: wait in the triggerer. None reads ``[operators] default_deferrable``;
        then a sensor with a callable ``response_check`` keeps poking on the worker.
    :param log_response: log each response body. Off by default: bodies can hold patient data.
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
        check: Mapping[str, Any] | None = None,
        response_check: Callable[[requests.Response], bool] | None = None,
        poke_on_404: bool = False,
        hep_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool | None = None,
        log_response: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if deferrable and response_check is not None:
            raise HepConfigError(
                "response_check",
                "a callable cannot travel to the triggerer, so deferrable=True would ignore it; "
                'pass a declarative check instead, e.g. check={"path": "status", '
                '"equals": "done"}, or set deferrable=False',
            )
        self.endpoint = endpoint
        self.method = method.upper()
        self.query = query
        self.json = json
        self.data = data
        self.headers = headers
        self.check = JsonCheck.from_spec(check).to_spec() if check is not None else None
        self.response_check = response_check
        self.poke_on_404 = poke_on_404
        self.hep_conn_id = hep_conn_id
        self.log_response = log_response
        # default_deferrable must not silently drop a callable check: keep such a sensor here.
        self._kept_on_worker = resolve_deferrable(deferrable) and response_check is not None
        self.deferrable = resolve_deferrable(deferrable) and response_check is None

    def execute(self, context: Context) -> Any:
        """Poke here (poke or reschedule mode), or wait in the triggerer."""
        check_headers(self.headers)
        if self._kept_on_worker:
            self.log.warning(
                "default_deferrable is on, but this sensor's response_check is a callable, which "
                "cannot travel to the triggerer: poking on the worker. Use check=... to defer."
            )
        if not self.deferrable:
            return super().execute(context)
        self.defer(
            trigger=self.build_trigger(),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def build_trigger(self) -> HepTrigger:
        """Return the trigger that polls in the triggerer, with the declarative check."""
        from airflow_provider_hep.triggers.hep import HepTrigger

        return HepTrigger(
            endpoint=self.endpoint,
            method=self.method,
            query=self.query,
            json=self.json,
            data=self.data,
            headers=self.headers,
            hep_conn_id=self.hep_conn_id,
            poll=True,
            check=self.check,
            poke_interval=self.poke_interval,
            poke_on_404=self.poke_on_404,
        )

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """Call the endpoint once; True (with the checked value) when the wait is over."""
        from airflow_provider_hep.hooks.hep import HepHook

        self.log.info("Poking HEP: %s %s", self.method, self.endpoint)
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
        except HepApiError as exc:
            if exc.status == 404 and self.poke_on_404:
                self.log.info("%s answered 404; poking again later.", exc.path)
                return False
            raise_for_hep_error(exc, method=self.method)
        except HepError as exc:
            raise_for_hep_error(exc, method=self.method)
        finally:
            hook.close()
        if self.log_response:
            self.log.info("Response body: %s", response.text)
        value = None
        if self.check is not None:
            check = JsonCheck.from_spec(self.check)
            result = check.evaluate(decode_body(response.content))
            if result.verdict is Verdict.FAILED:
                raise self.check_failed(result.value)
            if result.verdict is Verdict.PENDING:
                self.log.info("Not yet: %s.", check.describe())
                return False
            value = result.value
        if self.response_check is not None and not self.response_check(response):
            self.log.info("Not yet: response_check returned False.")
            return False
        return PokeReturnValue(is_done=True, xcom_value=value)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Turn the trigger's event into the same return value, or error, as poke mode."""
        from airflow_provider_hep.triggers.hep import error_from_event

        status = event["status"]
        if status == "success":
            self.log.info("Success criteria met after %d poll(s).", event["polls"])
            return event["value"]
        if status == "check_failed":
            raise self.check_failed(event["value"])
        raise_for_hep_error(
            error_from_event(event["error"]), poke_on_404=self.poke_on_404, method=self.method
        )

    def check_failed(self, value: Any) -> AirflowFailException:
        """Return the error for a value listed in the check's ``fail_on``."""
        assert self.check is not None
        return AirflowFailException(
            f"{self.check['path']} is {value!r}, one of the check's fail_on values "
            f"{self.check['fail_on']!r}: waiting longer cannot help."
        )
