"""Every numpy dtype and small-integer enum shared between pipeline stages.

Contracts C1 (normalized events) and C2 (book frame) live here; see
``docs/contracts/``. All ``ts_*`` fields are int64 ns since the Unix epoch (UTC),
all ``*_ticks`` fields are int64 multiples of the instrument's tick size, and all
``qty`` fields are float64 base units.

Kernels use the plain module-level integer constants (``KIND_BOOK``, ``F_LAST``, ...);
Python code uses the ``IntEnum`` classes. Both are defined once, here.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag
from typing import Final

import numpy as np

__all__ = [
    "ASK",
    "BID",
    "EVENT_DTYPE",
    "FILL_DTYPE",
    "F_GAP_BEFORE",
    "F_LAST",
    "F_REPAIRED",
    "KIND_BOOK",
    "KIND_CLEAR",
    "KIND_SNAPSHOT",
    "KIND_TRADE",
    "NO_ASK_TICKS",
    "NO_BID_TICKS",
    "ORDER_DTYPE",
    "ORDER_EVENT_DTYPE",
    "SIGNAL_DTYPE",
    "STATE_DTYPE",
    "EventFlag",
    "EventKind",
    "Liquidity",
    "OrderAction",
    "OrderStatus",
    "OrderType",
    "Reject",
    "Side",
    "TimeInForce",
    "empty_events",
    "field_table",
]

# ---------------------------------------------------------------------------------------------
# Enums (Python face) and their integer constants (kernel face)
# ---------------------------------------------------------------------------------------------


class EventKind(IntEnum):
    """What a C1 event row means."""

    BOOK = 1
    """Incremental level update: ``qty`` is the new absolute size at ``price_ticks``."""
    TRADE = 2
    """A trade print: ``qty`` traded at ``price_ticks``; ``side`` is the aggressor."""
    SNAPSHOT = 3
    """A level of a full-book snapshot; a run of them starts with a CLEAR of that side."""
    CLEAR = 4
    """Remove every level of ``side`` (0 = both sides)."""


class Side(IntEnum):
    """Book side or trade aggressor side."""

    BID = 1
    ASK = -1
    UNKNOWN = 0
    BUY = 1
    SELL = -1


class EventFlag(IntFlag):
    """Bits of the C1 ``flags`` field."""

    LAST = 1
    """End of an atomic venue message: the book is consistent after this row."""
    REPAIRED = 2
    """Row produced or kept by a repair policy (e.g. a resync snapshot)."""
    GAP_BEFORE = 4
    """A sequence gap was detected before this row; data in between is missing."""


KIND_BOOK: Final = 1
KIND_TRADE: Final = 2
KIND_SNAPSHOT: Final = 3
KIND_CLEAR: Final = 4
BID: Final = 1
ASK: Final = -1
F_LAST: Final = 1
F_REPAIRED: Final = 2
F_GAP_BEFORE: Final = 4

NO_BID_TICKS: Final = np.iinfo(np.int64).min
"""Sentinel price for an empty bid level in a book frame (C2)."""
NO_ASK_TICKS: Final = np.iinfo(np.int64).max
"""Sentinel price for an empty ask level in a book frame (C2)."""

# ---------------------------------------------------------------------------------------------
# C1: normalized events
# ---------------------------------------------------------------------------------------------

EVENT_DTYPE: Final = np.dtype(
    [
        ("ts_exch", "i8"),  # venue/matching-engine time, ns; -1 if the source has none
        ("ts_recv", "i8"),  # local receive time, ns; the clock the strategy lives on
        ("seq", "i8"),  # vendor sequence / final update id; -1 if none
        ("price_ticks", "i8"),  # level price (BOOK/SNAPSHOT) or trade price (TRADE), ticks
        ("qty", "f8"),  # BOOK/SNAPSHOT: new absolute level size (0 = remove); TRADE: size
        ("kind", "u1"),  # EventKind
        ("side", "i1"),  # Side: +1 bid/buy, -1 ask/sell (TRADE: aggressor), 0 unknown
        ("flags", "u1"),  # EventFlag bits
    ],
    align=True,
)
"""C1 event record, 48 bytes. Field meanings: ``docs/contracts/events.md``."""

SIGNAL_DTYPE: Final = np.dtype([("ts_recv", "i8"), ("score", "f8")], align=True)
"""C4 signal record: ``score`` is the predicted forward mid return (bps) over the model's
horizon; NaN means no opinion. ``docs/contracts/signal.md``."""

EVENT_FIELD_DOCS: Final[dict[str, tuple[str, str]]] = {
    "ts_exch": ("ns", "venue/matching-engine time; -1 if the source has none"),
    "ts_recv": ("ns", "local receive time; the clock the strategy lives on"),
    "seq": ("-", "vendor sequence / final update id; -1 if none"),
    "price_ticks": ("ticks", "level price (BOOK/SNAPSHOT/CLEAR: 0) or trade price (TRADE)"),
    "qty": ("base units", "BOOK/SNAPSHOT: new absolute level size, 0 removes; TRADE: size"),
    "kind": ("EventKind", "BOOK=1, TRADE=2, SNAPSHOT=3, CLEAR=4"),
    "side": ("Side", "BID/BUY=+1, ASK/SELL=-1 (TRADE: aggressor), 0 unknown/both"),
    "flags": ("EventFlag", "bits LAST=1, REPAIRED=2, GAP_BEFORE=4"),
}
"""Unit and meaning of each C1 field; the contract page is generated from this."""


def empty_events(n: int) -> np.ndarray:
    """Return a zeroed C-contiguous event array of ``n`` rows.

    Examples
    --------
    >>> empty_events(2).dtype.itemsize
    48
    """
    return np.zeros(n, dtype=EVENT_DTYPE)


def field_table(dtype: np.dtype, docs: dict[str, tuple[str, str]]) -> str:
    """Markdown table (name, dtype, unit, meaning) of a record dtype: contract pages embed it.

    Examples
    --------
    >>> print(field_table(EVENT_DTYPE, EVENT_FIELD_DOCS).splitlines()[2])
    | `ts_exch` | `int64` | ns | venue/matching-engine time; -1 if the source has none |
    """
    rows = ["| field | dtype | unit | meaning |", "|---|---|---|---|"]
    for name in dtype.names or ():
        unit, meaning = docs[name]
        rows.append(f"| `{name}` | `{dtype.fields[name][0]}` | {unit} | {meaning} |")  # type: ignore[index]
    return "\n".join(rows)


# ---------------------------------------------------------------------------------------------
# C5-C7: orders, order events, fills, state (engine, paper, analysis)
# ---------------------------------------------------------------------------------------------


class OrderAction(IntEnum):
    """What an order intent asks for."""

    NEW = 1
    CANCEL = 2
    MODIFY = 3


class OrderType(IntEnum):
    """Order type of a NEW/MODIFY intent."""

    LIMIT = 1
    MARKET = 2


class TimeInForce(IntEnum):
    """How long an order works: GTC rests, IOC/FOK never rest, POST_ONLY never takes."""

    GTC = 1
    IOC = 2
    FOK = 3
    POST_ONLY = 4


class OrderStatus(IntEnum):
    """Status carried by an order event (C5)."""

    ACCEPTED = 1
    REJECTED = 2
    CANCELED = 3
    EXPIRED = 4
    FILLED = 5
    PARTIALLY_FILLED = 6


class Reject(IntEnum):
    """Reason code of a rejection (risk manager or simulated venue); 0 = none."""

    NONE = 0
    RISK_MAX_POSITION = 1
    RISK_MAX_ORDER_QTY = 2
    RISK_MAX_NOTIONAL = 3
    RISK_PRICE_COLLAR = 4
    RISK_MAX_OPEN_ORDERS = 5
    RISK_KILL_SWITCH = 6
    POST_ONLY_WOULD_CROSS = 7
    FOK_NOT_FILLABLE = 8
    UNKNOWN_ORDER = 9
    NO_LIQUIDITY = 10
    INVALID_ORDER = 11


class Liquidity(IntEnum):
    """Whether a fill added (maker) or removed (taker) liquidity."""

    MAKER = 1
    TAKER = 2


ORDER_DTYPE: Final = np.dtype(
    [
        ("ts_recv", "i8"),
        ("order_id", "i8"),
        ("action", "u1"),
        ("side", "i1"),
        ("order_type", "u1"),
        ("tif", "u1"),
        ("price_ticks", "i8"),
        ("qty", "f8"),
    ],
    align=True,
)
"""C5 order intent (strategy -> risk -> exchange). ``docs/contracts/orders.md``."""

ORDER_EVENT_DTYPE: Final = np.dtype(
    [
        ("ts_exch", "i8"),
        ("ts_recv", "i8"),
        ("order_id", "i8"),
        ("status", "u1"),
        ("reason", "u2"),
        ("leaves_qty", "f8"),
    ],
    align=True,
)
"""C5 order event (exchange/risk -> strategy): status changes with their reason."""

FILL_DTYPE: Final = np.dtype(
    [
        ("ts_exch", "i8"),
        ("ts_recv", "i8"),
        ("order_id", "i8"),
        ("side", "i1"),
        ("liquidity", "u1"),
        ("levels", "i2"),
        ("price_ticks", "i8"),
        ("qty", "f8"),
        ("fee", "f8"),
    ],
    align=True,
)
"""C6 fill: a taker sweep gives one fill per price level (exact ``price_ticks``; DESIGN's one
VWAP row would not fit an int64 tick), ``levels`` = levels the order walked, ``fee`` in quote
currency (negative = rebate)."""

STATE_DTYPE: Final = np.dtype(
    [
        ("ts_recv", "i8"),
        ("mid", "f8"),
        ("position", "f8"),
        ("cash", "f8"),
        ("fees", "f8"),
        ("equity", "f8"),
    ],
    align=True,
)
"""C7 state sample on a fixed grid: ``equity = cash + position * mid`` (quote currency)."""
