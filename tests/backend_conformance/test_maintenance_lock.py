"""The maintenance lock (one worker at a time), the time of the last completed pass, and
when the store began serving."""

from __future__ import annotations

from backend_conformance.helpers import NOW


def test_one_owner_at_a_time(backend):
    assert backend.maintenance_claim("w-1", NOW, NOW + 60)
    assert not backend.maintenance_claim("w-2", NOW + 1, NOW + 61)
    assert backend.maintenance_claim("w-1", NOW + 2, NOW + 62)  # renewal by its owner


def test_a_lock_that_ran_out_is_taken_over(backend):
    assert backend.maintenance_claim("w-1", NOW, NOW + 60)
    assert backend.maintenance_claim("w-2", NOW + 60, NOW + 120)
    assert not backend.maintenance_claim("w-1", NOW + 61, NOW + 121)


def test_done_releases_and_records_the_time(backend):
    assert backend.maintenance_last() is None
    backend.maintenance_claim("w-1", NOW, NOW + 60)
    backend.maintenance_done("w-1", NOW + 5)
    assert backend.maintenance_last() == NOW + 5
    assert backend.maintenance_claim("w-2", NOW + 6, NOW + 66)


def test_done_by_another_owner_keeps_the_lock_but_records(backend):
    backend.maintenance_claim("w-1", NOW, NOW + 60)
    backend.maintenance_done("cli", NOW + 3)
    assert backend.maintenance_last() == NOW + 3
    assert not backend.maintenance_claim("w-2", NOW + 4, NOW + 64)


def test_the_last_time_never_goes_back(backend):
    backend.maintenance_done("w-1", NOW + 10)
    backend.maintenance_done("w-2", NOW + 5)  # a slower pass, or a clock behind
    assert backend.maintenance_last() == NOW + 10


def test_serving_since_is_none_or_the_first_sighting_and_stays(backend):
    since = backend.store_serving_since(NOW)
    assert since is None or since == NOW, "a store that can restart apart from its callers: first seen now"
    assert backend.store_serving_since(NOW + 60) == since, "the same server since"
