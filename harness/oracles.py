"""Expected results: torch in float64, cross-checked with the reference engine.

A graph is graded only where both oracles agree, so a verdict never rests on one of them alone.
"""
import contextlib
import contextvars
import functools

import reference
from . import oracle_store
from .answers import GraphResult
from .compare import close
from .worker.execute import Backend, run_graph


@functools.cache
def load_torch():
    """torch, imported when an answer is first needed: the checks and the rubric are importable
    without it."""
    import torch
    torch.set_num_threads(1)  # scalar graphs: threads only add overhead
    return torch


class TorchBackend(Backend):
    """Leaves are float64 tensors built from a Python float (never via float32)."""

    def __init__(self):
        super().__init__(None)

    def leaf(self, x):
        torch = load_torch()
        return torch.tensor(float(x), dtype=torch.float64, requires_grad=True)

    def created(self, v):
        v.retain_grad()

    def data(self, v):
        return v.item()

    def grad(self, v):
        return 0.0 if v.grad is None else v.grad.item()


TORCH = TorchBackend()
REFERENCE = Backend(reference.Value)


_OFFLINE = contextvars.ContextVar('offline', default=False)


@contextlib.contextmanager
def offline():
    """Within: never import torch or Hypothesis; answer from the stored answers and corpora,
    else with the reference engine. What the notebook self-check runs under."""
    token = _OFFLINE.set(True)
    try:
        yield
    finally:
        _OFFLINE.reset(token)


def is_offline():
    return _OFFLINE.get()


def run_torch(graph):
    """Torch's result: stored, computed (cached: the same graphs are asked about for every
    submission), or where torch may not be used, the reference engine's."""
    stored = oracle_store.answer(graph)
    if stored is not None:
        return stored[0]
    return run_reference(graph) if is_offline() else run_torch_live(graph)


@functools.lru_cache(maxsize=4096)
def run_torch_live(graph):
    return GraphResult.parse(run_graph(graph.to_dict(), TORCH))


@functools.lru_cache(maxsize=4096)
def run_reference(graph, backward=1):
    return GraphResult.parse(run_graph(graph.to_dict(), REFERENCE, backward=backward))


def agree(a, b):
    """Whether two results have the same values and gradients for every live entry."""
    if a.error or b.error:
        return False
    return all(close(a.values[i], b.values[i]) and close(a.grads[i], b.grads[i])
               for i in range(len(a.values)))


def expected(graph):
    """Torch's result for ``graph``, or ``None`` where torch and the reference disagree (without
    torch, for a graph not stored: the reference engine's)."""
    stored = oracle_store.answer(graph)
    if stored is not None:
        return stored[0] if stored[1] else None
    return run_reference(graph) if is_offline() else _expected_live(graph)


@functools.lru_cache(maxsize=4096)
def _expected_live(graph):
    t, r = run_torch_live(graph), run_reference(graph)
    return t if agree(t, r) else None
