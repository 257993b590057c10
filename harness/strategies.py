"""Hypothesis strategies for expression DAGs that break real engines.

Every value stays in a valid domain *by construction*: a node is drawn from the moves that are
valid for the values computed so far (log of positives, divisors away from 0, fractional powers
of positives, relu away from its kink, no overflow), never by rejecting whole graphs, so failures
shrink to small readable graphs.  Operands are drawn newest-first, so graphs are deep, and any
earlier entry can be picked again, so nodes are shared at unequal depths and ``a*a`` occurs.
"""
import math

from hypothesis import strategies as st

import reference
from .graph import BINARY, CAPABILITIES, Graph, Node
from .worker.execute import apply

NAMES = 'abcd'
CONSTANTS = (2.0, 3.0, -1.5, 0.5, -2.0, 0.25)
EXPONENTS = (2.0, 3.0, -1.0, 0.5, -2.0, 1.5, -0.5)
BOUND = 50.0  # |value| of every entry
ALL_OPS = tuple(c for c in CAPABILITIES if c != 'backward')


def valid_operand(op, x, const=None):
    """Whether ``x`` is a safe single operand for ``op`` (``const`` is pow's exponent)."""
    if op == 'log':
        return x >= 0.1
    if op == 'relu':
        return abs(x) >= 0.05
    if op == 'exp':
        return x <= 3.0
    if op == 'pow':
        if const != int(const) and x < 0.1:
            return False
        return const > 0 or abs(x) >= 0.25
    return True


def valid_result(value):
    return math.isfinite(value) and abs(value) <= BOUND


def moves(capability, vals):
    """Every valid node of this capability over entries with values ``vals``, newest first."""
    order = range(len(vals) - 1, -1, -1)
    found = []
    if capability in ('pow',):
        found = [Node('pow', (i,), e) for i in order for e in EXPONENTS
                 if valid_operand('pow', vals[i], e)]
    elif capability in ('neg', 'exp', 'log', 'tanh', 'relu', 'sigmoid'):
        found = [Node(capability, (i,)) for i in order if valid_operand(capability, vals[i])]
    else:
        op = capability.removeprefix('r').removesuffix('_const') if capability not in BINARY \
            else capability
        if capability in BINARY:
            found = [Node(op, (i, j)) for i in order for j in range(len(vals))
                     if not (op == 'truediv' and abs(vals[j]) < 0.25)]
        else:
            left = capability.startswith('r')
            found = [Node(op, (i,), c, left) for i in order for c in CONSTANTS
                     if not (op == 'truediv' and left and abs(vals[i]) < 0.25)]
    return [n for n in found if valid_result(_value(n, vals))]


def _value(node, vals):
    try:
        return float(apply(node.to_dict(), [reference.Value(v) for v in vals]).data)
    except (ArithmeticError, ValueError):
        return math.nan


@st.composite
def graphs(draw, ops=ALL_OPS, max_inputs=3, max_nodes=8, scale_output=True):
    """Random DAGs over the capabilities ``ops`` (see ``harness.graph.CAPABILITIES``).

    With ``scale_output`` the output is multiplied by a constant other than 1, so that a
    backward pass that ignores the upstream gradient cannot hide.
    """
    ops = tuple(op for op in ALL_OPS if op in ops)  # a fixed order, so shrinking is stable
    n_inputs = draw(st.integers(1, max_inputs))
    inputs = [(NAMES[i], draw(st.integers(-12, 12).map(lambda k: k / 4))) for i in range(n_inputs)]
    vals = [x for _, x in inputs]
    nodes = []
    for _ in range(draw(st.integers(1, max_nodes))):
        options = {op: moves(op, vals) for op in ops}
        usable = [op for op in ops if options[op]]
        if not usable:
            break
        node = draw(st.sampled_from(options[draw(st.sampled_from(usable))]))
        nodes.append(node)
        vals.append(_value(node, vals))
    if not nodes:
        nodes.append(Node('mul', (0, 0)) if 'mul' in ops else Node('add', (0, 0)))
    last = n_inputs + len(nodes) - 1
    scale = [op for op in ('mul_const', 'rmul') if op in ops]
    if scale_output and scale:
        c = draw(st.sampled_from([c for c in CONSTANTS if c != 1.0]))
        nodes.append(Node('mul', (last,), c, scale[0] == 'rmul'))
    return Graph(tuple(inputs), tuple(nodes), n_inputs + len(nodes) - 1).pruned()
