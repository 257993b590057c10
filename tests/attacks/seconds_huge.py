# ruff: noqa: F821  (a fragment: tests/attacks/_channel.py is prepended to it)
# The load answer's `seconds` is `time.perf_counter() - started`, the clock looked up once the
# submission has loaded: a clock of its own makes it an integer no float holds (10**400).
# Before: the grader's parser raised OverflowError, a traceback and "micrograde itself failed".
import time as _time


class _Huge:
    def __sub__(self, other):
        return 10 ** 400


_time.perf_counter = _Huge
