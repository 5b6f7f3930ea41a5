"""The ``l2trader`` command line (typer + rich)."""
