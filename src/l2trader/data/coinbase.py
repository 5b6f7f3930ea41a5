"""Coinbase (Pro / Exchange) WebSocket ``level2`` captures -> C1 events.

Input: cryptofeed captures (``<ts>: <json>`` lines, ts = local receive time in float
seconds; several products and channels interleaved). Book messages:

- ``{"type":"snapshot","product_id":..,"bids":[[price, size], ..],"asks":[..]}`` -> one
  batch: CLEAR bid, bid SNAPSHOT rows, CLEAR ask, ask SNAPSHOT rows (``ts_exch`` -1: the
  snapshot carries no time);
- ``{"type":"l2update","product_id":..,"changes":[[side, price, new size], ..],
  "time":"<ISO-8601 UTC, µs>"}`` -> one batch of BOOK rows (``side`` buy/sell, size is
  the new absolute level size, "0" deletes), ``ts_exch`` = ``time``.

The channel carries no sequence number, so ``seq`` is -1 and gaps cannot be detected;
``ticker``, ``match``/``last_match``, ``heartbeat`` and subscription acks are skipped
(counted in ``stats``). Policy: see :class:`~l2trader.data.json_lines.CaptureReader` (an
``l2update`` before the product's snapshot is ``NO_SNAPSHOT``).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from l2trader.data.checksums import BookMessage, VerifiedBook, Where, tick_decimal
from l2trader.data.json_lines import (
    CaptureReader,
    LineCore,
    MessageHandler,
    apply_decoded,
    change_levels,
    decode_object,
    infer_tick_sizes,
    iso_to_ns,
    pair_levels,
)

__all__ = ["CoinbaseBookReader", "coinbase_tick_sizes"]

_BOOK_TYPES: Final = ("snapshot", "l2update")


class CoinbaseBookReader(CaptureReader):
    """Stream C1 event chunks of one product from Coinbase ``level2`` captures.

    Parameters are those of :class:`~l2trader.data.json_lines.CaptureReader`;
    ``symbol`` is the ``product_id`` (e.g. ``"SKL-USD"``).

    Examples
    --------
    >>> from l2trader.data.instruments import Instrument
    >>> inst = Instrument(venue="coinbase", symbol="SKL-USD", tick_size=0.0001)
    >>> CoinbaseBookReader(["COINBASE.ws.28.0"], instrument=inst).symbol
    'SKL-USD'
    """

    def _handler(self, core: LineCore) -> MessageHandler:
        return _Handler(self, core)


class _Handler:
    """One read: the product's book."""

    bare_lines = False

    def __init__(self, reader: CoinbaseBookReader, core: LineCore) -> None:
        self.core = core
        self.symbol = reader.symbol
        self.tick = tick_decimal(reader.instrument.tick_size)
        self.book = VerifiedBook(core.report, core.stats, core.buffer, name=reader.symbol)

    def on_connect(self) -> None:
        """Nothing to do: the venue sends a fresh snapshot after the subscription."""

    def on_message(self, where: Where, ts: int, payload: str, raw: str) -> None:
        if '"snapshot"' not in payload and '"l2update"' not in payload:
            self.core.skip("non_book")
            return
        msg = self.core.decode(where, payload, raw)
        if msg is None:
            return
        if msg.get("type") not in _BOOK_TYPES:
            self.core.skip("non_book")
        elif str(msg.get("product_id", "")).upper() != self.symbol:
            self.core.skip("other_symbol")
        else:
            clock = self.core.clock(where, ts)
            apply_decoded(self.book, where, raw, lambda: _message(msg, self.tick, clock))


def _message(msg: dict[str, Any], tick: Decimal, clock: tuple[int, int]) -> BookMessage:
    if msg["type"] == "snapshot":
        levels = pair_levels(msg["bids"], True, tick) + pair_levels(msg["asks"], False, tick)
        return BookMessage(True, levels, -1, clock[0], flags=clock[1])
    levels = change_levels(msg["changes"], tick)
    return BookMessage(False, levels, iso_to_ns(msg["time"]), clock[0], flags=clock[1])


def _prices(payload: str) -> list[tuple[str, str]]:
    if '"snapshot"' not in payload and '"l2update"' not in payload:
        return []
    msg = decode_object(payload)
    if msg.get("type") not in _BOOK_TYPES:
        return []
    product = str(msg["product_id"])
    if msg["type"] == "l2update":
        return [(product, change[1]) for change in msg["changes"]]
    return [(product, level[0]) for level in [*msg["bids"], *msg["asks"]]]


def coinbase_tick_sizes(paths: Sequence[str | Path]) -> dict[str, float]:
    """product_id -> tick size inferred from the capture's book prices (most decimals).

    Coinbase prints prices with the product's full quote precision, so this is usually
    the venue's ``quote_increment`` (see :func:`~l2trader.data.json_lines.infer_tick_sizes`).
    """
    return infer_tick_sizes(paths, _prices)
