"""Shared by the checks: run graphs in the submission's worker and judge them against the
oracles, with a runnable counterexample for the first failure."""
from dataclasses import dataclass

from micrograde.oracle import oracles
from micrograde.model.compare import close, show
from micrograde.diagnose.diagnosis import (WALK, blame, explain, first_mismatch, misconception,
                                           sometimes)
from micrograde.model.results import Counterexample
from micrograde.isolate.answers import Lost
from micrograde.checks.registry import failed, error, passed, skipped


@dataclass
class Trial:
    """One graph run on the submission, with the oracle's answer and the first mismatch;
    ``watched``: whether its graph was also run instrumented, to explain it (``watched``)."""
    graph: object
    actual: dict
    expected: dict | None
    mismatch: object = None
    watched: bool = False

    @property
    def failed(self):
        return self.expected is not None and self.mismatch is not None


def item(graph, **options):
    """One worker request item: the graph, plus ``backward``/``instrument``/``order`` options."""
    return {'graph': graph.wire(), **options}


def run_graphs(session, graph_list, explain=False, timeout=None, oracle=oracles.expected):
    """Trials of ``graph_list``, each judged by ``oracle`` (``graph -> expected``, ``None``
    where the oracles disagree) while the worker runs them: on a plain run of the submission's
    code, never one it could tell from the learner's own.  ``explain``: the failing ones
    ``watched`` too."""
    items = [item(g) for g in graph_list]
    answers = {}

    def judge():  # while the worker runs the graphs, and after for what is left
        for g in graph_list:
            if g not in answers:
                answers[g] = oracle(g)
    results = session.run('graph', items, timeout, meanwhile=judge)
    judge()
    trials = []
    for g, actual in zip(graph_list, results):
        expected = answers[g]
        mismatch = first_mismatch(g, actual, expected) if expected else None
        trials.append(Trial(g, actual, expected, mismatch))
    if explain:
        watched(session, [t for t in trials if t.failed])
    return trials


def watched(session, trials):
    """Run ``trials``' graphs again with their rules wrapped to record how they ran
    (``execute._instrument``), to explain them (``GraphResult.explained_by``): a rule can
    tell it is wrapped, so the wrapped run never decides a grade."""
    trials = [t for t in trials if not t.watched and not (t.actual.error and t.actual.error.lost)]
    again = session.run('graph', [item(t.graph, instrument=True) for t in trials]) if trials else []
    for t, seen in zip(trials, again):
        t.watched = True
        t.actual.explained_by(seen)


def against(graphs):
    """What graphs are judged against, where not torch's stored answers alone: how many
    graphs the reference engine answers, and the shipped cross-check that vouches for it."""
    answered = [g for g in graphs if oracles.answered_by(g, drawn=True) == 'reference']
    if not answered:
        return ''
    least = min(oracles.STORE.vouched(g) for g in answered)
    return (f'; {len(answered)} answered by the reference engine, vouched for by torch on at '
            f'least {least} shipped graphs per op')


def counterexample(trial, found=None):
    """Runnable code with the expected and actual output value and every wrong gradient; the
    culprit ops marked, unless the diagnosis ``found`` is of backward()'s walk (no op's)."""
    g, a, e = trial.graph, trial.actual, trial.expected
    out = g.output
    got_values, got_grads = a.values, a.grads
    wrong = [i for i in g.live() if got_grads and not close(got_grads[i], e.grads[i])]
    shown = [i for i in wrong if i < len(g.inputs)] or wrong or list(range(len(g.inputs)))
    expected = {f'{g.name(out)}.data': show(e.values[out])}
    actual = {f'{g.name(out)}.data': shown_result(got_values, out)}
    for i in shown:
        expected[f'{g.name(i)}.grad'] = show(e.grads[i])
        actual[f'{g.name(i)}.grad'] = shown_result(got_grads, i)
    if a.error:
        actual['error'] = str(a.error)
    marked, culprits = blame(g, a, e, trial.mismatch)
    nodes = [{'data': got_values[i] if i < len(got_values) else None,
              'grad': got_grads[i] if i < len(got_grads) else None} for i in range(g.size)]
    wrong = {g.name(i): {'data': e.values[i]} if trial.mismatch.kind == 'value' else
             {'grad': e.grads[i]} for i in marked}
    if found is not None and found.code in WALK:
        culprits = []
    return Counterexample(g.code(show=shown), expected, actual, g.to_dict(),
                          nodes if got_values else [], wrong, [g.name(i) for i in culprits])


def shown_result(results, i):
    return show(results[i]) if i < len(results) else 'not computed'


def needs(ctx, graphs):
    """Why none of ``graphs`` can run: the ops they need that the submission lacks."""
    lacking = sorted(set().union(*(g.capabilities for g in graphs)) - ctx.usable)
    return f'needs {", ".join(lacking)}, which the submission lacks' if lacking else \
        'needs an op the submission lacks'


def unasked(trial):
    """Whether ``trial``'s graph was never asked of the worker (after a strike, or once nothing
    more is run): the grader's word, never a learner's exception that happens to be named
    ``NotRun``.  It shows nothing of the submission's, right or wrong."""
    error = trial.actual.error
    return error is not None and error.lost and error.type == Lost.NOT_RUN.value


def judged(trials, passed_message, trusted=frozenset(), suspects=frozenset()):
    """An outcome from trials: passed when none failed, else the first failure explained (never
    by the rule of a ``trusted`` op, one whose own checks pass; ``suspects`` first)."""
    graded = [t for t in trials if t.expected is not None]
    output = ''.join(t.actual.output for t in trials)
    failing = [t for t in graded if t.failed]
    if not graded:
        return skipped('no graph could be graded (the oracles disagree)')
    if not failing:
        return passed(passed_message, output=output)
    t = failing[0]
    found = explain(t.graph, t.actual, t.expected, t.mismatch, t.actual.order, trusted, suspects)
    # a rule read as passing nothing that passed the right gradient on a graph that passed
    found = sometimes(found, t.graph, t.actual, [(u.graph, u.expected) for u in graded
                                                 if not u.failed])
    unanswered = [u for u in failing if u.mismatch.kind == 'error' and u.actual.error.lost]
    lost = t.mismatch.kind == 'error' and t.actual.error.lost
    wrong = len(failing) - len(unanswered)
    # a graph that got no answer (a time limit, a lost worker) is not a wrong one
    counted = f'{len(unanswered)} of {len(graded)} graphs not answered' if lost else \
        f'{wrong} of {len(graded)} graphs wrong' + \
        (f' ({len(unanswered)} not answered)' if unanswered else '')
    return (error if lost else failed)(
        f'{counted}: {found}', diagnosis=found.text,
        counterexample=counterexample(t, found), output=output,
        misconception=None if lost else misconception(found, t.graph, t.actual, trusted))
