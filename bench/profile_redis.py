"""What a Redis drain costs per job: the worker's CPU, Redis's CPU, and (optionally) where
the worker's time goes.

    .venv/bin/python bench/profile_redis.py                       # 3 drains of 20,000 no-op jobs
    .venv/bin/python bench/profile_redis.py --jobs 50000 --runs 5
    .venv/bin/python bench/profile_redis.py --profile --top 40    # one drain under cProfile
    .venv/bin/python bench/profile_redis.py --url redis://127.0.0.1:6379/0   # a Redis already running
    .venv/bin/python bench/profile_redis.py --callgrind           # instructions per job (needs valgrind)

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

``--callgrind`` counts instructions instead, which do not move at all with the machine's
load (a few minutes: valgrind runs code about fifty times slower):

- Redis instructions per job of ``jobs_claim`` and of ``jobs_settle`` in batches of 100
  (a redis-server under callgrind, dumped after each phase);
- the worker's instructions per job of a drain: this script drains ``--jobs`` and a third
  as many jobs under callgrind, counting only ``work()``, and divides the difference by
  the difference in jobs (so start-up and shutdown cancel out). Under valgrind jobs look
  slow, so the worker is told they are quick (its batches grow as in a native run), and
  its housekeeping runs rarely (poll interval 60 s, lease 600 s).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import logging
import os
import pstats
import resource
import statistics
import subprocess
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
from redis import Redis  # noqa: E402
from redis.exceptions import ConnectionError as RedisConnectionError  # noqa: E402
from run import RedisServer, free_port  # noqa: E402

import conveyor  # noqa: E402
from conveyor import Queue, Worker  # noqa: E402
from conveyor.status import JobStatus  # noqa: E402
from conveyor.types import Settlement  # noqa: E402
from conveyor.worker import claim_loop  # noqa: E402

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


def fill(backend: Any, jobs: int) -> None:
    """FLUSHALL, then ``jobs`` no-op jobs queued."""
    backend._redis.flushall()
    queue = Queue(QUEUE, connection=backend)
    for start in range(0, jobs, BATCH):
        queue.enqueue_many([Queue.prepare_data(benchjobs.noop) for _ in range(min(BATCH, jobs - start))])


def drain(url: str, pid: int | None, jobs: int, profile: cProfile.Profile | None) -> dict[str, float]:
    backend = conveyor.connect(url)
    client = backend._redis  # type: ignore[attr-defined]
    try:
        fill(backend, jobs)
        queue = Queue(QUEUE, connection=backend)
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


def callgrind_total(path: Path) -> int:
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise SystemExit(f"no totals in {path}")


@contextlib.contextmanager
def redis_under_callgrind(workdir: Path) -> Iterator[tuple[str, int]]:
    """A redis-server under callgrind (its dumps go to ``workdir/redis.<pid>.<n>``): its
    URL and pid, once it answers."""
    port = free_port()
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={workdir}/redis.%p", "redis-server", "--port",
            str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)]  # fmt: skip
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 120  # valgrind takes seconds to start
        with Redis.from_url(url) as client:
            while True:
                try:
                    client.ping()
                    break
                except RedisConnectionError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise
                    time.sleep(0.2)  # not a test: polling a server that starts
        yield url, server.pid
    finally:
        server.terminate()
        server.wait()


def callgrind_dump(pid: int) -> None:
    """Have callgrind write what process ``pid`` counted since its last dump."""
    subprocess.run(["callgrind_control", "--dump=phase", str(pid)], check=True, capture_output=True)


def callgrind_redis(jobs: int, workdir: Path) -> dict[str, float]:
    """Redis instructions per job of claims and settles of 100 jobs, on a redis-server under
    callgrind dumped after each phase."""
    with redis_under_callgrind(workdir) as (url, pid):
        backend = conveyor.connect(url)
        try:
            fill(backend, jobs)
            now = time.time()
            backend.jobs_claim([QUEUE], "probe", 1, "warm", now + 3600, now)  # loads the function library
            callgrind_dump(pid)
            batches = []
            while claimed := backend.jobs_claim([QUEUE], "probe", 100, "lease", now + 3600, now):
                batches.append(claimed)
            callgrind_dump(pid)
            for batch in batches:
                outcomes = [Settlement(record.id, "lease", JobStatus.FINISHED, started_at=now, result=b"null",
                                       keep_until=now + 500) for record in batch]  # fmt: skip
                backend.jobs_settle(outcomes, now)
            callgrind_dump(pid)
        finally:
            backend.close()
    claim, settle = (callgrind_total(workdir / f"redis.{pid}.{part}") for part in (2, 3))
    done = sum(len(batch) for batch in batches)
    return {"claim": claim / done, "settle": settle / done}


def callgrind_worker(jobs: int, workdir: Path) -> float:
    """The worker's instructions per job of a drain: two drains under callgrind, counted
    over ``work()`` alone, the difference divided by the difference in jobs."""
    with redis_url(None) as (url, _):
        totals = []
        sizes = (max(jobs // 3, 1), jobs)
        for size in sizes:
            out = workdir / f"worker.{size}"
            argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
                    sys.executable, __file__, "--drain-counted", url, "--jobs", str(size)]  # fmt: skip
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            totals.append(callgrind_total(out))
    return (totals[1] - totals[0]) / (sizes[1] - sizes[0])


def drain_counted(url: str, jobs: int) -> None:
    """Under callgrind (started with --instr-atstart=no): a drain counted over work() alone."""
    claim_loop.QUICK_JOB_SECONDS = 1.0  # jobs run fifty times slower: keep native batch sizes
    backend = conveyor.connect(url)
    try:
        for size, counted in ((300, False), (jobs, True)):  # the first warms imports and caches
            fill(backend, size)
            worker = Worker([Queue(QUEUE, connection=backend)], poll_interval=60, lease_ttl=600)
            if counted:
                subprocess.run(["callgrind_control", "--instr=on", str(os.getpid())], check=True,
                               stdout=subprocess.DEVNULL)  # fmt: skip
            worker.work(burst=True)
            if counted:
                subprocess.run(["callgrind_control", "--instr=off", str(os.getpid())], check=True,
                               stdout=subprocess.DEVNULL)  # fmt: skip
        if Queue(QUEUE, connection=backend).finished_job_registry.count != jobs:
            raise SystemExit("the worker did not finish every job")
    finally:
        backend.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a Redis to use (FLUSHALLed!) instead of a private redis-server")
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs per drain")
    parser.add_argument("--runs", type=int, default=3, help="drains (the figures are their medians)")
    parser.add_argument("--profile", action="store_true", help="one drain under cProfile, then the top functions")
    parser.add_argument("--top", type=int, default=30, help="rows per profile listing")
    parser.add_argument("--sort", default="tottime", help="pstats sort key (tottime, cumulative, ...)")
    parser.add_argument("--callgrind", action="store_true", help="count instructions per job (needs valgrind)")
    parser.add_argument("--drain-counted", metavar="URL", help=argparse.SUPPRESS)  # see drain_counted
    args = parser.parse_args()
    logging.getLogger("conveyor").setLevel(logging.ERROR)  # not the store's warnings about persistence
    if args.drain_counted:
        drain_counted(args.drain_counted, args.jobs)
        return 0
    if args.callgrind:
        with tempfile.TemporaryDirectory(prefix="conveyor-callgrind-") as workdir:
            jobs = min(args.jobs, 3_000)
            redis = callgrind_redis(jobs, Path(workdir))
            worker = callgrind_worker(jobs, Path(workdir))
        print(f"redis, claim    {redis['claim']:10,.0f} instructions/job (batches of 100)")
        print(f"redis, settle   {redis['settle']:10,.0f} instructions/job (batches of 100)")
        print(f"worker, drain   {worker:10,.0f} instructions/job")
        return 0
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
