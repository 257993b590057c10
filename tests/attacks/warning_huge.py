# ruff: noqa: F821  (a fragment: tests/attacks/_channel.py is prepended to it)
# Issue 20, class 6: a 1 MB load warning.  Before: kept whole, in every report.
_loaded().warnings.append('W' * 2**20)
