"""l2trader: Level-2 order book trading from raw depth data to a deployed strategy.

The package imports cheaply: no kernel is compiled and no data is read at import time.
"""

from __future__ import annotations

from l2trader.schema import EVENT_DTYPE, EventFlag, EventKind, Side

__all__ = ["EVENT_DTYPE", "EventFlag", "EventKind", "Side", "__version__"]

__version__ = "0.1.0"
