"""API keys: 401 without a valid one, each user confined to its own jobs, admins see all."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from conveyor.backends.base import Backend
from conveyor.exceptions import ConfigurationError
from conveyor.job import Job
from conveyor.rates import Rate
from conveyor.server import Settings
from conveyor.server.auth import authenticate, hash_key, keys_from_env, keys_from_file
from conveyor.status import JobStatus

from .conftest import API, BOB, ROOT, submit

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic YWxpY2U6eA=="}, {"Authorization": "Bearer "}],
)
async def test_requests_without_a_valid_key_are_401(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    client.headers.pop("Authorization")
    for method, path in (
        ("GET", "jobs"),
        ("POST", "jobs"),
        ("GET", "jobs/stats"),
        ("GET", "workers"),
        ("GET", "cron"),
        ("GET", "metrics"),
    ):
        response = await client.request(method, f"{API}/{path}", headers=headers, json={"job_type": "add"})
        assert response.status_code == 401, (method, path)
        assert response.json()["error"] == "Unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"


async def test_health_needs_no_key(client: httpx.AsyncClient) -> None:
    client.headers.pop("Authorization")
    assert (await client.get("/health")).status_code == 200


async def test_another_users_job_answers_exactly_like_a_missing_one(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    job_id = await submit(client)
    for method, path in (
        ("GET", f"jobs/{job_id}"), ("GET", f"jobs/status/{job_id}"), ("GET", f"jobs/status/{job_id}/poll"),
        ("GET", f"jobs/status/{job_id}/stream"), ("GET", f"jobs/{job_id}/backend"),
        ("POST", f"jobs/cancel/{job_id}"), ("POST", f"jobs/restart/{job_id}"), ("DELETE", f"jobs/{job_id}"),
    ):  # fmt: skip
        theirs = await client.request(method, f"{API}/{path}", headers=BOB)
        missing = await client.request(method, f"{API}/{path.replace(job_id, 'ghost')}", headers=BOB)
        assert theirs.status_code == missing.status_code == 404, path
        assert theirs.json() == {**missing.json(), "message": f"Job {job_id} not found", "job_id": job_id}
    assert Job.fetch(job_id, connection=backend).status is JobStatus.QUEUED


async def test_admins_see_and_steer_every_job(client: httpx.AsyncClient) -> None:
    job_id = await submit(client)
    assert (await client.get(f"{API}/jobs/{job_id}", headers=ROOT)).json()["user_id"] == "alice"
    assert (await client.post(f"{API}/jobs/cancel/{job_id}", headers=ROOT)).status_code == 200


async def test_admins_may_inspect_ids_the_backend_does_not_hold(client: httpx.AsyncClient) -> None:
    body = (await client.get(f"{API}/jobs/ghost/backend", headers=ROOT)).json()
    assert (body["exists"], body["status"], body["registries"]) == (False, None, [])


def test_keys_are_parsed_from_the_environment_and_from_a_hashed_file(tmp_path: Path) -> None:
    (alice,) = keys_from_env("s3cret:alice:admin")
    assert (alice.user_id, alice.role, alice.digest) == ("alice", "admin", hashlib.sha256(b"s3cret").digest())
    assert keys_from_env("k:bob")[0].role == "user"
    path = tmp_path / "keys"
    path.write_text(f"# team keys\n\n{hash_key('other')}:carol:user\n")
    keys = keys_from_file(path)
    assert authenticate(keys, "other") is not None and authenticate(keys, "s3cret") is None
    assert "other" not in path.read_text()
    environment = {
        "CONVEYOR_API_KEYS": "a:b:user",
        "CONVEYOR_API_KEYS_FILE": str(path),
        "CONVEYOR_GLOBAL_MAX_CONCURRENT_JOBS": "8",
    }
    settings = Settings.from_env(environment)
    assert [key.user_id for key in settings.api_keys] == ["b", "carol"]
    assert (settings.global_max_concurrent_jobs, settings.per_user_max_concurrent_jobs) == (8, None)
    rated = Settings.from_env({"CONVEYOR_QUEUE_RATES": "emails=100/m, sms=5/30s", "CONVEYOR_JOB_TYPE_RATES": "x=1/s"})
    assert (rated.queue_rates, rated.job_type_rates) == (
        {"emails": Rate(100, 60.0), "sms": Rate(5, 30.0)}, {"x": Rate(1, 1.0)},
    )  # fmt: skip
    with pytest.raises(ConfigurationError, match="CONVEYOR_QUEUE_RATES: the rate of 'emails' '100' is not a rate"):
        Settings.from_env({"CONVEYOR_QUEUE_RATES": "emails=100"})
    assert Settings.from_env({"CONVEYOR_USER_RATE": "10/s"}).user_rate == Rate(10, 1.0)
    with pytest.raises(ConfigurationError, match="CONVEYOR_USER_RATE '10' is not a rate"):
        Settings.from_env({"CONVEYOR_USER_RATE": "10"})


@pytest.mark.parametrize(
    "value",
    ["key:user:root", ":user:admin", "key::user", ",", " , ,", "key:a\x01b:user"],
)
def test_bad_key_entries_are_configuration_errors(value: str) -> None:
    with pytest.raises(ConfigurationError):
        keys_from_env(value)


def test_bad_key_files_are_configuration_errors(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    for text in ("sha256:abcd:u:user", "plain:u:user", "sha256:" + "0" * 64 + ":u:boss"):
        path.write_text(text)
        with pytest.raises(ConfigurationError):
            keys_from_file(path)
    with pytest.raises(ConfigurationError):
        keys_from_file(tmp_path / "missing")


def test_conveyor_keys_makes_keys_file_lines(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from conveyor.cli import cli

    made = CliRunner().invoke(cli, ["keys", "new", "--user", "dana", "--role", "admin"])
    assert made.exit_code == 0, made.output
    key = made.stderr.rsplit(": ", 1)[1].strip()
    hashed = CliRunner().invoke(cli, ["keys", "hash", "--user", "dana", "--role", "admin"], input=key + "\n")
    assert hashed.stdout == made.stdout
    path = tmp_path / "keys"
    path.write_text(made.stdout)
    assert authenticate(keys_from_file(path), key) is not None
    assert key not in path.read_text()
    refused = CliRunner().invoke(cli, ["keys", "hash", "--user", "dana"], input="a:b\n")
    assert refused.exit_code == 2


@pytest.mark.parametrize("user", ["", "a:b", " alice ", "x,y", "a\nb"])
def test_conveyor_keys_refuses_user_ids_the_server_would_refuse(user: str) -> None:
    from click.testing import CliRunner

    from conveyor.cli import cli

    for command in (["keys", "new"], ["keys", "hash"]):
        refused = CliRunner().invoke(cli, [*command, "--user", user], input="some-key\n")
        assert refused.exit_code == 2, refused.output
        assert refused.stdout == ""  # no line that would lock the server out
        assert "the user id " in refused.stderr and "must" in refused.stderr
