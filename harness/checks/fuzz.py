"""Random DAGs over the ops present (a corpus the same for every submission, see
``micrograde.fuzz.dags``); a failure is shrunk to a small graph (``micrograde.fuzz.shrink``) and re-run to
detect non-determinism."""
import hashlib
import math
from dataclasses import dataclass, replace

from micrograde.oracle import oracle_store, oracles
from micrograde.fuzz import shrink
from micrograde.fuzz.dags import corpus
from micrograde.diagnose.diagnosis import (METHOD_OPS, explain, first_mismatch, learner_method,
                                           misconception)
from micrograde.worker.ops import FORMS
from micrograde.isolate.answers import HUNG
from micrograde.model.compare import close, show
from micrograde.model.results import Code, Misconception
from micrograde.worker.ops import OPS
from micrograde.checks.causes import OTHER_REGION, RIGHT_IN_NETWORK, RULES, made_of
from micrograde.checks.registry import Context, error, failed, passed, skipped
from micrograde.checks.trials import (Trial, against, counterexample, item, run_graphs, unasked,
                                     watched)


def random_graphs(ctx):
    session, seed, budget = ctx.session, ctx.config.seed, ctx.budget
    ops = ctx.usable - {'backward'}
    if not {'mul', 'add'} <= ops or 'backward' not in ctx.usable:
        return skipped('needs add, mul and backward')
    revived = answered_anyway(ctx, ops)
    ops |= revived
    graphs = corpus(seed, frozenset(ops), budget.examples, budget.max_nodes)
    # plain runs: the one failure reported is watched to explain it (``reported``)
    trials, stopped = until_stopped(ctx, run_graphs(session, graphs, oracle=Context.expected))
    # graphs never asked (after one timed out or ended the worker) show nothing, right or wrong
    unrun = sum(map(unasked, trials))
    trials = [t for t in trials if not unasked(t)]
    failing = [t for t in trials if t.failed]
    graded = sum(t.expected is not None for t in trials)
    stopped += f'; {unrun} not run after a graph that did not answer' if unrun else ''
    checked = f'corpus {corpus_id(graphs)}{against(graphs)}{stopped}' + (
        f'; {", ".join(sorted(revived))}, said not implemented (NotImplementedError where '
        f'probed), answered in other graphs: checked here as present' if revived else '')
    differs = _order_dependent(session, [t for t in trials if not t.graph.capabilities &
                                         ctx.failing_ops()], budget.reruns)
    if not failing and differs:
        return failed(f'{graded} random graphs over {len(ops)} ops match torch in the order the '
                      f'grader numbers Values, but {ORDER}: re-run with Values numbered otherwise, '
                      f'this graph gives another result ({checked})', diagnosis=ORDER + '.',
                      counterexample=counterexample(differs), misconception=Misconception(
                          Code.ORDER_DEPENDENT, method='backward'))
    if not failing and (stopped or not graded):
        return error(f'{graded} random graphs over {len(ops)} ops match torch and the reference '
                     f'({checked}); the rest were not run')
    if not failing:
        return searched(ctx, ops, f'{graded} random graphs over {len(ops)} ops match torch and '
                        f'the reference ({checked})')
    # localised first: a graph with an op that fails its own check is that check's to explain
    named = ctx.failing_ops()
    own = owning(ctx, named)
    elsewhere = wrong_elsewhere(session, [t for t in failing if t.graph.capabilities & named],
                                own, most=RAISED if own != named else None, ctx=ctx)
    # graphs that raised show no op's derivative: a node of a passing op wrong by itself there
    # (or raising alone, where its own check's graphs did not) is a bug the exception hid (a
    # backward() raising on every graph of more than 7 Values, priced at a cheap check's points,
    # hid a tanh wrong at |x| >= 3.5)
    raised = [t for t in failing if t.actual.error and not _lost(t.actual)]
    hidden = wrong_elsewhere(session, raised, own, most=RAISED, ctx=ctx)
    # a failing op's node wrong by itself where its own check did not look, right in between
    regions = other_region(ctx, [t for t in failing if t.graph.capabilities & named
                                 and id(t) not in elsewhere], named)
    elsewhere = {**hidden, **{k: single for k, (single, _) in regions.items()}, **elsewhere}
    unexplained = [t for t in failing if not t.graph.capabilities & named or id(t) in elsewhere]
    if not unexplained:
        left = (f'{len(failing)} wrong, each using an op that fails its own check '
                f'({", ".join(f"ops.{c}" for c in sorted(named))}): left to those checks')
        if graded == len(failing):
            return skipped(f'{graded} random graphs, {left} ({checked})')
        return passed(f'{graded - len(failing)} of {graded} random graphs over {len(ops)} ops match '
                      f'torch and the reference; {left} ({checked})')
    aside = (f' ({len(failing) - len(unexplained)} more use ops that fail their own checks)'
             if len(unexplained) < len(failing) else '')
    lead = f'{len(unexplained)} of {graded} random graphs wrong{aside} ({checked})'
    plain = [t for t in unexplained if id(t) not in elsewhere]
    # each uses a failing op, or raised, and holds a node of a passing one wrong by itself
    if not plain or (hidden and all(t.actual.error and not _lost(t.actual) for t in plain)):
        single = min(elsewhere.values(), key=lambda t: shrink.cost(t.graph))
        between = next((said for t, said in regions.values() if t is single), '')
        found = reported(ctx, single, lead, 'a node of it wrong by itself, its operands at their '
                         'right values, of an op whose own check passed' if not between else
                         f'a node of it {OTHER_REGION}, {between}', unexplained,
                         trusted=frozenset())
        return _placed(found, single.graph)
    # shrinking only removes and simplifies: the ops that fail their own checks stay out
    # a graph wrong without raising shows a derivative, which one that raised may hide
    smallest = min([t for t in plain if not t.actual.error] or plain,
                   key=lambda t: shrink.cost(t.graph))
    minimal, rounds, complete = shrink.shrink(
        smallest, lambda gs: session.run('graph', [item(g) for g in gs]),
        budget, Trial)
    how = (f'shrunk in {rounds} rounds' if complete else
           f'shrinking stopped after {rounds} rounds ({_spent(budget)}, or a candidate hung or '
           f'crashed)')
    return reported(ctx, minimal, lead, how, unexplained)


def owning(ctx, named):
    """Of the ops failing their own checks (``named``), those whose nodes alone are not tried in
    the wrong graphs: all but the ops failing only through another op's rule (``ctx.trusted``:
    tanh's check with a ``*`` wrong everywhere, each graph ending in ``* k``) whose methods are
    made of no op failing by itself (the class report's ``calls``: ``-`` as ``self + (-other)``
    with ``-x`` as ``x * -1`` is ``*``'s).  A ``*`` wrong everywhere failed every op's check, and
    a tanh node wrong alone at |x| >= 3.5 was left to them (45/51, the ``*`` bug's price)."""
    through = ctx.trusted()
    alone = {cap for cap in named if cap in FORMS and FORMS[cap][0].name in through}
    methods = {learner_method(cap) for cap in named - alone}
    return frozenset(named - {cap for cap in alone if not made_of(
        (learner_method(cap),), ctx.report.methods) & methods})


#: The graphs of the ops called absent though the Value has their method run to see whether they
#: answer after all, at most.
ABSENT = 40


def answered_anyway(ctx, ops):
    """The ops the probe called absent though the Value has their method (it raised
    ``NotImplementedError``, a stub as a course template hands it out) that answer after all:
    the graph each was probed with run again, then the first ``ABSENT`` graphs that use them of
    the corpus an engine that has them draws.  A stub raises in every one; an op that raised
    only at its first call (or only where its bug shows) answers in some, and its graphs are
    checked as any op's: tanh raising ``NotImplementedError`` once, its rule wrong at |x| >= 3.5,
    was 'not implemented', kept out of these graphs, and scored 50/51 (the bug alone: 41)."""
    from micrograde.model import cases
    stubs = [cap for cap, state in ctx.capabilities.items() if state == 'absent' and
             cap in FORMS and cap in cases.PROBES and learner_method(cap) in ctx.report.methods]
    if not stubs:
        return frozenset()
    again = ctx.session.run('graph', [item(cases.PROBES[cap]) for cap in stubs])
    stubs = frozenset(cap for cap, actual in zip(stubs, again) if actual.error is None or
                      actual.error.type == 'NotImplementedError' and not actual.error.lost)
    budget = ctx.budget
    graphs = [g for g in corpus(ctx.config.seed, frozenset(ops | stubs), budget.examples,
                                budget.max_nodes) if g.capabilities & stubs][:ABSENT]
    answers = ctx.session.run('graph', [item(g) for g in graphs]) if graphs else []
    return frozenset(cap for cap in stubs if any(
        cap in g.capabilities and actual.error is None for g, actual in zip(graphs, answers)))


def searched(ctx, ops, corpus_passed):
    """The corpus passed: with a search budget (the thorough profile), a Hypothesis search over
    the ops whose own checks pass, its smallest failure reported like the corpus's."""
    budget = ctx.budget
    if not budget.search:
        return passed(corpus_passed)
    from micrograde.fuzz import search  # Hypothesis: the thorough profile only
    ops = ops - ctx.failing_ops()
    found = search.search(lambda g: run_graphs(ctx.session, [g])[0], ops,
                          ctx.config.seed, budget.search, budget.max_nodes, budget)
    what = (f'{found.ran} graphs a Hypothesis search drew (seed {ctx.config.seed}) from boundary '
            f'inputs over {len(ops)} ops')
    stopped = ctx.overtime()
    if stopped and found.trial is not None and found.trial.actual.error and \
            found.trial.actual.error.lost:
        return error(f'{corpus_passed}; so do the first {found.ran - 1} graphs a Hypothesis search '
                     f'drew (seed {ctx.config.seed}) from boundary inputs over {len(ops)} ops, '
                     f'when it was {stopped}: the search did not finish')
    if found.trial is None:
        # a fixed list, whose every graph the suite checks torch and the reference agree on
        swept, stopped = until_stopped(ctx, run_graphs(
            ctx.session, search.sweep(ops), oracle=oracles.run_reference))
        wrong = [t for t in swept if t.failed]
        each = (f'{len(swept)} one-node graphs of each op on each boundary input (the sweep after '
                f'the search, answered by the reference engine{stopped})')
        if not wrong and stopped:
            return error(f'{corpus_passed}; so do {what}, and the first {each}; the rest were not '
                         f'run')
        if not wrong:
            return passed(f'{corpus_passed}; so do {what}, and {each}')
        return reported(ctx, wrong[0], f'{corpus_passed}; so do {what}, but of {each} '
                        f'{len(wrong)} are wrong', 'one op on one input: nothing to shrink', wrong,
                        trusted=frozenset())
    how = ('shrunk by Hypothesis' if found.complete else
           f'Hypothesis stopped shrinking, {stopped}' if stopped else
           f'Hypothesis stopped shrinking ({_spent(budget)}, or a graph hung or crashed)')
    # the search looks where the ops' own checks did not (boundary inputs): trust none of them
    return reported(ctx, found.trial, f'{corpus_passed}, but of {what} some are wrong', how,
                    [found.trial], trusted=frozenset())


def _spent(budget):
    """The shrinking's budget, as a report says it ran out."""
    return (f'its budget of {budget.shrink_runs} candidate graphs or '
            f'{budget.shrink_seconds:g} s spent')


def reported(ctx, minimal, lead, how, wrong, trusted=None):
    """A failure: the smallest graph found, re-run for non-determinism and explained;
    ``trusted``: the ops never blamed (default: those whose own checks pass)."""
    trusted = ctx.trusted() if trusted is None else trusted
    watched(ctx.session, [minimal])
    found = _explain(minimal, trusted)
    if found.code == Code.GRADIENTS_DISAGREE and (single := alone(ctx.session, minimal)):
        # an op wrong only on the values it had here (its own check tried others): named by
        # the graph of it alone, where no other op can be the culprit
        how += f'; its node `{minimal.graph.expression(single.origin)}` is wrong by itself'
        minimal, trusted = single.trial, frozenset()
        found = _explain(minimal, trusted)
    elif found.code == Code.GRADIENTS_DISAGREE and _one_op(minimal.graph):
        # a graph of one op node is that node alone already (relu's rule wrong in (0, 1] only)
        found = _own_rule(_explain(minimal, frozenset()), minimal, trusted)
        trusted = frozenset()
    # a graph that got no answer (it hung, or ended the worker) has no result to differ from
    flaky = '' if _lost(minimal.actual) else rerun_differs(ctx.session, minimal, ctx.budget.reruns)
    diagnosis, named = found.text, misconception(found, minimal.graph, minimal.actual, trusted)
    named = _its_own(ctx, named)
    if flaky == HISTORY:  # a model fitted to the first run names no rule the engine runs again
        diagnosis = f'The same graph gives another result when run again as it was: {HISTORY}.'
        named = Misconception(Code.ORDER_DEPENDENT, method='backward')
    elif flaky:
        diagnosis += f' The result changes with the order of a set: {ORDER}.'
        if found.code == Code.GRADIENTS_DISAGREE:
            named = Misconception(Code.ORDER_DEPENDENT, method='backward')
    return failed(f'{lead}; smallest found ({len(minimal.graph.nodes)} nodes, {how}): '
                  f'{diagnosis}', diagnosis=diagnosis, counterexample=counterexample(minimal, found),
                  misconception=named, output=''.join(t.actual.output for t in wrong[:3]))


def _one_op(graph):
    """Whether ``graph`` computes with one op node, which alone can be wrong then."""
    return len([i for i in graph.live() if i >= len(graph.inputs)]) == 1


def _own_rule(found, trial, trusted):
    """``found`` in a graph of one node, whose op's own check passed (``trusted``): that op has
    a rule, which passes gradients at its check's inputs, so a rule that passes none here is
    wrong here ('the local derivative of relu is wrong'), not missing ('no backward')."""
    if found.code != Code.NO_BACKWARD or found.op not in trusted:
        return found
    g, grads, want = trial.graph, trial.actual.grads, trial.expected.grads
    said = ', '.join(f'{g.name(i)}.grad is {show(grads[i])}, expected {show(want[i])}'
                     for i in range(len(g.inputs)) if not close(grads[i], want[i]))
    return replace(found, code=Code.WRONG_DERIVATIVE, text=(
        f'the local derivative of {OPS[found.op].display} is wrong: in `{g.name(found.entry)} = '
        f'{g.expression(found.entry)}`, {said}.'))


def _its_own(ctx, named):
    """A wrong derivative of an op whose own check passed, whose rule ran in another op's method
    (tanh written ``self * Value(its derivative)``: mul's rule, tanh's number): that op's bug,
    placed at its own method, not at the other op's rule line (a cheap wrong ``*`` at that line,
    one root with it, took a tanh wrong at |x| >= 3.5, fuzz.dags keeping its 10 points).  An op
    whose own check fails through the other op's rule (``a - b`` as ``self + (-other)``, neg
    as ``self * -1``, with a wrong ``*``) is not trusted, and stays with that rule."""
    if named is None or named.code != Code.WRONG_DERIVATIVE or not named.method or \
            named.op not in ctx.trusted(strictly=True) or METHOD_OPS.get(named.method, named.op) == named.op:
        return named
    method = next((learner_method(cap) for cap, (op, _, left) in FORMS.items()
                   if op.name == named.op and not left), '')
    where = ctx.report.methods.get(method) or {}
    line = where.get('computes') or where.get('line')
    return Misconception(named.code, named.op, method, line=line) if method and line else named


def _placed(found, graph):
    """A node alone that raised, hung or ended the worker, said of no method: that node's op's
    (its graph holds no other), not a consequence of whatever bug spoils every graph (a cheap
    wrong ``*`` took the finding of a tanh node that ended the worker by itself)."""
    m = found.misconception
    node = graph.node(len(graph.inputs)) if len(graph.nodes) == 1 else None
    if m is not None and node is not None and not m.method and not m.op:
        m.op, m.method = node.op, learner_method(node.capability)
    return found


def until_stopped(ctx, trials):
    """``(trials, said)``: where the grading's time limit stopped the check, the trials run
    before it (the rest have no answer, which is no finding) and how far it got, said; else
    all of them and ``''``."""
    why = ctx.overtime()
    cut = next((k for k, t in enumerate(trials) if _lost(t.actual)), None)
    if not why or cut is None:
        return trials, ''
    return trials[:cut], f'; {why} after {cut} of {len(trials)} graphs'


def _lost(actual):
    """Whether a result has no answer of the submission's (a hang, a lost worker, not run)."""
    return bool(actual.error and actual.error.lost)


def _explain(trial, trusted):
    return explain(trial.graph, trial.actual, trial.expected, trial.mismatch, trial.actual.order,
                   trusted)


@dataclass
class Single:
    """A node of a failing graph that fails by itself: its index there, and its own trial."""
    origin: int
    trial: Trial


def alone(session, trial):
    """The first node of ``trial``'s graph that is wrong by itself (``shrink.alone``), or
    ``None``: every node is right alone."""
    singles = shrink.alone(trial.graph, trial.expected.values)
    trials = run_graphs(session, list(singles.values()), explain=True, oracle=Context.expected)
    return next((Single(i, t) for i, t in zip(singles, trials) if t.failed and not _lost(t.actual)),
                None)


#: The nodes of a failing unary op tried alone in the wrong graphs, and the inputs tried between
#: each one wrong and the input its own check saw it wrong at: bounded costs.
REGION_SINGLES, REGION_STEPS = 40, 7


def other_region(ctx, trials, named):
    """``{id(trial): (node alone, said)}`` of ``trials`` (wrong graphs that use ops failing their
    own checks, ``named``) holding a node of a failing one-operand op (tanh) that is wrong by
    itself at an input no input its own check saw it wrong at reaches without passing one where
    it is right (its check's own inputs, or ``REGION_STEPS`` on the way): a second bug of that
    op, wrong where its check did not look, not the one it found.  One bug wrong on one stretch
    of inputs is left to its check (relu wrong in (0, 1]); a rule right in between is wrong
    twice.  tanh wrong below -1 (its check: 1 point) beside a tanh wrong at |x| >= 3.5 (only the
    random graphs reach it: 10) scored 49/51, the subtle bug alone 41."""
    # one operand: a stretch of inputs is an interval (two, in a plane, have no 'between' that
    # a few runs could show; a two-operand rule's second bug is its other line: causes)
    caps = sorted(cap for cap in named if cap in FORMS and FORMS[cap][0].arity == 1 and
                  _rule_wrong(ctx, cap))
    checked = {cap: _op_inputs(ctx, cap) for cap in caps}
    singles, inputs = [], set()
    for t in trials:
        if t.expected is None:
            continue
        for g in _nodes_alone(t.graph, t.expected.values):
            key = (_shape(g), _point(g))
            if g.nodes[0].capability in checked and key not in inputs and \
                    len(singles) < REGION_SINGLES:
                inputs.add(key)
                singles.append((t, g))
    if not singles:
        return {}
    own = [g for cap in caps for g in checked[cap]]
    ran = run_graphs(ctx.session, own + [g for _, g in singles], oracle=Context.expected)
    wrong, right = {}, {}
    for g, t in zip(own, ran):
        if t.expected is not None and not _lost(t.actual) and (_clearly(t) or not t.failed):
            (wrong if t.failed else right).setdefault(_shape(g), set()).add(_point(g))
    found = [(owner, single) for (owner, _), single in zip(singles, ran[len(own):])
             if _clearly(single) and not _lost(single.actual)
             and wrong.get(_shape(single.graph))][:ELSEWHERE]
    regions = {}
    for owner, single in found:
        if id(owner) in regions:
            continue
        shape, x = _shape(single.graph), _point(single.graph)
        seen = sorted(wrong[shape], key=lambda w: math.dist(w, x))
        # the nearest input seen wrong on either side
        targets = [t for t in (max((w for w in seen if w <= x), default=None),
                               min((w for w in seen if w >= x), default=None)) if t is not None]
        apart = _apart(ctx, single.graph, x, targets, right.get(shape, ()))
        if apart and all(a is not None for a in apart):
            op = single.graph.nodes[0].op
            regions[id(owner)] = (single, (
                f'{single.graph.expression(single.graph.output)} at {_shown(x)}: its own check '
                f'saw {op} wrong at {", ".join(map(_shown, sorted(wrong[shape])))} only, and it '
                f'is right at {_shown(apart[0])}, in between'))
    return regions


def _apart(ctx, graph, x, targets, right):
    """For each input ``targets`` holds (a point), an input on the way from it to ``x`` where
    ``graph`` (one node) is right: one of ``right`` (one operand), else of ``REGION_STEPS`` run;
    ``None`` where there is none."""
    steps = [_at(graph, tuple(wi + (xi - wi) * k / (REGION_STEPS + 1) for wi, xi in zip(w, x)))
             for w in targets for k in range(1, REGION_STEPS + 1)]
    ran = run_graphs(ctx.session, steps, oracle=Context.expected) if steps else []
    found = []
    for j, w in enumerate(targets):
        between = [_point(t.graph) for t in ran[j * REGION_STEPS:(j + 1) * REGION_STEPS]
                   if t.expected is not None and t.mismatch is None and not t.actual.error]
        between += [r for r in right if min(w, x) < r < max(w, x)]
        found.append(between[0] if between else None)
    return found


def _shape(graph):
    """What a node alone is: its capability and how many distinct operands (``a * a``: one)."""
    return graph.nodes[0].capability, len(graph.inputs)


def _point(graph):
    """A node alone's operands' values."""
    return tuple(x for _, x in graph.inputs)


def _at(graph, point):
    """``graph`` (one node) with its operands at ``point``."""
    return replace(graph, inputs=tuple((name, x) for (name, _), x in zip(graph.inputs, point)))


def _shown(point):
    return show(point[0]) if len(point) == 1 else f'({", ".join(map(show, point))})'


#: How far off a node alone must be, relative, to be wrong on a stretch of inputs of its own: far
#: past the tolerance (``compare.RTOL``), where a rounding (float32) or a finite difference
#: imitating the derivative is right by luck here and wrong by a little there.
CLEARLY = 1e-4


def _clearly(trial):
    """Whether ``trial`` failed by more than rounding: an exception, something not a finite
    number, or a value or gradient ``CLEARLY`` off."""
    m = trial.mismatch
    if not trial.failed or m is None:
        return False
    a, e = m.actual, m.expected
    if m.kind == 'error' or type(a) is not float or type(e) is not float or \
            not math.isfinite(a) or not math.isfinite(e):
        return True
    return abs(a - e) > CLEARLY * abs(e) + 1e-9


def _rule_wrong(ctx, cap):
    """Whether ``cap``'s own check failed with a wrong rule of that op (not float32 rounding,
    which is wrong by a little wherever it is not right by luck: no stretch of inputs)."""
    check = next((c for c in ctx.report.checks if c.id == f'ops.{cap}'), None)
    m = check.misconception if check is not None else None
    return m is not None and m.code in RULES and m.op == FORMS[cap][0].name


def _nodes_alone(graph, values):
    """Each live node of ``graph`` alone, its operands inputs at ``values`` (``shrink.alone``),
    the graph itself where it has one node."""
    live = [i for i in graph.live() if i >= len(graph.inputs)]
    if len(live) == 1:
        return [graph.pruned()]
    return list(shrink.alone(graph, values).values())


def _op_inputs(ctx, cap):
    """The op ``cap``'s nodes alone at the inputs its own check's graphs gave them
    (its graphs at this seed)."""
    from micrograde.model import cases
    found, seen = [], set()
    for g in ctx.at_seed(cases.OP_CASES.get(cap, ())):
        expected = Context.expected(g)
        if expected is None or expected.error:
            continue
        for single in _nodes_alone(g, expected.values):
            key = (_shape(single), _point(single))
            if single.nodes[0].capability == cap and key not in seen:
                seen.add(key)
                found.append(single)
    return found


#: The wrong graphs using a failing op whose nodes are each tried alone: a bounded cost.
ELSEWHERE = 8


#: The singles (one node alone) tried of the graphs that raised, at most.
RAISED = 200


def wrong_elsewhere(session, trials, named, most=None, ctx=None):
    """``{id(trial): node alone}`` of ``trials`` (wrong graphs that use an op failing its own check;
    the first ``ELSEWHERE``) that have a node of an op whose own check passed that is wrong by
    itself, its operands at their right values (its own trial): a bug of that op, which no
    failing op explains (a cheap visible bug in ``*``, which nearly every random graph uses, hid
    one of tanh's only these graphs find)."""
    singles = []
    for t in trials if most else trials[:ELSEWHERE]:
        if t.expected is None:
            continue
        singles += [(t, g) for g in shrink.alone(t.graph, t.expected.values).values()
                    if not {n.capability for n in g.nodes} & named]
    singles = singles[:most]
    if not singles:
        return {}
    ran = run_graphs(session, [g for _, g in singles], oracle=Context.expected)
    found = {}
    for (owner, _), single in zip(singles, ran):
        if single.failed and not _lost(single.actual) or _died(single.actual, ctx):
            found.setdefault(id(owner), single)
    # each node right alone: the wrong graph itself run again as it was, after them.  One whose
    # answer is not the same is wrong as it ran, not as its failing op makes it: a node right
    # whenever it is run again (a rule wrong at its first sight of an input) is no bug left to
    # that op's check
    owners = list({id(o): o for o, _ in singles if id(o) not in found}.values())
    again = session.run('graph', [item(o.graph) for o in owners]) if owners else []
    for owner, actual in zip(owners, again):
        if _answered_otherwise(owner, actual):
            found[id(owner)] = owner
    return found


def _died(actual, ctx):
    """Whether an item hung or ended the worker by itself (not one left unrun after another
    did, nor one the grading's time limit stopped): a node that does so alone, where the whole
    graph did not, is that node's bug (an engine ending its worker on the one graph that holds
    a node alone had the node's wrong rule left to a cheap bug in ``*``)."""
    error = actual.error
    return bool(error and error.lost and error.type in HUNG
                and not (ctx is not None and ctx.overtime()))


ORDER = ('the result depends on the order a set (e.g. of children) iterates in: a walk over it '
         'must give the same gradients in any order')


def _order_dependent(session, trials, reruns):
    """Order explored on purpose: the first graph with a shared node (where a walk's order
    matters) among the first ``10 * reruns`` that gives another result when the worker numbers
    the Values otherwise (``worker/identity.py``), as a trial of that run; else ``None``."""
    shared = [t for t in trials if t.expected is not None and not t.actual.error and
              any(len(users) > 1 for users in t.graph.consumers())][:10 * reruns]
    again = session.run('graph', [item(t.graph, order=1) for t in shared])
    for t, actual in zip(shared, again):
        if not _lost(actual) and first_mismatch(t.graph, actual, t.actual) is not None:
            return Trial(t.graph, actual, t.expected, first_mismatch(t.graph, actual, t.expected)
                         or first_mismatch(t.graph, t.actual, t.expected))
    return None


def corpus_id(graphs):
    """Which graphs were checked: a short hash of the corpus, the same in every run."""
    return hashlib.sha256(' '.join(map(oracle_store.key, graphs)).encode()).hexdigest()[:12]


HISTORY = ('the answers depend on what the engine ran before (a rule or walk that keeps state '
           'between graphs): each graph must give the same gradients whenever it is run')


def _answered_otherwise(trial, actual):
    """Whether ``actual``, the same graph run again, answers otherwise than ``trial`` did: other
    values or gradients beyond the tolerance (a gradient that is an object, not a number, read
    the same again is the same), or no error where it raised (the same exception again is the
    same answer: an op fed a wrong value raises each time); a lost run says nothing."""
    if _lost(actual) and not _lost(trial.actual):
        return False
    if trial.actual.error:
        return not actual.error
    return not trial.actual.same(actual) and \
        first_mismatch(trial.graph, actual, trial.actual) is not None


def rerun_differs(session, trial, reruns):
    """Whether the same graph gives another result when run again under other identity-hash
    orders (``worker/identity.py``: a set of the learner's Values iterates in another order),
    compared with the first run, not with an oracle: a shrunk graph needs no torch answer.
    ``HISTORY`` where it does so run again in the same order (order 0) too: no set's order, but
    what ran before, changed it (a rule wrong only at its first sight of an input)."""
    again = session.run('graph', [item(trial.graph, order=k) for k in range(reruns + 1)])
    if _answered_otherwise(trial, again[0]):
        return HISTORY
    return any(_answered_otherwise(trial, actual) for actual in again[1:])


def right_in_network(ctx, weights, hidden_head, xs, ys, shape):
    """``'; RIGHT_IN_NETWORK (...)'`` where the network the learner's outputs showed (``hidden_head``:
    its activations, ``mlp.architecture``'s match; ``None`` for none), with ``weights`` (the
    ones its gradients were judged at), rebuilt as a graph of the engine's own ops, in each way
    a learner writes a neuron (``w * x`` or ``x * w``, a sum from the bias or from 0) the engine
    has, gives the right loss and gradients over the samples ``xs, ys`` (every entry's, against
    the oracles); else ``''``.  Then the network's wrong gradients are its own code's (a bias
    left out of the graph), not a consequence of a wrong rule found elsewhere: ``*`` wrong only
    at an operand of 500 took the network's detached bias, its 2 points free (49/51 as the bias
    alone)."""
    if hidden_head is None:
        return ''
    numbers = ctx.capabilities.get('numbers') != 'absent'
    graphs = [g for g in (network_graph(weights, *hidden_head, xs, ys, numbers, way, shape)
                          for way in WAYS) if g is not None and g.capabilities <= ctx.usable]
    if not graphs:
        return ''
    trials = run_graphs(ctx.session, graphs, oracle=Context.expected)
    if not all(t.expected is not None and t.mismatch is None and not t.actual.error
               for t in trials):
        return ''
    return f'; {RIGHT_IN_NETWORK} (rebuilt as {len(graphs)} graph' \
        f'{"s" if len(graphs) > 1 else ""} of {len(graphs[0].nodes)} nodes): its own code ' \
        f'computes otherwise'


#: The ways a neuron's sum is written: ``sum((wi * xi ...), self.b)`` (the lecture), and
#: ``sum(xi * wi ...) + self.b`` (a number on the left, the sum from 0).
WAYS = ('lecture', 'reflected')


def network_graph(weights, hidden, head, xs, ys, numbers, way='lecture', shape=(3, [4, 4, 1])):
    """The squared-error loss over ``xs, ys`` of ``MLP(*shape)`` with ``weights`` (parameters()
    order: each neuron's weights, then its bias), ``hidden``/``head`` its activations, as the
    worker's MLP task builds it (``d = out + Value(-y)``, ``d * d``): a graph of the grader's,
    its inputs the weights and the targets (and the samples, where the engine takes no numbers);
    ``None`` for an activation it cannot write."""
    from micrograde.model.graph import Graph, Node
    nin, nouts = shape
    inputs, nodes = [(f'p{k}', float(w)) for k, w in enumerate(weights)], []

    def value(name, x):
        inputs.append((name, float(x)))
        return ('input', len(inputs) - 1)

    def node(op, *args, const=None, left=False):
        nodes.append((op, args, const, left))
        return ('node', len(nodes) - 1)

    def act(a, name):
        if name == 'linear':
            return a
        if name in ('tanh', 'relu', 'sigmoid'):
            return node(name, a)
        if name == 'leaky_relu':  # act.relu() - 0.01 * (-act).relu()
            return node('sub', node('relu', a),
                        node('mul', node('relu', node('neg', a)), const=0.01, left=True))
        return None

    loss = None
    for s, (x, y) in enumerate(zip(xs, ys)):
        outs = [value(f'x{s}_{i}', xi) for i, xi in enumerate(x)] if not numbers else list(x)
        w = 0
        for layer, nout in enumerate(nouts):
            size, made = nin if layer == 0 else nouts[layer - 1], []
            for _ in range(nout):
                ws, b = [('input', w + i) for i in range(size)], ('input', w + size)
                w += size + 1
                lecture = way == 'lecture'
                terms = [(node('mul', wi, xi) if lecture else node('mul', xi, wi))
                         if isinstance(xi, tuple) else
                         node('mul', wi, const=float(xi), left=not lecture)
                         for wi, xi in zip(ws, outs)]
                if lecture:
                    total = b
                    for t in terms:
                        total = node('add', total, t)
                elif numbers:
                    total = node('add', terms[0], const=0.0, left=True)
                    for t in terms[1:]:
                        total = node('add', total, t)
                    total = node('add', total, b)
                else:
                    return None
                made.append(act(total, hidden if layer < len(nouts) - 1 else head))
                if made[-1] is None:
                    return None
            outs = made
        d = node('add', outs[0], value(f'y{s}', -y))
        term = node('mul', d, d)
        loss = term if loss is None else node('add', loss, term)
    n = len(inputs)

    def index(ref):
        return ref[1] if ref[0] == 'input' else n + ref[1]
    return Graph(tuple(inputs), tuple(Node(op, tuple(map(index, args)), const, left)
                                      for op, args, const, left in nodes), index(loss))
