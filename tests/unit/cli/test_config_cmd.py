"""``l2trader config show``: effective settings, layers, secrets masked (issue 9)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from l2trader.cli.config_cmd import app
from l2trader.deploy.settings import parse_assignment
from l2trader.errors import ConfigError

TOKEN = "tok-3f9a1c2e-Sup3rSecret"
ENV = {"L2TRADER_WEBHOOK_TOKEN": TOKEN, "L2TRADER_PAPER__QUEUE_SIZE": "64"}
runner = CliRunner()


@pytest.fixture
def deploy_toml(tmp_path: Path) -> Path:
    path = tmp_path / "deploy.toml"
    path.write_text(
        'name = "demo"\n[paper]\njournal = "j.sqlite"\nqueue_size = 32\n'
        '[paper.data]\ncatalog = "cat"\nvenue = "binance-futures"\nsymbol = "BTCUSDT"\n'
        '[paper.strategy]\nkind = "market_maker"\n'
    )
    return path


def test_show_json_masks_the_secret(deploy_toml: Path) -> None:
    result = runner.invoke(app, ["show", "--file", str(deploy_toml), "--json"], env=ENV)

    assert result.exit_code == 0, result.output
    assert TOKEN not in result.output
    doc = json.loads(result.output)
    assert doc["webhook_token"] == "********"
    assert (doc["name"], doc["paper"]["queue_size"]) == ("demo", 64)
    assert doc["paper"]["journal"] == str(deploy_toml.parent / "j.sqlite")


def test_show_json_sources_names_each_layer(deploy_toml: Path) -> None:
    args = ["show", "--file", str(deploy_toml), "--set", "alerts.eval_every_s=0.25",
            "--set", "backup.every_s=null", "--sources", "--json"]  # fmt: skip

    result = runner.invoke(app, args, env=ENV)

    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    got = {k: rows[k] for k in ("name", "paper.queue_size", "alerts.eval_every_s",
                                "backup.every_s", "backup.keep_last", "webhook_token")}  # fmt: skip
    assert got == {
        "name": {"value": "demo", "source": "file"},
        "paper.queue_size": {"value": 64, "source": "env"},
        "alerts.eval_every_s": {"value": 0.25, "source": "cli"},
        "backup.every_s": {"value": None, "source": "cli"},
        "backup.keep_last": {"value": 7, "source": "default"},
        "webhook_token": {"value": "********", "source": "env"},
    }


def test_show_table_masks_the_secret(deploy_toml: Path) -> None:
    result = runner.invoke(app, ["show", "--file", str(deploy_toml), "--sources"], env=ENV)

    assert result.exit_code == 0, result.output
    assert TOKEN not in result.output
    assert "********" in result.output
    assert "webhook_token" in result.output


def test_secret_on_the_command_line_is_refused_without_echo(deploy_toml: Path) -> None:
    args = ["show", "--file", str(deploy_toml), "--set", f"webhook_token={TOKEN}"]

    result = runner.invoke(app, args, env=ENV)

    assert isinstance(result.exception, ConfigError)
    assert "webhook_token is a secret" in str(result.exception)
    assert TOKEN not in str(result.exception)
    assert TOKEN not in result.output


def test_invalid_value_names_key_and_layer(deploy_toml: Path) -> None:
    result = runner.invoke(app, ["show", "--file", str(deploy_toml), "--set", "log.level=LOUD"])

    assert isinstance(result.exception, ConfigError)
    assert "log.level: " in str(result.exception)
    assert "(--set log.level)" in str(result.exception)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("paper.queue_size=64", ("paper.queue_size", 64)),
        ("alerts.eval_every_s = 0.5", ("alerts.eval_every_s", 0.5)),
        ("alerts.log=false", ("alerts.log", False)),
        ("name=demo", ("name", "demo")),
        ('log.file="a=b.log"', ("log.file", "a=b.log")),
        ("backup.every_s=null", ("backup.every_s", None)),
        ('alerts.webhooks=[{"url": "http://127.0.0.1:1/"}]',
         ("alerts.webhooks", [{"url": "http://127.0.0.1:1/"}])),
        ('alerts.webhooks=[{url = "http://127.0.0.1:1/"}]',
         ("alerts.webhooks", [{"url": "http://127.0.0.1:1/"}])),
    ],
)  # fmt: skip
def test_parse_assignment(text: str, expected: tuple[str, Any]) -> None:
    assert parse_assignment(text) == expected


@pytest.mark.parametrize("text", ["novalue", "=3", "a..b=1", f"{TOKEN}"])
def test_parse_assignment_rejects_malformed_without_echo(text: str) -> None:
    with pytest.raises(ConfigError, match=r"expected key\.sub=value") as info:
        parse_assignment(text)

    assert TOKEN not in str(info.value)
