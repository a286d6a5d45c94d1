"""Chaos: workers under limits and a rate, killed, frozen and cut off, then invariants checked.

    .venv/bin/python bench/chaos.py --backend redis --seconds 60
    .venv/bin/python bench/chaos.py --backend sqlite --seconds 60 --faults kill,cancel,requeue
    .venv/bin/python bench/chaos.py --backend redis --seed 7 --keep   # same dice; keep the run's files

Starts ``--workers`` worker processes on a fresh store (a SQLite file, or a redis-server
of its own on a free port, append-only so a restart keeps the jobs), with a per-user
limit, a limit on the "heavy" job type, a start rate on the other type (``--work-rate``,
8 a second, which holds some of them: the claims' rate path under faults) and a start
rate per user (``--user-rate``, 3 a second), on jobs of ``--users`` users in two queues,
a share of them heavy, a fifth enqueued at the front of their priority and a fifth
snoozing once before they run (bench/chaosjobs.py: each run marks its start and end in
a shared log). For
``--seconds`` it then, at random, kills workers with SIGKILL (starting another in
place), freezes them with SIGSTOP and thaws them with SIGCONT,
stalls the store (every write held up: a SQLite writer stopped holding the write lock,
Redis's CLIENT PAUSE WRITE or DEBUG SLEEP), restarts the redis-server, cancels and
requeues jobs, pauses one queue or both for 0.5 to 5 s (Queue.pause, then resume), and
enqueues more. Then it thaws everything, resumes both queues, lets the workers drain
them, stops them, and checks:

- every job is stored, and ended (one left queued or started is stuck), and no queue
  is left paused;
- a finished job has a run that completed;
- no job ran twice at once (two runs' marks overlap), except a run whose worker was
  frozen meanwhile, that ended within a lease period of the thaw (the documented case:
  a worker stalled past its lease has its job run again elsewhere, and stops its own
  run once it finds its lease lost);
- no user had more runs at once than the per-user limit, nor the heavy type more than
  its limit (runs of frozen workers not counted);
- no job ran again after a run that completed, unless that run's worker was killed or
  frozen before it could record the outcome, or the harness canceled or requeued it;
- no run of a paused queue's job began from a claim made while it was paused: between
  a lease period after the pause call returned and the resume call (the store's
  started_at of finished jobs, and every run's start mark; see started_while_paused);
- no user, nor the work type, had more than N starts (the store's started_at of
  finished jobs) within half a period of its rate.

Prints a short report; exits 1 when an invariant was broken. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR), str(BENCH_DIR.parent / "tests")]

import chaosjobs  # noqa: E402
import redis  # noqa: E402

import conveyor  # noqa: E402
from conveyor import Queue, Retry  # noqa: E402
from conveyor.backends.base import Backend  # noqa: E402
from conveyor.command import cancel_job, requeue_job  # noqa: E402
from conveyor.exceptions import BackendError, ConfigurationError, InvalidJobOperation, NoSuchJobError  # noqa: E402
from conveyor.queue import EnqueueData  # noqa: E402
from conveyor.rates import Rate, parse_rate  # noqa: E402
from conveyor.status import TERMINAL, JobStatus  # noqa: E402
from conveyor.types import JobRecord  # noqa: E402
from redis_server import RedisServer  # noqa: E402
from stalls import FrozenWriter, pause_redis_writes  # noqa: E402

QUEUES = ("chaos", "chaos-b")  # the workers take both; a pause stops one, or both
FAULTS = ("kill", "stop", "redis", "stall", "cancel", "requeue", "pause")
OPEN = float("inf")


@dataclasses.dataclass
class Worker:
    """One worker process and what was done to it (monotonic times)."""

    process: subprocess.Popen[bytes]
    frozen: list[list[float]] = dataclasses.field(default_factory=list)  # [stopped at, thawed at (OPEN)]
    killed_at: float | None = None
    replaced: bool = False  # it exited on its own, and another took its place

    @property
    def is_frozen(self) -> bool:
        return bool(self.frozen) and self.frozen[-1][1] == OPEN


@dataclasses.dataclass
class Pause:
    """One pause of a queue, from its call to its resume's, on both clocks: monotonic
    (the marks') and the wall clock (the store's started_at). Only pauses whose call
    returned are kept (one cut by a Redis restart may or may not have been written)."""

    queue: str
    called: float  # monotonic
    returned: float
    returned_wall: float
    paused_at: float | None = None  # the store's own 'since' (queues_paused), on the wall clock
    resume_called: float = OPEN  # monotonic, before the first try of the resume
    resume_called_wall: float = OPEN
    resumed: float = OPEN  # when a resume returned


@dataclasses.dataclass
class Run:
    """One run of a job, from its marks."""

    job_id: str
    user: str
    job_type: str
    pid: int
    start: float
    end: float = OPEN
    outcome: str = ""  # done, raised, or '' (no end mark: its worker was killed)


class Harness:
    def __init__(self, args: argparse.Namespace, directory: Path) -> None:
        self.args = args
        self.dir = directory
        self.log = str(directory / "marks.log")
        self.dice = random.Random(args.seed)
        self.redis: RedisServer | None = None
        self.redis_down_until: float | None = None
        self.held_up: list[list[float]] = []  # [from, until (OPEN)]: the store stalled or down
        self.down: list[list[float]] = []  # of those, Redis's outages (calls fail rather than wait)
        self.stalling: threading.Thread | None = None
        self.thawing = threading.Lock()
        if args.backend == "redis":
            self.redis = RedisServer(directory, appendonly=True, options=("--enable-debug-command", "yes")).start()
            self.url = f"{self.redis.url}?prefix=chaos"
        else:
            self.url = f"sqlite:///{directory / 'chaos.db'}"
        self.backend: Backend = conveyor.connect(self.url)
        self.queues = {name: Queue(name, connection=self.backend) for name in QUEUES}
        self.pauses: list[Pause] = []
        self.pausing: threading.Timer | None = None  # the resume to come
        self.workers: dict[int, Worker] = {}
        self.job_ids: list[str] = []
        self.changed: set[str] = set()  # jobs canceled or requeued (a cancel may find one ended)
        self.done: dict[str, float] = defaultdict(int)

    # -- the store and the workers --------------------------------------------------------
    def enqueue(self, count: int) -> None:
        datas: dict[str, list[EnqueueData]] = defaultdict(list)
        for _ in range(count):
            user = f"user-{self.dice.randrange(self.args.users)}"
            seconds = self.dice.uniform(0.05, self.args.job_seconds)
            function = chaosjobs.heavy if self.dice.random() < self.args.heavy else chaosjobs.work
            snooze = self.dice.choice((None,) * 8 + (0.0, 0.3))  # a fifth snooze once: at once, or for 0.3 s
            datas[self.dice.choice(QUEUES)].append(Queue.prepare_data(
                function, (self.log, user, seconds, snooze), user_id=user, at_front=self.dice.random() < 0.2,
                retry=Retry(max=1000), failure_ttl=-1, result_ttl=-1,
            ))  # fmt: skip
        for queue, queue_datas in datas.items():
            try:
                self.job_ids += [job.id for job in self.queues[queue].enqueue_many(queue_datas)]
            except BackendError:
                self.done["enqueue refused (store down)"] += 1

    def note(self, event: str, detail: object = "") -> None:
        """A line in events.log, on the marks' clock: what was done when (kept with --keep)."""
        with (self.dir / "events.log").open("a") as events:
            events.write(f"{time.monotonic():.6f} {event} {detail}\n")

    def start_worker(self, index: int) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(BENCH_DIR), os.environ.get("PYTHONPATH", "")])}
        command = [
            sys.executable, "-m", "conveyor", "worker", *QUEUES, "-u", self.url, "-c", str(self.args.concurrency),
            "--lease-ttl", str(self.args.lease_ttl), "--poll-interval", "0.2", "--shutdown-timeout", "5",
            "--interrupt-grace", "2", "--per-user-max-concurrent-jobs", str(self.args.per_user),
            "--job-type-limit", f"chaosjobs.heavy={self.args.per_type}", "--log-level", "warning",
        ]  # fmt: skip
        if self.args.work_rate != "none":
            command += ["--job-type-rate", f"chaosjobs.work={self.args.work_rate}"]
        if self.args.user_rate != "none":
            command += ["--user-rate", self.args.user_rate]
        with (self.dir / f"worker-{index}.log").open("ab") as stderr:
            process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        self.workers[process.pid] = Worker(process)
        self.note(f"worker-{index}", process.pid)

    def supervise(self) -> None:
        """Start a worker in place of one that exited on its own, as a supervisor would (a
        worker started while Redis is down exits, saying it cannot reach it)."""
        for worker in list(self.workers.values()):
            if worker.killed_at is None and worker.process.poll() is not None and not worker.replaced:
                worker.replaced = True
                self.done["worker exits"] += 1
                self.start_worker(len(self.workers))

    def live(self, frozen: bool | None = None) -> list[Worker]:
        return [
            w for w in self.workers.values()
            if w.killed_at is None and w.process.poll() is None and (frozen is None or w.is_frozen == frozen)
        ]  # fmt: skip

    # -- faults ---------------------------------------------------------------------------
    def fault(self, name: str) -> None:
        now = time.monotonic()
        if name == "kill" and (victims := self.live(frozen=False)):
            victim = self.dice.choice(victims)
            victim.process.send_signal(signal.SIGKILL)
            self.note("kill", victim.process.pid)
            victim.process.wait()
            victim.killed_at = time.monotonic()
            self.start_worker(len(self.workers))
        elif name == "stop" and (victims := self.live(frozen=False)):
            victim = self.dice.choice(victims)
            victim.process.send_signal(signal.SIGSTOP)
            self.note("stop", victim.process.pid)
            victim.frozen.append([time.monotonic(), OPEN])
            # thawed on a timer: the harness's own writes may wait for the lock the worker holds
            threading.Timer(self.args.freeze, self.thaw, (victim,)).start()
        elif name == "redis" and self.redis is not None and self.redis_down_until is None:
            self.redis.stop()
            self.note("redis down")
            self.down.append(outage := [time.monotonic(), OPEN])
            self.held_up.append(outage)  # the same list: ended once
            self.redis_down_until = now + self.dice.uniform(0.3, 2.0)
        elif name == "stall" and (self.stalling is None or not self.stalling.is_alive()):
            self.stall()
        elif name in ("cancel", "requeue"):
            self.change_a_job(name)
        elif name == "pause" and (self.pausing is None or not self.pausing.is_alive()):
            self.pause()
        else:
            return
        self.done[name] += 1

    def stall(self) -> None:
        """Hold up every write to the store for a while, on a thread (the harness's own
        calls wait too): a SQLite writer stopped holding the write lock; on Redis
        ``CLIENT PAUSE ... WRITE`` or ``DEBUG SLEEP`` (which holds reads up too), below the
        client's socket timeout (15 s), past which a stall is an outage."""
        seconds = self.dice.uniform(0.2, self.args.stall)
        how = "sqlite writer" if self.redis is None else self.dice.choice(("client pause", "debug sleep"))
        self.done[f"stall: {how}"] += 1
        if seconds > self.args.lease_ttl:
            self.done[f"stall: {how}, past the lease"] += 1
        self.stalling = threading.Thread(target=self._stall, args=(how, seconds), daemon=True)
        self.stalling.start()

    def _stall(self, how: str, seconds: float) -> None:
        writer = None
        if how == "sqlite writer":
            writer = FrozenWriter(self.dir / "chaos.db", name="stall")
            while not writer.holding():  # it queues behind a frozen worker holding the lock
                time.sleep(0.01)
        self.note("stall", f"{how} {seconds:.2f}s")
        self.held_up.append(held_up := [time.monotonic(), OPEN])
        try:
            if writer is not None:
                time.sleep(seconds)
                writer.thaw()
            elif how == "client pause":
                assert self.redis is not None
                pause_redis_writes(self.redis.url, seconds)
                time.sleep(seconds)
            else:
                assert self.redis is not None
                with redis.Redis(port=self.redis.port, socket_timeout=seconds + 30) as client:
                    client.execute_command("DEBUG", "SLEEP", f"{seconds:.3f}")
        except redis.RedisError:  # restarted meanwhile (the redis fault), or down: no stall
            self.done["stall refused (redis down)"] += 1
        held_up[1] = time.monotonic()
        self.note("stall over")

    def job_ids_of(self, statuses: list[JobStatus]) -> list[str]:
        return [job_id for queue in QUEUES for job_id in self.backend.job_ids(queue, statuses)]

    def change_a_job(self, name: str) -> None:
        try:
            if name == "cancel":
                running = self.job_ids_of([JobStatus.STARTED])  # half the time a running one
                job_id = self.dice.choice(running if running and self.dice.random() < 0.5 else self.job_ids)
                self.changed.add(job_id)
                cancel_job(job_id, connection=self.backend)
            else:
                ended = self.job_ids_of([JobStatus.CANCELED, JobStatus.FAILED, JobStatus.STOPPED])
                if ended:
                    self.changed.add(job_id := self.dice.choice(ended))
                    requeue_job(job_id, connection=self.backend)
        except (InvalidJobOperation, NoSuchJobError, BackendError):
            self.done[f"{name} refused"] += 1

    def pause(self) -> None:
        """Pause one queue or both (Queue.pause), and resume them 0.5 to 5 s later, on a
        timer (as thaws are: the main loop's own writes may wait on a frozen worker)."""
        names = self.dice.choice([[QUEUES[0]], [QUEUES[1]], list(QUEUES)])
        paused: list[Pause] = []
        for name in names:
            called = time.monotonic()
            try:
                self.queues[name].pause()
            except BackendError:  # the store down: written or not, the resume below makes sure
                self.done["pause refused (store down)"] += 1
                continue
            paused.append(Pause(name, called, time.monotonic(), time.time()))
            self.note("pause", name)
        try:
            since = self.backend.queues_paused()
            for pause in paused:
                pause.paused_at = since.get(pause.queue)
        except BackendError:
            pass
        self.pauses += paused
        self.done["pause: " + "+".join(names)] += 1
        self.pausing = threading.Timer(self.dice.uniform(0.5, 5.0), self.resume, (names, paused))
        self.pausing.start()

    def resume(self, names: list[str], paused: list[Pause]) -> None:
        """Resume ``names``, trying again while the store is down (the interval ends at the
        first try: a try that failed may have been written)."""
        for pause in paused:
            if pause.resume_called == OPEN:  # (the drain's resume may follow the timer's)
                pause.resume_called, pause.resume_called_wall = time.monotonic(), time.time()
        deadline = time.monotonic() + 60
        while True:
            try:
                self.backend.queues_resume(names)
                break
            except BackendError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        for pause in paused:
            pause.resumed = time.monotonic()
        self.note("resume", ",".join(names))

    def thaw(self, worker: Worker) -> None:
        with self.thawing:
            if worker.is_frozen:
                worker.process.send_signal(signal.SIGCONT)
                worker.frozen[-1][1] = time.monotonic()
                self.note("thaw", worker.process.pid)

    def thaw_due(self, everything: bool = False) -> None:
        now = time.monotonic()
        for worker in self.live(frozen=True) if everything else []:
            self.thaw(worker)
        if self.redis is not None and self.redis_down_until is not None and (everything or now > self.redis_down_until):
            self.redis.start()
            self.note("redis up")
            self.down[-1][1] = time.monotonic()  # (held_up[-1] may be a stall's, begun meanwhile)
            self.redis_down_until = None
        if everything and self.stalling is not None:
            self.stalling.join()
        if everything and self.pausing is not None and self.pausing.is_alive():
            self.pausing.cancel()  # resumed now, rather than at its time
            self.pausing.join()
            self.resume(*self.pausing.args)

    # -- the run ------------------------------------------------------------------------
    def run(self) -> None:
        self.enqueue(self.args.jobs)
        for index in range(self.args.workers):
            self.start_worker(index)
        faults = [f for f in self.args.faults.split(",") if f]
        ends = time.monotonic() + self.args.seconds
        while time.monotonic() < ends:
            time.sleep(self.dice.uniform(0.05, 2 * self.args.pace))
            self.thaw_due()
            self.supervise()
            self.fault(self.dice.choice(faults))
            if self.dice.random() < 0.2:
                self.enqueue(self.dice.randrange(1, 20))
        self.thaw_due(everything=True)
        self.drain()

    def drain(self) -> None:
        """Resume every queue (a pause whose call failed may have been written), let the
        workers end every job, then stop them (SIGTERM: running jobs finish first)."""
        self.resume(list(QUEUES), [])
        deadline = time.monotonic() + self.args.drain
        waiting = [JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED]
        while time.monotonic() < deadline:
            try:
                if sum(self.backend.jobs_count(queue, waiting) for queue in QUEUES) == 0:
                    break
            except BackendError:
                pass
            self.supervise()
            time.sleep(0.2)
        for worker in self.live():
            worker.process.send_signal(signal.SIGTERM)
        for worker in self.workers.values():
            try:
                worker.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
                worker.killed_at = time.monotonic()

    def close(self) -> None:
        for worker in self.workers.values():
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGCONT)
                worker.process.kill()
                worker.process.wait()
        self.backend.close()
        if self.redis is not None:
            self.redis.stop()


# -- checking --------------------------------------------------------------------------------
def read_runs(log: str, workers: dict[int, Worker]) -> list[Run]:
    runs: dict[tuple[str, str], Run] = {}
    for line in Path(log).read_text().splitlines() if Path(log).exists() else []:
        kind, job_id, attempt, user, job_type, pid, at = line.split()
        if kind == "start":
            runs[(job_id, attempt)] = Run(job_id, user, job_type, int(pid), float(at))
        elif (job_id, attempt) in runs:
            run = runs[(job_id, attempt)]
            run.end, run.outcome = float(at), kind.removeprefix("end-")
    for run in runs.values():  # a run cut by a kill -9 ended with its process
        worker = workers.get(run.pid)
        if run.end == OPEN and worker is not None and worker.killed_at is not None:
            run.end = worker.killed_at
    return list(runs.values())


def frozen_during(run: Run, until: float, workers: dict[int, Worker]) -> list[float] | None:
    """The freeze of the run's worker that began between the run's start and ``until``."""
    worker = workers.get(run.pid)
    for freeze in worker.frozen if worker is not None else []:
        if freeze[1] > run.start and freeze[0] <= until:
            return freeze
    return None


SETTLE_WITHIN = 3.0
"""Seconds after a run ends, or after the store stalled or down then came back (and the
worker's backoff), by which its worker has recorded the outcome."""

BACKOFF_FIRST, BACKOFF_LAST = 0.5, 30.0
"""A worker's backoff after its store failed (README: 0.5 s doubling to 30 s)."""


def settled_by(run: Run, harness: Harness) -> float:
    """When the worker of a run has recorded its outcome: within SETTLE_WITHIN of its
    end, or of the store's return from a stall or an outage under way then.

    After an outage, outcomes wait for the worker's next try, after a backoff that
    doubled at each failed one (README: 0.5 s doubling to 30 s): at most the time it has
    been failing, plus the first 0.5 s. So the try after the store's return comes up to
    that long after it; and a return the try may have missed (Redis up for less than the
    backoff reached, then down again: the harness restarts and stops it back to back)
    joins the outages into one, whose end counts."""
    settled = run.end
    for began, ended in sorted(harness.held_up):
        if began <= settled <= ended:
            settled = ended
    outages = sorted(harness.down)
    for index, (began, ended) in enumerate(outages):
        if not began <= run.end <= ended:
            continue
        back = ended
        for later_began, later_ended in outages[index + 1 :]:
            if later_began - back >= min(BACKOFF_LAST, back - began + BACKOFF_FIRST):
                break
            back = max(back, later_ended)
        settled = max(settled, back + min(BACKOFF_LAST, back - began + BACKOFF_FIRST))
        break
    return settled + SETTLE_WITHIN


def outcome_lost(first: Run, job_runs: list[Run], harness: Harness) -> bool:
    """Whether the job ran again after ``first`` completed, though nothing excuses it: its
    worker was neither killed nor frozen before it could record the outcome, and the
    harness did not cancel or requeue the job (a run that completed as the cancel came
    is run again when the job is requeued)."""
    if first.outcome != "done" or first.job_id in harness.changed:
        return False
    if not any(later.start > first.start for later in job_runs):
        return False
    worker = harness.workers.get(first.pid)
    if worker is None:
        return True
    begins, ends = first.start, settled_by(first, harness)
    if worker.killed_at is not None and begins <= worker.killed_at <= ends:
        return False
    return not any(thawed > begins and stopped < ends for stopped, thawed in worker.frozen)


def check(harness: Harness) -> list[str]:
    args, workers, backend = harness.args, harness.workers, harness.backend
    broken: list[str] = []
    runs = read_runs(harness.log, workers)
    grace = args.lease_ttl + 2.0  # a thawed worker finds its lease lost within a heartbeat, then interrupts
    by_job: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        by_job[run.job_id].append(run)
    for job_id, job_runs in by_job.items():
        job_runs.sort(key=lambda r: r.start)
        for i, first in enumerate(job_runs):
            if outcome_lost(first, job_runs, harness):
                broken.append(f"job {job_id} ran again after pid {first.pid} completed it ({first.start:.2f} to "
                              f"{first.end:.2f}), its worker neither killed nor frozen meanwhile")  # fmt: skip
            for later in job_runs[i + 1 :]:
                if later.start >= first.end:
                    continue
                freeze = frozen_during(first, later.start, workers)
                if freeze is not None and first.end <= freeze[1] + grace:
                    continue  # its worker was frozen past its lease: run elsewhere, as documented
                broken.append(f"job {job_id} ran twice at once: pid {first.pid} from {first.start:.2f} to "
                              f"{first.end:.2f}, pid {later.pid} from {later.start:.2f}")  # fmt: skip
    users = sorted({run.user for run in runs})
    for user in users:
        broken += over_limit([r for r in runs if r.user == user], args.per_user, user, workers)
    broken += over_limit([r for r in runs if r.job_type == "heavy"], args.per_type, "the heavy type", workers)
    completed = {run.job_id for run in runs if run.outcome == "done"}
    records: dict[str, JobRecord] = {}
    statuses: dict[str, int] = defaultdict(int)
    for start in range(0, len(harness.job_ids), 1000):
        ids = harness.job_ids[start : start + 1000]
        for job_id, record in zip(ids, backend.jobs_get(ids), strict=True):
            if record is None:
                broken.append(f"job {job_id} was lost (not stored)")
                continue
            statuses[record.status.value] += 1
            records[job_id] = record
            if record.status is JobStatus.FINISHED and job_id not in completed:
                broken.append(f"job {job_id} finished without a run that completed")
            elif record.status is JobStatus.QUEUED:  # its queue left paused, or workers that took nothing
                broken.append(f"job {job_id} left queued: the drain ({args.drain:g} s) did not end it")
            elif record.status not in TERMINAL:
                broken.append(f"job {job_id} left {record.status.value} with no worker to end it")
    harness.done.update({f"jobs {status}": count for status, count in statuses.items()})
    if still := backend.queues_paused():
        broken.append(f"queues left paused after the drain resumed them: {', '.join(sorted(still))}")
    broken += started_while_paused(harness, runs, records)
    finished = [(r, r.started_at) for r in records.values() if r.status is JobStatus.FINISHED and r.started_at]
    work = "chaosjobs.work"
    for rate, whose, starts in (
        (args.user_rate, "user", {user: [at for r, at in finished if r.user_id == user] for user in users}),
        (args.work_rate, "job type", {work: [at for r, at in finished if r.func_name == work]}),
    ):  # fmt: skip
        if rate != "none":
            for name, times in starts.items():
                broken += over_rate(times, parse_rate(rate), f"{whose} {name}")
            spans = [tightest(times, parse_rate(rate).count) for times in starts.values()]
            harness.done[f"{whose} rate {rate}: tightest N+1 starts (s)"] = round(min(spans), 2)
    harness.done["runs"] = len(runs)
    return broken


PAUSE_MARGIN_SLACK = 0.5
"""Seconds a run's start mark may follow its started_at (the thread's hand-off to the job)."""


def started_while_paused(harness: Harness, runs: list[Run], records: dict[str, JobRecord]) -> list[str]:
    """Runs of a queue's jobs that began while it was paused, though their claims must
    have come after the pause was written.

    A claim is atomic in the store and reads the pause in the same step, so one that
    took a job of the queue after the pause was written is the bug; one written just
    before may start its job a little later. How much later has a hard bound: a worker
    starts a job only if the claim's lease (the claim's time plus --lease-ttl) has not
    run out by then (runner._start gives it back otherwise). So a start later than the
    pause call's return plus a lease period comes from a claim made after the pause was
    written, and one before the resume was called from a claim made before it: between
    the two, a start is a claim that broke the pause. The evidence: the store's
    started_at of each finished job (the worker's clock when the run began, recorded
    with the outcome, after the claim), and every run's start mark (written by the job
    itself, a moment after started_at: PAUSE_MARGIN_SLACK more margin for that).
    """
    lease = harness.args.lease_ttl
    broken: list[str] = []
    queue_of = {job_id: record.queue for job_id, record in records.items()}
    in_margin = other = 0
    latest = 0.0
    paused = sum(min(pause.resume_called, time.monotonic()) - pause.returned for pause in harness.pauses)
    harness.done["paused seconds"] = round(paused)
    for pause in harness.pauses:
        for job_id, record in records.items():
            started = record.started_at
            if record.queue != pause.queue or record.status is not JobStatus.FINISHED or started is None:
                continue
            if pause.returned_wall + lease < started < pause.resume_called_wall:
                broken.append(f"job {job_id} of {pause.queue} started {started - pause.returned_wall:.2f} s after "
                              f"its queue was paused (store's started_at; paused for "
                              f"{pause.resume_called_wall - pause.returned_wall:.2f} s)")  # fmt: skip
        for run in runs:
            queue = queue_of.get(run.job_id)
            if not pause.returned < run.start < pause.resume_called:
                continue
            if queue != pause.queue:
                other += 1
            elif run.start <= pause.returned + lease + PAUSE_MARGIN_SLACK:
                in_margin += 1
                latest = max(latest, run.start - pause.returned)
            else:
                broken.append(f"job {run.job_id} of {queue} began a run (pid {run.pid}) "
                              f"{run.start - pause.returned:.2f} s after its queue was paused (start mark; "
                              f"paused for {pause.resume_called - pause.returned:.2f} s)")  # fmt: skip
    harness.done["pause: runs begun within the margin"] = in_margin
    harness.done["pause: latest of those (s after the pause)"] = round(latest, 3)
    harness.done["pause: runs of the other queue begun meanwhile"] = other
    return broken


RATE_SLACK = 0.5
"""Of a rate's period: N + 1 starts must span at least (1 - RATE_SLACK) periods."""


def over_rate(starts: list[float], rate: Rate, whose: str) -> list[str]:
    """The first N + 1 starts (started_at) of a rate of N per period that came within
    half a period, as the rates' worker test counts them: the rate counts claims, a run
    begins a little after its claim (started_at is the run's), so with room for that."""
    starts = sorted(starts)
    for first, later in zip(starts, starts[rate.count :], strict=False):
        if later - first < rate.period * (1 - RATE_SLACK):
            return [f"{whose} started {rate.count + 1} jobs within {later - first:.3f} s (rate {rate}): "
                    + ", ".join(f"{t:.3f}" for t in starts if first <= t <= later)]  # fmt: skip
    return []


def tightest(starts: list[float], count: int) -> float:
    """The shortest time ``count`` + 1 of ``starts`` came in (how near the rate ran)."""
    starts = sorted(starts)
    return min((later - first for first, later in zip(starts, starts[count:], strict=False)), default=OPEN)


def over_limit(runs: list[Run], limit: int, whose: str, workers: dict[int, Worker]) -> list[str]:
    """The first moment more of ``runs`` ran at once than ``limit`` (runs of frozen workers not counted)."""
    runs = sorted(runs, key=lambda r: r.start)
    for run in runs:
        at_once = [
            other for other in runs
            if other.start <= run.start < other.end and frozen_during(other, run.start, workers) is None
        ]  # fmt: skip
        if len(at_once) > limit:
            return [f"{whose} had {len(at_once)} runs at once at {run.start:.2f} (limit {limit}): "
                    + ", ".join(f"{r.job_id} (pid {r.pid})" for r in at_once)]  # fmt: skip
    return []


def worker_log_lines(directory: Path) -> dict[str, int]:
    """Lines of note in the workers' logs (errors are expected under chaos; these are not)."""
    found: dict[str, int] = defaultdict(int)
    for path in directory.glob("worker-*.log"):
        for line in path.read_text(errors="replace").splitlines():
            for needle in ("never retrieved", "Traceback", "CRITICAL"):
                if needle in line:
                    found[needle] += 1
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "redis"), default="redis")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the chaos lasts")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=2, help="jobs at once per worker")
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--per-user", type=int, default=2, help="the per-user limit the workers enforce")
    parser.add_argument("--per-type", type=int, default=2, help="the limit on heavy jobs the workers enforce")
    parser.add_argument("--heavy", type=float, default=0.3, help="the share of jobs that are heavy")
    parser.add_argument(
        "--work-rate", default="8/1s", help="the start rate of the other job type the workers enforce ('none': none)"
    )
    parser.add_argument(
        "--user-rate", default="3/1s", help="the start rate of each user's jobs the workers enforce ('none': none)"
    )
    parser.add_argument("--jobs", type=int, default=300, help="jobs enqueued at the start (more come later)")
    parser.add_argument("--job-seconds", type=float, default=0.6, help="longest a job runs")
    parser.add_argument("--lease-ttl", type=float, default=2.0)
    parser.add_argument("--freeze", type=float, default=4.0, help="seconds a frozen worker stays frozen")
    parser.add_argument("--stall", type=float, default=5.0, help="longest a stall lasts (seconds, under 15)")
    parser.add_argument("--pace", type=float, default=0.4, help="mean seconds between two faults")
    parser.add_argument("--drain", type=float, default=90.0, help="seconds the workers get to end every job")
    parser.add_argument("--faults", default=",".join(FAULTS), help=f"comma-separated, of {', '.join(FAULTS)}")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the run's directory (marks, worker logs)")
    args = parser.parse_args()
    if unknown := set(args.faults.split(",")) - set(FAULTS) - {""}:
        parser.error(f"unknown faults: {', '.join(sorted(unknown))} (choose from {', '.join(FAULTS)})")
    if not 0.2 < args.stall < 15:
        parser.error(f"--stall must be over 0.2 and under 15 seconds (Redis clients' socket timeout): {args.stall:g}")
    for flag, rate in (("--user-rate", args.user_rate), ("--work-rate", args.work_rate)):
        try:
            if rate != "none":
                parse_rate(rate)
        except ConfigurationError as exc:
            parser.error(f"{flag}: {exc}")
    args.seed = random.randrange(10**6) if args.seed is None else args.seed
    directory = Path(tempfile.mkdtemp(prefix="conveyor-chaos-"))
    harness = Harness(args, directory)
    try:
        harness.run()
        broken = check(harness)
    finally:
        harness.close()
    print(f"chaos on {args.backend}, seed {args.seed}, {args.seconds:g} s, {args.workers} workers x "
          f"{args.concurrency}, per-user limit {args.per_user}, heavy limit {args.per_type}, "
          f"work rate {args.work_rate}, user rate {args.user_rate}, "
          f"lease {args.lease_ttl:g} s")  # fmt: skip
    print("  " + ", ".join(f"{name} {count}" for name, count in sorted(harness.done.items())))
    notes = worker_log_lines(directory)
    if notes:
        print("  in the workers' logs: " + ", ".join(f"{n} x{c}" for n, c in sorted(notes.items())))
    print(f"  files: {directory}" if args.keep else "  (--keep keeps the marks and worker logs)")
    if not args.keep:
        shutil.rmtree(directory, ignore_errors=True)
    for line in broken[:20]:
        print("BROKEN: " + line)
    if len(broken) > 20:
        print(f"BROKEN: ... and {len(broken) - 20} more")
    print("invariants held" if not broken else f"{len(broken)} invariant violations")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
