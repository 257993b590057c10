"""Finding the learner's classes: by the name asked for, by another spelling of it (``value``,
``mlp``), or, for the Value, by its shape (``data``, ``grad``, a backward, arithmetic), whatever
it is called; the methods a learner named otherwise (``backprop`` for ``backward``); and the
attributes a Value keeps its number and gradient in when they are not ``data`` and ``grad``
(``value``, ``val``), found on a leaf by what they hold.

What is found is plain data (``Found.info``) for the report: the grader's messages read it.
"""
import ast
import difflib
import inspect
import re
import types

from ..execute import holds_number, learner_frame, own_attributes
from ..ops import TABLE
from .errors import LoadError, text

#: Methods the grader calls on each role, looked for under other names when absent.
EXPECTED = {'Value': ('backward',) + tuple(op.name for op in TABLE if op.method),
            'Neuron': ('parameters',), 'Layer': ('parameters',),
            'MLP': ('parameters', 'zero_grad')}
#: What a Value must have written itself (not inherited from a class it imported).
WRITTEN = ('__add__', '__mul__', 'backward', '_backward')
#: What makes a class shaped like a Value; with all of the first three it is graded as one.
SHAPE = ('data', 'grad', 'arithmetic', 'backward', '_backward')
#: The number a leaf is built with to see where a Value keeps it.
NUMBER = 1.5
#: PyTorch's flag of a tensor whose gradient is computed, which learners bring to micrograd
#: with torch's default: a leaf built as ``Tensor(x)`` then gets no gradient.
OPT_OUT = 'requires_grad'
#: What a network is run through when its instances are not callable (``model(x)``): PyTorch's
#: spelling, which learners bring to micrograd.
FORWARD = ('forward',)


def _defines(cls, dunder, any=any, vars=vars):
    return any(dunder in vars(k) for k in cls.__mro__[:-1])


def runner(cls, next=next, callable=callable, getattr=getattr, FORWARD=FORWARD,
           _defines=_defines):
    """The name of the method that runs ``cls``'s instances on an input: ``__call__`` (the
    lecture's ``model(x)``), else the first of ``FORWARD`` it has, else ``None``.  Run as the
    worker's MLP task starts, so its names are bound (``execute``'s docstring)."""
    if _defines(cls, '__call__'):
        return '__call__'
    return next((name for name in FORWARD if callable(getattr(cls, name, None))), None)


class Found:
    """A class found for a role, and how."""

    def __init__(self, cls, origin, how):
        self.cls, self.origin, self.how = cls, origin, how  # how: name | spelling | shape
        self.similar = {}  # expected method -> the learner's method of a similar name
        self.attributes = {}  # 'data' / 'grad' -> the learner's attribute, where named otherwise

    def info(self):
        return {'name': self.cls.__name__, 'origin': self.origin, 'how': self.how,
                'similar': dict(self.similar), 'attributes': dict(self.attributes)}

    def locate(self, own):
        """Find where this Value keeps its number and gradient (``held``) and keep the names
        that are not the lecture's; the warnings that say so.  A ``LoadError`` with the
        learner's line when no leaf can be built from a number, or the leaf keeps it nowhere.
        ``own``: as in ``learner_frame``."""
        built = f'`{self.cls.__name__}({NUMBER})`'
        try:
            leaf = self.cls(NUMBER)
            names = held(self.cls, leaf)
        except Exception as e:
            frame = learner_frame(e, own)
            at = f' (in {frame[1]}, at {frame[0]})' if frame else ''
            raise LoadError(f'{built} raises {type(e).__name__}: {text(e)}{at}'
                            f'{_no_init(self.cls, self.origin.rpartition(", line ")[0])}. '
                            f'A Value holds one number: the grader builds every input as '
                            f'{self.cls.__name__}(x), x a float, as the lecture does with '
                            f'Value(2.0).') from None
        if names['data'] is None:
            raise LoadError(f'{built} has no attribute `data`, and no attribute of it holds '
                            f"{NUMBER}: the grader reads a Value's number from `.data`.")
        self.attributes = {role: name for role, name in names.items() if name not in (role, None)}
        warnings = [f'{self.cls.__name__} keeps its {WHAT[role]} in `.{name}`, not `.{role}` as '
                    f"the lecture's Value does: graded through `.{name}`."
                    for role, name in self.attributes.items()]
        if _readable(leaf, OPT_OUT) and getattr(leaf, OPT_OUT) is False:
            warnings.append(f'{built} makes a leaf whose `{OPT_OUT}` is False: the grader builds '
                            f'every input as {self.cls.__name__}(x), as the lecture does with '
                            f'Value(2.0), and needs its gradient; an input that does not require '
                            f'grad gets none, so the checks find no gradient reaching the inputs. '
                            f'Make {OPT_OUT}=True the default of {self.cls.__name__}(...).')
        self.attributes.update(driven(self.cls, self.similar))
        return warnings


def find_roles(candidates, names, ours, origin):
    """``{role: Found}``: for each role in ``names`` (role -> class name), the class of that name,
    else one of ``ours`` spelled otherwise, else (Value only) one of ``ours`` with its shape.

    ``candidates``: every class bound in the submission's namespaces, ``(name bound, class)``
    in priority order; ``ours(cls)``: whether the submission defines it; ``origin(cls)``."""
    found = {}
    own = [cls for _, cls in _unique(candidates) if ours(cls)]
    for role, name in names.items():
        exact = [cls for bound, cls in candidates if bound == name]
        spelled = [cls for cls in own if _spelling(cls.__name__) == _spelling(name)] + \
            [cls for cls in own if _initials(cls.__name__) == _spelling(name) != _spelling(cls.__name__)]
        shaped = sorted((c for c in own if role == 'Value' and graded(shape(c))),
                        key=lambda c: -len(shape(c)))
        named = [c for c in exact if ours(c)]
        if role == 'Value' and len(named) > 1:  # of several, one shaped like a Value first:
            named.sort(key=lambda c: not graded(shape(c)))  # a package's stub in __init__.py
            # comes before its engine.py's in import order (tomstagg/nn-zero-to-hero)
        for how, classes in (('name', named), ('spelling', spelled),
                             ('shape', shaped), ('name', exact)):
            if classes:
                found[role] = Found(classes[0], origin(classes[0]), how)
                break
        else:
            continue
        found[role].similar = similar(found[role].cls, EXPECTED.get(role, ()))
        run = runner(found[role].cls) if role == 'MLP' else None  # the network the grader runs
        if run not in ('__call__', None):  # graded through it: said in a load warning
            found[role].similar['__call__'] = run
    return found


def near(candidates, ours):
    """The submission's class most like a Value that was not graded as one, or ``None``."""
    own = [cls for _, cls in _unique(candidates) if ours(cls) and len(shape(cls)) >= 2]
    return max(own, key=lambda c: len(shape(c)), default=None)


def shape(cls):
    """The parts of a Value's shape that ``cls`` has (a subset of ``SHAPE``); a class with
    arithmetic but no ``data`` or ``grad`` to be seen in its code is asked by building a leaf."""
    attrs = _attributes(cls)
    parts = {a for a in ('data', 'grad', '_backward') if a in attrs}
    if any(_defines(cls, d) for d in ('__add__', '__mul__')):
        parts.add('arithmetic')
        if not {'data', 'grad'} <= parts:
            try:
                parts |= {role for role, name in held(cls).items() if name}
            except Exception:  # no leaf to be built: not shaped like a Value
                pass
    if callable(getattr(cls, 'backward', None)) or similar(cls, ('backward',)):
        parts.add('backward')
    return parts


def graded(parts):
    return {'data', 'grad', 'arithmetic'} <= parts and parts & {'backward', '_backward'}


WHAT = {'data': 'number', 'grad': 'gradient'}


def held(cls, leaf=None):
    """``{'data': name, 'grad': name}``: where a leaf ``cls(NUMBER)`` (or ``leaf``, one built so)
    keeps its number (``data``, else the attribute holding ``NUMBER``) and its gradient
    (``grad``, else an attribute named like it, else one holding 0), ``None`` where nothing
    does; raises whatever ``cls(NUMBER)`` raises."""
    leaf = cls(NUMBER) if leaf is None else leaf
    attrs = _instance_attributes(leaf)
    data = 'data' if _readable(leaf, 'data') else next(
        (name for name, v in attrs.items() if holds_number(v, NUMBER)), None)
    numbers = [name for name, v in attrs.items() if name != data and (v is None or holds_number(v))]
    grad = 'grad' if _readable(leaf, 'grad') else next(
        (name for name in numbers if _alike(name, 'grad')), None) or next(
        (name for name in numbers if holds_number(attrs[name], 0.0)), None)
    return {'data': data, 'grad': grad}


def similar(cls, expected):
    """``{name: the class's method of a similar name}`` for each of ``expected`` it lacks."""
    methods = [n for n in dir(cls) if not n.startswith('_') and callable(getattr(cls, n, None))
               and not hasattr(object, n)]
    out = {}
    for name in expected:
        if callable(getattr(cls, name, None)):
            continue
        close = [m for m in methods if m not in expected and _alike(m, name)]
        if close:
            out[name] = max(close, key=lambda m: difflib.SequenceMatcher(
                None, _spelling(m), _spelling(name)).ratio())
    return out


def driven(cls, similar):
    """``{'backward': name}`` of the method named like ``backward`` that the grader calls in its
    place (``backprop()``), or ``{}``: a Value with no ``backward()`` but one such method taking
    no argument is graded through it, as renamed attributes are; the missing name still fails
    ``capability.backward``.  One that takes the topological order (``backprop(topo)``) is
    called with what the Value's own method named for it builds (``make_topo()``):
    ``{'backward': 'backprop', 'topo': 'make_topo'}``."""
    other = similar.get('backward')
    needed = _needed(cls, other)
    if needed == 0:
        return {'backward': other}
    order = [name for name in dir(cls) if not name.startswith('__') and name != other and
             _needed(cls, name) == 0 and any(word in _spelling(name) for word in ORDERS)]
    return {'backward': other, 'topo': order[0]} if needed == 1 and len(order) == 1 else {}


#: Words naming the method that builds the topological order (``build_topo``, ``topo_sort``).
ORDERS = ('topo', 'sort', 'order')


def _needed(cls, name):
    """How many arguments the learner's method ``name`` requires past ``self``; ``None`` when it
    is no plain function of the class."""
    method = getattr(cls, name, None) if name else None
    try:
        signature = inspect.signature(method)
    except (TypeError, ValueError):
        return None
    if not inspect.isfunction(method):
        return None
    return len([p for p in list(signature.parameters.values())[1:] if p.default is p.empty
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)])


def _no_init(cls, file=''):
    """`` (Value defines _init_ (engine.py, line 4), not __init__: ...)`` where the class has no
    constructor of its own but a method named like one (``_init_``, ``init``), else ``''``:
    Python calls ``__init__`` only, so ``Value(1.5)`` takes no arguments."""
    if any('__init__' in vars(k) for k in cls.__mro__[:-1]):
        return ''
    called = _named(cls)
    for k in cls.__mro__[:-1]:
        for name, v in list(vars(k).items()):
            code = getattr(v, '__code__', None)
            if code is not None and _init_like(unmangled(name, k.__name__), code) and \
                    name not in called:  # `value._init(op, inputs)`: a helper it calls itself
                there = f'{file}, line {code.co_firstlineno}' if file and k is cls else \
                    f'line {code.co_firstlineno}'  # a base class's may be in another file
                return (f' ({cls.__name__} defines {name} ({there}), not '
                        f'__init__: Python calls __init__ only)')
    return ''


def _named(cls, limit=200):
    """The attribute names the functions of ``cls`` (and of its bases but ``object``) name, in
    their bodies and those of the functions nested in them."""
    names, stack = set(), []
    for k in cls.__mro__[:-1]:
        for v in list(vars(k).values())[:limit]:
            code = getattr(getattr(v, '__func__', v), '__code__', None)
            if isinstance(code, types.CodeType):
                stack.append(code)
    while stack and len(names) < 10 * limit:
        code = stack.pop()
        names.update(code.co_names)
        stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return names


#: Python's own names of the data model (``__int__``, ``__iter__``): never a constructor misspelt.
_MODEL = frozenset(dir(int)) | frozenset(dir(float)) | frozenset(dir(list)) | frozenset(dir(dict))


def _init_like(name, code):
    """Whether the method ``name`` is a constructor misspelt: ``init`` within its underscores
    (``_init_``, ``init``), or one letter off it, swapped, doubled or dropped (``__inti__``,
    ``__innit__``, ``_int_``), where it takes arguments as a constructor does; never a name of
    Python's own (``__int__``)."""
    stem = name.strip('_')
    if stem == 'init':
        return True
    if name in _MODEL or code.co_argcount < 2 or not 3 <= len(stem) <= 5:
        return False
    word = 'init'
    swapped = any(stem == word[:i] + word[i + 1] + word[i] + word[i + 2:] for i in range(3))
    shorter, longer = sorted((stem, word), key=len)
    one_more = len(longer) == len(shorter) + 1 and any(
        longer[:i] + longer[i + 1:] == shorter for i in range(len(longer)))
    return swapped or one_more


def misspelled(cls):
    """``{the op dunder the class lacks: its method meant as it, as written}`` (``misnamed``)."""
    names = {unmangled(n, k.__name__) for k in cls.__mro__[:-1] for n, v in list(vars(k).items())
             if callable(v)}
    return {d: written for d, written in misnamed(names).items()
            if not callable(getattr(cls, d, None))}


#: Python 2's names of the ops Python 3 renamed (old tutorials still write them).
RENAMED = {'__div__': '__truediv__', '__rdiv__': '__rtruediv__'}


def misnamed(names):
    """``{op dunder not among names: the name among them meant as it}``: the same word with other
    underscores (``__rsub``, ``pow``), the word spelled out (``__power__``, ``__subtract__``) or
    Python 2's (``__div__``).  Python looks up the exact name only, so the op is missing.  The
    grader asks it too, of the methods a report lists (``unmangled``)."""
    wanted = [d for op in TABLE for d in (op.dunder, op.reflected_dunder) if d and d not in names]
    found = {}
    for written in sorted(names):
        stem, dunder = written.strip('_'), written.startswith('__') and written.endswith('__')
        for d in wanted:
            if stem == d.strip('_') or RENAMED.get(written) == d or \
                    dunder and stem.startswith(d.strip('_')):
                found.setdefault(d, written)
    return found


def unmangled(name, owner):
    """A method's name as written in the body of the class named ``owner``: ``__rsub`` is stored
    as ``_Value__rsub``."""
    prefix = f'_{owner.lstrip("_")}__'
    return '__' + name[len(prefix):] if name.startswith(prefix) else name


def nested(cls):
    """The methods a Value needs that its ``__init__`` defines as local functions instead (a
    block indented one level too deep), in the order written."""
    code = getattr(getattr(cls, '__init__', None), '__code__', None)
    wanted = WRITTEN + tuple(d for op in TABLE for d in (op.dunder, op.reflected_dunder) if d) + \
        EXPECTED['Value']
    inner = [c.co_name for c in getattr(code, 'co_consts', ()) if inspect.iscode(c)]
    return [name for name in dict.fromkeys(inner)
            if name in wanted and not callable(getattr(cls, name, None))]


def line_of(cls, name):
    """The line a method is defined on, or ``None``."""
    try:
        return inspect.getsourcelines(getattr(cls, name))[1]
    except (TypeError, OSError, AttributeError):
        return None


def defined_in(source):
    """Class names a piece of source defines, read without running it."""
    return set(re.findall(r'^\s*class\s+([A-Za-z_]\w*)', source or '', re.M))


def written_shapes(source):
    """``{class name: the parts of a Value's shape its code shows}`` (``shape``'s, read without
    running it: ``self.data =``, ``_backward``, ``__add__``/``__mul__``, ``backward``) for the
    classes a module's source defines: a module that failed to run may hold the Value."""
    try:
        tree = ast.parse(source or '')
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return {}
    found = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        defined = {f.name for f in node.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}
        names = {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)} | \
            {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        parts = {a for a in ('data', 'grad', '_backward') if a in names}
        if defined & {'__add__', '__mul__'}:
            parts.add('arithmetic')
        if 'backward' in defined:
            parts.add('backward')
        found[node.name] = parts
    return found


def _alike(method, name):
    m, n = _spelling(method), _spelling(name)
    return m == n or (len(n) >= 4 and m.startswith(n[:4])) or m in SYNONYMS.get(n, ()) or \
        difflib.SequenceMatcher(None, m, n).ratio() >= 0.75


#: Other names of a method the grader calls, as spelled (lower case, no underscores), that no
#: likeness of spelling finds: the natural logarithm is ln.
SYNONYMS = {'log': ('ln',)}


def _spelling(name):
    return name.lower().replace('_', '')


def _initials(name):
    """The initials of a name of several words (``MultiLayerPerceptron``,
    ``multi_layer_perceptron``: ``mlp``), as the role's name may be written out; ``''`` for one
    word."""
    words = re.findall(r'[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+', name)
    return ''.join(w[0] for w in words).lower() if len(words) > 1 else ''


def _attributes(cls):
    """Attribute names a class's instances have: set in its methods, slots, annotations."""
    names = set()
    for k in cls.__mro__[:-1]:
        names |= set(getattr(k, '__annotations__', {}) or {})
        slots = vars(k).get('__slots__', ())
        names |= {slots} if isinstance(slots, str) else set(slots)
        names |= set(vars(k))
        for member in vars(k).values():
            code = getattr(member, '__code__', None)
            if code is not None:
                names |= set(code.co_names)
    return names


def _instance_attributes(obj):
    """``{name: value}`` of an instance's own attributes, in the order they were set, then its
    slots."""
    found = dict(own_attributes(obj))
    for k in type(obj).__mro__[:-1]:
        slots = vars(k).get('__slots__', ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name not in found and _readable(obj, name):
                found[name] = getattr(obj, name)
    return found


def _readable(obj, name):
    try:
        getattr(obj, name)
        return True
    except Exception:
        return False


def _unique(candidates):
    seen = set()
    for bound, cls in candidates:
        if id(cls) not in seen:
            seen.add(id(cls))
            yield bound, cls
