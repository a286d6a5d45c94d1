"""Per-user rate limits: 429 with Retry-After past the budget, other callers untouched."""

from __future__ import annotations

import httpx
import pytest

from conveyor.backends.base import Backend
from conveyor.exceptions import ConfigurationError
from conveyor.server import Settings, create_app
from conveyor.server.auth import keys_from_env
from conveyor.server.rate_limit import RateLimit, RateLimiter

from .conftest import API, BOB, KEYS, ROOT

pytestmark = pytest.mark.anyio


@pytest.fixture
def backend_kind() -> str:
    return "sqlite"  # the limit is the server's; the store plays no part


@pytest.fixture
def settings() -> Settings:
    return Settings(api_keys=keys_from_env(KEYS), rate_limit=RateLimit.parse("3/min"))


async def test_a_user_past_its_budget_gets_429_and_other_users_go_on(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        assert (await client.get(f"{API}/jobs")).status_code == 200
    refused = await client.get(f"{API}/jobs")
    assert refused.status_code == 429
    assert refused.json()["error"] == "TooManyRequests"
    assert "3/min" in refused.json()["message"] and "user alice" in refused.json()["message"]
    assert 1 <= refused.json()["retry_after_seconds"] <= 20  # one request comes back every 20 s
    assert refused.headers["Retry-After"] == str(refused.json()["retry_after_seconds"])
    assert (await client.post(f"{API}/jobs", json={"job_type": "add"})).status_code == 429, "writes count too"

    assert (await client.get(f"{API}/jobs", headers=BOB)).status_code == 200, "bob has a budget of his own"
    assert (await client.get("/health")).status_code == 200, "no limit on health checks"
    for _ in range(4):
        await client.get(f"{API}/jobs", headers=ROOT)
    assert (await client.get(f"{API}/jobs", headers=ROOT)).status_code == 429, "admins have a budget too"
    assert (await client.get("/metrics", headers=ROOT)).status_code == 200, "but not on metrics scrapes"


async def test_an_open_server_limits_each_client_address(backend: Backend) -> None:
    app = create_app(backend, Settings(rate_limit=RateLimit.parse("2/h")))
    try:
        transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://conveyor") as first:
            assert [(await first.get(f"{API}/jobs")).status_code for _ in range(3)] == [200, 200, 429]
            assert "client 10.0.0.1" in (await first.get(f"{API}/jobs")).json()["message"]
        other = httpx.ASGITransport(app=app, client=("10.0.0.2", 5000))
        async with httpx.AsyncClient(transport=other, base_url="http://conveyor") as second:
            assert (await second.get(f"{API}/jobs")).status_code == 200
    finally:
        app.state.conveyor.hub.stop()


def test_a_bucket_refills_at_its_rate_and_holds_a_burst_of_its_size() -> None:
    now = [1000.0]
    limiter = RateLimiter(RateLimit.parse("3/min"), clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(20.0)
    now[0] += 15
    assert limiter.take("a") == pytest.approx(5.0), "a refused request spends nothing"
    now[0] += 5
    assert limiter.take("a") == 0.0
    now[0] += 3600
    assert [limiter.take("a") for _ in range(4)][-1] > 0, "a quiet hour banks no more than the burst"


def test_callers_quiet_for_a_whole_period_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("conveyor.server.rate_limit.MAX_CALLERS", 2)
    now = [0.0]
    limiter = RateLimiter(RateLimit.parse("1/s"), clock=lambda: now[0])
    limiter.take("a")
    limiter.take("b")
    now[0] += 1
    limiter.take("c")
    assert limiter._buckets.keys() == {"c"}
    assert limiter.take("c") > 0, "the caller just seen keeps its count"


CASES = [("600/min", 600, 60), ("5/s", 5, 1), (" 2 / Hour ", 2, 3600)]


@pytest.mark.parametrize(("text", "requests", "seconds"), CASES)
def test_rate_limits_parse(text: str, requests: int, seconds: float) -> None:
    assert (RateLimit.parse(text).requests, RateLimit.parse(text).seconds) == (requests, seconds)


@pytest.mark.parametrize("text", ["600", "0/s", "-1/s", "10/fortnight", "ten/min", "/min"])
def test_a_bad_rate_limit_is_a_clear_configuration_error(text: str) -> None:
    with pytest.raises(ConfigurationError, match="CONVEYOR_RATE_LIMIT: a rate limit must look like 600/min"):
        Settings.from_env({"CONVEYOR_RATE_LIMIT": text})
