"""Structured logs: one JSON object per line, secrets redacted from every record.

:func:`configure_logging` installs one handler on the root logger (stderr, or ``spec.file``)
that writes :class:`JsonFormatter` lines::

    {"ts": "2024-05-01T12:00:00.123456Z", "level": "INFO", "logger": "l2trader.deploy",
     "msg": "started", "port": 8765}

``ts`` is ISO-8601 UTC; any ``extra={...}`` field of the call becomes a key of its own. A
:class:`SecretFilter` replaces each secret value by ``********`` in the message, its
arguments, the extra fields and the traceback; it is attached to our handler and to every
other handler already on the root logger (so no sink the process logs through sees a secret).
Calling :func:`configure_logging` again replaces the previous handler and filters;
:func:`reset_logging` removes them.

Examples
--------
>>> import logging
>>> record = logging.LogRecord("l2trader.demo", logging.INFO, "x.py", 1, "token %s", ("s3cr3t",),
...                            None)
>>> record.queue = 3
>>> SecretFilter(["s3cr3t"]).filter(record)
True
>>> line = json.loads(JsonFormatter().format(record))
>>> line["msg"], line["queue"], line["level"], line["logger"], line["ts"].endswith("Z")
('token ********', 3, 'INFO', 'l2trader.demo', True)
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from l2trader.deploy.settings import SECRET_MASK, LogSpec

__all__ = ["HANDLER_NAME", "JsonFormatter", "SecretFilter", "configure_logging", "reset_logging"]

HANDLER_NAME: Final = "l2trader.deploy.logs"
"""Name of the handler :func:`configure_logging` installs on the root logger."""
_RECORD_KEYS: Final = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__
) | {"message", "asctime", "taskName"}  # fmt: skip


def _extras(record: logging.LogRecord) -> dict[str, object]:
    """The fields a call added with ``extra={...}``."""
    return {k: v for k, v in record.__dict__.items() if k not in _RECORD_KEYS}


class SecretFilter(logging.Filter):
    """Replace every occurrence of a secret value by ``********`` (empty secrets are ignored).

    Parameters
    ----------
    secrets
        Secret strings (e.g. ``DeploySettings.webhook_token.get_secret_value()``).
    """

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self._secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))

    def redact(self, text: str) -> str:
        """``text`` with each secret (and its JSON-escaped form) masked."""
        for secret in self._secrets:
            text = text.replace(secret, SECRET_MASK)
            escaped = json.dumps(secret)[1:-1]
            text = text.replace(escaped, SECRET_MASK) if escaped != secret else text
        return text

    def scrub(self, value: object) -> object:
        """``value`` with secrets masked in strings, nested dicts and sequences."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.scrub(v) for v in value]
        text = str(value)
        return self.redact(text) if self.redact(text) != text else value

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place; never drops it."""
        if not self._secrets:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # mismatched %-args: keep the template only
            message = str(record.msg)
        record.msg, record.args = self.redact(message), None
        for key, value in _extras(record).items():
            setattr(record, key, self.scrub(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts`` (ISO-8601 UTC), ``level``, ``logger``, ``msg``, extras.

    An extra field named like a core key is written as ``extra_<name>``; exceptions go to
    ``exc`` and stack traces to ``stack``; values JSON cannot encode are written as ``str()``.
    """

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        ts = datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="microseconds")
        doc: dict[str, object] = {
            "ts": ts.replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in _extras(record).items():
            doc[f"extra_{key}" if key in doc else key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            doc["exc"] = record.exc_text
        if record.stack_info:
            doc["stack"] = self.formatStack(record.stack_info)
        return json.dumps(doc, default=str, ensure_ascii=False)


def _text_formatter() -> logging.Formatter:
    """``2024-05-01T12:00:00.123Z INFO logger: message`` (UTC)."""
    fmt = "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s"
    formatter = logging.Formatter(fmt, datefmt="%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    return formatter


def reset_logging() -> None:
    """Remove (and close) the handler and the secret filters :func:`configure_logging` added."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        for flt in [f for f in handler.filters if isinstance(f, SecretFilter)]:
            handler.removeFilter(flt)
        if handler.get_name() == HANDLER_NAME:
            root.removeHandler(handler)
            handler.close()


def configure_logging(spec: LogSpec, *, secrets: Sequence[str] = ()) -> None:
    """Send the root logger's records to stderr or ``spec.file``, one line each, redacted.

    Parameters
    ----------
    spec
        Level, format (``json`` lines or ``text``) and file (None = stderr; parent dirs are
        created).
    secrets
        Values masked as ``********`` wherever they appear in a record.
    """
    reset_logging()
    root = logging.getLogger()
    handler: logging.Handler
    if spec.file is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        Path(spec.file).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(spec.file, encoding="utf-8")
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if spec.format == "json" else _text_formatter())
    root.addHandler(handler)
    secret_filter = SecretFilter(secrets)
    for each in root.handlers:
        each.addFilter(secret_filter)
    root.setLevel(spec.level)
