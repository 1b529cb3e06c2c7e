"""Render ``bench_sync.py``'s figures as Markdown and write them into RESULTS.md."""

from __future__ import annotations

import os
import platform
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
START, END = "<!-- bench_sync:start -->", "<!-- bench_sync:end -->"
ARM_LABELS = {
    "provider": "provider: `HepHook.paginate` + `PartWriter`",
    "limit": "limit: bare `requests.Session` loop",
    "stock": "stock: `HttpHook` + `requests.post` token",
    "dlt": "dlt: `RESTClient` + `OAuth2ClientCredentials`",
}
ORDER = ["provider", "limit", "stock", "dlt"]
RSS_GROWTH_MB = 50.0
ALL = "all of the above"  # sync_imports.ALL
DAG_FILE = "operators.sync + operators.hep + sensors.hep"  # sync_imports.DAG_FILE
IMPORT_MS = 50.0


@dataclass
class Figures:
    """Everything one benchmark run measured."""

    notes: list[str] = field(default_factory=list)
    runs: dict[tuple[float, int], int] = field(default_factory=dict)
    rates: dict[tuple[float, int, str, int], float] = field(default_factory=dict)
    samples: dict[tuple[float, int, str, int], list[float]] = field(default_factory=dict)
    calls: dict[tuple[float, int, str, int], int] = field(default_factory=dict)
    rss: dict[tuple[int, int], dict[str, float]] = field(default_factory=dict)
    imports: list[Any] = field(default_factory=list)
    seconds: float = 0.0


def _settings(figures: Figures) -> list[tuple[float, int]]:
    return sorted({(lat, size) for lat, size, _, _ in figures.rates})


def rates_table(figures: Figures) -> list[str]:
    """Records/s per arm and setting, with the ratio to the limit at the same concurrency."""
    settings = _settings(figures)
    head = "| arm | concurrency | " + " | ".join(
        f"{lat:g} ms, {size:,} rec" for lat, size in settings
    )
    lines = [head + " |", "|---|---:|" + "---:|" * len(settings)]
    arms = sorted({(a, c) for _, _, a, c in figures.rates}, key=lambda k: (ORDER.index(k[0]), k[1]))
    for arm, conc in arms:
        cells = []
        for lat, size in settings:
            rate = figures.rates.get((lat, size, arm, conc))
            limit = figures.rates.get((lat, size, "limit", conc))
            if rate is None:
                cells.append("")
            elif arm == "limit" or limit is None:
                cells.append(f"{rate:,.0f}")
            else:
                ratio = _ratio(figures, lat, size, (arm, conc), ("limit", conc))
                cells.append(f"{rate:,.0f} (**{ratio:.2f}x**)")
        lines.append(f"| {ARM_LABELS[arm]} | {conc} | " + " | ".join(cells) + " |")
    return lines


def calls_line(figures: Figures) -> str:
    """Name the API calls (pages) each arm made at the largest size, 0 ms."""
    if not figures.calls:
        return ""
    lat, size = min(k[0] for k in figures.calls), max(k[1] for k in figures.calls)
    items = sorted(
        ((a, c, n) for (la, si, a, c), n in figures.calls.items() if (la, si) == (lat, size)),
        key=lambda item: (ORDER.index(item[0]), item[1]),
    )
    listed = ", ".join(f"{a}x{c} {n:,}" for a, c, n in items)
    return (
        f"API calls (pages; each with its own token request) per sync of {size:,} records:"
        f" {listed}. Parallel arms make more: each slice's last page is partial."
    )


def _ratio(figures: Figures, lat: float, size: int, a: tuple[str, int], b: tuple[str, int]) -> Any:
    """Return the median over rounds of a's rate / b's rate (each round runs both once).

    Pairing the runs of one round cancels the load changes of a shared machine between rounds.
    """
    xs, ys = figures.samples.get((lat, size, *a)), figures.samples.get((lat, size, *b))
    if not xs or not ys:
        return None
    return statistics.median(x / y for x, y in zip(xs, ys, strict=False))


def target_rows(figures: Figures) -> list[tuple[str, str, bool]]:
    """Evaluate the throughput targets: (description, figures, met)."""
    checks = [
        (
            "provider sequential ≥ 0.90 x limit sequential",
            ("provider", 1),
            ("limit", 1),
            0.90,
            None,
        ),
        ("provider x8 ≥ 0.85 x limit x8 (10 ms)", ("provider", 8), ("limit", 8), 0.85, 10.0),
        ("provider x8 ≥ 5 x stock (10 ms)", ("provider", 8), ("stock", 1), 5.0, 10.0),
        ("provider sequential ≥ 1.0 x dlt sequential", ("provider", 1), ("dlt", 1), 1.0, None),
        ("provider x8 ≥ 1.0 x dlt x8", ("provider", 8), ("dlt", 8), 1.0, None),
    ]
    rows = []
    for text, a, b, floor, only in checks:
        values = []
        for lat, size in _settings(figures):
            if only is not None and lat != only:
                continue
            ratio = _ratio(figures, lat, size, a, b)
            if ratio is not None:
                values.append((f"{lat:g} ms/{size:,}: {ratio:.2f}x", ratio >= floor))
        if values:
            rows.append((text, ", ".join(v for v, _ in values), all(ok for _, ok in values)))
    return rows


def rss_lines(figures: Figures) -> list[str]:
    """Peak RSS per size and concurrency, and the growth from the smallest to the largest."""
    sizes = sorted({s for s, _ in figures.rss})
    concs = sorted({c for _, c in figures.rss})
    lines = [
        "| records | "
        + " | ".join(f"max_concurrency={c}: after setup / peak in the sync" for c in concs)
        + " |",
        "|---:|" + "---:|" * len(concs),
    ]
    for size in sizes:
        cells = [
            f"{figures.rss[(size, c)]['setup_kb'] / 1024:.1f} / "
            f"{figures.rss[(size, c)]['peak_kb'] / 1024:.1f} MiB"
            for c in concs
        ]
        lines.append(f"| {size:,} | " + " | ".join(cells) + " |")
    return lines


def rss_growth(figures: Figures) -> list[tuple[str, str, bool]]:
    """Return the RSS growth rows for the targets table."""
    sizes = sorted({s for s, _ in figures.rss})
    if len(sizes) < 2:
        return []
    rows = []
    for conc in sorted({c for _, c in figures.rss}):
        low, high = figures.rss[(sizes[0], conc)], figures.rss[(sizes[-1], conc)]
        growth = (high["peak_kb"] - low["peak_kb"]) / 1024
        rows.append(
            (
                f"peak RSS growth {sizes[0]:,} → {sizes[-1]:,} records ≤ {RSS_GROWTH_MB:g} MB"
                f" (x{conc})",
                f"{growth:+.1f} MiB",
                growth <= RSS_GROWTH_MB,
            )
        )
    return rows


def import_lines(figures: Figures) -> list[str]:
    """Added import time per public module."""
    lines = [
        "| module | added after `import airflow.sdk` | of it `airflow_provider_hep.*` |"
        " heaviest other packages it pulls in |",
        "|---|---:|---:|---|",
    ]
    for cost in figures.imports:
        label = f"`{cost.module}`" if cost.module not in (ALL, DAG_FILE) else cost.module
        heavy = [(name, ms) for name, ms in cost.pulled if ms >= 0.5]
        pulled = ", ".join(f"`{name}` {ms:.1f} ms" for name, ms in heavy) or "none over 0.5 ms"
        lines.append(f"| {label} | {cost.total_ms:.1f} ms | {cost.ours_ms:.1f} ms | {pulled} |")
    return lines


def import_rows(figures: Figures) -> list[tuple[str, str, bool]]:
    """Return the import target rows: each module alone, and all of them in one interpreter."""
    alone = [c for c in figures.imports if c.module not in (ALL, DAG_FILE)]
    together = [c for c in figures.imports if c.module in (DAG_FILE, ALL)]
    rows = []
    if alone:
        worst = max(alone, key=lambda c: c.total_ms)
        rows.append(
            (
                f"importing a public module adds ≤ {IMPORT_MS:g} ms",
                f"heaviest: `{worst.module}` {worst.total_ms:.1f} ms",
                worst.total_ms <= IMPORT_MS,
            )
        )
    for cost in together:
        rows.append(
            (
                f"importing {'all public modules' if cost.module == ALL else cost.module}"
                f" together adds ≤ {IMPORT_MS:g} ms",
                f"{cost.total_ms:.1f} ms",
                cost.total_ms <= IMPORT_MS,
            )
        )
    return rows


def machine() -> str:
    """Describe the machine and the moment."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; nproc={os.cpu_count()}, {cpu},"
        f" Python {platform.python_version()}, {platform.system()} {platform.release()};"
        f" 1-min load average at the end: {os.getloadavg()[0]:.2f} (shared machine)"
    )


def render(figures: Figures) -> str:
    """Return the whole Markdown section (without the markers)."""
    runs = ", ".join(
        f"{n} runs at {lat:g} ms/{size:,} records"
        for (lat, size), n in sorted(figures.runs.items())
    )
    out = [
        "## Sync throughput: provider vs stock HttpHook, dlt and a bare loop"
        " (`benchmarks/bench_sync.py`)",
        "",
        "Each arm syncs one window (a day, every record of the sandbox's `patients`) to local"
        " JSON Lines: a new OAuth token (POST) before every page GET (100 records per page,"
        " `$count=true`, next links followed), parse and write included. The sandbox runs in a"
        " subprocess with `--single-use-tokens` (a reused token would fail; the run checks"
        " that every API call used its own token) and a fixed latency per request. Arms run"
        f" interleaved in one process, in rounds that run every arm once; rates are medians"
        f" ({runs}) and ratios the medians of the rounds' ratios. dlt: extract with"
        " `RESTClient.paginate` and our own JSONL write. Concurrent arms use the same"
        " `split_window` slices; the limit and dlt write one file per slice, unordered.",
        "",
    ]
    if figures.rates:
        out += ["### Records per second (ratio to the limit at the same concurrency)", ""]
        out += [*rates_table(figures), "", calls_line(figures), ""]
    rows = target_rows(figures) + rss_growth(figures) + import_rows(figures)
    if rows:
        out += ["### Targets", "", "| target | measured | met |", "|---|---|---|"]
        out += [f"| {t} | {m} | {'yes' if ok else '**no**'} |" for t, m, ok in rows] + [""]
    if figures.rss:
        out += [
            "### RSS of the provider arm (a subprocess measuring itself, 0 ms)",
            "",
            "The high-water mark is reset after imports and setup, so the peak is the sync's"
            " own (`VmHWM` after `/proc/self/clear_refs`; not `ru_maxrss`, which also keeps the"
            " forked parent's size from before `exec`).",
            "",
        ]
        out += [*rss_lines(figures), ""]
    if figures.imports:
        out += ["### Import cost (median of fresh interpreters, `-X importtime`)", ""]
        out += [*import_lines(figures), ""]
    out += [f"- {note}" for note in figures.notes]
    out += [f"- machine: {machine()}; the whole benchmark took {figures.seconds / 60:.1f} min"]
    return "\n".join(out)


def write_results(report: str) -> None:
    """Replace the bench_sync section of RESULTS.md (or append it), keeping everything else."""
    section = f"{START}\n{report}\n{END}"
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text)
