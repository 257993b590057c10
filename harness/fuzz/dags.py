"""Random expression DAGs that break real engines, from any source of choices.

One builder serves both the Hypothesis strategies (``micrograde.fuzz.strategies``: the thorough profile's
search, the test suite, course authors' property tests) and
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
import itertools
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


#: The thorough search's domains where they are wider than the corpus's (``ops.py``): up to
#: the op's own, less the points where its derivative is a convention (relu's kink) or infinite
#: (a fractional power at 0); results stay bounded all the same.  Where engines break; on an
#: input only, given exactly: a computed operand holds its engine's rounding (the lecture's tanh
#: of 1e-8 is off by 1e-8 relative), which log or a negative power of a tiny operand amplifies,
#: and whose sign decides relu next to 0, where a correct engine would fail.
EDGES = {
    'log': lambda x: x > 0,
    'relu': lambda x: x != 0,
    'pow': lambda x, exponent: x > 0 or (x != 0 or exponent > 0) and exponent == int(exponent),
}


def moves(capability, values, first, edges=False):
    """Valid nodes of this capability whose (first) operand is the entry ``first``: operands in
    the op's domain (see ``micrograde/worker/ops.py``; with ``edges``, ``EDGES``), a finite,
    bounded result."""
    op, operands, left = form(capability)
    domain = EDGES.get(capability) if edges and capability in EDGES else op.domain_of(capability)
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

    def leaf(self):
        """An input value: a quarter integer in [-3, 3]."""
        return self.rng.randint(-12, 12) / 4


def build(choose, ops=ALL_OPS, max_inputs=3, max_nodes=8, scale_output=True, edges=False):
    """A random DAG over the capabilities ``ops`` (see ``micrograde.worker.ops.FORMS``), its
    operands within the corpus's domains or, with ``edges``, an input's within the search's
    (``EDGES``).

    ``choose`` gives ``integer(lo, hi)``, ``pick(options)`` and ``leaf()`` (an input value).
    With ``scale_output`` the output is multiplied by a constant other than 1 (an input ``k`` when the engine takes no plain
    numbers), so that a backward pass that ignores the upstream gradient cannot hide.
    """
    ops = tuple(op for op in ALL_OPS if op in ops)  # a fixed order, so shrinking is stable
    scale = [op for op in ('mul_const', 'rmul', 'mul') if op in ops][:1] if scale_output else []
    n_inputs = choose.integer(1, max_inputs)
    inputs = [(NAMES[i], choose.leaf()) for i in range(n_inputs)]
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
            options = moves(op, values, first, edges and first < len(inputs))
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


#: What every fuzzed engine has (the fuzz check needs both): every pool set holds them.
CORE = frozenset({'add', 'mul'})
#: The lecture's engine: every form but ``a ** b`` and ``2.0 ** a`` (micrograd's too).
LECTURE = frozenset(ALL_OPS) - {'pow_value', 'rpow'}
#: The smallest engines seen: the lecture's first hour, and an engine of Values only.
SMALL_OP_SETS = (frozenset({'add', 'add_const', 'mul', 'mul_const', 'tanh'}),
                 frozenset({'add', 'mul', 'exp', 'log', 'tanh', 'relu', 'sigmoid'}))


def pool_sets():
    """The op sets of the pool, each with a stream of graphs over it: whole corpora for the
    engines seen most (all ops, the lecture's, one op fewer, the smallest), a part of one for
    the core with one or two ops more, from which any other engine's corpus is drawn."""
    every = frozenset(ALL_OPS)
    fewer = [base - {op} for base in (every, LECTURE) for op in sorted(base - CORE)]
    others = sorted(every - CORE)
    return tuple(dict.fromkeys([every, LECTURE, *fewer, *SMALL_OP_SETS,
                                *(CORE | {a, b} for a, b in itertools.combinations(others, 2)),
                                *(CORE | {a} for a in others), CORE]))


#: The share of a corpus the pool holds over the core and one op more (1/2), or two (1/5).
PARTS = {3: 2, 4: 5}


def part(ops, examples):
    """How many graphs the pool holds over ``ops`` for a corpus of ``examples``: a whole
    corpus for the engines seen most and the core, a part of one for the core and one or two."""
    return max(1, examples // PARTS[len(ops)]) if len(ops) in PARTS else examples


class Stream:
    """The distinct graphs of one pool set for one seed, made on demand (a grade reads a few of
    most streams) and the same prefix however far it is read; at most ``size``, with bounded
    retries (small op sets repeat themselves)."""

    def __init__(self, seed, ops, size, max_nodes):
        self.rng = random.Random(f'micrograde-corpus:{seed}:{",".join(sorted(ops))}')
        self.ops, self.size, self.max_nodes = ops, size, max_nodes
        self.graphs, self.seen, self.tries = [], set(), size * 5

    def get(self, i):
        """The ``i``-th graph, or ``None`` past the end."""
        while len(self.graphs) <= i and len(self.graphs) < self.size and self.tries:
            self.tries -= 1
            g = build(Seeded(self.rng), self.ops, max_nodes=self.max_nodes)
            key = g.to_json()
            if key not in self.seen:
                self.seen.add(key)
                self.graphs.append(g)
        return self.graphs[i] if i < len(self.graphs) else None


@functools.lru_cache(maxsize=1024)
def stream(seed, ops, examples, max_nodes):
    return Stream(seed, ops, part(ops, examples), max_nodes)


@functools.lru_cache(maxsize=64)
def corpus(seed, ops, examples, max_nodes):
    """``examples`` distinct graphs for an engine with the capabilities ``ops``, drawn from the
    pool (``pool_sets``), so that their answers ship with the grader whatever ops an engine has:
    the same list on every machine and in every process, made without Hypothesis or torch.

    An engine whose op set is a pool set gets that set's stream.  Any other takes the pool sets
    it has in layers, the largest first (those no other of its sets contains), reading their
    streams in turn so that every op it has is mixed with the others, until it has enough."""
    ops = frozenset(ops) & frozenset(ALL_OPS)
    left = [s for s in pool_sets() if s <= ops]
    out, seen = [], set()
    while left and len(out) < examples:
        layer = [ops] if ops in left else [s for s in left if not any(s < t for t in left)]
        left = [s for s in left if s not in layer]
        streams = [stream(seed, s, examples, max_nodes) for s in layer]
        for i in range(examples):
            drawn = [g for st in streams if (g := st.get(i)) is not None]
            out += [g for g in dict.fromkeys(drawn) if g not in seen][:examples - len(out)]
            seen.update(drawn)
            if not drawn or len(out) == examples:
                break
    return tuple(out)


def pool(seed, examples, max_nodes):
    """Every graph any engine's corpus can hold (what ``micrograde.surfaces.build_oracles`` ships)."""
    graphs = {}
    for s in pool_sets():
        st = stream(seed, s, examples, max_nodes)
        graphs.update(dict.fromkeys(g for i in range(st.size) if (g := st.get(i)) is not None))
    return list(graphs)
