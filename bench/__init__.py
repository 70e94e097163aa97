"""Benchmarks of the exchange: the pure mechanisms, the raw-SQL ceiling, bids over HTTP.

Run them from the repository root, e.g. ``.venv/bin/python -m bench.mechanism_bench``;
see bench/README.md.
"""
