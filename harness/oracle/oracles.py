"""Expected results: torch in float64, cross-checked with the reference engine.

A graph is graded only where both oracles agree, so a verdict never rests on one of them alone.
torch's answers come from ``micrograde.oracle.oracle_store`` (shipped with the grader, or cached on disk);
torch is imported only for a graph that is in neither, and the answer is then cached.  Reading
answers needs neither torch nor Hypothesis, so a learner's kernel (the self-check) can use it::

    from micrograde.oracle import oracles
    oracles.expected(graph)      # torch's answer where torch and the reference agree, else None
    oracles.torch_answer(graph)  # torch's answer as is (the robustness checks)
    oracles.torch_answer(graph, compute=False)  # None instead of importing torch
    oracles.run_reference(graph, backward=2)    # the reference engine: torch-free, not stored
    oracles.expected(graph, drawn=True)  # a fuzz corpus graph: see "Any seed" below
    with oracles.offline(): ...  # never torch: the reference engine answers what is not stored

A cached answer is never trusted blindly: it is used only for the very graph it was stored for
and where it agrees with the reference engine computed now, so a corrupt or planted entry can
neither change an expected value nor excuse a graph from grading; anything else is asked of
torch again.

Any seed: the shipped store holds the fuzz pool of the shipped seeds only.  A corpus graph of
another seed (``drawn``: made by ``micrograde.fuzz.dags`` from the domains the pool was drawn
from) whose ops the shipped cross-check vouches for (``Store.vouched``: torch and the reference
engine agreed on every shipped pool graph using each of them) is answered by the reference
engine, so no seed imports torch; ``answered_by`` says which graphs were, for the report.
Graphs of the thorough profile's search reach boundary values the pool never does: torch.
"""
import contextlib
import contextvars
import functools

from micrograde import reference
from micrograde.isolate.answers import GraphResult, Violation
from micrograde.model.compare import close
from micrograde.oracle.oracle_store import Store, patched
from micrograde.worker.execute import Backend, run_graph

REFERENCE = Backend(reference.Value)
STORE = Store()
_OFFLINE = contextvars.ContextVar('offline', default=False)


@contextlib.contextmanager
def offline():
    """Within: torch is never imported; its answers come from the store (shipped or cached), the
    reference engine answers any other graph. What the notebook self-check runs under."""
    token = _OFFLINE.set(True)
    try:
        yield
    finally:
        _OFFLINE.reset(token)


def is_offline():
    return _OFFLINE.get()


@functools.lru_cache(maxsize=4096)
def torch_raw(graph):
    """torch's result in the wire form, computed now (imports torch): what the store holds."""
    from micrograde.oracle import torch_oracle
    return torch_oracle.run(graph.wire())


def reference_raw(graph, backward=1):
    """The reference engine's result in the wire form (computed once per graph and number of
    passes, however it is asked for)."""
    return _reference_raw(graph, backward)


@functools.lru_cache(maxsize=4096)
def _reference_raw(graph, backward):
    return run_graph(graph.wire(), REFERENCE, backward=backward)


@functools.lru_cache(maxsize=4096)
def run_torch(graph):
    """torch's result, computed now."""
    return GraphResult.parse(torch_raw(graph))


@functools.lru_cache(maxsize=4096)
def run_reference(graph, backward=1):
    return GraphResult.parse(reference_raw(graph, backward))


def agree(a, b):
    """Whether two results have the same values and gradients for every live entry."""
    if a.error or b.error:
        return False
    return all(close(a.values[i], b.values[i]) and close(a.grads[i], b.grads[i])
               for i in range(len(a.values)))


def torch_answer(graph, compute=True, store=STORE, drawn=False):
    """torch's result for ``graph``: shipped, else (a ``drawn`` corpus graph whose ops are
    vouched for) the reference engine's, else cached, else computed now (and cached); ``None``
    if it is none of these and not ``compute``; offline, the reference engine's."""
    entry = store.shipped(graph)
    if entry is not None:
        store.sources['shipped'] += 1
        return GraphResult.parse(patched(reference_raw(graph), entry))
    if drawn and store.vouched(graph):
        store.sources['reference'] += 1
        return run_reference(graph)
    found = _trusted(store.cached(graph), graph)
    if found is not None:
        store.sources['cache'] += 1
        return found
    if not compute:
        return None
    if is_offline():
        return run_reference(graph)
    result = run_torch(graph)
    store.sources['torch'] += 1
    if agree(result, run_reference(graph)):  # an entry that would never be trusted is not kept
        store.keep(graph, torch_raw(graph))
    return result


def _trusted(raw, graph):
    """A cached answer, read as the answer to ``graph`` (anyone can write the cache) and where
    it agrees with the reference engine; else ``None``."""
    try:
        answer = GraphResult.parse(raw, '', {'graph': graph.wire()})
    except Violation:
        return None
    return answer if agree(answer, run_reference(graph)) else None


def expected(graph, drawn=False):
    """torch's result for ``graph``, or ``None`` where torch and the reference disagree; offline,
    for a graph not stored, the reference engine's (not cached: a later grade asks torch);
    ``drawn``: a fuzz corpus graph (see "Any seed")."""
    return _expected(graph, drawn) if is_offline() else _expected_online(graph, drawn)


@functools.lru_cache(maxsize=8192)
def _expected_online(graph, drawn):
    return _expected(graph, drawn)


def _expected(graph, drawn):
    t, r = torch_answer(graph, drawn=drawn), run_reference(graph)
    return t if agree(t, r) else None


def answered_by(graph, drawn=False, store=STORE):
    """Whose answer ``expected`` grades ``graph`` against: ``'torch'`` (stored, cached or
    computed now), or ``'reference'`` (a ``drawn`` graph not stored, its ops vouched for)."""
    if drawn and store.shipped(graph) is None and store.vouched(graph):
        return 'reference'
    return 'torch'
