"""What a Redis drain costs per job: the worker's CPU, Redis's CPU, and (optionally) where
the worker's time goes.

    .venv/bin/python bench/profile_redis.py                       # 3 drains of 20,000 no-op jobs
    .venv/bin/python bench/profile_redis.py --jobs 50000 --runs 5
    .venv/bin/python bench/profile_redis.py --profile --top 40    # one drain under cProfile
    .venv/bin/python bench/profile_redis.py --url redis://127.0.0.1:6379/0   # a Redis already running

Each drain: FLUSHALL, ``--jobs`` no-op jobs queued with ``enqueue_many`` (untimed), then
``Worker([Queue("bench")]).work(burst=True)`` in this process with default settings.
CPU time, unlike wall time, hardly moves with what else the machine runs, so it is the
figure to compare commits with (run this under each commit's ``PYTHONPATH``, alternating):

- worker us/job: this process's user + system CPU (getrusage) over ``work()``, all its
  threads, start-up and shutdown included, divided by the jobs;
- redis us/job: the redis-server process's CPU over the same span (from /proc, so only
  for the server this script starts);
- fcall us/job: Redis's own time inside FCALL (``INFO commandstats``), claim and settle
  and the few maintenance calls, divided by the jobs;
- wall jobs/s, for scale only.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR / "peers"))

import benchjobs  # noqa: E402
from run import RedisServer  # noqa: E402

import conveyor  # noqa: E402
from conveyor import Queue, Worker  # noqa: E402

QUEUE = "bench"
BATCH = 1000
TICKS = os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def server_cpu(pid: int | None) -> float | None:
    """Seconds of CPU the process has used (utime + stime from /proc)."""
    if pid is None:
        return None
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def fcall_usec(client: Any) -> float:
    return float(client.info("commandstats").get("cmdstat_fcall", {}).get("usec", 0))


def drain(url: str, pid: int | None, jobs: int, profile: cProfile.Profile | None) -> dict[str, float]:
    backend = conveyor.connect(url)
    client = backend._redis  # type: ignore[attr-defined]
    try:
        client.flushall()
        queue = Queue(QUEUE, connection=backend)
        for start in range(0, jobs, BATCH):
            queue.enqueue_many([Queue.prepare_data(benchjobs.noop) for _ in range(min(BATCH, jobs - start))])
        client.config_resetstat()
        redis_before, cpu_before, began = server_cpu(pid), own_cpu(), time.perf_counter()
        if profile is not None:
            profile.enable()
        Worker([Queue(QUEUE, connection=backend)]).work(burst=True)
        if profile is not None:
            profile.disable()
        seconds, cpu, redis_after = time.perf_counter() - began, own_cpu() - cpu_before, server_cpu(pid)
        done = queue.finished_job_registry.count
        if done != jobs:
            raise SystemExit(f"the worker finished {done} jobs of {jobs}")
        result = {"worker_us": cpu / jobs * 1e6, "fcall_us": fcall_usec(client) / jobs, "rate": jobs / seconds}
        if redis_before is not None and redis_after is not None:
            result["redis_us"] = (redis_after - redis_before) / jobs * 1e6
        return result
    finally:
        backend.close()


@contextlib.contextmanager
def redis_url(given: str | None) -> Iterator[tuple[str, int | None]]:
    if given:
        yield given, None
        return
    with tempfile.TemporaryDirectory(prefix="conveyor-profile-redis-") as workdir:
        server = RedisServer(Path(workdir))
        try:
            yield server.url, server.proc.pid
        finally:
            server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a Redis to use (FLUSHALLed!) instead of a private redis-server")
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs per drain")
    parser.add_argument("--runs", type=int, default=3, help="drains (the figures are their medians)")
    parser.add_argument("--profile", action="store_true", help="one drain under cProfile, then the top functions")
    parser.add_argument("--top", type=int, default=30, help="rows per profile listing")
    parser.add_argument("--sort", default="tottime", help="pstats sort key (tottime, cumulative, ...)")
    args = parser.parse_args()
    with redis_url(args.url) as (url, pid):
        drain(url, pid, min(args.jobs, 2_000), None)  # warm: imports, the function library, caches
        if args.profile:
            profile = cProfile.Profile()
            result = drain(url, pid, args.jobs, profile)
            print(f"{args.jobs} jobs, {result['rate']:,.0f} jobs/s under the profiler")
            text = io.StringIO()
            stats = pstats.Stats(profile, stream=text).strip_dirs()
            stats.sort_stats(args.sort).print_stats(args.top)
            print(text.getvalue())
            return 0
        runs = [drain(url, pid, args.jobs, None) for _ in range(args.runs)]
    figures = [("worker_us", "worker us/job"), ("redis_us", "redis us/job"), ("fcall_us", "fcall us/job"),
               ("rate", "wall jobs/s")]  # fmt: skip
    for key, label in figures:
        values = [run[key] for run in runs if key in run]
        if values:
            each = " ".join(f"{value:.1f}" if key != "rate" else f"{value:,.0f}" for value in values)
            print(f"{label:15} median {statistics.median(values):10.2f}   ({each})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
