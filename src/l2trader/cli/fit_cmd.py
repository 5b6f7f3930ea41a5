"""``l2trader fit`` (walk-forward fit + report + artifact) and ``l2trader evaluate`` (new data)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from l2trader.cli.progress import console
from l2trader.errors import ConfigError
from l2trader.features.frame import FeatureFrame
from l2trader.features.labels import LABEL_PREFIX
from l2trader.signals.artifact import ModelArtifact, check_features, load_model, save_model
from l2trader.signals.base import SignalModel
from l2trader.signals.evaluate import EvaluationReport, evaluate_signal
from l2trader.signals.fit import WalkForwardResult, label_horizon_ns, walk_forward_fit
from l2trader.signals.gbm import GBMConfig, GBMModel
from l2trader.signals.linear import RidgeConfig, RidgeModel
from l2trader.signals.threshold import ThresholdConfig, ThresholdModel
from l2trader.signals.walkforward import WalkForwardConfig

__all__ = ["evaluate", "fit", "fit_frame", "model_factory", "report_table"]

RULE_FEATURES = ("imbalance_l1", "ofi_l1_1s")


def model_factory(kind: str, features: tuple[str, ...], alpha: float) -> Callable[[], SignalModel]:
    """A zero-argument constructor of a fresh model of ``kind`` on ``features``."""
    if kind == "ridge":
        return lambda: RidgeModel(RidgeConfig(features=features, alpha=alpha))
    if kind == "threshold":
        return lambda: ThresholdModel(ThresholdConfig(features=features))
    if kind == "lightgbm":
        return lambda: GBMModel(GBMConfig(features=features))
    raise ConfigError(f"unknown model {kind!r}: ridge, threshold or lightgbm")


def _features_for(kind: str, frame: FeatureFrame, wanted: str) -> tuple[str, ...]:
    if wanted:
        return tuple(f.strip() for f in wanted.split(",") if f.strip())
    if kind == "threshold":
        return tuple(f for f in RULE_FEATURES if f in frame.columns) or ("imbalance_l1",)
    return tuple(frame.stationary_features())


def fit_frame(
    frame: FeatureFrame, kind: str, label: str, *, features: str = "", alpha: float = 1.0,
    folds: int = 5,
) -> WalkForwardResult:  # fmt: skip
    """Walk-forward fit of one model kind on a feature frame (the CLI and the demo use it)."""
    make = model_factory(kind, _features_for(kind, frame, features), alpha)
    horizon = label_horizon_ns(label)
    return walk_forward_fit(
        frame, make, label, WalkForwardConfig(n_folds=folds, embargo_ns=horizon)
    )


def report_table(report: EvaluationReport, title: str) -> Table:
    """IC, hit rate and IC stability per horizon."""
    table = Table(title=title)
    for name in ("horizon", "IC", "hit rate", "pairs", "IC mean/bucket", "t-stat"):
        table.add_column(name, justify="right")
    for k, h in enumerate(report.decay.horizons_ns.tolist()):
        s = report.stability[k]
        table.add_row(
            label_name(int(h)), f"{report.decay.ic[k]:.4f}", f"{report.decay.hit_rate[k]:.3f}",
            f"{int(report.decay.n[k]):,}", f"{s.mean:.4f}", f"{s.t_stat:.1f}",
        )  # fmt: skip
    return table


def label_name(ns: int) -> str:
    """Short horizon name (``1s``)."""
    from l2trader.features.clocks import format_ns

    return format_ns(ns)


def fit(
    features: Annotated[Path, typer.Option(help="feature Parquet file (with labels)")],
    out: Annotated[Path, typer.Option(help="model artifact (JSON)")] = Path("model.json"),
    model: Annotated[str, typer.Option(help="ridge | threshold | lightgbm")] = "ridge",
    label: Annotated[str, typer.Option(help="label column")] = f"{LABEL_PREFIX}1s",
    use: Annotated[str, typer.Option(help="comma-separated features ('' = default set)")] = "",
    alpha: Annotated[float, typer.Option(help="ridge penalty")] = 1.0,
    folds: Annotated[int, typer.Option(min=1, help="walk-forward test blocks")] = 5,
    report_dir: Annotated[
        Path | None, typer.Option(help="directory for report JSON + plots")
    ] = None,
) -> None:
    """Fit a signal model walk-forward (purged, embargoed); save it with its OOS report."""
    frame = FeatureFrame.read_parquet(features)
    result = fit_frame(frame, model, label, features=use, alpha=alpha, folds=folds)
    print_fit(result)
    metrics = result.report.to_dict()
    art = ModelArtifact(
        result.model, label_horizon_ns(label), label, frame.config_id, frame.clock,
        frame.instrument, {"walk_forward": metrics},
    )  # fmt: skip
    digest = save_model(out, art)
    console.print(f"model: [bold]{out}[/] (sha256 {digest[:12]})")
    if report_dir is not None:
        write_report(result.report, result.signal.score, frame, report_dir, "walk-forward (OOS)")


def print_fit(result: WalkForwardResult) -> None:
    """Per-fold table and the out-of-sample evaluation."""
    table = Table(title=f"walk-forward folds ({result.model.name}, {result.label})")
    for name in ("fold", "train rows", "test rows", "test start", "OOS IC"):
        table.add_column(name, justify="right")
    for f in result.folds:
        start = str(np.datetime64(f.test_start_ns, "ns"))[:23]
        table.add_row(str(f.fold), f"{f.n_train:,}", f"{f.n_test:,}", start, f"{f.ic:.4f}")
    console.print(table)
    console.print(report_table(result.report, "out-of-sample signal quality"))
    hl = result.report.half_life_ns
    console.print(
        f"turnover {result.report.turnover:.3f} per row · IC half-life "
        f"{'n/a' if not np.isfinite(hl) else f'{hl / 1e9:.2f} s'}"
    )


def write_report(
    report: EvaluationReport, score: np.ndarray, frame: FeatureFrame, out: Path, title: str
) -> None:
    """JSON report and plots into ``out``."""
    from l2trader.cli.signal_plots import plot_signal_report

    out.mkdir(parents=True, exist_ok=True)
    (out / "signal_report.json").write_text(json.dumps(report.to_dict(), indent=1))
    for png in plot_signal_report(report, score, frame, out, title):
        console.print(f"plot: [bold]{png}[/]")
    console.print(f"report: [bold]{out / 'signal_report.json'}[/]")


def evaluate(
    model: Annotated[Path, typer.Option(help="model artifact from `l2trader fit`")],
    features: Annotated[Path, typer.Option(help="feature Parquet file (new data, with labels)")],
    out: Annotated[Path | None, typer.Option(help="directory for report JSON + plots")] = None,
    bucket: Annotated[str, typer.Option(help="IC stability bucket")] = "60s",
) -> None:
    """Score new data with a saved model and report IC, hit rate, decay and turnover."""
    from l2trader.features.clocks import parse_duration

    art = load_model(model)
    frame = FeatureFrame.read_parquet(features)
    check_features(art, list(frame.columns), frame.config_id, frame.clock)
    signal_model: SignalModel = art.model
    score = signal_model.predict(frame.matrix(list(signal_model.features_used)))
    labels = sorted((c for c in frame.labels if c.startswith(LABEL_PREFIX)), key=label_horizon_ns)
    matrix = np.column_stack([frame.columns[c] for c in labels]).astype(np.float64)
    report = evaluate_signal(
        frame.columns["ts_recv"], score, matrix, [label_horizon_ns(c) for c in labels],
        parse_duration(bucket),
    )  # fmt: skip
    console.print(report_table(report, f"{model.name} on {features.name}"))
    if out is not None:
        write_report(report, score, frame, out, f"{model.name} on {features.name}")
