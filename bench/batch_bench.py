"""How long creating a batch of 10,000 jobs takes (one atomic backend operation), and
starting it (the starter releasing every held job at once), on SQLite and on Redis.

    .venv/bin/python bench/batch_bench.py                                  # SQLite only
    .venv/bin/python bench/batch_bench.py --redis redis://localhost:6379/0  # and Redis

Each figure is the median of --runs runs, each on a fresh store (Redis: a fresh prefix).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import benchjobs  # noqa: E402

import conveyor  # noqa: E402
from conveyor import Batch, Queue  # noqa: E402

SIZE = 10_000


def measure(url: str) -> tuple[float, float]:
    backend = conveyor.connect(url)
    try:
        specs = [Queue.prepare_data(benchjobs.noop, args=(i,)) for i in range(SIZE)]
        began = time.perf_counter()
        batch = Batch.create(specs, scheduled_start=datetime.now(UTC) + timedelta(hours=1), connection=backend)
        created = time.perf_counter() - began
        began = time.perf_counter()
        batch.start()
        started = time.perf_counter() - began
        return created, started
    finally:
        if backend.kind == "redis":  # leave nothing behind on a shared server
            client = backend._redis  # type: ignore[attr-defined]
            for key in client.scan_iter(match=backend.keys.base + "*", count=1000):  # type: ignore[attr-defined]
                client.delete(key)
        backend.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis", help="a Redis URL to measure too")
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    targets = {"sqlite": lambda: f"sqlite:///{tempfile.mkdtemp(prefix='conveyor-batch-')}/bench.db"}
    if options.redis:
        separator = "&" if "?" in options.redis else "?"
        targets["redis"] = lambda: f"{options.redis}{separator}prefix=batchbench-{uuid.uuid4().hex[:8]}"
    print(f"{'backend':8} {'create 10,000 (s)':>18} {'start 10,000 (s)':>17}")
    for name, make_url in targets.items():
        runs = [measure(make_url()) for _ in range(options.runs)]
        create = statistics.median(r[0] for r in runs)
        start = statistics.median(r[1] for r in runs)
        print(f"{name:8} {create:18.3f} {start:17.3f}")


if __name__ == "__main__":
    main()
