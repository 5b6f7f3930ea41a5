"""Hyperliquid ``l2Book`` recordings -> C1 events (every message is a full snapshot).

Input: hftbacktest-style recordings (``<local ns> <json>`` lines, gzip) or cryptofeed-style
captures. Book messages are ``{"channel":"l2Book","data":{"coin":..,"time":<ms>,
"levels":[[bids],[asks]]}}`` with levels ``{"px","sz","n"}`` (price and size strings, ``n``
= order count, ignored). Every message is the full top of book (20 levels per side), so each
becomes one batch: CLEAR bid, bid SNAPSHOT rows, CLEAR ask, ask SNAPSHOT rows.

``ts_recv`` = the local time; ``ts_exch`` = ``time`` (ms -> ns); ``seq`` -1 (none). A
snapshot older than the previous one (``time`` goes backwards) is ``STALE_UPDATE``: repair
drops it (quarantined) and keeps the newer book. ``trades`` and subscription responses are
skipped (counted). Policy: see :class:`~l2trader.data.json_lines.CaptureReader`.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from l2trader.data.checksums import BookMessage, Level, VerifiedBook, Where, tick_decimal
from l2trader.data.json_lines import (
    CaptureReader,
    LineCore,
    MessageHandler,
    apply_decoded,
    decode_object,
    infer_tick_sizes,
    pair_levels,
)
from l2trader.data.report import IssueCode
from l2trader.units import NS_PER_MILLISECOND

__all__ = ["HyperliquidBookReader", "hyperliquid_tick_sizes"]


class HyperliquidBookReader(CaptureReader):
    """Stream C1 event chunks of one coin from Hyperliquid ``l2Book`` recordings.

    Parameters are those of :class:`~l2trader.data.json_lines.CaptureReader`;
    ``symbol`` is the ``coin`` (e.g. ``"BTC"``).

    Examples
    --------
    >>> from l2trader.data.instruments import Instrument
    >>> inst = Instrument(venue="hyperliquid", symbol="BTC", tick_size=1.0)
    >>> HyperliquidBookReader(["hyperliquid_btcusd_20250126.gz"], instrument=inst).symbol
    'BTC'
    """

    def _handler(self, core: LineCore) -> MessageHandler:
        return _Handler(self, core)


class _Handler:
    """One read: the coin's book and the venue time of its last snapshot."""

    bare_lines = False

    def __init__(self, reader: HyperliquidBookReader, core: LineCore) -> None:
        self.core = core
        self.symbol = reader.symbol
        self.tick = tick_decimal(reader.instrument.tick_size)
        self.book = VerifiedBook(core.report, core.stats, core.buffer, name=reader.symbol)
        self.last_time = -1

    def on_connect(self) -> None:
        """Nothing to do: every message is a full book."""

    def on_message(self, where: Where, ts: int, payload: str, raw: str) -> None:
        if '"l2Book"' not in payload:
            self.core.skip("non_book")
            return
        msg = self.core.decode(where, payload, raw)
        if msg is None:
            return
        data = msg.get("data")
        if msg.get("channel") != "l2Book" or not isinstance(data, dict):
            self.core.skip("non_book")
        elif str(data.get("coin", "")).upper() != self.symbol:
            self.core.skip("other_symbol")
        else:
            clock = self.core.clock(where, ts)
            apply_decoded(self.book, where, raw, lambda: self._message(where, data, clock, raw))

    def _message(
        self, where: Where, data: dict[str, Any], clock: tuple[int, int], raw: str
    ) -> BookMessage | None:
        time = data["time"]
        if type(time) is not int:
            raise TypeError(f"time must be an integer, got {time!r}")
        if time < self.last_time:
            text = f"{self.symbol}: snapshot time {time} ms is before the previous {self.last_time}"
            self.core.report.add(where[1], -1, IssueCode.STALE_UPDATE, text, raw, source=where[0])
            return None
        bids, asks = data["levels"]
        levels = _levels(bids, True, self.tick) + _levels(asks, False, self.tick)
        self.last_time = time
        return BookMessage(True, levels, time * NS_PER_MILLISECOND, clock[0], flags=clock[1])


def _levels(rows: Any, is_bid: bool, tick: Decimal) -> list[Level]:
    if not isinstance(rows, list):
        raise TypeError("levels must be a list")
    return pair_levels([[row["px"], row["sz"]] for row in rows], is_bid, tick)


def _prices(payload: str) -> list[tuple[str, str]]:
    if '"l2Book"' not in payload:
        return []
    msg = decode_object(payload)
    data = msg.get("data")
    if msg.get("channel") != "l2Book" or not isinstance(data, dict):
        return []
    return [(str(data["coin"]), row["px"]) for side in data["levels"] for row in side]


def hyperliquid_tick_sizes(paths: Sequence[str | Path]) -> dict[str, float]:
    """Coin -> tick size inferred from the recording's book prices (most decimals).

    Hyperliquid prints a trailing ".0" on integer prices, so BTC is seen as 0.1 (its
    prices are whole dollars). See :func:`~l2trader.data.json_lines.infer_tick_sizes`.
    """
    return infer_tick_sizes(paths, _prices)
