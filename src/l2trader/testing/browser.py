"""Headless Chromium for browser tests: open a page, collect its errors, take a screenshot.

Drives Debian's ``chromium`` (``/usr/bin/chromium``) through Playwright for Python, a
test-only dependency: nothing here imports Playwright until a browser is launched, so the
module imports (and its doctests run) without it. Playwright's own browser download is never
used (this machine has no internet for it); :func:`chromium_path` finds the system binary
(``L2TRADER_CHROMIUM`` overrides it). Every launch gets a fresh, empty profile (Playwright
creates a temporary ``--user-data-dir`` and deletes it on close) and the flags of
:data:`CHROMIUM_FLAGS`, which keep Chromium off the (closed) network.

Usage in a test::

    reason = browser_unavailable_reason()
    if reason:
        pytest.skip(reason)
    with headless_chromium() as chrome:
        page, console, errors = chrome.open_page(tmp_path / "report.html")
        assert console == [] and errors == [] and broken_images(page) == []
        screenshot(page, tmp_path / "shot.png", height=2400)

From a shell (e.g. to refresh a screenshot in ``docs/``)::

    python -m l2trader.testing.browser run_dir/report.html docs/img/x.png --height 2400
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Response

__all__ = [
    "CHROMIUM_FLAGS",
    "HeadlessChromium",
    "broken_images",
    "browser_unavailable_reason",
    "chromium_path",
    "headless_chromium",
    "page_url",
    "screenshot",
]

CHROMIUM_FLAGS: Final = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
"""Launch flags that work on a root CI machine with no internet (no sandbox, no GPU, no
background connections that the closed network would refuse)."""

_CANDIDATES: Final = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_NO_PLAYWRIGHT: Final = (
    "playwright is not installed (pip install playwright; no `playwright install`)"
)
_NO_CHROMIUM: Final = "no Chromium binary (apt-get install chromium, or set L2TRADER_CHROMIUM)"
WaitUntil = Literal["commit", "domcontentloaded", "load", "networkidle"]

_BROKEN_IMAGES_JS: Final = """
() => Array.from(document.images)
    .filter(img => !img.complete || img.naturalWidth === 0 || img.naturalHeight === 0)
    .map(img => img.alt || img.src.slice(0, 80))
"""


def chromium_path() -> Path | None:
    """The Chromium binary to drive: ``$L2TRADER_CHROMIUM``, else the first on ``PATH``.

    Returns
    -------
    Path or None
        An executable file, or None when no Chromium is installed.
    """
    override = os.environ.get("L2TRADER_CHROMIUM")
    if override:
        path = Path(override)
        return path if path.is_file() and os.access(path, os.X_OK) else None
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def browser_unavailable_reason() -> str | None:
    """Why browser tests cannot run here (a skip reason), or None when they can."""
    if importlib.util.find_spec("playwright") is None:
        return _NO_PLAYWRIGHT
    if chromium_path() is None:
        return _NO_CHROMIUM
    return None


def page_url(target: str | Path) -> str:
    """A URL for ``target``: URLs pass through, file paths become absolute ``file://`` URLs.

    Examples
    --------
    >>> page_url("http://127.0.0.1:8050/")
    'http://127.0.0.1:8050/'
    >>> page_url(Path("/tmp/run/report.html"))
    'file:///tmp/run/report.html'
    """
    text = str(target)
    if isinstance(target, str) and "://" in text:
        return text
    return Path(text).resolve().as_uri()


class HeadlessChromium:
    """A launched browser: open pages in fresh contexts and log what goes wrong on them."""

    def __init__(self, browser: Browser, *, timeout_ms: float = 30_000.0) -> None:
        self.browser = browser
        self.timeout_ms = timeout_ms

    def open_page(
        self,
        target: str | Path,
        *,
        width: int = 1280,
        height: int = 800,
        wait_until: WaitUntil = "load",
    ) -> tuple[Page, list[str], list[str]]:
        """Load ``target`` (URL or file path) in a new ``width`` x ``height`` px viewport.

        Returns
        -------
        page : Page
            The loaded page (closed with the browser).
        console : list of str
            Console errors and failed requests (network failures and HTTP >= 400), in
            order; the lists keep filling while the page lives.
        page_errors : list of str
            Uncaught JavaScript exceptions, as ``"Name: message"``.
        """
        context = self.browser.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(self.timeout_ms)
        page = context.new_page()
        console: list[str] = []
        page_errors: list[str] = []

        def on_console(msg: ConsoleMessage) -> None:
            if msg.type == "error":
                where = msg.location.get("url", "")
                console.append(f"console.error: {msg.text}" + (f" ({where})" if where else ""))

        def on_failed(request: Request) -> None:
            console.append(f"request failed: {request.url} ({request.failure})")

        def on_response(response: Response) -> None:
            if response.status >= 400:
                console.append(f"HTTP {response.status}: {response.url}")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: page_errors.append(f"{exc.name}: {exc.message}"))
        page.on("requestfailed", on_failed)
        page.on("response", on_response)
        page.goto(page_url(target), wait_until=wait_until)
        return page, console, page_errors


@contextmanager
def headless_chromium(
    executable: Path | None = None,
    *,
    extra_flags: Sequence[str] = (),
    timeout_ms: float = 30_000.0,
) -> Iterator[HeadlessChromium]:
    """Launch headless Chromium (:data:`CHROMIUM_FLAGS`, fresh profile); close it on exit.

    Raises
    ------
    RuntimeError
        When Playwright or Chromium is missing (see :func:`browser_unavailable_reason`).
    """
    if importlib.util.find_spec("playwright") is None:
        raise RuntimeError(_NO_PLAYWRIGHT)
    binary = executable or chromium_path()
    if binary is None:
        raise RuntimeError(_NO_CHROMIUM)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=str(binary),
            headless=True,
            args=[*CHROMIUM_FLAGS, *extra_flags],
            timeout=timeout_ms,
        )
        try:
            yield HeadlessChromium(browser, timeout_ms=timeout_ms)
        finally:
            browser.close()


def broken_images(page: Page) -> list[str]:
    """Alt texts (else URL heads) of the page's ``<img>`` that did not decode (empty: all ok)."""
    result: Any = page.evaluate(_BROKEN_IMAGES_JS)
    return [str(x) for x in result]


def screenshot(page: Page, path: Path, *, height: int | None = None) -> Path:
    """Write a PNG of the viewport's width and the page's top ``height`` px (None: all)."""
    size = page.viewport_size or {"width": 1280, "height": 800}
    total = int(page.evaluate("() => document.documentElement.scrollHeight"))
    shot_height = total if height is None else min(height, total)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(
        path=str(path),
        full_page=True,
        clip={"x": 0, "y": 0, "width": size["width"], "height": shot_height},
    )
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Screenshot a page from the shell; exit 1 when it logs errors or has broken images."""
    parser = argparse.ArgumentParser(prog="python -m l2trader.testing.browser")
    parser.add_argument("target", help="URL or HTML file")
    parser.add_argument("out", type=Path, help="PNG to write")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=None, help="clip to the top N px")
    args = parser.parse_args(argv)
    with headless_chromium() as chrome:
        page, console, errors = chrome.open_page(args.target, width=args.width)
        broken = broken_images(page)
        screenshot(page, args.out, height=args.height)
    for line in [*console, *errors, *(f"broken image: {b}" for b in broken)]:
        print(line, file=sys.stderr)
    print(f"{args.out} ({args.out.stat().st_size} bytes)")
    return 1 if console or errors or broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
