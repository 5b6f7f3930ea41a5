"""Shared fixtures. ``SHARED_DATA`` is ../shared/data (or $L2TRADER_SHARED_DATA)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("L2TRADER_SHARED_DATA", _REPO.parent / "shared" / "data"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SHARED_DATA.is_dir():
        return
    skip = pytest.mark.skip(reason=f"real market data not found at {SHARED_DATA} (../shared/data)")
    for item in items:
        if "shared_data" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to the real market-data samples (tests using it carry the shared_data mark)."""
    return SHARED_DATA
