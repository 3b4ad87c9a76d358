"""Benchmarks of masakari_introspect, side by side with upstream masakari-monitors.

Run ``python -m benchmarks.run --help`` from the repository root (as root):
see :mod:`benchmarks.run` and doc/source/benchmarks.rst.
"""
