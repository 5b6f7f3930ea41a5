"""Backtest analysis: pure metric functions over C4-C7 arrays, reports separate (issue 5)."""
