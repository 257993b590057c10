"""How ``backward()`` walks a graph: seeding, accumulation, the order of ``_backward`` calls, a
second call."""
from .. import cases, oracles
from ..compare import close, show
from ..diagnose import topological_violation
from ..results import Counterexample
from .registry import check, failed, passed, skipped
from .trials import item, judged, run_graphs

WALKS = {name: (what, graphs) for name, what, graphs in cases.BACKWARD}
REPEAT = cases.REPEAT


@check('backward.walk')
def has_backward(ctx):
    """Whether there is a ``backward()`` at all: every other backward check needs one. Always
    reported, so every submission has the same checks and the same maximum score."""
    if 'backward' not in ctx.usable:
        return failed('backward() is not implemented' + ctx.instead('backward'))
    return passed('backward() is implemented')


def _trials(ctx, name):
    """The instrumented runs of one walk's graphs (shared with the visit-order check)."""
    graphs = [g for g in WALKS[name][1] if g.capabilities <= ctx.usable]
    return ctx.once(('backward', name), lambda: run_graphs(ctx.session, graphs, instrument=True))


@check('backward.{}', each=WALKS)
def graph_walk(ctx, name):
    if 'backward' not in ctx.usable:
        return None
    trials = _trials(ctx, name)
    return judged(trials, WALKS[name][0]) if trials else skipped('needs an op the submission lacks')


@check('backward.visits')
def visits(ctx):
    """Each node's ``_backward`` called once, consumers first, in every walk's graphs."""
    if 'backward' not in ctx.usable:
        return None
    orders = [(t.graph, t.actual.order) for name in WALKS for t in _trials(ctx, name)
              if t.actual.order]
    if not orders:
        return skipped('the engine does not call per-node _backward closures; visit order not '
                       'observed')
    for g, order in orders:
        problem = topological_violation(g, order)
        if problem:
            return failed(problem, diagnosis=problem, counterexample=Counterexample(
                g.code(), {'_backward calls': 'each node once, consumers first'},
                {'_backward calls': ' -> '.join(g.name(i) for i in order)}))
    return passed(f'every node propagated exactly once, consumers first ({len(orders)} graphs)')


@check('backward.repeat')
def repeat(ctx):
    """A second backward() must add the same gradients again, as micrograd (or torch) does."""
    if 'backward' not in ctx.usable:
        return None
    if not REPEAT.capabilities <= ctx.usable:
        return skipped('needs add and mul')
    actual = ctx.session.run('graph', [item(REPEAT, backward=2)])[0]
    ref = oracles.run_reference(REPEAT, backward=2)
    code = REPEAT.code(show=range(3)) + 'out.backward()\n' + 'print(a.grad, b.grad, d.grad)\n'
    if actual.error or actual.grads2 is None:
        return failed(f'calling backward() twice failed: '
                      f'{actual.error.message if actual.error else ""}',
                      counterexample=Counterexample(code))
    leaves = range(len(REPEAT.inputs))
    micrograd = all(close(actual.grads2[i], ref.grads2[i]) for i in leaves)
    doubled = all(close(actual.grads2[i], 2 * actual.grads[i]) for i in leaves)
    if micrograd or doubled:
        return passed('a second backward() adds the gradients again (leaf gradients double)')
    same = all(close(actual.grads2[i], actual.grads[i]) for i in leaves)
    # both an `=` for `+=` and a visited flag leave a second pass changing nothing; only the
    # first also gets a value used twice wrong on the first pass
    assigned = any(t.failed for t in _trials(ctx, 'accumulate'))
    why = ('the second backward() changed nothing because the gradient is assigned instead of '
           'accumulated (`grad = ...` where it must be `grad += ...`): each pass writes the same '
           'values again' if same and assigned else
           'the second backward() changed nothing: is a "visited" flag kept on the nodes between '
           'calls?' if same else 'a second backward() must add the same gradients again')
    return failed(why, diagnosis=why, counterexample=Counterexample(
        code, {f'{REPEAT.name(i)}.grad': show(ref.grads2[i]) for i in leaves},
        {f'{REPEAT.name(i)}.grad': show(actual.grads2[i]) for i in leaves}))
