"""Reference L2 strategies: pure ``decide_nb(ctx, params, out) -> n`` numba kernels.

- :mod:`~l2trader.engine.strategies.taker`: signal taker (crosses the spread on a C4 score).
- :mod:`~l2trader.engine.strategies.market_maker`: Avellaneda-Stoikov style market maker.

Each module pairs a :class:`~l2trader.config.FrozenConfig`, a ``NamedTuple`` of kernel
parameters built by a ``*_params(cfg)`` function, and the decision kernel.
"""

from l2trader.engine.strategies.market_maker import (
    MarketMakerConfig,
    MMParams,
    mm_decide_nb,
    mm_params,
)
from l2trader.engine.strategies.taker import (
    SignalTakerConfig,
    TakerParams,
    taker_decide_nb,
    taker_params,
)

__all__ = [
    "MMParams",
    "MarketMakerConfig",
    "SignalTakerConfig",
    "TakerParams",
    "mm_decide_nb",
    "mm_params",
    "taker_decide_nb",
    "taker_params",
]
