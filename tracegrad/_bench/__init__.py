"""Benchmark implementations shared by ``benchmarks/*.py`` and ``tracegrad bench``.

Benchmarks never assert timings: they report medians and ratios measured side by side in one
process, with every operand passed as a jit argument and compilation excluded.
"""
