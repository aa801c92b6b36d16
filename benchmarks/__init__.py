"""Benchmarks: `make bench` (or `.venv/bin/python -m benchmarks`) prints a table and writes JSON.

Every number is reported next to a baseline measured in the same run, as a ratio, so results from
different machines can be compared; nothing here is asserted by the test suite.
"""
