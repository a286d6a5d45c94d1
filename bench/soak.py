"""Soak: steady load at a fraction of measured capacity, watching for slow leaks.

    .venv/bin/python bench/soak.py                          # 30 minutes on a temporary SQLite file
    .venv/bin/python bench/soak.py --url redis://localhost:6379/0?prefix=soak --minutes 30
    .venv/bin/python bench/soak.py --minutes 2 --interval 10  # a short check

First it measures what one worker process gets done per second while jobs are being
enqueued (20 s with a backlog, so the worker never waits), then feeds jobs at
``--fraction`` of that (half by default; one in twenty fails on purpose) for
``--minutes``, and every ``--interval`` seconds prints the jobs done, the
enqueue-to-end latency of a sample of them (p50/p99) and the worker's resident memory.
It ends with the memory growth between the first and the last interval: a worker
that leaks shows it here. Not part of the test suite (it takes half an hour).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import benchjobs  # noqa: E402

import conveyor  # noqa: E402
from conveyor import Queue  # noqa: E402
from conveyor.status import JobStatus  # noqa: E402

QUEUE = "soak"
PENDING = [JobStatus.QUEUED, JobStatus.STARTED]
SAMPLE_EVERY = 100
"""One job in this many has its latency read back. (Five per batch sampled a fifth of
the jobs at this feed's small batches; reading 60,000 records back once a minute
stalled the feed for seconds, and the catch-up burst made the p99.)"""


def start_worker(url: str, concurrency: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(BENCH_DIR), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "conveyor", "worker", QUEUE, "-u", url, "-c", str(concurrency),
               "--log-level", "warning"]  # fmt: skip
    return subprocess.Popen(command, env=env)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))] if ordered else 0.0


def pending(backend: conveyor.backends.base.Backend) -> int:
    """Jobs sent but not ended. Jobs done = sent - pending: counting ended jobs instead
    would go down as retention purges them (the soak runs for longer than result_ttl)."""
    return backend.jobs_count(QUEUE, PENDING)


def enqueue_batch(queue: Queue, first: int, count: int) -> list[conveyor.Job]:
    """``count`` jobs, every twentieth failing on purpose, results kept 60 s."""
    return queue.enqueue_many(
        [Queue.prepare_data(benchjobs.fail if (first + i) % 20 == 0 else benchjobs.noop, result_ttl=60, failure_ttl=60)
         for i in range(count)]
    )  # fmt: skip


def measure_capacity(backend: conveyor.backends.base.Backend, url: str, concurrency: int, seconds: float) -> float:
    """Jobs per second one worker process gets done while they are being enqueued (the
    soak's own mix), with a backlog kept so that it never waits: on SQLite enqueues and
    the worker share one write lock, so a drain of a queue filled beforehand overstates
    what the pair sustains."""
    queue = Queue(QUEUE, connection=backend)
    worker = start_worker(url, concurrency)
    try:
        sent = len(enqueue_batch(queue, 0, 5_000))
        while pending(backend) == sent:  # the worker is up once it has taken a job
            time.sleep(0.01)
        began, done_before = time.perf_counter(), sent - pending(backend)
        while time.perf_counter() - began < seconds:
            if pending(backend) < 5_000:
                sent += len(enqueue_batch(queue, sent, 500))
            else:
                time.sleep(0.005)
        done = sent - pending(backend) - done_before
        rate = done / (time.perf_counter() - began)
        while pending(backend) > 0:  # start the soak from an empty queue
            time.sleep(0.05)
        return rate
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)


def soak(url: str, minutes: float, fraction: float, interval: float, concurrency: int) -> None:
    backend = conveyor.connect(url)
    capacity = measure_capacity(backend, url, concurrency, seconds=20)
    rate = capacity * fraction
    print(f"backend {backend.kind}: one worker gets {capacity:,.0f} jobs/s done while they are enqueued; "
          f"feeding {rate:,.0f} jobs/s "
          f"for {minutes:g} min (1 in 20 fails)")  # fmt: skip
    queue = Queue(QUEUE, connection=backend)
    worker = start_worker(url, concurrency)
    print(f"{'time':>6} {'enqueued':>9} {'done':>8} {'jobs/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'RSS MB':>8}")
    began = time.monotonic()
    sent = 0
    done_before = 0
    sample: list[str] = []
    memory: list[float] = []
    next_report = began + interval
    try:
        while time.monotonic() - began < minutes * 60:
            due = int((time.monotonic() - began) * rate) - sent
            if due > 0:
                jobs = enqueue_batch(queue, sent, min(due, 500))
                sent += len(jobs)
                sample.extend(job.id for i, job in enumerate(jobs, sent - len(jobs)) if i % SAMPLE_EVERY == 0)
            else:
                time.sleep(0.005)
            if time.monotonic() >= next_report:
                done_now = sent - pending(backend)
                records = [r for r in backend.jobs_get(sample) if r is not None and r.ended_at and r.enqueued_at]
                latencies = [(r.ended_at - r.enqueued_at) * 1000 for r in records]  # type: ignore[operator]
                memory.append(rss_mb(worker.pid))
                print(f"{time.monotonic() - began:6.0f} {sent:9,} {done_now - done_before:8,} "
                      f"{(done_now - done_before) / interval:8,.0f} {percentile(latencies, 50):8.1f} "
                      f"{percentile(latencies, 99):8.1f} {memory[-1]:8.1f}", flush=True)  # fmt: skip
                seen = {r.id for r in records}
                done_before, sample = done_now, [job_id for job_id in sample if job_id not in seen]
                next_report += interval
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
        backend.close()
    if len(memory) >= 2:
        growth = memory[-1] - memory[0]
        print(f"worker memory: {memory[0]:.1f} MB after the first interval, {memory[-1]:.1f} MB at the end "
              f"({growth:+.1f} MB, {growth / memory[0]:+.1%})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="backend URL (default: a temporary SQLite file)")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--fraction", type=float, default=0.5, help="share of measured capacity to feed")
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between reports")
    parser.add_argument("--concurrency", type=int, default=1)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="conveyor-soak-") as directory:
        url = options.url or f"sqlite:///{directory}/soak.db"
        soak(url, options.minutes, options.fraction, options.interval, options.concurrency)


if __name__ == "__main__":
    main()
