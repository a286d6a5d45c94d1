"""conveyor and its Python peers side by side, on one local Redis started for the run.

    .venv-peers/bin/python bench/peers/run.py                  # everything (about 20 minutes)
    .venv-peers/bin/python bench/peers/run.py --quick          # fewer jobs, no 1,000,000-job backlog
    .venv-peers/bin/python bench/peers/run.py --only rq huey --json peers.json
    .venv-peers/bin/python bench/peers/run.py --runs 3         # three interleaved runs, medians

Libraries: conveyor, RQ (default Worker and SimpleWorker), ARQ, SAQ, Dramatiq, Celery
(prefork with one child, and solo) and Huey, each through a small adapter in
``adapters/`` with the same interface, so nothing below depends on which library runs.
Each gets one worker process with its recommended settings (printed with the results).
The benchmark starts its own ``redis-server`` on a free port (no persistence), flushes
it before every measurement, and kills it by pid at the end. See README.md here.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

PEERS_DIR = Path(__file__).resolve().parent
if str(PEERS_DIR) not in sys.path:
    sys.path.insert(0, str(PEERS_DIR))

import peerjobs  # noqa: E402
from adapters import MODULES, load  # noqa: E402
from adapters.base import Adapter  # noqa: E402
from redis import Redis  # noqa: E402
from redis.exceptions import ConnectionError as RedisConnectionError  # noqa: E402

SIZES = {
    "full": {"one": 10_000, "bulk": 50_000, "drain": 10_000, "latency": 300, "backlogs": [10_000, 1_000_000]},
    "quick": {"one": 2_000, "bulk": 10_000, "drain": 2_000, "latency": 60, "backlogs": [10_000]},
}
BATCH = 1_000  # jobs per bulk call
WARMUP_ONE = 50  # untimed one-by-one enqueues before the timed ones
LATENCY_WARMUP = 10  # latency jobs before the samples (the first one waits for the worker to start)
LATENCY_PAUSE = 0.02  # seconds after each latency sample, so that the worker is idle again
STALL_SECONDS = 60.0  # a worker that completes no job for this long has failed
BUSY_WARNING = 0.15  # warn when the CPUs are this busy (0..1) before a library starts, with nothing of ours running
POLL = 0.01  # seconds between two looks at the counter while a worker drains
PROBE_ENQUEUES = 1_000  # one-by-one enqueues timed on top of a backlog
PROBE_CLAIMS = 1_000  # claims of one job timed on top of a backlog
PROBE_BATCH_CLAIMS = (20, 100)  # (calls, jobs per call) timed on top of a backlog
BACKLOG_DRAIN = 10_000  # jobs drained, out of the backlog

# (key, column heading, unit, better): the figures of the main table, in order.
FIGURES = [
    ("enqueue_one_rate", "enqueue 1-by-1", "jobs/s", "higher"),
    ("enqueue_bulk_rate", "enqueue bulk", "jobs/s", "higher"),
    ("drain_rate", "drain 10,000", "jobs/s", "higher"),
    ("latency_p50_ms", "idle p50", "ms", "lower"),
    ("latency_p99_ms", "idle p99", "ms", "lower"),
]
# The targets for conveyor, as ratios to the peers in the same run.
TARGETS_TEXT = [
    ("drain_rate", "drain >= 4x the fastest peer"),
    ("enqueue_one_rate", "one-by-one enqueue >= the fastest peer"),
    ("enqueue_bulk_rate", "bulk enqueue >= 4x RQ's enqueue_many"),
    ("latency_p50_ms", "idle latency p50 <= 0.5 ms"),
]


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- the Redis server ---------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """``redis-server`` on a free loopback port without persistence, for this run only."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server not found: install it (Debian: apt-get install redis-server)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_path = workdir / "redis-server.log"
        with self.log_path.open("w") as out:
            self.proc = subprocess.Popen(
                [
                    binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(workdir),
                ],  # fmt: skip
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C at the terminal reaches us, and we stop it
            )
        self.client = Redis.from_url(self.url)
        try:
            deadline = time.monotonic() + 15
            while True:
                try:
                    self.client.ping()
                    break
                except RedisConnectionError:
                    pass
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"redis-server did not start on port {self.port}:\n{self.log_path.read_text()}")
                time.sleep(0.02)
            self.version = str(self.client.info("server")["redis_version"])
        except BaseException:
            self.stop()
            raise

    def flush(self) -> None:
        self.client.flushall()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# -- worker processes -----------------------------------------------------------------------
def worker_env(url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PEERS_DIR), env.get("PYTHONPATH", "")) if p)
    env[peerjobs.URL_ENV] = url
    env.pop("CONVEYOR_URL", None)
    return env


class WorkerProcess:
    """One worker subprocess in its own process group; its output goes to a log file."""

    def __init__(self, adapter: Adapter, url: str, logdir: Path, label: str) -> None:
        self.argv = adapter.worker_argv(url)
        self.log_path = logdir / f"{adapter.name}-{label}.log"
        self._log: IO[str] = self.log_path.open("w")
        self._log.write(" ".join(self.argv) + "\n")
        self._log.flush()
        self.proc = subprocess.Popen(
            self.argv,
            env=worker_env(url),
            cwd=logdir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.started = time.time()

    def check(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"the worker exited with status {self.proc.returncode}{self.tail()}")

    def tail(self, lines: int = 25) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return f"\n--- last lines of {self.log_path} ---\n" + "\n".join(text)

    def stop(self) -> None:
        """SIGTERM to the group (each library's graceful stop), then SIGKILL to whatever is left."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # children the library left behind
        if self.proc.poll() is None:
            self.proc.wait()
        self._log.close()


@contextlib.contextmanager
def worker(adapter: Adapter, url: str, logdir: Path, label: str) -> Iterator[WorkerProcess]:
    process = WorkerProcess(adapter, url, logdir, label)
    try:
        yield process
    finally:
        process.stop()


# -- measurements -----------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def measure_enqueue_one(adapter: Adapter, server: RedisServer, count: int) -> dict[str, Any]:
    adapter.enqueue_one(WARMUP_ONE)
    began = time.perf_counter()
    adapter.enqueue_one(count)
    seconds = time.perf_counter() - began
    return {"jobs": count, "seconds": seconds, "rate": count / seconds}


def measure_enqueue_bulk(adapter: Adapter, server: RedisServer, count: int) -> dict[str, Any]:
    adapter.enqueue_bulk(100, 100)  # warm-up
    began = time.perf_counter()
    adapter.enqueue_bulk(count, BATCH)
    seconds = time.perf_counter() - began
    return {"jobs": count, "batch": BATCH, "seconds": seconds, "rate": count / seconds}


def wait_for_count(client: Redis, process: WorkerProcess, target: int) -> tuple[int, float]:
    """Poll ``bench:done`` until it reaches ``target``; return (count, last job time) read together."""
    seen, progress_at = -1, time.monotonic()
    while True:
        with client.pipeline(transaction=True) as pipe:
            done, last = pipe.get(peerjobs.DONE_KEY).get(peerjobs.LAST_KEY).execute()
        count = int(done or 0)
        if count >= target:
            return count, float(last)
        if count != seen:
            seen, progress_at = count, time.monotonic()
        process.check()
        if time.monotonic() - progress_at > STALL_SECONDS:
            raise RuntimeError(f"{count} of {target} jobs done, none for {STALL_SECONDS:.0f} s{process.tail()}")
        time.sleep(POLL)


def measure_drain(adapter: Adapter, server: RedisServer, count: int, logdir: Path) -> dict[str, Any]:
    """Queue ``count`` no-op jobs (untimed), then time one worker process draining them."""
    began = time.perf_counter()
    adapter.enqueue_bulk(count, BATCH)
    fill_seconds = time.perf_counter() - began
    return drain_queued(adapter, server, count, logdir, "drain") | {"fill_seconds": fill_seconds}


def drain_queued(adapter: Adapter, server: RedisServer, target: int, logdir: Path, label: str) -> dict[str, Any]:
    server.client.delete(peerjobs.DONE_KEY, peerjobs.FIRST_KEY, peerjobs.LAST_KEY)
    url = server.url
    with worker(adapter, url, logdir, label) as process:
        count, last = wait_for_count(server.client, process, target)
        first = float(server.client.get(peerjobs.FIRST_KEY) or 0)
        spawned = process.started
    seconds = last - first
    return {
        "jobs": count,
        "seconds": seconds,  # first job's start to the last counted job's start
        "rate": count / seconds,
        "first_job_after_spawn": first - spawned,  # interpreter, imports, connecting, start-up
        "spawn_to_last": last - spawned,
    }


def pop_latency(client: Redis, process: WorkerProcess, timeout: float) -> tuple[float, float]:
    deadline = time.monotonic() + timeout
    while True:
        item = client.blpop([peerjobs.LATENCY_KEY], timeout=1)
        if item is not None:
            stamp, began = item[1].split()
            return float(stamp), float(began)
        process.check()
        if time.monotonic() > deadline:
            raise RuntimeError(f"a latency job did not start within {timeout:.0f} s{process.tail()}")


def measure_latency(adapter: Adapter, server: RedisServer, samples: int, logdir: Path) -> dict[str, Any]:
    client = server.client
    latencies: list[float] = []
    calls: list[float] = []
    jitter = random.Random(adapter.name)  # the same pauses in every run

    def pause() -> None:  # the worker goes idle again (not a synchronisation: the job has started)
        time.sleep(LATENCY_PAUSE + jitter.uniform(0, adapter.idle_poll))

    with worker(adapter, server.url, logdir, "latency") as process:
        for number in range(LATENCY_WARMUP):
            adapter.enqueue_latency()
            pop_latency(client, process, STALL_SECONDS if number == 0 else 30)
            pause()
        for _ in range(samples):
            began = time.perf_counter()
            adapter.enqueue_latency()
            calls.append((time.perf_counter() - began) * 1000)
            stamp, started = pop_latency(client, process, 30)
            latencies.append((started - stamp) * 1000)
            pause()
    return {
        "samples": samples,
        "pause_s": [LATENCY_PAUSE, LATENCY_PAUSE + adapter.idle_poll],  # uniform in this range
        "p50_ms": percentile(latencies, 50),
        "p90_ms": percentile(latencies, 90),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies),
        "mean_ms": statistics.fmean(latencies),
        "enqueue_call_p50_ms": percentile(calls, 50),  # how long the enqueue call itself took
        "enqueue_call_p99_ms": percentile(calls, 99),
    }


def measure_backlog(adapter: Adapter, server: RedisServer, backlog: int, logdir: Path) -> dict[str, Any]:
    """Enqueue, claim and drain costs with ``backlog`` jobs already queued."""
    calls, per_call = PROBE_BATCH_CLAIMS
    began = time.perf_counter()
    adapter.enqueue_bulk(backlog + PROBE_CLAIMS + calls * per_call, BATCH)  # the probes leave `backlog` + enqueues
    fill_seconds = time.perf_counter() - began

    began = time.perf_counter()
    adapter.enqueue_one(PROBE_ENQUEUES)
    enqueue_us = (time.perf_counter() - began) / PROBE_ENQUEUES * 1e6

    claimed = 0
    began = time.perf_counter()
    for _ in range(PROBE_CLAIMS):
        claimed += adapter.claim(1)
    claim_one_us = (time.perf_counter() - began) / PROBE_CLAIMS * 1e6
    began = time.perf_counter()
    for _ in range(calls):
        claimed += adapter.claim(per_call)
    claim_batch_us = (time.perf_counter() - began) / calls * 1e6
    expected = PROBE_CLAIMS + calls * per_call
    if claimed != expected:
        raise RuntimeError(f"the claim probes claimed {claimed} jobs, expected {expected}")

    drain = drain_queued(adapter, server, min(BACKLOG_DRAIN, backlog), logdir, f"backlog-{backlog}")
    return {
        "backlog": backlog,
        "fill_seconds": fill_seconds,
        "fill_rate": (backlog + expected) / fill_seconds,
        "enqueue_one_us": enqueue_us,
        "claim_one_us": claim_one_us,
        f"claim_{per_call}_us_per_call": claim_batch_us,
        f"claim_{per_call}_us_per_job": claim_batch_us / per_call,
        "drain": drain,
        "drain_rate": drain["rate"],
    }


def self_test(server: RedisServer) -> None:
    """The jobs' fire-and-forget writes reach this Redis (they fail silently otherwise)."""
    server.flush()
    peerjobs.done()
    peerjobs.started(1.0)
    deadline = time.monotonic() + 10
    while server.client.get(peerjobs.DONE_KEY) != b"1" or server.client.llen(peerjobs.LATENCY_KEY) != 1:
        if time.monotonic() > deadline:
            raise SystemExit("self-test: the jobs' writes to Redis did not arrive (see peerjobs.py)")
        time.sleep(0.005)
    server.flush()


# -- one library --------------------------------------------------------------------------
def describe(adapter: Adapter) -> dict[str, Any]:
    return {
        "library": adapter.library,
        "version": version_of(adapter.library),
        "settings": adapter.settings,
        "one_api": adapter.one_api,
        "bulk_api": adapter.bulk_api,
        "worker_argv": adapter.worker_argv("URL"),
        "idle_poll_s": adapter.idle_poll,
        "runs": [],
    }


FIGURE_SOURCES = {
    "enqueue_one_rate": ("enqueue_one", "rate"),
    "enqueue_bulk_rate": ("enqueue_bulk", "rate"),
    "drain_rate": ("drain", "rate"),
    "latency_p50_ms": ("latency", "p50_ms"),
    "latency_p99_ms": ("latency", "p99_ms"),
}


def run_adapter(adapter: Adapter, server: RedisServer, sizes: dict[str, Any], logdir: Path) -> dict[str, Any]:
    """Every measurement for one adapter, each on a freshly flushed Redis with a fresh connection.

    Returns ``{"details": ..., "figures": ...}``, or ``{"skipped": why}`` when the adapter
    cannot connect at all (for conveyor: when this checkout has no Redis backend).
    """
    details: dict[str, Any] = {}
    steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("enqueue_one", lambda: measure_enqueue_one(adapter, server, sizes["one"])),
        ("enqueue_bulk", lambda: measure_enqueue_bulk(adapter, server, sizes["bulk"])),
        ("drain", lambda: measure_drain(adapter, server, sizes["drain"], logdir)),
        ("latency", lambda: measure_latency(adapter, server, sizes["latency"], logdir)),
    ]
    if adapter.claim_probe:
        for backlog in sizes["backlogs"]:
            steps.append((f"backlog_{backlog}", lambda b=backlog: measure_backlog(adapter, server, b, logdir)))
    for number, (name, step) in enumerate(steps):
        server.flush()
        if number == 0:
            try:
                adapter.open(server.url)
            except Exception as exc:  # the library cannot use this Redis at all: skip it
                return {"skipped": f"{adapter.name}.open({server.url!r}) raised {type(exc).__name__}: {exc}"}
        log(f"  {adapter.name}: {name} ...")
        try:
            if number > 0:
                adapter.open(server.url)
            details[name] = step()
        except Exception as exc:
            details[name] = {"error": f"{type(exc).__name__}: {exc}"}
            log(f"  {adapter.name}: {name} FAILED: {type(exc).__name__}: {exc}")
        finally:
            with contextlib.suppress(Exception):
                adapter.close()
    server.flush()
    figures = {key: details[step].get(field) for key, (step, field) in FIGURE_SOURCES.items()}
    return {"details": details, "figures": figures}


def median_or_none(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarize(result: dict[str, Any]) -> None:
    """Medians over the runs: ``figures`` and, per backlog, ``backlog``; ``errors`` from any run."""
    runs = [run for run in result["runs"] if "details" in run]
    if not runs:
        result["skipped"] = result["runs"][0].get("skipped", "") if result["runs"] else "not run"
        return
    result["figures"] = {key: median_or_none([run["figures"][key] for run in runs]) for key in FIGURE_SOURCES}
    result["errors"] = [
        f"run {number} {step}: {d['error']}"
        for number, run in enumerate(runs, 1)
        for step, d in run["details"].items()
        if "error" in d
    ]
    steps = [step for step in runs[0]["details"] if step.startswith("backlog_")]
    result["backlog"] = []
    for step in steps:
        good = [run["details"][step] for run in runs if "error" not in run["details"].get(step, {"error": ""})]
        if good:
            fields = [k for k, v in good[0].items() if isinstance(v, (int, float))]
            result["backlog"].append({k: statistics.median(d[k] for d in good) for k in fields})


def version_of(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "?"


# -- reporting ------------------------------------------------------------------------------
COLUMN = 11


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "error"
    return f"{value:,.0f}" if unit == "jobs/s" else f"{value:.2f}"


def ratio(ours: float | None, theirs: float | None) -> str:
    if not ours or not theirs:
        return "-"
    return f"{ours / theirs:.2f}x"


def table_header(width: int, drain: int) -> list[str]:
    top = f"{'':<{width}}" + f"{'enqueue (jobs/s)':^{2 * COLUMN}}" + f"{'drain ' + format(drain, ','):>{COLUMN}}"
    top += f"{'idle latency (ms)':^{2 * COLUMN + 2}}"
    heads = ["one-by-one", "bulk", "(jobs/s)", "p50", "p99"]
    bottom = f"{'library':<{width}}" + "".join(f"{h:>{COLUMN}}" for h in heads)
    return [top.rstrip(), bottom, "-" * len(bottom)]


def print_report(results: dict[str, dict[str, Any]], baseline: str, sizes: dict[str, Any]) -> None:
    ran = {name: r for name, r in results.items() if "figures" in r}
    width = max([len(name) for name in results] + [8]) + 2
    for line in table_header(width, sizes["drain"]):
        print(line)
    for name, result in results.items():
        if "figures" not in result:
            print(f"{name:<{width}}skipped: {result.get('skipped', '')}")
            continue
        cells = [fmt(result["figures"][key], unit) for key, _, unit, _ in FIGURES]
        print(f"{name:<{width}}" + "".join(f"{c:>{COLUMN}}" for c in cells))

    if baseline in ran and len(ran) > 1:
        ours = ran[baseline]["figures"]
        print()
        print(f"ratio {baseline} / peer (rates: above 1x, {baseline} is faster; latencies: below 1x, it is)")
        for line in table_header(width, sizes["drain"]):
            print(line)
        for name, result in ran.items():
            if name != baseline:
                cells = [ratio(ours[key], result["figures"][key]) for key, _, _, _ in FIGURES]
                print(f"{name:<{width}}" + "".join(f"{c:>{COLUMN}}" for c in cells))
        print()
        print(f"targets for {baseline} (from the Redis backend issue, default settings):")
        for line in target_lines(ran, baseline):
            print(f"  {line}")

    for result in ran.values():
        if result.get("backlog"):
            print()
            print_backlog(result["library"], result["backlog"])

    print()
    print("enqueue APIs used (one-by-one; bulk):")
    for name, result in results.items():
        print(f"  {name:<{width}}{result['one_api']}; {result['bulk_api']}")
    print("worker settings (one worker process each):")
    for name, result in results.items():
        print(f"  {name:<{width}}{result['settings']}  [{result['library']} {result['version']}]")
    busy = [
        (name, number, run["cpu_busy_before"])
        for name, r in results.items()
        for number, run in enumerate(r["runs"], 1)
        if (run.get("cpu_busy_before") or 0) >= BUSY_WARNING
    ]
    if busy:
        listed = ", ".join(f"{name} (run {number}) {value:.0%}" for name, number, value in busy)
        print(f"WARNING: the CPUs were busy with something else just before: {listed}; those figures are unreliable")
    errors = [(name, error) for name, r in results.items() for error in r.get("errors", [])]
    if errors:
        print("errors (details in the JSON and the logs):")
        for name, error in errors:
            print(f"  {name} {error.splitlines()[0]}")


def target_lines(ran: dict[str, dict[str, Any]], baseline: str) -> list[str]:
    ours = ran[baseline]["figures"]
    peers = {name: r["figures"] for name, r in ran.items() if r["library"] != ran[baseline]["library"]}

    def best(key: str) -> tuple[str, float] | None:
        values = [(name, f[key]) for name, f in peers.items() if f.get(key)]
        return max(values, key=lambda item: item[1]) if values else None

    lines = []
    for key, text in TARGETS_TEXT:
        value = ours.get(key)
        if value is None:
            lines.append(f"{text}: no figure")
            continue
        if key == "latency_p50_ms":
            lines.append(f"{text}: {value:.2f} ms -> {'met' if value <= 0.5 else 'NOT met'}")
            continue
        if key == "enqueue_bulk_rate":
            reference = ("rq", peers["rq"][key]) if peers.get("rq", {}).get(key) else None
            factor = 4.0
        else:
            reference = best(key)
            factor = 4.0 if key == "drain_rate" else 1.0
        if reference is None:
            lines.append(f"{text}: no peer figure")
            continue
        got = value / reference[1]
        verdict = "met" if got >= factor else "NOT met"
        lines.append(f"{text}: {got:.2f}x {reference[0]} ({value:,.0f} vs {reference[1]:,.0f}/s) -> {verdict}")
    return lines


def print_backlog(library: str, backlog: list[dict[str, Any]]) -> None:
    _, per_call = PROBE_BATCH_CLAIMS
    print(f"{library} with jobs already queued (the worker and job above; claims are direct backend.jobs_claim calls)")
    heads = ["queued", "drain (jobs/s)", "claim 1 (us)", f"claim {per_call} (us/job)", "enqueue 1 (us)"]
    widths = [12, 16, 14, 20, 16]
    print("".join(f"{h:>{w}}" for h, w in zip(heads, widths, strict=True)))
    for details in backlog:
        cells = [
            f"{int(details['backlog']):,}",
            f"{details['drain_rate']:,.0f}",
            f"{details['claim_one_us']:.0f}",
            f"{details[f'claim_{per_call}_us_per_job']:.1f}",
            f"{details['enqueue_one_us']:.0f}",
        ]
        print("".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True)))
    print(
        f"  (drain: the first {BACKLOG_DRAIN:,} jobs of the backlog; claim 1: {PROBE_CLAIMS:,} calls of limit=1; "
        f"claim {per_call}: {PROBE_BATCH_CLAIMS[0]} calls of limit={per_call}; enqueue 1: {PROBE_ENQUEUES:,} calls)"
    )


def cpu_busy(seconds: float = 1.0) -> float | None:
    """The share of all CPUs busy over ``seconds`` (Linux), measured while this benchmark is idle."""

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def environment(server: RedisServer) -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=PEERS_DIR, capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "commit": commit,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "redis_server": server.version,
        "redis_py": version_of("redis"),
        "hiredis": version_of("hiredis"),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


# -- main ------------------------------------------------------------------------------------
def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="conveyor and its peers on one local Redis")
    parser.add_argument("--quick", action="store_true", help="fewer jobs and samples; no 1,000,000-job backlog")
    parser.add_argument("--runs", type=int, default=1, help="run everything N times (interleaved); report medians")
    parser.add_argument("--json", metavar="PATH", help="also write every figure and detail as JSON to PATH")
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        help=f"run only these libraries or setups (of: {', '.join(MODULES)}; setups like rq-simple, celery-solo)",
    )
    parser.add_argument("--logs", metavar="DIR", help="keep the worker and redis-server logs in DIR")
    args = parser.parse_args(argv)
    sizes = SIZES["quick" if args.quick else "full"]

    logdir = Path(args.logs) if args.logs else Path(tempfile.mkdtemp(prefix="conveyor-peers-"))
    logdir.mkdir(parents=True, exist_ok=True)
    server = RedisServer(logdir)
    os.environ[peerjobs.URL_ENV] = server.url  # before any adapter module binds its broker
    results: dict[str, dict[str, Any]] = {}
    try:
        env = environment(server)
        log(f"redis-server {server.version} on port {server.port} (pid {server.proc.pid}), Python {env['python']}, "
            f"{env['cpus']} CPUs, load {env['loadavg']}; logs in {logdir}")  # fmt: skip
        self_test(server)
        selected = select_adapters(set(args.only or []))
        for adapter in selected:
            results[adapter.name] = describe(adapter)
        for number in range(1, args.runs + 1):
            rundir = logdir / f"run{number}"
            rundir.mkdir(exist_ok=True)
            for adapter in selected:
                runs = results[adapter.name]["runs"]
                if runs and "skipped" in runs[0]:
                    continue
                busy = cpu_busy()
                state = "?" if busy is None else f"{busy:.0%}" + ("  WARNING: not idle" if busy >= BUSY_WARNING else "")
                log(f"[run {number}/{args.runs}] {adapter.name} ({adapter.library} {version_of(adapter.library)}); "
                    f"CPUs busy before it: {state}")  # fmt: skip
                outcome = run_adapter(adapter, server, sizes, rundir)
                outcome["cpu_busy_before"] = busy
                runs.append(outcome)
                if "skipped" in outcome:
                    log(f"  {adapter.name} SKIPPED: {outcome['skipped']}")
        for result in results.values():
            summarize(result)
        print()
        print(f"mode: {'quick' if args.quick else 'full'}, {args.runs} run(s){' (medians)' if args.runs > 1 else ''}; "
              f"sizes: {sizes}; redis-server {server.version}, {env['cpus']} CPUs, Python {env['python']}")  # fmt: skip
        print()
        print_report(results, "conveyor", sizes)
        if args.json:
            document = {
                "environment": env,
                "mode": "quick" if args.quick else "full",
                "runs": args.runs,
                "sizes": sizes,
                "results": results,
            }
            Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
            log(f"results written to {args.json}")
    finally:
        server.stop()
    failed = any(r.get("errors") for r in results.values())
    if failed:
        log(f"some measurements failed: the worker and redis-server logs are in {logdir}")
    elif not args.logs:
        shutil.rmtree(logdir, ignore_errors=True)
    return 1 if failed else 0


INSTALL_PEERS = "install the peers: python3 -m venv .venv-peers && .venv-peers/bin/pip install -e '.[peers]'"


def select_adapters(wanted: set[str]) -> list[Adapter]:
    """The adapters named by --only (a library's module name selects all its setups), in table order."""
    selected = []
    for module in MODULES:
        try:
            adapters = load(module)
        except ImportError as exc:
            if not wanted or module in wanted:
                log(f"{module}: not installed ({exc}); {INSTALL_PEERS}")
            continue
        selected += [a for a in adapters if not wanted or a.name in wanted or module in wanted]
    unknown = wanted - {a.name for a in selected} - set(MODULES)
    if unknown:
        raise SystemExit(f"--only: unknown names {sorted(unknown)}")
    return selected


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
