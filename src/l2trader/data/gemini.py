"""Gemini market data v2 ``l2`` captures -> C1 events.

Input: cryptofeed captures (``<ts>: <json>`` lines, ts = local receive time in float
seconds; several symbols interleaved). Book messages are ``{"type":"l2_updates","symbol":..,
"changes":[[side, price, new qty], ..]}`` (``side`` buy/sell, qty is the new absolute level
size, "0" deletes). The **first** ``l2_updates`` of a symbol after the connection opened (or
from the start of the input) is its full book, as is any message carrying ``trades`` (the
initial message also lists the 50 last trades and auction events: ignored); it becomes one
batch CLEAR bid, bid SNAPSHOT rows, CLEAR ask, ask SNAPSHOT rows. Later messages are one
batch of BOOK rows.

The channel carries neither a venue time nor a sequence: ``ts_exch`` and ``seq`` are -1 and
gaps cannot be detected. ``trade``, ``heartbeat`` and other messages are skipped (counted).
Policy: see :class:`~l2trader.data.json_lines.CaptureReader`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from l2trader.data.checksums import BookMessage, VerifiedBook, Where, tick_decimal
from l2trader.data.json_lines import (
    CaptureReader,
    LineCore,
    MessageHandler,
    apply_decoded,
    change_levels,
    decode_object,
    infer_tick_sizes,
)

__all__ = ["GeminiBookReader", "gemini_tick_sizes"]


class GeminiBookReader(CaptureReader):
    """Stream C1 event chunks of one symbol from Gemini v2 ``l2`` captures.

    Parameters are those of :class:`~l2trader.data.json_lines.CaptureReader`;
    ``symbol`` is the Gemini symbol (e.g. ``"BTCGBP"``).

    Examples
    --------
    >>> from l2trader.data.instruments import Instrument
    >>> inst = Instrument(venue="gemini", symbol="BTCGBP", tick_size=0.01)
    >>> GeminiBookReader(["GEMINI.ws.1.0"], instrument=inst).symbol
    'BTCGBP'
    """

    def _handler(self, core: LineCore) -> MessageHandler:
        return _Handler(self, core)


class _Handler:
    """One read: the symbol's book and whether its full book arrived on this connection."""

    bare_lines = False

    def __init__(self, reader: GeminiBookReader, core: LineCore) -> None:
        self.core = core
        self.symbol = reader.symbol
        self.tick = tick_decimal(reader.instrument.tick_size)
        self.book = VerifiedBook(core.report, core.stats, core.buffer, name=reader.symbol)
        self.seen = False

    def on_connect(self) -> None:
        """A new connection: the next message of the symbol is its full book."""
        self.seen = False

    def on_message(self, where: Where, ts: int, payload: str, raw: str) -> None:
        if '"l2_updates"' not in payload:
            self.core.skip("non_book")
            return
        msg = self.core.decode(where, payload, raw)
        if msg is None:
            return
        if msg.get("type") != "l2_updates":
            self.core.skip("non_book")
        elif str(msg.get("symbol", "")).upper() != self.symbol:
            self.core.skip("other_symbol")
        else:
            ts_recv, flags = self.core.clock(where, ts)
            snapshot = not self.seen or "trades" in msg
            self.seen = True

            def build() -> BookMessage:
                levels = change_levels(msg["changes"], self.tick)
                return BookMessage(snapshot, levels, -1, ts_recv, flags=flags)

            apply_decoded(self.book, where, raw, build)


def _prices(payload: str) -> list[tuple[str, str]]:
    if '"l2_updates"' not in payload:
        return []
    msg = decode_object(payload)
    if msg.get("type") != "l2_updates":
        return []
    return [(str(msg["symbol"]), change[1]) for change in msg["changes"]]


def gemini_tick_sizes(paths: Sequence[str | Path]) -> dict[str, float]:
    """Symbol -> tick size inferred from the capture's book prices (most decimals).

    See :func:`~l2trader.data.json_lines.infer_tick_sizes`.
    """
    return infer_tick_sizes(paths, _prices)
