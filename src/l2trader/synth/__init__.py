"""Seeded synthetic L2 market generator (the embedded default data)."""
