"""Helpers shared by the tests (and, for ``workspace``, the benchmarks); not tests themselves.

Test files import them as ``support.<module>``: pytest's default ``prepend`` import mode puts
``tests/`` on ``sys.path`` when it loads ``tests/conftest.py``; the benchmarks add it themselves.
"""
