"""Operator actions on a running paper session: halt, cancel all, flatten, restart the feed.

An action comes from outside the trading loop (an alert rule's automatic response in the
deploy service, or a person) and is applied between two arrivals, on the session's own
thread. It is journaled first (an ``events`` row of kind ``"operator"``), then applied
through the engine's risk manager, and the orders it creates are committed before the next
arrival lets them act:

- ``halt``: :meth:`Engine.operator_halt` without flatten: from the next book state every
  working order is cancelled, the strategy no longer decides and new orders that would not
  reduce the position are rejected; the position is kept;
- ``flatten``: the same halt, plus a reduce-only market order until flat;
- ``cancel_all``: a CANCEL for every working order now; the strategy keeps trading;
- ``restart_feed``: a live feed drops its connection and resyncs from a fresh snapshot
  (a replay feed has nothing to restart: journaled as ``noop``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final, Literal, Protocol

from l2trader.engine.engine import Engine
from l2trader.errors import ConfigError
from l2trader.paper.journal import Journal
from l2trader.paper.recovery import cancel_working_orders

__all__ = ["ACTIONS", "OperatorAction", "apply_action"]

OperatorAction = Literal["halt", "cancel_all", "flatten", "restart_feed"]
ACTIONS: Final = ("halt", "cancel_all", "flatten", "restart_feed")


class _Restartable(Protocol):
    def restart(self) -> bool: ...


def apply_action(engine: Engine, journal: Journal, feed: object, action: str, reason: str,
                 commit: Callable[[], object]) -> bool:  # fmt: skip
    """Journal ``action`` (with ``reason``), apply it, commit the orders it created.

    Returns True when the action changed something (False: already halted, no working
    order, or a feed that cannot restart); both outcomes are journaled.

    Raises
    ------
    ConfigError
        ``action`` is not one of :data:`ACTIONS`.
    """
    if action not in ACTIONS:
        raise ConfigError(f"operator action {action!r}: must be one of {list(ACTIONS)}")
    detail: dict[str, Any] = {"reason": reason, "position": float(engine.trader.pf[0])}
    journal.record_event("operator", action, "requested", detail)
    if action in ("halt", "flatten"):
        changed = engine.operator_halt(flatten=action == "flatten")
    elif action == "cancel_all":
        changed = cancel_working_orders(engine) > 0
    else:
        restart = getattr(feed, "restart", None)
        changed = bool(restart()) if callable(restart) else False
    commit()
    journal.record_event("operator", action, "applied" if changed else "noop",
                         {**detail, "halted": engine.halted}, ts_ns=time.time_ns())  # fmt: skip
    return changed
