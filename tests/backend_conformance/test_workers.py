"""Worker registrations: register, heartbeat, list, unregister, reap."""

from __future__ import annotations

from backend_conformance.helpers import NOW, worker_record
from conveyor.types import HeartbeatReply


def by_name(backend):
    return {w.name: w for w in backend.workers_list()}


def test_register_and_list(backend):
    one = worker_record(
        "w1", current_job_ids=("j1", "j2"), jobs_done=3, jobs_failed=1, jobs_stopped=1, working_time=2.5
    )
    two = worker_record("w2", queues=("default",), pid=7, pool="processes")
    backend.workers_register(one)
    backend.workers_register(two)
    assert by_name(backend) == {"w1": one, "w2": two}


def test_registering_the_same_name_again_replaces_it(backend):
    backend.workers_register(worker_record("w1", hostname="old"))
    backend.workers_register(worker_record("w1", hostname="new", pid=2))
    assert [(w.name, w.hostname, w.pid) for w in backend.workers_list()] == [("w1", "new", 2)]


def test_heartbeat_refreshes_the_registration(backend):
    backend.workers_register(worker_record("w1"))
    assert backend.workers_heartbeat("w1", NOW + 5, "busy", ["j1"], 12) is HeartbeatReply.RECORDED
    w = by_name(backend)["w1"]
    assert (w.last_heartbeat, w.state, w.current_job_ids, w.jobs_done) == (NOW + 5, "busy", ("j1",), 12)
    assert (w.hostname, w.started_at, w.jobs_failed, w.working_time, w.jobs_stopped) == ("host-a", NOW, 0, 0.0, 0)
    for working_time in (1234.123456789, 7.0):
        backend.workers_heartbeat("w1", NOW + 6, "idle", [], 13, 4, working_time, 3)
        w = by_name(backend)["w1"]
        assert (w.jobs_done, w.jobs_failed, w.working_time, w.jobs_stopped) == (13, 4, working_time, 3)
        assert type(w.working_time) is float


def test_heartbeat_of_an_unknown_worker_says_so(backend):
    assert backend.workers_heartbeat("ghost", NOW, "idle", [], 0) is HeartbeatReply.UNREGISTERED
    assert backend.workers_list() == []


def test_unregister(backend):
    backend.workers_register(worker_record("w1"))
    backend.workers_register(worker_record("w2"))
    backend.workers_unregister("w1")
    backend.workers_unregister("ghost")
    assert list(by_name(backend)) == ["w2"]


def test_reap_removes_workers_silent_since_before_the_cutoff(backend):
    backend.workers_register(worker_record("silent", last_heartbeat=NOW - 10))
    backend.workers_register(worker_record("edge", last_heartbeat=NOW))
    backend.workers_register(worker_record("alive", last_heartbeat=NOW - 10))
    backend.workers_heartbeat("alive", NOW + 1, "idle", [], 0)
    assert backend.workers_reap(NOW) == ["silent"]
    assert sorted(by_name(backend)) == ["alive", "edge"]
    assert backend.workers_heartbeat("silent", NOW + 2, "idle", [], 0) is HeartbeatReply.UNREGISTERED
    assert backend.workers_reap(NOW) == []


def test_a_shutdown_request_is_told_at_every_heartbeat_until_the_worker_registers_again(backend):
    backend.workers_register(worker_record("w1"))
    backend.workers_register(worker_record("w2"))
    assert backend.workers_request_shutdown("w1") is True
    assert {name: w.shutdown_requested for name, w in by_name(backend).items()} == {"w1": True, "w2": False}
    for beat in (1, 2):
        assert backend.workers_heartbeat("w1", NOW + beat, "busy", ["j1"], beat) is HeartbeatReply.SHUTDOWN_REQUESTED
    assert backend.workers_heartbeat("w2", NOW + 1, "idle", [], 0) is HeartbeatReply.RECORDED
    w1 = by_name(backend)["w1"]
    assert (w1.last_heartbeat, w1.current_job_ids, w1.shutdown_requested) == (NOW + 2, ("j1",), True)
    backend.workers_register(worker_record("w1"))  # a new worker of the same name starts afresh
    assert backend.workers_heartbeat("w1", NOW + 3, "idle", [], 0) is HeartbeatReply.RECORDED


def test_a_shutdown_request_for_an_unknown_worker_says_so(backend):
    assert backend.workers_request_shutdown("ghost") is False
    assert backend.workers_list() == []
