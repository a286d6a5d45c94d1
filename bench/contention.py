"""Contention: many processes on one SQLite file, as users run them, then the checks.

    .venv/bin/python bench/contention.py                    # 3 minutes of load, then the drain
    .venv/bin/python bench/contention.py --seconds 30       # a short check
    .venv/bin/python bench/contention.py --threads 1,1,1,2,2,4 --keep

On a fresh SQLite file in a temporary directory it starts, all at once (so they also
race to create and migrate the file): one enqueuing process per entry of ``--threads``
(that many threads each, every thread calling ``Queue.enqueue`` one job at a time as
fast as it can), three ``conveyor worker`` processes (``-c 1``, ``-c 4`` threads,
``-c 16`` taking async jobs first), a ``conveyor serve`` (or ``conveyor up``, with
``--server up``: the zero-setup command, its own worker and demo jobs), a client process with three
SSE streams, a poller of the dashboard's endpoints and a REST submitter, and a cron
loop of ``conveyor info``, ``conveyor requeue --all`` (both queues) and, every tenth
round, ``conveyor cleanup``. A third of the jobs are ``async def``; one in fifty fails
its first run on purpose and is put back by the requeue loop; every other job keeps its
result 5 s, so that retention deletes jobs while the clients read. After ``--seconds`` the
enqueuers stop; the rest runs until every job has finished (``--drain`` seconds at
most), then everything is stopped and checked:

- no ``database is locked``, no unexpected traceback, no HTTP 5xx, no command failing;
- every enqueued job finished exactly once (the jobs append their ids to one log with
  O_APPEND, bench/contendjobs.py), and ``conveyor doctor`` finds nothing;
- the worst enqueue latency of each process, the worst gap between two jobs of each
  worker while jobs were queued, the slowest REST answer and CLI command;
- the largest size the WAL file reached.

It prints a report and exits 1 if a check failed. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

QUEUES = ("sync", "async")
WORKERS = (("1", QUEUES), ("4", QUEUES), ("16", tuple(reversed(QUEUES))))
"""Each worker's concurrency and queues, in the order it takes them."""
FAIL_EVERY = 50
ASYNC_EVERY = 3
SHORT_RESULT_TTL = 5
"""Every other job keeps its result this many seconds, so that retention deletes jobs
while the dashboard, the SSE streams and ``conveyor info`` read."""
SLOW_ENQUEUE = 1.0
"""An enqueue slower than this (seconds) is a stall worth reporting."""
IDLE_GAP = 1.0
"""A worker that finishes nothing for this long while jobs are queued has sat idle."""
WENT_ON = 100
"""Jobs the others enqueued (or finished) during a long wait that show it was this
process's alone, not a stall of the whole machine (a few: the writers ahead in line)."""


# -- the enqueuing processes ---------------------------------------------------------------
def run_enqueuer(url: str, threads: int, seconds: float, out: str) -> None:
    """Enqueue one job at a time from ``threads`` threads until ``seconds`` have passed."""
    import contendjobs

    import conveyor

    backend = conveyor.connect(url)
    deadline = time.monotonic() + seconds
    results: list[dict[str, Any]] = [{} for _ in range(threads)]

    def loop(index: int) -> None:
        queues = {name: conveyor.Queue(name, connection=backend) for name in QUEUES}
        ids: list[str] = []
        latencies: list[float] = []
        ends: list[float] = []
        errors: list[str] = []
        n = 0
        while time.monotonic() < deadline:
            n += 1
            is_async = n % ASYNC_EVERY == 0
            function = contendjobs.arecord if is_async else contendjobs.record
            queue = queues["async" if is_async else "sync"]
            began = time.perf_counter()
            try:
                options = {"result_ttl": SHORT_RESULT_TTL} if n % 2 else {}
                job = queue.enqueue(function, fail_once=n % FAIL_EVERY == 0, **options)
            except Exception:
                errors.append(traceback.format_exc())
                continue
            latencies.append(time.perf_counter() - began)
            ends.append(time.time())
            ids.append(job.id)
        results[index] = {"ids": ids, "latencies": latencies, "ends": ends, "errors": errors}

    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    Path(out).write_text(json.dumps(results))


# -- the HTTP clients ------------------------------------------------------------------------
def run_http(base: str, seconds: float, stop_file: str, out: str) -> None:
    """Three SSE clients, a dashboard-like poller and a REST submitter against ``base``."""
    import httpx

    stop = threading.Event()
    lock = threading.Lock()
    codes: Counter[str] = Counter()
    slowest: dict[str, float] = defaultdict(float)
    problems: list[str] = []
    submitted: list[str] = []
    streams = Counter[str]()

    def note(path: str, response: httpx.Response, took: float) -> None:
        key = re.sub(r"/[0-9a-f-]{36}", "/{id}", path.split("?", maxsplit=1)[0])
        with lock:
            codes[f"{key} {response.status_code}"] += 1
            slowest[key] = max(slowest[key], took)
            if response.status_code >= 500:
                problems.append(f"{path}: {response.status_code} {response.text[:300]}")

    def get(client: httpx.Client, path: str) -> httpx.Response | None:
        began = time.perf_counter()
        try:
            response = client.get(path)
        except httpx.HTTPError as exc:
            with lock:
                problems.append(f"GET {path}: {exc!r}")
            return None
        note(path, response, time.perf_counter() - began)
        return response

    def poller() -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            while not stop.is_set():
                for path in ("/api/v1/jobs?limit=50", "/api/v1/jobs/stats", "/api/v1/jobs/queue/stats",
                             "/api/v1/workers", "/api/v1/queues", "/api/v1/jobs?status=failed&limit=20"):  # fmt: skip
                    response = get(client, path)
                    if path.endswith("queue/stats") and response is not None and response.status_code == 200:
                        body = response.json()
                        negative = {k: v for k, v in body.items() if isinstance(v, int) and v < 0}
                        if negative:
                            with lock:
                                problems.append(f"negative counts in /jobs/queue/stats: {negative}")
                stop.wait(0.2)

    def sse() -> None:
        with httpx.Client(base_url=base, timeout=httpx.Timeout(60, read=60)) as client:
            while not stop.is_set():
                listing = get(client, "/api/v1/jobs?status=pending&limit=1")
                if listing is None or listing.status_code != 200 or not listing.json()["data"]:
                    stop.wait(0.2)
                    continue
                job_id = listing.json()["data"][0]["id"]
                path = f"/api/v1/jobs/status/{job_id}/stream"
                began = time.perf_counter()
                final = None
                try:
                    with client.stream("GET", path) as response:
                        if response.status_code != 200:
                            note(path, response, time.perf_counter() - began)
                            continue
                        event = None
                        for line in response.iter_lines():
                            if line.startswith("event: "):
                                event = line[7:]
                            elif line.startswith("data: ") and event in ("job_complete", "store_unavailable"):
                                final = (event, json.loads(line[6:]))
                                break
                            if stop.is_set():
                                break
                except httpx.HTTPError as exc:
                    with lock:
                        problems.append(f"SSE {job_id}: {exc!r}")
                    continue
                with lock:
                    slowest["SSE to job_complete"] = max(slowest["SSE to job_complete"], time.perf_counter() - began)
                    if final is None:
                        streams["ended without job_complete (at stop)"] += 1
                    elif final[0] != "job_complete":
                        problems.append(f"SSE {job_id}: {final}")
                    else:
                        streams[f"job_complete {final[1].get('status')}"] += 1

    def submitter() -> None:
        deadline = time.monotonic() + seconds
        with httpx.Client(base_url=base, timeout=60) as client:
            n = 0
            while time.monotonic() < deadline and not stop.is_set():
                n += 1
                body = {"job_type": "contend.record", "queue": "sync", "kwargs": {"fail_once": n % FAIL_EVERY == 0},
                        "result_ttl": SHORT_RESULT_TTL}  # fmt: skip
                began = time.perf_counter()
                try:
                    response = client.post("/api/v1/jobs", json=body)
                except httpx.HTTPError as exc:
                    with lock:
                        problems.append(f"POST /api/v1/jobs: {exc!r}")
                    continue
                note("/api/v1/jobs POST", response, time.perf_counter() - began)
                if response.status_code == 201:
                    submitted.append(response.json()["job_id"])
                elif response.status_code < 500:
                    with lock:
                        problems.append(f"POST /api/v1/jobs: {response.status_code} {response.text[:300]}")

    threads = [threading.Thread(target=f) for f in (poller, sse, sse, sse, submitter)]
    for thread in threads:
        thread.start()
    while not os.path.exists(stop_file):
        time.sleep(0.2)
    stop.set()
    for thread in threads:
        thread.join(timeout=70)
    report = {"codes": dict(codes), "slowest": dict(slowest), "problems": problems, "ids": submitted,
              "streams": dict(streams)}  # fmt: skip
    Path(out).write_text(json.dumps(report))


# -- the harness -----------------------------------------------------------------------------
class Run:
    """One run's directory, processes and measurements."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.dir = Path(tempfile.mkdtemp(prefix="contend-", dir=args.dir))
        self.db = self.dir / "contend.db"
        self.url = f"sqlite:///{self.db}"
        self.log = self.dir / "jobs.log"
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(BENCH_DIR), os.environ.get("PYTHONPATH", "")]),
            "CONTEND_LOG": str(self.log),
            "CONVEYOR_URL": self.url,
            "CONVEYOR_IMPORTS": "contendjobs",
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.samples: list[tuple[float, int, int, int]] = []  # time, queued, wal bytes, db bytes
        self.commands: list[tuple[str, float, int, str]] = []  # name, seconds, status, problem output
        self.stopping = threading.Event()
        self.port = free_port()

    def start(self, name: str, command: list[str]) -> None:
        output = open(self.dir / f"{name}.out", "wb")  # noqa: SIM115 (the process holds it)
        self.processes[name] = subprocess.Popen(command, env=self.env, stdout=output, stderr=subprocess.STDOUT)

    def conveyor(self, *words: str) -> list[str]:
        return [sys.executable, "-m", "conveyor", *words]

    def cron(self) -> None:
        """``conveyor info`` and ``requeue --all`` in a loop, ``cleanup`` now and then."""
        rounds = 0
        while not self.stopping.is_set():
            commands = [("info", ["info"]), *(("requeue", ["requeue", "--all", "-q", q]) for q in QUEUES)]
            if rounds % 10 == 0:
                commands.append(("cleanup", ["cleanup"]))
            for name, words in commands:
                began = time.perf_counter()
                done = subprocess.run(
                    self.conveyor(*words), check=False, env=self.env, capture_output=True, timeout=300
                )
                output = (done.stdout + done.stderr).decode(errors="replace")
                problem = output if done.returncode != 0 or output_problems(output) else ""
                self.commands.append((name, time.perf_counter() - began, done.returncode, problem))
            rounds += 1
            self.stopping.wait(1.0)

    def sample(self) -> None:
        """The queued count and the files' sizes, twice a second."""
        import conveyor

        backend = None
        while not self.stopping.wait(0.5):
            try:
                if backend is None:
                    backend = conveyor.connect(self.url, read_only=True)
                queued = sum(by_status.get(conveyor.JobStatus.QUEUED, 0) for by_status in backend.counts().values())
            except Exception:  # not created yet
                queued = -1
            self.samples.append((time.time(), queued, file_size(f"{self.db}-wal"), file_size(str(self.db))))

    def done_lines(self) -> dict[str, list[tuple[int, float]]]:
        done: dict[str, list[tuple[int, float]]] = defaultdict(list)
        if self.log.exists():
            for line in self.log.read_text().splitlines():
                kind, job_id, pid, at = line.split()
                if kind == "done":
                    done[job_id].append((int(pid), float(at)))
        return done


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_up(base: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{base}/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def file_size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def output_problems(text: str) -> list[str]:
    """What in a process's output a user should never see: a locked database, or a
    traceback other than the jobs' intended failures."""
    found = [line for line in text.splitlines() if "database is locked" in line.lower()]
    blocks = text.split("Traceback (most recent call last):")
    for block in blocks[1:]:
        head = block[:4000]
        if "IntendedFailure" not in head:
            found.append("Traceback (most recent call last):" + head[:1500])
    found += [line for line in text.splitlines() if re.search(r"\b(CRITICAL|Internal Server Error)\b", line)]
    return found


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))] if ordered else 0.0


def wait_for(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def harness(args: argparse.Namespace) -> int:
    run = Run(args)
    print(f"run directory {run.dir}, url {run.url}", flush=True)
    script = [sys.executable, str(Path(__file__).resolve())]
    threads = [int(t) for t in args.threads.split(",")]
    for index, (concurrency, queues) in enumerate(WORKERS):
        run.start(f"worker{index}", run.conveyor("worker", *queues, "-c", concurrency))
    run.start("serve", run.conveyor(args.server, "--port", str(run.port)))
    began = time.time()
    for index, count in enumerate(threads):
        out = str(run.dir / f"enqueue{index}.json")
        run.start(f"enqueue{index}", [*script, "--role", "enqueue", "--url", run.url, "--threads", str(count),
                                      "--seconds", str(args.seconds), "--out", out])  # fmt: skip
    base = f"http://127.0.0.1:{run.port}"
    if not wait_for(lambda: server_up(base), 60):
        print("conveyor serve did not answer within 60 s", flush=True)
    run.start("http", [*script, "--role", "http", "--base", base, "--seconds", str(args.seconds),
                       "--stop-file", str(run.dir / "stop"), "--out", str(run.dir / "http.json")])  # fmt: skip
    helpers = [threading.Thread(target=run.cron), threading.Thread(target=run.sample)]
    for thread in helpers:
        thread.start()
    failures: list[str] = []
    try:
        for index in range(len(threads)):
            run.processes[f"enqueue{index}"].wait()
        enqueued_by_process = [json.loads((run.dir / f"enqueue{i}.json").read_text()) for i in range(len(threads))]
        ids = [job_id for process in enqueued_by_process for thread in process for job_id in thread["ids"]]
        print(f"{len(ids)} jobs enqueued by the enqueuers in {time.time() - began:.0f}s; draining", flush=True)
        wanted = set(ids)
        drained = wait_for(lambda: wanted <= set(run.done_lines()), args.drain)
        (run.dir / "stop").touch()
        run.processes["http"].wait(timeout=120)
        http = json.loads((run.dir / "http.json").read_text())
        wanted |= set(http["ids"])
        drained = drained and wait_for(lambda: wanted <= set(run.done_lines()), args.drain)
        drain_end = time.time()
    finally:
        (run.dir / "stop").touch()
        run.stopping.set()
        for thread in helpers:
            thread.join()
        for name, process in run.processes.items():
            if name.startswith(("worker", "serve")) and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in run.processes.values():
            try:
                process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                process.kill()
                failures.append(f"{process.args!r} did not stop within 90 s of SIGTERM")
    doctor = subprocess.run(run.conveyor("doctor"), check=False, env=run.env, capture_output=True, text=True)
    return report(run, enqueued_by_process, http, wanted, drained, drain_end, doctor, failures)


def report(
    run: Run,
    enqueued: list[list[dict[str, Any]]],
    http: dict[str, Any],
    wanted: set[str],
    drained: bool,
    drain_end: float,
    doctor: subprocess.CompletedProcess[str],
    failures: list[str],
) -> int:
    print(f"\n== enqueue latency per process (threads): jobs, p50, p99, worst (ms); the enqueues of the other "
          f"processes during its worst; enqueues past {SLOW_ENQUEUE:g} s, those while others went on")  # fmt: skip
    ends = sorted((end, index) for index, process in enumerate(enqueued) for t in process for end in t["ends"])
    for index, process in enumerate(enqueued):
        latencies = [x for thread in process for x in thread["latencies"]]
        errors = [e for thread in process for e in thread["errors"]]
        timed = [(x, end) for t in process for x, end in zip(t["latencies"], t["ends"], strict=True)]
        slow = [others_during(ends, index, end - x, end) for x, end in timed if x > SLOW_ENQUEUE]
        starved = sum(1 for meanwhile in slow if meanwhile >= WENT_ON)
        worst, worst_end = max(timed, default=(0.0, 0.0))
        print(f"  enqueue{index} ({len(process)}): {len(latencies)}, {percentile(latencies, 50) * 1e3:.1f}, "
              f"{percentile(latencies, 99) * 1e3:.1f}, {worst * 1e3:.0f}; "
              f"{others_during(ends, index, worst_end - worst, worst_end)}; {len(slow)}, {starved}")  # fmt: skip
        if starved:
            failures.append(f"enqueue{index}: {starved} enqueues waited more than {SLOW_ENQUEUE:g} s while the "
                            f"other processes enqueued {WENT_ON} or more")  # fmt: skip
        failures += [f"enqueue{index}: {e}" for e in errors[:5]]

    done = run.done_lines()
    missing = wanted - set(done)
    twice = {job_id: runs for job_id, runs in done.items() if job_id in wanted and len(runs) > 1}
    print(f"\n== jobs: {len(wanted)} enqueued, {len(wanted) - len(missing)} finished, {len(missing)} not, "
          f"{len(twice)} finished more than once; drained: {drained}")  # fmt: skip
    if missing:
        failures.append(f"{len(missing)} jobs never finished, e.g. {sorted(missing)[:5]}")
    if twice:
        failures.append(f"{len(twice)} jobs finished more than once, e.g. {list(twice.items())[:3]}")
    if doctor.returncode != 0:
        failures.append(f"conveyor doctor: status {doctor.returncode}: {doctor.stdout[-2000:]}{doctor.stderr[-2000:]}")

    print(f"\n== workers: jobs done; the longest it finished none while jobs were queued (s), and the jobs the "
          f"other workers finished meanwhile; such gaps past {IDLE_GAP:g} s while the others went on")  # fmt: skip
    by_pid: dict[int, list[float]] = defaultdict(list)
    for runs in done.values():
        for pid, at in runs:
            by_pid[pid].append(at)
    pids = {run.processes[f"worker{i}"].pid: f"worker{i} (-c {c})" for i, (c, _) in enumerate(WORKERS)}
    finished = sorted((at, pid) for pid, times in by_pid.items() if pid in pids for at in times)
    backlog = [(at, queued) for at, queued, _, _ in run.samples]
    for pid, name in pids.items():
        times = sorted(by_pid.get(pid, []))
        gaps = [(after - before, before, after) for before, after in zip(times, times[1:], strict=False)
                if after - before > IDLE_GAP / 4 and queued_throughout(backlog, before, after)]  # fmt: skip
        worst, start, end = max(gaps, default=(0.0, 0.0, 0.0))
        idle = [g for g in gaps if g[0] > IDLE_GAP and others_during(finished, pid, g[1], g[2]) >= WENT_ON]
        print(f"  {name}: {len(times)}; {worst:.2f}, {others_during(finished, pid, start, end)}; {len(idle)}")
        if idle:
            failures.append(f"{name} finished nothing for {max(idle)[0]:.1f} s while jobs were queued and the other "
                            f"workers finished {WENT_ON} or more")  # fmt: skip

    print("\n== HTTP: answers by path and status; slowest answer (s)")
    for key, count in sorted(http["codes"].items()):
        print(f"  {key}: {count}")
    for key, seconds in sorted(http["slowest"].items()):
        print(f"  slowest {key}: {seconds:.3f}")
    print(f"  SSE streams: {http['streams']}")
    failures += [f"HTTP: {p}" for p in http["problems"][:10]]

    print("\n== CLI: runs, slowest (s), failures")
    by_name: dict[str, list[tuple[float, int, str]]] = defaultdict(list)
    for name, seconds, status, problem in run.commands:
        by_name[name].append((seconds, status, problem))
    for name, runs in by_name.items():
        bad = [r for r in runs if r[1] != 0 or r[2]]
        print(f"  {name}: {len(runs)}, {max(r[0] for r in runs):.2f}, {len(bad)}")
        failures += [f"conveyor {name}: status {r[1]}: {r[2][:1500]}" for r in bad[:3]]

    wal = max((s[2] for s in run.samples), default=0)
    wal_last = max((s[2] for s in run.samples if s[0] >= drain_end - 5), default=0)
    db = max((s[3] for s in run.samples), default=0)
    print(
        f"\n== files: WAL largest {wal / 1e6:.1f} MB (at the end {wal_last / 1e6:.1f} MB), database {db / 1e6:.1f} MB"
    )
    timeline = [f"{(at - run.samples[0][0]):.0f}s {size / 1e6:.0f}" for at, _, size, _ in run.samples[::60]]
    print(f"  WAL (MB) every 30 s: {', '.join(timeline)}")
    if wal > run.args.wal_limit * 1e6:
        failures.append(f"the WAL reached {wal / 1e6:.0f} MB (limit {run.args.wal_limit} MB)")

    for name in sorted(run.processes):
        text = (run.dir / f"{name}.out").read_text(errors="replace")
        failures += [f"{name}: {p}" for p in output_problems(text)[:5]]

    print("\n== result: " + ("PASS" if not failures else f"FAIL ({len(failures)})"))
    for failure in failures:
        print("  - " + failure.replace("\n", "\n    "))
    if run.args.keep or failures:
        print(f"(kept {run.dir})")
    else:
        shutil.rmtree(run.dir)
    return 1 if failures else 0


def others_during(ends: list[tuple[float, int]], index: int, start: float, end: float) -> int:
    """Events (enqueues, finished jobs) of processes other than ``index`` between start
    and end: a few when everyone stalled together (the machine), hundreds when this one
    lost the race for the lock again and again."""
    first = bisect.bisect_left(ends, (start, -1))
    last = bisect.bisect_right(ends, (end, len(ends)))
    return sum(1 for _, other in ends[first:last] if other != index)


def queued_throughout(backlog: list[tuple[float, int]], start: float, end: float) -> bool:
    """Whether every sample between start and end saw jobs queued (at least one sample)."""
    within = [queued for at, queued in backlog if start <= at <= end]
    return bool(within) and min(within) > 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=180.0, help="how long the enqueuers run")
    parser.add_argument("--threads", default="1,1,1,1,2,4", help="threads of each enqueuing process")
    parser.add_argument("--server", choices=("serve", "up"), default="serve",
                        help="conveyor serve, or conveyor up (with its own worker and demo jobs)")  # fmt: skip
    parser.add_argument("--drain", type=float, default=900.0, help="most seconds to wait for every job to finish")
    parser.add_argument("--wal-limit", type=float, default=200.0, help="MB past which the WAL counts as unbounded")
    parser.add_argument("--dir", default=None, help="where to make the run's directory")
    parser.add_argument("--keep", action="store_true", help="keep the run's directory")
    parser.add_argument("--role", choices=("harness", "enqueue", "http"), default="harness", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--stop-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "enqueue":
        run_enqueuer(args.url, int(args.threads), args.seconds, args.out)
        return 0
    if args.role == "http":
        run_http(args.base, args.seconds, args.stop_file, args.out)
        return 0
    return harness(args)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
