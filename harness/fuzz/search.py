"""The thorough profile's search, after the corpus passes: Hypothesis draws graphs over the
engine's ops from boundary inputs (0, -0.0, tiny and huge magnitudes, integers; operands
repeated as the corpus repeats them) and up to the ops' own domains (``dags.EDGES``), each is
run on the submission and judged by the same oracles as the corpus, and Hypothesis shrinks the
first failure itself; when it finds none, ``sweep`` tries each op alone on each boundary input,
which a random search meets only by luck.

Derandomized by the seed (``find``'s ``random``), with no example database on disk and none of
the constants Hypothesis mines from the source of the process's modules (``_unmined``), so a
report is the same on every machine and surface and the search writes no file; the shrinking
budget is the profile's ``shrink_runs`` candidates (a count: the same on a busy host), with
``shrink_seconds`` as a safety net for a slow engine (a report that hits it may differ from run
to run).  Imported
by the thorough profile only: Hypothesis costs about as much as torch to import, and its graphs
are not in the shipped store (torch answers them, then the cache).
"""
import contextlib
import math
import random
import time
from dataclasses import dataclass
from unittest import mock

from hypothesis import HealthCheck, Phase, Verbosity, find, settings
from hypothesis.errors import HypothesisException
from hypothesis.internal.conjecture import providers

from micrograde import reference
from micrograde.fuzz.dags import ALL_OPS, moves, valid_result, value_of
from micrograde.fuzz.strategies import BOUNDARY, DECADES, LARGEST, graphs, leaves
from micrograde.model.graph import Graph, Node


@dataclass
class Found:
    """What a search ran and the smallest failing trial (``None``: none failed)."""
    ran: int = 0
    trial: object = None
    complete: bool = True  # shrinking ended by itself, not by its budget or a lost worker


def search(run, ops, seed, examples, max_nodes, budget):
    """Search ``examples`` graphs over ``ops``; ``run(graph)`` runs one on the submission and
    returns its judged trial (``micrograde.checks.trials.Trial``).  Once one fails, Hypothesis
    shrinks it with ``budget.shrink_runs`` candidates, in ``budget.shrink_seconds`` at most."""
    found, failing, deadline, left = Found(), {}, [math.inf], [budget.shrink_runs]

    def fails(graph):
        if time.perf_counter() > deadline[0] or failing and left[0] <= 0:
            found.complete = False
            return False  # out of budget, or the worker was lost: Hypothesis keeps what it has
        found.ran += 1
        left[0] -= bool(failing)  # a candidate of the shrinking
        trial = run(graph)
        if trial.failed:
            failing[graph] = trial
            deadline[0] = -math.inf if _lost(trial) else \
                min(deadline[0], time.perf_counter() + budget.shrink_seconds)
        return trial.failed

    strategy = graphs(ops, max_nodes=max_nodes, leaves=leaves(boundary=True), edges=True)
    rules = settings(max_examples=examples, database=None, deadline=None,
                     phases=(Phase.generate, Phase.shrink), verbosity=Verbosity.quiet,
                     suppress_health_check=list(HealthCheck))
    try:
        with _unmined():
            smallest = find(strategy, fails, settings=rules,
                            random=random.Random(f'micrograde-search:{seed}'))
        found.trial = failing[smallest]
    except HypothesisException:  # nothing failed, or the engine answers differently each time
        found.trial = min(failing.values(), key=_size, default=None)
    answered = [t for t in failing.values() if not _lost(t)]
    if found.trial is not None and _lost(found.trial) and answered:
        # a candidate lost while shrinking (a hang, or the grading's time limit): the failure
        # found is the smallest the submission answered, not a graph with no answer
        found.trial = min(answered, key=_size)
    return found


def _lost(trial):
    return bool(trial.actual.error and trial.actual.error.lost)


#: The sweep's inputs: the boundary values, both signs of every decade, magnitudes up to the
#: largest drawn.
SWEPT = tuple(dict.fromkeys(BOUNDARY + tuple(sign * 10.0 ** k for k in DECADES for sign in (1, -1))
                            + tuple(sign * m for m in (2.0, 5.0, 10.0, 20.0, 30.0, 50.0, 100.0,
                                                       LARGEST) for sign in (1, -1))))


def sweep(ops):
    """What a random search finds only by luck, ``ops`` one at a time: one-node graphs of each
    form (with its first number) on each input of ``SWEPT`` within its domain up to ``EDGES``,
    scaled as the corpus's output is (``a.log()`` of 1e-4, ``a.relu()`` of -5e-324).  A fixed
    list for any seed: the reference engine answers it, the suite checks torch agrees on all."""
    scale = 'mul_const' in ops
    graphs = []
    for capability in (op for op in ALL_OPS if op in ops):
        for x in SWEPT:
            options = moves(capability, [reference.Value(x)], 0, edges=True)[:1]
            graphs += [Graph((('a', x),), (node, Node('mul', (1,), 2.0)) if scale else (node,),
                             1 + scale) for node in options
                       if valid_result(2.0 * value_of(node, [reference.Value(x)]))]
    return graphs


def _unmined():
    """Hypothesis (6.131+) sometimes draws a literal found in the source of any module loaded
    that is not installed in site-packages (an editable install of the grader, a course's
    conftest) and caches each module's literals in ``.hypothesis/constants`` in the working
    directory: the graphs drawn would follow what the process imported and the search would
    leave files. No setting turns it off (HypothesisWorks/hypothesis#4627): none are mined here."""
    stack = contextlib.ExitStack()
    if hasattr(providers, '_get_local_constants'):  # else a Hypothesis from before it mined them
        stack.enter_context(mock.patch.object(providers, '_get_local_constants', providers.Constants))
        # its cache of the constants each draw may use, which may hold some mined before
        stack.enter_context(mock.patch.object(providers, 'CONSTANTS_CACHE',
                                              type(providers.CONSTANTS_CACHE)(1024)))
    return stack


def _size(trial):
    g = trial.graph
    return len(g.nodes), len(g.inputs)
