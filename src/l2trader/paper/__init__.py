"""Paper trading: real-time feeds (replay, Binance websocket) for the shared engine."""

from __future__ import annotations

from l2trader.paper.binance_ws import BinanceDepthClient, binance_urls
from l2trader.paper.feed import Feed, FeedAlert, FeedStats, ReplayFeed, split_arrivals

__all__ = [
    "BinanceDepthClient",
    "Feed",
    "FeedAlert",
    "FeedStats",
    "ReplayFeed",
    "binance_urls",
    "split_arrivals",
]
