"""Small rendering helpers the commands share."""

from __future__ import annotations

from conveyor.cli.output import ago, iso
from conveyor.urls import masked_url


def test_iso_is_utc_with_z() -> None:
    assert iso(0.0) == "1970-01-01T00:00:00.000Z"
    assert iso(None) is None


def test_ago_uses_the_largest_whole_unit() -> None:
    now = 1_000_000.0
    assert [ago(now - s, now) for s in (3, 125, 7300, 90000)] == ["3s ago", "2m ago", "2h ago", "1d ago"]
    assert ago(None, now) == "-"


def test_masked_url_masks_a_password() -> None:
    assert masked_url("redis://:s3cret@localhost:6379/0") == "redis://:***@localhost:6379/0"
    assert masked_url("redis://user:pw@host/0") == "redis://user:***@host/0"
    assert masked_url("redis://user:p@ss@host/0?x=a@b") == "redis://user:***@host/0?x=a@b"
    assert masked_url("redis+sentinel://:p@ss@h1:26379,h2/mymaster") == "redis+sentinel://:***@h1:26379,h2/mymaster"
    assert masked_url("unix:///run/redis.sock?db=1&password=pw") == "unix:///run/redis.sock?db=1&password=***"
    assert masked_url("unix:///run/redis.sock?Password=pw&db=1") == "unix:///run/redis.sock?Password=***&db=1"
    assert masked_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    # a password holding an unencoded '/', '?' or '#' (base64 makes them) is masked too
    assert masked_url("redis://:ab/c?d#e@host:6379/0") == "redis://:***@host:6379/0"
    assert masked_url("redis+sentinel://u:x/y@h1:26379/svc/0") == "redis+sentinel://u:***@h1:26379/svc/0"
    assert masked_url("rediss://h/0?ssl_password=pw&db=1") == "rediss://h/0?ssl_password=***&db=1"
