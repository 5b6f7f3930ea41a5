"""Decoding of Binance diff-depth input lines: recorder lines and cryptofeed captures.

The format is detected per line:

- recorder: ``<local_ns> <json>`` (ns since the epoch, then the raw message);
- cryptofeed capture: ``<url> <-> <ts>`` (connection opened), ``<url> <- <ts>: <json>``
  (sent by the client), ``<ts>: <json>`` (received) and ``<url> -> <ts>: <json>`` (REST
  snapshot, symbol in the URL), with ``ts`` the local receive time in float seconds.

Messages are either wrapped in the combined-stream envelope ``{"stream":..,"data":{..}}``
or bare. Streams other than diff depth and trades are classified from the envelope's
stream name without decoding their JSON (they are skipped anyway); everything else is
decoded with one ``orjson.loads`` per line.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

import orjson

from l2trader.data.binance_levels import Levels, convert_sides, price_level
from l2trader.units import NS_PER_MILLISECOND, NS_PER_SECOND

__all__ = [
    "STREAM_PREFIX",
    "DepthUpdate",
    "Kind",
    "Snapshot",
    "Trade",
    "as_id",
    "channel_kind",
    "decode_payload",
    "depth_update",
    "exchange_time_ns",
    "seconds_to_ns",
    "snapshot",
    "split_line",
    "trade",
    "url_symbol",
]

STREAM_PREFIX: Final = '{"stream":"'
_META_SEPARATORS: Final = ("<->", "<-")


class Kind(IntEnum):
    """What a decoded line holds."""

    META = 0
    """Capture bookkeeping (connection opened, client message): skipped."""
    DEPTH = 1
    """A ``depthUpdate`` diff event."""
    TRADE = 2
    """A ``trade`` event (id field ``t``)."""
    AGG_TRADE = 3
    """An ``aggTrade`` event (id field ``a``)."""
    SNAPSHOT = 4
    """A REST depth snapshot ``{"lastUpdateId":..,"bids":..,"asks":..}``."""
    OTHER = 5
    """bookTicker, kline, subscription acks, ...: skipped."""


def seconds_to_ns(text: str) -> int:
    """Exact ns from a decimal seconds string (digits beyond ns are truncated).

    Examples
    --------
    >>> seconds_to_ns("1633998512.0633569")
    1633998512063356900
    """
    whole, _, frac = text.partition(".")
    if not (whole.isascii() and whole.isdigit()) or not (frac == "" or frac.isdigit()):
        raise ValueError(f"bad timestamp {text!r}")
    return int(whole) * NS_PER_SECOND + int((frac + "000000000")[:9])


def url_symbol(url: str) -> str:
    """Upper-case ``symbol=`` query parameter of a REST URL ('' when absent).

    Examples
    --------
    >>> url_symbol("https://api.binance.com/api/v3/depth?symbol=NKNUSDT&limit=1000")
    'NKNUSDT'
    """
    _, _, query = url.partition("?")
    for part in query.split("&"):
        key, _, value = part.partition("=")
        if key == "symbol":
            return value.upper()
    return ""


def split_line(text: str) -> tuple[int, str, str]:
    """Split one input line into ``(ts_recv_ns, payload, url_symbol)``.

    ``payload`` is the raw JSON text, or ``''`` for capture bookkeeping lines. Raises
    ``ValueError`` when the line matches no known layout.

    Examples
    --------
    >>> split_line('1723161253937085768 {"a":1}')
    (1723161253937085768, '{"a":1}', '')
    >>> split_line('1633998512.5: {"a":1}')
    (1633998512500000000, '{"a":1}', '')
    """
    space = text.find(" ")
    if space <= 0:
        raise ValueError("no timestamp separator")
    head, payload = text[:space], text[space + 1 :]
    if not head[0].isdigit():
        return _split_url_line(text, space)
    if not payload.strip():
        raise ValueError("no message after the timestamp")
    if head.endswith(":"):
        return seconds_to_ns(head[:-1]), payload, ""
    if not (head.isascii() and head.isdigit()):
        raise ValueError(f"bad timestamp {head!r}")
    return int(head), payload, ""


def _split_url_line(text: str, space: int) -> tuple[int, str, str]:
    url = text[:space]
    sep_end = text.find(" ", space + 1)
    if sep_end < 0:
        raise ValueError("truncated capture line")
    sep, rest = text[space + 1 : sep_end], text[sep_end + 1 :]
    if sep == "<->":
        return seconds_to_ns(rest.strip()), "", ""
    stamp, colon, payload = rest.partition(": ")
    if not colon or sep not in ("<-", "->"):
        raise ValueError(f"unknown capture line layout (separator {sep!r})")
    ts = seconds_to_ns(stamp)
    if sep == "<-":
        return ts, "", ""
    if not payload.strip():
        raise ValueError("no response after the timestamp")
    return ts, payload, url_symbol(url)


def channel_kind(channel: str) -> Kind:
    """Kind of a combined-stream channel name (``depth@100ms``, ``trade``, ...)."""
    if channel == "depth" or channel.startswith("depth@"):
        return Kind.DEPTH
    if channel == "trade":
        return Kind.TRADE
    if channel == "aggTrade":
        return Kind.AGG_TRADE
    return Kind.OTHER


_EVENT_KINDS: Final = {"depthUpdate": Kind.DEPTH, "trade": Kind.TRADE, "aggTrade": Kind.AGG_TRADE}


def decode_payload(payload: str) -> tuple[Kind, str, dict[str, Any] | None]:
    """Classify and decode a message: ``(kind, SYMBOL or '', data dict or None)``.

    ``data`` is None for ``Kind.OTHER`` streams recognised from the envelope (not decoded).
    Raises ``ValueError`` (``orjson.JSONDecodeError``) or ``TypeError`` on malformed input.

    Examples
    --------
    >>> decode_payload('{"stream":"btcusdt@bookTicker","data":{}}')
    (<Kind.OTHER: 5>, 'BTCUSDT', None)
    >>> decode_payload('{"lastUpdateId":7,"bids":[],"asks":[]}')[0]
    <Kind.SNAPSHOT: 4>
    """
    if payload.startswith(STREAM_PREFIX):
        end = payload.find('"', len(STREAM_PREFIX))
        symbol, _, channel = payload[len(STREAM_PREFIX) : end].partition("@")
        kind = channel_kind(channel)
        if kind is Kind.OTHER:
            return kind, symbol.upper(), None
        return kind, symbol.upper(), _as_dict(orjson.loads(payload)["data"])
    obj = _as_dict(orjson.loads(payload))
    if "stream" in obj and "data" in obj:
        symbol, _, channel = str(obj["stream"]).partition("@")
        return channel_kind(channel), symbol.upper(), _as_dict(obj["data"])
    if "lastUpdateId" in obj:
        return Kind.SNAPSHOT, str(obj.get("symbol", "")).upper(), obj
    kind = _EVENT_KINDS.get(str(obj.get("e", "")), Kind.OTHER)
    return kind, str(obj.get("s", "")).upper(), obj


def _as_dict(obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise TypeError(f"expected a JSON object, got {type(obj).__name__}")
    return obj


def as_id(value: Any, name: str) -> int:
    """An update/trade id field as int (``TypeError`` unless a JSON integer)."""
    if type(value) is not int:
        raise TypeError(f"field {name!r} must be an integer, got {value!r}")
    return value


def exchange_time_ns(data: dict[str, Any], *, required: bool) -> int:
    """``T`` (transaction time) if present else ``E`` (event time), ms -> ns; -1 if neither.

    Examples
    --------
    >>> exchange_time_ns({"E": 2, "T": 1}, required=True)
    1000000
    """
    ms = data.get("T", data.get("E"))
    if ms is None:
        if required:
            raise KeyError("missing field 'E'")
        return -1
    return as_id(ms, "T/E") * NS_PER_MILLISECOND


@dataclass(slots=True)
class DepthUpdate:
    """A decoded ``depthUpdate``: ids ``U``/``u``/``pu``, levels, and where it came from."""

    source: str
    line: int
    ts_recv: int
    ts_exch: int
    first_id: int
    last_id: int
    prev_id: int | None
    bids: Levels
    asks: Levels
    raw: str
    repaired: bool = False
    post_gap: bool = False


@dataclass(slots=True)
class Snapshot:
    """A decoded REST depth snapshot (``lastUpdateId`` and both sides)."""

    source: str
    line: int
    ts_recv: int
    ts_exch: int
    last_id: int
    bids: Levels
    asks: Levels
    raw: str
    repaired: bool = False


@dataclass(slots=True)
class Trade:
    """A decoded ``trade``/``aggTrade``; ``side`` is the aggressor (+1 buy, -1 sell)."""

    source: str
    line: int
    ts_recv: int
    ts_exch: int
    trade_id: int
    price: Levels
    side: int
    raw: str
    repaired: bool = False


def depth_update(
    data: dict[str, Any], tick_size: float, where: tuple[str, int, int, str]
) -> DepthUpdate:
    """Build a :class:`DepthUpdate` from its JSON ``data``; ``where`` = (source, line, ts, raw)."""
    first_id, last_id = as_id(data["U"], "U"), as_id(data["u"], "u")
    if first_id > last_id:
        raise ValueError(f"first update id U={first_id} > last update id u={last_id}")
    prev = data.get("pu")
    return DepthUpdate(
        where[0],
        where[1],
        where[2],
        exchange_time_ns(data, required=True),
        first_id,
        last_id,
        None if prev is None else as_id(prev, "pu"),
        *convert_sides(data["b"], data["a"], tick_size),
        where[3],
    )


def snapshot(data: dict[str, Any], tick_size: float, where: tuple[str, int, int, str]) -> Snapshot:
    """Build a :class:`Snapshot` from a REST response; ``ts_exch`` is -1 without ``T``/``E``."""
    return Snapshot(
        where[0],
        where[1],
        where[2],
        exchange_time_ns(data, required=False),
        as_id(data["lastUpdateId"], "lastUpdateId"),
        *convert_sides(data["bids"], data["asks"], tick_size),
        where[3],
    )


def trade(
    data: dict[str, Any], kind: Kind, tick_size: float, where: tuple[str, int, int, str]
) -> Trade:
    """Build a :class:`Trade`: id ``t`` (trade) or ``a`` (aggTrade), ``m`` -> seller aggressor."""
    trade_id = as_id(data["t"] if kind is Kind.TRADE else data["a"], "trade id")
    maker = data["m"]
    if not isinstance(maker, bool):
        raise TypeError(f"field 'm' must be a boolean, got {maker!r}")
    return Trade(
        where[0],
        where[1],
        where[2],
        as_id(data["T"], "T") * NS_PER_MILLISECOND,
        trade_id,
        price_level(data["p"], data["q"], tick_size),
        -1 if maker else 1,
        where[3],
    )
