"""Benchmark scripts (BENCHMARKS.md); a package so they can share code."""
