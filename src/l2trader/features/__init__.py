"""Microstructure features from the book alone (contract C3), sampling clocks and labels."""
