"""Compare a windowed HEP sync by the provider with the stock HttpHook, dlt and a bare loop.

Every arm syncs the same window of the sandbox's ``patients`` collection to local JSON Lines,
with a new OAuth token before every page request. The sandbox runs in a subprocess with
``--single-use-tokens`` (a reused token would fail) and a fixed per-request latency. Arms run
side by side in one process, interleaved, several times each; the report gives medians and
ratios, because absolute rates on shared 2-core machines are not comparable between runs.
It also measures the provider's peak RSS per collection size (in a subprocess that measures
itself) and the import cost of the provider's public modules (``python -X importtime``).

    python benchmarks/bench_sync.py            # full run (about 13 minutes), prints the tables
    python benchmarks/bench_sync.py --write    # also update benchmarks/RESULTS.md
    python benchmarks/bench_sync.py --smoke    # tiny N, one run each, for the test suite
"""

from __future__ import annotations

import argparse
import faulthandler
import gc
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync_setup import REPO, WINDOW, isolated_airflow_home, sandbox, stats

isolated_airflow_home()  # before anything imports Airflow

from sync_arms import ARMS, Target, dlt_available  # noqa: E402
from sync_imports import measure_imports  # noqa: E402
from sync_report import Figures, render, write_results  # noqa: E402

WARM_UP_RECORDS = 1000
# (arm, concurrency) pairs; the ratios compare each with the limit at the same concurrency.
ARM_SET = [
    ("provider", 1), ("provider", 4), ("provider", 8),
    ("limit", 1), ("limit", 4), ("limit", 8),
    ("stock", 1),
    ("dlt", 1), ("dlt", 8),
]  # fmt: skip


def run_arm(
    name: str, concurrency: int, info: dict[str, Any], out: Path, time_limit: float
) -> tuple[float, int]:
    """Run one arm once; check its records and tokens; return records/s and API calls."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    target = Target(
        info["base_url"], info["token_url"], info["client_id"], info["client_secret"], WINDOW, out
    )
    run = ARMS[name](target, concurrency)
    stats(info, reset=True)
    gc.collect()
    began = time.perf_counter()
    records = run()
    seconds = time.perf_counter() - began
    if seconds > time_limit:
        raise SystemExit(f"{name}x{concurrency} took {seconds:.0f} s, over the {time_limit} s cap")
    seen = stats(info)
    if records != info["total"]:
        raise SystemExit(f"{name}x{concurrency} wrote {records} records of {info['total']}")
    if seen["auth_failures"] or seen["calls_per_token"]["tokens_reused"]:
        raise SystemExit(f"{name}x{concurrency} reused tokens: {seen}")
    if seen["tokens_issued"] != seen["api_calls_ok"]:
        raise SystemExit(f"{name}x{concurrency}: not one token per call: {seen}")
    return records / seconds, int(seen["api_calls_ok"])


def measure_rates(
    settings: list[tuple[float, int, int]], arms: list[tuple[str, int]], warm_up: int,
    time_limit: float, log: Callable[[str], None], calls: dict[tuple[float, int, str, int], int],
) -> dict[tuple[float, int, str, int], list[float]]:  # fmt: skip
    """Return records/s of every arm per (latency, size), over ``runs`` interleaved rounds.

    ``calls`` receives the API calls (pages) of each arm's last run.
    """
    rates: dict[tuple[float, int, str, int], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="hep-bench-out-") as tmp:
        out = Path(tmp) / "out"
        with sandbox(warm_up, 0) as info:  # first calls: lazy imports, config, pools
            for name, conc in arms:
                run_arm(name, conc, info, out, time_limit)
        for latency, size, runs in settings:
            with sandbox(size, latency) as info:
                for round_no in range(runs):
                    shift = round_no % len(arms)  # rotate the order: no arm always first
                    for name, conc in arms[shift:] + arms[:shift]:
                        rate, calls[(latency, size, name, conc)] = run_arm(
                            name, conc, info, out, time_limit
                        )
                        rates.setdefault((latency, size, name, conc), []).append(rate)
                        log(f"{latency:g} ms {size} {name}x{conc}: {rate:,.0f} records/s")
    return rates


def measure_rss(
    sizes: list[int], concurrencies: list[int], log: Callable[[str], None]
) -> dict[tuple[int, int], dict[str, float]]:
    """Return the provider's peak RSS per (size, concurrency), each in a fresh subprocess."""
    result: dict[tuple[int, int], dict[str, float]] = {}
    for size in sizes:
        with sandbox(size, 0) as info:
            for conc in concurrencies:
                cmd = [
                    sys.executable, str(REPO / "benchmarks" / "sync_rss.py"),
                    "--info", json.dumps(info), "--concurrency", str(conc),
                ]  # fmt: skip
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
                if done.returncode != 0:
                    raise SystemExit(f"sync_rss.py failed:\n{done.stderr[-3000:]}")
                figures = json.loads(done.stdout.strip().splitlines()[-1])
                if figures["records"] != info["total"]:
                    raise SystemExit(f"sync_rss.py wrote {figures['records']} of {info['total']}")
                result[(size, conc)] = figures
                log(f"RSS {size} x{conc}: peak {figures['peak_kb'] / 1024:.1f} MiB")
    return result


def medians(rates: dict[tuple[float, int, str, int], list[float]]) -> dict[Any, float]:
    """Return the median of each arm's runs."""
    return {key: statistics.median(values) for key, values in rates.items()}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="tiny N, one run of each arm")
    p.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    p.add_argument("--sizes", default="10000,100000", help="records per collection")
    p.add_argument("--latencies", default="0,10", help="sandbox latency per request, ms")
    p.add_argument("--runs", type=int, default=5, help="runs of each arm per setting")
    p.add_argument("--cpu-runs", type=int, default=7, help="runs at 0 ms (short and noisy)")
    p.add_argument("--quick-runs", type=int, default=15, help="runs at 0 ms, <= 10,000 records")
    p.add_argument("--slow-runs", type=int, default=3, help="runs where latency*size >= 1e6")
    p.add_argument("--rss-sizes", default="10000,100000,1000000")
    p.add_argument("--rss-concurrency", default="1,8")
    p.add_argument("--import-runs", type=int, default=5)
    p.add_argument("--import-modules", default="", help="only these modules (comma-separated)")
    p.add_argument("--arms", default="", help="only these arms, e.g. provider,limit")
    p.add_argument("--skip", default="", help="parts to skip: rates,rss,imports")
    p.add_argument("--time-limit", type=float, default=120.0, help="cap on one arm run, s")
    p.add_argument("--total-limit", type=float, default=1500.0, help="cap on everything, s")
    args = p.parse_args(argv)
    args.warm_up = WARM_UP_RECORDS
    if args.smoke:
        args.sizes, args.latencies, args.warm_up = "200", "0,2", 200
        args.runs = args.cpu_runs = args.quick_runs = args.slow_runs = 1
        args.rss_sizes, args.rss_concurrency, args.import_runs = "200", "2", 1
        args.import_modules = args.import_modules or "airflow_provider_hep.operators.sync"
        args.time_limit, args.total_limit = 20.0, 120.0
    return args


def runs_for(latency: float, size: int, args: argparse.Namespace) -> int:
    """Run long settings fewer times, and the short, CPU-bound 0 ms ones more often."""
    if latency * size >= 1e6:
        return int(args.slow_runs)
    if latency == 0:
        return int(args.quick_runs if size <= 10_000 else args.cpu_runs)
    return int(args.runs)


def main(argv: list[str] | None = None) -> int:
    """Run the measurements, print the report and optionally write RESULTS.md."""
    args = parse_args(argv)
    faulthandler.dump_traceback_later(args.total_limit, exit=True)  # the hard stop
    settings = [
        (float(lat), int(size), runs_for(float(lat), int(size), args))
        for lat in args.latencies.split(",")
        for size in args.sizes.split(",")
    ]
    arms = [a for a in ARM_SET if not args.arms or a[0] in args.arms.split(",")]
    notes = []
    if not dlt_available():
        arms = [a for a in arms if a[0] != "dlt"]
        notes.append("dlt is not installed (`pip install -e '.[bench]'`): its arm was skipped.")
    skip = set(args.skip.split(",")) - {""}

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    began = time.monotonic()
    figures = Figures(notes=notes, runs={(lat, size): n for lat, size, n in settings})
    if "rates" not in skip:
        rates = measure_rates(settings, arms, args.warm_up, args.time_limit, log, figures.calls)
        figures.rates, figures.samples = medians(rates), rates
    if "rss" not in skip:
        rss_sizes = [int(s) for s in args.rss_sizes.split(",")]
        rss_conc = [int(c) for c in args.rss_concurrency.split(",")]
        figures.rss = measure_rss(rss_sizes, rss_conc, log)
    if "imports" not in skip:
        modules = tuple(m for m in args.import_modules.split(",") if m)
        figures.imports = measure_imports(args.import_runs, log, modules or None)
    figures.seconds = time.monotonic() - began
    report = render(figures)
    print(report)
    if args.write:
        write_results(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
