"""Benchmarks: embedding throughput, one day end to end, a 30-day backfill and synthetic scale.

``python -m bench`` (or ``make bench``) prints a table per section and writes BENCHMARKS.md.
Speed lives here, never in the tests.
"""
