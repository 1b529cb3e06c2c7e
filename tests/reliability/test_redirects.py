"""An API redirect to another host never carries the Authorization header there.

The sandbox answers ``GET /api/v1/redirect?to=<url>&code=<3xx>``; the target is a second
loopback server on another port (another origin) that records every request it receives.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from airflow_provider_hep.exceptions import HepApiError
from airflow_provider_hep.hooks.hep import HepAuth, HepHook
from airflow_provider_hep.hooks.hep_async import HepAsyncHook

pytestmark = pytest.mark.dags

CODES = [301, 302, 303, 307, 308]


class Capture(ThreadingHTTPServer):
    """Record the headers of every request; answer ``status`` (200) with a small JSON body."""

    daemon_threads = True

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []
        self.status = 200
        super().__init__(("127.0.0.1", 0), CaptureHandler)

    def url(self, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.server_port}/capture"


class CaptureHandler(BaseHTTPRequestHandler):
    server: Capture

    def _answer(self) -> None:
        self.server.seen.append({k.lower(): v for k, v in self.headers.items()})
        body = b'{"captured": true}'
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet."""


@pytest.fixture
def capture() -> Iterator[Capture]:
    server = Capture()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def sandbox(hep_sandbox_factory, monkeypatch):
    sb = hep_sandbox_factory(records=10, single_use_tokens=True)
    monkeypatch.setenv("AIRFLOW_CONN_SAP_HEP_DEFAULT", sb.conn_json())
    return sb


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
@pytest.mark.parametrize("code", CODES)
def test_the_hook_refuses_a_redirect_to_another_origin_before_sending_anything(
    sandbox, capture, code, host
):
    with pytest.raises(
        HepApiError,
        match=rf"HEP API answered {code} to GET /api/v1/redirect: refused a redirect to another "
        rf"host \({host}\): the access token must not leave the API host",
    ):
        HepHook().run("redirect", params={"to": capture.url(host), "code": str(code)})
    assert capture.seen == []
    assert sandbox.stats["tokens_issued"] == 1  # no token was fetched for the other host


@pytest.mark.parametrize("code", CODES)
def test_the_async_hook_refuses_a_redirect_to_another_origin(sandbox, capture, code):
    async def call() -> None:
        async with HepAsyncHook() as hook:
            await hook.run("redirect", params={"to": capture.url(), "code": str(code)})

    with pytest.raises(HepApiError, match=r"refused a redirect to another host \(127\.0\.0\.1\)"):
        asyncio.run(call())
    assert capture.seen == []


def redirected_with_hep_auth(sandbox, capture, code):
    """GET the sandbox's redirect to ``capture`` through a plain Session with auth=HepAuth()."""
    session = requests.Session()
    session.trust_env = False
    return session.get(
        f"{sandbox.base_url}/redirect",
        params={"to": capture.url(), "code": str(code)},
        auth=HepAuth(),
        timeout=10,
    )


@pytest.mark.parametrize("code", CODES)
def test_hep_auth_on_a_plain_requests_session_drops_the_token_on_a_cross_host_redirect(
    sandbox, capture, code
):
    # The stock HttpHook sends through a requests.Session with auth=HepAuth(...): requests
    # follows the redirect itself, and must strip the Authorization header for another host.
    answer = redirected_with_hep_auth(sandbox, capture, code)
    assert answer.status_code == 200
    assert answer.json() == {"captured": True}
    assert len(capture.seen) == 1
    assert "authorization" not in capture.seen[0]
    issued = set(sandbox.stats["tokens"])
    assert not any(token in json.dumps(capture.seen) for token in issued)


@pytest.mark.parametrize("code", CODES)
def test_hep_auth_never_replays_a_token_to_another_host_that_answers_401(sandbox, capture, code):
    # The foreign host answers 401: HepAuth's replay hook sees that response, and must not
    # answer it with a fresh token (the redirect left the API host).
    capture.status = 401
    answer = redirected_with_hep_auth(sandbox, capture, code)
    assert answer.status_code == 401
    assert len(capture.seen) == 1  # one request, no replay
    assert "authorization" not in capture.seen[0]
    issued = set(sandbox.stats["tokens"])
    assert len(issued) == 1  # the one the API host got; none fetched for the replay
    assert not any(token in json.dumps(capture.seen) for token in issued)


def test_hep_auth_refuses_a_request_to_another_host_before_fetching_a_token(sandbox, capture):
    session = requests.Session()
    session.trust_env = False
    with pytest.raises(HepApiError, match=r"only to the 'sap_hep_default' connection's API host"):
        session.get(capture.url(), auth=HepAuth(), timeout=10)
    assert capture.seen == []
    assert sandbox.stats["tokens"] == []


def test_a_redirect_back_to_the_api_host_is_followed_with_a_new_token(sandbox):
    target = f"{sandbox.base_url}/patients?$top=2"
    answer = HepHook().run("redirect", params={"to": target, "code": "302"})
    assert len(answer.json()["value"]) == 2
    stats = sandbox.stats
    assert stats["tokens_issued"] == stats["api_calls"] == 2
    assert stats["calls_per_token"]["max"] == 1
