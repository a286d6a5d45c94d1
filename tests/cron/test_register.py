"""cron.register and cron configs: what a registration takes, and clear errors for the rest."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import jobfuncs
from conveyor import Retry, cron
from conveyor.exceptions import InvalidJobError
from conveyor.status import JobStatus


def register_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, name: str = "cron_config.py") -> str:
    """Write a config file in a fresh working directory; its path as given to load_config."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the loader puts the directory on it
    (tmp_path / name).write_text("from conveyor import cron\nimport jobfuncs\n" + body)
    return name


def test_rqs_register_arguments_are_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = register_in(
        tmp_path,
        monkeypatch,
        """
cron.register(jobfuncs.add, queue_name="maths", args=(1,), kwargs={"y": 2}, interval=60, job_timeout=30,
              result_ttl=100, ttl=50, failure_ttl=200, meta={"owner": "ops"}, name="adder")
cron.register(jobfuncs.noop, "default", cron="0 9 * * mon-fri")
cron.register("jobfuncs.fail", cron="@daily", timezone="Europe/Paris", retry=conveyor_retry, priority=5)
""".replace("conveyor_retry", "__import__('conveyor').Retry(max=2)"),
    )
    adder, noop, fail = cron.load_config(config)
    assert (adder.name, adder.queue_name, adder.schedule.describe()) == ("adder", "maths", "every 60s")
    assert noop.name == "jobfuncs.noop" and noop.schedule.describe() == "cron '0 9 * * mon-fri' (UTC)"
    assert fail.schedule.describe() == "cron '@daily' (Europe/Paris)"
    record = adder.job(clock=_Fixed()).record
    assert (record.queue, record.func_name, record.status) == ("maths", "jobfuncs.add", JobStatus.QUEUED)
    assert (record.timeout, record.result_ttl, record.ttl, record.failure_ttl) == (30, 100, 50, 200)
    assert adder.job(clock=_Fixed()).meta == {"owner": "ops"}
    assert (fail.job(clock=_Fixed()).record.max_retries, fail.job(clock=_Fixed()).record.priority) == (2, 5)


class _Fixed:
    def now(self) -> float:
        return 1_000_000.0


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: cron.register(lambda: None, interval=5), "not a module-level function"),
        (lambda: cron.register("nowhere_module.func", interval=5), "cannot import 'nowhere_module'"),
        (lambda: cron.register("jobfuncs.no_such_function", interval=5), "has no attribute no_such_function"),
        (lambda: cron.register(jobfuncs.noop), "needs a schedule"),
        (lambda: cron.register(jobfuncs.noop, interval=5, cron="* * * * *"), "not both"),
        (lambda: cron.register(jobfuncs.noop, cron="every day"), "5 fields"),
        (lambda: cron.register(jobfuncs.noop, interval=0), "interval"),
        (lambda: cron.register(jobfuncs.noop, interval=5, webhooks=["https://example.invalid"]), "webhooks is not"),
        (lambda: cron.register(jobfuncs.noop, interval=5, job_id="same"), "job_id is not taken by a cron job"),
        (lambda: cron.register(jobfuncs.noop, interval=5, depends_on="x"), "depends_on is not taken"),
        (lambda: cron.register(jobfuncs.noop, interval=5, colour="red"), "unknown job options: colour"),
        (lambda: cron.register(jobfuncs.noop, interval=5, queue_name=""), "queue name"),
        (lambda: cron.register(jobfuncs.noop, interval=5, name=" padded "), "cron job name"),
        (lambda: cron.register(jobfuncs.add, interval=5, args=(1, 2), job_timeout="soon"), "timeout"),
        (lambda: cron.register(jobfuncs.noop, interval=5, retry=3), "retry must be a conveyor.Retry"),
        # else every tick's job would fail in the worker with a TypeError
        (lambda: cron.register(jobfuncs.add, interval=5, args=(1,)), "do not fit jobfuncs.add: missing .* 'y'"),
        (lambda: cron.register("jobfuncs.noop", interval=5, kwargs={"x": 1}), "unexpected keyword argument 'x'"),
    ],
)
def test_a_registration_that_cannot_be_is_a_clear_error(call: object, fragment: str) -> None:
    with pytest.raises(InvalidJobError, match=fragment):
        call()  # type: ignore[operator]


def test_args_that_are_not_a_tuple_are_the_one_argument() -> None:
    entry = cron.register(jobfuncs.fail, interval=5, args="daily", name="one-argument")  # as enqueue takes it
    assert entry.args == ("daily",)
    assert entry.job(clock=_Fixed()).args == ("daily",)  # not its five letters


def test_a_refused_registration_names_its_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = register_in(tmp_path, monkeypatch, """
cron.register(jobfuncs.noop, interval=60)
cron.register(jobfuncs.add, args=(1, 2), cron="0 9 * * *", timezone="Europe/Pariss")
""")  # fmt: skip
    with pytest.raises(InvalidJobError, match=r"^cron_config.py, line 5: timezone 'Europe/Pariss' is not"):
        cron.load_config(config)


@pytest.mark.parametrize(
    ("rq_cron", "fragment"),
    [
        (None, "cannot load the cron config 'cron_config.py': ImportError"),  # no rq.cron where it runs
        ("def register(*args, **kwargs):\n    pass\n", "registers no job"),  # RQ's, which conveyor never reads
    ],
)
def test_an_rq_config_left_unchanged_says_what_to_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rq_cron: str | None, fragment: str
) -> None:
    (tmp_path / "rq").mkdir()  # an RQ of the config's own, present in every test environment
    (tmp_path / "rq" / "__init__.py").write_text("")
    if rq_cron is not None:
        (tmp_path / "rq" / "cron.py").write_text(rq_cron)
    for module in ("rq", "rq.cron"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    config = register_in(tmp_path, monkeypatch, "")
    rq_config = "from rq import cron\nimport jobfuncs\ncron.register(jobfuncs.noop, 'default', interval=60)\n"
    (tmp_path / config).write_text(rq_config)
    try:
        with pytest.raises(InvalidJobError, match=fragment) as refused:
            cron.load_config(config)
    finally:
        for module in ("rq", "rq.cron"):
            sys.modules.pop(module, None)  # this stand-in must not be the rq of later tests
    assert str(refused.value).endswith("replace `from rq import cron` with `from conveyor import cron`")


def test_a_name_registered_twice_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = register_in(
        tmp_path,
        monkeypatch,
        """
cron.register(jobfuncs.add, args=(1, 2), interval=60)
cron.register(jobfuncs.add, args=(3, 4), interval=60)
""",
    )
    with pytest.raises(InvalidJobError, match="'jobfuncs.add' is registered twice: give each a name="):
        cron.load_config(config)


def test_one_function_under_two_names_is_two_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = register_in(
        tmp_path,
        monkeypatch,
        """
cron.register(jobfuncs.add, args=(1, 2), interval=60, name="small")
cron.register(jobfuncs.add, args=(3, 4), interval=60, name="large")
""",
    )
    assert [entry.name for entry in cron.load_config(config)] == ["small", "large"]


def test_a_config_is_a_file_or_a_module_and_loads_afresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "app").mkdir()
    config = register_in(tmp_path, monkeypatch, "cron.register(jobfuncs.noop, interval=60)\n", "app/schedule.py")
    assert [entry.name for entry in cron.load_config(config)] == ["jobfuncs.noop"]
    # loaded again (a second scheduler in the process), its registrations count again, not twice
    assert [entry.name for entry in cron.load_config("app.schedule")] == ["jobfuncs.noop"]
    assert [entry.name for entry in cron.load_config(str(tmp_path / "app" / "schedule.py"))] == ["jobfuncs.noop"]


def test_a_function_defined_in_the_config_is_named_by_its_module_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ops").mkdir()
    config = register_in(tmp_path, monkeypatch, """
def tidy():
    pass

cron.register(tidy, interval=60)
""", "ops/cron_config.py")  # fmt: skip
    (entry,) = cron.load_config(config)
    assert entry.func_name == "ops.cron_config.tidy"  # what a worker started here imports


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("x = 1\n", "registers no job"),
        ("import no_such_module_here\n", "cannot load the cron config 'cron_config.py': ModuleNotFoundError"),
        ("cron.register(jobfuncs.noop, interval=-1)\n", "interval"),
    ],
)
def test_a_config_that_cannot_be_used_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, fragment: str
) -> None:
    config = register_in(tmp_path, monkeypatch, body)
    with pytest.raises(InvalidJobError, match=fragment):
        cron.load_config(config)


def test_a_missing_config_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidJobError, match="does not exist"):
        cron.load_config("missing.py")
    with pytest.raises(InvalidJobError, match="cannot load the cron config 'no.such.module'"):
        cron.load_config("no.such.module")


def test_retry_is_a_conveyor_retry() -> None:
    entry = cron.register(jobfuncs.noop, interval=5, retry=Retry(max=1), name="retry-test")
    assert entry.job(clock=_Fixed()).record.max_retries == 1
