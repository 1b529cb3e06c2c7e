"""Decide where a request may go: the API host only (sans-IO, shared by both hooks).

A bearer token must reach nothing but the connection's own API host: an absolute endpoint, a
redirect or a next-page link to any other origin is refused before anything is sent there.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from airflow_provider_hep.config import origin_of
from airflow_provider_hep.exceptions import HepApiError

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5


def endpoint_url(base_url: str, endpoint: str) -> str:
    """Resolve ``endpoint`` against the API base URL; refuse an absolute URL of another host."""
    if "://" in endpoint:
        url = endpoint
    elif endpoint:
        url = f"{base_url}/{endpoint.lstrip('/')}"
    else:
        url = base_url
    if origin_of(url) != origin_of(base_url):
        raise HepApiError(0, "-", urlsplit(url).path, "refused: not the connection's API host")
    return url


def redirect_target(url: str, location: str, *, status: int, method: str, redirects: int) -> str:
    """Return where a redirect leads, if it stays on the same origin (RFC 9110 §15.4).

    :param redirects: how many redirects this request has followed, this one included.
    """
    target = urljoin(url, location)
    if origin_of(target) != origin_of(url):
        raise HepApiError(
            status,
            method,
            urlsplit(url).path,
            f"refused a redirect to another host ({urlsplit(target).hostname}): "
            "the access token must not leave the API host",
        )
    if redirects > MAX_REDIRECTS:
        raise HepApiError(status, method, urlsplit(url).path, "too many redirects")
    return target
