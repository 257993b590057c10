"""Random DAGs over the ops present (a corpus the same for every submission, see
``micrograde.fuzz.dags``); a failure is shrunk to a small graph (``micrograde.fuzz.shrink``) and re-run to
detect non-determinism."""
import hashlib
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
from micrograde.checks.causes import made_of
from micrograde.checks.registry import Context, error, failed, passed, skipped
from micrograde.checks.trials import Trial, against, counterexample, item, run_graphs, watched


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
    failing = [t for t in trials if t.failed]
    graded = sum(t.expected is not None for t in trials)
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
    if not failing and stopped:
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
    elsewhere = {**hidden, **elsewhere}
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
        found = reported(ctx, single, lead, 'a node of it wrong by itself, its operands at their '
                         'right values, of an op whose own check passed', unexplained,
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
    flaky = rerun_differs(ctx.session, minimal, ctx.budget.reruns)
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
