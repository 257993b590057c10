"""The checks, one module per category, and ``CHECKS``: every check, in the order they run.

A new check is a function declared with ``@check`` in its category's module (see
``registry.py``) and named in ``CHECKS``; a declared check that is not listed is refused at
import (it would never run), and the list keeps the order of ``results.CATEGORIES``.
"""
from micrograde.checks import backward, fuzz, mlp, ops, probe, robustness
from micrograde.checks.registry import Context, ordered

__all__ = ['CHECKS', 'REGISTRY', 'Context', 'advisory_by_default', 'check_ids']

MODULES = (probe, ops, backward, fuzz, mlp, robustness)

#: Every check, in the order they run: each category after those it builds on (an op's check
#: after the probe that found it; the fuzz leaves graphs over failing ops to their own checks).
CHECKS = (
    probe.capability,                # capability.{op}
    ops.op_values_and_gradients,     # ops.{op}
    backward.has_backward,           # backward.walk
    backward.graph_walk,             # backward.{seed, accumulate, topological, chain}
    backward.visits,
    backward.repeat,
    fuzz.random_graphs,              # fuzz.dags
    mlp.build,
    mlp.architecture,                # mlp.forward
    mlp.gradients,
    mlp.descent_step,                # mlp.step
    mlp.zero_grad,
    mlp.one_neuron_layer,
    robustness.edge_case,            # robustness.{tanh_large ...}
    robustness.deep_chain,
    robustness.diamond_ladder,
)

REGISTRY = ordered(CHECKS, MODULES)


def check_ids(registry=REGISTRY):
    """Every check id the registry can report, in order."""
    return [cid for entry in registry for cid, _ in entry.instances()]


def advisory_by_default(registry=REGISTRY):
    return frozenset(cid for entry in registry if entry.default == 'advisory'
                     for cid, _ in entry.instances())
