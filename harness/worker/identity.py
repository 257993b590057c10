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

``id()`` is an address too: an engine that walks children ``sorted(v._prev, key=id)``, labels
a node ``id(self)`` or defines ``__hash__`` as ``id(self)`` got one grade on ``grade`` and another
on ``batch``, and ``object.__repr__`` prints the address (``<engine.Value object at 0x7f...>``, in
an error's message or as a sort key).  So the submission's own namespaces get an ``id`` of their
own (``numbered_id``, put where the learner's code looks ``id`` up first: its module's globals,
the notebook's namespace; never ``builtins.id``, which the worker, the guard and Python's
libraries use), and a numbered class whose ``__repr__`` is ``object``'s gets one printing that
``id``.  Each number is unique among the objects alive (a bijection of a counter, per graph: its
``epoch``), and an address-like int: ``hex(id(v))`` reads as usual; an object alive from an
earlier graph keeps its id (``_survivors``).
"""
import contextlib
import itertools
import operator
import sys
import types

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
_OWN = globals()

#: Where an instance of a numbered class keeps its numbered ``id``: ``(its address, the id)``.
#: The address tells a copy (``copy.copy(v)`` copies the attribute) from the instance numbered.
ID_KEY = '_micrograde_id'
#: The ids of a graph (an epoch): ``BASE + epoch * SPAN + 16 * k`` for k < 2**32, each k once.
BASE, SPAN, MASK = 0x7f0000000000, 1 << 36, (1 << 32) - 1

#: The ``id`` numbering now: ``[epoch, the next index, the index's xor, its odd multiplier, the
#: ids of objects that keep no attribute, by address (the object held till the next graph)]``.
#: A list, as ``_state`` is.
_ids = [0, 0, 0, 1, {}]


def _next_id():
    """The next id of this epoch: the index through a seeded bijection of 32 bits (another
    order seed, another order of the ids, as of the hashes)."""
    epoch, k, xor, times, _ = _ids
    _ids[1] = k + 1
    return BASE + epoch * SPAN + ((((k ^ xor) * times) & MASK) << 4)


def numbered_id(obj, /):
    """``id(obj)`` as the submission's code finds it while graded: unique among the objects
    alive, and the same on every surface for the same graph and seed.  An instance of a numbered
    class keeps it as an attribute; any other object is kept beside it by address, and held till
    the next graph (up to ``HELD``), so that no other object takes that address meanwhile."""
    address = _address(obj)
    try:
        numbered = type.__getattribute__(type(obj), KEY) is _first_hash
    except AttributeError:
        numbered = False
    if numbered:
        try:
            held = _getattribute(obj, ID_KEY)
        except AttributeError:
            held = None
        if type(held) is tuple and len(held) == 2 and type(held[0]) is int and \
                held[0] == address:
            return held[1]
        number = _next_id()
        try:
            _setattr(obj, ID_KEY, (address, number))
            return number
        except (AttributeError, TypeError):
            pass
    kept = _ids[4]
    held = kept.get(address)
    if held is None:
        held = kept[address] = (_next_id(), obj if len(kept) < HELD else None)
    return held[0]


def _numbered_repr(self):
    """``object.__repr__`` with the numbered id for the address."""
    kind = type(self)
    try:
        module, name = kind.__module__, kind.__qualname__
    except Exception:  # a metaclass's properties: Python's own then
        return object.__repr__(self)
    prefix = f'{module}.' if type(module) is str and module != 'builtins' else ''
    return f'<{prefix}{name} object at {numbered_id(self):#x}>'


def _globals_of(cls):
    """The namespaces ``cls``'s own methods look names up in (its module's, the notebook's)."""
    found = {}
    for member in list(vars(cls).values()):
        kind = type(member)  # never isinstance: it reads a learner's ``__class__`` property
        if issubclass(kind, (staticmethod, classmethod)):
            member = member.__func__
        elif issubclass(kind, property):
            member = member.fget
        if type(member) is types.FunctionType and member.__globals__ is not _OWN:
            found[id(member.__globals__)] = member.__globals__  # not ours: _numbered_repr's
    return list(found.values())


def give_id(namespaces):
    """Put ``numbered_id`` where the submission's code looks ``id`` up first, in each of
    ``namespaces`` that does not bind ``id`` itself.  Returns those it was put in."""
    given = []
    for namespace in namespaces:
        if type(namespace) is dict and 'id' not in namespace:
            namespace['id'] = numbered_id
            given.append(namespace)
    return given


def give_ids(classes, namespaces):
    """``give_id`` to the submission's ``namespaces`` and to those of its ``classes``' methods
    (a package's Value, Neuron and MLP in modules of their own)."""
    found = {id(ns): ns for ns in namespaces}
    for cls in classes:
        found.update((id(ns), ns) for ns in _globals_of(cls))
    return give_id(list(found.values()))


def _take_id(given):
    """Undo ``give_id``: where ``id`` is still the numbered one."""
    for namespace in given:
        if namespace.get('id') is numbered_id:
            del namespace['id']


def install(cls, repr=True):
    """Give ``cls`` (and the subclasses that inherit it) the numbered identity hash, when it
    hashes by identity: one that defines ``__hash__`` (or ``__eq__`` alone) is left as it is;
    and a ``__repr__`` printing the numbered id, when its own is ``object``'s.  Set past a
    metaclass's ``__setattr__`` (``type``'s own): one that freezes the class's attributes raised
    from here, and a correct engine's worker was lost at every request (0/51).  ``repr=False``
    while loading: the loader lists the methods each cell's class defines, and a ``__repr__`` of
    ours hid one the notebook lost ("defines Value again, without __repr__")."""
    try:
        if getattr(cls, '__hash__', None) is object.__hash__:
            if not cls.__dictoffset__:  # slots only
                _set(cls, '__hash__', _slots_hash)
            else:
                _set(cls, KEY, _first_hash)
                _set(cls, '__hash__', _HASH if cls.__getattribute__ is object.__getattribute__
                     else _identity_hash)
    except Exception:  # a built-in class, a metaclass's property raising
        pass
    try:
        if repr and getattr(cls, '__repr__', None) is object.__repr__:
            _set(cls, '__repr__', _numbered_repr)
    except Exception:
        pass


_set, _delete = type.__setattr__, type.__delattr__


def _uninstall(cls, before):
    """Undo ``install``: ``before`` is the class's own ``__hash__`` then (``None``: none)."""
    mine = vars(cls)
    if mine.get('__repr__') is _numbered_repr:
        _delete(cls, '__repr__')
    if mine.get('__hash__') in (_HASH, _identity_hash, _slots_hash):
        if KEY in mine:
            _delete(cls, KEY)
        if before is None:
            _delete(cls, '__hash__')
        else:
            _set(cls, '__hash__', before)


@contextlib.contextmanager
def numbered(cls):
    """``install`` for a while, in a process that lives on (the notebook self-check runs in the
    learner's kernel): their class hashes as before afterwards."""
    before = cls.__dict__.get('__hash__')
    install(cls)
    given = give_id(_globals_of(cls))
    try:
        yield
    finally:
        _state[1], _ids[4] = {}, {}
        _take_id(given)
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
            install(cls, repr=False)
            give_id(_globals_of(cls))  # kept: the grading that follows numbers id() too
    try:
        yield number
    finally:
        for cls, before in reversed(made):
            _uninstall(cls, before)
        _state[1], _ids[4] = _survivors(_state[1], 0, True), _survivors(_ids[4], 1, True)


#: Each table's size (``_state[1]``, ``_ids[4]``) after ``_survivors`` last read it.
_read = [0, 0]


def _survivors(kept, which, every=False, refs=sys.getrefcount, len=len):
    """The entries of a table of numbers by address (``_state[1]``, ``_ids[4]``) whose object
    someone else still holds: it keeps its number (its hash, its id) as a graph ends, as Python
    keeps an object's for its lifetime.  Cleared, a parameter made at load (of a class with
    slots) hashed and ``id()``-ed otherwise in each graph: a set of them built at load no longer
    found it, an optimizer's state keyed by ``id(p)`` lost it.  The others (held by the table
    alone: the table's and the call's references) are let go.

    Read once the table has doubled since it was last read (``every``: now): an op's result and
    its rule's closure hold each other, so the table keeps most of a grade's slots Values
    however often it is read, and reading it at every graph cost alt_engine's worker as much
    as all its graphs (a scan per reset of a table that only grows)."""
    if not every and len(kept) < 2 * _read[which] + 64:
        return kept
    kept = {address: held for address, held in kept.items()
            if held[1] is not None and refs(held[1]) > 2}
    _read[which] = len(kept)
    return kept


def reset(seed, order=0):
    """Restart the numbering for the next graph: the same graph, seed and order give the same
    hashes, whatever ran before in this worker, and ids of a new epoch (an object alive from an
    earlier graph keeps its id: no new one may equal it)."""
    mixed = seed * 1_000_003 + order
    _state[:] = _numbers(mixed), _survivors(_state[1], 0)
    _ids[:] = (_ids[0] + 1, 0, hash((mixed, 1)) & MASK, hash((mixed, 2)) & MASK | 1,
               _survivors(_ids[4], 1))
