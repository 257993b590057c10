"""Where each node's backward rule was written: the learner's method and line of the function
its ``_backward`` holds, so that a wrong rule is named where it lives (``a - b`` written as
``self + (-other)`` runs the rule of ``__add__``, not of ``__sub__``).

Run while a graph is graded, so bound as ``execute`` is (its docstring): each function's names
are positional defaults."""
import dis

LOCALS = '<locals>'

#: Code objects read so far, by id: a list, not a dict at module level (the worker's guard takes a
#: module's dicts for tables that must not change).
_READ, READ_MAX = [{}], 4096


def _changed(code, list=list, next=next, zip=zip, len=len, id=id, Exception=Exception,
             instructions=dis.get_instructions, read=_READ[0], READ_MAX=READ_MAX):
    """The line of the rule a learner must change: its first plain store to an attribute
    (``self.grad = ...``, where ``+=`` was meant), else the one in-place add to a gradient of a
    rule that has one (a unary op's ``self.grad += ...``: its derivative), else ``None`` (its
    ``def``; ``x.grad += ...`` stores after a ``SWAP``).  Read once per code object (every node of an
    op shares its rule's code; disassembling each cost a 200-graph corpus ~40 ms), kept by
    identity with the code held, never hashed: a code object hashes its constants."""
    held = read.get(id(code))
    if held is not None and held[0] is code:
        return held[1]
    try:
        steps = list(instructions(code))
    except Exception:
        return None
    stores = [(before.opname == 'SWAP', store.argval, store.positions.lineno)
              for before, store in zip(steps, steps[1:]) if store.opname == 'STORE_ATTR'
              and store.positions and store.positions.lineno]
    added = [at for swap, name, at in stores if swap and 'grad' in name.lower()]
    line = next((at for swap, _, at in stores if not swap), None) or \
        (added[0] if len(added) == 1 else None)
    if len(read) < READ_MAX:
        read[id(code)] = (code, line)
    return line


def origin(rule, own, classes=(), getattr=getattr, isinstance=isinstance, str=str, LOCALS=LOCALS,
           _changed=_changed, all=all, len=len):
    """``[method, line]`` of a ``_backward`` (a closure in ``Value.__add__`` gives ``__add__``),
    or ``None`` when it is not a function of the learner's, or not in a method with a name
    (a lambda at module level; the grader takes only identifiers and a line).  A method of
    another class than the node's own and its bases (``classes``: their names), an operator
    class's (``Add()(self, other)``: the rule in ``Add.__call__``), is named with its class."""
    function = getattr(rule, '__func__', rule)  # a bound method: its function
    code = getattr(function, '__code__', None)
    qualname = getattr(function, '__qualname__', None)
    if code is None or not isinstance(qualname, str) or own(code.co_filename) is None:
        return None
    parts = qualname.split('.')
    at = parts.index(LOCALS) - 1 if LOCALS in parts else len(parts) - 1
    method = parts[at]
    if at >= 1 and classes and parts[at - 1] not in classes:
        method = f'{parts[at - 1]}.{method}'
    line = _changed(code) or code.co_firstlineno
    return [method, line] if all(p.isidentifier() for p in method.split('.')) and line >= 1 \
        else None


def attribute(v, name, getattr=getattr, BaseException=BaseException):
    """``v``'s attribute ``name``, or ``None``: also where the learner's ``__getattr__`` raises
    another error than ``AttributeError`` for one it does not have (``return self.__dict__[name]``
    raises ``KeyError``, on a leaf that keeps no rule), which ended the worker on every graph
    (a correct engine scored 0/51)."""
    try:
        return getattr(v, name, None)
    except BaseException:
        return None


def origins(vals, own, name='_backward', origin=origin, attribute=attribute, type=type,
            getattr=getattr, frozenset=frozenset, isinstance=isinstance, str=str, tuple=tuple):
    """Each entry's rule origin (``None`` where there is none of the learner's); ``name``: the
    attribute the ops keep the rule in (``execute.rule_attribute``)."""
    found = []
    for v in vals:
        mro = getattr(type(v), '__mro__', ())
        classes = frozenset(getattr(c, '__name__', None) for c in mro if isinstance(c, type)) \
            if isinstance(mro, tuple) else frozenset()
        found.append(origin(attribute(v, name), own, frozenset(
            c for c in classes if isinstance(c, str))))
    return found
