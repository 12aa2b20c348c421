"""Benchmarks of the running service (`python -m bench.earn`)."""
