"""``make oracles``: compute torch's answers for every graph a default grade meets and write them
as package data (``harness/oracle/data/oracles.json``, see ``micrograde.oracle.oracle_store``).

Shipped: the fixed graphs of ``micrograde.model.cases`` (with every profile's chain) and, for
``SHIPPED_SEEDS``, the whole fuzz pool (``micrograde.fuzz.dags.pool``) of the quick and standard
profiles, from which every engine's corpus is drawn whatever ops it has; in the thorough profile
the corpora of all ops and of the lecture's engine.  Any other corpus is computed once by the
grader and cached on disk.  ``tests/test_oracle_store.py`` rebuilds the answers with torch and
fails on any difference, so stale data cannot pass the suite.

With them ships the cross-check that lets the reference engine answer any other seed's corpus
(``vouched``: for each op, the drawn graphs using it, where torch agreed on all).
"""
import json
from collections import Counter
from pathlib import Path

from micrograde import __version__
from micrograde.model import cases
from micrograde.oracle import oracles
from micrograde.isolate.answers import GraphResult
from micrograde.grader.config import PROFILES
from micrograde.fuzz.dags import ALL_OPS, LECTURE, corpus, pool
from micrograde.oracle.oracle_store import FORMAT, SHIPPED, key, patched

SHIPPED_SEEDS = (0,)
#: The profiles whose whole pool ships; the others ship the corpora of ``THOROUGH_SETS`` only.
POOLED = ('quick', 'standard')
THOROUGH_SETS = (frozenset(ALL_OPS), LECTURE)


def shipped_graphs(seeds=SHIPPED_SEEDS):
    """Every graph whose answer is shipped: the fixed cases and the drawn graphs."""
    fixed = cases.fixed(b.chain for b in PROFILES.values())
    return list(dict.fromkeys(fixed + drawn_graphs(seeds)))


def drawn_graphs(seeds=SHIPPED_SEEDS):
    """The shipped graphs the fuzz builder drew: the pools, and the thorough corpora."""
    graphs = {}
    for seed in seeds:
        for name, b in PROFILES.items():
            found = pool(seed, b.examples, b.max_nodes) if name in POOLED else [
                g for ops in THOROUGH_SETS for g in corpus(seed, ops, b.examples, b.max_nodes)]
            graphs.update(dict.fromkeys(found))
    return list(graphs)


def vouched(graphs, answers):
    """``{op: graphs using it}`` over the drawn ``graphs``, for the ops on which torch's answers
    (``answers``, as shipped) and the reference engine agree on every graph using them: what
    lets the reference engine answer another seed's corpus (``micrograde.oracle.oracles``)."""
    uses, refuted = Counter(), set()
    for g in {key(g): g for g in graphs}.values():
        torch = GraphResult.parse(patched(oracles.reference_raw(g), answers[key(g)]))
        uses.update(g.capabilities)
        if not oracles.agree(torch, oracles.run_reference(g)):
            refuted |= g.capabilities
    return {op: n for op, n in sorted(uses.items()) if op not in refuted}


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
            'answers': dict(sorted(answers.items())),
            'vouched': vouched(drawn_graphs(seeds), answers)}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(_dumps(data) + '\n')
    return len(answers)


if __name__ == '__main__':
    n = build()
    print(f'{SHIPPED.name}: {n} answers, {SHIPPED.stat().st_size / 1024:.0f} KiB')
