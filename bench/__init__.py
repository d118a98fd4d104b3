"""Benchmarks (not tests): the product's figures side by side with the direct path."""
