"""Share sandbox fixtures: the plugin's own fixtures plus small HTTP helpers.

A non-root conftest may not set ``pytest_plugins``, so the plugin's fixtures are imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from airflow_provider_hep.sandbox import HepSandbox, pytest_plugin

# The plugin's fixtures, registered for this folder.
hep_sandbox_factory = pytest_plugin.hep_sandbox_factory
hep_sandbox = pytest_plugin.hep_sandbox
hep_connection = pytest_plugin.hep_connection

TIMEOUT = 10


def fetch_token(sb: HepSandbox, **form: str) -> str:
    """Get an access token with client_secret_post."""
    data = {
        "grant_type": "client_credentials",
        "client_id": sb.client_id,
        "client_secret": sb.client_secret,
        **form,
    }
    answer = requests.post(sb.token_url, data=data, timeout=TIMEOUT, verify=sb.ca_bundle or True)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def authed_session(sb: HepSandbox) -> requests.Session:
    """Return a session carrying a fresh bearer token (and the sandbox CA when TLS)."""
    session = requests.Session()
    session.trust_env = False
    session.headers["Authorization"] = f"Bearer {fetch_token(sb)}"
    if sb.ca_bundle:
        session.verify = sb.ca_bundle
    return session


@pytest.fixture
def token() -> Callable[..., str]:
    """Return a function that fetches a token from a sandbox."""
    return fetch_token


@pytest.fixture
def session_for() -> Callable[[HepSandbox], requests.Session]:
    """Return a function that builds an authenticated session for a sandbox."""
    return authed_session


@pytest.fixture
def api(hep_sandbox: HepSandbox) -> requests.Session:
    """Return an authenticated session for the default sandbox."""
    return authed_session(hep_sandbox)


def _records_of(style: str, answer: requests.Response) -> tuple[list[dict[str, Any]], Any]:
    body = answer.json()
    if style == "odata":
        return body["value"], body.get("@odata.nextLink")
    if style == "odata_v2":
        return body["d"]["results"], body["d"].get("__next")
    if style == "link_header":
        return body, answer.links.get("next", {}).get("url")
    if style == "cursor":
        return body["data"], body["next_cursor"]
    if style == "fhir":
        nxt = [link["url"] for link in body["link"] if link["relation"] == "next"]
        return [entry["resource"] for entry in body["entry"]], nxt[0] if nxt else None
    raise AssertionError(f"no follower for style {style}")


def follow_pages(
    session: requests.Session, first_url: str, style: str = "odata", max_pages: int = 200
) -> tuple[list[dict[str, Any]], list[str]]:
    """Follow next links (or cursors) from ``first_url``; return records and URLs fetched."""
    records: list[dict[str, Any]] = []
    urls = [first_url]
    url: str | None = first_url
    for _ in range(max_pages):
        assert url is not None
        answer = session.get(url, timeout=TIMEOUT)
        assert answer.status_code == 200, answer.text
        page, nxt = _records_of(style, answer)
        records.extend(page)
        if not nxt:
            return records, urls
        if style == "cursor":
            nxt = requests.Request("GET", first_url, params={"cursor": nxt}).prepare().url
        url = requests.compat.urljoin(url, nxt)
        urls.append(url)
    raise AssertionError(f"more than {max_pages} pages")


@pytest.fixture
def follow() -> Callable[..., tuple[list[dict[str, Any]], list[str]]]:
    """Return the page follower."""
    return follow_pages
