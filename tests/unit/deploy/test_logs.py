"""Structured JSON logs with secrets redacted (issue 9)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from l2trader.deploy.logs import (
    HANDLER_NAME,
    JsonFormatter,
    SecretFilter,
    configure_logging,
    reset_logging,
)
from l2trader.deploy.settings import SECRET_MASK, LogSpec

TOKEN = "tok-3f9a1c2e-Sup3rSecret"
log = logging.getLogger("l2trader.test.logs")


@pytest.fixture(autouse=True)
def _clean_root() -> Iterator[None]:
    level = logging.getLogger().level
    yield
    reset_logging()
    logging.getLogger().setLevel(level)


def _ours() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if h.get_name() == HANDLER_NAME]


def test_json_line_has_ts_level_logger_msg_and_extras(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(LogSpec())
    before = datetime.now(UTC)

    log.info("queue at %d", 7, extra={"queue": 7, "venue": "binance"})

    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    doc = json.loads(lines[0])
    assert {k: doc[k] for k in ("level", "logger", "msg", "queue", "venue")} == {
        "level": "INFO", "logger": "l2trader.test.logs", "msg": "queue at 7", "queue": 7,
        "venue": "binance",
    }  # fmt: skip
    assert doc["ts"].endswith("Z")
    ts = datetime.fromisoformat(doc["ts"].replace("Z", "+00:00"))
    assert ts.tzinfo == UTC
    assert ts >= before.replace(microsecond=0)


def test_secret_is_redacted_from_message_args_extras_and_traceback(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    configure_logging(LogSpec(), secrets=[TOKEN])

    log.warning(f"token is {TOKEN}")
    log.warning("header %s", f"Bearer {TOKEN}", extra={"hook": {"auth": [TOKEN], "n": 1}})
    try:
        raise ValueError(f"rejected {TOKEN}")
    except ValueError:
        log.exception("webhook failed")

    err = capsys.readouterr().err
    docs = [json.loads(line) for line in err.splitlines()]
    assert TOKEN not in err
    assert TOKEN not in caplog.text
    assert all(TOKEN not in r.getMessage() for r in caplog.records)
    assert [d["msg"] for d in docs] == [
        f"token is {SECRET_MASK}", f"header Bearer {SECRET_MASK}", "webhook failed",
    ]  # fmt: skip
    assert docs[1]["hook"] == {"auth": [SECRET_MASK], "n": 1}
    assert docs[2]["exc"].endswith(f"ValueError: rejected {SECRET_MASK}")


def test_configuring_twice_does_not_duplicate_handlers(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(LogSpec(), secrets=[TOKEN])
    configure_logging(LogSpec(level="debug"), secrets=[TOKEN])

    log.debug("once")

    assert len(_ours()) == 1
    assert len(capsys.readouterr().err.splitlines()) == 1
    assert logging.getLogger().level == logging.DEBUG
    for handler in logging.getLogger().handlers:
        assert sum(isinstance(f, SecretFilter) for f in handler.filters) == 1


def test_level_file_and_text_format(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "app.log"
    configure_logging(LogSpec(level="WARNING", format="text", file=str(path)))

    log.info("dropped")
    log.warning("kept")
    reset_logging()

    lines = path.read_text().splitlines()
    assert len(lines) == 1
    pattern = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARNING l2trader\.test\.logs: kept"
    assert re.fullmatch(pattern, lines[0])
    assert _ours() == []


def test_json_file_output(tmp_path: Path) -> None:
    path = tmp_path / "app.jsonl"
    configure_logging(LogSpec(file=str(path)), secrets=[TOKEN])

    log.error("a %s", TOKEN)
    log.error("b")
    reset_logging()

    msgs = [json.loads(line)["msg"] for line in path.read_text().splitlines()]
    assert msgs == [f"a {SECRET_MASK}", "b"]


def test_formatter_renames_colliding_extras_and_stringifies() -> None:
    record = logging.LogRecord("x", logging.INFO, "f.py", 1, "m", None, None)
    record.level = "mine"
    record.path = Path("/tmp/a")

    doc = json.loads(JsonFormatter().format(record))

    assert (doc["level"], doc["extra_level"], doc["path"]) == ("INFO", "mine", "/tmp/a")


def test_filter_without_secrets_leaves_the_record_alone() -> None:
    record = logging.LogRecord("x", logging.INFO, "f.py", 1, "a %s", ("b",), None)

    assert SecretFilter(["", ""]).filter(record)

    assert (record.msg, record.args) == ("a %s", ("b",))
