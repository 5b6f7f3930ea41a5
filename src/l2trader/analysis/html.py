"""The report as ONE self-contained HTML file: inline CSS, PNGs as base64 data URIs.

No JavaScript, no CDN, no external reference of any kind: the file works offline and can be
mailed or archived as is. Every section of :attr:`Report.metrics` gets a table, the checks
a pass/fail table, and the conventions (periods per year, calendar, capital) are stated at
the top, because every annualised number depends on them.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from html import escape
from typing import Any, Final

from l2trader.analysis.report import Report

__all__ = ["format_value", "render_html"]

_CSS: Final = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
td.num { text-align: right; font-family: monospace; }
th { background: #f3f3f3; }
tr.pass td { background: #e6f4e6; } tr.fail td { background: #fbe3e3; }
.verdict-pass { color: #1a7f1a; font-weight: bold; }
.verdict-fail { color: #b31b1b; font-weight: bold; }
.note { color: #666; font-size: 0.85em; }
img { max-width: 100%; }
"""


def format_value(value: Any) -> str:
    """A metric value as table text: floats to 6 significant digits, NaN/inf spelled out.

    Examples
    --------
    >>> format_value(0.123456789), format_value(float("nan")), format_value(3), format_value(True)
    ('0.123457', 'NaN', '3', 'yes')
    """
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return f"{value:.6g}"
    return str(value)


def _cell(value: Any) -> str:
    cls = ' class="num"' if isinstance(value, int | float) and not isinstance(value, bool) else ""
    return f"<td{cls}>{escape(format_value(value))}</td>"


def _kv_table(values: Mapping[str, Any]) -> str:
    rows = "".join(f"<tr><th>{escape(k)}</th>{_cell(v)}</tr>" for k, v in values.items())
    return f"<table>{rows}</table>"


def _rows_table(rows: list[dict[str, Any]], row_class: list[str] | None = None) -> str:
    """A table with one column per key of the rows (in first-seen order)."""
    if not rows:
        return '<p class="note">none</p>'
    columns = list(dict.fromkeys(k for row in rows for k in row))
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_class[i]}"' if row_class else ""
        cells = "".join(_cell(row.get(c, "")) for c in columns)
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _conventions(report: Report) -> str:
    return _kv_table(
        {
            "periods_per_year": report.periods_per_year,
            "calendar": report.calendar,
            "session_s": report.session_s,
            "grid_step_s": report.grid_step_ns / 1e9,
            "capital (quote)": report.capital,
            "returns": "equity change per grid step / capital (simple, not compounded)",
        }
    )


def _checks(report: Report) -> str:
    if not report.checks:
        return '<h2>Checks</h2><p class="note">no checks configured</p>'
    verdict = "pass" if report.passed else "fail"
    classes = ["pass" if c.get("passed") else "fail" for c in report.checks]
    return (
        f'<h2>Checks: <span class="verdict-{verdict}">{verdict.upper()}</span></h2>'
        + _rows_table(report.checks, classes)
    )


def _figures(figures: Mapping[str, bytes], titles: Mapping[str, str]) -> str:
    parts = []
    for key, png in figures.items():
        data = base64.b64encode(png).decode("ascii")
        title = escape(titles.get(key, key))
        parts.append(f'<h3>{title}</h3><img alt="{title}" src="data:image/png;base64,{data}">')
    return "".join(parts)


def render_html(
    report: Report,
    figures: Mapping[str, bytes] | None = None,
    *,
    titles: Mapping[str, str] | None = None,
    note: str | None = None,
) -> str:
    """The whole report page as one HTML string.

    ``figures`` maps a key to PNG bytes (embedded as data URIs, captioned from ``titles``);
    ``note`` is shown under the figures heading (e.g. why there are none).

    Examples
    --------
    >>> r = Report("run-1", "cfg", "0.1", "fp", 31536000.0, "24/7", 86400.0, 10**9, 1e4,
    ...            metrics={"performance": {"sharpe": 1.5}})
    >>> page = render_html(r)
    >>> "<th>sharpe</th>" in page, "http" in page
    (True, False)
    """
    header = _kv_table(
        {
            "run_id": report.run_id,
            "config_id": report.config_id,
            "code_version": report.code_version,
            "data_fingerprint": report.data_fingerprint,
        }
    )
    sections = "".join(
        f'<h2 id="{escape(name)}">{escape(name)}</h2>{_kv_table(values)}'
        for name, values in report.metrics.items()
    )
    tables = "".join(
        f"<h2>{escape(name)}</h2>{_rows_table(rows)}" for name, rows in report.tables.items()
    )
    pictures = _figures(figures or {}, titles or {})
    remark = f'<p class="note">{escape(note)}</p>' if note else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>l2trader report {escape(report.run_id)}</title><style>{_CSS}</style></head>"
        f"<body><h1>Backtest report {escape(report.run_id)}</h1>{header}"
        f"<h2>Conventions</h2>{_conventions(report)}{_checks(report)}"
        f"<h2>Figures</h2>{remark}{pictures}{sections}{tables}</body></html>\n"
    )
