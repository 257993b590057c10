"""Deterministic identity hashes for the learner's classes while grading.

A class that does not define ``__hash__`` hashes by ``id()``: a memory address, which differs
between a fresh worker and one forked from the warm template, so an engine that keeps children
in a ``set`` walked them in an order the grader did not choose (one grade on ``grade``, another
on ``batch``).  Here such a class gets a ``__hash__`` that numbers each instance the first time
it is hashed, from a counter restarted for every graph; each number is mixed with an ``order``
seed, so a set's order follows a seeded numbering, and re-running a graph under another order
seed explores another order on purpose (``checks/fuzz.py``).
"""
import contextlib
import itertools

#: Where an instance keeps its number (in its ``__dict__``; a class with slots keeps ``id``).
KEY = '_micrograde_identity'
MASK = (1 << 61) - 1  # CPython's hash modulus: a number below it hashes to itself
#: The numbering now: [counter, seed].  A list, not a dict: the worker's guard takes a module's
#: dicts for tables that must not change (``guard.snapshot``), and this one changes every graph.
_state = [itertools.count(), 0]


def _mix(n, seed):
    """A 61-bit number from ``(seed, n)``: splitmix64's finaliser, the same on every machine."""
    z = (n + 1) * 0x9E3779B97F4A7C15 + seed * 0xBF58476D1CE4E5B9 & (1 << 64) - 1
    z = (z ^ z >> 30) * 0xBF58476D1CE4E5B9 & (1 << 64) - 1
    z = (z ^ z >> 27) * 0x94D049BB133111EB & (1 << 64) - 1
    return (z ^ z >> 31) & MASK


def _identity_hash(self):
    try:
        held = object.__getattribute__(self, '__dict__')
    except AttributeError:  # slots: no place to keep a number
        return object.__hash__(self)
    number = held.get(KEY)
    if number is None:
        number = held[KEY] = _mix(next(_state[0]), _state[1])
    return number


def install(cls):
    """Give ``cls`` (and the subclasses that inherit it) the numbered identity hash, when it
    hashes by identity: one that defines ``__hash__`` (or ``__eq__`` alone) is left as it is."""
    if getattr(cls, '__hash__', None) is object.__hash__:
        try:
            cls.__hash__ = _identity_hash
        except (TypeError, AttributeError):  # a built-in or frozen class
            pass


@contextlib.contextmanager
def numbered(cls):
    """``install`` for a while, in a process that lives on (the notebook self-check runs in the
    learner's kernel): their class hashes as before afterwards."""
    before = cls.__dict__.get('__hash__')
    install(cls)
    try:
        yield
    finally:
        if cls.__dict__.get('__hash__') is _identity_hash:
            if before is None:
                del cls.__hash__
            else:
                cls.__hash__ = before


def reset(seed, order=0):
    """Restart the numbering for the next graph: the same graph, seed and order give the same
    hashes, whatever ran before in this worker."""
    _state[:] = [itertools.count(), seed * 1_000_003 + order]
