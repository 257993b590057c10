# ruff: noqa: F821  (a fragment: tests/attacks/_channel.py is prepended to it)
# Issue 20, class 2: at import, a header promising 1000 bytes, 5 of them, then sleep.
# Before: the grader blocked in protocol.read_exact for good (the load timeout never fired).
import time as _time

_raw(_struct.pack('>I', 1000) + b'{"non')
_time.sleep(3600)
