"""Shrink a failing graph to a small one that fails the same way: a readable counterexample.

A learner needs one small graph that shows the mistake, not the global minimum, and needs it
fast.  So shrinking starts from the smallest failing graph of the corpus and goes in rounds:
each round builds every one-step simplification (an earlier node as the output, a node
bypassed, an input merged into another, a simpler number), keeps those that stay in the
fuzzer's domain (``micrograde.fuzz.dags.valid``), runs them on the submission simplest first, a few per
request, and moves to the first (smallest) that still fails the same way.  It stops when nothing
smaller fails, or at the profile's budget (stated in the report).  No Hypothesis, no torch: a candidate is
judged against the reference engine, which agrees with torch on the fuzzer's domain (the test
suite checks it on thousands of graphs); the verdict itself rests on corpus graphs both agree on.
"""
import time

from micrograde.oracle import oracles
from micrograde.fuzz.dags import NAMES, valid
from micrograde.diagnose.diagnosis import first_mismatch
from micrograde.model.graph import Graph, Node

LOST = object()

#: Candidates run per request: the simplest first, and usually one of them fails.
CHUNK = 16

#: Simpler numbers first: what a shrunk graph's inputs and constants move towards.
SIMPLE = (1.0, 2.0, -1.0, 0.5, 3.0, -2.0, -0.5, 1.5, 0.25, -1.5)


def signature(trial):
    """How a trial fails: candidates must fail the same way to replace it."""
    m = trial.mismatch
    if m.kind == 'error':
        return 'error', trial.actual.error.type
    if m.kind == 'value':
        node = trial.graph.node(m.entry)
        return 'value', node.op if node else 'input'
    return 'grad', None


def _number_cost(x):
    return SIMPLE.index(x) if x in SIMPLE else len(SIMPLE) + abs(x)


def cost(graph):
    """Smaller is more readable: fewer nodes, fewer inputs, simpler numbers."""
    numbers = [x for _, x in graph.inputs] + [n.const for n in graph.nodes if n.const is not None]
    return len(graph.nodes), len(graph.inputs), sum(map(_number_cost, numbers))


def _remove(g, i, by):
    """``g`` without entry ``i`` (an input or a node): its uses take entry ``by`` instead."""
    n = len(g.inputs)

    def new(j):
        j = by if j == i else j
        return j - (j > i)
    inputs = g.inputs[:i] + g.inputs[i + 1:] if i < n else g.inputs
    nodes = tuple(Node(node.op, tuple(map(new, node.args)), node.const, node.left)
                  for k, node in enumerate(g.nodes) if n + k != i)
    return Graph(inputs, nodes, new(g.output))


def _renamed(g):
    g = g.pruned()
    return Graph(tuple((NAMES[i], x) for i, (_, x) in enumerate(g.inputs)), g.nodes, g.output)


def candidates(g):
    """Every one-step simplification of ``g`` that stays in the fuzzer's domain, simplest first."""
    n, out = len(g.inputs), []
    last = g.nodes[-1]
    scale = last if last.op == 'mul' and len(last.args) == 1 else None  # the output's scaling
    for i in range(n, g.output):  # an earlier node as the output, scaled like the original
        head = g.nodes[:i - n + 1]
        out.append(Graph(g.inputs, head, i))
        if scale:
            out.append(Graph(g.inputs, head + (Node('mul', (i,), scale.const, scale.left),), i + 1))
    for i in range(n, g.output + 1):  # a node bypassed: its uses take one of its operands
        for a in dict.fromkeys(g.node(i).args):
            out.append(_remove(g, i, a))
    for i in range(n):  # an input merged into another
        out += [_remove(g, i, j) for j in range(n) if j != i]
    for i, (name, x) in enumerate(g.inputs):  # simpler numbers
        out += [Graph(g.inputs[:i] + ((name, y),) + g.inputs[i + 1:], g.nodes, g.output)
                for y in SIMPLE if _number_cost(y) < _number_cost(x)]
    for k, node in enumerate(g.nodes):
        if node.const is not None:
            out += [Graph(g.inputs, g.nodes[:k] + (Node(node.op, node.args, c, node.left),)
                          + g.nodes[k + 1:], g.output)
                    for c in SIMPLE if _number_cost(c) < _number_cost(node.const)]
    here = cost(g)
    found = {}
    for c in map(_renamed, out):
        if cost(c) < here and c.nodes and valid(c):
            found.setdefault(c.to_json(), c)
    return sorted(found.values(), key=cost)


def alone(g, values):
    """``{i: graph}``: each live node ``i`` of ``g`` by itself, its operands inputs holding
    ``values`` (theirs in ``g``), where ``g`` has more than one: an op wrong only on the values
    it had there fails alone, where no other op can be the culprit."""
    nodes = [i for i in g.live() if i >= len(g.inputs)]
    return {i: _alone(g.node(i), values) for i in nodes if len(nodes) > 1}


def _alone(node, values):
    args = tuple(dict.fromkeys(node.args))
    return Graph(tuple((NAMES[k], values[a]) for k, a in enumerate(args)),
                 (Node(node.op, tuple(map(args.index, node.args)), node.const, node.left),),
                 len(args))


def judge(graph, actual):
    """A candidate's failure against the reference engine (``None`` when it passes)."""
    expected = oracles.run_reference(graph)
    if expected.error:
        return expected, None
    return expected, first_mismatch(graph, actual, expected)


def shrink(trial, run, budget, make_trial):
    """The smallest graph found that fails like ``trial``, as a trial, within ``budget`` (a
    profile's ``Budget``: ``shrink_runs`` candidates, ``shrink_seconds`` at most).

    ``run(graphs)`` runs graphs on the submission (one request); ``make_trial(graph, actual,
    expected, mismatch)`` builds a trial.  Candidates go ``CHUNK`` at a time, simplest first, so
    a round usually costs one small request.  Returns ``(trial, rounds, complete)``:
    ``complete`` when no smaller candidate failed, rather than the budget running out (or the
    worker being lost on a candidate).  The count binds first: the same on a busy host."""
    deadline = time.perf_counter() + budget.shrink_seconds
    want, rounds, left = signature(trial), 0, budget.shrink_runs
    if trial.actual.error and trial.actual.error.lost:
        return trial, rounds, True  # a hang or a crash: no candidate is worth another one
    while True:
        options = candidates(trial.graph)
        if not options:
            return trial, rounds, True
        rounds += 1
        smaller = None
        for start in range(0, len(options), CHUNK):
            chunk = options[start:start + CHUNK]
            if time.perf_counter() > deadline or len(chunk) > left:
                return trial, rounds - 1, False
            left -= len(chunk)
            smaller = _first_failing(chunk, run, want, make_trial)
            if smaller is LOST:
                return trial, rounds, False
            if smaller:
                break
        if smaller is None:
            return trial, rounds, True
        trial = smaller


def _first_failing(graphs, run, want, make_trial):
    """The first candidate that fails like ``want``; ``LOST`` if the worker was lost on one (a
    candidate that hangs or crashes ends shrinking: the checks after it need the worker)."""
    for g, actual in zip(graphs, run(graphs)):
        if actual.error and actual.error.lost:
            return LOST
        expected, mismatch = judge(g, actual)
        if mismatch is not None:
            t = make_trial(g, actual, expected, mismatch)
            if signature(t) == want:
                return t
    return None
