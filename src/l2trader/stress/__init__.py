"""Stress scenarios: seeded, parameterised, pure transforms of a C1 event stream.

- :mod:`~l2trader.stress.transform`: the :class:`Scenario` base, :class:`TransformInfo`,
  :func:`compose` and the book helpers;
- :mod:`~l2trader.stress.scenarios`: market stresses (flash crash, volatility spike,
  liquidity drought, trending run, quote stuffing);
- :mod:`~l2trader.stress.faults`: data-quality faults (drops, gaps, duplicates, disorder,
  corrupted rows, stale feed, truncation);
- :mod:`~l2trader.stress.edges`: edge-case books (locked, crossed, extreme imbalance,
  one-sided, empty, one tick wide with huge queues).
"""

from __future__ import annotations

from l2trader.stress.transform import Composed, Scenario, TransformInfo, compose

__all__ = ["Composed", "Scenario", "TransformInfo", "compose"]
