"""A model of the job lifecycle, checked against each backend by random sequences of operations.

Hypothesis drives enqueues, claims, settles, cancels, stop requests, requeues, deletes and
the passage of time; after every step the backend must hold exactly the jobs, statuses
and queue order the model predicts.
"""

from __future__ import annotations

import uuid

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import conveyor
from conveyor.exceptions import InvalidJobOperation
from conveyor.status import TERMINAL, JobStatus
from conveyor.testing import make_record
from conveyor.types import Settlement

LEASE = 30.0


class Lifecycle(RuleBasedStateMachine):
    """The model: each job's status, the queue's order, and the leases held."""

    url = ""

    @initialize()
    def open_backend(self) -> None:
        self.backend = conveyor.connect(self.url.replace("{prefix}", uuid.uuid4().hex[:10]))
        self.now = 1_000_000.0
        self.status: dict[str, JobStatus] = {}
        self.queue: list[str] = []  # queued ids in claim order
        self.tokens: dict[str, str] = {}  # started (or canceled while running) id -> lease token
        self.lease_end: dict[str, float] = {}
        self.retry_count: dict[str, int] = {}
        self.max_retries: dict[str, int] = {}
        self.stopping_until: dict[str, float] = {}  # canceled while running: lease end
        self.claims = 0

    def teardown(self) -> None:
        if hasattr(self, "backend"):
            self.backend.close()

    def _ids(self, *statuses: JobStatus) -> list[str]:
        return sorted(job_id for job_id, status in self.status.items() if status in statuses)

    @rule(count=st.integers(1, 3), retries=st.integers(0, 1))
    def enqueue(self, count: int, retries: int) -> None:
        # ids from a counter: hypothesis replays a case only if its choices depend on nothing random
        records = [make_record(id=f"job-{len(self.status) + n:04d}", now=self.now, max_retries=retries)
                   for n in range(count)]  # fmt: skip
        self.backend.jobs_enqueue(records, self.now)
        for record in records:
            self.status[record.id] = JobStatus.QUEUED
            self.queue.append(record.id)
            self.retry_count[record.id], self.max_retries[record.id] = 0, retries

    @rule(limit=st.integers(1, 3))
    def claim(self, limit: int) -> None:
        self.claims += 1
        token = f"token-{self.claims}"
        claimed = [r.id for r in self.backend.jobs_claim(["default"], "w", limit, token, self.now + LEASE, self.now)]
        assert claimed == self.queue[:limit]
        for job_id in claimed:
            self.queue.remove(job_id)
            self.status[job_id] = JobStatus.STARTED
            self.tokens[job_id] = token
            self.lease_end[job_id] = self.now + LEASE

    @precondition(lambda self: any(s is JobStatus.STARTED for s in self.status.values()))
    @rule(data=st.data(), outcome=st.sampled_from([JobStatus.FINISHED, JobStatus.FAILED, JobStatus.QUEUED]))
    def settle(self, data: st.DataObject, outcome: JobStatus) -> None:
        job_id = data.draw(st.sampled_from(self._ids(JobStatus.STARTED)))
        (applied,) = self.backend.jobs_settle(
            [Settlement(job_id, self.tokens.pop(job_id), outcome, count_retry=outcome is JobStatus.QUEUED)],
            self.now,
        )
        assert applied
        del self.lease_end[job_id]
        self.status[job_id] = outcome
        if outcome is JobStatus.QUEUED:
            self.queue.append(job_id)
            self.retry_count[job_id] += 1

    @precondition(lambda self: bool(self.status))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        job_id = data.draw(st.sampled_from(sorted(self.status)))
        if self.status[job_id] in TERMINAL:
            with pytest.raises(InvalidJobOperation):
                self.backend.job_cancel(job_id, self.now, None, False)
            return
        self.backend.job_cancel(job_id, self.now, None, False)
        if job_id in self.queue:
            self.queue.remove(job_id)
        if job_id in self.lease_end:
            self.stopping_until[job_id] = self.lease_end.pop(job_id)
        self.status[job_id] = JobStatus.CANCELED

    @precondition(lambda self: bool(self.tokens))
    @rule(data=st.data())
    def late_settle_is_refused(self, data: st.DataObject) -> None:
        """A worker whose job was canceled or recovered reports back: nothing changes."""
        stale = [job_id for job_id in self.tokens if self.status[job_id] is not JobStatus.STARTED]
        if not stale:
            return
        job_id = data.draw(st.sampled_from(sorted(stale)))
        (applied,) = self.backend.jobs_settle(
            [Settlement(job_id, self.tokens.pop(job_id), JobStatus.FINISHED)], self.now
        )
        assert not applied

    @precondition(lambda self: bool(self.status))
    @rule(data=st.data())
    def requeue(self, data: st.DataObject) -> None:
        job_id = data.draw(st.sampled_from(sorted(self.status)))
        moved = self.backend.jobs_requeue([job_id], self.now)
        stopping = job_id in self.tokens and self.now <= self.stopping_until.get(job_id, -1.0)
        expected = self.status[job_id] in (JobStatus.FAILED, JobStatus.CANCELED) and not stopping
        assert moved == ([job_id] if expected else [])
        if expected:
            self.status[job_id] = JobStatus.QUEUED
            self.queue.append(job_id)
            self.retry_count[job_id] = 0  # a requeue starts afresh
            self.tokens.pop(job_id, None)

    @rule(seconds=st.sampled_from([1.0, LEASE + 1]))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds
        recovered = {r.job_id: r.status for r in self.backend.leases_recover(self.now)}
        expired = sorted(
            (j for j, end in self.lease_end.items() if end < self.now), key=lambda j: (self.lease_end[j], j)
        )
        assert sorted(recovered) == sorted(expired)
        for job_id in expired:  # recovered in the order their leases ran out
            del self.lease_end[job_id]
            self.tokens.pop(job_id, None)
        for job_id in expired:  # recovered jobs re-enter the queue in the order recovered
            retry = self.retry_count[job_id] < self.max_retries[job_id]
            if retry:
                self.retry_count[job_id] += 1
            assert recovered[job_id] is (JobStatus.QUEUED if retry else JobStatus.FAILED)
        self.queue += [job_id for job_id in expired if recovered[job_id] is JobStatus.QUEUED]
        self.status.update(recovered)

    @invariant()
    def backend_matches_model(self) -> None:
        if not hasattr(self, "backend"):
            return
        for status in JobStatus:
            assert sorted(self.backend.job_ids(None, [status])) == self._ids(status), status
        assert self.backend.job_ids("default", [JobStatus.QUEUED]) == self.queue
        for position, job_id in enumerate(self.queue):
            assert self.backend.queue_position(job_id) == position


@pytest.mark.parametrize("backend_kind", ["sqlite", "redis"])
def test_the_backend_follows_the_model(backend_kind: str, tmp_path_factory: pytest.TempPathFactory,
                                       request: pytest.FixtureRequest) -> None:  # fmt: skip
    if backend_kind == "sqlite":
        directory = tmp_path_factory.mktemp("model")
        url = f"sqlite:///{directory}/model-{{prefix}}.db"
    else:
        url = request.getfixturevalue("redis_server").url + "?prefix=model-{prefix}"

    class Machine(Lifecycle):
        pass

    Machine.url = url
    machine = settings(max_examples=40, stateful_step_count=25, deadline=None, suppress_health_check=list(HealthCheck))(
        Machine
    ).TestCase
    machine().runTest()
