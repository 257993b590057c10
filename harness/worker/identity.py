"""Deterministic identity hashes for the learner's classes while grading.

A class that does not define ``__hash__`` hashes by ``id()``: a memory address, which differs
between a fresh worker and one forked from the warm template, so an engine that keeps children
in a ``set`` walked them in an order the grader did not choose (one grade on ``grade``, another
on ``batch``).  Here such a class gets a ``__hash__`` that numbers each instance the first time
it is hashed, from a counter restarted for every graph; each number is mixed with an ``order``
seed, so a set's order follows a seeded numbering, and re-running a graph under another order
seed explores another order on purpose (``checks/fuzz.py``).

A Value is hashed again and again (every op's set of children, every walk's visited set), so
after its first hash no Python code runs: the class's ``__hash__`` is a property reading the
instance's ``KEY`` (``operator.attrgetter``), which holds the number's bound ``__index__``, all
C.  An instance without one finds the class's ``KEY`` instead, ``_first_hash``, which numbers it
from a C iterator.  (A Python ``__hash__`` on every call, mixing each number in Python, cost a
notebook's grading ~40 ms of the worker's CPU: a training run makes ~50 000 Values.)
"""
import contextlib
import itertools
import operator

#: Where an instance keeps its number (in its ``__dict__``; a class with slots keeps ``id``).
KEY = '_micrograde_identity'


def _numbers(seed):
    """The numbers of a graph's instances, in the order they are first hashed: CPython's hash of
    ``(n, seed)`` (integers hash alike in every 64-bit CPython, unsalted), made in C."""
    return map(hash, zip(itertools.count(), itertools.repeat(seed)))


#: The numbering now: the numbers still to give.  A list, not a dict: the worker's guard takes
#: a module's dicts for tables that must not change (``guard.snapshot``), and this one changes
#: every graph.
_state = [_numbers(0)]


def _first_hash(self):
    """An instance's first hash: its number, kept in its ``__dict__`` for the next ones."""
    try:
        held = object.__getattribute__(self, '__dict__')
    except AttributeError:  # slots: no place to keep a number
        return object.__hash__(self)
    number = next(_state[0])
    held[KEY] = number.__index__
    return number


def _identity_hash(self):
    """The same in Python, for a class with a ``__getattribute__`` of its own (which the
    property would ask for ``KEY`` on every hash)."""
    try:
        kept = object.__getattribute__(self, '__dict__').get(KEY)
    except AttributeError:  # slots
        return object.__hash__(self)
    return kept() if kept is not None else _first_hash(self)


_HASH = property(operator.attrgetter(KEY))


def install(cls):
    """Give ``cls`` (and the subclasses that inherit it) the numbered identity hash, when it
    hashes by identity: one that defines ``__hash__`` (or ``__eq__`` alone) is left as it is."""
    if getattr(cls, '__hash__', None) is object.__hash__:
        try:
            setattr(cls, KEY, _first_hash)
            cls.__hash__ = _HASH if cls.__getattribute__ is object.__getattribute__ else \
                _identity_hash
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
        if cls.__dict__.get('__hash__') in (_HASH, _identity_hash):
            delattr(cls, KEY)
            if before is None:
                del cls.__hash__
            else:
                cls.__hash__ = before


def reset(seed, order=0):
    """Restart the numbering for the next graph: the same graph, seed and order give the same
    hashes, whatever ran before in this worker."""
    _state[0] = _numbers(seed * 1_000_003 + order)
