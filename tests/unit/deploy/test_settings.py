"""Layered deploy settings: precedence, secrets, errors, paths, TOML round trip (issue 9)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from l2trader.deploy.settings import (
    DEFAULT_RULES,
    FILE_PATHS,
    SECRET_MASK,
    AlertRuleSpec,
    DeploySettings,
    effective_config,
    load_settings,
    load_with_sources,
    masked_config,
    secret_paths,
    secret_values,
    settings_to_toml,
)
from l2trader.errors import ConfigError

TOKEN = "tok-3f9a1c2e-Sup3rSecret"
PAPER = {
    "paper.data.catalog": "/data/cat",
    "paper.data.venue": "binance-futures",
    "paper.data.symbol": "BTCUSDT",
    "paper.strategy.kind": "market_maker",
}
FILE_TEXT = """
name = "demo"
[paper]
queue_size = 32
[paper.data]
catalog = "/data/cat"
venue = "binance-futures"
symbol = "BTCUSDT"
[paper.strategy]
kind = "market_maker"
[alerts]
eval_every_s = 2.0
"""


@pytest.fixture
def deploy_toml(tmp_path: Path) -> Path:
    path = tmp_path / "deploy.toml"
    path.write_text(FILE_TEXT)
    return path


def test_defaults_when_no_layer_sets_a_value() -> None:
    s = load_settings(overrides=PAPER, env={})

    assert (s.name, s.paper.queue_size, s.alerts.eval_every_s) == ("l2trader", 1024, 1.0)
    assert (s.backup.dir, s.backup.every_s, s.backup.keep_last, s.backup.keep_days) == (
        "backups", 3600.0, 7, 30.0,
    )  # fmt: skip
    assert (s.log.level, s.log.format, s.log.file, s.webhook_token) == ("INFO", "json", None, None)
    assert s.alerts.rules == DEFAULT_RULES


def test_default_alert_rules_are_explicit() -> None:
    rows = [(r.name, r.metric, r.op, r.threshold, r.severity, r.response) for r in DEFAULT_RULES]

    assert rows == [
        ("drawdown", "drawdown", ">", 1000.0, "warning", "none"),
        ("feed_stale", "feed_stale_s", ">", 10.0, "critical", "restart_feed"),
        ("latency_p99", "latency_p99_ms", ">", 50.0, "warning", "none"),
        ("kill_switch", "kill_switch", ">", 0.0, "critical", "none"),
        ("disk_low", "disk_free_gib", "<", 1.0, "critical", "none"),
        ("queue_overflows", "queue_overflows", ">", 0.0, "warning", "none"),
    ]


def test_file_beats_defaults(deploy_toml: Path) -> None:
    s, sources = load_with_sources(deploy_toml, env={})

    assert (s.name, s.paper.queue_size, s.alerts.eval_every_s) == ("demo", 32, 2.0)
    assert (sources["paper.queue_size"], sources["alerts.eval_every_s"]) == ("file", "file")
    assert sources["paper.max_blocked_ms"] == "default"


def test_env_beats_file_and_keeps_the_other_file_keys(deploy_toml: Path) -> None:
    env = {"L2TRADER_PAPER__QUEUE_SIZE": "64", "L2TRADER_ALERTS__EVAL_EVERY_S": "0.5"}

    s, sources = load_with_sources(deploy_toml, env=env)

    assert (s.paper.queue_size, s.alerts.eval_every_s) == (64, 0.5)
    assert (s.name, s.paper.data.symbol) == ("demo", "BTCUSDT")
    assert (sources["paper.queue_size"], sources["paper.data.symbol"]) == ("env", "file")


def test_overrides_beat_env(deploy_toml: Path) -> None:
    env = {"L2TRADER_PAPER__QUEUE_SIZE": "64", "L2TRADER_ALERTS__EVAL_EVERY_S": "0.5"}
    overrides = {"paper.queue_size": 128, "alerts": {"eval_every_s": 0.25}}

    s, sources = load_with_sources(deploy_toml, overrides, env)

    assert (s.paper.queue_size, s.alerts.eval_every_s) == (128, 0.25)
    assert (sources["paper.queue_size"], sources["alerts.eval_every_s"]) == ("cli", "cli")


def test_env_none_reads_os_environ(deploy_toml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("L2TRADER_PAPER__QUEUE_SIZE", "77")
    monkeypatch.setenv("L2TRADER_WEBHOOK_TOKEN", TOKEN)

    s = load_settings(deploy_toml)

    assert s.paper.queue_size == 77
    assert s.webhook_token is not None
    assert s.webhook_token.get_secret_value() == TOKEN


def test_direct_construction_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("L2TRADER_BACKUP__KEEP_LAST", "3")
    paper = {"data": {"catalog": "c", "venue": "v", "symbol": "s"}, "strategy": {"kind": "taker"}}

    s = DeploySettings(paper=paper)  # type: ignore[arg-type]

    assert s.backup.keep_last == 3


def test_env_json_values_null_and_unrelated_prefixed_names() -> None:
    env = {
        "L2TRADER_ALERTS__RULES": '[{"name": "dd", "metric": "drawdown", "threshold": 5}]',
        "L2TRADER_BACKUP__EVERY_S": "null",
        "L2TRADER_LOG__LEVEL": "debug",
        "L2TRADER_NUMBA_CACHE": "/tmp/elsewhere",
        "L2TRADER_MODEL": "",
    }

    s = load_settings(overrides=PAPER, env=env)

    assert s.alerts.rules == (AlertRuleSpec(name="dd", metric="drawdown", threshold=5.0),)
    assert (s.backup.every_s, s.log.level, s.model) == (None, "DEBUG", None)


def test_relative_paths_in_the_file_resolve_against_its_directory(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    text = 'model = "model/m.json"\n' + FILE_TEXT.replace(
        'catalog = "/data/cat"', 'catalog = "../cat"'
    )
    text += '\n[backup]\ndir = "bk"\nregistry = "runs/registry.sqlite"\n'
    text += '[evidence]\nbacktest = "ev/report.json"\nstress = "/abs/stress.json"\n'
    text += 'paper = "./ev/paper.json"\n[log]\nfile = "logs/app.log"\n'
    text += '[paper.signal]\npath = "sig.parquet"\n'
    (conf / "deploy.toml").write_text(text.replace("[alerts]\n", '[alerts]\nfile = "a.jsonl"\n'))
    env = {"L2TRADER_PAPER__JOURNAL": "rel/journal.sqlite"}

    s = load_settings(conf / "deploy.toml", env=env)

    got = {
        "paper.data.catalog": s.paper.data.catalog, "paper.journal": s.paper.journal,
        "paper.signal.path": s.paper.signal.path, "model": s.model, "backup.dir": s.backup.dir,
        "backup.registry": s.backup.registry, "evidence.backtest": s.evidence.backtest,
        "evidence.stress": s.evidence.stress, "evidence.paper": s.evidence.paper,
        "alerts.file": s.alerts.file, "log.file": s.log.file,
    }  # fmt: skip
    assert got == {
        "paper.data.catalog": str(tmp_path / "cat"),
        "paper.journal": "rel/journal.sqlite",  # from the environment: left relative
        "paper.signal.path": str(conf / "sig.parquet"),
        "model": str(conf / "model/m.json"),
        "backup.dir": str(conf / "bk"),
        "backup.registry": str(conf / "runs/registry.sqlite"),
        "evidence.backtest": str(conf / "ev/report.json"),
        "evidence.stress": "/abs/stress.json",
        "evidence.paper": str(conf / "ev/paper.json"),
        "alerts.file": str(conf / "a.jsonl"),
        "log.file": str(conf / "logs/app.log"),
    }
    assert set(got) == set(FILE_PATHS)


def test_secret_comes_from_env_and_is_masked() -> None:
    s, sources = load_with_sources(overrides=PAPER, env={"L2TRADER_WEBHOOK_TOKEN": TOKEN})

    assert s.webhook_token is not None
    assert s.webhook_token.get_secret_value() == TOKEN
    assert secret_paths() == ("webhook_token",)
    assert secret_values(s) == (TOKEN,)
    assert masked_config(s)["webhook_token"] == SECRET_MASK
    rows = effective_config(s, sources)
    assert rows["webhook_token"] == {"value": SECRET_MASK, "source": "env"}
    assert TOKEN not in repr(s)
    assert TOKEN not in str(rows)


def test_secret_in_file_is_rejected_without_echoing_it(deploy_toml: Path) -> None:
    deploy_toml.write_text(f'webhook_token = "{TOKEN}"\n' + FILE_TEXT)

    with pytest.raises(ConfigError, match="webhook_token is a secret") as info:
        load_settings(deploy_toml, env={})

    assert TOKEN not in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__context__ is None


def test_secret_in_overrides_is_rejected_without_echoing_it() -> None:
    with pytest.raises(ConfigError, match=r"--set: webhook_token is a secret") as info:
        load_settings(overrides={**PAPER, "webhook_token": TOKEN}, env={})

    assert TOKEN not in str(info.value)


def test_invalid_env_value_names_key_and_variable(deploy_toml: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(deploy_toml, env={"L2TRADER_PAPER__QUEUE_SIZE": "0"})

    assert str(info.value) == (
        "invalid deploy settings:\n  paper.queue_size: Input should be greater than or equal"
        " to 1, got '0' (env L2TRADER_PAPER__QUEUE_SIZE)"
    )


def test_invalid_values_name_their_layer(deploy_toml: Path) -> None:
    deploy_toml.write_text(FILE_TEXT.replace("eval_every_s = 2.0", "eval_every_s = -2.0"))
    env = {"L2TRADER_PAPER": '{"max_blocked_ms": 0}'}

    with pytest.raises(ConfigError) as info:
        load_settings(deploy_toml, {"backup.keep_last": "many"}, env)

    lines = str(info.value).splitlines()[1:]
    assert sorted(line.strip() for line in lines) == [
        f"alerts.eval_every_s: Input should be greater than 0, got -2.0 (file {deploy_toml})",
        "backup.keep_last: Input should be a valid integer, unable to parse string as an"
        " integer, got 'many' (--set backup.keep_last)",
        "paper.max_blocked_ms: Input should be greater than 0, got 0 (env L2TRADER_PAPER)",
    ]


def test_unknown_keys_are_rejected(deploy_toml: Path) -> None:
    deploy_toml.write_text(FILE_TEXT.replace("queue_size = 32", "queue_sise = 32"))

    with pytest.raises(ConfigError, match=r"paper\.queue_sise: Extra inputs are not permitted"):
        load_settings(deploy_toml, env={})
    with pytest.raises(
        ConfigError, match=r"paper\.queuesize: .* \(env L2TRADER_PAPER__QUEUESIZE\)"
    ):
        load_settings(overrides=PAPER, env={"L2TRADER_PAPER__QUEUESIZE": "3"})


def test_error_messages_never_echo_a_secret() -> None:
    env = {"L2TRADER_WEBHOOK_TOKEN": TOKEN, "L2TRADER_NAME": f"has space {TOKEN}"}

    with pytest.raises(ConfigError, match=r"name: String should match pattern") as info:
        load_settings(overrides=PAPER, env=env)

    assert TOKEN not in str(info.value)
    assert SECRET_MASK in str(info.value)


def test_missing_paper_bad_file_and_duplicate_rules(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"paper: required"):
        load_settings(env={})
    with pytest.raises(ConfigError, match=r"not found"):
        load_settings(tmp_path / "absent.toml", env={})
    (tmp_path / "bad.toml").write_text("name = \n")
    with pytest.raises(ConfigError, match=r"invalid TOML"):
        load_settings(tmp_path / "bad.toml", env={})
    rule = {"name": "x", "metric": "drawdown", "threshold": 1.0}
    with pytest.raises(ConfigError, match=r"alerts\.rules: Value error, rule names must be unique"):
        load_settings(overrides={**PAPER, "alerts.rules": [rule, rule]}, env={})


def test_settings_to_toml_round_trips_without_secrets(deploy_toml: Path, tmp_path: Path) -> None:
    env = {"L2TRADER_WEBHOOK_TOKEN": TOKEN, "L2TRADER_PAPER__QUEUE_SIZE": "64"}
    webhook = [{"url": "http://127.0.0.1:9/hook", "retries": 1}]
    absolute = {"paper.journal": str(tmp_path / "j.sqlite"), "backup.dir": str(tmp_path / "bk")}
    overrides = {"alerts.webhooks": webhook, "backup.every_s": None, **absolute}
    s = load_settings(deploy_toml, overrides, env)

    text = settings_to_toml(s)
    (tmp_path / "out.toml").write_text(text)
    again = load_settings(tmp_path / "out.toml", env={})

    assert TOKEN not in text
    assert "webhook_token" not in text
    assert again.model_dump(exclude={"webhook_token"}) == s.model_dump(exclude={"webhook_token"})
    assert (again.paper.queue_size, again.backup.every_s, again.webhook_token) == (64, None, None)


def test_nothing_here_touches_os_environ() -> None:
    before = dict(os.environ)

    load_settings(overrides=PAPER, env={"L2TRADER_PAPER__QUEUE_SIZE": "5"})

    assert dict(os.environ) == before
