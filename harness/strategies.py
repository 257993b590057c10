"""Hypothesis strategies for expression DAGs that break real engines.

Every value stays in a valid domain *by construction*: a node is drawn from the moves that are
valid for the values computed so far (log of positives, divisors away from 0, fractional powers
of positives, relu away from its kink, no overflow), never by rejecting whole graphs, so failures
shrink to small readable graphs.  A node mostly extends the newest entry, so graphs are deep with few
dead nodes; its partner (and sometimes its first operand) is any earlier entry, so nodes are
shared at unequal depths and ``a*a`` occurs.
"""
import math

from hypothesis import strategies as st

import reference
from .graph import Graph, Node
from .worker.execute import apply
from .worker.ops import FORMS, form

NAMES = 'abcd'
CONSTANTS = (2.0, 3.0, -1.5, 0.5, -2.0, 0.25)
BOUND = 50.0  # |value| of every entry
ALL_OPS = tuple(FORMS)


def valid_result(value):
    return math.isfinite(value) and abs(value) <= BOUND


def moves(capability, values, first):
    """Valid nodes of this capability whose (first) operand is the entry ``first``: operands in
    the op's domain (see ``harness/worker/ops.py``), a finite, bounded result."""
    op, operands, left = form(capability)
    domain = op.domain_of(capability)
    xs = [v.data for v in values]
    x = xs[first]
    if operands == 2:
        found = [Node(op.name, (first, j)) for j in range(len(values)) if domain(x, xs[j])]
    elif op.numbers:
        numbers = CONSTANTS if left else op.right_numbers or CONSTANTS
        found = [Node(op.name, (first,), c, left) for c in numbers
                 if (domain(c, x) if left else domain(x, c))]
    else:
        found = [Node(op.name, (first,))] if domain(x) else []
    return [n for n in found if valid_result(value_of(n, values))]


def value_of(node, values):
    """The float value ``node`` would have, computed by the reference engine."""
    try:
        return float(apply(node.to_dict(), values).data)
    except (ArithmeticError, ValueError):
        return math.nan


@st.composite
def graphs(draw, ops=ALL_OPS, max_inputs=3, max_nodes=8, scale_output=True):
    """Random DAGs over the capabilities ``ops`` (see ``harness.worker.ops.FORMS``).

    With ``scale_output`` the output is multiplied by a constant other than 1 (an input ``k``
    when the engine takes no plain numbers), so that a backward pass that ignores the upstream
    gradient cannot hide.
    """
    ops = tuple(op for op in ALL_OPS if op in ops)  # a fixed order, so shrinking is stable
    scale = [op for op in ('mul_const', 'rmul', 'mul') if op in ops][:1] if scale_output else []
    n_inputs = draw(st.integers(1, max_inputs))
    inputs = [(NAMES[i], draw(st.integers(-12, 12).map(lambda k: k / 4))) for i in range(n_inputs)]
    factor = draw(st.sampled_from([c for c in CONSTANTS if c != 1.0])) if scale else None
    if scale == ['mul']:
        inputs.append(('k', factor))
    values = [reference.Value(x) for _, x in inputs]
    nodes = []
    for _ in range(draw(st.integers(1, max_nodes))):
        # mostly extend the newest entry (deep graphs, few dead nodes), sometimes any entry
        newest = len(values) - 1
        first = newest if draw(st.integers(0, 3)) else draw(st.integers(0, newest))
        options = {op: moves(op, values, first) for op in ops}
        usable = [op for op in ops if options[op]]
        if not usable:
            continue
        node = draw(st.sampled_from(options[draw(st.sampled_from(usable))]))
        nodes.append(node)
        values.append(reference.Value(value_of(node, values)))
    if not nodes:
        nodes.append(Node('mul', (0, 0)) if 'mul' in ops else Node('add', (0, 0)))
    last = len(inputs) + len(nodes) - 1
    if scale == ['mul']:
        nodes.append(Node('mul', (last, len(inputs) - 1)))
    elif scale:
        nodes.append(Node('mul', (last,), factor, scale[0] == 'rmul'))
    return Graph(tuple(inputs), tuple(nodes), len(inputs) + len(nodes) - 1).pruned()


def corpus(seed, ops, budget):
    """The fuzz corpus: every distinct graph of ``budget.examples`` draws over ``ops`` with a
    fixed seed (the same graphs each run of this Hypothesis version)."""
    from hypothesis import HealthCheck, Phase, given, seed as hypothesis_seed, settings
    out, seen = [], set()

    @hypothesis_seed(seed)
    @settings(max_examples=budget.examples, database=None, deadline=None, derandomize=False,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate])
    @given(graphs(ops=tuple(sorted(ops)), max_nodes=budget.max_nodes))
    def collect(g):
        key = g.to_json()
        if key not in seen:
            seen.add(key)
            out.append(g)
    collect()
    return tuple(out)
