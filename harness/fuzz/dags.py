"""Random expression DAGs that break real engines, from any source of choices.

One builder serves both the Hypothesis strategy (``micrograde.fuzz.strategies``, for the test suite) and
the fuzz corpus a grade runs (``corpus``: ``random.Random`` only), so grading needs neither
Hypothesis nor torch to know which graphs it fuzzes with.

Every value stays in a valid domain *by construction*: a node is drawn from the moves that are
valid for the values computed so far (log of positives, divisors away from 0, fractional powers
of positives, relu away from its kink, no overflow), never by rejecting whole graphs, so failures
shrink to small readable graphs.  A node mostly extends the newest entry, so graphs are deep with
few dead nodes; its partner (and sometimes its first operand) is any earlier entry, so nodes are
shared at unequal depths and ``a*a`` occurs.
"""
import functools
import math
import random

from micrograde import reference
from micrograde.model.graph import Graph, Node
from micrograde.worker.execute import apply
from micrograde.worker.ops import FORMS, form

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


def valid(graph):
    """Whether every node of ``graph`` is a move ``build`` could have drawn: operands in the op's
    domain, results finite and bounded (what a shrunk graph must keep)."""
    values = [reference.Value(x) for _, x in graph.inputs]
    for node in graph.nodes:
        if node not in moves(node.capability, values, node.args[0]):
            return False
        values.append(reference.Value(value_of(node, values)))
    return True


class Seeded:
    """Choices from ``random.Random``: what ``build`` draws for the fuzz corpus."""

    def __init__(self, rng):
        self.rng = rng

    def integer(self, lo, hi):
        return self.rng.randint(lo, hi)

    def pick(self, options):
        return options[self.rng.randrange(len(options))]


def build(choose, ops=ALL_OPS, max_inputs=3, max_nodes=8, scale_output=True):
    """A random DAG over the capabilities ``ops`` (see ``micrograde.worker.ops.FORMS``).

    ``choose`` gives ``integer(lo, hi)`` and ``pick(options)``.  With ``scale_output`` the output
    is multiplied by a constant other than 1 (an input ``k`` when the engine takes no plain
    numbers), so that a backward pass that ignores the upstream gradient cannot hide.
    """
    ops = tuple(op for op in ALL_OPS if op in ops)  # a fixed order, so shrinking is stable
    scale = [op for op in ('mul_const', 'rmul', 'mul') if op in ops][:1] if scale_output else []
    n_inputs = choose.integer(1, max_inputs)
    inputs = [(NAMES[i], choose.integer(-12, 12) / 4) for i in range(n_inputs)]
    factor = choose.pick([c for c in CONSTANTS if c != 1.0]) if scale else None
    if scale == ['mul']:
        inputs.append(('k', factor))
    values = [reference.Value(x) for _, x in inputs]
    nodes = []
    for _ in range(choose.integer(1, max_nodes)):
        # mostly extend the newest entry (deep graphs, few dead nodes), sometimes any entry
        newest = len(values) - 1
        first = newest if choose.integer(0, 3) else choose.integer(0, newest)
        # an op drawn uniformly among those with a valid move here; only its moves are computed
        left, options = list(ops), []
        while left and not options:
            op = choose.pick(left)
            left.remove(op)
            options = moves(op, values, first)
        if not options:
            continue
        node = choose.pick(options)
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


@functools.lru_cache(maxsize=64)
def corpus(seed, ops, examples, max_nodes):
    """``examples`` distinct graphs over ``ops`` for ``seed``: the same list on every machine and
    in every process, made without Hypothesis or torch (a batch pays for it once)."""
    rng = random.Random(f'micrograde-corpus:{seed}')
    choose, out, seen = Seeded(rng), [], set()
    for _ in range(examples * 5):  # small op sets repeat themselves: bounded retries
        g = build(choose, tuple(sorted(ops)), max_nodes=max_nodes)
        key = g.to_json()
        if key not in seen:
            seen.add(key)
            out.append(g)
            if len(out) == examples:
                break
    return tuple(out)
