"""The arms of ``bench_sync.py``: one sync of a window to local JSON Lines, timed, per arm.

Every arm sends the same requests to the same sandbox: a new token (POST to the token endpoint)
before every page GET, the window as an OData ``$filter``, ``$count=true`` (as HepSyncOperator
asks), and the server's ``@odata.nextLink`` for the next page. Every arm parses each page and
writes one compact JSON line per record to local files. An arm returns the records it wrote;
the caller times it and checks the count and the sandbox's token counters.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from airflow_provider_hep.window import split_window, window_filter

ENDPOINT = "patients"
HTTP_CONN_ID = "hep_bench_http"
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass(frozen=True)
class Target:
    """Where and what every arm syncs."""

    base_url: str
    token_url: str
    client_id: str
    client_secret: str
    window: tuple[str, str]
    out: Path

    def params(self, window: tuple[Any, Any] | None = None) -> dict[str, str]:
        """Return the first page's query: the window filter and ``$count=true``."""
        start, end = window or self.window
        return {"$filter": window_filter("lastModified", start, end), "$count": "true"}


def write_lines(handle: Any, records: list[Any]) -> None:
    """Write records as JSON Lines, encoded as PartWriter does (one write per page)."""
    if records:
        handle.write(("\n".join(map(_encode, records)) + "\n").encode("utf-8"))


# --- 1. provider ---------------------------------------------------------------------------


def prepare_provider(target: Target, concurrency: int) -> Callable[[], int]:
    """Return a run of HepHook.paginate into PartWriter parts, as HepSyncOperator does."""
    from airflow_provider_hep.hooks.hep import HepHook
    from airflow_provider_hep.parts import PartWriter

    hook = HepHook(max_concurrency=concurrency)
    hook.transport  # noqa: B018 - setup outside the timed part: config, masks, transport

    def run() -> int:
        writer = PartWriter(target.out, format="jsonl")
        try:
            pages = hook.paginate(
                ENDPOINT,
                pagination="odata",
                params={"$count": "true"},
                window=target.window,
                max_concurrency=concurrency,
            )
            for records in pages:
                writer.write(records)
        finally:
            parts = writer.close()
            hook.close()
        return sum(part.records for part in parts)

    return run


# --- 2. stock HttpHook ---------------------------------------------------------------------


def prepare_stock(target: Target, concurrency: int) -> Callable[[], int]:
    """Return a run of the stock HttpHook with a hand-written token request per page."""
    from airflow.providers.http.hooks.http import HttpHook

    assert concurrency == 1, "the stock arm is sequential"
    hook = HttpHook(method="GET", http_conn_id=HTTP_CONN_ID)

    def token() -> str:
        answer = requests.post(
            target.token_url,
            data={"grant_type": "client_credentials"},
            auth=(target.client_id, target.client_secret),
            timeout=30,
        )
        answer.raise_for_status()
        return str(answer.json()["access_token"])

    def run() -> int:
        endpoint: str | None = ENDPOINT
        data: dict[str, str] | None = target.params()
        written = 0
        with (target.out / "stock.jsonl").open("wb") as handle:
            while endpoint:
                response = hook.run(
                    endpoint, data=data, headers={"Authorization": f"Bearer {token()}"}
                )
                page = response.json()
                write_lines(handle, page["value"])
                written += len(page["value"])
                link = page.get("@odata.nextLink")
                endpoint = link.removeprefix(target.base_url) if link else None
                data = None
        return written

    return run


# --- 3. dlt RESTClient ---------------------------------------------------------------------


def dlt_available() -> bool:
    """Tell whether dlt (the benchmark extra) is installed."""
    import importlib.util

    return importlib.util.find_spec("dlt") is not None


def prepare_dlt(target: Target, concurrency: int) -> Callable[[], int]:
    """Return a run of dlt's RESTClient (extract) plus our JSONL write, token per call."""
    from dlt.sources.helpers.rest_client import RESTClient
    from dlt.sources.helpers.rest_client.auth import OAuth2ClientCredentials
    from dlt.sources.helpers.rest_client.paginators import JSONLinkPaginator

    class PerCallCredentials(OAuth2ClientCredentials):
        """Take a new token for every request (dlt's documented extension point)."""

        def is_token_expired(self) -> bool:
            return True

    local = threading.local()

    def client() -> RESTClient:  # one per thread, made on first use (as its session)
        if not hasattr(local, "client"):
            auth = PerCallCredentials(
                access_token_url=target.token_url,
                client_id=target.client_id,
                client_secret=target.client_secret,
            )
            local.client = RESTClient(
                base_url=target.base_url,
                auth=auth,
                paginator=JSONLinkPaginator(next_url_path="['@odata.nextLink']"),
                data_selector="value",
            )
        return local.client  # type: ignore[no-any-return]

    def walk(params: dict[str, str], path: Path) -> int:
        written = 0
        with path.open("wb") as handle:
            for page in client().paginate(ENDPOINT, params=params):
                write_lines(handle, list(page))
                written += len(page)
        return written

    return _sliced(target, concurrency, walk)


# --- 4. limit: bare requests.Session -------------------------------------------------------


def prepare_limit(target: Target, concurrency: int) -> Callable[[], int]:
    """Return a run of bare requests.Session loops: token POST + page GET per page."""
    local = threading.local()

    def session() -> requests.Session:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.trust_env = False  # as HepTransport: no per-request env/proxy scan
        return local.session  # type: ignore[no-any-return]

    def walk(params: dict[str, str], path: Path) -> int:
        http, url, query = session(), f"{target.base_url}/{ENDPOINT}", params
        auth = (target.client_id, target.client_secret)
        written = 0
        with path.open("wb") as handle:
            while url:
                token = http.post(
                    target.token_url, data={"grant_type": "client_credentials"}, auth=auth,
                    timeout=30,
                )  # fmt: skip
                token.raise_for_status()
                bearer = f"Bearer {json.loads(token.content)['access_token']}"
                answer = http.get(url, params=query, headers={"Authorization": bearer}, timeout=30)
                answer.raise_for_status()
                page = json.loads(answer.content)
                write_lines(handle, page["value"])
                written += len(page["value"])
                url, query = page.get("@odata.nextLink"), None
        return written

    return _sliced(target, concurrency, walk)


def _sliced(
    target: Target, concurrency: int, walk: Callable[[dict[str, str], Path], int]
) -> Callable[[], int]:
    """Run ``walk`` over the window, or over its slices in a pool (one file per slice)."""
    from airflow_provider_hep.hooks.paging import SLICES_PER_WORKER

    def run() -> int:
        if concurrency <= 1:
            return walk(target.params(), target.out / "all.jsonl")
        pieces = split_window(*target.window, concurrency * SLICES_PER_WORKER)
        with ThreadPoolExecutor(concurrency) as pool:
            futures = [
                pool.submit(walk, target.params(piece), target.out / f"slice-{index:04d}.jsonl")
                for index, piece in enumerate(pieces)
            ]
            return sum(future.result() for future in futures)

    return run


ARMS: dict[str, Callable[[Target, int], Callable[[], int]]] = {
    "provider": prepare_provider,
    "stock": prepare_stock,
    "dlt": prepare_dlt,
    "limit": prepare_limit,
}
