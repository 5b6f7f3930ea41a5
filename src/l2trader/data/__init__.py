"""Readers of vendor/exchange L2 formats, validation, repair and the Parquet catalog (C1)."""
