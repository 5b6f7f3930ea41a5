"""Rich progress bars and tables shared by the CLI commands."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

__all__ = ["console", "event_counter", "event_progress", "rate_text"]

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


def event_counter(progress: Progress, task: TaskID) -> Callable[[int], None]:
    """A ``progress(n)`` callback adding ``n`` events to ``task`` and showing the rate."""
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        elapsed = progress.tasks[task].elapsed or 0.0
        progress.update(task, completed=done, rate=rate_text(done, elapsed))

    return advance


def rate_text(count: int, seconds: float, unit: str = "events") -> str:
    """Human rate, e.g. ``'12.3M events/s'``."""
    if seconds <= 0:
        return ""
    rate = count / seconds
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if rate >= scale:
            return f"{rate / scale:.1f}{suffix} {unit}/s"
    return f"{rate:.0f} {unit}/s"
