"""Torch's answers kept as data: the oracle without importing torch or Hypothesis.

The fixed graphs (``cases``) and the fuzz corpora of a few op sets depend only on the grader's
version, the seed and the profile, so their oracle answers are computed once with torch (``python
-m harness.precompute``, ``make oracle-store``) and shipped in ``data/oracle_store.json``.
``oracles`` answers from here first; the notebook self-check answers everything else with the
reference engine.  A store written by another grader version is ignored, and a test rebuilds
the store (``precompute.py``) and compares, so a stored answer is always the one torch would give.
"""
import functools
import json
from importlib import resources

from . import __version__
from .answers import GraphResult
from .graph import Graph
from .worker.ops import CAPABILITIES

PATH = resources.files('harness').joinpath('data/oracle_store.json')

#: Op sets whose fuzz corpora are stored: every op, the lecture's engine, micrograd's, the least,
#: and every op between Values only (no plain numbers).
_CONSTANT_FORMS = ('add', 'add_const', 'radd', 'mul', 'mul_const', 'rmul')
_ARITHMETIC = _CONSTANT_FORMS + ('sub', 'sub_const', 'rsub', 'truediv', 'truediv_const',
                                 'rtruediv', 'pow', 'neg')
OP_SETS = {
    'all': tuple(c for c in CAPABILITIES if c != 'backward'),
    'lecture': _ARITHMETIC + ('exp', 'tanh'),
    'micrograd': _ARITHMETIC + ('relu',),
    'least': _CONSTANT_FORMS,
    'values only': tuple(c for c in CAPABILITIES if not c.endswith('_const') and c not in (
        'backward', 'numbers', 'pow', 'radd', 'rsub', 'rmul', 'rtruediv', 'rpow')),
}
SEEDS = (0,)
STORED_PROFILES = ('quick',)


def key(graph):
    return graph.to_json()


@functools.cache
def load():
    """The store for this grader version (empty when missing or written by another version)."""
    try:
        data = json.loads(PATH.read_text(encoding='utf-8'))
    except (OSError, ValueError):
        return {'answers': {}, 'corpora': []}
    if data.get('version') != __version__:
        return {'answers': {}, 'corpora': []}
    return data


@functools.lru_cache(maxsize=8192)
def answer(graph):
    """``(torch's result, whether the reference agrees)`` for a stored graph, else ``None``."""
    found = load()['answers'].get(key(graph))
    return None if found is None else (GraphResult.parse(found['torch']), found['agree'])


def corpus(seed, budget, ops, nearest=False):
    """The stored fuzz corpus for exactly these ``ops`` (a tuple of graphs), else ``None``; with
    ``nearest``, instead of ``None`` every stored graph of this seed and budget that uses only
    these ops (maybe none)."""
    ops = frozenset(ops)
    budget = budget.to_dict()
    matching = [c for c in load()['corpora'] if c['seed'] == seed and c['budget'] == budget]
    exact = [c for c in matching if frozenset(c['ops']) == ops]
    if exact:
        return tuple(Graph.from_dict(g) for g in exact[0]['graphs'])
    if not nearest:
        return None
    unique = dict.fromkeys(json.dumps(g, sort_keys=True) for c in matching for g in c['graphs'])
    graphs = (Graph.from_dict(json.loads(g)) for g in unique)
    return tuple(g for g in graphs if g.capabilities - {'backward'} <= ops)
