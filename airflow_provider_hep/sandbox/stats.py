"""Count what the sandbox saw, thread-safely, and hand out JSON-ready snapshots."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class Stats:
    """Collect request, token, fault and write counters.

    ``api_calls`` counts API calls presenting any bearer token (also those then answered by an
    injected 429/5xx), ``api_calls_ok`` those whose token was accepted, ``auth_failures`` the
    API calls answered 401 (including calls without a token).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Zero every counter."""
        with self._lock:
            self._counts: Counter[str] = Counter()
            self._tokens: list[str] = []
            self._uses: Counter[str] = Counter()
            self._faults: Counter[str] = Counter()
            self._paths: Counter[str] = Counter()
            self._statuses: Counter[str] = Counter()
            self._form_keys: list[str] = []

    def bump(self, name: str, amount: int = 1) -> None:
        """Increase a named counter."""
        with self._lock:
            self._counts[name] += amount

    def token_form(self, form_keys: list[str]) -> None:
        """Remember the form parameter names of the latest token request."""
        with self._lock:
            self._form_keys = sorted(form_keys)

    def token_issued(self, token: str) -> None:
        """Record an issued access token."""
        with self._lock:
            self._counts["tokens_issued"] += 1
            self._tokens.append(token)

    def token_used(self, token: str) -> None:
        """Record an accepted API call made with ``token``."""
        with self._lock:
            self._uses[token] += 1
            self._counts["api_calls_ok"] += 1

    def fault(self, kind: str) -> None:
        """Record an injected fault."""
        with self._lock:
            self._faults[kind] += 1

    def request(self, path: str, status: int) -> None:
        """Record a request path and the status answered."""
        with self._lock:
            self._paths[path] += 1
            self._statuses[str(status)] += 1

    def snapshot(self) -> dict[str, Any]:
        """Return a JSON-serializable copy of every counter."""
        with self._lock:
            uses = self._uses.values()
            return {
                "token_requests": self._counts["token_requests"],
                "tokens_issued": self._counts["tokens_issued"],
                "tokens": list(self._tokens),
                "api_calls": self._counts["api_calls"],
                "api_calls_ok": self._counts["api_calls_ok"],
                "auth_failures": self._counts["auth_failures"],
                "calls_per_token": {
                    "max": max(uses, default=0),
                    "tokens_used": len(self._uses),
                    "tokens_reused": sum(1 for n in uses if n > 1),
                },
                "faults_injected": dict(self._faults),
                "writes_applied": self._counts["writes_applied"],
                "requests_by_path": dict(self._paths),
                "responses_by_status": dict(self._statuses),
                "last_token_form_keys": list(self._form_keys),
            }
