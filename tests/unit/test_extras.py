"""The command a missing-extra error gives fits how conveyor was installed."""

from __future__ import annotations

import json

import pytest

from conveyor.extras import command_for


def test_a_release_installs_the_extra_from_the_index() -> None:
    assert command_for("server", None) == 'pip install "conveyor[server]"'


def test_a_checkout_installed_editable_installs_the_extra_from_that_checkout() -> None:
    direct_url = json.dumps({"url": "file:///home/me/my%20code/conveyor", "dir_info": {"editable": True}})
    assert command_for("redis", direct_url) == "pip install -e '/home/me/my code/conveyor[redis]'"


@pytest.mark.parametrize(
    "direct_url",
    [
        json.dumps({"url": "file:///tmp/conveyor", "dir_info": {}}),  # a checkout installed as a copy
        json.dumps({"url": "https://example.com/conveyor.whl", "archive_info": {}}),
        "not json",
        "[]",
    ],
)
def test_any_other_origin_installs_from_the_index(direct_url: str) -> None:
    assert command_for("server", direct_url) == 'pip install "conveyor[server]"'
