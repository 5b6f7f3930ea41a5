"""Shared helpers of the research scripts: load the real samples, build feature frames, OLS.

Not part of the package. The scripts put ``research/`` on ``sys.path`` by being run as
``.venv/bin/python research/<script>.py``, so ``import _data`` works. Data are read from
``../shared/data`` (read-only; override with ``--data`` or ``L2T_SHARED_DATA``); nothing is
written beside them.
"""

from __future__ import annotations

import argparse
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, NamedTuple

import numpy as np
from numpy.typing import NDArray

from l2trader.book.replay import BookFrame, replay
from l2trader.data.binance import BinanceDepthReader
from l2trader.data.events import collect
from l2trader.data.instruments import lookup
from l2trader.data.lobster import LobsterReader
from l2trader.features.build import add_labels, build_features
from l2trader.features.clocks import ClockSpec
from l2trader.features.config import FeatureConfig
from l2trader.features.frame import FeatureFrame

if TYPE_CHECKING:
    from matplotlib.figure import Figure

REPO: Final = Path(__file__).resolve().parent.parent
IMG_DIR: Final = REPO / "docs" / "img" / "research"
MAX_PNG_BYTES: Final = 300_000
S: Final = 1_000_000_000
LEVELS: Final = 5
CONFIG: Final = FeatureConfig(
    levels=LEVELS,
    imbalance_levels=(1, 3, 5),
    ofi_levels=(1, 2, 3, 4, 5),
    depth_ticks=(5, 20),
    depth_bps=(5.0,),
    slope_levels=LEVELS,
    windows_ns=(S, 10 * S),
)
"""Five book levels; ``mlofi_l2..l5`` give the per-level OFI by differencing (XGH)."""

_AMZN_STEM: Final = "AMZN_2012-06-21_34200000_57600000"
_HBT: Final = "hftbacktest-binance-hyperliquid"
_BINANCE: Final[dict[str, tuple[str, str, tuple[str, ...]]]] = {
    "binance-spot": (
        "binance",
        "BTCUSDT",
        ("binance_spot_btcusdt_20240808.gz", "binance_spot_btcusdt_20240809.gz"),
    ),
    "binance-usdm": ("binance-futures", "BTCUSDT", ("binance_usdm_btcusdt_20240808.gz",)),
    "binance-coinm": (
        "binance-delivery",
        "BTCUSD_PERP",
        ("binance_coinm_btcusd_perp_20240808.gz",),
    ),
}
DATASETS: Final = ("amzn", *_BINANCE)


@dataclass(frozen=True)
class Dataset:
    """One real sample replayed to a 5-level book frame (C2).

    ``size_unit`` names the base unit of sizes (and so of OFI): shares, BTC or contracts.
    """

    name: str
    label: str
    files: tuple[str, ...]
    tick_size: float
    size_unit: str
    events: int
    frame: BookFrame

    @property
    def span_s(self) -> float:
        """Time from the first to the last book state, s."""
        ts = self.frame.ts_recv
        return float(ts[-1] - ts[0]) / S if len(ts) else 0.0


def data_root(arg: str | None) -> Path:
    """``--data``, else ``$L2T_SHARED_DATA``, else ``../shared/data`` next to the repo."""
    text = arg or os.environ.get("L2T_SHARED_DATA")
    root = Path(text) if text else REPO.parent / "shared" / "data"
    if not root.is_dir():
        raise SystemExit(f"shared data folder not found: {root} (pass --data)")
    return root


def load_amzn(root: Path) -> Dataset:
    """LOBSTER AMZN 2012-06-21, level-5 files (09:30-16:00 ET), replayed to 5 levels."""
    folder = root / "lobster-amzn-2012-06-21"
    files = (f"{_AMZN_STEM}_message_5.csv.gz", f"{_AMZN_STEM}_orderbook_5.csv.gz")
    instrument = lookup("nasdaq", "AMZN")
    reader = LobsterReader(
        folder / files[0], folder / files[1], levels=LEVELS, instrument=instrument
    )
    events = collect(reader.chunks())
    frame = replay(events, levels=LEVELS)
    label = "LOBSTER AMZN (NASDAQ) 2012-06-21"
    return Dataset("amzn", label, files, instrument.tick_size, "shares", len(events), frame)


def load_binance(root: Path, name: str) -> Dataset:
    """A Binance BTC capture of ``hftbacktest-binance-hyperliquid/`` (depth diffs + trades)."""
    venue, symbol, files = _BINANCE[name]
    instrument = lookup(venue, symbol)
    paths = [root / _HBT / f for f in files]
    events = collect(BinanceDepthReader(paths, instrument=instrument).chunks())
    frame = replay(events, levels=LEVELS)
    unit = "contracts" if instrument.kind == "inverse" else "BTC"
    label = f"Binance {name.split('-')[1].upper()} {symbol}"
    return Dataset(name, label, files, instrument.tick_size, unit, len(events), frame)


def load(root: Path, names: Sequence[str]) -> list[Dataset]:
    """Load the named datasets (see :data:`DATASETS`), in order."""
    return [load_amzn(root) if n == "amzn" else load_binance(root, n) for n in names]


def feature_frame(
    data: Dataset,
    clock: str,
    horizons_ns: Sequence[int] = (),
    config: FeatureConfig = CONFIG,
) -> FeatureFrame:
    """The C3 frame of ``data`` on ``clock`` (e.g. ``time:1s``), with labels if asked."""
    frame, builder = build_features(
        [data.frame], config, ClockSpec.parse(clock), data.tick_size, keep_mid=True
    )
    if horizons_ns:
        frame = add_labels(frame, *builder.book_mid(), horizons_ns)
    return frame


class Ols(NamedTuple):
    """OLS fit of ``y = alpha + X beta``: first slope and its t-stat, R², adjusted R², n."""

    alpha: float
    beta: float
    t_beta: float
    r2: float
    r2_adj: float
    n: int


def ols(x: NDArray[np.float64], y: NDArray[np.float64]) -> Ols:
    """OLS with intercept on the complete rows; ``x`` is ``(n,)`` or ``(n, k)``.

    ``t_beta`` uses the classical (homoskedastic) standard error of the first slope.
    All NaN when fewer than ``k + 3`` complete rows or ``y`` is constant.
    """
    xs = x.reshape(len(x), -1)
    ok = np.isfinite(y) & np.isfinite(xs).all(axis=1)
    xs, ys = xs[ok], y[ok]
    n, k = xs.shape
    sst = float(((ys - ys.mean()) ** 2).sum()) if n else 0.0
    if n < k + 3 or sst == 0.0:
        return Ols(*(np.nan,) * 5, n)
    design = np.column_stack([np.ones(n), xs])
    coef, *_ = np.linalg.lstsq(design, ys, rcond=None)
    resid = ys - design @ coef
    sse = float(resid @ resid)
    sigma2 = sse / (n - k - 1)
    cov = sigma2 * np.linalg.pinv(design.T @ design)
    t_beta = float(coef[1] / np.sqrt(cov[1, 1])) if cov[1, 1] > 0 else np.nan
    r2 = 1.0 - sse / sst
    r2_adj = 1.0 - (1.0 - r2) * (n - 1) / (n - k - 1)
    return Ols(float(coef[0]), float(coef[1]), t_beta, r2, r2_adj, n)


def parse_args(description: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Common options: ``--data``, ``--datasets``, ``--no-plots``, ``--img-dir``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", help="shared data folder (default ../shared/data)")
    parser.add_argument(
        "--datasets", nargs="+", choices=DATASETS, default=list(DATASETS), metavar="NAME",
        help=f"which samples (default all: {', '.join(DATASETS)})",
    )  # fmt: skip
    parser.add_argument("--no-plots", action="store_true", help="print numbers only")
    parser.add_argument("--img-dir", type=Path, default=IMG_DIR, help="where PNGs go")
    return parser.parse_args(argv)


def save_png(fig: Figure, folder: Path, name: str) -> Path:
    """Save ``fig`` as ``folder/name`` at a dpi that keeps the file under 300 kB."""
    folder.mkdir(parents=True, exist_ok=True)
    for dpi in (110, 90, 72, 60):
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        if buf.tell() < MAX_PNG_BYTES:
            break
    path = folder / name
    path.write_bytes(buf.getvalue())
    return path


def describe(data: Dataset) -> str:
    """One line: name, files, events, book states, span."""
    frame = data.frame
    return (
        f"{data.name}: {data.label}; files {', '.join(data.files)}; {data.events:,} events,"
        f" {len(frame):,} book states, span {data.span_s:,.1f} s, tick {data.tick_size:g},"
        f" sizes in {data.size_unit}"
    )
