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
notebook's grading ~40 ms of the worker's CPU: a training run makes ~50 000 Values.)  An instance
of a class with slots has no attribute to keep its number in: it is kept beside it
(``_slots_hash``).
"""
import contextlib
import itertools
import operator

#: Slots instances held at most, per graph (a notebook's training run at load makes millions).
HELD = 200_000

#: Where an instance keeps its number (an attribute of its own).
KEY = '_micrograde_identity'


def _numbers(seed):
    """The numbers of a graph's instances, in the order they are first hashed: CPython's hash of
    ``(n, seed)`` (integers hash alike in every 64-bit CPython, unsalted), made in C."""
    return map(hash, zip(itertools.count(), itertools.repeat(seed)))


#: The numbering now: the numbers still to give, and the numbers of slots instances by address.
#: A list, not a dict: the worker's guard takes a module's dicts for tables that must not change
#: (``guard.snapshot``), and these change every graph.
_state = [_numbers(0), {}]


def _first_hash(self):
    """An instance's first hash: its number, kept as an attribute of its own for the next ones.
    Set with ``object.__setattr__``, never through ``__dict__``: reading an instance's
    ``__dict__`` makes CPython build a dict for it, which tripled this call's cost and slowed
    every later attribute read of that Value (a notebook's grading made ~44 000 of them)."""
    number = next(_state[0])
    try:
        _setattr(self, KEY, number.__index__)
    except AttributeError:  # a subclass's slots: no place to keep a number
        return _slots_hash(self)
    return number


def _slots_hash(self):
    """The hash of an instance with slots only: its number, kept beside it by its address, and
    the instance held until the next graph, so that no other one takes that address (and
    number) meanwhile."""
    kept = _state[1]
    address = _address(self)
    held = kept.get(address)
    if held is None:  # past HELD, memory comes first: a later instance may take the address
        held = kept[address] = (next(_state[0]), self if len(kept) < HELD else None)
    return held[0]


def _identity_hash(self):
    """The same in Python, for a class with a ``__getattribute__`` of its own (which the
    property would ask for ``KEY`` on every hash): its number, or the class's ``_first_hash``
    bound to it."""
    return _getattribute(self, KEY)()


_setattr, _getattribute, _address = object.__setattr__, object.__getattribute__, object.__hash__
_HASH = property(operator.attrgetter(KEY))


def install(cls):
    """Give ``cls`` (and the subclasses that inherit it) the numbered identity hash, when it
    hashes by identity: one that defines ``__hash__`` (or ``__eq__`` alone) is left as it is."""
    if getattr(cls, '__hash__', None) is object.__hash__:
        try:
            if not cls.__dictoffset__:  # slots only
                cls.__hash__ = _slots_hash
                return
            setattr(cls, KEY, _first_hash)
            cls.__hash__ = _HASH if cls.__getattribute__ is object.__getattribute__ else \
                _identity_hash
        except (TypeError, AttributeError):  # a built-in or frozen class
            pass


def _uninstall(cls, before):
    """Undo ``install``: ``before`` is the class's own ``__hash__`` then (``None``: none)."""
    if cls.__dict__.get('__hash__') in (_HASH, _identity_hash, _slots_hash):
        if KEY in cls.__dict__:
            delattr(cls, KEY)
        if before is None:
            del cls.__hash__
        else:
            cls.__hash__ = before


@contextlib.contextmanager
def numbered(cls):
    """``install`` for a while, in a process that lives on (the notebook self-check runs in the
    learner's kernel): their class hashes as before afterwards."""
    before = cls.__dict__.get('__hash__')
    install(cls)
    try:
        yield
    finally:
        _state[1] = {}
        _uninstall(cls, before)


@contextlib.contextmanager
def numbering():
    """While a submission loads: ``number(cls)`` installs the hash on each class a notebook's
    statement defines or imports, so what the load prints (a training run's loss, summed in a
    set's order) reads the same on every surface.  Afterwards every one hashes as it did (the
    loader reads the classes as the learner wrote them) until the serve loop numbers the Value.
    Installed once the statement ends, not as the class is made: ``@dataclass`` reads
    ``__hash__`` to decide whether to set it to ``None``."""
    made = []

    def number(cls):
        if isinstance(cls, type) and all(cls is not c for c, _ in made):
            made.append((cls, cls.__dict__.get('__hash__')))
            install(cls)
    try:
        yield number
    finally:
        for cls, before in reversed(made):
            _uninstall(cls, before)
        _state[1] = {}


def reset(seed, order=0):
    """Restart the numbering for the next graph: the same graph, seed and order give the same
    hashes, whatever ran before in this worker."""
    _state[:] = _numbers(seed * 1_000_003 + order), {}
