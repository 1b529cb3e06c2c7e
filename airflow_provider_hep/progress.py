"""Log a sync's progress at most every N seconds, and a one-line summary at the end.

Only counts and rates: record contents are patient data and never reach a log.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger("airflow_provider_hep.sync")


class Progress:
    """Track pages and records of one sync and log them periodically.

    :param label: what is being synced (the endpoint).
    :param every_seconds: the least time between two progress lines.
    """

    def __init__(self, label: str, *, every_seconds: float = 30.0) -> None:
        self.label = label
        self.every = every_seconds
        self.started = time.monotonic()
        self.last_log = self.started
        self.pages = 0
        self.records = 0

    def page(self, records: int, retries: int, total: int | None) -> None:
        """Count one page; log when the interval has passed."""
        self.pages += 1
        self.records += records
        now = time.monotonic()
        if now - self.last_log < self.every:
            return
        self.last_log = now
        rate = self.records / max(now - self.started, 1e-9)
        eta = ""
        if total is not None and rate > 0 and total >= self.records:
            eta = f", ETA {(total - self.records) / rate:.0f} s"
        log.info(
            "%s: %d pages, %d records, %.0f records/s, %d retries%s",
            self.label,
            self.pages,
            self.records,
            rate,
            retries,
            eta,
        )

    def done(self, written: int, retries: int) -> None:
        """Log the one-line summary."""
        seconds = time.monotonic() - self.started
        log.info(
            "%s: synced %d records in %d pages in %.1f s (%.0f records/s, %d retries)",
            self.label,
            written,
            self.pages,
            seconds,
            written / max(seconds, 1e-9),
            retries,
        )
