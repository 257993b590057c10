"""How ``backward()`` walks a graph: seeding, accumulation, the order of ``_backward`` calls, a
second call."""
from dataclasses import replace

from micrograde.model import cases
from micrograde.oracle import oracles
from micrograde.model.compare import close, show
from micrograde.diagnose.diagnosis import (FLOAT32_ATOL, FLOAT32_RTOL, blame, float32,
                                          misconception, past_float32, single_precision,
                                          topological_violation)
from micrograde.model.results import Code, Counterexample, Misconception, NotRun
from micrograde.checks.mlp import raised
from micrograde.checks.probe import backward_through
from micrograde.checks.fuzz import ORDER, rerun_differs
from micrograde.checks.registry import failed, passed, skipped
from micrograde.checks.trials import item, judged, needs, run_graphs, unasked, watched
from micrograde.isolate.answers import HUNG
from micrograde.worker.ops import FORMS

WALKS = {name: (what, graphs) for name, what, graphs in cases.BACKWARD}
REPEAT = cases.REPEAT


def has_backward(ctx):
    """Whether there is a ``backward()`` at all: every other backward check needs one. Always
    reported, so every submission has the same checks and the same maximum score."""
    if 'backward' not in ctx.usable:
        return failed('backward() is not implemented' + ctx.instead('backward'),
                      **ctx.without_backward())
    through = backward_through(ctx.report)
    return passed(f'backward() is graded through {through}()' if through else
                  'backward() is implemented')


def _trials(ctx, name):
    """The runs of one walk's graphs at the seed's inputs, each watched too: the visit-order
    check reads the order of every one."""
    graphs = [g for g in ctx.at_seed(WALKS[name][1]) if g.capabilities <= ctx.usable]
    def run():
        trials = run_graphs(ctx.session, graphs, oracle=ctx.expected)
        watched(ctx.session, trials)
        return trials
    return ctx.once(('backward', name), run)


def graph_walk(ctx, name):
    if 'backward' not in ctx.usable:
        return None
    trials = _trials(ctx, name)
    if not trials:
        return skipped(needs(ctx, WALKS[name][1]))
    failing, hung = ctx.failing_ops(), ctx.failing_ops(('error',))
    faults = [_op_fault(t, failing, name in ORDERS, hung) for t in trials]
    # the graphs the worker was not asked after such an op's hang say nothing either
    after = any(fault and t.actual.error and t.actual.error.lost for t, fault in zip(trials, faults))
    walked = [t for t, fault in zip(trials, faults)
              if not fault and not (after and unasked(t))]
    if not walked:
        return skipped(f'its graphs stop inside ops that fail their own checks '
                       f'({", ".join(f"ops.{c}" for c in sorted(failing))})')
    return reordered(ctx, walked, judged(walked, WALKS[name][0], ctx.trusted(), ctx.suspects()))


#: Set orders a failing walk graph is run in at least: a set of two children iterates one way
#: or the other, so each run misses a walk that follows it half the time (a few tiny graphs).
REORDERS = 8


def reordered(ctx, trials, outcome):
    """A failure whose graph gives another result when run again with its Values in another
    set order (a walk over ``_prev`` with no visited guard): said, since the learner's own runs
    then disagree with one another (`a.grad` 4.92 in some, 7.38 in others) as well as with
    torch.  The finding itself stands: the walk the gradients show."""
    if outcome.status != 'failed' or not any(rerun_differs(ctx.session, t, max(
            ctx.budget.reruns, REORDERS)) for t in trials if t.failed):
        return outcome
    said = f' The result changes with the order of a set: {ORDER}.'
    outcome.message += said
    outcome.diagnosis += said
    return outcome


#: The walks that judge the order of the ``_backward`` calls: a wrong local rule is not theirs
#: to report (``accumulate`` is about the rules' ``+=`` itself).
ORDERS = ('topological', 'chain')


def _op_fault(trial, failing, order_only=False, hung=frozenset()):
    """Whether ``trial`` failed inside an op that fails its own check, not in the walk itself: a
    wrong value computed by such an op, an exception in its forward or in its own local rule,
    (``order_only``: for a walk judging the order) a wrong gradient out of its rule, or a hang
    (or the worker's end) in a graph of an op whose own check could not finish for it (``hung``:
    a ``tanh`` whose rule never returns timed out in the walk's graph that holds a tanh too).
    That is the op's finding, not the walk's."""
    if not trial.failed:
        return False
    graph, actual, error = trial.graph, trial.actual, trial.actual.error
    if error and error.lost:
        return error.type in HUNG and bool(graph.capabilities & hung)
    n = len(graph.inputs)
    if any(graph.node(i).capability in failing and _wrong(actual.values[i], trial.expected.values[i])
           for i in graph.live() if n <= i < len(actual.values)):
        return True
    if not error:
        return order_only and _rule_fault(trial, failing)
    entry = error.node if error.stage == 'forward' else \
        actual.order[-1] if error.stage == 'backward' and actual.order else None
    node = graph.node(entry) if entry is not None else None
    return node is not None and node.capability in failing


def _wrong(actual, expected):
    """A value an op got wrong: not one only rounded to float32, which is the engine's storage
    (a root of its own), so the walk is still judged, at every seed alike."""
    return not close(actual, expected) and not single_precision(actual, expected)


def _rule_fault(trial, failing):
    """A wrong gradient that the rule of an op failing its own check explains, the walk itself
    right: every ``_backward`` ran once, consumers first, and the first wrong flow leaves a
    node of such an op."""
    graph, order = trial.graph, trial.actual.order
    # past values only rounded to float32: it rounds one seed's inputs and not another's
    actual, m = past_float32(graph, trial.actual, trial.expected, trial.mismatch)
    if m is None or m.kind != 'grad' or not order or topological_violation(graph, order) or \
            single_precision(m.actual, m.expected):  # float32 storage: the engine's, not a rule's
        return False
    _, culprits = blame(graph, actual, trial.expected, m)
    return bool(culprits) and all(graph.node(i).capability in failing for i in culprits)


def visits(ctx):
    """Each node's ``_backward`` called once, consumers first, in every walk's graphs."""
    if 'backward' not in ctx.usable:
        return None
    orders = [(t.graph, t.actual) for name in WALKS for t in _trials(ctx, name)
              if t.actual.order and not t.actual.error]  # a walk cut short by an error is not one
    if not orders:
        # nothing to instrument (one loop over local gradients, as microgpt's engine does): the
        # order shows only in the gradients, which the walks compare
        walks = [t for name in WALKS for t in _trials(ctx, name) if t.expected is not None]
        if walks and not any(t.failed for t in walks):
            return passed(f'no per-node _backward closures to observe; the gradients of every '
                          f'walk match ({len(walks)} graphs)')
        lost = next((t.actual.error for name in WALKS for t in _trials(ctx, name)
                     if t.actual.error and t.actual.error.lost), None)
        if lost is not None:  # the walks got no answer (a hang, a time limit): nothing observed
            return skipped(f"not run: no walk's graph was answered "
                           f"({lost.message.removeprefix('not run: ')})", not_run=NotRun.NEEDS)
        return skipped('the engine does not call per-node _backward closures; visit order not '
                       'observed')
    for g, actual in orders:
        problem = topological_violation(g, actual.order, actual.merged, actual.unheld)
        if problem:
            return failed(problem.text, diagnosis=problem.text, counterexample=Counterexample(
                g.code(), {'_backward calls': 'each node once, consumers first'},
                {'_backward calls': ' -> '.join(g.name(i) for i in actual.order)}),
                misconception=misconception(problem, g, actual))
    return passed(f'every node propagated exactly once, consumers first ({len(orders)} graphs)')


def repeat(ctx):
    """A second backward() must add the same gradients again.  torch adds each pass's own
    gradients, so every gradient doubles; the lecture's micrograd compounds, since the nodes
    below the output keep the first pass's gradient and pass it on again (a.grad 6.0 where torch
    gives 3.0).  Either passes; torch's numbers are the ones shown, micrograd's beside them."""
    if 'backward' not in ctx.usable:
        return None
    graph = ctx.at_seed([REPEAT])[0]
    if not graph.capabilities <= ctx.usable:
        return skipped(needs(ctx, [graph]))
    actual = ctx.session.run('graph', [item(graph, backward=2)])[0]
    ref = oracles.run_reference(graph, backward=2)
    leaves = range(len(graph.inputs))
    printed = 'print(' + ', '.join(f'{graph.name(i)}.grad' for i in leaves) + ')\n'
    code = graph.code(show=leaves) + 'out.backward()\n' + printed
    if actual.error or actual.grads2 is None:
        # the graph could not be built (an op of it returned None): that op's check's finding
        built = actual.error is not None and actual.error.stage == 'forward' and _assigning(ctx)
        return failed(f'calling backward() twice failed: {actual.error or ""}',
                      counterexample=Counterexample(code),
                      **({'consequence_of': built} if built else _raised(ctx, actual.error)))
    # a Value that stores float32 (a root of its own) to its precision, at every seed alike
    tolerance = (FLOAT32_RTOL, FLOAT32_ATOL) if float32(actual.values or ()) or \
        float32(actual.grads or ()) else ()
    micrograd = all(close(actual.grads2[i], ref.grads2[i], *tolerance) for i in leaves)
    doubled = all(close(actual.grads2[i], _doubled(actual.grads[i]), *tolerance) for i in leaves)
    if doubled:
        return passed('a second backward() adds the gradients again (they double, as in torch)')
    if micrograd:
        return passed('a second backward() adds the gradients again (compounding through the '
                      "nodes below the output, as micrograd's does; torch doubles them)")
    same = all(close(actual.grads2[i], actual.grads[i], *tolerance) for i in leaves)
    # both an `=` for `+=` and a visited flag leave a second pass changing nothing; only the
    # first is in the rules of the graph's own ops, whose checks (a value used twice) then fail
    assigning = _assigning(ctx)  # the op check whose `=` explains it, or ''
    assigned = bool(assigning)
    stopped = _stopped(actual, ref, leaves, tolerance)
    resets = ctx.report.methods.get('backward', {}).get('resets') if same else None
    why = ('the second backward() changed nothing because the gradient is assigned instead of '
           'accumulated (`grad = ...` where it must be `grad += ...`): each pass writes the same '
           'values again' if same and assigned else
           f'the second backward() changed nothing: backward() sets the gradients to 0 before '
           f'propagating (line {resets}), so each call starts again; torch and micrograd both add '
           f'to the gradients again (zeroing them is the training loop\'s, zero_grad())'
           if resets else
           'the second backward() changed nothing: does backward() reset the gradients before '
           'propagating, or keep a "visited" flag on the nodes between calls? torch and micrograd '
           'both add to the gradients again' if same else
           f'the second backward() reached only part of the graph ({stopped} kept their first '
           f'values, the others grew): is a "visited" mark left on the nodes below the output '
           f'between calls?' if stopped else
           'a second backward() must add the same gradients again')
    # an op's `=` is that op's finding (linked to it when grading ends); the rest is the walk's
    # a walk found passing gradients on more than once spoils a second pass as it does a first
    walking = '' if assigned or same or stopped else _walking(ctx)
    named = None if assigned else Misconception(Code.VISITED_FLAG, method='backward', line=resets) \
        if same or stopped else None
    return failed(why, diagnosis=why, consequence_of=assigning or walking,
                  counterexample=Counterexample(
                      code, {f'{graph.name(i)}.grad': _twice(ref, i) for i in leaves},
                      {f'{graph.name(i)}.grad': show(actual.grads2[i]) for i in leaves}),
                  misconception=named)


#: What a walk check finds in backward() itself that spoils a second pass as it does a first.
WALKED = (Code.REPEATED, Code.NOT_TOPOLOGICAL)


def _walking(ctx):
    """The walk check that found backward() passing gradients on more than once or out of
    order, or ``''``: redyaung/smallgrad's recursion passes each node's whole grad on again at
    every call, right once on the repeat graph's chain and compounded on a second pass."""
    return next((c.id for c in ctx.report.checks if c.category == 'backward' and
                 c.status == 'failed' and c.misconception is not None and
                 c.misconception.code in WALKED), '')


def _twice(ref, i):
    """Entry ``i``'s gradient after two passes as torch gives it (the first pass's, doubled),
    with the lecture's micrograd's beside it where that differs."""
    torch, micrograd = show(2 * ref.grads[i]), show(ref.grads2[i])
    return torch if torch == micrograd else f'{torch} (torch; micrograd: {micrograd})'


def _raised(ctx, err):
    """An exception of a backward() called twice, as a finding where it was raised (``raised``,
    as the network's): a backward() that raises on its first call too is that one bug, not a
    second one at its ``def`` line beside the one every gradient check shows."""
    if err is None:
        return {}
    value = ctx.report.class_info.get('Value', {}).get('name', 'Value')
    return raised(replace(err, owner='') if err.owner == value else err)


def _assigning(ctx):
    """The failing check of an op the repeat graph uses, in any of its forms (`a + 2.0` fails
    where `a + b` passes with the rule of the same method): its rule explains the second pass;
    ``''`` when none fails."""
    ops = {node.op for node in REPEAT.nodes}
    # not one that saw only values rounded to float32 (the Value's storage, no rule's `=`)
    rounded = {c.id.removeprefix('ops.') for c in ctx.report.checks if c.misconception is not None
               and c.misconception.code == Code.SINGLE_PRECISION}
    return next((f'ops.{cap}' for cap in sorted(ctx.failing_ops() - rounded)
                 if cap in FORMS and FORMS[cap][0].name in ops), '')


def _doubled(gradient):
    """A gradient doubled; one that is not a float (a complex number's answer) as it is, which
    matches nothing (``close``)."""
    return 2 * gradient if type(gradient) is float else gradient


def _stopped(actual, ref, leaves, tolerance=()):
    """The leaves a second pass left as they were while it added to the rest as micrograd does
    (or doubled them); ``''`` if it did not so."""
    kept = [i for i in leaves if close(actual.grads2[i], actual.grads[i], *tolerance)]
    added = [i for i in leaves if close(actual.grads2[i], ref.grads2[i], *tolerance)
             or close(actual.grads2[i], _doubled(actual.grads[i]), *tolerance)]
    partly = kept and added and len(kept) + len(added) == len(leaves)
    return ', '.join(f'{REPEAT.name(i)}.grad' for i in kept) if partly else ''
