"""The oracle store: shipped answers are torch's, missing graphs fall back to torch, the cache is
never trusted blindly, and reading it needs neither torch nor Hypothesis."""
import json
import random
from dataclasses import asdict
import subprocess
import sys

import pytest

from conftest import ROOT, SUBMISSIONS
from micrograde.oracle import oracle_store, oracles
from micrograde.surfaces import build_oracles
from micrograde.model import cases
from micrograde.model.compare import close
from micrograde.grader.config import PROFILES
from micrograde.fuzz.dags import ALL_OPS, CORE, corpus
from micrograde.oracle.oracle_store import Store, key

ONLY_STDLIB = '''
import sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('torch', 'hypothesis'):
            raise ImportError('not in a learner kernel: ' + name)
sys.meta_path.insert(0, Refuse())
'''


def _same(a, b):
    return json.dumps(asdict(a)) == json.dumps(asdict(b))


def _as_torch_gives(shipped, fresh):
    """The same answer as torch gives on this machine, as the grader compares answers
    (``compare.close``): torch's vectorised kernels (tanh, exp, ...) are picked by the CPU's
    instruction set (AVX2, AVX-512) and round the last bit apart, which a later ``1 - t**2``
    near saturation makes 1e-7 relative, ~1e-16 absolute; the store is built on one machine and
    read on others, while stale data (a wrong value, another graph's entry) is far off."""
    a, b = asdict(shipped), asdict(fresh)
    return a.keys() == b.keys() and all(
        a[k] == b[k] or isinstance(a[k], list) and isinstance(b[k], list) and
        len(a[k]) == len(b[k]) and all(close(u, v) for u, v in zip(a[k], b[k])) for k in a)


def test_shipped_store_is_exactly_fresh_torch_for_every_graph_it_must_hold():
    """Stale data fails here: a graph missing, an extra entry, or an answer torch no longer gives."""
    graphs = build_oracles.shipped_graphs()
    shipped = oracle_store.read_shipped()
    assert shipped, 'the shipped store is missing or of another version: run `make oracles`'
    assert set(shipped) == {key(g) for g in graphs}
    store = Store(cache=None)
    for g in graphs:
        assert _as_torch_gives(oracles.torch_answer(g, False, store), oracles.run_torch(g)), g.code()
    assert store.sources == {'shipped': len(graphs), 'reference': 0, 'cache': 0, 'torch': 0}


def test_a_graph_not_in_the_store_falls_back_to_torch_then_to_the_cache(tmp_path):
    shipped = oracle_store.read_shipped()
    graphs = [g for g in corpus(12345, frozenset(ALL_OPS), 30, 8) if key(g) not in shipped]
    assert len(graphs) > 20  # small graphs may be shipped already: any corpus can hold them
    fresh = Store(cache=tmp_path)
    assert all(oracles.torch_answer(g, False, fresh) is None for g in graphs)
    answers = [oracles.torch_answer(g, store=fresh) for g in graphs]
    assert fresh.sources['torch'] == len(graphs)
    again = Store(cache=tmp_path)
    assert all(_same(oracles.torch_answer(g, store=again), a) for g, a in zip(graphs, answers))
    assert again.sources == {'shipped': 0, 'reference': 0, 'cache': len(graphs), 'torch': 0}


def test_corrupt_or_planted_cache_entries_are_not_trusted(tmp_path):
    shipped = oracle_store.read_shipped()
    g, h, i = [g for g in corpus(54321, frozenset(ALL_OPS), 30, 8) if key(g) not in shipped][-3:]
    for graph in (g, h, i):
        oracles.torch_answer(graph, store=Store(cache=tmp_path))
    folder = next(tmp_path.iterdir())
    (folder / f'{key(g)}.json').write_text('{"graph": tru')  # torn write
    planted = json.loads((folder / f'{key(h)}.json').read_text())
    planted['torch']['grads'] = [x + 1.0 for x in planted['torch']['grads']]  # still a result
    (folder / f'{key(h)}.json').write_text(json.dumps(planted))
    cut = json.loads((folder / f'{key(i)}.json').read_text())  # agrees as far as it goes
    cut['torch'] = {k: v[:1] for k, v in cut['torch'].items()}
    (folder / f'{key(i)}.json').write_text(json.dumps(cut))
    store = Store(cache=tmp_path)
    for graph in (g, h, i):
        assert _same(oracles.torch_answer(graph, store=store), oracles.run_torch(graph))
    assert store.sources['torch'] == 3


def test_every_engine_lacking_an_op_gets_a_full_corpus():
    budget = PROFILES['standard']
    for op in ALL_OPS:
        if op in ('add', 'mul'):
            continue  # the fuzz check needs both
        graphs = corpus(0, frozenset(ALL_OPS) - {op}, budget.examples, budget.max_nodes)
        assert len(graphs) == budget.examples
        assert all(op not in g.capabilities for g in graphs)


def test_every_op_set_draws_a_full_corpus_from_the_shipped_pool():
    """Whatever ops an engine has (the fuzz check needs add and mul), its quick and standard
    corpus is full, uses every op it has, and every answer ships: no grade imports torch."""
    shipped, rng = oracle_store.read_shipped(), random.Random(24)
    others = sorted(set(ALL_OPS) - CORE)
    for _ in range(150):
        ops = CORE | {op for op in others if rng.random() < rng.random()}
        for name in build_oracles.POOLED:
            b = PROFILES[name]
            graphs = corpus(0, frozenset(ops), b.examples, b.max_nodes)
            assert len(graphs) == b.examples == len(set(graphs)), sorted(ops)
            assert set().union(*(g.capabilities for g in graphs)) == ops | {'backward'}
            assert all(key(g) in shipped for g in graphs), sorted(ops)


def test_the_store_answers_without_torch_or_hypothesis():
    """What a learner's kernel (the self-check) and a cold grade need: no torch, no Hypothesis."""
    graphs = cases.fixed(b.chain for b in PROFILES.values())
    for b in PROFILES.values():
        graphs += corpus(0, frozenset(ALL_OPS), b.examples, b.max_nodes)
    code = ONLY_STDLIB + '''
import json
from micrograde.oracle import oracles
from micrograde.model.graph import Graph
from micrograde.oracle.oracle_store import Store
graphs = [Graph.from_dict(d) for d in json.load(sys.stdin)]
store = Store(cache=None)
assert all(oracles.torch_answer(g, False, store) is not None for g in graphs)
assert all(oracles.expected(g) is not None for g in graphs[-1000:])
print(len(graphs), sorted(m for m in sys.modules if m.startswith(('torch', 'hypothesis'))))
'''
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, input=json.dumps([g.to_dict() for g in graphs]))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split(' ', 1)[1].strip() == '[]'


@pytest.mark.parametrize('seed', [0, 3])
def test_the_corpus_is_the_same_in_every_process(seed):
    code = ('from micrograde.fuzz.dags import ALL_OPS, corpus\n'
            f'print([g.to_json() for g in corpus({seed}, frozenset(ALL_OPS), 30, 8)])')
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip() == str([g.to_json() for g in corpus(seed, frozenset(ALL_OPS), 30, 8)])


def test_the_shipped_cross_check_vouches_for_every_op():
    """What lets the reference engine answer another seed's corpus: torch agreed with it on
    every shipped drawn graph using each op (recomputed from the shipped answers, no torch)."""
    data = oracle_store._read(oracle_store.SHIPPED)
    drawn = build_oracles.drawn_graphs()
    assert data['vouched'] == build_oracles.vouched(drawn, data['answers'])
    assert set(data['vouched']) == set(ALL_OPS) | {'backward'}


def test_another_seeds_corpus_is_answered_as_torch_answers_it():
    """The reference engine's answers for a seed not shipped are torch's, to the tolerance."""
    budget = PROFILES['standard']
    shipped = oracle_store.read_shipped()
    for ops in (frozenset(ALL_OPS), CORE | {'tanh', 'exp', 'pow'}):
        graphs = [g for g in corpus(7, ops, budget.examples, budget.max_nodes)
                  if key(g) not in shipped]
        assert len(graphs) > budget.examples // 2
        assert all(oracles.answered_by(g, drawn=True) == 'reference' for g in graphs)
        assert all(oracles.agree(oracles.run_torch(g), oracles.run_reference(g)) for g in graphs)


SEEDED_GRADE = ONLY_STDLIB + '''
import json
from micrograde.grader.config import Config
from micrograde.grader.grading import grade
report = grade(sys.argv[1], config=Config(seed=7))
print(json.dumps({c.id: c.status for c in report.checks}))
print(json.dumps([c.message for c in report.checks if c.id == 'fuzz.dags']))
print(sorted(m for m in sys.modules if m.startswith(('torch', 'hypothesis'))))
'''


@pytest.mark.parametrize('engine', ['missing_ops.py', 'bug_value_only_tanh_assigns.py'])
def test_a_cold_grade_of_any_seed_imports_no_torch_and_judges_as_torch(engine, monkeypatch):
    """A fresh grading process, seed 7 (whose corpus is not shipped), an engine with a partial
    op set: torch is never imported (an import hook refuses it), and every check's verdict is
    the one torch's own answers give."""
    path = str(SUBMISSIONS / engine)
    out = subprocess.run([sys.executable, '-c', SEEDED_GRADE, path], cwd=ROOT, timeout=240,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    verdicts, fuzzed, imported = out.stdout.strip().splitlines()[-3:]
    assert imported == '[]'
    assert 'answered by the reference engine, vouched for by torch' in json.loads(fuzzed)[0]
    from micrograde.grader.config import Config
    from micrograde.grader.grading import grade
    monkeypatch.setattr(Store, 'vouched', lambda self, graph: 0)  # torch answers every graph
    oracles._expected_online.cache_clear()
    try:
        before = dict(oracles.STORE.sources)
        report = grade(path, config=Config(seed=7))
        assert oracles.STORE.sources['reference'] == before['reference']
        assert oracles.STORE.sources['torch'] + oracles.STORE.sources['cache'] > \
            before['torch'] + before['cache']
    finally:
        oracles._expected_online.cache_clear()
    assert json.loads(verdicts) == {c.id: c.status for c in report.checks}
