"""Benchmarks: stembeat on each store against celery's own schedulers and RedBeat.

``python -m bench`` (``make bench``, ``make bench-quick``) runs every scenario in child
processes of one parent, interleaving the schedulers so that machine noise hits all alike,
prints a table and writes JSON to ``bench/results/``. See ``docs/benchmarks.md``.
"""
