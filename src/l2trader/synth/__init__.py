"""Seeded synthetic L2 market generator (the embedded default data)."""

from l2trader.synth.config import SynthConfig
from l2trader.synth.generator import generate
from l2trader.synth.stats import SynthStats, measure
from l2trader.synth.tardis_writer import write_tardis_csv

__all__ = ["SynthConfig", "SynthStats", "generate", "measure", "write_tardis_csv"]
