"""Throughput and latency of conveyor on SQLite, with default settings.

    .venv/bin/python bench/sqlite_bench.py            # full run (about a minute)
    .venv/bin/python bench/sqlite_bench.py --quick    # short run (a few seconds)
    .venv/bin/python bench/sqlite_bench.py --runs 3 --json results.json

Each measurement uses a fresh SQLite file in a temporary directory, opened with
``conveyor.connect("sqlite:///...")`` and no options. Workers are real subprocesses
that time themselves, so interpreter start-up is not counted. See bench/README.md for
what each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

import benchjobs  # noqa: E402

import conveyor  # noqa: E402
from conveyor import Queue, Worker  # noqa: E402

QUEUE = "bench"

TARGETS = {
    "enqueue_rate": (">=", 10_000.0),
    "enqueue_many_rate": (">=", 50_000.0),
    "drain_sync_rate": (">=", 12_000.0),
    "idle_latency_p50_ms": ("<=", 2.0),
}

# (key, label, unit) in the order they are printed.
FIGURES = [
    ("enqueue_rate", "enqueue, one by one", "jobs/s"),
    ("enqueue_many_rate", "enqueue_many, batches of 1,000", "jobs/s"),
    ("drain_sync_rate", "drain, 1 worker, sync no-op", "jobs/s"),
    ("drain_async_rate", "drain, 1 worker, async no-op", "jobs/s"),
    ("idle_latency_p50_ms", "idle enqueue-to-start p50", "ms"),
    ("idle_latency_p90_ms", "idle enqueue-to-start p90", "ms"),
    ("idle_latency_p99_ms", "idle enqueue-to-start p99", "ms"),
    ("idle_latency_max_ms", "idle enqueue-to-start max", "ms"),
]

SIZES = {
    # enqueue (one by one), enqueue_many (total), drain, latency samples
    "full": {"enqueue": 10_000, "enqueue_many": 100_000, "drain": 10_000, "latency": 300},
    "quick": {"enqueue": 2_000, "enqueue_many": 20_000, "drain": 10_000, "latency": 60},
}
BATCH = 1_000
LATENCY_PAUSE = 0.02  # seconds between latency samples, so the worker is idle again


# -- helpers ---------------------------------------------------------------------------
@contextmanager
def fresh_database(parent: str | None) -> Iterator[Path]:
    """A new, empty database path in its own temporary directory, removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="conveyor-bench-", dir=parent))
    try:
        yield directory / "bench.db"
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def url_for(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"  # sqlite:////abs/path.db


def worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(BENCH_DIR), env.get("PYTHONPATH", "")) if p)
    env.pop("CONVEYOR_URL", None)
    return env


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def fill(backend: Any, count: int, func: Callable[..., Any]) -> None:
    """Enqueue ``count`` jobs of ``func`` (untimed)."""
    queue = Queue(QUEUE, connection=backend)
    for start in range(0, count, BATCH):
        queue.enqueue_many([Queue.prepare_data(func) for _ in range(min(BATCH, count - start))])


# -- (a) one-by-one enqueue ---------------------------------------------------------------
def bench_enqueue(db: Path, count: int) -> dict[str, Any]:
    backend = conveyor.connect(url_for(db))
    try:
        queue = Queue(QUEUE, connection=backend)
        for _ in range(50):  # warm caches (function lookup, statement cache)
            Queue("warmup", connection=backend).enqueue(benchjobs.noop)
        began = time.perf_counter()
        for _ in range(count):
            queue.enqueue(benchjobs.noop)
        seconds = time.perf_counter() - began
    finally:
        backend.close()
    return {"jobs": count, "seconds": seconds, "rate": count / seconds}


# -- (b) enqueue_many ----------------------------------------------------------------------
def bench_enqueue_many(db: Path, total: int) -> dict[str, Any]:
    backend = conveyor.connect(url_for(db))
    try:
        queue = Queue(QUEUE, connection=backend)
        Queue("warmup", connection=backend).enqueue_many([Queue.prepare_data(benchjobs.noop) for _ in range(100)])
        began = time.perf_counter()
        for _ in range(total // BATCH):
            queue.enqueue_many([Queue.prepare_data(benchjobs.noop) for _ in range(BATCH)])
        seconds = time.perf_counter() - began
    finally:
        backend.close()
    done = (total // BATCH) * BATCH
    return {"jobs": done, "batch": BATCH, "seconds": seconds, "rate": done / seconds}


# -- (c) drain by one worker subprocess -------------------------------------------------------
def bench_drain(db: Path, count: int, func: Callable[..., Any]) -> dict[str, Any]:
    backend = conveyor.connect(url_for(db))
    try:
        fill(backend, count, func)
    finally:
        backend.close()
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "_worker", "--url", url_for(db), "--burst"],
        env=worker_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"drain worker failed ({proc.returncode}):\n{proc.stderr}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    with sqlite3.connect(db) as conn:
        finished, last_ended, first_started = conn.execute(
            "SELECT COUNT(*), MAX(ended_at), MIN(started_at) FROM jobs WHERE queue = ? AND status = 'finished'",
            (QUEUE,),
        ).fetchone()
    if finished != count:
        raise RuntimeError(f"drain: expected {count} finished jobs, found {finished}")
    seconds = last_ended - report["start_wall"]
    return {
        "jobs": count,
        "seconds": seconds,  # worker start (before connect) to the last job's settle time
        "rate": count / seconds,
        "first_job_after": first_started - report["start_wall"],
        "work_seconds": report["work_seconds"],  # the whole of work(), incl. shutdown
    }


# -- (d) enqueue-to-start latency with an idle worker ----------------------------------------
def bench_latency(db: Path, samples: int, pause: float) -> dict[str, Any]:
    backend = conveyor.connect(url_for(db))
    worker = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "_worker", "--url", url_for(db)],
        env=worker_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        queue = Queue(QUEUE, connection=backend)
        deadline = time.monotonic() + 30
        while not backend.workers_list():
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"latency worker did not start:\n{worker.stderr.read() if worker.stderr else ''}")
            time.sleep(0.01)
        for _ in range(10):  # warm-up: the worker imports benchjobs and reaches its idle wait
            _wait_finished(backend, queue.enqueue(benchjobs.started).id, worker)
            time.sleep(pause)
        time.sleep(0.2)
        sent: list[tuple[str, float, float]] = []
        for _ in range(samples):
            before = time.time()
            job = queue.enqueue(benchjobs.started)
            sent.append((job.id, before, job.record.enqueued_at or before))
            time.sleep(pause)
        for job_id, _, _ in sent:
            _wait_finished(backend, job_id, worker)
        records = backend.jobs_get([job_id for job_id, _, _ in sent])
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        backend.close()
    latencies, from_call, to_claim = [], [], []
    for (_, before, enqueued_at), record in zip(sent, records, strict=True):
        assert record is not None and record.result is not None
        began = json.loads(record.result)
        latencies.append((began - enqueued_at) * 1000)
        from_call.append((began - before) * 1000)
        to_claim.append(((record.started_at or began) - enqueued_at) * 1000)  # claim time, set by the worker
    return {
        "samples": samples,
        "pause_s": pause,
        "p50_ms": percentile(latencies, 50),
        "p90_ms": percentile(latencies, 90),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies),
        "mean_ms": statistics.fmean(latencies),
        "from_call_p50_ms": percentile(from_call, 50),
        "from_call_p99_ms": percentile(from_call, 99),
        "to_claim_p50_ms": percentile(to_claim, 50),  # enqueue stamp to the claim (wake-up part)
        "to_claim_p99_ms": percentile(to_claim, 99),
    }


def _wait_finished(backend: Any, job_id: str, worker: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        (record,) = backend.jobs_get([job_id])
        if record is not None and record.status.value == "finished":
            return
        if worker.poll() is not None:
            raise RuntimeError(f"latency worker exited:\n{worker.stderr.read() if worker.stderr else ''}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {job_id} did not finish within {timeout}s")
        time.sleep(0.002)


# -- the worker subprocess ------------------------------------------------------------------
def worker_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="sqlite_bench.py _worker")
    parser.add_argument("--url", required=True)
    parser.add_argument("--burst", action="store_true")
    args = parser.parse_args(argv)
    start_wall = time.time()
    began = time.perf_counter()
    backend = conveyor.connect(args.url)
    try:
        worker = Worker([Queue(QUEUE, connection=backend)])
        worker.work(burst=args.burst)
        work_seconds = time.perf_counter() - began
    finally:
        backend.close()  # removes the worker's wake-up socket file
    print(json.dumps({"start_wall": start_wall, "work_seconds": work_seconds, "jobs_done": worker.jobs_done}))


# -- running and reporting --------------------------------------------------------------------
def run_once(sizes: dict[str, int], parent: str | None, log: Callable[[str], None]) -> dict[str, Any]:
    details: dict[str, Any] = {}
    steps: list[tuple[str, Callable[[Path], dict[str, Any]]]] = [
        ("enqueue", lambda db: bench_enqueue(db, sizes["enqueue"])),
        ("enqueue_many", lambda db: bench_enqueue_many(db, sizes["enqueue_many"])),
        ("drain_sync", lambda db: bench_drain(db, sizes["drain"], benchjobs.noop)),
        ("drain_async", lambda db: bench_drain(db, sizes["drain"], benchjobs.anoop)),
        ("idle_latency", lambda db: bench_latency(db, sizes["latency"], LATENCY_PAUSE)),
    ]
    for name, step in steps:
        log(f"  {name} ...")
        with fresh_database(parent) as db:
            details[name] = step(db)
    figures = {
        "enqueue_rate": details["enqueue"]["rate"],
        "enqueue_many_rate": details["enqueue_many"]["rate"],
        "drain_sync_rate": details["drain_sync"]["rate"],
        "drain_async_rate": details["drain_async"]["rate"],
        "idle_latency_p50_ms": details["idle_latency"]["p50_ms"],
        "idle_latency_p90_ms": details["idle_latency"]["p90_ms"],
        "idle_latency_p99_ms": details["idle_latency"]["p99_ms"],
        "idle_latency_max_ms": details["idle_latency"]["max_ms"],
    }
    return {"figures": figures, "details": details}


def meets(key: str, value: float) -> bool | None:
    if key not in TARGETS:
        return None
    op, target = TARGETS[key]
    return value >= target if op == ">=" else value <= target


def format_value(value: float, unit: str) -> str:
    return f"{value:,.0f}" if unit == "jobs/s" else f"{value:.2f}"


def print_table(runs: list[dict[str, Any]], medians: dict[str, float]) -> None:
    many = len(runs) > 1
    header = f"{'figure':<34} {'unit':<7} {'median' if many else 'value':>10}"
    if many:
        header += f" {'min':>10} {'max':>10}"
    header += f"   {'target':<10} ok"
    print(header)
    print("-" * len(header))
    for key, label, unit in FIGURES:
        value = medians[key]
        line = f"{label:<34} {unit:<7} {format_value(value, unit):>10}"
        if many:
            values = [run["figures"][key] for run in runs]
            line += f" {format_value(min(values), unit):>10} {format_value(max(values), unit):>10}"
        target = TARGETS.get(key)
        verdict = meets(key, value)
        target_text = f"{target[0]} {format_value(target[1], unit)}" if target else "-"
        line += f"   {target_text:<10} {'' if verdict is None else ('yes' if verdict else 'NO')}"
        print(line)


def environment() -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=BENCH_DIR, capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "conveyor": conveyor.__version__,
        "commit": commit,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "tempdir": tempfile.gettempdir(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def main(argv: list[str]) -> int:
    if argv and argv[0] == "_worker":
        worker_main(argv[1:])
        return 0
    parser = argparse.ArgumentParser(description="conveyor SQLite benchmark")
    parser.add_argument("--quick", action="store_true", help="a short run: fewer jobs and latency samples")
    parser.add_argument("--runs", type=int, default=1, help="repeat the whole benchmark and report medians")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON to PATH")
    parser.add_argument("--dir", metavar="DIR", help="where to create the temporary databases (default: $TMPDIR)")
    args = parser.parse_args(argv)
    sizes = SIZES["quick" if args.quick else "full"]

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    env = environment()
    log(f"conveyor {env['conveyor']} ({env['commit']}), Python {env['python']}, SQLite {env['sqlite']}, "
        f"{env['cpus']} CPUs, load {env['loadavg']}")  # fmt: skip
    runs = []
    for number in range(1, args.runs + 1):
        log(f"run {number}/{args.runs}")
        runs.append(run_once(sizes, args.dir, log))
    medians = {key: statistics.median(run["figures"][key] for run in runs) for key, _, _ in FIGURES}
    print()
    print_table(runs, medians)
    if args.json:
        result = {
            "environment": env,
            "mode": "quick" if args.quick else "full",
            "sizes": sizes,
            "targets": {key: {"op": op, "value": value} for key, (op, value) in TARGETS.items()},
            "median": medians,
            "meets_targets": {key: meets(key, medians[key]) for key in TARGETS},
            "runs": runs,
        }
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        log(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
