"""Define the provider's error hierarchy: every error it raises is a ``HepError``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_hep.retry import Failure


class HepError(Exception):
    """Base class of every error raised by the provider."""


class HepConfigError(HepError, ValueError):
    """Reject a connection or argument value; the message names the field and the fix."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class HepAuthError(HepError):
    """Report a failed token request (RFC 6749 §5.2 error, bad answer or transport failure)."""

    def __init__(
        self,
        message: str,
        *,
        error: str | None = None,
        description: str | None = None,
        status: int | None = None,
    ) -> None:
        self.error = error
        self.description = description
        self.status = status
        super().__init__(message)

    @property
    def retryable(self) -> bool:
        """Tell whether retrying could help: only server-side (5xx) or transport failures."""
        return self.status is None or self.status >= 500


class HepApiError(HepError):
    """Report a non-2xx answer from the HEP API, with a short excerpt of the error body."""

    def __init__(self, status: int, method: str, path: str, excerpt: str = "") -> None:
        self.status = status
        self.method = method
        self.path = path
        self.excerpt = excerpt
        detail = f": {excerpt}" if excerpt else ""
        super().__init__(f"HEP API answered {status} to {method} {path}{detail}")


class HepPaginationError(HepError):
    """Report an unsafe or malformed page: a loop, a foreign-host link, a bad body."""


class HepTransportError(HepError):
    """Report a request that got no HTTP answer: unreachable, timed out, reset or TLS failure."""

    def __init__(self, message: str, failure: Failure | None = None) -> None:
        self.failure = failure
        super().__init__(message)


class HepCommitError(HepError):
    """Report a sync attempt that may not commit: another one committed, or its parts are gone."""
