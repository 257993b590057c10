"""Compute the oracle store with torch and Hypothesis: ``python -m harness.precompute``
(``make oracle-store``) writes ``harness/data/oracle_store.json``, which is committed.

Apart from ``oracle_store`` (which only reads), so that reading the store needs neither torch,
Hypothesis nor the checks.
"""
import json
import sys

from . import __version__, cases, oracles
from .answers import GraphResult
from .config import PROFILES
from .oracle_store import OP_SETS, PATH, SEEDS, STORED_PROFILES, key
from .strategies import corpus as generate
from .worker.execute import run_graph


def build():
    """The store, computed with torch and Hypothesis (what ``make oracle-store`` writes)."""
    graphs = [g for gs in cases.OP_CASES.values() for g in gs]
    graphs += [g for _, _, gs in cases.BACKWARD for g in gs]
    graphs += [g for _, _, g in cases.ROBUSTNESS]
    corpora = []
    for seed in SEEDS:
        for profile in STORED_PROFILES:
            for ops in OP_SETS.values():
                found = generate(seed, frozenset(ops), PROFILES[profile])
                corpora.append({'seed': seed, 'budget': PROFILES[profile].to_dict(),
                                'ops': sorted(ops), 'graphs': [g.to_dict() for g in found]})
                graphs += found
    answers = {}
    for g in graphs:
        torch = run_graph(g.to_dict(), oracles.TORCH)
        answers[key(g)] = {'torch': torch, 'agree': oracles.agree(GraphResult.parse(torch),
                                                                  oracles.run_reference(g))}
    return {'version': __version__, 'answers': answers, 'corpora': corpora}


def dumps(store):
    """One answer or corpus per line, so that a change to the store reads as a small diff."""
    answers = ',\n'.join(f'  {json.dumps(k)}: {json.dumps(v, sort_keys=True)}'
                         for k, v in sorted(store['answers'].items()))
    corpora = ',\n'.join(f'  {json.dumps(c, sort_keys=True)}' for c in store['corpora'])
    return (f'{{"version": {json.dumps(store["version"])},\n"answers": {{\n{answers}\n}},\n'
            f'"corpora": [\n{corpora}\n]}}\n')


def main():
    target = sys.argv[1] if len(sys.argv) > 1 else str(PATH)
    with open(target, 'w', encoding='utf-8') as f:
        f.write(dumps(build()))
    print(f'wrote {target}')


if __name__ == '__main__':
    main()
