"""``make oracles``: compute torch's answers for every graph a default grade meets and write them
as package data (``harness/oracle/data/oracles.json``, see ``micrograde.oracle.oracle_store``).

Shipped: the fixed graphs of ``micrograde.model.cases`` (with every profile's chain) and the fuzz corpora
of ``SHIPPED_SEEDS`` for all ops and for the lecture's engine in every profile; in the quick and
standard profiles also for every engine lacking one op more, and for ``SMALL_OP_SETS``.  Any other corpus is computed once by the
grader and cached on disk.  ``tests/test_oracle_store.py`` rebuilds the answers with torch and
fails on any difference, so stale data cannot pass the suite.
"""
import json
from pathlib import Path

from micrograde import __version__
from micrograde.model import cases
from micrograde.oracle import oracles
from micrograde.grader.config import PROFILES
from micrograde.fuzz.dags import ALL_OPS, corpus
from micrograde.oracle.oracle_store import FORMAT, SHIPPED, key

#: The lecture's engine: every form but ``a ** b`` and ``2.0 ** a`` (micrograd's too).
LECTURE = frozenset(ALL_OPS) - {'pow_value', 'rpow'}
#: The smallest engines seen: the lecture's first hour, and an engine of Values only.
SMALL_OP_SETS = (('add', 'add_const', 'mul', 'mul_const', 'tanh'),
                 ('add', 'mul', 'exp', 'log', 'tanh', 'relu', 'sigmoid'))
SHIPPED_SEEDS = (0,)


def corpora(seeds=SHIPPED_SEEDS):
    """``{(seed, profile, op set): graphs}`` whose answers are shipped."""
    every = frozenset(ALL_OPS)
    fewer = [base - {op} for base in (every, LECTURE) for op in sorted(base)]
    fewer += [frozenset(s) for s in SMALL_OP_SETS]
    out = {}
    for seed in seeds:
        for name, budget in PROFILES.items():
            for ops in [every, LECTURE] + (fewer if name != 'thorough' else []):
                out[seed, name, ops] = corpus(seed, ops, budget.examples, budget.max_nodes)
    return out


def shipped_graphs(seeds=SHIPPED_SEEDS):
    """Every graph whose answer is shipped: the fixed cases and the shipped corpora."""
    graphs = dict.fromkeys(cases.fixed(b.chain for b in PROFILES.values()))
    for graph_list in corpora(seeds).values():
        graphs.update(dict.fromkeys(graph_list))
    return list(graphs)


def _dumps(result):
    return json.dumps(result, separators=(',', ':'))


def entry(graph):
    """What the store keeps for ``graph`` (torch computed now): patches to the reference's
    answer where both have values and gradients only, else torch's whole result."""
    t, r = oracles.torch_raw(graph), oracles.reference_raw(graph)
    if set(t) != {'values', 'grads'} or set(r) != set(t) or any(len(t[f]) != len(r[f]) for f in t):
        return t
    return [[f, i, x] for f in ('values', 'grads') for i, x in enumerate(t[f])
            if _dumps(x) != _dumps(r[f][i])]


def build(path=SHIPPED, seeds=SHIPPED_SEEDS):
    import torch
    answers = {key(g): entry(g) for g in shipped_graphs(seeds)}
    data = {'format': FORMAT, 'version': __version__, 'torch': torch.__version__,
            'answers': dict(sorted(answers.items()))}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(_dumps(data) + '\n')
    return len(answers)


if __name__ == '__main__':
    n = build()
    print(f'{SHIPPED.name}: {n} answers, {SHIPPED.stat().st_size / 1024:.0f} KiB')
