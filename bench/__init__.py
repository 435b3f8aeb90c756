"""Reproducible benchmarks with targets (not run in CI by default)."""
