"""Graphs that the lecture's formulas break on (overflow, kinks, ``0 ** 0``, deep graphs),
compared with torch: advice unless the rubric counts them."""
from micrograde.model import cases
from micrograde.oracle import oracles
from micrograde.worker.ops import NUMBER_FORMS
from micrograde.model.compare import show
from micrograde.diagnose.diagnosis import REPEATED, explain
from micrograde.model.results import Counterexample
from micrograde.checks.registry import failed, passed, skipped
from micrograde.checks.trials import counterexample, item, needs, run_graphs, shown_result

EDGES = {name: (what, graph) for name, what, graph in cases.ROBUSTNESS}


def _as_torch(ctx, what, graph, loop=None):
    """``graph`` run on the submission against torch; ``loop``: the code that builds a graph
    too large to print node by node."""
    if not graph.capabilities <= ctx.usable:
        return skipped(needs(ctx, [graph]))
    trial = run_graphs(ctx.session, [graph], oracle=oracles.torch_answer)[0]
    actual, expected, mismatch = trial.actual, trial.expected, trial.mismatch
    if mismatch is None:
        return passed(f'{what}: as torch')
    if loop:  # the loop that builds it, and a's gradient
        got = {'a.grad': shown_result(actual.grads, 0)}
        if actual.error:
            got['error'] = str(actual.error)
        example = Counterexample(loop, {'a.grad': show(expected.grads[0])}, got)
    else:
        example = counterexample(trial)
    return failed(f'{what}: {explain(graph, actual, expected, mismatch)}', counterexample=example)


def edge_case(ctx, name):
    return _as_torch(ctx, *EDGES[name])


def deep_chain(ctx):
    n = ctx.budget.chain
    return _as_torch(ctx, f'backward through a {n}-node chain',
                     *cases.deep(cases.chain, n, _without_numbers(ctx)))


def diamond_ladder(ctx):
    what = (f'backward through {cases.DIAMONDS} stacked diamonds (x = x*1 + x*1): linear time, '
            'unless every path is walked')
    walked = _walks_every_path(ctx)
    if walked:
        return walked
    return _as_torch(ctx, what, *cases.deep(cases.ladder, cases.DIAMONDS, _without_numbers(ctx)))


#: Diamonds in the small ladder whose ``_backward`` calls and operand walks are counted first.
COUNTED = 8
#: Walks of the operand containers per value beyond which a sort is not linear: a linear one
#: walks each node's once or twice; one that follows every path, 2 ** COUNTED times in all.
WALKS_PER_NODE = 4


def _walks_every_path(ctx):
    """A failure when a small ladder's nodes run their ``_backward`` more than once, or its
    topological sort walks their operands far more often than once each: a backward that walks
    every path doubles its time with each diamond, and the full ladder would only tell so after
    the check's whole time limit.  ``None`` when nothing is observed or all is fine."""
    graph, loop = cases.deep(cases.ladder, COUNTED, _without_numbers(ctx))
    if not graph.capabilities <= ctx.usable:
        return None
    actual = ctx.session.run('graph', [item(graph, instrument=True)])[0]
    if actual.error:
        return None
    order = actual.order or []
    calls, nodes = len(order), len(set(order))
    if calls > nodes:
        return _doubling(f'ran the nodes\' local rules {calls} times for {nodes} nodes: every path is '
                         f'walked', 'calls', f'{REPEATED[0].upper()}{REPEATED[1:]}: build one '
                         f'topological order and call each _backward once.',
                         loop, '_backward calls', nodes, calls)
    walks = actual.walks if type(actual.walks) is int else 0
    if walks > WALKS_PER_NODE * graph.size:
        return _doubling(f'walked the nodes\' operands {walks} times for {graph.size} values: the '
                         f'topological sort follows every path', 'steps', 'Is a node marked '
                         'visited, and checked, before its operands are walked? ' + (
                             'Each _backward runs once, but the sort itself is exponential.'
                             if order else 'The walk itself is exponential.'),
                         loop, 'operand walks', f'about {graph.size}', walks)
    return None


def _doubling(what, unit, advice, loop, counted, linear, seen):
    """The failure of a backward whose work on the small ladder doubles with each diamond."""
    return failed(f'backward through {COUNTED} stacked diamonds {what}, so each diamond doubles '
                  f'the time ({cases.DIAMONDS} diamonds: about {2 ** cases.DIAMONDS:,} {unit}). '
                  f'{advice}',
                  counterexample=Counterexample(
                      f'# backward() counts {seen} {counted} here; each more diamond doubles '
                      f'that\n' + loop, {counted: str(linear)}, {counted: str(seen)}))


def _without_numbers(ctx):
    """The number forms an engine without plain numbers lacks: their numbers become leaves."""
    return NUMBER_FORMS if ctx.capabilities.get('numbers') == 'absent' else ()
