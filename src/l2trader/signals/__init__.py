"""Signal models, walk-forward splits that never leak, and signal-quality evaluation (C4)."""
