"""Build expression graphs (plain dicts, see ``harness.graph``) on any Value-like class.

One executor serves the submission (in the worker), the reference engine and torch (in the
grader, through a different ``Backend``), so all three are driven by the very same code.

**Bound, not looked up.**  In the worker the submission's code runs inside ``run_graph`` and
can reach every namespace it looks names up in (its module's, by a frame walk from its own
frame, which raises no audit event; ``builtins``; any module's), and a swap it puts back as it
is called is seen by no check at the request's end.  So every function here that runs once a
graph has started names nothing global: what it calls and reads is a positional default,
bound as the module is imported (``len=len``), its values immutable (functions that do the
same, exact tuples, C callables; never a module, a dict or an object with attributes), and
setting a function's ``__defaults__`` or ``__code__`` is a route the worker's guard refuses.
The worker's backend is an exact tuple of such parts (``bound_backend``), the ops a tuple read
by position (``_OPS``), and a graph is read into tuples before the submission's first call
(``prepared``; the worker's serve loop prepares a request's every item as it arrives).
``tests/test_tamper.py::test_the_runners_look_nothing_up`` reads the bytecode for it.
"""
import linecache
import math
import operator
import os
import re
from types import MethodType
from typing import NamedTuple

from .rules import attribute, origins
from .ops import OP_METHODS, OPS

_REAL, _IMAG = vars(complex)['real'].__get__, vars(complex)['imag'].__get__
_NAME = vars(type)['__name__'].__get__

#: The characters of a name (a class's, a function's) an answer carries, as the grader keeps one
#: (``model.bounds.KEEP['name']``): a longer one it cuts, and a cut function or class name is no
#: identifier, which the grader takes for an answer our worker never sends (a correct engine
#: whose class had a 301-character name was "interfered with grading", 0/51), and an exception
#: class's name of 9 MB made an answer past ``protocol.MAX_ANSWER``.
NAME = 200


def named(cls, str=str, _NAME=_NAME, NAME=NAME):
    """A class's name as the exact str it is, read past a metaclass's ``__name__``; its first
    ``NAME`` characters."""
    return str.__str__(_NAME(cls))[:NAME]


def number(x, isinstance=isinstance, float=float, bool=bool, int=int, complex=complex,
           getattr=getattr, callable=callable, type=type, OverflowError=OverflowError,
           Exception=Exception, copysign=math.copysign, inf=math.inf, _REAL=_REAL, _IMAG=_IMAG,
           named=named):
    """A result as JSON-able data: a float (maybe nan/inf), or a dict saying what it was instead.
    Exact builtins only (a float subclass, numpy's float64, copied to its float in C; a class's
    name read past its metaclass): the worker freezes each answer with ``marshal``, which takes
    nothing else (``serve._frozen``).  A numpy scalar is read through its ``item()``, once."""
    for first in (True, False):
        if isinstance(x, float):
            return float.__float__(x)
        if isinstance(x, (bool, int)):
            try:
                return float(x)
            except OverflowError:  # past a float: its sign (copysign would convert it again)
                return copysign(inf, int.__gt__(x, 0) or -1)
        if isinstance(x, complex):
            return {'complex': [_REAL(x), _IMAG(x)]}
        item = getattr(x, 'item', None)
        if not first or not callable(item):
            break
        try:
            x = item()
        except Exception:
            break
    try:
        return float.__float__(float(x))
    except Exception:
        return {'type': named(type(x))}


#: A memory address as ``object.__repr__`` prints one (``<engine.Layer object at 0x7f...>``, a
#: function's, a generator's): it differs between a fresh worker (``grade``) and one forked from
#: the warm template (``batch``), so a message quoting one gave two reports of one submission.
#: The learner's own classes print numbered ids (``identity``); Python's own objects do not.
_ADDRESS = re.compile(r'(?<= at )0x[0-9a-fA-F]{4,}')
ADDRESS = '0x…'


def _unaddressed(text, sub=_ADDRESS.sub, ADDRESS=ADDRESS):
    """``text`` with each address ``object.__repr__`` printed in it as ``0x…``."""
    return sub(ADDRESS, text) if '0x' in text else text


def _text(exc, str=str, Exception=Exception, _unaddressed=_unaddressed):
    try:
        return _unaddressed(str.__str__(str(exc))[:500])
    except Exception:
        return '<unprintable>'


class NotAValue(Exception):
    """An op gave something other than the learner's Value (``-a`` returning a float)."""


def error(exc, stage, node=None, missing=False, frame=None, isinstance=isinstance,
          NotAValue=NotAValue, named=named, type=type, _text=_text, dict=dict, filter=filter):
    """An exception as data; ``frame`` (``learner_frame``'s): the submission's line it was
    raised from, its function and line number, to locate the bug.  Built in one expression
    of exact builtins (nothing of the submission's runs once it exists: ``run_graph``)."""
    kind = 'TypeError' if isinstance(exc, NotAValue) else named(type(exc))  # as Python says it
    message = _text(exc)
    named_function = frame is not None and frame.function.isidentifier()
    return dict(filter(None, (
        ('stage', stage), ('node', node), ('type', kind), ('message', message),
        ('missing', missing),
        ('where', frame.where) if frame else (),
        ('file', frame.file) if frame and frame.file else (),
        ('function', frame.function) if named_function else (),
        ('line', frame.line) if named_function else (),
        ('owner', frame.owner) if named_function and frame.owner.isidentifier() else ())))


class Frame(NamedTuple):
    """The submission's line an exception came from: ``where`` as ``'engine.py, line 40: ...'``,
    the function and its line, the file as the submission names it, and the class the function
    is a method of (``Layer`` for ``Layer.__init__``; ``''`` for a closure or a module's
    function), so that a network's method is not taken for the Value's of the same name."""
    where: str
    function: str
    line: int
    file: str = ''
    owner: str = ''


def frame_of(code, label, line, str=str, max=max, len=len, getline=linecache.getline,
             new=tuple.__new__, Frame=Frame, NAME=NAME):
    """The ``Frame`` of a line of ``code``, a function of the submission's file ``label``; its
    function's and class's names cut to ``NAME`` characters (an identifier's start is one).  A
    comprehension, generator expression or lambda is the function it is written in
    (``MLP.__init__.<locals>.<listcomp>``: ``MLP.__init__``), where there is one: an
    ``IndexError`` in ``[Layer(sz[i], sz[i + 1]) for i in ...]`` is the constructor's."""
    text = str.__str__(getline(code.co_filename, line)).strip()
    parts = str.__str__(code.co_qualname).split('.')
    while len(parts) > 2 and parts[-1][:1] == '<' and parts[-2] == '<locals>':
        del parts[-2:]
    return new(Frame, (f'{label}, line {line}' + (f': {text[:120]}' if text else ''),
                       parts[-1][:NAME], max(1, line), label,
                       parts[-2][:NAME] if len(parts) > 1 else ''))


_WORKER = os.path.dirname(os.path.abspath(__file__)) + os.sep  # the grader's frames, never the learner's


def learner_frame(exc, own, isinstance=isinstance, len=len,
                  NotImplementedError=NotImplementedError, _WORKER=_WORKER,
                  OP_METHODS=OP_METHODS, frame_of=frame_of):
    """The ``Frame`` of the innermost frame of the traceback that is the
    submission's code (``own(filename)`` names its file, or is ``None`` for anyone else's):
    ``where`` as ``'engine.py, line 40: return self * other**-1'``; ``None`` when the exception
    never passed through it.  A stub helper's ``NotImplementedError`` (raised in a function that
    is no op's method: ``return _todo()``) is its caller's: what is not written yet is the
    caller's own code, and each caller of one stub is its own unwritten part."""
    found, tb = [], exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        label = None if code.co_filename.startswith(_WORKER) else own(code.co_filename)
        if label:
            # no line (a code object without a line table: tb_lineno is None): its def's
            found.append((label, code, tb.tb_lineno or code.co_firstlineno))
        tb = tb.tb_next
    if not found:
        return None
    if isinstance(exc, NotImplementedError) and len(found) > 1 and \
            found[-1][1].co_name not in OP_METHODS:
        found.pop()
    label, code, line = found[-1]
    return frame_of(code, label, line)


def holds_number(value, x=None, isinstance=isinstance, str=str, bytes=bytes, bool=bool,
                 float=float, number=number):
    """Whether ``value`` is a number as a Value keeps one (a float, an int, a numpy scalar; not
    a bool, a string or a numpy scalar's ``.data`` buffer), ``x`` if given."""
    if isinstance(value, (str, bytes, bool)):
        return False
    n = number(value)
    return isinstance(n, float) and (x is None or n == x)


def own_attributes(v, object=object, isinstance=isinstance, dict=dict, Exception=Exception):
    """An instance's ``__dict__``, ``{}`` without one (slots, a tensor).  Read past the class's
    attribute hooks: this is the grader's introspection, and whatever a learner's lazy
    ``__getattr__`` raises for ``__dict__`` (``KeyError``) is not the learner's error."""
    try:
        found = object.__getattribute__(v, '__dict__')
    except Exception:
        return {}
    return found if isinstance(found, dict) else {}


#: The names a Backend reads a Value through, in ``bound_backend``'s order; ``topo``: the
#: learner's method that builds the order its ``backward`` takes (``backprop(make_topo())``).
ROLES = ('data', 'grad', 'backward', 'topo')


def _names(attributes, tuple=tuple, ROLES=ROLES):
    """``ROLES``' names: the learner's (``value``, ``backprop``) where not the lecture's."""
    names = {'data': 'data', 'grad': 'grad', 'backward': 'backward', 'topo': None,
             **(attributes or {})}
    return tuple(names[role] for role in ROLES)


def _number_at(name, v, number=number, getattr=getattr):
    """``v``'s attribute ``name`` as a number: a backend's data and grad readers."""
    return number(getattr(v, name))


def _created(checked, v, isinstance=isinstance, getattr=getattr, type=type, repr=repr, len=len,
             holds_number=holds_number, NotAValue=NotAValue, _unaddressed=_unaddressed):
    """Called on every node as it is built (``checked``: the Value class and the attribute that
    holds its number): an op must give a Value, or backward() cannot reach past it."""
    cls, data = checked
    # another class of the learner's that keeps a number (a base class its ops return) will do
    if not isinstance(v, cls) and not holds_number(getattr(v, data, None)):
        kind = type(v).__qualname__
        if type(v).__module__ != 'builtins':
            kind = f'{type(v).__module__}.{kind}'
        shown = _unaddressed(repr(v))
        shown = shown if len(shown) <= 40 else shown[:37] + '...'
        raise NotAValue(f'the op returned {kind} {shown}, not a {cls.__name__}')


def _backpropagate(names, v, getattr=getattr):
    """``v.backward()``, or the learner's method for it (``names``: its name and its ``topo``
    method's, or ``None``), given the order their own ``topo`` method builds."""
    backward, topo = names
    method = getattr(v, backward)
    if topo:
        return method(getattr(v, topo)())
    return method()


def backpropagate(v, names):
    """``_backpropagate`` for ``names`` as a dict of ``ROLES`` (a Backend's ``attributes``)."""
    return _backpropagate((names['backward'], names.get('topo')), v)


def bound_backend(cls, own=None, attributes=None, method=MethodType, _names=_names,
                  _created=_created, _number_at=_number_at, _backpropagate=_backpropagate,
                  basename=os.path.basename):
    """The worker's backend as ``run_graph`` reads it: an exact tuple ``(leaf, created, data,
    grad, backward, cls, own, names)`` of the learner's class and ``ROLES``' names, and readers
    bound to them (methods of this module's functions on a str or a tuple: nothing in it can
    be rebound).  ``own``: filename -> how the learner knows it (``engine.py``, ``cell 3``),
    ``None`` if not theirs; without it any code is the submission's (an installed module)."""
    data, grad, backward, topo = names = _names(attributes)
    return (cls, method(_created, (cls, data)), method(_number_at, data),
            method(_number_at, grad), method(_backpropagate, (backward, topo)), cls,
            own or basename, names)


class Backend:
    """How to make leaves of, and read numbers from, a micrograd-style ``Value`` class: the
    grader's (the reference engine, torch), whose subclasses replace its methods.  The worker
    runs the submission on ``bound_backend``'s tuple instead, which nothing can rebind."""

    def __init__(self, cls, own=None, attributes=None):
        self.cls = cls
        # filename -> how the learner knows it (``engine.py``, ``cell 3``), None if not theirs;
        # without it, any code the executor calls is the submission's (an installed module)
        self.own = own or (lambda filename: os.path.basename(filename))
        # where the number and the gradient are kept: the learner's names (``value``) if not these
        # and the method that backpropagates: the learner's (``backprop``) if not ``backward``
        self.attributes = {'data': 'data', 'grad': 'grad', 'backward': 'backward',
                           **(attributes or {})}

    def leaf(self, x):
        return self.cls(x)

    def created(self, v):
        """Called on every node as it is built: an op must give a Value, or backward() cannot
        reach past it (torch's backend keeps the node's grad here instead)."""
        _created((self.cls, self.attributes['data']), v)

    def data(self, v):
        return _number_at(self.attributes['data'], v)

    def grad(self, v):
        return _number_at(self.attributes['grad'], v)

    def backward(self, v):
        backpropagate(v, self.attributes)

    def bound(self):
        """This backend as ``run_graph`` reads it (``bound_backend``'s shape), its methods bound."""
        return (self.leaf, self.created, self.data, self.grad, self.backward, self.cls, self.own,
                _names(self.attributes))


#: The ops by position in ``OP_NAMES``, as the runner calls them once a graph has started:
#: ``(call, method, reflected method, has a Value∘Value form under another name)``, read from
#: ``OPS`` as this module is imported (an ``Op`` and ``OPS`` are the submission's to rewrite).
OP_NAMES = tuple(OPS)
_OPS = tuple((op.call, op.name if op.method else op.dunder,
              op.name if op.method else op.reflected_dunder, bool(op.value_form))
             for op in OPS.values())


def _step(node, index=OP_NAMES.index, tuple=tuple, bool=bool):
    """A graph's node as ``run_graph`` runs it, read before the submission's first call (the
    graph is a dict it can reach): ``(op's position, operand entries, constant, on the left)``."""
    return index(node['op']), tuple(node['args']), node.get('const'), bool(node.get('left'))


def prepared(graph, tuple=tuple, map=map, second=operator.itemgetter(1), _step=_step):
    """A graph as ``run_graph`` reads it, read at once (the graph is a dict the submission's code
    can reach): ``(input values, _step of each node, the output entry)``, exact tuples."""
    return tuple(map(second, graph['inputs'])), tuple(map(_step, graph['nodes'])), graph['output']


def _apply(step, vals, _OPS=_OPS):
    """Compute one node (a ``_step``) from the values of the entries before it."""
    k, args, const, left = step
    operands = [vals[i] for i in args]
    if const is not None:
        operands.insert(0 if left else 1, const)
    return _OPS[k][0](*operands)


def apply(node, vals):
    """Compute one node from the values of the entries before it."""
    return _apply(_step(node), vals)


def _method(step, _OPS=_OPS):
    """The method a node's op calls on the learner's class: ``exp``, ``__add__``, ``__radd__``."""
    return _OPS[step[0]][2 if step[3] else 1]


def lacks(steps, cls, any=any, callable=callable, getattr=getattr, _method=_method):
    """Whether ``cls`` has no method for one of the graph's ops (``steps``), told without
    running it."""
    return any(not callable(getattr(cls, _method(step), None)) for step in steps)


_RAISE = re.compile(r'\s*(?:(?:if|else|elif)\b[^#]*:\s*)?raise\b').match


def _raise_statement(exc, getline=linecache.getline, match=_RAISE):
    """Whether ``exc`` was raised by a ``raise`` statement (the line its traceback ends on), as a
    method refuses an operand, rather than by a computation that failed."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None or tb.tb_lineno is None:  # no line table: no statement to read
        return False
    return match(getline(tb.tb_frame.f_code.co_filename, tb.tb_lineno)) is not None


def missing(step, exc, frame, isinstance=isinstance, getattr=getattr, len=len, int=int,
            float=float, TypeError=TypeError, AttributeError=AttributeError,
            AssertionError=AssertionError, NotImplementedError=NotImplementedError,
            _method=_method, _raise_statement=_raise_statement, _OPS=_OPS):
    """Whether ``exc`` means the submission does not have this form of the op (``step``), rather
    than that the form exists and broke.

    Absent: there is no such method, or Python refused the operands (the method returned
    ``NotImplemented``), or the op's own method raises ``NotImplementedError`` (itself, or through
    a stub helper: ``return _todo()``, see ``learner_frame``; every op a stub is every op not
    written, not one bug that every op's check forgives).  An exception
    raised inside the learner's own code (``frame``, see ``learner_frame``) is the op breaking,
    unless it refuses the kind of operand this form passes: a plain number used as a Value
    (``'float' object has no attribute 'data'``) or guarded against (``assert isinstance(other,
    Value)``, or any exception the op's own method raises with a ``raise`` statement), or a Value
    exponent where the lecture takes a number.  A ``ValueError`` from a computation (a math
    domain error) is the op breaking.
    """
    if frame is None:
        return isinstance(exc, (TypeError, AttributeError, NotImplementedError))
    k, args, const, _ = step
    own = frame[1] == _method(step)
    if isinstance(exc, NotImplementedError):  # a stub, unless another op it calls is the stub
        return own
    value_form = _OPS[k][3] and len(args) == 2
    if (const is not None or value_form) and own and _raise_statement(exc):
        return True
    if const is not None:
        return isinstance(exc, AssertionError) or (
            isinstance(exc, AttributeError) and isinstance(getattr(exc, 'obj', None), (int, float)))
    if value_form:
        return isinstance(exc, (AssertionError, TypeError))
    return False


def looked_up(step, frame, cls, callable=callable, getattr=getattr, _method=_method):
    """Whether the op failed in the learner's ``__getattr__`` looking up a method ``cls`` does
    not define (``a.log()`` where lazy defaults raise ``KeyError('log')``): the op is absent."""
    return frame is not None and frame[1] in ('__getattr__', '__getattribute__') and \
        not callable(getattr(cls, _method(step), None))


def _rule_tuple(rule, tuple=tuple):
    """A rule's ``[method, line]`` (``rules.origin``) as a tuple, or ``None``."""
    return None if rule is None else tuple(rule)


def _shadowing(out, leaves, getattr=getattr, type=type, callable=callable, any=any,
               own_attributes=own_attributes):
    """Where an instance attribute ``backward`` hides the method: ``'init'`` (every Value has
    one, a leaf too), ``'op'`` (set on an op's result), or ``None``."""
    def has(v, own_attributes=own_attributes):
        return 'backward' in own_attributes(v)
    if not callable(getattr(type(out), 'backward', None)) or not has(out):  # nothing to hide
        return None
    return 'init' if any(has(v) for v in leaves) else 'op'


def _merged(vals, enumerate=enumerate, tuple=tuple, any=any, Exception=Exception):
    """Per entry, the first entry a set (of children, of visited nodes) takes it for: itself,
    unless the class's ``__hash__``/``__eq__`` go by value and merge distinct nodes.  ``None``
    when none merge, or when they cannot be put in a set."""
    first, merged = {}, []
    try:
        for i, v in enumerate(vals):
            m = first.setdefault(v, i)
            merged.append(m if vals[m] is not v else i)  # an op that gave back its operand: itself
    except Exception:  # unhashable (an __eq__ without __hash__), or a comparison that raises
        return None
    return tuple(merged) if any(m != i for i, m in enumerate(merged)) else None


def _reading(reader, BaseException=BaseException, named=named, type=type):
    def read(v, reader=reader, BaseException=BaseException, named=named, type=type):
        try:
            return reader(v)
        except BaseException as e:
            return {'error': named(type(e))}
    return read


def _read(reader, vals, tuple=tuple, map=map, _reading=_reading):
    """``reader`` of every Value, as a tuple built in C: no frame holds it as it grows, so no
    later read's code (a getter of the submission's) can change an earlier one."""
    return tuple(map(_reading(reader), vals))


RULE = '_backward'  # where the lecture's ops store a node's rule


def _counting(kind):
    """``kind`` (set, list ...) whose walks count on the count each container is given (a
    one-item list)."""
    class Counted(kind):
        def __iter__(self):
            self.walks[0] += 1
            return kind.__iter__(self)
    Counted.__name__ = Counted.__qualname__ = kind.__name__
    return Counted


#: The containers of operands whose walks are counted, and their counting kinds, by position.
_KINDS = (set, frozenset, tuple, list)
_COUNTED = tuple(map(_counting, _KINDS))


def _operands(v, operands, list=list, type=type, all=all, any=any, _KINDS=_KINDS,
              own_attributes=own_attributes):
    """``(name, container)`` of the instance attribute holding all of ``operands`` (``_prev``,
    ``_children`` …, a plain set, frozenset, tuple or list), or ``None``."""
    for name, container in list(own_attributes(v).items()):
        if type(container) in _KINDS and all(any(x is o for x in container) for o in operands):
            return name, container
    return None


def _held(steps, vals, n, enumerate=enumerate, _operands=_operands):
    """Per node (``steps``, after ``n`` inputs), ``(name, container)`` of its operands
    (``_operands``) or ``None``."""
    return [_operands(vals[n + k], [vals[a] for a in step[1]]) for k, step in enumerate(steps)]


def _count_walks(vals, held, n, enumerate=enumerate, type=type, setattr=setattr,
                 Exception=Exception, _KINDS=_KINDS, _COUNTED=_COUNTED):
    """Swap each node's container of its operands (``_prev``, ``_children`` …, ``held``) for an
    equal one that counts its walks: a topological sort that walks every path walks them
    exponentially often, even when each ``_backward`` then runs once.  Returns the count (a
    one-item list) and the nodes that keep no container of their operands (an op that builds
    its result without its children, so no walk can reach below it)."""
    count, unheld = [0], []
    for k, found in enumerate(held):
        if found is None:
            unheld.append(n + k)
            continue
        wrapped = _COUNTED[_KINDS.index(type(found[1]))](found[1])
        wrapped.walks = count
        try:
            setattr(vals[n + k], found[0], wrapped)
        except Exception:
            pass
    return count, unheld


#: Nodes followed inside one op's result: ``a - b`` as ``self + (-other)`` builds one.
INNER = 32


def _instrument_inner(steps, vals, held, name, n, len=len, max=max, id=id, set=set, dict=dict,
                      zip=zip, enumerate=enumerate, type=type, tuple=tuple, callable=callable,
                      setattr=setattr, Exception=Exception, own_attributes=own_attributes,
                      _KINDS=_KINDS, INNER=INNER):
    """Wrap the rules of the computed nodes an op builds inside its result (``-b`` in ``a - b``
    written as ``self + (-other)``, ``b ** -1`` in ``a / b``), found through the result's
    container of operands down to the graph's own entries, so that a backward() that never
    reaches them is seen.  ``held``: each node's container of its operands (``_held``), where a
    result holding its operands alone builds none.  Returns ``{entry: [ran, ...]}``, one flag
    per such node."""
    names = [found[0] for found in held if found]
    built = [k for k, (found, step) in enumerate(zip(held, steps))
             if found is None or len(found[1]) > len(step[1])]  # not its operands alone
    if not names or not built:
        return {}
    # the name the ops keep children under: a composite result holds its own (`-b`, not `b`)
    attribute = max(dict.fromkeys(names), key=names.count)
    entries, inner = {id(v) for v in vals}, {}
    for k in built:
        children = own_attributes(vals[n + k]).get(attribute)
        if type(children) not in _KINDS:
            continue
        stack, seen, ran = [children], set(), []
        while stack and len(seen) < INNER:
            for x in tuple(stack.pop()):
                if id(x) in entries or id(x) in seen:
                    continue
                seen.add(id(x))
                mine = own_attributes(x)
                children, rule = mine.get(attribute), mine.get(name)
                if type(children) not in _KINDS or not children or not callable(rule):
                    continue  # a constant the op made a leaf of (``Value(-1)``)
                flag = len(ran)
                ran.append(False)

                def recorded(*args, _flag=flag, _ran=ran, _f=rule, **kwargs):
                    _ran[_flag] = True
                    return _f(*args, **kwargs)
                try:
                    setattr(x, name, recorded)
                except Exception:
                    ran.pop()
                    continue
                stack.append(children)
        if ran:
            inner[n + k] = ran
    return inner


def rule_attribute(results, own, dict=dict, getattr=getattr, isinstance=isinstance, str=str,
                   min=min, own_attributes=own_attributes, RULE=RULE):
    """The attribute in which the ops store each result's backward rule: what it is, not what it
    is called (``_backward``, ``_grad_fn``, ``backward_fn``): an instance attribute holding a
    function of the learner's (``own``) on op results, the lecture's name if it is one, else the
    one held on the most results."""
    held = {}
    for v in results:
        for key, rule in dict(own_attributes(v)).items():
            code = getattr(getattr(rule, '__func__', rule), '__code__', None)
            if isinstance(key, str) and code is not None and own(code.co_filename) is not None:
                held[key] = held.get(key, 0) + 1
    if RULE in held or not held:
        return RULE
    return min(held, key=lambda key: (-held[key], key))


def _instrument(vals, name, enumerate=enumerate, callable=callable, setattr=setattr,
                Exception=Exception, attribute=attribute):
    """Wrap each node's rule (attribute ``name``) so that the order of the calls is recorded."""
    order = []
    for i, v in enumerate(vals):
        original = attribute(v, name)
        if not callable(original):
            continue

        def recorded(*args, _i=i, _f=original, **kwargs):
            order.append(_i)
            return _f(*args, **kwargs)
        try:
            setattr(v, name, recorded)
        except Exception:
            pass
    return order


def run_graph(graph, backend, backward=1, instrument=False, type=type, tuple=tuple, map=map,
              len=len, list=list, dict=dict, filter=filter, range=range, sorted=sorted, all=all,
              isinstance=isinstance, getattr=getattr, BaseException=BaseException,
              AttributeError=AttributeError, prepared=prepared, _apply=_apply, _read=_read, learner_frame=learner_frame, error=error, lacks=lacks,
              missing=missing, looked_up=looked_up, rule_attribute=rule_attribute,
              origins=origins, _rule_tuple=_rule_tuple, _instrument=_instrument, _held=_held,
              _instrument_inner=_instrument_inner, _count_walks=_count_walks,
              _shadowing=_shadowing, _merged=_merged):
    """Forward, ``backward`` backward passes, then every entry's data and grad.  ``graph``: a
    graph's dict, or its ``prepared`` tuple; ``backend``: ``bound_backend``'s tuple (the
    worker's), or a ``Backend``.

    Anything the submission raises, ``SystemExit`` included, fails this graph only.  An input
    that cannot be built says nothing of the ops: its error is ``missing`` only when the class
    has no method for one of them.

    Returns ``{'values', 'grads'}`` (``grads`` after the first pass; with two passes also
    ``grads2``), ``'order'`` when instrumented (entry indices in the order their ``_backward``
    ran) with ``'walks'`` (how often the first pass iterated the nodes' operand containers) and
    ``'starts'`` (every entry's grad before backward(): what a gradient is added to), or
    ``'error'`` saying where it failed.

    How it reads is bound (the module's docstring): the submission's code, which this calls,
    swaps nothing it calls.  What is read is kept immutable (tuples of exact builtins,
    ``_read``) and the answer is made of it in one expression as this returns: no local of this
    frame (which the submission's code reaches by ``f_back``, from a getter, a ``__del__`` the
    release of its objects runs, a garbage collection's callback or a thread holding the frame)
    ever holds a container it could change after the read (``del_window``, ``thread_window``).
    """
    if type(backend) is not tuple:
        backend = backend.bound()
    leaf, created, data, grad, back, cls, own, names = backend
    inputs, steps, output = graph if type(graph) is tuple else prepared(graph)
    vals = []
    try:
        for x in inputs:
            vals.append(leaf(x))
    except BaseException as e:
        frame = learner_frame(e, own)
        return {'error': error(e, 'leaf', len(vals), lacks(steps, cls), frame)}
    n_inputs = len(vals)
    try:
        for step in steps:
            v = _apply(step, vals)
            created(v)
            vals.append(v)
    except BaseException as e:
        step = steps[len(vals) - n_inputs]
        frame = learner_frame(e, own)
        gone = missing(step, e, frame) or looked_up(step, frame, cls)
        return {'error': error(e, 'forward', len(vals), gone, frame),
                'values': list(_read(data, vals))}
    out = vals[output]
    name = rule_attribute(vals[n_inputs:], own) if instrument else None
    # before _instrument wraps them
    rules = tuple(map(_rule_tuple, origins(vals, own, name))) if instrument else None
    order = _instrument(vals, name) if instrument else None
    held = _held(steps, vals, n_inputs) if instrument else None
    inner = _instrument_inner(steps, vals, held, name, n_inputs) if instrument else None
    walks = _count_walks(vals, held, n_inputs) if instrument else None  # this run's, from 0
    values = _read(data, vals)
    starts = _read(grad, vals) if instrument else None
    shadow = _shadowing(out, vals[:n_inputs])
    merged = _merged(vals)
    failure = grads = grads2 = called = walked = unheld = unrun = None
    for i in range(backward):
        try:
            back(out)
        except BaseException as e:
            gone = isinstance(e, AttributeError) and getattr(type(out), names[2], None) is None
            frame = learner_frame(e, own)
            failure = tuple(error(e, 'backward', output, gone, frame).items())
            if order is not None:
                called = tuple(order)  # its last entry: the node whose rule raised
            break
        if i:
            grads2 = _read(grad, vals)
            continue
        grads = _read(grad, vals)
        if order is not None:
            called, walked, unheld = tuple(order), walks[0][0], tuple(walks[1])
            unrun = tuple(sorted(k for k, ran in inner.items() if not all(ran)))
    return dict(filter(None, (
        ('values', list(values)),
        ('shadowed', shadow) if shadow else (),
        ('rules', list(rules)) if rules is not None else (),
        ('starts', list(starts)) if starts is not None else (),
        ('merged', list(merged)) if merged else (),
        ('grads', list(grads)) if grads is not None else (),
        ('order', list(called)) if called is not None else (),
        ('walks', walked) if walked is not None else (),
        ('unheld', list(unheld)) if unheld is not None else (),
        ('unrun', list(unrun)) if unrun is not None else (),
        ('error', dict(failure)) if failure is not None else (),
        ('grads2', list(grads2)) if grads2 is not None else ())))
