"""Where the time goes: cProfile (or pyinstrument) over the SQLite hot paths.

    .venv/bin/python bench/profile_sqlite.py                  # all three, cProfile
    .venv/bin/python bench/profile_sqlite.py drain --top 40
    .venv/bin/python bench/profile_sqlite.py enqueue --pyinstrument   # needs pyinstrument

Scenarios, each on a fresh temporary database with default settings:
  enqueue       Queue.enqueue of a no-op, one by one
  enqueue_many  Queue.enqueue_many in batches of 1,000 (built with Queue.prepare_data)
  drain         Worker([...]).work(burst=True) in this process over queued no-op jobs
                (the profile covers the main thread: the claim/run/settle loop)

Profiles are also written to --out (default: a temporary directory) as .prof files for
snakeviz or ``python -m pstats``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import benchjobs  # noqa: E402
from sqlite_bench import BATCH, QUEUE, fill, fresh_database, url_for  # noqa: E402

import conveyor  # noqa: E402
from conveyor import Queue, Worker  # noqa: E402


def scenario_enqueue(db: Path, count: int) -> tuple[Callable[[], Any], Callable[[], None]]:
    backend = conveyor.connect(url_for(db))
    queue = Queue(QUEUE, connection=backend)
    queue.enqueue(benchjobs.noop)

    def run() -> None:
        for _ in range(count):
            queue.enqueue(benchjobs.noop)

    return run, backend.close


def scenario_enqueue_many(db: Path, count: int) -> tuple[Callable[[], Any], Callable[[], None]]:
    backend = conveyor.connect(url_for(db))
    queue = Queue(QUEUE, connection=backend)
    queue.enqueue(benchjobs.noop)

    def run() -> None:
        for _ in range(count // BATCH):
            queue.enqueue_many([Queue.prepare_data(benchjobs.noop) for _ in range(BATCH)])

    return run, backend.close


def scenario_drain(
    db: Path, count: int, func: Callable[..., Any] = benchjobs.noop
) -> tuple[Callable[[], Any], Callable[[], None]]:
    backend = conveyor.connect(url_for(db))
    fill(backend, count, func)

    def run() -> None:
        Worker([Queue(QUEUE, connection=backend)]).work(burst=True)

    return run, backend.close


SCENARIOS: dict[str, tuple[Callable[..., Any], int]] = {
    "enqueue": (scenario_enqueue, 10_000),
    "enqueue_many": (scenario_enqueue_many, 50_000),
    "drain": (scenario_drain, 10_000),
    "drain_async": (lambda db, n: scenario_drain(db, n, benchjobs.anoop), 10_000),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "scenarios", nargs="*", help=f"any of {', '.join(SCENARIOS)} (default: enqueue enqueue_many drain)"
    )
    parser.add_argument("--top", type=int, default=25, help="rows per listing")
    parser.add_argument("--sort", default="tottime", help="pstats sort key (tottime, cumulative, ...)")
    parser.add_argument("--pyinstrument", action="store_true", help="use pyinstrument instead of cProfile")
    parser.add_argument("--out", default=None, help="directory for .prof / .html files")
    args = parser.parse_args()
    args.scenarios = args.scenarios or ["enqueue", "enqueue_many", "drain"]
    unknown = [name for name in args.scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    out = Path(args.out or tempfile.mkdtemp(prefix="conveyor-profile-"))
    out.mkdir(parents=True, exist_ok=True)
    for name in args.scenarios:
        make, count = SCENARIOS[name]
        with fresh_database(None) as db:
            run, close = make(db, count)
            try:
                print(f"\n===== {name}: {count} jobs =====")
                if args.pyinstrument:
                    from pyinstrument import Profiler

                    profiler = Profiler(interval=0.0005)
                    began = time.perf_counter()
                    profiler.start()
                    run()
                    profiler.stop()
                    seconds = time.perf_counter() - began
                    print(f"{seconds:.3f}s, {count / seconds:,.0f} jobs/s (under the profiler)")
                    print(profiler.output_text(unicode=False, color=False, show_all=False))
                    (out / f"{name}.html").write_text(profiler.output_html())
                else:
                    profile = cProfile.Profile()
                    began = time.perf_counter()
                    profile.enable()
                    run()
                    profile.disable()
                    seconds = time.perf_counter() - began
                    print(f"{seconds:.3f}s, {count / seconds:,.0f} jobs/s (under the profiler)")
                    profile.dump_stats(out / f"{name}.prof")
                    text = io.StringIO()
                    stats = pstats.Stats(profile, stream=text).strip_dirs()
                    stats.sort_stats(args.sort).print_stats(args.top)
                    stats.sort_stats("cumulative").print_stats(args.top)
                    print(text.getvalue())
            finally:
                close()
    print(f"profiles in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
