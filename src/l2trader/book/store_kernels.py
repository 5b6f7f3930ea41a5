"""Level store of the exact L2 book: a dense tick window per side plus a sparse overflow.

Each side ``s`` (0 = bid, 1 = ask) keeps a dense window ``q[s, :]`` of sizes indexed by
``price_ticks - base[s]`` (the shape of hftbacktest's ROIVectorMarketDepth) and an unsorted
overflow ``ovf_px[s, :k], ovf_qty[s, :k]`` for the few levels outside the window. Every
price lives in exactly one of the two, so the book is exact for any price: an update outside
the window is never dropped. Invariant: when a side is non-empty its best level is inside its
window, so all bid overflow lies below the bid window and all ask overflow above the ask window.
A new best outside the window re-centres the window around it (levels migrate between window
and overflow). When the overflow is full a kernel returns ``STATUS_GROW`` *before* changing
anything, so the wrapper can enlarge the arrays and resume at the same event.

Scalar state lives in ``ist: int64[IST_SIZE]`` (slots below, ``slot + s`` per side) so the
book resumes exactly across chunks. Kernels here never allocate, so they are compiled without
the numba runtime (:func:`njit_nrt_free`): no reference counting in the hot loop. Oracle for
every kernel here: :class:`l2trader.book.reference.ReferenceBook` (``tests/unit/book/``).
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

from l2trader._numba import njit_inline, njit_nrt_free
from l2trader.schema import NO_ASK_TICKS, NO_BID_TICKS

__all__ = [
    "IST_BASE",
    "IST_BEST",
    "IST_COUNT",
    "IST_OVF",
    "IST_SIZE",
    "IST_TS_EXCH",
    "IST_TS_RECV",
    "STATUS_GROW",
    "STATUS_OK",
    "clear_side_nb",
    "level_qty_nb",
    "njit_inline",
    "njit_nrt_free",
    "regrid_nb",
    "set_level_nb",
]

IST_BASE: Final = 0
"""ist slots 0/1: price (ticks) of window index 0, bid/ask."""
IST_BEST: Final = 2
"""ist slots 2/3: best price (ticks), or NO_BID_TICKS / NO_ASK_TICKS when the side is empty."""
IST_COUNT: Final = 4
"""ist slots 4/5: number of non-empty levels inside the window."""
IST_OVF: Final = 6
"""ist slots 6/7: number of levels in the overflow."""
IST_TS_EXCH: Final = 8
IST_TS_RECV: Final = 9
IST_SIZE: Final = 16

STATUS_OK: Final = 0
STATUS_GROW: Final = 1
"""The overflow is full: enlarge it (or the window) and resume at the returned index."""


@njit_nrt_free
def empty_price_nb(s: int) -> int:
    """Sentinel best price of an empty side ``s`` (0 bid, 1 ask)."""
    return NO_BID_TICKS if s == 0 else NO_ASK_TICKS


@njit_nrt_free
def better_nb(s: int, price: int, than: int) -> bool:
    """True when ``price`` is strictly better than ``than`` on side ``s``."""
    return price > than if s == 0 else price < than


@njit_nrt_free
def ovf_find_nb(ist: NDArray[np.int64], ovf_px: NDArray[np.int64], s: int, price: int) -> int:
    """Overflow slot holding ``price`` on side ``s``, or -1."""
    for k in range(ist[IST_OVF + s]):
        if ovf_px[s, k] == price:
            return k
    return -1


@njit_nrt_free
def ovf_remove_at_nb(
    ist: NDArray[np.int64], ovf_px: NDArray[np.int64], ovf_qty: NDArray[np.float64], s: int, k: int
) -> None:
    """Delete overflow slot ``k`` of side ``s`` (swap with the last slot)."""
    last = ist[IST_OVF + s] - 1
    ovf_px[s, k] = ovf_px[s, last]
    ovf_qty[s, k] = ovf_qty[s, last]
    ist[IST_OVF + s] = last


@njit_nrt_free
def ovf_set_nb(
    ist: NDArray[np.int64],
    ovf_px: NDArray[np.int64],
    ovf_qty: NDArray[np.float64],
    s: int,
    price: int,
    qty: float,
) -> int:
    """Set (``qty > 0``) or delete (``qty == 0``) an overflow level; return a status."""
    k = ovf_find_nb(ist, ovf_px, s, price)
    if qty == 0.0:
        if k >= 0:
            ovf_remove_at_nb(ist, ovf_px, ovf_qty, s, k)
        return STATUS_OK
    if k < 0:
        k = ist[IST_OVF + s]
        if k == ovf_px.shape[1]:
            return STATUS_GROW
        ovf_px[s, k] = price
        ist[IST_OVF + s] = k + 1
    ovf_qty[s, k] = qty
    return STATUS_OK


@njit_nrt_free
def push_ovf_nb(
    ist: NDArray[np.int64],
    ovf_px: NDArray[np.int64],
    ovf_qty: NDArray[np.float64],
    s: int,
    price: int,
    qty: float,
) -> None:
    """Append a level to the overflow of side ``s`` (the caller guarantees room)."""
    k = ist[IST_OVF + s]
    ovf_px[s, k] = price
    ovf_qty[s, k] = qty
    ist[IST_OVF + s] = k + 1


@njit_nrt_free
def shift_window_nb(
    ist: NDArray[np.int64],
    q: NDArray[np.float64],
    ovf_px: NDArray[np.int64],
    ovf_qty: NDArray[np.float64],
    s: int,
    new_base: int,
) -> None:
    """Re-base the window of side ``s`` in place; levels falling out go to the overflow.

    Moving up, levels move to lower indices, so a forward walk never overwrites an unread
    level (and the reverse moving down). The caller guarantees overflow room.
    """
    n = q.shape[1]
    d = new_base - ist[IST_BASE + s]
    left = ist[IST_COUNT + s]
    count = 0
    for t in range(n):
        if left == 0:
            break
        j = t if d > 0 else n - 1 - t
        v = q[s, j]
        if v != 0.0:
            left -= 1
            q[s, j] = 0.0
            if 0 <= j - d < n:
                q[s, j - d] = v
                count += 1
            else:
                push_ovf_nb(ist, ovf_px, ovf_qty, s, ist[IST_BASE + s] + j, v)
    ist[IST_COUNT + s] = count
    ist[IST_BASE + s] = new_base


@njit_nrt_free
def absorb_nb(
    ist: NDArray[np.int64],
    q: NDArray[np.float64],
    ovf_px: NDArray[np.int64],
    ovf_qty: NDArray[np.float64],
    s: int,
) -> None:
    """Move overflow levels of side ``s`` that fall inside its window into the window."""
    base = ist[IST_BASE + s]
    n = q.shape[1]
    for k in range(ist[IST_OVF + s] - 1, -1, -1):
        i = ovf_px[s, k] - base
        if 0 <= i < n:
            q[s, i] = ovf_qty[s, k]
            ist[IST_COUNT + s] += 1
            ovf_remove_at_nb(ist, ovf_px, ovf_qty, s, k)


@njit_nrt_free
def anchor_nb(s: int, price: int, n: int) -> int:
    """Window base putting ``price`` 3/4 up a bid window or 1/4 up an ask window."""
    return price - (n - n // 4) if s == 0 else price - n // 4


@njit_nrt_free
def recenter_nb(
    ist: NDArray[np.int64],
    q: NDArray[np.float64],
    ovf_px: NDArray[np.int64],
    ovf_qty: NDArray[np.float64],
    s: int,
    price: int,
) -> int:
    """Move the window of side ``s`` around ``price``; STATUS_GROW (no change) if no room."""
    count = ist[IST_COUNT + s]
    if count + ist[IST_OVF + s] > ovf_px.shape[1]:
        return STATUS_GROW
    new_base = anchor_nb(s, price, q.shape[1])
    if new_base != ist[IST_BASE + s]:
        shift_window_nb(ist, q, ovf_px, ovf_qty, s, new_base)
    absorb_nb(ist, q, ovf_px, ovf_qty, s)
    return STATUS_OK


@njit_nrt_free
def refresh_best_nb(
    ist: NDArray[np.int64],
    q: NDArray[np.float64],
    ovf_px: NDArray[np.int64],
    ovf_qty: NDArray[np.float64],
    s: int,
    i: int,
) -> None:
    """After the best level (window index ``i``) of side ``s`` emptied, find the next best."""
    if ist[IST_COUNT + s] > 0:
        step = -1 if s == 0 else 1
        j = i + step
        while q[s, j] == 0.0:
            j += step
        ist[IST_BEST + s] = ist[IST_BASE + s] + j
        return
    if ist[IST_OVF + s] == 0:
        ist[IST_BEST + s] = empty_price_nb(s)
        return
    best = ovf_px[s, 0]
    for k in range(1, ist[IST_OVF + s]):
        if better_nb(s, ovf_px[s, k], best):
            best = ovf_px[s, k]
    recenter_nb(ist, q, ovf_px, ovf_qty, s, best)  # window empty: always has room
    ist[IST_BEST + s] = best


@njit_nrt_free
def set_level_nb(
    ist: NDArray[np.int64],
    q: NDArray[np.float64],
    ovf_px: NDArray[np.int64],
    ovf_qty: NDArray[np.float64],
    s: int,
    price: int,
    qty: float,
) -> int:
    """Set the absolute size of one level (0 removes it); return a status."""
    i = price - ist[IST_BASE + s]
    if 0 <= i < q.shape[1]:
        old = q[s, i]
        q[s, i] = qty
        if qty > 0.0:
            ist[IST_COUNT + s] += old == 0.0
            if better_nb(s, price, ist[IST_BEST + s]):
                ist[IST_BEST + s] = price
        elif old != 0.0:
            ist[IST_COUNT + s] -= 1
            if price == ist[IST_BEST + s]:
                refresh_best_nb(ist, q, ovf_px, ovf_qty, s, i)
        return STATUS_OK
    if qty > 0.0 and better_nb(s, price, ist[IST_BEST + s]):
        status = recenter_nb(ist, q, ovf_px, ovf_qty, s, price)
        if status == STATUS_OK:
            q[s, price - ist[IST_BASE + s]] = qty
            ist[IST_COUNT + s] += 1
            ist[IST_BEST + s] = price
        return status
    return ovf_set_nb(ist, ovf_px, ovf_qty, s, price, qty)


@njit_inline
def level_qty_nb(
    ist: NDArray[np.int64],
    q: NDArray[np.float64],
    ovf_px: NDArray[np.int64],
    ovf_qty: NDArray[np.float64],
    s: int,
    price: int,
) -> float:
    """Size (base units) of side ``s`` at ``price`` ticks; 0.0 when there is no level.

    Oracle: ``ReferenceBook`` level lookup (``tests/unit/book/test_store.py``).
    """
    i = price - ist[IST_BASE + s]
    if 0 <= i < q.shape[1]:
        return float(q[s, i])
    k = ovf_find_nb(ist, ovf_px, s, price)
    return float(ovf_qty[s, k]) if k >= 0 else 0.0


@njit_nrt_free
def clear_side_nb(
    ist: NDArray[np.int64], q: NDArray[np.float64], ovf_px: NDArray[np.int64], s: int
) -> None:
    """Remove every level of side ``s``; walks from the best, so it costs the occupied span."""
    count = ist[IST_COUNT + s]
    j = ist[IST_BEST + s] - ist[IST_BASE + s]
    step = -1 if s == 0 else 1
    while count > 0:
        if q[s, j] != 0.0:
            q[s, j] = 0.0
            count -= 1
        j += step
    ist[IST_COUNT + s] = 0
    ist[IST_OVF + s] = 0
    ist[IST_BEST + s] = empty_price_nb(s)


@njit_nrt_free
def regrid_nb(
    ist: NDArray[np.int64],
    q_old: NDArray[np.float64],
    q_new: NDArray[np.float64],
    ovf_px: NDArray[np.int64],
    ovf_qty: NDArray[np.float64],
) -> None:
    """Move both sides into a zeroed (larger) window ``q_new`` re-anchored on the bests.

    The caller guarantees overflow room for every level of each side.
    """
    for s in range(2):
        best = ist[IST_BEST + s]
        old_base = ist[IST_BASE + s]
        new_base = old_base if best == empty_price_nb(s) else anchor_nb(s, best, q_new.shape[1])
        count = 0
        for j in range(q_old.shape[1]):
            v = q_old[s, j]
            if v != 0.0:
                i = old_base + j - new_base
                if 0 <= i < q_new.shape[1]:
                    q_new[s, i] = v
                    count += 1
                else:
                    push_ovf_nb(ist, ovf_px, ovf_qty, s, old_base + j, v)
        ist[IST_COUNT + s] = count
        ist[IST_BASE + s] = new_base
        absorb_nb(ist, q_new, ovf_px, ovf_qty, s)
