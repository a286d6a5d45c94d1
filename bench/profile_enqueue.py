"""What a Redis enqueue costs per job, one by one and in bulk: the client's CPU, Redis's
CPU, and (optionally) instructions on both sides or where the client's time goes.

    .venv/bin/python bench/profile_enqueue.py                  # 3 runs of each scenario
    .venv/bin/python bench/profile_enqueue.py --jobs 50000 --runs 5
    .venv/bin/python bench/profile_enqueue.py --profile bulk   # one run under cProfile
    .venv/bin/python bench/profile_enqueue.py --callgrind      # instructions per job (needs valgrind)

The scenarios, as bench/peers/run.py times them (no-op jobs, queue "bench", after FLUSHALL):

- bulk: ``Queue.enqueue_many`` of lists of 1,000 ``Queue.prepare_data(benchjobs.noop)``,
  building the lists included;
- one: ``Queue.enqueue(benchjobs.noop)`` a call per job (a fifth as many jobs).

CPU time hardly moves with what else the machine runs, unlike wall time: compare commits
with it (run this under each commit's ``PYTHONPATH``, alternating). Per job: the client's
user + system CPU (getrusage, this process), the redis-server's (from /proc, only for the
server this script starts) and Redis's own time inside FCALL (``INFO commandstats``).

``--callgrind`` counts instructions, which do not move at all with the machine's load:

- Redis's per job of each scenario (3,000 jobs each; a redis-server also runs its timers
  while it counts, which moves the figures by a percent or two): a redis-server under
  callgrind, dumped after each;
- the client's per job of each scenario: this script under callgrind (started with
  ``--instr-atstart=no``) counting only the scenario, after an uncounted warm-up; the
  few calls of callgrind_control that switch counting on and off are counted too, a
  constant that cancels out in an A/B.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import benchjobs  # noqa: E402
from profile_redis import (  # noqa: E402
    QUEUE,
    callgrind_dump,
    callgrind_total,
    fcall_usec,
    own_cpu,
    redis_under_callgrind,
    redis_url,
    server_cpu,
)

import conveyor  # noqa: E402
from conveyor import Queue  # noqa: E402

BATCH = 1000
SCENARIOS = ("bulk", "one")


def enqueue_bulk(queue: Queue, jobs: int) -> None:
    for start in range(0, jobs, BATCH):
        queue.enqueue_many([Queue.prepare_data(benchjobs.noop) for _ in range(min(BATCH, jobs - start))])


def enqueue_one(queue: Queue, jobs: int) -> None:
    enqueue, func = queue.enqueue, benchjobs.noop
    for _ in range(jobs):
        enqueue(func)


def scenario(name: str) -> tuple[Callable[[Queue, int], None], int]:
    """The scenario's enqueue loop and the divisor of --jobs it enqueues."""
    return (enqueue_bulk, 1) if name == "bulk" else (enqueue_one, 5)


def measure(url: str, pid: int | None, name: str, jobs: int, profile: cProfile.Profile | None) -> dict[str, float]:
    backend = conveyor.connect(url)
    client = backend._redis  # type: ignore[attr-defined]
    try:
        client.flushall()
        queue = Queue(QUEUE, connection=backend)
        run, _ = scenario(name)
        run(queue, 10)  # the function library, the queue's template
        client.config_resetstat()
        redis_before, cpu_before, began = server_cpu(pid), own_cpu(), time.perf_counter()
        if profile is not None:
            profile.enable()
        run(queue, jobs)
        if profile is not None:
            profile.disable()
        seconds, cpu, redis_after = time.perf_counter() - began, own_cpu() - cpu_before, server_cpu(pid)
        if queue.count != jobs + 10:
            raise SystemExit(f"{queue.count} jobs queued, not {jobs + 10}")
        result = {"client_us": cpu / jobs * 1e6, "fcall_us": fcall_usec(client) / jobs, "rate": jobs / seconds}
        if redis_before is not None and redis_after is not None:
            result["redis_us"] = (redis_after - redis_before) / jobs * 1e6
        return result
    finally:
        backend.close()


def callgrind_both(jobs: int, workdir: Path) -> dict[str, float]:
    """Instructions per job of each scenario, Redis's and the client's: the client (this
    script, --enqueue-counted) under callgrind, talking to a redis-server under callgrind;
    each dumps after each scenario."""
    client_out = workdir / "client"
    with redis_under_callgrind(workdir) as (url, pid):
        backend = conveyor.connect(url)
        try:
            enqueue_bulk(Queue(QUEUE, connection=backend), 10)  # loads the function library: not counted
        finally:
            backend.close()
        argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={client_out}",
                sys.executable, __file__, "--enqueue-counted", url, "--jobs", str(jobs),
                "--redis-pid", str(pid)]  # fmt: skip
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    result = {}
    for part, name in enumerate(SCENARIOS, start=1):
        result[f"redis_{name}"] = callgrind_total(workdir / f"redis.{pid}.{2 * part}") / jobs
        result[f"client_{name}"] = callgrind_total(Path(f"{client_out}.{part}")) / jobs
    return result


def enqueue_counted(url: str, jobs: int, redis_pid: int) -> None:
    """Under callgrind (started with --instr-atstart=no): each scenario counted alone over
    ``jobs`` jobs, both this process and the redis-server dumped after it."""
    me = str(os.getpid())
    backend = conveyor.connect(url)
    try:
        queue = Queue(QUEUE, connection=backend)
        for name in SCENARIOS:
            run, _ = scenario(name)
            run(queue, 300)  # warm: imports, caches, the queue's template
            callgrind_dump(redis_pid)
            subprocess.run(["callgrind_control", "--instr=on", me], check=True, stdout=subprocess.DEVNULL)
            run(queue, jobs)
            subprocess.run(["callgrind_control", "--instr=off", me], check=True, stdout=subprocess.DEVNULL)
            callgrind_dump(int(me))
            callgrind_dump(redis_pid)
    finally:
        backend.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a Redis to use (FLUSHALLed!) instead of a private redis-server")
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs per bulk run (one-by-one: a fifth)")
    parser.add_argument("--runs", type=int, default=3, help="runs per scenario (the figures are their medians)")
    parser.add_argument("--profile", choices=SCENARIOS, help="one run of this scenario under cProfile")
    parser.add_argument("--top", type=int, default=30, help="rows of the profile listing")
    parser.add_argument("--sort", default="tottime", help="pstats sort key (tottime, cumulative, ...)")
    parser.add_argument("--callgrind", action="store_true", help="count instructions per job (needs valgrind)")
    parser.add_argument("--enqueue-counted", metavar="URL", help=argparse.SUPPRESS)  # see enqueue_counted
    parser.add_argument("--redis-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.getLogger("conveyor").setLevel(logging.ERROR)  # not the store's warnings about persistence
    if args.enqueue_counted:
        enqueue_counted(args.enqueue_counted, args.jobs, args.redis_pid)
        return 0
    if args.callgrind:
        with tempfile.TemporaryDirectory(prefix="conveyor-callgrind-") as workdir:
            counts = callgrind_both(min(args.jobs, 3_000), Path(workdir))
        for name in SCENARIOS:
            print(f"{name:5} redis  {counts[f'redis_{name}']:10,.0f} instructions/job")
            print(f"{name:5} client {counts[f'client_{name}']:10,.0f} instructions/job")
        return 0
    with redis_url(args.url) as (url, pid):
        if args.profile:
            profile = cProfile.Profile()
            jobs = args.jobs // scenario(args.profile)[1]
            result = measure(url, pid, args.profile, jobs, profile)
            print(f"{jobs} jobs, {result['rate']:,.0f} jobs/s under the profiler")
            text = io.StringIO()
            pstats.Stats(profile, stream=text).strip_dirs().sort_stats(args.sort).print_stats(args.top)
            print(text.getvalue())
            return 0
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in SCENARIOS}
        for _ in range(args.runs):  # the scenarios alternate, so a change in load hits both
            for name in SCENARIOS:
                runs[name].append(measure(url, pid, name, args.jobs // scenario(name)[1], None))
    figures = [("client_us", "client us/job"), ("redis_us", "redis us/job"), ("fcall_us", "fcall us/job"),
               ("rate", "wall jobs/s")]  # fmt: skip
    for name in SCENARIOS:
        for key, label in figures:
            values = [run[key] for run in runs[name] if key in run]
            if values:
                each = " ".join(f"{value:.1f}" if key != "rate" else f"{value:,.0f}" for value in values)
                print(f"{name:5} {label:14} median {statistics.median(values):10.2f}   ({each})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
