"""Compare a submission's result with the oracle's, and name the misconception behind a mismatch.

A mismatch is explained from first principles, not matched against known submissions:

* a wrong value is traced to the first node whose operands are right but whose value is not,
  and a reflected op is checked against the value with its operands swapped;
* wrong gradients are replayed under models of the classic mistakes (gradient assigned instead of
  accumulated, upstream gradient ignored, non-topological visit orders, root not seeded), built
  from the reference engine's local derivatives of the very same graph (torch's rules, with no
  torch to import); a model that reproduces the submission's gradients names the mistake;
* an instrumented call order of ``_backward`` that is not reverse topological is shown as the two
  nodes that ran in the wrong order;
* otherwise the op whose operand's gradient is wrong while its own is right is the culprit.
"""
import contextvars
import math
import re
import struct
from dataclasses import dataclass, replace

from micrograde import reference
from micrograde.model.compare import ATOL, RTOL, classify, close, show
from micrograde.model.graph import Graph
from micrograde.model.results import Code, Misconception
from micrograde.oracle.oracles import run_reference
from micrograde.worker.execute import apply
from micrograde.worker.ops import FORMS, OPS


@dataclass
class Mismatch:
    """The first disagreement between a submission's result and the expected one."""
    kind: str  # 'error' | 'value' | 'grad'
    entry: int | None
    expected: object = None
    actual: object = None
    message: str = ''


@dataclass(frozen=True)
class Diagnosis:
    """A misconception found in one graph: its code, the sentence rendered for it, the op whose
    rule it is in (``''`` for backward() itself) and the entry it was found at (whose rule the
    worker saw run, to say in which method the rule lives)."""
    code: Code
    text: str
    op: str = ''
    entry: int | None = None
    raised: tuple = ()  # (the learner's function, line, file) an exception was raised at

    def __str__(self):
        return self.text


def learner_method(capability):
    """The learner's method a capability calls (``radd`` -> ``__radd__``, ``exp`` -> ``exp``)."""
    if capability not in FORMS:
        return 'backward' if capability == 'backward' else None
    op, _, left = FORMS[capability]
    return op.name if op.method else op.reflected_dunder if left else op.dunder


def misconception(found, graph, actual, trusted=frozenset()):
    """The ``Misconception`` of a diagnosis, located: backward() for a walk's; for a rule, the
    method whose ``_backward`` the worker saw run at its entry (``a - b`` written as
    ``self + (-other)`` runs ``__add__``'s) and that rule's line; else the method its op is
    called through.  The do-nothing rule every Value gets in ``__init__`` is a missing rule: the
    op's method is named; a rule seen in a correct op's method (``trusted``) is not the wrong
    one (``a / b`` as ``a * b**-1`` runs ``__mul__``'s): no method is named."""
    if found.code in WALK:
        return Misconception(found.code, method='backward')
    if found.raised:  # where it was raised: `selff` in __neg__ breaks `a - b` there too
        function, line, file = found.raised
        return Misconception(found.code, METHOD_OPS.get(function, found.op), function,
                             file=file or '', line=line)
    if found.code in INIT:  # how every Value is made, not one op
        return Misconception(found.code, method='__init__')
    if found.code == Code.MERGED:  # how Values are hashed, not one op
        return Misconception(found.code, method='__hash__')
    rules = actual.rules or ()
    rule = rules[found.entry] if found.entry is not None and found.entry < len(rules) else None
    if rule and found.code not in ELSEWHERE and rule[0] != '__init__':
        if METHOD_OPS.get(rule[0]) in trusted:  # a correct rule ran: the wrong one is hidden
            return Misconception(found.code, found.op)
        error = actual.error
        # raised in the rule itself (a closure `_backward`): its line, where a rule of several
        # lines that add to gradients is placed at its `def`
        raised = found.code == Code.EXCEPTION and error is not None and error.stage == \
            'backward' and error.function == RULE and not error.owner and error.line
        return Misconception(found.code, found.op, rule[0], line=error.line if raised else rule[1])
    node = graph.node(found.entry) if found.entry is not None else None
    method = learner_method(node.capability) if node is not None else \
        rule[0] if rule and found.code == Code.RULE_ON_OPERAND else ''  # an input holds it
    return Misconception(found.code, found.op, method or '')


#: The name a rule's function has in the lecture and most engines: a closure in the op's method.
RULE = '_backward'

#: The learner's method -> the op it implements.
METHOD_OPS = {learner_method(cap): op.name for cap, (op, _, _) in FORMS.items()}

#: Misconceptions of how every Value is made (its ``__init__``), not of one op.
INIT = frozenset({Code.SINGLE_PRECISION, Code.NONZERO_START})

#: Misconceptions of a forward value: where the op is called, not where a rule was written.
VALUES = frozenset({Code.WRONG_VALUE, Code.REFLECTED_SWAPPED, Code.OPERANDS_SWAPPED,
                    Code.SINGLE_PRECISION, Code.INPUT_CHANGED})

#: Misconceptions whose fault is not the rule seen at the entry: a value's (where the op is
#: called), and a rule stored on the operand (the entry then holds another op's rule, or none;
#: the method's own line that stores it, ``rule_on_self`` in its class report, is the place).
ELSEWHERE = VALUES | {Code.RULE_ON_OPERAND}

#: The misconceptions of backward() itself, not of an op's rule.
WALK = frozenset({Code.NOT_SEEDED, Code.BODY_INDENTED, Code.NOT_TOPOLOGICAL, Code.REPEATED,
                  Code.SHADOWED,                  Code.VISITED_FLAG, Code.ORDER_DEPENDENT})


def first_mismatch(graph, actual, expected):
    """The first wrong thing in ``actual``: an exception, a value, then a gradient."""
    if actual.error:
        return Mismatch('error', actual.error.node, message=describe_error(graph, actual.error))
    live = graph.live()
    for i in live:
        if not close(actual.values[i], expected.values[i]):
            return Mismatch('value', i, expected.values[i], actual.values[i])
    for i in reversed(live):
        if not close(actual.grads[i], expected.grads[i]):
            return Mismatch('grad', i, expected.grads[i], actual.grads[i])
    return None


def describe_error(graph, error):
    where = ''
    if error.stage == 'forward' and error.node is not None:
        where = f' computing `{graph.name(error.node)} = {graph.expression(error.node)}`'
    elif error.stage == 'backward':
        where = ' in backward()'
    elif error.stage == 'leaf' and error.node is not None:
        name, x = graph.inputs[error.node]
        where = f' building the input `{name} = Value({x!r})`'
    elif error.lost:
        return f"the check could not finish: {error.message.removeprefix('not run: ')}"
    text = f'{error.type}{where}: {error.message}'.strip().rstrip(':')
    if error.where:
        text += f' (at {error.where})'
    if error.type == 'RecursionError' and error.stage == 'forward':
        op = OPS.get(METHOD_OPS.get(error.function or ''))
        if op is not None and op.symbol and op.dunder == error.function and op.name != 'neg':
            # `Value(self**other)` in __pow__: its operator on the Value is __pow__ again
            text += (f' (does {op.dunder} apply `{op.symbol}` to the Value itself (`self '
                     f'{op.symbol} other`, where `self.data {op.symbol} other` was meant)?)')
        else:
            text += ' (does a reflected op such as __radd__ call itself, e.g. `return other + self`?)'
    if RETURNED_NONE in error.message:
        text += ' (does the method end without `return out`?)'
    return text


def explain(graph, actual, expected, mismatch, order=None, trusted=frozenset(),
            suspects=frozenset()):
    """The misconception behind a mismatch, as a ``Diagnosis``: what is wrong, and where.
    ``trusted``: ops whose own checks pass, never named as the culprit of another graph;
    ``suspects``: ops earlier findings named, tried first where models tie (`u + 2.0` then
    `* k` reads the same with either op ignoring out.grad)."""
    if mismatch.kind == 'error':
        error = actual.error
        entry = error.node if error.stage == 'forward' else \
            actual.order[-1] if error.stage == 'backward' and actual.order else None
        node = graph.node(entry) if entry is not None and entry >= len(graph.inputs) else None
        forward = node is not None and error.stage == 'forward'
        # raised computing a value, or in backward() before any rule ran (a walk that applies
        # the rules itself, by each node's `_op`: no rule of an op ran, backward()'s line did)
        alone = error.stage == 'backward' and not actual.order
        raised = (error.function, error.line, error.file) if (forward or alone) and \
            error.function else ()
        signature = signature_of(error) if forward else None
        if signature is not None:  # `def __neg__(self, other)`: Python calls it with one operand
            raised = (signature, None, '')
        walk = called_with(error) if alone else None
        if walk is not None:  # `def backward(self, nin)`: refused before any line of it ran
            return Diagnosis(Code.EXCEPTION, f'{mismatch.message} ({walk}() takes no argument but '
                             f'self: the grader calls it as the lecture does, `out.{walk}()`, '
                             f'as a training loop calls `loss.{walk}()`)', '', entry, (walk, None, ''))
        lacking = missing_form(error) if forward else None  # `-1 * other`: no __rmul__
        if lacking is not None and lacking[0].name != node.op:
            return Diagnosis(Code.MISSING_OP, f'{OPS[node.op].display} uses `{lacking[0].symbol}`, '
                             f'which the Value does not define for these operands '
                             f'{lacks(lacking[1])}: {mismatch.message}', node.op, entry, raised)
        text = mismatch.message
        lacking = missing_form(error) if error.stage == 'backward' else None
        if lacking is not None:  # a rule computing with Values: `1 - out**2` needs __rsub__
            text += f' (the Value has no {lacking[1]})'
        return Diagnosis(Code.EXCEPTION, text, node.op if node else '', entry, raised)
    if mismatch.kind == 'value':
        gross = _gross(graph, actual, expected) if \
            single_precision(mismatch.actual, mismatch.expected) else None
        if gross is not None:  # float32, and a wrong value beyond it: that one is the bug here
            return _explain_value(graph, gross, rtol=FLOAT32_RTOL)
        unnumbered = _unnumbered(graph, actual) if \
            single_precision(mismatch.actual, mismatch.expected) else None
        if unnumbered is not None:  # float32 values, and no gradient at all: that is the bug
            return _explain_grad(graph, actual, expected, unnumbered, order, trusted, suspects)
        held = _held(graph, actual, mismatch)
        if held is not None:  # no input's .data is a number, from the start
            return held
        rounded, beyond = past_float32(graph, actual, expected, mismatch)
        if beyond is not None and beyond.kind == 'grad':  # float32, and a gradient beyond it
            held = _MODELS.set((FLOAT32_RTOL, FLOAT32_ATOL))  # the models' numbers are float64's
            try:
                return _explain_grad(graph, rounded, expected, beyond, order, trusted, suspects)
            finally:
                _MODELS.reset(held)
        return _explain_value(graph, mismatch)
    return _explain_grad(graph, actual, expected, mismatch, order, trusted, suspects)


#: Python's words for a method called with the wrong number of operands: its signature.
SIGNATURE = re.compile(r"^(?:\w+\.)*(?P<method>__\w+__)\(\) (?:missing \d+ required positional "
                       r"argument|takes \d+ positional arguments? but \d+ (?:was|were) given)")


def signature_of(error):
    """The learner's op dunder whose own signature a ``TypeError`` refuses (``Value.__neg__()
    missing 1 required positional argument: 'other'`` where `-other` called it): Python's operator
    calls it with the operands it has, so the method's ``def`` is the bug, not the line that used
    the operator; ``None`` otherwise, or where that line calls the method by name itself."""
    found = SIGNATURE.match(error.message or '') if error.type == 'TypeError' else None
    if found is None or found['method'] not in METHOD_OPS or f"{found['method']}(" in error.where:
        return None
    return found['method']


#: Python's words for a call that lacks an argument the method's ``def`` asks for.
MISSING_ARGUMENT = re.compile(r"^(?:\w+\.)*(?P<method>\w+)\(\) missing \d+ required (?:positional|"
                              r"keyword-only) arguments?: ")


def called_with(error, walk='backward'):
    """The learner's method backward() is graded through, when a ``TypeError`` raised calling
    it says its ``def`` asks for an argument (``def backward(self, nin)``: ``Tensor.backward()
    missing 1 required positional argument: 'nin'``), raised where no line of the learner's ran:
    in a graph's backward stage, or named ``walk`` (an MLP's ``loss.backward()``); ``None``
    otherwise."""
    found = MISSING_ARGUMENT.match(error.message or '') if error.type == 'TypeError' and \
        not error.where else None
    if found is None or found['method'].startswith('_'):
        return None
    return found['method'] if error.stage == 'backward' or found['method'] == walk else None


def lacks(dunder, note=''):
    """How a finding says the Value has no ``dunder``; ``note``: the method meant as it, where
    ``causes`` finds one."""
    return f'(no {dunder}; {note})' if note else f'(no {dunder})'


#: Python's own words for an operator no operand defines: ``a ** -1`` with no ``__pow__``.
UNSUPPORTED = re.compile(r"^(?:unsupported operand type\(s\) for (?P<binary>\*\*|[-+*/]|//)"
                         r"(?: or pow\(\))?|bad operand type for unary (?P<unary>-)): ")
#: The op each of those symbols is, binary or prefix.
SYMBOLS = {(op.symbol, op.arity): op for op in OPS.values() if op.symbol}


def _lacking(error):
    """The op a ``TypeError`` says no operand defines (Python's own message), or ``None``.  Not
    where an operand is ``None`` (``self.data * other.data`` on a None an op returned): the Value
    defines the operator, the None is the bug."""
    found = UNSUPPORTED.match(error.message or '') if error.type == 'TypeError' else None
    if found is None or NONE_OPERAND in error.message[found.end():]:
        return None
    return SYMBOLS.get((found['binary'], 2) if found['binary'] else (found['unary'], 1))


#: What the worker says of an op that returned ``None`` (its ``NotAValue``).
RETURNED_NONE = 'the op returned NoneType None'
#: Python's name of ``None`` as an operand it refused.
NONE_OPERAND = "'NoneType'"
#: Python's name of a plain number on the left of an operator it refused (``sum()`` starts at 0).
NUMBER_TYPES = ("'int'", "'float'")


def missing_form(error):
    """``(op, the learner's method to write)`` when a ``TypeError`` says no operand defines an
    operator: ``0 + v`` (``sum()`` of Values) lacks ``__radd__``; else ``None``."""
    op = _lacking(error)
    if op is None:
        return None
    operands = error.message.partition(': ')[2]
    left = op.reflected_dunder and operands.startswith(NUMBER_TYPES)
    return op, op.reflected_dunder if left else op.dunder


#: How close a number stored in 32 bits comes to the same number in 64: a few float32 ulps.
FLOAT32 = 1e-6
#: How close a value computed in float32 comes to float64's: its rounding, summed over a graph.
FLOAT32_RTOL = 1e-5
FLOAT32_MAX = 3.4028234663852886e38


def _gross(graph, actual, expected):
    """The first value of ``actual`` wrong beyond float32's rounding, as a ``Mismatch``; ``None``
    when every value is right to float32 precision.  A Value that stores float32 is one bug,
    seen first at any input float32 does not hold (at one seed, not another): a swapped `2.0 - a`
    behind it is another, found at every seed."""
    for i in graph.live():
        if not close(actual.values[i], expected.values[i], rtol=FLOAT32_RTOL):
            return Mismatch('value', i, expected.values[i], actual.values[i])
    return None


#: How far float32's rounding takes a number, values and gradients alike, summed over a graph:
#: ``FLOAT32_RTOL`` relative, and this much absolute where a result cancels towards 0 (a
#: saturated tanh's ``1 - t**2`` from a ``t`` held in float32).
FLOAT32_ATOL = 1e-6


def past_float32(graph, actual, expected, mismatch):
    """``(actual, mismatch)``, unless ``mismatch`` is a value only rounded to float32 (the Value's
    storage, a root of its own): then ``actual`` with every value and gradient that float32's
    rounding explains set to the expected one, and that run's first mismatch (``None``: nothing
    is wrong beyond the rounding).  Float32 rounds the inputs of one seed and not another's: what
    the rules and the walk did must read the same at both (redyaung/smallgrad's float32 Value
    walks each path again: seen at seed 0, where the inputs are float32's, and hidden behind
    the rounding at seed 7)."""
    if mismatch is None or mismatch.kind != 'value' or \
            not single_precision(mismatch.actual, mismatch.expected):
        return actual, mismatch
    def rounded(xs, ys):
        return [y if close(x, y, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL) else x
                for x, y in zip(xs, ys)]
    snapped = replace(actual, values=rounded(actual.values, expected.values),
                      grads=rounded(actual.grads, expected.grads))
    return snapped, first_mismatch(graph, snapped, expected)


def _unnumbered(graph, actual):
    """The last live entry whose gradient is no number at all (``None`` where a leaf's
    ``requires_grad`` is False and backward() returns at once), as a ``Mismatch``; ``None``
    when every gradient is a number.  Values right to float32 precision say how the Value
    stores its number; a gradient that is not a number is another bug, seen at every seed,
    where float32's rounding shows at one seed's inputs (nptorch: 26/51 at seed 0, 27 at 7)."""
    for i in reversed(graph.live()):
        if actual.grads and classify(actual.grads[i]).startswith(NOT_A_NUMBER):
            return Mismatch('grad', i, None, actual.grads[i])
    return None


def _held(graph, actual, m):
    """A diagnosis where no input's ``.data`` is a number, each an object of one kind
    (picograd's ``Value.data`` is a ``DistributedTensor`` around a numpy array): how the Value
    keeps its number, at ``__init__``, where the one input an op changed (``self.data = ...``
    in a method) is that op's; ``None`` otherwise."""
    n = len(graph.inputs)
    kinds = {classify(actual.values[i]) for i in range(min(n, len(actual.values)))}
    kind = next(iter(kinds)) if len(kinds) == 1 else ''
    if m.entry is None or m.entry >= n or not kind.startswith(NOT_A_NUMBER):
        return None
    name, x = graph.inputs[m.entry]
    held = kind[len(NOT_A_NUMBER):].strip(' ()')
    return Diagnosis(Code.INPUT_CHANGED, f'`{name} = Value({x!r})` holds a {held} in .data, not '
                     f'a number, and so does every input: the grader reads a Value\'s number '
                     f'from .data (a float, as the lecture\'s `self.data = data`); does __init__ '
                     f'wrap the number in another object?', raised=('__init__', None, ''))


def _explain_value(graph, m, rtol=RTOL):
    """A wrong value's diagnosis; ``rtol``: how close a value must come to another's to be it
    (float32's rounding, for a Value that stores float32)."""
    node = graph.node(m.entry)
    if rtol == RTOL and single_precision(m.actual, m.expected):
        what = graph.name(m.entry) if node is None else graph.expression(m.entry)
        return Diagnosis(Code.SINGLE_PRECISION, f'values are right to about 7 digits only, as '
                         f'32-bit floats hold them (`{what}` is {show(m.actual)}, expected '
                         f'{show(m.expected)}): does the Value store float32 (numpy), not a '
                         f'Python float? The grader checks to float64 precision.')
    if node is None:
        return Diagnosis(Code.INPUT_CHANGED, f'the input {graph.name(m.entry)} changed its value '
                                             f'to {show(m.actual)}.')
    expr = graph.expression(m.entry)
    op = OPS[node.op]
    swapped = _swapped(node)
    if swapped is not None and op.symbol:  # does the value match its operands swapped?
        other = Graph(graph.inputs, graph.nodes[:m.entry - len(graph.inputs)] + (swapped,),
                      m.entry, graph.names)
        alt = run_reference(other)
        if not alt.error and close(m.actual, alt.values[m.entry], rtol=rtol):
            code, method = (Code.REFLECTED_SWAPPED, op.reflected_dunder) if node.left else \
                (Code.OPERANDS_SWAPPED, op.dunder)
            reflected = 'the reflected op' if node.left else op.display
            first, second = ('other', 'self') if node.left else ('self', 'other')
            return Diagnosis(code, f'{reflected} computes the operands in the wrong order: '
                             f'`{expr}` gave {show(m.actual)}, the value of '
                             f'`{other.expression(m.entry)}`; {method}(self, other) must '
                             f'compute {first} {op.symbol} {second}.', node.op, m.entry)
    return Diagnosis(Code.WRONG_VALUE, f'the forward value of {op.display} is wrong: `{expr}` '
                     f'gave {show(m.actual)}, expected {show(m.expected)}{_epsilon(node, m)}.',
                     node.op, m.entry)


def _epsilon(node, m):
    """Why a log is a hair off, where it is the log of its input plus a small round number
    (Surydevx's `math.log(x + 1e-8)`, kept from a loss's guard against log(0)); else ``''``."""
    if node.op != 'log' or not isinstance(m.actual, float) or not isinstance(m.expected, float):
        return ''
    try:
        x = math.exp(m.expected)
        eps = float(f'{math.exp(m.actual) - x:.0e}')
        guarded = 0 < abs(eps) <= 1e-3 * max(1.0, x) and close(math.log(x + eps), m.actual)
    except (OverflowError, ValueError):
        return ''
    return f', the log of its input plus {eps:g}: log(x) is torch\'s, with no epsilon (a guard ' \
           f'against log(0) belongs where a loss calls it, if anywhere)' if guarded else ''


def _swapped(node):
    """``node`` with its two operands the other way round (``b / a`` for ``a / b``, ``4.0 / a``
    for ``a / 4.0`` and back), or ``None``: one operand, or one Value twice."""
    if node.const is not None and len(node.args) == 1:
        return replace(node, left=not node.left)
    if node.const is None and len(node.args) == 2 and node.args[0] != node.args[1]:
        return replace(node, args=node.args[::-1])
    return None


def float32(numbers):
    """Whether every one of ``numbers`` is a float a 32-bit float holds, some of them with more
    than 16 bits after the point: values computed in float32 (numpy's), where a float64 engine's
    all are only by chance (~2**-29 each), or where they are round numbers (0, 1, 4.0: a
    saturated tanh, a network that outputs nothing)."""
    return all(type(x) is float and abs(x) <= FLOAT32_MAX and
               struct.unpack('f', struct.pack('f', x))[0] == x for x in numbers) and \
        any(math.isfinite(x) and (x * 65536) % 1 for x in numbers)


def single_precision(actual, expected):
    """Whether ``actual`` is ``expected`` rounded to a 32-bit float (and not exactly it): close,
    and a number float32 holds (a clamp's sigmoid(20) for sigmoid(21) is close, and is not)."""
    if not isinstance(actual, float) or not isinstance(expected, float) or actual == expected:
        return False
    return (abs(actual - expected) <= FLOAT32 * max(abs(expected), 1e-30) and
            abs(actual) <= FLOAT32_MAX and struct.unpack('f', struct.pack('f', actual))[0] == actual)


# --- gradients --------------------------------------------------------------------------------

def local_derivatives(graph, values):
    """``{entry: [d entry / d operand, ...]}`` for every node, from the reference engine at the
    given values."""
    out = {}
    for k, node in enumerate(graph.nodes):
        i = len(graph.inputs) + k
        # one leaf per operand position, so `a + a` has partials (1, 1), not one of 2
        leaves = [reference.Value(float(values[a])) for a in node.args]
        d = node.to_dict()
        d['args'] = list(range(len(node.args)))
        try:
            apply(d, leaves).backward()
            out[i] = [leaf.grad for leaf in leaves]
        except (ArithmeticError, ValueError, TypeError):
            out[i] = [math.nan] * len(leaves)
    return out


def visit_orders(graph):
    """Node visit orders of correct and classic wrong ``backward`` implementations."""
    n, out = len(graph.inputs), graph.output
    topo = [i for i in graph.live() if i >= n]
    orders = {'reverse topological': list(reversed(topo)), 'forward (list not reversed)': topo}
    bfs, seen, queue = [], {out}, [out]
    while queue:
        v = queue.pop(0)
        bfs.append(v)
        for c in dict.fromkeys(graph.node(v).args) if v >= n else ():
            if c >= n and c not in seen:
                seen.add(c)
                queue.append(c)
    orders['breadth-first'] = bfs
    pre, stack, seen = [], [out], set()
    while stack:
        v = stack.pop()
        if v in seen or v < n:
            continue
        seen.add(v)
        pre.append(v)
        stack.extend(reversed(list(dict.fromkeys(graph.node(v).args))))
    orders['depth-first pre-order'] = pre
    orders['recursive per-node (no visited set)'] = _recursive(graph, out)
    # each _backward also calls its operands' (recursively), and the loop calls them all again
    calls = []
    for v in reversed(topo):
        calls += _recursive(graph, v, limit=LIMIT - len(calls))
    orders['each _backward also calling its operands\', then the loop again'] = calls
    return orders


LIMIT = 10_000  # rules run by a modelled walk: it may repeat exponentially often


def _recursive(graph, v, limit=LIMIT):
    """The local rules run, in order, by calling ``v``'s _backward when each _backward also
    calls its operands' (with no visited set), at most ``limit``.  A loop, not recursion: the
    graphs include a 5000-node chain."""
    n, calls, stack = len(graph.inputs), [], [v]
    while stack and len(calls) < limit:
        v = stack.pop()
        if v >= n:
            calls.append(v)
            stack.extend(reversed(list(dict.fromkeys(graph.node(v).args))))
    return calls


def propagate(graph, local, order, overwrite=(), no_upstream=(), zero=(), misplaced=(),
              by_grad=(), repeated=(), added=(), starts=None):
    """Gradients from running each node's local rule in ``order``, micrograd style, each entry's
    gradient added to its ``starts`` (0 where not given; the output's seeded with 1); ops in
    ``zero`` propagate nothing; ops in ``added`` add the upstream gradient to the local
    derivative where the chain rule multiplies (``1.0 + out.grad``); ops in ``repeated`` assign
    their operand its whole gradient where both operands are one Value (``self.grad = 2 *
    self.data * out.grad`` for ``a * a``, a case written apart); ops in ``by_grad`` (binary)
    multiply by the other operand's gradient as it stands, not its value; ops in ``misplaced``
    store their rule on their first operand (``self._backward = ...``), where it replaces that
    operand's own rule and runs at its turn (a leaf's turn comes after every node's)."""
    hosted = {}  # entry -> the node whose rule runs when that entry's _backward is called
    for i in range(len(graph.inputs), graph.size):
        node = graph.node(i)
        if node.op in misplaced:
            hosted[node.args[0]] = i
        elif i not in hosted:
            hosted[i] = i
    grads = list(starts) if starts else [0.0] * graph.size
    grads[graph.output] = 1.0
    for host in list(order) + [j for j in range(len(graph.inputs)) if j in hosted]:
        if host not in hosted:
            continue
        i = hosted[host]
        node = graph.node(i)
        if node.op in zero:
            continue
        if node.op in repeated and _repeats(node):
            grads[node.args[0]] = sum(local[i]) * grads[i]
            continue
        for j, arg in enumerate(node.args):
            if node.op in by_grad:  # a number's operand (`a * 2.0`) is a Value of grad 0
                factor = grads[node.args[1 - j]] if len(node.args) == 2 else 0.0
            else:
                factor = local[i][j]
            contribution = factor + grads[i] if node.op in added else \
                factor * (1.0 if node.op in no_upstream else grads[i])
            if node.op in overwrite:
                grads[arg] = contribution
            else:
                grads[arg] += contribution
    return grads


def _started(graph, actual, local, correct):
    """A ``NONZERO_START`` diagnosis where every rule is right but gradients are added to what
    each Value's grad held before backward() (``actual.starts``, read by an instrumented run),
    which is not 0: ``self.grad = 1`` in ``__init__`` is one bug, not a wrong rule in every op."""
    starts = actual.starts
    live = [i for i in graph.live() if i != graph.output]
    if not starts or any(type(starts[i]) not in (int, float) for i in live) or \
            all(starts[i] == 0 for i in live):
        return None
    if not _matches(graph, actual.grads, propagate(graph, local, correct, starts=starts), every=True):
        return None
    first = next(i for i in live if starts[i] != 0)
    return Diagnosis(Code.NONZERO_START, f'every rule is right, but a gradient does not start '
                     f'at 0: `{graph.name(first)}.grad` was {show(starts[first])} before '
                     f'backward(), which adds each gradient to it. A new Value\'s grad must be 0 '
                     f'(`self.grad = 0.0` in __init__); backward() seeds the output\'s with 1.')


#: How close an engine's gradients must come to a model's (``(rtol, atol)``): float64's, or
#: float32's while a Value that stores float32 is explained (``past_float32``).
_MODELS = contextvars.ContextVar('models', default=(RTOL, ATOL))


def _matches(graph, actual, model, every=False):
    """Whether a model's gradients are the engine's: the leaves' (the inputs' gradients are what
    a learner reads), or with ``every`` those of every live entry."""
    rtol, atol = _MODELS.get()
    return all(close(actual[i], model[i], rtol=rtol, atol=atol)
               for i in graph.live() if every or i < len(graph.inputs))


def _explain_grad(graph, actual, expected, m, order, trusted=frozenset(), suspects=frozenset()):
    grads = actual.grads
    out = graph.output
    if actual.shadowed:
        return Diagnosis(Code.SHADOWED, SHADOWED[actual.shadowed])
    if not close(grads[out], 1.0) and all(close(g, 0.0) for g in grads):
        return Diagnosis(Code.NOT_SEEDED, UNSEEDED)
    kind = classify(grads[out])
    if kind == f'{NOT_A_NUMBER} (method)':  # `def grad(self): return sum(self._grad)`
        return Diagnosis(Code.NOT_SEEDED, 'every .grad is a method (`v.grad()` computes it), '
                         'not a number: the grader reads a gradient as the attribute itself, as '
                         'the lecture\'s `self.grad = 0.0` that each rule adds to and backward() '
                         'seeds with 1 (keep the gradient in `.grad`, or name the method '
                         'otherwise).')
    if kind.startswith(NOT_A_NUMBER) and kind != NONE:  # seeded, with an object of its own
        return Diagnosis(Code.NOT_SEEDED, f'the output\'s grad is {show(grads[out])}, not the '
                         f'number 1: backward() seeds it (and keeps gradients) as objects, where '
                         f'the grader reads every .grad as a number (a float, as the lecture\'s '
                         f'`self.grad = 1.0`).')
    unread = [i for i in graph.live() if i >= len(graph.inputs) and
              classify(grads[i]).startswith('exception')]
    if out in unread and all(close(grads[i], expected.grads[i]) for i in range(len(graph.inputs))):
        # `class Branch` for what an op returns, with a backward(g) and no grad: the inputs'
        # gradients are right, and no node's own can be read
        error = classify(grads[out])[len('exception'):].strip(' ()')
        names = ', '.join(f'`{graph.name(i)}.grad`' for i in unread)
        return Diagnosis(Code.NOT_SEEDED, f'the inputs\' gradients are right, but {names} could '
                         f'not be read ({error}): the Values an op returns keep no grad. The '
                         f'grader reads every node\'s gradient, the output\'s seeded with 1, as '
                         f'torch\'s retain_grad() and the lecture\'s Value (one class, with '
                         f'`self.grad = 0.0`, for inputs and results alike).')
    if not close(grads[out], 1.0):
        return Diagnosis(Code.NOT_SEEDED, f'backward() left the output\'s own grad at '
                         f'{show(grads[out])}; it must seed it with 1.')
    rounded = _rounded_grads(graph, grads, expected.grads)
    if rounded is not None:  # every gradient float32's rounding of the right one
        return Diagnosis(Code.SINGLE_PRECISION, f'gradients are right to about 7 digits only, as '
                         f'32-bit floats hold them (`{graph.name(rounded)}.grad` is '
                         f'{show(grads[rounded])}, expected {show(expected.grads[rounded])}): does '
                         f'the Value keep its grad in float32 (numpy), not a Python float? The '
                         f'grader checks to float64 precision.')
    local = local_derivatives(graph, expected.values)
    orders = visit_orders(graph)
    correct = orders['reverse topological']
    found = _started(graph, actual, local, correct)
    if found:
        return found
    ops = sorted({graph.node(i).op for i in correct} - trusted, key=lambda op: (op not in suspects, op))
    if order is not None:
        clash = topological_violation(graph, order, actual.merged, actual.unheld, actual.unrun)
        if clash:
            return clash
    found = _merged(graph, grads, local, correct, actual.merged)
    if found:
        return found
    # one op's rule first: a model of every op at once names no method
    models = [(Code.ASSIGNED, op, f'{OPS[op].display}\'s backward: the gradient is assigned instead '
               f'of accumulated (`grad = ...` where it must be `grad += ...`)', dict(overwrite={op}))
              for op in ops]
    models += [(Code.NO_UPSTREAM, op, f'{OPS[op].display}\'s backward ignores the upstream '
                f'gradient: the local derivative must be multiplied by out.grad',
                dict(no_upstream={op})) for op in ops]
    models += [(Code.ASSIGNED, op, f'{OPS[op].display}\'s backward assigns the gradient where '
                f'both operands are one Value (`{graph.expression(_entry_of(graph, op, True))}`): '
                f'`grad = ...` there must be `grad += ...`, or the gradient the Value got from '
                f'its other uses is lost', dict(repeated={op}))
               for op in ops if _entry_of(graph, op, True) is not None]
    if len(ops) > 1:
        models.append((Code.ASSIGNED, '', 'the gradient is assigned instead of accumulated '
                       '(`grad = ...` where it must be `grad += ...`)', dict(overwrite=set(ops))))
    for code, op, text, kw in models:
        if _matches(graph, grads, propagate(graph, local, correct, **kw), every=True):
            return Diagnosis(code, text + '.', op, _entry_of(graph, op, 'repeated' in kw))
    found = _held_by_leaf(graph, actual, local, correct, ops) or \
        _by_grad(graph, actual, local, correct, ops)
    if found:
        return found
    # a visit order observed to be right rules out the order models; unobserved, a wrong order
    # and an op that propagates nothing can give the same gradients, and the order is the
    # likelier (it spoils every op), unless ops passed their own checks (``trusted``): each a
    # chain that ends in `* k`, which a wrong walk spoils too; the walk is right as far as they
    # show, and the op that passes nothing the likelier (ManoahKinnaert/minigrad's tanh)
    silent = _silent(graph, grads, local, correct, ops, actual.rules)
    if silent and trusted:
        return silent
    observed = order is not None and any(i >= len(graph.inputs) for i in order)
    for name, visit in {} if observed else orders.items():
        if name != 'reverse topological' and _matches(graph, grads, propagate(graph, local, visit)):
            if len(set(visit)) < len(visit):
                return Diagnosis(Code.REPEATED, f'{REPEATED}: the gradients are those of a {name} '
                                 f'walk; build one topological order and call each _backward '
                                 f'once, in its reverse.')
            return Diagnosis(Code.NOT_TOPOLOGICAL, f'the backward order is not topological: the '
                             f'gradients are those of a {name} walk; build a topological order '
                             f'and call _backward in its reverse.')
    if silent:
        return silent
    for op in ops:  # after the rule left out: where a derivative is minus the upstream they tie
        if _nonzero(graph, local, correct, op) and _upstream(graph, expected, correct, op) and \
                _matches(graph, grads, propagate(graph, local, correct, added={op})):
            return Diagnosis(Code.WRONG_DERIVATIVE, f'{OPS[op].display}\'s backward adds the '
                             f'upstream gradient to the local derivative (`... + out.grad`) where '
                             f'the chain rule multiplies them (`... * out.grad`).', op,
                             _entry_of(graph, op))
    found = _stored(graph, grads, local, correct, ops) or \
        _localise(graph, actual, expected, trusted, suspects)
    equal = _equal(graph, actual.merged)
    if found.code == Code.GRADIENTS_DISAGREE and equal:
        # no rule or walk explains them, and the engine takes distinct equal Values for one
        # another: a node an op builds inside itself (`a ** -1` in `a / a`, at a = 1) merged
        return _merging(graph, *equal, hidden=True)
    return found


def _held_by_leaf(graph, actual, local, correct, ops):
    """Where an input holds an op's rule (the worker saw it run as that input's ``_backward``;
    ``Value(x)`` gives each its ``__init__``'s), that op stored its rule on its operand (``self.
    _backward = _backward``): the rule-on-its-operand model of the graph's ops and of those,
    else the first such op, whatever op the graph reached it through (``a - b`` as ``self +
    (-other)``: ``a`` holds ``__add__``'s rule, ``b`` ``__mul__``'s, which no model of the
    graph's own ops gives); ``None`` where no input holds one."""
    rules = actual.rules or ()
    held = [METHOD_OPS.get(rules[i][0]) if rules[i] else None
            for i in range(min(len(graph.inputs), len(rules)))]
    held = [op for op in dict.fromkeys(held) if op in OPS]
    if not held:
        return None
    found = _stored(graph, actual.grads, local, correct, list(dict.fromkeys([*ops, *held])))
    if found:
        return found
    op, at = held[0], next(i for i, r in enumerate(rules) if r and METHOD_OPS.get(r[0]) == held[0])
    return Diagnosis(Code.RULE_ON_OPERAND, f'{OPS[op].display}\'s backward is stored on its '
                     f'operand (`self._backward = _backward` where `out._backward = _backward` was '
                     f'meant): `{graph.name(at)}`, an input, holds its rule, which replaces the '
                     f'operand\'s own, so no gradient flows past a computed operand.', op, at)


def _silent(graph, grads, local, correct, ops, rules=None):
    """The op of ``ops`` that propagates nothing (no rule), when that gives every entry's
    gradient; else ``None``.  An op without a rule and a rule stored on its operand (``self.
    _backward = ...``) leave the leaves' gradients alike; the computed operand's own gradient,
    right only in the second, tells them apart: every entry must match.  Where they tie (`_1 =
    a ** 2.0; out = _1 * k`: the product's rule stored on ``_1`` gives it its right gradient and
    loses the power's), the rules seen running (``rules``, the worker's) decide: that node holds
    another op's, whose node using it holds none, is that op's rule stored on its operand."""
    for op in ops:
        if _matches(graph, grads, propagate(graph, local, correct, zero={op}), every=True):
            entry = _entry_of(graph, op)
            held = rules[entry] if rules and entry is not None and entry < len(rules) else None
            other = METHOD_OPS.get(held[0]) if held else None
            # ... and the node of that op using it holds no rule of its own (`2.0 / a` as
            # `other * self**-1` holds __mul__'s by right, its user `* k` its own)
            bare = [c for c in graph.consumers()[entry] if c < len(rules) and graph.node(c).op ==
                    other and (rules[c] is None or rules[c][0] == '__init__')] if other else []
            if other not in (None, op) and bare:
                stored = _stored(graph, grads, local, correct, [other])
                if stored:
                    return stored
            return Diagnosis(Code.NO_BACKWARD, no_backward(op) + '.', op, entry)
    return None


def sometimes(found, graph, actual, passing):
    """A rule said to pass nothing (``no_backward``) that passed its operand the right,
    nonzero gradient on another graph of the same check (``passing``: ``(graph, expected)`` of
    the trials that passed) is there: its derivative is wrong at this graph's input, not missing
    (relu's ``grad = 1 if out.data > 1 else 0``: right at 2.0, nothing at 0.97); ``found``
    otherwise, and where the rule is observed nowhere else."""
    if found.code != Code.NO_BACKWARD or not found.op or found.entry is None or \
            found.entry < len(graph.inputs):
        return found
    here = graph.node(found.entry)
    # its rule ran and gave its operands nothing (not a result that keeps no children, whose
    # rule gives them theirs and the nodes below them are never reached)
    if not all(close(actual.grads[a], 0.0) for a in here.args):
        return found
    for other, expected in passing:
        users = other.consumers()
        for c in other.live():
            if c < len(other.inputs) or other.node(c).op != found.op:
                continue
            fed = [a for a in other.node(c).args if users[a] == [c] and
                   not close(expected.grads[a], 0.0)]
            if not fed:
                continue
            at = ', '.join(f'{graph.name(a)} = {show(actual.values[a])}'
                           for a in dict.fromkeys(here.args))
            there = ', '.join(f'{other.name(a)} = {show(expected.values[a])}'
                              for a in dict.fromkeys(other.node(c).args))
            return Diagnosis(Code.WRONG_DERIVATIVE, f'{OPS[found.op].display}\'s backward passes '
                             f'no gradient to its operands in `{graph.name(found.entry)} = '
                             f'{graph.expression(found.entry)}` ({at}), though it passes the '
                             f'right one in `{other.expression(c)}` ({there}) on another graph '
                             f'of this check: its local derivative is wrong at this input, not '
                             f'missing.', found.op, found.entry)
    return found


def _rounded_grads(graph, grads, expected):
    """The first live entry whose gradient is wrong, where every wrong one is a number a 32-bit
    float holds within float32's rounding of the right one (a grad kept in float32, values
    right); ``None`` otherwise: a wrong rule is wrong beyond that."""
    wrong = [i for i in graph.live() if not close(grads[i], expected[i])]
    if not wrong or not float32([grads[i] for i in wrong]):
        return None
    if not all(close(grads[i], expected[i], rtol=FLOAT32_RTOL) for i in wrong):
        return None
    return wrong[-1]


def _equal(graph, merged):
    """``(kept, lost)``: two distinct live entries of the graph that the engine's sets take for
    one another (``merged``: its ``__hash__``/``__eq__`` go by value), or ``()``."""
    if not merged or len(merged) != graph.size:
        return ()
    return next(((merged[i], i) for i in graph.live() if merged[i] != i), ())


def _nonzero(graph, local, correct, op):
    """Whether every local derivative of ``op``'s nodes is other than 0: where one is 0, adding
    the upstream gradient to it is passing it on unchanged, as a derivative taken as 1 does
    (tanh saturated at 30), and the ``added`` model names nothing."""
    return all(not close(d, 0.0) for i in correct if graph.node(i).op == op for d in local[i])


def _upstream(graph, expected, correct, op):
    """Whether an upstream gradient of ``op``'s nodes is other than 1: where every one is 1
    (``a + 2.0`` as the output), adding it to the local derivative is the derivative plus one,
    and the ``added`` model names any rule that is one too large (mul's ``other.data`` in
    ``+``'s rule, at 2.0)."""
    return any(not close(expected.grads[i], 1.0) for i in correct if graph.node(i).op == op)


#: Ops whose local derivative for one operand is the other operand's value (``other.data``).
BY_VALUE = ('mul',)


def _by_grad(graph, actual, local, correct, ops):
    """An op whose rule multiplies by the other operand's gradient where its value belongs
    (``self.grad += other.grad * out.grad``), when that gives every entry's gradient; else
    ``None``.  Where no operand holds a gradient yet when the rule runs, that model and a
    missing rule give the same gradients: it is named only when the worker saw the op's own
    rule run (not the do-nothing rule of ``__init__``)."""
    for op in (op for op in ops if op in BY_VALUE):
        entry = _entry_of(graph, op)
        if not _matches(graph, actual.grads, propagate(graph, local, correct, by_grad={op}),
                        every=True):
            continue
        rules = actual.rules or ()
        rule = rules[entry] if entry < len(rules) else None
        silent = _matches(graph, actual.grads, propagate(graph, local, correct, zero={op}),
                          every=True)
        if silent and not (rule and rule[0] != '__init__'):
            continue
        return Diagnosis(Code.WRONG_DERIVATIVE, f'{OPS[op].display}\'s backward multiplies by '
                         f'the other operand\'s gradient where its value belongs (`other.grad * '
                         f'out.grad` for `other.data * out.grad`): a leaf\'s gradient is still 0 '
                         f'then, so nothing flows.', op, entry)
    return None


def _merged(graph, grads, local, correct, merged):
    """Nodes a set takes for one another (``merged``: the worker saw equal-valued Values hash
    and compare equal) explain the gradients: a set of children keeps the first of two equal
    operands, so the other is never walked into; or a visited set skips every node equal to
    one already walked.  Either way a node never runs its rule.  ``None`` otherwise."""
    n = len(graph.inputs)
    if not merged or len(merged) != graph.size:
        return None
    siblings, reach, stack = set(), set(), [graph.output]
    while stack:  # the nodes reached through sets of children that keep one of equal operands
        v = stack.pop()
        if v in reach or v < n:
            continue
        reach.add(v)
        kept = {}
        for arg in graph.node(v).args:
            first = kept.setdefault(merged[arg], arg)
            if first != arg:
                siblings.add((first, arg))
            else:
                stack.append(arg)
    once = {}  # a visited set that goes by value: only the first of equal nodes walked runs
    for v in correct:
        once.setdefault(merged[v], v)
    walks = [[v for v in correct if v in reach], [v for v in correct if once[merged[v]] == v]]
    pairs = siblings or {(min(i for i in correct if merged[i] == merged[v]), v) for v in correct
                         if once[merged[v]] != v}
    for order in walks:
        if len(order) < len(correct) and _matches(graph, grads, propagate(graph, local, order)):
            return _merging(graph, *(sorted(pairs)[0] if pairs else (None, None)))
    return None


def _merging(graph, kept, lost, hidden=False):
    """The merged-nodes diagnosis; ``lost``, if known, the node a set took for ``kept``;
    ``hidden``: those two only compare equal, and the node merged is one an op built inside
    itself, which the graph does not show."""
    def written(i):
        return f'`{graph.name(i)} = {graph.expression(i)}`' if i >= len(graph.inputs) else \
            f'the input `{graph.name(i)}`'
    which = f' ({written(lost)} is taken for {written(kept)}, so backward() never runs its ' \
            f'rule)' if lost is not None else ''
    if hidden:
        which = f' ({written(lost)} and {written(kept)} compare equal here; no rule of this ' \
                f'graph explains its gradients, so a node an op builds inside itself was taken ' \
                f'for another of equal value)'
    return Diagnosis(Code.MERGED, f'distinct nodes with equal values are merged: __hash__ and '
                     f'__eq__ go by value, so a set of children or of visited nodes keeps one of '
                     f'two equal Values{which}; hash and compare Values by identity (the '
                     f'default), or keep them out of sets.')


def _stored(graph, grads, local, correct, ops):
    """The rule-on-its-operand model (``self._backward = _backward``) that gives every entry's
    gradient, one op's first (the checks' ``* k`` last), then every op's; else ``None``."""
    each = [(f'{OPS[op].display}\'s backward is', op) for op in sorted(ops, key=lambda op: op in SCALING)]
    for who, op in each + ([('every op\'s backward is', '')] if len(ops) > 1 else []):
        misplaced = {op} if op else set(ops)
        if _matches(graph, grads, propagate(graph, local, correct, misplaced=misplaced), every=True):
            return Diagnosis(Code.RULE_ON_OPERAND, f'{who} stored on its operand (`self._backward '
                             f'= _backward` where `out._backward = _backward` was meant): it '
                             f'replaces the operand\'s own rule, so no gradient flows past a '
                             f'computed operand.', op, _entry_of(graph, op))
    return None


def _entry_of(graph, op, repeated=False):
    """The first live node of ``op`` (with ``repeated``, whose operands are one Value): whose
    rule the worker saw run, to locate the rule."""
    return next((i for i in graph.live() if i >= len(graph.inputs) and graph.node(i).op == op
                 and (not repeated or _repeats(graph.node(i)))), None)


def _repeats(node):
    """Whether a binary node's operands are one Value (``a * a``)."""
    return len(node.args) == 2 and node.args[0] == node.args[1]


#: How ``classify`` begins a result that is no number (a Tensor, an array, ``None``).
NOT_A_NUMBER = 'not a number'
#: ... and ``None``: a grad never set.
NONE = 'not a number (NoneType)'
REPEATED = 'gradients are propagated more than once (repeated propagation)'
UNSEEDED = ('the root gradient is not seeded: backward() must set the output\'s grad to 1 before '
            'propagating (every gradient came out 0).')
#: Why, where backward()'s build function was seen adding its node after the visited check.
APPENDED = (' Here the build function adds each node to the order at line {line}, after the `if` '
            'that checks the visited set rather than inside it, so a node reached twice is added '
            'twice: indent that line into the `if`.')
#: What every gradient 0 is when backward()'s body was seen indented into a function of its own.
INDENTED = ('backward() does nothing: its body, from line {line} on, is indented into the '
            'function it defines there and never calls (every gradient came out 0); dedent those '
            'lines one level, back into backward().')
#: The op every fixed graph ends with (``* k``): blamed last when another op explains as well.
SCALING = ('mul',)
SHADOWED = {
    'op': ('an attribute named `backward` shadows the backward() method: an op sets '
           '`out.backward = _backward` where `out._backward` was meant, so out.backward() runs '
           'that one closure instead of the whole backward pass.'),
    'init': ('an attribute named `backward` shadows the backward() method: `self.backward = ...` '
             'in __init__ gives every Value its own `backward`, so out.backward() runs that instead '
             'of the method (name it `_backward`).'),
}


def no_backward(op, how=''):
    return (f'op {op} has no backward: {how or f"{OPS[op].display} passes no gradient to its operands"}'
            f'; set _backward on its result, with the operands among its children, adding into '
            f'their grad')


def topological_violation(graph, order, merged=None, unheld=None, unrun=None):
    """The first pair of nodes whose ``_backward`` calls ran out of order, as a ``Diagnosis``;
    ``None`` when the order is right.  A node never run was never reached: when a set takes it
    for another entry (``merged``, ``GraphResult.merged``), the merging; when its consumer keeps
    no container of its operands (``unheld``), that consumer's op, which builds its result
    without children; when every consumer keeps it (``unheld`` observed and none of them), the
    walk of backward() itself; else (nothing observed) the op of the node never run.  A node an
    op built inside its result and keeps among its children (``unrun``: ``-b`` in ``a - b``
    written as ``self + (-other)``) whose rule never ran is the walk's too."""
    n = len(graph.inputs)
    nodes = [i for i in graph.live() if i >= n]
    position = {}
    for k, i in enumerate(order):
        position.setdefault(i, k)
    twice = sorted({i for i in order if i >= n and order.count(i) > 1})
    if twice:
        i = twice[0]
        return Diagnosis(Code.REPEATED, f'{REPEATED}: backward() ran the local rule of '
                         f'`{graph.name(i)} = {graph.expression(i)}` {order.count(i)} times; each '
                         f'node must propagate exactly once (does a _backward call its operands\' '
                         f'_backward, does backward() recurse without a visited set, or does '
                         f'its order list a node twice?).')
    if not any(i in position for i in nodes):
        return None  # the engine does not use _backward closures: nothing observed
    never = [i for i in nodes if i not in position]
    twins = [(i, j) for i in never for j in range(graph.size)
             if merged and len(merged) == graph.size and j != i and merged[j] == merged[i]]
    if twins:
        return _merging(graph, *twins[-1][::-1])
    if never:
        i = never[-1]
        ran = [c for c in nodes if c in position and i in graph.node(c).args]
        dropped = [c for c in ran if c in (unheld or ())]
        if unheld is not None and ran and not dropped:
            c = ran[0]
            if [k for k in nodes if k in position] == [graph.output]:  # no walk at all
                return Diagnosis(Code.NOT_TOPOLOGICAL, f'backward() ran the output\'s own rule '
                                 f'only (`{graph.name(c)} = {graph.expression(c)}`), never '
                                 f'that of `{graph.name(i)} = {graph.expression(i)}` below it: '
                                 f'it must run every node\'s rule, in reverse topological '
                                 f'order (does it call self._backward() alone, where the '
                                 f'lecture builds that order and calls each node\'s?).')
            return Diagnosis(Code.NOT_TOPOLOGICAL, f'backward() never ran the local rule of '
                             f'`{graph.name(i)} = {graph.expression(i)}`, though `{graph.name(c)} '
                             f'= {graph.expression(c)}` keeps it among its children: the '
                             f'topological sort does not reach every node (does it loop over the '
                             f'output\'s children, self._prev, where the visited node\'s are '
                             f'meant?).')
        c = dropped[0] if dropped else i
        op = graph.node(c).op
        how = f'its result keeps no operands as children, so backward() never reaches ' \
            f'`{graph.name(i)} = {graph.expression(i)}` below `{graph.name(c)} = ' \
            f'{graph.expression(c)}`' if dropped else f'backward() never ran the local rule of ' \
            f'`{graph.name(i)} = {graph.expression(i)}`'
        return Diagnosis(Code.NO_BACKWARD, no_backward(op, how) + '.', op, c)
    inside = [i for i in nodes if i in (unrun or ())]
    if inside:
        i = inside[-1]
        return Diagnosis(Code.NOT_TOPOLOGICAL, f'backward() never ran the local rule of a node '
                         f'that `{graph.name(i)} = {graph.expression(i)}` builds on the way '
                         f'({OPS[graph.node(i).op].display} through other ops) and keeps among '
                         f'its children: the topological sort does not reach every node (does it '
                         f'loop over the output\'s children, self._prev, where the visited '
                         f'node\'s are meant?).')
    for consumer in nodes:
        for operand in graph.node(consumer).args:
            if operand >= n and position[operand] < position[consumer]:
                return Diagnosis(Code.NOT_TOPOLOGICAL, f'the backward order is not topological: '
                                 f'`{graph.name(operand)} = {graph.expression(operand)}` '
                                 f'propagated before its consumer `{graph.name(consumer)} = '
                                 f'{graph.expression(consumer)}` had added its gradient.')
    return None


def blame(graph, actual, expected, mismatch):
    """``(wrong, culprits)``: the live entries whose value or gradient is wrong, and the nodes
    whose op the mismatch is localised to, so that a drawing can mark both.

    A forward error or wrong value is the op that computed it; a wrong gradient is the op whose
    own gradient is right while the gradient it passes to an operand is not."""
    if mismatch.kind == 'error':
        node = mismatch.entry
        return [], [node] if node is not None and node >= len(graph.inputs) else []
    live = graph.live()
    wrong = [i for i in live if not close(actual.values[i], expected.values[i])]
    if mismatch.kind == 'value':
        return wrong, [mismatch.entry] if mismatch.entry >= len(graph.inputs) else []
    wrong = [i for i in live if not close(actual.grads[i], expected.grads[i])]
    found = _first_wrong_flow(graph, actual, expected, wrong)
    return wrong, found[1] if found else []


def _first_wrong_flow(graph, actual, expected, wrong, known=frozenset()):
    """``(operand, consumers)``: the latest wrong gradient whose consumers' own are all right;
    one passed on by an op no earlier finding named (not ``known``) first, where the graph holds
    two bugs (`a.tanh() * k` with `*` and tanh both wrong: the known `*` would hide tanh's)."""
    users = graph.consumers()
    flows = [(i, culprits) for i in reversed(wrong)
             if (culprits := sorted(set(users[i])))
             and all(close(actual.grads[c], expected.grads[c]) for c in culprits)]
    new = [f for f in flows if not {graph.node(c).op for c in f[1]} & known]
    return (new or flows or [None])[0]


def _localise(graph, actual, expected, trusted=frozenset(), suspects=frozenset()):
    """The op whose own gradient is right while the one it passes on is not; never a ``trusted``
    op (its own checks pass): then the wrong gradients are said, not blamed on it. Of two such
    ops, one no earlier finding named (not of ``suspects``) is the one said."""
    wrong = [i for i in graph.live() if not close(actual.grads[i], expected.grads[i])]
    found = _first_wrong_flow(graph, actual, expected, wrong, suspects)
    users = graph.consumers()
    if found and not {graph.node(c).op for c in found[1]} & trusted:
        i, culprits = found
        if len(culprits) == 1:
            c = culprits[0]
            node = graph.node(c)
            if len(set(node.args)) == 1 and len(users[i]) == 1 and close(actual.grads[i], 0.0) \
                    and not close(expected.grads[i], 0.0):  # its only consumer passed nothing
                return Diagnosis(Code.NO_BACKWARD, no_backward(node.op) + '.', node.op, c)
            side, shown = '', [i]
            if len(node.args) == 2 and node.args[0] != node.args[1]:
                other = node.args[1] if node.args[0] == i else node.args[0]
                if other in wrong and all(close(actual.grads[u], expected.grads[u])
                                          for u in users[other]):  # its rule spoils both
                    side, shown = ' with respect to both inputs', list(node.args)
                else:
                    side = ' with respect to its left input' if node.args[0] == i else \
                        ' with respect to its right input'
            said = ', '.join(f'{graph.name(j)}.grad is {show(actual.grads[j])}, expected '
                             f'{show(expected.grads[j])}' for j in shown)
            return Diagnosis(Code.WRONG_DERIVATIVE, f'the local derivative of '
                             f'{OPS[node.op].display}{side} is wrong: in `{graph.name(c)} = '
                             f'{graph.expression(c)}`, {said}.', node.op, c)
        names = ', '.join(f'`{graph.expression(c)}`' for c in culprits)
        return Diagnosis(Code.GRADIENTS_DISAGREE, f'{graph.name(i)}.grad is '
                         f'{show(actual.grads[i])}, expected {show(expected.grads[i])}: the '
                         f'gradients that flow into it from {names} do not add up.')
    i = wrong[0] if wrong else graph.output
    return Diagnosis(Code.GRADIENTS_DISAGREE, f'{graph.name(i)}.grad is {show(actual.grads[i])}, '
                     f'expected {show(expected.grads[i])}.')
