"""Benchmarks (not tests): quality.md figures side by side with the direct path."""
