"""``make oracles``: compute torch's answers for every graph a default grade meets and write them
as package data (``harness/oracle/data/oracles.json``, see ``micrograde.oracle.oracle_store``).

Shipped: the fixed graphs of ``micrograde.model.cases`` (with every profile's chain) and, for
``SHIPPED_SEEDS``, the whole fuzz pool (``micrograde.fuzz.dags.pool``) of the quick and standard
profiles, from which every engine's corpus is drawn whatever ops it has; in the thorough profile
the corpora of all ops and of the lecture's engine.  Any other corpus is computed once by the
grader and cached on disk.  ``tests/test_oracle_store.py`` rebuilds the answers with torch and
fails on any difference, so stale data cannot pass the suite.
"""
import json
from pathlib import Path

from micrograde import __version__
from micrograde.model import cases
from micrograde.oracle import oracles
from micrograde.grader.config import PROFILES
from micrograde.fuzz.dags import ALL_OPS, LECTURE, corpus, pool
from micrograde.oracle.oracle_store import FORMAT, SHIPPED, key

SHIPPED_SEEDS = (0,)
#: The profiles whose whole pool ships; the others ship the corpora of ``THOROUGH_SETS`` only.
POOLED = ('quick', 'standard')
THOROUGH_SETS = (frozenset(ALL_OPS), LECTURE)


def shipped_graphs(seeds=SHIPPED_SEEDS):
    """Every graph whose answer is shipped: the fixed cases and the shipped pools."""
    graphs = dict.fromkeys(cases.fixed(b.chain for b in PROFILES.values()))
    for seed in seeds:
        for name, b in PROFILES.items():
            found = pool(seed, b.examples, b.max_nodes) if name in POOLED else [
                g for ops in THOROUGH_SETS for g in corpus(seed, ops, b.examples, b.max_nodes)]
            graphs.update(dict.fromkeys(found))
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
