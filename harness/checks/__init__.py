"""The checks, one module per category, and ``CHECKS``: every check, in the order they run.

A new check is a function in its category's module and a row in ``CHECKS``, its one declaration
(id, default, a family's members: ``registry.Entry``); the list keeps the order of
``results.CATEGORIES`` (``registry.ordered`` refuses one out of it).
"""
from micrograde.checks import backward, fuzz, mlp, ops, probe, robustness
from micrograde.checks.registry import Context, Entry, ordered
from micrograde.model.cases import OP_CAPABILITIES
from micrograde.worker.ops import CAPABILITIES

__all__ = ['CHECKS', 'Context', 'advisory_by_default', 'check_ids']

#: Every check, in the order they run: each category after those it builds on (an op's check
#: after the probe that found it; the fuzz leaves graphs over failing ops to their own checks).
CHECKS = ordered((
    Entry('capability.{}', probe.capability, each=CAPABILITIES),
    Entry('ops.{}', ops.op_values_and_gradients, each=OP_CAPABILITIES),
    Entry('backward.walk', backward.has_backward),
    Entry('backward.{}', backward.graph_walk, each=backward.WALKS),  # seed, accumulate, ...
    Entry('backward.visits', backward.visits),
    Entry('backward.repeat', backward.repeat),
    Entry('fuzz.dags', fuzz.random_graphs),
    Entry('mlp.build', mlp.build),
    Entry('mlp.forward', mlp.architecture),
    Entry('mlp.gradients', mlp.gradients),
    Entry('mlp.step', mlp.descent_step),
    Entry('mlp.zero_grad', mlp.zero_grad),
    Entry('mlp.one_neuron_layer', mlp.one_neuron_layer, 'advisory'),  # the lecture's Layer has it
    Entry('robustness.{}', robustness.edge_case, 'advisory', each=robustness.EDGES),
    Entry('robustness.deep_chain', robustness.deep_chain, 'advisory'),
    Entry('robustness.diamond_ladder', robustness.diamond_ladder, 'advisory'),
))


def check_ids(checks=CHECKS):
    """Every check id the registry can report, in order."""
    return [cid for entry in checks for cid, _ in entry.instances()]


def advisory_by_default(checks=CHECKS):
    return frozenset(cid for entry in checks if entry.default == 'advisory'
                     for cid, _ in entry.instances())
