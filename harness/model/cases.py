"""The fixed graphs behind the probe, per-op, backward and robustness checks, as readable text.

Every graph ends in ``* k`` with ``k`` an input other than 1 where it can, so that a backward rule
that ignores the upstream gradient cannot hide; ``k`` is a ``Value`` so the scaling needs nothing
but ``Value * Value``.  Each op's own check also reuses its input (``a.exp() * a``, ``a**2 + a``,
``(2.0 - a) * a``), so that a rule that assigns its gradient (``=`` for ``+=``) is caught under
that op, reflected and number forms too, and ``a + a``, ``a * a`` do (``(a * a) * a``), so that
a rule written apart for one Value on both sides (``if self is other: self.grad = ...``) is.
"""
import functools
import math
import random

from micrograde.model.graph import Graph, Node
from micrograde.worker.ops import FORMS, NUMBER_FORMS, form

G = Graph.parse
OP_CAPABILITIES = tuple(FORMS)


def probe(cap):
    """The smallest graph of a capability: does the submission have the op in that form at all?"""
    op, operands, left = form(cap)
    inputs = (('a', op.samples[0] if op.samples else 1.5), ('b', -2.0))[:operands]
    const = 2.0 if operands == 1 and op.numbers else None
    return Graph(inputs, (Node(op.name, tuple(range(operands)), const, left),), operands, ('out',))


PROBES = {cap: probe(cap) for cap in OP_CAPABILITIES}

#: Per-op checks beyond a method op's samples (see ``method_cases``): forward values and
#: gradients at several inputs, a shared operand, upstream ≠ 1.
WRITTEN = {
    'add': [G('out = (a + b) * k', a=1.5, b=-2.0, k=3.0), G('out = (a + a) * k', a=-0.75, k=-2.0),
            G('out = (a + a) * a', a=1.25)],
    'add_const': [G('out = (a + 2.0) * k', a=-1.25, k=3.0), G('out = (a + 2.0) * a', a=-1.25)],
    'radd': [G('out = (2.0 + a) * k', a=-1.25, k=3.0), G('out = (2.0 + a) * a', a=-1.25)],
    'sub': [G('out = (a - b) * k', a=1.5, b=-2.0, k=3.0), G('out = (a - a) * k', a=0.5, k=2.0)],
    'sub_const': [G('out = (a - 2.0) * k', a=-1.25, k=3.0), G('out = (a - 2.0) * a', a=-1.25)],
    'rsub': [G('out = (2.0 - a) * k', a=-1.25, k=3.0), G('out = (5.0 - a) * k', a=3.5, k=-0.5),
             G('out = (2.0 - a) * a', a=-1.25)],
    'mul': [G('out = a * b', a=1234.5, b=-0.75), G('out = (a * b) * k', a=-1.5, b=2.5, k=3.0),
            G('out = (a * a) * k', a=-1.5, k=2.0), G('out = (a * a) * a', a=1.25)],
    'mul_const': [G('out = (a * 3.0) * k', a=-1.25, k=2.0), G('out = (a * 3.0) * a', a=-1.25)],
    'rmul': [G('out = (3.0 * a) * k', a=-1.25, k=2.0), G('out = (3.0 * a) * a', a=-1.25)],
    'truediv': [G('out = (a / b) * k', a=1.5, b=-2.5, k=3.0), G('out = (a / a) * k', a=0.75, k=2.0),
                G('out = (b / a) * k', a=-0.5, b=2.0, k=-1.5)],
    'truediv_const': [G('out = (a / 4.0) * k', a=-1.5, k=3.0), G('out = (a / 4.0) * a', a=-1.5)],
    'rtruediv': [G('out = (2.0 / a) * k', a=-1.25, k=3.0), G('out = (3.0 / a) * k', a=0.5, k=2.0),
                 G('out = (2.0 / a) * a', a=-1.25)],
    'pow': [G('out = (a ** 2.0) * k', a=-1.5, k=3.0), G('out = (a ** 3.0) * k', a=1.25, k=-2.0),
            G('out = (a ** -2.0) * k', a=-1.5, k=3.0), G('out = (a ** 0.5) * k', a=2.25, k=3.0),
            G('out = (a ** -0.5) * k', a=0.75, k=2.0), G('out = (a ** 1.5) * k', a=1.75, k=-1.0),
            G('out = (a ** -1.0) * k', a=-1.25, k=2.0),  # the exponent division asks for
            G('out = (a ** 2.0 + a) * k', a=-1.5, k=3.0), G('out = (a ** 3.0) * a', a=1.25)],
    'pow_value': [G('out = (a ** b) * k', a=1.5, b=2.5, k=3.0), G('out = (a ** b) * k', a=2.25, b=-0.5, k=-2.0),
                  G('out = (a ** b) * a', a=0.75, b=1.5), G('out = (a ** a) * k', a=1.25, k=2.0)],
    'rpow': [G('out = (2.0 ** a) * k', a=1.5, k=3.0), G('out = (0.5 ** a) * a', a=-1.25)],
    'neg': [G('out = (-a) * k', a=1.25, k=3.0), G('out = (-a) * a', a=1.25)],
    'relu': [G('out = (a.relu() + a) * k', a=-1.5, k=3.0)],  # relu must not change a.data
}


def method_cases(cap):
    """A method op at each of its sample inputs, times an upstream gradient other than 1, then
    times its own input."""
    op = form(cap)[0]
    if not op.method:
        return []
    return [G(f'out = a.{op.name}() * k', a=x, k=(3.0, -2.0)[i % 2]) for i, x in enumerate(op.samples)
            ] + [G(f'out = a.{op.name}() * a', a=op.samples[0])]


def computed_operand(cap, side=0):
    """The op on an operand that is itself computed (``u = a * b``; ``side`` 1: the right one of
    two Values), times ``k``: a rule stored on the operand (``self._backward = ...`` for
    ``out._backward = ...``, also in a helper the op calls, as ``/`` calls ``**``) replaces the
    operand's own rule, which a leaf operand never shows."""
    op, operands, left = form(cap)
    inputs = (('a', 0.75), ('b', 1.5), ('c', 2.5), ('k', 3.0))
    u, c, k = 4, 2, 3
    if operands == 2:
        node = Node(op.name, (c, u) if side else (u, c))
    else:
        node = Node(op.name, (u,), 2.0 if op.numbers else None, left)
    nodes = (Node('mul', (0, 1)), node, Node('mul', (u + 1, k)))
    graph = Graph(inputs, nodes, u + 2).pruned()
    return Graph(graph.inputs, graph.nodes, graph.output, ('u', 'n2', 'out'))


def computed_operands(cap):
    return [computed_operand(cap, side) for side in range(form(cap)[1])]


#: Per-op checks, one list of graphs per capability.
OP_CASES = {cap: method_cases(cap) + WRITTEN.get(cap, []) + computed_operands(cap)
            for cap in OP_CAPABILITIES}

#: How ``backward()`` walks a graph: (check id, what it shows, graphs).
BACKWARD = [
    ('seed', 'backward() seeds the output with gradient 1',
     [G('out = a * b', a=1.5, b=-2.0), G('out = a.exp()', a=0.5)]),
    ('accumulate', 'a value used twice gets both gradients',
     [G('out = (a * a) * k', a=-1.5, k=3.0), G('out = (a + a) * k', a=1.25, k=3.0),
      G('u = a * b; out = (u + u * c) * k', a=0.5, b=2.0, c=3.0, k=-2.0),
      G('out = (a.exp() + a) * k', a=0.5, k=3.0),
      # two nodes equal at any inputs: an engine that merges equal values (a set of children
      # keyed by data) loses one's gradient at every seed, not only where the values coincide
      G('u = a * b; v = b * a; out = (u + v) * k', a=0.5, b=-1.5, k=3.0)]),
    ('topological', 'a node reused at unequal depths is complete before it propagates',
     [G('n1 = a * b; n2 = n1 * c; out = (n1 + n2) * k', a=0.5, b=-1.5, c=2.0, k=3.0),
      G('b = a + a; c = b + b; out = c * k', a=1.5, k=2.0),
      G('n1 = a * b; n2 = n1.tanh(); n3 = n2 * n1; out = (n3 + n1) * k', a=0.5, b=1.5, k=2.0)]),
    ('chain', 'gradients flow down a chain in reverse order',
     [G('n1 = a * b; n2 = n1 * c; out = n2 * k', a=0.5, b=-1.5, c=2.0, k=3.0)]),
]

#: Graphs that the lecture's formulas break on: report, do not grade (advisory).
ROBUSTNESS = [
    ('tanh_large', 'tanh of a large input', G('out = a.tanh() * k', a=800.0, k=2.0)),
    ('tanh_large_negative', 'tanh of a large negative input', G('out = a.tanh() * k', a=-800.0, k=2.0)),
    ('sigmoid_large_negative', 'sigmoid of a large negative input',
     G('out = a.sigmoid() * k', a=-800.0, k=2.0)),
    ('exp_near_overflow', 'exp near the float64 limit', G('out = a.exp() * k', a=700.0, k=0.5)),
    ('pow_zero_base', '0 ** 2 and its gradient', G('out = (a ** 2.0) * k', a=0.0, k=3.0)),
    ('relu_at_zero', "relu at its kink (torch's convention: relu'(0) = 0)",
     G('out = a.relu() * k', a=0.0, k=3.0)),
    ('pow_zero_to_zero', '0 ** 0 and its gradient', G('out = (a ** 0.0) * k', a=0.0, k=3.0)),
    ('pow_negative_base_fractional', 'a negative base to a fractional power (torch: nan)',
     G('out = (a ** 0.5) * k', a=-4.0, k=3.0)),
]

#: A second ``backward()``: leaf gradients must double, three levels down too (a visited mark
#: cleared on the output only stops the second walk below it).
REPEAT = G('n1 = a + b; n2 = n1 * c; out = n2 * d', a=1.5, b=-0.5, c=2.0, d=0.75)

#: How far ``moved`` takes an input: a factor in [1 / SPREAD, SPREAD].
SPREAD = 1.25


def moved(graph, seed):
    """``graph`` with its inputs moved to points drawn from ``seed`` (seed 0: as written, the
    points whose answers ship): the same check at other points, so that a table of one seed's
    answers holds none of another's (a course secret draws each submission's seed).  Each
    distinct magnitude is scaled by its own factor, to three significant digits: signs (so
    domains and branches: relu's side, log's positive input) and equal magnitudes stay as
    written, distinct ones stay distinct, each moves, and none lands near 1 unless written there
    (where a wrong power rule, ``n * x**n``, agrees with the right one)."""
    if not seed or not graph.inputs:
        return graph
    draw = random.Random(f'{seed}|{graph.code()}')
    written = sorted({abs(x) for _, x in graph.inputs})
    for _ in range(16):
        to = {m: float(f'{m * draw.uniform(1 / SPREAD, SPREAD):.3g}') for m in written}
        if len(set(to.values())) == len(written) and all(
                to[m] != m and (abs(to[m] - 1) > 0.05 or abs(m - 1) <= 0.05) for m in written):
            break
    else:
        return graph
    inputs = tuple((name, float(math.copysign(to[abs(x)], x))) for name, x in graph.inputs)
    return Graph(inputs, graph.nodes, graph.output, graph.names)


#: Stacked diamonds in the robustness ladder.
DIAMONDS = 25


@functools.cache
def chain(length):
    """A chain ``x = x + 0.0001`` of ``length`` nodes: deeper than any recursion limit."""
    nodes = tuple(Node('add', (i,), 0.0001) for i in range(length))
    return Graph((('a', 0.5),), nodes, length)


@functools.cache
def ladder(depth):
    """``x = x*1 + x*1`` repeated: linear work for a topological backward, 2**depth for one that
    recurses into every path."""
    nodes, x = [], 0
    for _ in range(depth):
        nodes += [Node('mul', (x,), 1.0), Node('mul', (x,), 1.0)]
        n = 1 + len(nodes)
        nodes.append(Node('add', (n - 2, n - 1)))
        x = n
    return Graph((('a', 0.5),), tuple(nodes), x)


#: Graphs too large to print node by node, as the loop a learner can run instead; ``{c}`` the
#: number in each step, or a Value ``c`` for an engine without plain numbers.
LOOPS = {
    chain: 'a = Value(0.5)\nx = a\nfor _ in range({n}):\n    x = x + {c}\nx.backward()\nprint(a.grad)\n',
    ladder: 'a = Value(0.5)\nx = a\nfor _ in range({n}):\n    x = x * {c} + x * {c}\nx.backward()\n'
            'print(a.grad)\n',
}


@functools.cache
def deep(builder, n, without_numbers=()):
    """``(graph, runnable loop code)`` of a chain or ladder of size ``n``; ``without_numbers``:
    the number forms the engine lacks, whose numbers become a leaf ``c``."""
    graph = builder(n)
    loop = LOOPS[builder]
    number = repr(graph.nodes[0].const)
    variant = graph.numbers_as_inputs(without_numbers)
    if variant is graph:
        return graph, loop.format(n=n, c=number)
    return variant, f'c = Value({number})\n' + loop.format(n=n, c='c')


def fixed(chains=()):
    """Every fixed graph above (with chains of the given lengths, the deep graphs as an engine
    without plain numbers gets them, the per-op graphs as one without ``*`` does): what the
    oracle store ships."""
    op_graphs = [g for gs in OP_CASES.values() for g in gs]
    graphs = list(PROBES.values()) + op_graphs + [u for g in op_graphs if (u := g.unscaled())]
    graphs += [g for _, _, gs in BACKWARD for g in gs] + [g for _, _, g in ROBUSTNESS] + [REPEAT]
    return graphs + [deep(builder, n, forms)[0] for builder, n in [(ladder, DIAMONDS)] + [
        (chain, n) for n in chains] for forms in ((), NUMBER_FORMS)]
