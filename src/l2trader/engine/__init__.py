"""Event-driven backtest engine: exchange simulator, risk manager, portfolio (issue 4)."""
