"""Sync one HEP collection's changes in a data interval to object storage, exactly once."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_hep import DEFAULT_CONN_ID
from airflow_provider_hep.manifest import (
    MANIFEST_VERSION,
    RUNS,
    check_commit,
    remove_superseded,
    remove_tree,
    run_prefix_name,
    start_attempt,
    write_manifest,
)
from airflow_provider_hep.parts import FORMATS, PartWriter
from airflow_provider_hep.progress import Progress
from airflow_provider_hep.window import convert_odata_v2_dates, format_odata_datetime

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_hep.hooks.paging import FetchedPage

log = logging.getLogger(__name__)
COUNT_CHECKS = ("fail", "warn", "off")


def collection_asset_uri(hep_conn_id: str, endpoint: str) -> str:
    """Return the Asset URI of a collection: ``hep://<conn id>/<endpoint>``."""
    return f"hep://{hep_conn_id.replace('_', '-')}/{endpoint.strip('/')}"


class HepSyncOperator(BaseOperator):
    """Sync the records of a HEP collection changed in the run's data interval.

    Pages the collection by the server's next links (or keyset), writes JSON Lines parts under
    a run-specific prefix of ``destination`` as pages arrive, then commits by writing
    ``_manifest.json`` as one object and removes superseded runs' parts. A failed run
    commits nothing and leaves the previous output as it was. Returns the manifest.

    :param endpoint: the collection, relative to the API base URL (e.g. ``patients``).
    :param destination: an ``ObjectStoragePath`` URI (or local path) for this interval, e.g.
        ``s3://lake/hep/patients/start={{ data_interval_start | ts_nodash }}``. Partition by
        interval, not by ``{{ ds }}``, which an hourly DAG would overwrite every hour.
    :param destination_conn_id: Airflow connection for the object store's credentials.
    :param pagination: ``odata`` (default), ``odata_v2``, ``link_header``, ``cursor``,
        ``page``, ``keyset``, ``fhir``, ``offset`` (immutable collections only), or a strategy.
    :param query: extra URL query parameters (e.g. ``{"$select": "id,lastModified"}``); a
        ``$filter`` here is ANDed with the window.
    :param records_path: dotted path of the records in each page, when not the default.
    :param window_field: the field the window filters on (default ``lastModified``).
    :param lookback: widen the window's start by this much, for records that arrive late: a
        ``timedelta``, or seconds (a number, or a template that renders to one).
    :param format: ``jsonl`` or ``jsonl.gz``.
    :param max_concurrency: slices of the window fetched in parallel (1 = sequential).
    :param max_pages: cap on pages per slice, a safety net against runaway paging: a slice
        that needs more fails the task and nothing is committed (never a partial window).
    :param primary_key: drop later duplicates of this field within the window.
    :param part_records: the most records in one part file.
    :param count_check: ``warn`` (default), ``fail`` or ``off`` when the API's reported total
        differs from the records received. Records modified while the sync runs leave a past
        window, so live collections legitimately come up short; ``fail`` suits frozen data.
    :param progress_seconds: log progress at most this often.
    :param max_requests_per_second: client-side rate limit, token requests included.
    :param hep_conn_id: the ``sap_hep`` connection.
    """

    template_fields: Sequence[str] = (
        "endpoint",
        "destination",
        "destination_conn_id",
        "pagination",
        "query",
        "records_path",
        "window_field",
        "lookback",
        "format",
        "max_concurrency",
        "max_pages",
        "primary_key",
        "hep_conn_id",
    )
    template_fields_renderers = {"query": "json"}
    ui_color = "#e8f4fc"

    def __init__(
        self,
        *,
        endpoint: str,
        destination: str,
        destination_conn_id: str | None = None,
        pagination: Any = "odata",
        query: Mapping[str, Any] | None = None,
        records_path: str | None = None,
        window_field: str = "lastModified",
        lookback: timedelta | float | str = timedelta(0),
        format: str = "jsonl",
        max_concurrency: int = 1,
        max_pages: int | None = None,
        primary_key: str | None = None,
        part_records: int = 100_000,
        count_check: str = "warn",
        progress_seconds: float = 30.0,
        max_requests_per_second: float | None = None,
        hep_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.endpoint = endpoint
        self.destination = destination
        self.destination_conn_id = destination_conn_id
        self.pagination = pagination
        self.query = query
        self.records_path = records_path
        self.window_field = window_field
        self.lookback = lookback
        self.format = format
        self.max_concurrency = max_concurrency
        self.max_pages = max_pages
        self.primary_key = primary_key
        self.part_records = part_records
        self.count_check = count_check
        self.progress_seconds = progress_seconds
        self.max_requests_per_second = max_requests_per_second
        self.hep_conn_id = hep_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        """Fetch, write, commit; return the manifest (never records)."""
        from airflow_provider_hep.exceptions import HepError
        from airflow_provider_hep.hooks.hep import HepHook
        from airflow_provider_hep.operators.hep import raise_for_hep_error

        self._validate()
        window = self._window(context)
        destination = self._destination()
        run_name = run_prefix_name(context["run_id"], context["ti"].try_number)
        run_folder = destination / RUNS / run_name
        start = start_attempt(destination)  # before writing: what this attempt may supersede
        hook = HepHook(
            self.hep_conn_id,
            max_concurrency=int(self.max_concurrency),
            max_requests_per_second=self.max_requests_per_second,
        )
        started = datetime.now(UTC)
        try:
            run_folder.mkdir(parents=True, exist_ok=True)
            stats = self._fetch_and_write(hook, window, run_folder)
            manifest = self._manifest(window, run_name, stats, started, hook)
            check_commit(destination, manifest, start)
            write_manifest(destination, manifest)
        except BaseException as exc:
            remove_tree(run_folder)  # nothing committed: the previous manifest still rules
            if isinstance(exc, HepError):
                # invalid_client, 403, 404: no task retry can fix these; fail at once.
                raise_for_hep_error(exc)
            raise
        finally:
            hook.close()
        try:
            removed = remove_superseded(destination, run_name, start)
        except Exception as exc:  # committed already: leftovers must not fail the task
            log.warning(
                "Committed, but could not remove the superseded runs (%s); the next run of "
                "this interval removes them.",
                type(exc).__name__,
            )
            removed = []
        log.info(
            "Committed %d records in %d part(s) to %s (removed %d superseded run(s)).",
            manifest["records"],
            len(manifest["parts"]),
            destination,
            len(removed),
        )
        self._emit_asset_events(context, destination, manifest)
        return manifest

    def _validate(self) -> None:
        from airflow.providers.common.compat.sdk import AirflowFailException

        if self.format not in FORMATS:
            raise AirflowFailException(f"format {self.format!r} is not one of {', '.join(FORMATS)}")
        if self.count_check not in COUNT_CHECKS:
            raise AirflowFailException(
                f"count_check {self.count_check!r} is not one of {', '.join(COUNT_CHECKS)}"
            )
        if int(self.max_concurrency) < 1:
            raise AirflowFailException("max_concurrency must be 1 or more")

    def _window(self, context: Context) -> tuple[datetime, datetime]:
        from airflow.providers.common.compat.sdk import AirflowFailException

        start = context.get("data_interval_start")
        end = context.get("data_interval_end")
        if start is None or end is None:
            raise AirflowFailException(
                "This run has no data interval, so there is no window to sync. Trigger the DAG "
                "with a logical date (e.g. `airflow dags trigger --logical-date ...` or a "
                "scheduled run); a manual run with logical_date=None has none."
            )
        if start >= end:
            raise AirflowFailException(
                f"The data interval {start}..{end} is empty. Use a data-interval timetable "
                "(e.g. CronDataIntervalTimetable or DeltaDataIntervalTimetable): Airflow 3's "
                "default cron schedule gives runs a zero-length interval."
            )
        lookback = self._lookback()
        try:
            return start - lookback, end
        except OverflowError:
            raise self._lookback_too_large() from None

    def _lookback(self) -> timedelta:
        from airflow.providers.common.compat.sdk import AirflowFailException

        value = self.lookback
        if isinstance(value, timedelta):
            seconds = value.total_seconds()
        else:
            try:
                if isinstance(value, bool):
                    raise TypeError
                seconds = float(value)
            except (TypeError, ValueError):
                raise AirflowFailException(
                    f"lookback {value!r:.60} is not a timedelta or a number of seconds; pass "
                    "e.g. timedelta(minutes=15) or 900"
                ) from None
        if not 0 <= seconds < float("inf"):
            raise AirflowFailException(
                f"lookback {value!r:.60} must be zero or more; it widens the window's start"
            )
        try:
            return timedelta(seconds=seconds)
        except OverflowError:
            raise self._lookback_too_large() from None

    def _lookback_too_large(self) -> Exception:
        from airflow.providers.common.compat.sdk import AirflowFailException

        return AirflowFailException(
            f"lookback {self.lookback!r:.60} is too large: the window would start before the "
            "year 1. Use a lookback of hours or days, e.g. timedelta(minutes=15)."
        )

    def _refuse_truncated(self, page: Any) -> None:
        from airflow.providers.common.compat.sdk import AirflowFailException

        where = f"slice {page.slice_index + 1} of " if int(self.max_concurrency) > 1 else ""
        raise AirflowFailException(
            f"max_pages={self.max_pages} reached on page {page.number} of {where}{page.path} "
            "with more pages to come: the window would be synced only in part, so nothing was "
            "committed and the previous output stands. Raise max_pages (or leave it unset), or "
            "sync shorter windows."
        )

    def _destination(self) -> Any:
        from airflow.sdk import ObjectStoragePath

        uri = self.destination if "://" in self.destination else f"file://{self.destination}"
        return ObjectStoragePath(uri, conn_id=self.destination_conn_id)

    def _fetch_and_write(
        self, hook: Any, window: tuple[datetime, datetime], folder: Any
    ) -> dict[str, Any]:
        from airflow_provider_hep.hooks.paging import iter_pages

        writer = PartWriter(folder, format=self.format, part_records=int(self.part_records))
        progress = Progress(self.endpoint, every_seconds=self.progress_seconds)
        seen: set[Any] | None = set() if self.primary_key else None
        totals: dict[int, int | None] = {}
        v2 = self.pagination == "odata_v2"
        pages = iter_pages(
            hook,
            self.endpoint,
            pagination=self.pagination,
            params=self._query_with_count(),
            records_path=self.records_path,
            window=window,
            window_field=self.window_field,
            max_concurrency=int(self.max_concurrency),
            max_pages=int(self.max_pages) if self.max_pages else None,
        )
        duplicates = 0
        for page in pages:
            if page.truncated:
                self._refuse_truncated(page)
            records = page.records
            if v2:
                records = [convert_odata_v2_dates(r) if isinstance(r, dict) else r for r in records]
            if seen is not None:
                records, dropped = _drop_duplicates(records, self.primary_key, seen, page)
                duplicates += dropped
            writer.write(records)
            totals.setdefault(page.slice_index, page.total)
            progress.page(len(records), hook.transport.retries, _sum_totals(totals))
        parts = writer.close()
        written = sum(part.records for part in parts)
        self._check_count(_sum_totals(totals), written + duplicates)
        progress.done(written, hook.transport.retries)
        return {
            "parts": parts,
            "records": written,
            "pages": progress.pages,
            "duplicates": duplicates,
            "reported_total": _sum_totals(totals),
        }

    def _query_with_count(self) -> dict[str, Any]:
        """Ask OData servers for the window's total, so the count can be reconciled."""
        from airflow_provider_hep.pagination import resolve_strategy

        query = dict(self.query or {})
        name = getattr(resolve_strategy(self.pagination), "name", None)
        if self.count_check != "off" and name in ("odata", "offset", "keyset"):
            query.setdefault("$count", "true")
        elif self.count_check != "off" and name == "odata_v2":
            query.setdefault("$inlinecount", "allpages")
        return query

    def _check_count(self, reported: int | None, received: int) -> None:
        if reported is None or self.count_check == "off" or reported == received:
            return
        message = (
            f"The API reported {reported} records for the window but {received} arrived. "
            "Records may have changed during the sync; rerun the interval, or set "
            "count_check='warn' if the collection changes while syncing."
        )
        if self.count_check == "warn":
            log.warning(message)
            return
        from airflow_provider_hep.exceptions import HepPaginationError

        raise HepPaginationError(message)

    def _manifest(
        self,
        window: tuple[datetime, datetime],
        run_name: str,
        stats: dict[str, Any],
        started: datetime,
        hook: Any,
    ) -> dict[str, Any]:
        finished = datetime.now(UTC)
        return {
            "version": MANIFEST_VERSION,
            "endpoint": self.endpoint,
            "window": {
                "field": self.window_field,
                "start": format_odata_datetime(window[0]),
                "end": format_odata_datetime(window[1]),
            },
            "run": run_name,
            "format": self.format,
            "parts": [
                {
                    "path": f"{RUNS}/{run_name}/{p.name}",
                    "records": p.records,
                    "bytes": p.bytes,
                    "sha256": p.sha256,
                }
                for p in stats["parts"]
            ],
            "records": stats["records"],
            "pages": stats["pages"],
            "bytes": sum(p.bytes for p in stats["parts"]),
            "duplicates_dropped": stats["duplicates"],
            "reported_total": stats["reported_total"],
            "retries": hook.transport.retries,
            "started": started.isoformat(),
            "finished": finished.isoformat(),
            "seconds": round((finished - started).total_seconds(), 3),
        }

    def _emit_asset_events(
        self, context: Context, destination: Any, manifest: dict[str, Any]
    ) -> None:
        """Put the window and manifest path in the outlets' asset event extras."""
        from airflow.sdk import Asset, AssetAlias

        extra = {
            "window_start": manifest["window"]["start"],
            "window_end": manifest["window"]["end"],
            "manifest": str(destination / "_manifest.json"),
            "records": manifest["records"],
        }
        for outlet in self.outlets:
            if isinstance(outlet, AssetAlias):
                asset = Asset(collection_asset_uri(self.hep_conn_id, self.endpoint))
                context["outlet_events"][outlet].add(asset, extra=extra)
            elif isinstance(outlet, Asset):
                context["outlet_events"][outlet].extra = extra


def _drop_duplicates(
    records: list[Any], key: str | None, seen: set[Any], page: FetchedPage
) -> tuple[list[Any], int]:
    kept = []
    for record in records:
        value = record.get(key) if isinstance(record, dict) else None
        if value is None:
            from airflow_provider_hep.exceptions import HepPaginationError

            raise HepPaginationError(
                f"a record on page {page.number} of {page.path} has no primary key field {key!r}"
            )
        if value not in seen:
            seen.add(value)
            kept.append(record)
    return kept, len(records) - len(kept)


def _sum_totals(totals: dict[int, int | None]) -> int | None:
    if not totals or any(t is None for t in totals.values()):
        return None
    return sum(t for t in totals.values() if t is not None)
