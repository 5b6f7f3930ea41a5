from __future__ import annotations

import pytest

from l2trader.errors import ConfigError
from l2trader.synth import SynthConfig


def test_defaults_are_valid_and_start_at_midnight_utc() -> None:
    cfg = SynthConfig()

    assert cfg.start_ns == 1_704_153_600_000_000_000  # 2024-01-02T00:00:00Z
    assert cfg.duration_s == 86_400.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"start": "2024-13-01"},
        {"start": "2024-1-2"},
        {"duration_s": 0.0},
        {"levels": 300, "max_depth_ticks": 200},
        {"hawkes_branching": 1.0},
        {"initial_mid": 0.5},
        {"unknown_key": 1},
    ],
)
def test_invalid_values_raise_config_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        SynthConfig(**kwargs)


def test_toml_round_trip_keeps_the_id() -> None:
    cfg = SynthConfig(seed=3, duration_s=120.0)

    again = SynthConfig.from_toml(cfg.to_toml())

    assert again == cfg
    assert again.id == cfg.id
