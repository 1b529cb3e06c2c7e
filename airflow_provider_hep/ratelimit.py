"""Space requests evenly to stay under a client-side rate (sans-IO, thread-safe)."""

from __future__ import annotations

import threading


class RateLimiter:
    """Reserve send times no closer than ``1 / per_second`` apart, across threads.

    Token requests count too: under HEP's token-per-call rule a call costs two requests.

    :param per_second: the most requests per second.
    """

    def __init__(self, per_second: float) -> None:
        if per_second <= 0:
            raise ValueError("max_requests_per_second must be greater than 0")
        self.interval = 1.0 / per_second
        self._next = 0.0
        self._lock = threading.Lock()

    def reserve(self, now: float) -> float:
        """Reserve the next slot and return how long to wait before sending (seconds)."""
        with self._lock:
            slot = max(now, self._next)
            self._next = slot + self.interval
        return slot - now
