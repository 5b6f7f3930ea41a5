"""BitMEX WebSocket ``orderBookL2`` captures -> C1 events (id-keyed levels).

Input: cryptofeed captures (``<ts>: <json>`` lines, ts = local receive time in float
seconds; several instruments and tables interleaved). Book messages are
``{"table":"orderBookL2","action":A,"data":[{"symbol","id","side":"Buy"|"Sell","size",
"price"}, ..]}`` (``orderBookL2_25`` is read the same way):

- ``partial`` -> one batch: CLEAR bid, bid SNAPSHOT rows, CLEAR ask, ask SNAPSHOT rows;
- ``insert`` -> BOOK rows for new ids (price and size given);
- ``update`` -> BOOK rows: rows carry only ``id``/``side``/``size``, the price comes from
  the id -> price map built from ``partial``/``insert``;
- ``delete`` -> BOOK rows of size 0 (rows carry only ``id``/``side``).

Prices are JSON floats, put on the tick grid exactly from their shortest repr. Only the
rows of the selected ``symbol`` are used (a message holding none is skipped as
``other_symbol``). The book messages carry no sequence (``seq`` -1); ``ts_exch`` is the
first row's ``timestamp`` when present (newer API versions), else -1. Quotes, trades,
``info`` and subscription acks are skipped (counted).

Policy: see :class:`~l2trader.data.json_lines.CaptureReader`. An unknown id, a re-inserted
id or a changed side (:class:`IdLevels`) is ``BAD_VALUE``: the
book is unknown, so repair clears it and waits for the next ``partial``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from l2trader.data.checksums import (
    BadLevel,
    BookMessage,
    Level,
    VerifiedBook,
    Where,
    tick_decimal,
)
from l2trader.data.json_lines import (
    CaptureReader,
    LineCore,
    MessageHandler,
    apply_decoded,
    decode_object,
    infer_tick_sizes,
    iso_to_ns,
    number_text,
    pair_levels,
    side_is_bid,
)
from l2trader.data.report import IssueCode

__all__ = ["BOOK_TABLES", "BitmexBookReader", "IdLevels", "bitmex_tick_sizes"]

BOOK_TABLES: Final = frozenset({"orderBookL2", "orderBookL2_25"})
"""BitMEX id-keyed L2 tables."""
_ACTIONS: Final = frozenset({"partial", "insert", "update", "delete"})


class IdLevels:
    """Id-keyed price levels (BitMEX ``orderBookL2``, Bybit v1 ``orderBookL2_25``).

    Bybit's v1 ``orderBookL2_25`` copies BitMEX's layout, so both readers use this map.
    Maps a venue level id to ``(is_bid, price_ticks, price string)`` so ``update`` and
    ``delete`` rows, which may carry only ``id``/``side``(/``size``), can be priced. Rows
    are JSON objects with ``id``, ``side`` (``Buy``/``Sell``), ``price`` and ``size``. An
    unknown id, a known id re-inserted or a side that disagrees with the map raise
    :class:`~l2trader.data.checksums.BadLevel` (``BAD_VALUE``): the book is then unknown.

    Examples
    --------
    >>> ids = IdLevels()
    >>> ids.insert_rows([{"id": 7, "side": "Buy", "price": 1.0, "size": 5}], Decimal("0.5"))
    [(True, 2, 5.0, '1.0', '5')]
    >>> ids.update_rows([{"id": 7, "side": "Buy", "size": 3}])
    [(True, 2, 3.0, '1.0', '3')]
    >>> ids.delete_rows([{"id": 7, "side": "Buy"}]), len(ids)
    ([(True, 2, 0.0, '1.0', '0')], 0)
    """

    def __init__(self) -> None:
        self._levels: dict[int, tuple[bool, int, str]] = {}

    def insert_rows(self, rows: Iterable[dict[str, Any]], tick: Decimal) -> list[Level]:
        """Levels of new ids (snapshot or insert rows), remembered for later rows."""
        out: list[Level] = []
        for row in rows:
            level_id = _level_id(row)
            if level_id in self._levels:
                raise BadLevel(IssueCode.BAD_VALUE, f"insert of id {level_id}, already in book")
            level = pair_levels([[row["price"], row["size"]]], side_is_bid(row["side"]), tick)[0]
            self._levels[level_id] = (level[0], level[1], level[3])
            out.append(level)
        return out

    def update_rows(self, rows: Iterable[dict[str, Any]]) -> list[Level]:
        """Levels of known ids with a new absolute ``size``."""
        out: list[Level] = []
        for row in rows:
            is_bid, ticks, price = self._known(row, pop=False)
            size = number_text(row["size"], "size")
            qty = float(size)
            if not qty >= 0.0 or qty == float("inf"):
                raise BadLevel(IssueCode.BAD_VALUE, f"id {row['id']}: bad size {size!r}")
            out.append((is_bid, ticks, qty, price, size))
        return out

    def delete_rows(self, rows: Iterable[dict[str, Any]]) -> list[Level]:
        """Size-0 levels of deleted ids (forgotten)."""
        out: list[Level] = []
        for row in rows:
            is_bid, ticks, price = self._known(row, pop=True)
            out.append((is_bid, ticks, 0.0, price, "0"))
        return out

    def _known(self, row: dict[str, Any], *, pop: bool) -> tuple[bool, int, str]:
        level_id = _level_id(row)
        found = self._levels.pop(level_id, None) if pop else self._levels.get(level_id)
        if found is None:
            raise BadLevel(IssueCode.BAD_VALUE, f"unknown level id {level_id}")
        if side_is_bid(row["side"]) is not found[0]:
            raise BadLevel(IssueCode.BAD_VALUE, f"id {level_id}: side {row['side']!r} changed")
        return found

    def clear(self) -> None:
        """Forget every id."""
        self._levels.clear()

    def __len__(self) -> int:
        return len(self._levels)


def _level_id(row: dict[str, Any]) -> int:
    level_id = row["id"]
    if type(level_id) is not int:
        raise TypeError(f"level id must be an integer, got {level_id!r}")
    return level_id


class BitmexBookReader(CaptureReader):
    """Stream C1 event chunks of one instrument from BitMEX ``orderBookL2`` captures.

    Parameters are those of :class:`~l2trader.data.json_lines.CaptureReader`;
    ``symbol`` is the BitMEX symbol (e.g. ``"XBTUSD"``).

    Examples
    --------
    >>> from l2trader.data.instruments import Instrument
    >>> inst = Instrument(venue="bitmex", symbol="XBTUSD", tick_size=0.5)
    >>> BitmexBookReader(["BITMEX.ws.1.0"], instrument=inst).symbol
    'XBTUSD'
    """

    def _handler(self, core: LineCore) -> MessageHandler:
        return _Handler(self, core)


class _Handler:
    """One read: the instrument's book and its id -> price map."""

    bare_lines = False

    def __init__(self, reader: BitmexBookReader, core: LineCore) -> None:
        self.core = core
        self.symbol = reader.symbol
        self.tick = tick_decimal(reader.instrument.tick_size)
        self.book = VerifiedBook(core.report, core.stats, core.buffer, name=reader.symbol)
        self.ids = IdLevels()

    def on_connect(self) -> None:
        """Nothing to do: the venue sends a ``partial`` after the subscription."""

    def on_message(self, where: Where, ts: int, payload: str, raw: str) -> None:
        if '"orderBookL2' not in payload:
            self.core.skip("non_book")
            return
        msg = self.core.decode(where, payload, raw)
        if msg is None:
            return
        rows = _rows(msg, self.symbol)
        if rows is None:
            self.core.skip("non_book")
        elif not rows:
            self.core.skip("other_symbol")
        else:
            clock = self.core.clock(where, ts)
            apply_decoded(self.book, where, raw, lambda: self._message(msg, rows, clock))
            if not self.book.synced:
                self.ids.clear()

    def _message(
        self, msg: dict[str, Any], rows: list[dict[str, Any]], clock: tuple[int, int]
    ) -> BookMessage:
        action = msg["action"]
        if action not in _ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        ts_exch = iso_to_ns(rows[0]["timestamp"]) if "timestamp" in rows[0] else -1
        snapshot = action == "partial"
        if snapshot:
            self.ids.clear()
        if not (snapshot or self.book.synced):
            levels = []  # the book rejects it as an update before the partial
        elif action in ("partial", "insert"):
            levels = self.ids.insert_rows(rows, self.tick)
        elif action == "update":
            levels = self.ids.update_rows(rows)
        else:
            levels = self.ids.delete_rows(rows)
        return BookMessage(snapshot, levels, ts_exch, clock[0], flags=clock[1])


def _rows(msg: dict[str, Any], symbol: str) -> list[dict[str, Any]] | None:
    """The message's rows of ``symbol``; None when it is not a book-table message."""
    if msg.get("table") not in BOOK_TABLES or "action" not in msg:
        return None
    data = msg.get("data")
    if not isinstance(data, list):
        return None
    return [r for r in data if isinstance(r, dict) and str(r.get("symbol", "")).upper() == symbol]


def _prices(payload: str) -> list[tuple[str, str]]:
    if '"orderBookL2' not in payload:
        return []
    msg = decode_object(payload)
    if msg.get("table") not in BOOK_TABLES:
        return []
    rows = msg.get("data") or []
    return [(str(r["symbol"]), number_text(r["price"], "price")) for r in rows if "price" in r]


def bitmex_tick_sizes(paths: Sequence[str | Path]) -> dict[str, float]:
    """Symbol -> tick size inferred from the shortest reprs of its book prices.

    JSON numbers lose trailing zeros, so this is the finest precision seen: a valid grid
    for every price in the capture, possibly finer than the venue's tick (0.5 for XBTUSD
    is seen as 0.1 or 1). See :func:`~l2trader.data.json_lines.infer_tick_sizes`.
    """
    return infer_tick_sizes(paths, _prices)
