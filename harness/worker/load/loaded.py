"""What loading found: namespaces to search for classes, and what went wrong on the way."""
import ast
import dis
import inspect
import os
import textwrap
import types

from .classes import (WRITTEN, defined_in, driven, find_roles, graded, line_of, misnamed, misspelled,
                      runner,
                      near, nested, shape, written_shapes)
from .. import clock
from .errors import LoadError


class Loaded:
    """Namespaces to search for classes, in priority order, and what went wrong on the way."""

    def __init__(self, budget=None, cells=None, module=None, answer_keys=(), number=None):
        # notebook cells' (``latest``)
        self.budget = clock.Limit(budget, clock.usage) if budget else None
        self.cells = cells or {}  # notebook sha256 -> {cell number: transformed source}
        self.module = module  # an installed module graded explicitly (``--module``)
        self.answer_keys = frozenset(answer_keys)  # libraries kept out of reach (rubric.py)
        self.number = number  # called with each class a statement defines, once it ran
        self.namespaces = []  # (where, dict)
        self.warnings = []
        self.failures = []  # (where, what went wrong, the source that failed)
        self.origins = {}  # class object id -> 'cell 7, line 3'
        self.unimported = {}  # name a notebook's failed import would have bound -> FailedImport
        self.root = None  # folder the submission's files are shown relative to
        self.submission = None  # the file or folder graded: what it defines is its own

    def latest(self):
        """When a notebook's cells' budget is next due (``time.monotonic()``; ``-inf`` once it
        has run out), ``None`` without one.  Seconds of a whole CPU, as each cell's limit
        (``clock``): a busy host, which gives the worker part of a CPU, runs the cells a quiet
        one runs (before: 4 cells of 0.5 s of CPU under a budget of 3.2 s ran whole there, and
        the last ones were skipped with a quarter of a CPU: the classes they define were
        missing, the same notebook read otherwise on ``batch -j 2``)."""
        return self.budget.due() if self.budget is not None else None

    def fail(self, where, message, source=''):
        """Something did not load; grading goes on, and a missing class can name it as the cause."""
        self.warnings.append(f'{where}: {message}')
        self.failures.append((where, message, source))

    def own(self, filename):
        """How the learner knows ``filename`` (``engine.py``, ``cell 3``), or ``None`` when it is
        not the submission's code (the grader, Python, other installed packages)."""
        if filename.startswith('<cell '):
            return filename.strip('<>')
        filename = os.path.abspath(filename)
        if self.root:
            inside = filename.startswith(self.root + os.sep)
            return os.path.relpath(filename, self.root) if inside else None
        origin = self.namespaces[0][1].get('__file__') if self.namespaces else None
        if not origin:
            return None
        origin = os.path.abspath(origin)  # an installed module graded as the submission
        package = os.path.dirname(origin) if os.path.basename(origin) == '__init__.py' else origin
        if filename == origin or filename.startswith(package + os.sep):
            return os.path.relpath(filename, os.path.dirname(package))
        return None

    def find(self, names):
        """``{role: Found}`` for each role a class was found for; a ``LoadError`` that
        names the cause when there is no Value, or when the Value is imported, not written.

        A class the notebook meant to replace by an import that failed is not graded: the
        learner's last word on it is the module the grader could not import.  Without its Value
        the load fails (a grade of the earlier class would be of code the notebook no longer
        uses); another role is left out with a warning."""
        candidates = [(name, obj) for _, ns in self.namespaces for name, obj in list(ns.items())
                      if isinstance(obj, type)]
        found = find_roles(candidates, names, self.ours, self.origin)
        for role in list(found):
            failed = self._replaced(names[role])
            if failed is not None:
                f = found.pop(role)
                stale = (f'the {f.cls.__name__} of {f.origin} is not graded, as the notebook '
                         f'replaces it: {failed.hint()}')
                if role == 'Value':
                    raise LoadError(stale)
                self.warnings.append(f'{role}: {stale}')
        value = found.get('Value')
        if value is None:
            raise LoadError(self._missing(names['Value'], candidates))
        for role, f in found.items():
            lent = self._lent(f.cls) if role == 'Value' and not self.module else None
            if lent is not None:
                top = lent.__module__.split('.')[0]
                how = 'imported' if lent is f.cls else f'a subclass of {lent.__name__}, imported'
                raise LoadError(f'{names[role]} is not written in the submission: it is {how} '
                                f'from the module {lent.__module__}. Write your own {names[role]} '
                                f'class (third-party code is graded with --module {top}).')
            if not self.ours(f.cls):
                self.warnings.append(f'{role} is not defined in the submission: it is imported '
                                     f'from the module {f.cls.__module__}.')
            if role != 'Value' and f.how != 'name':
                self.warnings.append(f'no class named {names[role]!r}; {role} is `{f.cls.__name__}` '
                                     f'({f.origin}).')
            walk = self._walk(f.cls) if role == 'Value' else None
            if walk is not None:
                self.warnings.append(walk)
            inner = nested(f.cls) if role == 'Value' else []
            if inner:
                self.warnings.append(f'{f.cls.__name__}.__init__ defines {", ".join(inner)} as '
                                     f'local functions, not methods: is that block indented one '
                                     f'level too deep? ({f.origin})')
            for dunder, written in (misspelled(f.cls) if role == 'Value' else {}).items():
                line = line_of(f.cls, written) or line_of(f.cls, f'_{f.cls.__name__}{written}')
                there = f' ({f.origin.rpartition(", line ")[0] or f.origin}, line {line})' \
                    if line else ''
                self.warnings.append(f'{f.cls.__name__} defines {written}{there}, not {dunder}: '
                                     f'Python calls {dunder} only, so that op is missing.')
            for method, other in f.similar.items():
                line, file = line_of(f.cls, other), f.origin.rpartition(', line ')[0]
                there = f' ({file or f.origin}, line {line})' if line else ''
                if method == '__call__':
                    said = (f'{f.cls.__name__} is not callable (no __call__) but has '
                            f'{other}(){there}: graded through model.{other}(x) where the '
                            f'lecture calls model(x).')
                elif method == 'backward' and role == 'Value' and driven(f.cls, f.similar):
                    topo = driven(f.cls, f.similar).get('topo')
                    call = f'v.{other}(v.{topo}())' if topo else f'v.{other}()'
                    said = (f'{f.cls.__name__} has no method {method}() but has {other}(){there}: '
                            f'graded through {call}, and the missing {method}() fails '
                            f'capability.{method}.')
                else:
                    said = (f'{f.cls.__name__} has no method {method}() but has {other}(){there}: '
                            f'the grader calls {method}().')
                self.warnings.append(said)
        return found

    def _walk(self, cls):
        """A Value driven by the submission's own function ``backward(v)`` (``backward_function``):
        that function becomes its method, set by ``type``'s own ``__setattr__``: a metaclass's
        (one that freezes the class) is the submission's.  The load warning that says so, or
        ``None``."""
        found = backward_function(cls, [ns for _, ns in self.namespaces], self.own)
        if found is None:
            return _walk_named_otherwise(cls, [ns for _, ns in self.namespaces], self.own)
        type.__setattr__(cls, 'backward', found[0])
        return found[1]

    def _replaced(self, name):
        """The failed import that was to bind ``name``, when nothing has bound it since."""
        failed = self.unimported.get(name)
        bound = next((ns[name] for _, ns in self.namespaces if name in ns), None)
        return failed if failed is not None and bound is failed.before else None

    def _lent(self, cls):
        """The class not of the submission's that ``cls`` is, or takes its arithmetic or its
        backward from; ``None`` when the submission wrote them."""
        if not self.ours(cls):
            return cls
        for name in WRITTEN:
            owner = next((k for k in cls.__mro__ if name in vars(k)), None)
            if owner is not None and not self.ours(owner):
                return owner
        return None

    def ours(self, cls):
        """Whether the submission defines ``cls`` (not imports it from elsewhere)."""
        if id(cls) in self.origins:
            return True
        if self.module:
            return cls.__module__.split('.')[0] == self.module.split('.')[0]
        filename, own = _source_file(cls), self.submission
        return bool(own and filename and (filename == own or filename.startswith(own + os.sep)))

    def origin(self, cls):
        """``cell N, line M`` or ``file, line N`` (relative to the submission) of a class."""
        if id(cls) in self.origins:
            return self.origins[id(cls)]
        filename = _source_file(cls)
        try:
            line = inspect.getsourcelines(cls)[1]
        except (TypeError, OSError):
            line = None
        if filename and self.root and filename.startswith(self.root + os.sep):
            where = os.path.relpath(filename, self.root)
        else:
            where = f'{cls.__module__} ({os.path.basename(filename)})' if filename else cls.__module__
        return f'{where}, line {line}' if line else where

    def _missing(self, name, candidates):
        """Why no class ``name`` was found: the failure where it is defined, a class that looks
        like one, or whatever failed while loading."""
        message = f'no class named {name!r} was found'
        for where, what, source in self.failures:
            if name in defined_in(source):
                return f'{message}: {where}, which defines it, did not run: {what}'
        failed = self._replaced(name)
        if failed is not None:
            return f'{message}: {failed.hint()}'
        close = near(candidates, self.ours)
        unrun = _shaped(self.failures, len(shape(close)) if close is not None else 0)
        if unrun is not None:  # a class shaped more like a Value, in a module that did not run
            (where, what), written = unrun
            return f'{message}: {where}, which defines `{written}`, shaped like a Value, did not ' \
                   f'run: {what}'
        if close is not None:
            return f'{message}; did you mean `{close.__name__}` ({self.origin(close)})?'
        if self.failures:
            where, what, _ = self.failures[0]
            more = len(self.failures) - 1
            return (f'{message}; loading went wrong first, which may be why: {where}: {what}'
                    + (f' (and {more} more problem{"s" * (more > 1)}, see the warnings)' if more else ''))
        own = sorted({cls.__name__ for _, cls in candidates if self.ours(cls)})
        return f'{message} in the submission' + (f' (it defines {", ".join(own)})' if own else '')


def _shaped(failures, beyond):
    """``((where, what), class name)``: the first class, in the source of a module that failed
    (``failures``), whose written shape is a Value's (``graded``) with more of its parts than
    ``beyond``; else ``None``."""
    for where, what, source in failures:
        for name, parts in written_shapes(source).items():
            if graded(parts) and len(parts) > beyond:
                return (where, what), name
    return None


def backward_function(cls, namespaces, own):
    """A Value with no ``backward()`` method, driven by the submission's own function
    ``backward(v)`` instead (``own(filename)`` names the submission's files, else ``None``): that
    function and the load warning that says it is graded as the method (``v.backward()`` calls
    ``backward(v)``, so every check, the MLP's loss too, runs the learner's walk, and an ordering
    bug is located in it); ``None`` otherwise.  The notebook self-check grades it the same way."""
    if callable(getattr(cls, 'backward', None)):
        return None
    for ns in namespaces:
        fn = ns.get('backward')
        code = getattr(fn, '__code__', None)
        if isinstance(fn, types.FunctionType) and own(code.co_filename) and _one_argument(fn):
            return fn, (f'{cls.__name__} has no backward() method; the function backward(v) '
                        f'({own(code.co_filename)}, line {code.co_firstlineno}) is graded as '
                        f'it: v.backward() runs backward(v).')
    return None


#: What the name of a function that walks the graph holds, when it is not ``backward``.
_WALK_WORDS = ('backward', 'backprop', 'backtrack')


def _walk_named_otherwise(cls, namespaces, own):
    """A warning where the Value has no ``backward()`` and no function ``backward(v)``, but the
    submission has a function of one argument named like one (``topo_sort_backtrack(node)``): a
    walk the grader does not call; else ``None``."""
    if callable(getattr(cls, 'backward', None)):
        return None
    for ns in namespaces:
        for name, fn in list(ns.items()):
            code = getattr(fn, '__code__', None)
            if isinstance(fn, types.FunctionType) and name != 'backward' and \
                    any(w in name.lower().replace('_', '') for w in _WALK_WORDS) and \
                    own(code.co_filename) and _one_argument(fn):
                return (f'{cls.__name__} has no backward() method, and the submission has '
                        f'{name}() ({own(code.co_filename)}, line {code.co_firstlineno}): the '
                        f'grader calls v.backward(); write the walk as that method, or as a '
                        f'function backward(v).')
    return None


def _one_argument(fn):
    """Whether ``fn`` can be called with one positional argument (the root Value)."""
    try:
        inspect.signature(fn).bind(None)
        return True
    except (TypeError, ValueError):
        return False


def _source_file(cls):
    try:
        return os.path.abspath(inspect.getsourcefile(cls) or inspect.getfile(cls))
    except (TypeError, OSError):
        return None


_LOADS = ('LOAD_FAST', 'LOAD_DEREF')


def _read(code):
    """A code object's instructions, or none where ``dis`` cannot read them."""
    try:
        return list(dis.get_instructions(code))
    except Exception:
        return []


def self_stores(code, steps=None, list=list, zip=zip, Exception=Exception,
                instructions=dis.get_instructions, _LOADS=_LOADS):
    """``(value instruction, attribute, line)`` of each ``self.attribute = value`` a method's
    bytecode (``steps``, if read already) does on its own first argument, in order (run by the
    MLP task too: its names are bound, as ``execute``'s are)."""
    if not code.co_argcount:
        return
    me = code.co_varnames[0]
    if steps is None:
        try:
            steps = list(instructions(code))
        except Exception:
            return
    for value, target, store in zip(steps, steps[1:], steps[2:]):
        if store.opname == 'STORE_ATTR' and target.opname in _LOADS and target.argval == me:
            yield value, store.argval, store.positions.lineno if store.positions else None


def _rule_on_self(code, steps):
    """The line where a method stores a function it defines on its own first argument
    (``self._backward = _backward``, meant for its result); ``None``."""
    nested = {c.co_name for c in code.co_consts if isinstance(c, types.CodeType)}
    return next((line for value, _, line in self_stores(code, steps)
                 if value.opname == 'MAKE_FUNCTION' or value.opname in _LOADS and
                 value.argval in nested), None)


_STORES = ('STORE_FAST', 'STORE_DEREF')
_WRAPPING = ('PRECALL', 'CALL', 'KW_NAMES')


#: An operator's symbol (``BINARY_OP``'s) -> the methods Python may call for it.
_OPERATORS = {'+': ('__add__', '__radd__'), '-': ('__sub__', '__rsub__'),
              '*': ('__mul__', '__rmul__'), '/': ('__truediv__', '__rtruediv__'),
              '**': ('__pow__', '__rpow__')}
#: The most methods a method is said to call.
CALLS = 16


def _calls(code, steps):
    """The methods a method that writes no rule may call to build its result, read in its
    bytecode (``steps``): those of its operators (``self + (-other)``: ``__add__``, whose left
    operand is the Value itself, and ``__neg__``; ``other + (-self)``: ``__add__`` or
    ``__radd__``) and those it names (``self.exp()``).  A wrong value of such a method is then,
    where one of those is wrong too, theirs (``checks/causes.py``)."""
    me = code.co_varnames[0] if code.co_argcount else None
    found, numbers = [], _on_numbers(code, steps)
    for k, step in enumerate(steps):
        if k in numbers:  # `other + (-self.data)`: numbers only, no method of the Value's
            continue
        if step.opname == 'BINARY_OP':
            forward, reflected = _OPERATORS.get(step.argrepr.rstrip('='), (None, None))
            found += [forward] if _left_is(me, step, steps[:k]) else [forward, reflected]
        elif step.opname == 'UNARY_NEGATIVE':
            found.append('__neg__')
        elif step.opname in ('LOAD_ATTR', 'LOAD_METHOD') and isinstance(step.argval, str) and \
                step.argval.isidentifier():
            found.append(step.argval)
    return [name for name in dict.fromkeys(found) if name][:CALLS]


#: Instructions that only push a value no Value method computes, or compute one from such.
_PLAIN = {'LOAD_CONST': 0, 'LOAD_FAST': 0, 'LOAD_ATTR': 1, 'UNARY_NEGATIVE': 1, 'BINARY_OP': 2}


def _on_numbers(code, steps):
    """The positions of the operators of a method's straight-line bytecode (``steps``) whose
    operands are all plain numbers: constants, attributes read (``self.data``), the other
    operand of a reflected op (Python calls ``__rsub__`` only for one that is no Value), and
    results of such operators.  ``other + (-self.data)`` calls neither ``__neg__`` nor any
    ``__add__`` of the Value's; a method it cannot follow so: none."""
    name = code.co_name
    other = code.co_varnames[1] if code.co_argcount > 1 and name.startswith('__r') and \
        name.endswith('__') and name != '__repr__' else None
    stack, found = [], set()
    for k, step in enumerate(steps):
        op = step.opname
        if op in ('RESUME', 'NOP', 'CACHE', 'RETURN_VALUE'):
            continue
        if op not in _PLAIN or len(stack) < _PLAIN[op] or \
                op == 'LOAD_ATTR' and k + 1 < len(steps) and \
                steps[k + 1].opname in ('PRECALL', 'CALL', 'CALL_FUNCTION'):
            return set()  # a call, a store, a branch: not followed
        if op == 'LOAD_CONST':
            stack.append(isinstance(step.argval, (int, float)))
        elif op == 'LOAD_FAST':
            stack.append(step.argval == other)
        elif op == 'LOAD_ATTR':
            stack[-1] = True  # an attribute read: the number a Value holds
        else:
            operands = [stack.pop() for _ in range(_PLAIN[op])]
            if all(operands):
                found.add(k)
            stack.append(all(operands))
    return found


def _left_is(me, operator, before):
    """Whether an operator's left operand is the local ``me`` itself (the last instruction
    before it that starts where the whole expression does loads it): Python then calls the
    operator's own method of ``me``'s class, never the right operand's reflected one."""
    at = _span(operator)[:2]
    if None in at:
        return False
    left = [s for s in before if _span(s)[:2] == at and _span(s) != _span(operator)]
    return bool(left) and left[-1].opname == 'LOAD_FAST' and left[-1].argval == me


def _calls_rules(code, steps):
    """The line where a rule a method defines calls another node's rule itself (``self.
    _backward()`` inside ``_backward``, under the attribute the method stores its rule in):
    backward() runs every node's rule too, so those nodes propagate twice; ``None``."""
    nested = {c.co_name for c in code.co_consts if isinstance(c, types.CodeType)}
    named = nested | {s.argval for made, s in zip(steps, steps[1:])
                      if made.opname == 'MAKE_FUNCTION' and s.opname in _STORES}
    # ``out._backward = _backward``: the attribute a rule is stored in (on any Value)
    attributes = {store.argval for value, target, store in zip(steps, steps[1:], steps[2:])
                  if store.opname == 'STORE_ATTR' and target.opname in _LOADS and
                  (value.opname == 'MAKE_FUNCTION' or value.opname in _LOADS and
                   value.argval in named)}
    for inner in (c for c in code.co_consts if isinstance(c, types.CodeType)):
        ran = _read(inner)
        for k, load in enumerate(ran):
            # `node._backward()`: the attribute loaded, then called with no arguments
            call = next((s for s in ran[k + 1:k + 3] if s.opname == 'CALL'), None)
            if load.opname in ('LOAD_ATTR', 'LOAD_METHOD') and load.argval in attributes and \
                    call is not None and not call.arg and load.positions:
                return load.positions.lineno
    return None


def _computes(code, owner, steps):
    """The line that computes the number of the Value a method returns: where the local passed
    as its data (``Value(t, ...)``) was last assigned (``t = ...``), else where that argument is
    written; ``None`` when the method builds no ``owner(...)`` it returns (an op written through
    others).  Read in the bytecode (``steps``), so that a wrong value is found there, not at the
    ``def``."""
    if owner not in code.co_names and owner not in code.co_freevars:
        return None
    returned = {b.argval for b, r in zip(steps, steps[1:]) if r.opname == 'RETURN_VALUE' and
                b.opname in _LOADS}
    for k, load in enumerate(steps[:-1]):
        if load.opname not in ('LOAD_GLOBAL', 'LOAD_DEREF', 'LOAD_NAME') or load.argval != owner:
            continue
        at = _span(load)[:2]
        call = next((j for j in range(k + 1, len(steps) - 1) if steps[j].opname == 'CALL' and
                     _span(steps[j])[:2] == at), None)
        if call is None or call == k + 2 or not (steps[call + 1].opname == 'RETURN_VALUE' or
                                                 steps[call + 1].opname in _STORES and
                                                 steps[call + 1].argval in returned):
            continue
        data = steps[k + 1]
        bare = data.opname in _LOADS and not any(
            _within(_span(data), _span(s)) for s in steps[k + 2:call] if s.opname not in _WRAPPING)
        assigned = [s for s in steps[:k] if bare and s.opname in _STORES and s.argval == data.argval]
        return (assigned[-1] if assigned else data).positions.lineno
    return None


#: The methods of ops whose forms take a plain number as an operand.
_WRAPPED = frozenset(m for pair in _OPERATORS.values() for m in pair)


def _wraps(code, owner, steps):
    """The line where a method makes a Value of its operand (``Value(other)``,
    ``self.__class__(other)``): it means to take plain numbers, so one it fails to read
    (``'float' object has no attribute 'data'``) is a bug of the op, not an operand it refuses
    (``checks/probe.py``); ``None``.  Read in the bytecode (``steps``)."""
    if code.co_argcount < 2:
        return None
    operand = code.co_varnames[1]
    for k, step in enumerate(steps[:-2]):
        made = step.opname in ('LOAD_GLOBAL', 'LOAD_DEREF', 'LOAD_NAME') and step.argval == owner \
            or step.opname in ('LOAD_ATTR', 'LOAD_METHOD') and step.argval == '__class__'
        if not made or steps[k + 1].opname not in _LOADS or steps[k + 1].argval != operand:
            continue
        call = next((s for s in steps[k + 2:] if s.opname not in ('PRECALL', 'KW_NAMES')), None)
        if call is not None and call.opname == 'CALL' and call.argval == 1:
            return step.positions.lineno if step.positions else None
    return None


def _span(step):
    p = step.positions
    return (p.lineno, p.col_offset, p.end_lineno, p.end_col_offset) if p and None not in p else \
        (None, None, None, None)


def _within(inner, outer):
    """Whether the source span ``inner`` lies inside ``outer`` (both known)."""
    return None not in inner + outer and outer[:2] <= inner[:2] and outer[2:] >= inner[2:]


def _resets(code, cls=None):
    """The line where backward() (or a function it defines) sets another Value's gradient to 0
    (``node.grad = 0``, ``stack[0].grad = 0.0``), so that a second call starts again; ``None``.
    Read in the bytecode: a statement that pushes 0 first and ends storing an attribute named
    like ``grad`` on anything but ``self``.  With ``cls``, a method of it that backward() calls
    on ``self`` and that resets so (``self.zero_grad()`` first, bhc91/micrograd_dev) is that
    reset, at the line of the call."""
    line = _zeroes(code)
    if line or cls is None:
        return line
    steps = _read(code)
    for before, step in zip(steps, steps[1:]):
        if before.opname in _LOADS and before.argval == 'self' and \
                step.opname in ('LOAD_ATTR', 'LOAD_METHOD') and step.positions:
            try:
                called = inspect.getattr_static(cls, step.argval, None)
            except Exception:
                continue
            inner = getattr(getattr(called, '__func__', called), '__code__', None)
            if isinstance(inner, types.CodeType) and inner is not code and _zeroes(inner):
                return step.positions.lineno
    return None


def _zeroes(code):
    """``_resets`` of ``code`` itself (and the functions it defines)."""
    for c in [code] + [k for k in code.co_consts if isinstance(k, types.CodeType)]:
        try:
            steps = list(dis.get_instructions(c))
        except Exception:
            return None
        first = {}  # line -> its first instruction
        for step in steps:
            line = step.positions.lineno if step.positions else None
            first.setdefault(line, step)
        for before, store in zip(steps, steps[1:]):
            line = store.positions.lineno if store.positions else None
            start = first.get(line)
            if store.opname == 'STORE_ATTR' and 'grad' in store.argval.lower() and line and \
                    start.opname == 'LOAD_CONST' and type(start.argval) in (int, float) and \
                    start.argval == 0 and not (before.opname in _LOADS and before.argval == 'self'):
                return line
    return None


def _walk_lines(function):
    """``{'indented': line, 'appended': line}`` (either absent) of a method that defines a function
    calling itself (``build_topo``), read in its source: where its own body went on indented
    into that function, which it never calls (``build_topo(self)`` at the top of the function's
    body, so the method does nothing); where that function adds its node to the order after the
    ``if`` that checks the visited set, not inside it (``topo.append(v)`` one level out, so a
    node reached twice is added twice)."""
    code = getattr(function, '__code__', None)
    if not any(isinstance(c, types.CodeType) and c.co_name in c.co_freevars
               for c in getattr(code, 'co_consts', ())):
        return {}  # no function of its own that calls itself: nothing to parse
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except Exception:  # no source (a lambda, a notebook without its cell): nothing to read
        return {}
    method = tree.body[0] if tree.body else None
    if not isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return {}
    nested = [s for s in method.body if isinstance(s, ast.FunctionDef)]
    called = {n.id for s in method.body if s not in nested for n in ast.walk(s)
              if isinstance(n, ast.Name)}
    found = {}
    for inner in nested:
        checked = False  # an `if v not in visited:` seen earlier in the body
        for statement in inner.body:
            call = statement.value if isinstance(statement, ast.Expr) and \
                isinstance(statement.value, ast.Call) else None
            if call and isinstance(call.func, ast.Name) and call.func.id == inner.name and \
                    inner.name not in called:
                found.setdefault('indented', statement.lineno)
            if call and checked and isinstance(call.func, ast.Attribute) and \
                    call.func.attr == 'append' and inner.args.args and \
                    [a.id for a in call.args if isinstance(a, ast.Name)] == [inner.args.args[0].arg]:
                found.setdefault('appended', statement.lineno)
            checked = checked or isinstance(statement, ast.If) and any(
                isinstance(op, ast.NotIn) for n in ast.walk(statement.test)
                if isinstance(n, ast.Compare) for op in n.ops)
    return {key: code.co_firstlineno + line - 1 for key, line in found.items()}


#: What a function that does nothing runs: ``pass``, ``...``, a docstring, ``return``.
_NOTHING = frozenset({'RESUME', 'NOP', 'LOAD_CONST', 'RETURN_CONST', 'RETURN_VALUE', 'POP_TOP',
                      'CACHE'})


def _does_nothing(code):
    """Whether the function of ``code`` does nothing: a rule left a stub (``def _backward():
    pass``) is no rule written, whatever gradients it is asked for."""
    steps = _read(code)
    return bool(steps) and all(step.opname in _NOTHING for step in steps)


def methods(cls, root, networks=(), limit=200, own=None):
    """``{name: {'file', 'line'}}``: where each method of ``cls`` (and of its bases in the
    submission) is defined, so a report can point a learner at ``Value.__add__``, line 22.
    Files are relative to the submission; notebook cells are named ``cell N``; ``own``, if
    given, names them instead (``None``: not the submission's), as the self-check does.  Each
    of ``networks`` (the Neuron, Layer and MLP classes) adds the method that runs it, qualified
    (``MLP.__call__``): where a forward pass's mistake is placed."""
    found, named, wrapping = {}, {}, {}

    def shown(code):
        filename = code.co_filename
        if own is not None:
            return own(filename)
        if filename.startswith('<cell ') and filename.endswith('>'):
            return filename[1:-1]
        if root and os.path.abspath(filename).startswith(root + os.sep):
            return os.path.relpath(os.path.abspath(filename), root)
        return None
    try:
        for klass in cls.__mro__[:-1]:
            for name, attr in list(vars(klass).items())[:limit]:
                code = getattr(getattr(attr, '__func__', attr), '__code__', None)
                if name in found or not isinstance(code, types.CodeType):
                    continue
                filename = shown(code)
                if filename is None:
                    continue  # not the submission's code: an installed library's
                named.update(_functions_named(getattr(attr, '__func__', attr)))
                # whether it writes a rule (a function of its own): else its result's rule, if
                # any, is another method's (``__sub__`` as ``self + (-other)``)
                inner = [c for c in code.co_consts if isinstance(c, types.CodeType)]
                found[name] = {'file': filename, 'line': max(1, code.co_firstlineno),
                               'rule': any(not _does_nothing(c) for c in inner)}
                if inner and not found[name]['rule']:  # its rules all stubs: where the first is
                    found[name]['stub'] = max(1, inner[0].co_firstlineno)
                steps = _read(code)
                stored = _rule_on_self(code, steps)
                if stored:
                    found[name]['rule_on_self'] = stored
                calling = _calls_rules(code, steps)
                if calling:  # its rule runs its operands' rules: backward() runs them again
                    found[name]['calls_rules'] = calling
                computes = _computes(code, cls.__name__, steps)
                if computes:
                    found[name]['computes'] = computes
                wraps = _wraps(code, cls.__name__, steps)
                if wraps:
                    found[name]['wraps'] = wraps
                elif name in _WRAPPED:  # the methods it names (`self._as_value(other)`)
                    wrapping[name] = [s.argval for s in steps if s.opname in
                                      ('LOAD_ATTR', 'LOAD_METHOD') and s.argval != name]
                calls = _calls(code, steps) if not found[name]['rule'] else ()
                if calls:
                    found[name]['calls'] = calls
                found[name].update(_walk_lines(getattr(attr, '__func__', attr)))
                resets = _resets(code, cls) if name == 'backward' else None
                if resets:
                    found[name]['resets'] = resets
        for name, called in wrapping.items():  # `other = self._as_value(other)`: its helper's
            line = next((found[n]['wraps'] for n in called if found.get(n, {}).get('wraps')), None)
            if line:
                found[name]['wraps'] = line
        # the submission's functions its methods name (`ret.grad_fn = grad.pow_backward`): a
        # rule written in another module is named by its function, and located there; a method
        # of a class they name (`Add()(self, other)`: the rule in `Add.__call__`) by its
        # qualified name, and by its own where no method of the Value and no other such has it
        bare = {}
        for name, function in list(named.items())[:limit]:
            filename = shown(function.__code__)
            if filename is None:
                continue
            owner, _, short = name.rpartition('.')
            if name not in found:
                found[name] = {'file': filename, 'line': max(1, function.__code__.co_firstlineno),
                               'rule': not _does_nothing(function.__code__)}
            if owner:
                bare.setdefault(short, []).append(found[name])
        for short, places in bare.items():
            if short not in found and len({p['file'] for p in places}) == 1 and \
                    not misnamed({short}):  # `Pow.pow` is no Value's `pow` meant as `__pow__`
                found[short] = dict(places[0])
        for network in networks:
            run = runner(network)
            function = inspect.getattr_static(network, run, None) if run else None
            code = getattr(getattr(function, '__func__', function), '__code__', None)
            filename = shown(code) if isinstance(code, types.CodeType) else None
            if filename is not None:
                found[f'{network.__name__}.{run}'] = {
                    'file': filename, 'line': max(1, code.co_firstlineno), 'rule': False}
    except Exception:  # a hostile metaclass: no locations rather than no report
        pass
    return found


def _functions_named(method):
    """``{name: function}`` of the plain functions a method (or a function nested in it) names
    as a global or as an attribute of a module it names (``grad.pow_backward``)."""
    scope = getattr(method, '__globals__', None)
    code = getattr(method, '__code__', None)
    if not isinstance(scope, dict) or not isinstance(code, types.CodeType):
        return {}
    names, stack = set(), [code]
    while stack:
        c = stack.pop()
        names.update(c.co_names)
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    objects = [scope[n] for n in names if n in scope]
    objects += [getattr(m, n, None) for m in objects if isinstance(m, types.ModuleType)
                for n in names]
    found = {f.__name__: f for f in objects if isinstance(f, types.FunctionType)}
    owner = getattr(method, '__qualname__', '').partition('.')[0]
    for klass in objects:  # a class it names, not its own: each of its methods, qualified
        if isinstance(klass, type) and klass.__name__ != owner:
            for name, attr in list(vars(klass).items())[:50]:
                attr = getattr(attr, '__func__', attr)
                if isinstance(attr, types.FunctionType):
                    found[f'{klass.__name__}.{name}'] = attr
    return found
