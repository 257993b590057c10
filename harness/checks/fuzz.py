"""Random DAGs over the ops present; a failure is shrunk to a minimal graph and re-run to detect
non-determinism."""
import functools
import random

from .. import oracle_store, oracles
from ..diagnose import explain, first_mismatch
from .registry import check, failed, passed, skipped
from .trials import counterexample, run_graphs


def corpus(seed, ops, budget):
    """The fuzzed graphs for a seed: the same list for every submission with these ops, stored
    or made once per process (a batch pays for it once); offline, the stored graphs that use
    only the ops the submission has."""
    return _corpus(seed, ops, budget, oracles.is_offline())


@functools.lru_cache(maxsize=64)
def _corpus(seed, ops, budget, offline):
    stored = oracle_store.corpus(seed, budget, ops, nearest=offline)
    if stored is not None or offline:
        return stored or ()
    from ..strategies import corpus as generate
    return generate(seed, ops, budget)


@check('fuzz.dags')
def random_graphs(ctx):
    session, seed, budget = ctx.session, ctx.config.seed, ctx.budget
    ops = ctx.usable - {'backward'}
    if not {'mul', 'add'} <= ops or 'backward' not in ctx.usable:
        return skipped('needs add, mul and backward')
    graphs = corpus(seed, frozenset(ops), budget)
    if not graphs:  # offline, where no stored corpus uses only these ops
        return skipped('no stored random graphs use only the ops this engine has')
    # instrumented, so that each failure carries the _backward order of its own run
    trials = run_graphs(session, graphs, instrument=True)
    failing = [t for t in trials if t.failed]
    graded = sum(t.expected is not None for t in trials)
    if not failing:
        return passed(f'{graded} random graphs over {len(ops)} ops match torch and the reference')
    # localised first: a graph with an op that fails its own check is that check's to explain
    named = {c.id.removeprefix('ops.') for c in ctx.report.checks
             if c.category == 'ops' and c.status in ('failed', 'error')}
    unexplained = [t for t in failing if not t.graph.capabilities & named]
    if not unexplained:
        return failed(f'{len(failing)} of {graded} random graphs wrong, each using an op that '
                      f'fails its own check ({", ".join(f"ops.{c}" for c in sorted(named))}): '
                      f'see those checks',
                      counterexample=counterexample(min(failing, key=lambda t: t.graph.size)))
    aside = (f' ({len(failing) - len(unexplained)} more use ops that fail their own checks)'
             if len(unexplained) < len(failing) else '')
    failing, ops = unexplained, ops - named
    minimal = (None if oracles.is_offline() else shrink(session, ops, seed, budget)) or failing[0]
    flaky = rerun_differs(session, minimal, budget.reruns)
    diagnosis = explain(minimal.graph, minimal.actual, minimal.expected, minimal.mismatch,
                        minimal.actual.order)
    if flaky:
        diagnosis += (' The result changes from run to run on the same graph: iterating over a '
                      'set (e.g. of children) makes the order depend on memory addresses.')
    return failed(f'{len(failing)} of {graded} random graphs wrong{aside}; smallest found '
                  f'({len(minimal.graph.nodes)} nodes): {diagnosis}', diagnosis=diagnosis,
                  counterexample=counterexample(minimal),
                  output=''.join(t.actual.output for t in failing[:3]))


def shrink(session, ops, seed, budget):
    """A minimal failing graph, found and shrunk by Hypothesis, or ``None``."""
    from hypothesis import HealthCheck, find, settings
    from hypothesis.errors import Flaky, NoSuchExample, Unsatisfiable
    from ..strategies import graphs
    def fails(g):
        return run_graphs(session, [g], instrument=True)[0].failed
    try:
        g = find(graphs(ops=tuple(sorted(ops)), max_nodes=budget.max_nodes), fails,
                 settings=settings(max_examples=budget.shrink_examples, database=None,
                                   deadline=None, suppress_health_check=list(HealthCheck)),
                 random=random.Random(seed))
    except (NoSuchExample, Unsatisfiable, Flaky):
        return None
    trial = run_graphs(session, [g], instrument=True)[0]
    return trial if trial.failed else None


def rerun_differs(session, trial, reruns):
    again = run_graphs(session, [trial.graph] * reruns)
    return any(first_mismatch(trial.graph, t.actual, trial.actual) is not None
               if not trial.actual.error else not t.actual.error for t in again)
