"""Rich progress bars and tables shared by the CLI commands."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

__all__ = ["console", "event_progress"]

console = Console(stderr=False)


def event_progress() -> Progress:
    """A progress bar counting events with their rate (events/s)."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def rate_text(count: int, seconds: float, unit: str = "events") -> str:
    """Human rate, e.g. ``'12.3M events/s'``."""
    if seconds <= 0:
        return ""
    rate = count / seconds
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if rate >= scale:
            return f"{rate / scale:.1f}{suffix} {unit}/s"
    return f"{rate:.0f} {unit}/s"
