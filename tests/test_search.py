"""The thorough profile's Hypothesis search: it finds what the corpus cannot reach (boundary
inputs), names it like any counterexample, and is the same search for the same seed."""
import os
import re
import runpy
import subprocess
import sys
from dataclasses import replace

import pytest

from conftest import ROOT, SUBMISSIONS
from micrograde.checks.trials import Trial
from micrograde.diagnose.diagnosis import first_mismatch
from micrograde.isolate.answers import Failure, GraphResult
from micrograde.model.graph import Graph
from micrograde.fuzz import search
from micrograde.grader.config import PROFILES
from micrograde.fuzz.dags import ALL_OPS, LECTURE
from micrograde.fuzz.strategies import Engine
from micrograde.oracle.oracles import agree, expected, run_reference, torch_answer
from micrograde.reference import Value
from test_fast_feedback import _grade


#: The thorough profile's budget, its shrinking cut at 10 s (never reached here).
BUDGET = replace(PROFILES['thorough'], shrink_seconds=10.0)


def tanh_rule(rule):
    """The lecture's engine with tanh's backward line ``self.grad += rule``."""
    return (SUBMISSIONS / 'lecture_engine.py').read_text().replace(
        '            self.grad += (1 - t**2) * out.grad\n', f'            self.grad += {rule}\n', 1)


#: The lecture's engine with a bug only large inputs reveal: tanh "saturated" beyond 30 lets the
#: gradient pass through (it is ~0 there).  The corpus's inputs stay within [-3, 3].
SATURATED = tanh_rule('(1 - t**2) * out.grad if x < 30 else out.grad')


def test_thorough_finds_and_names_a_bug_only_boundary_inputs_reveal(tmp_path):
    assert 'if x < 30' in SATURATED
    (tmp_path / 'engine.py').write_text(SATURATED)
    for profile, status in (('standard', 'passed'), ('thorough', 'failed')):
        out, report, imported = _grade(tmp_path / 'engine.py', tmp_path, '--profile', profile)
        fuzz = {c['id']: c for c in report['checks']}['fuzz.dags']
        assert fuzz['status'] == status, fuzz['message']
        assert out.returncode == (status == 'failed'), out.stdout
        assert ('hypothesis' in imported) == (profile == 'thorough')
    assert 'Hypothesis search drew (seed 0)' in fuzz['message']
    assert 'the local derivative of tanh is wrong' in fuzz['diagnosis']
    code = fuzz['counterexample']['code']
    assert '.tanh()' in code and len(fuzz['counterexample']['graph']['nodes']) <= 2
    leaf = fuzz['counterexample']['graph']['inputs'][0][1]
    assert leaf >= 30, code  # shrunk by Hypothesis to an input just past the bug's branch


#: The lecture's engine hanging on an input 30 to 100 in size, which only the thorough search
#: draws (the corpus's stay within [-3, 3]; ops.mul's 1234.5 is past it).
HANGS = (SUBMISSIONS / 'lecture_engine.py').read_text().replace(
    '        build_topo(self)\n', '        build_topo(self)\n'
    '        if any(30 <= abs(v.data) <= 100 for v in topo if not v._prev):\n'
    '            __import__("time").sleep(60)\n', 1)


def test_a_search_the_grading_time_limit_stops_says_so_and_how_far_it_got(tmp_path):
    """The grade's limit passing mid-search left lost graphs that read as wrong ones ('some
    are wrong', 'n of N graphs wrong', even 'depends on the order a set iterates' from the
    re-runs not run): the check is cut short, not failed by the engine, and says how far it
    got (the corpus too, where a loaded machine stops it there)."""
    assert 'sleep(60)' in HANGS
    (tmp_path / 'engine.py').write_text(HANGS)
    out, report, _ = _grade(tmp_path / 'engine.py', tmp_path, '--profile', 'thorough',
                            '--grade-timeout', '8', '--check-timeout', '60')
    fuzz = {c['id']: c for c in report['checks']}['fuzz.dags']
    assert fuzz['status'] == 'skipped' and fuzz['not_run'] == 'stopped', fuzz
    assert "stopped by the grading's time limit (8 s" in fuzz['message'], fuzz['message']
    assert ('the search did not finish' in fuzz['message'] or
            re.search(r'after \d+ of \d+ graphs', fuzz['message'])), fuzz['message']
    assert 'wrong' not in fuzz['message'] and not fuzz['misconception'], fuzz


#: tanh hangs past |x| 2.2, which ops.tanh's graphs do not reach and the random graphs do.
HANGS_BIG = (SUBMISSIONS / 'lecture_engine.py').read_text().replace(
    '        t = (math.exp(2*x) - 1)/(math.exp(2*x) + 1)\n',
    '        if abs(x) > 2.2:\n            __import__("time").sleep(30)\n'
    '        t = (math.exp(2*x) - 1)/(math.exp(2*x) + 1)\n', 1)


def test_random_graphs_never_asked_after_one_hung_are_not_wrong(tmp_path):
    """staff15: one random graph hung (a strike) and the other 59 were never asked; read as '60
    of 60 random graphs wrong', the smallest of them (never asked) run again and answered, 'The
    same graph gives another result when run again' (order_dependent, at backward()).  The
    graph that hung is the finding; the ones never asked are counted as not run."""
    assert 'sleep(30)' in HANGS_BIG
    (tmp_path / 'engine.py').write_text(HANGS_BIG)
    out, report, _ = _grade(tmp_path / 'engine.py', tmp_path, '--profile', 'quick', '--seed', '1',
                            '--check-timeout', '1')
    fuzz = {c['id']: c for c in report['checks']}['fuzz.dags']
    assert fuzz['status'] in ('failed', 'error'), fuzz
    assert (fuzz['misconception'] or {}).get('code') != 'order_dependent', fuzz
    assert 'another result' not in fuzz['message'], fuzz['message']
    assert re.search(r'\d+ not run after a graph that did not answer', fuzz['message']), \
        fuzz['message']
    assert 'tanh' in fuzz['counterexample']['code'], fuzz['counterexample']
    visits = {c['id']: c for c in report['checks']}['backward.visits']
    assert visits['status'] == 'passed' or visits['not_run'], visits


def test_a_walk_order_never_observed_for_want_of_answers_is_not_run(tmp_path):
    """staff15: exp's rule hangs, and every walk's graph after the third strike was never
    asked: backward.visits said 'the engine does not call per-node _backward closures' (0 of
    its points, not counted as not run) of the lecture engine, which does."""
    engine = (SUBMISSIONS / 'lecture_engine.py').read_text().replace(
        '            self.grad += out.data * out.grad\n',
        '            self.grad += out.data * out.grad\n            __import__("time").sleep(30)\n', 1)
    assert 'sleep(30)' in engine
    (tmp_path / 'engine.py').write_text(engine)
    out, report, _ = _grade(tmp_path / 'engine.py', tmp_path, '--profile', 'quick',
                            '--check-timeout', '1')
    visits = {c['id']: c for c in report['checks']}['backward.visits']
    assert visits['status'] == 'passed' or visits['not_run'], visits
    assert 'does not call per-node' not in visits['message'], visits


class Saturated(Value):
    def tanh(self):
        out = super().tanh()
        x = self.data
        if x >= 30:
            out._backward = lambda: setattr(self, 'grad', self.grad + out.grad)
        return out


def _runner(cls):
    engine = Engine(cls)

    def run(graph):
        actual = engine.run(graph)
        want = expected(graph)
        return Trial(graph, actual, want, first_mismatch(graph, actual, want) if want else None)
    return run


_run = _runner(Saturated)


class Epsilon(Value):
    """relu passing no gradient below an epsilon, 1e-3: the corpus's and the ops' own checks
    keep relu's operands 0.05 away from its kink."""

    def relu(self):
        out = super().relu()
        if 0 < self.data < 1e-3:
            out._backward = lambda: None
        return out


def test_the_search_goes_to_the_edge_of_an_ops_domain():
    found = search.search(_runner(Epsilon), frozenset({'add', 'mul', 'mul_const', 'relu'}), 0,
                          300, 8, BUDGET)
    assert found.trial is not None, found.ran
    (_, x), = found.trial.graph.inputs
    assert 0 < x < 1e-3 and [n.op for n in found.trial.graph.nodes][0] == 'relu'


@pytest.mark.slow  # a thorough grade (~10 s); test_thorough_finds_... runs one in make test
def test_the_sweep_finds_an_op_wrong_on_tiny_inputs_the_search_missed(tmp_path):
    """log clamped against log(0): wrong below 1e-3 only; Hypothesis rarely draws log of a
    tiny input (seed 0 does not), the sweep tries log on every decade."""
    (tmp_path / 'engine.py').write_text((SUBMISSIONS / 'lecture_engine.py').read_text().replace(
        'math.log(self.data)', 'math.log(max(self.data, 1e-3))', 1))
    out, report, imported = _grade(tmp_path / 'engine.py', tmp_path, '--profile', 'thorough')
    fuzz = {c['id']: c for c in report['checks']}['fuzz.dags']
    assert fuzz['status'] == 'failed' and 'so do 300 graphs a Hypothesis search' in fuzz['message']
    assert 'one-node graphs of each op on each boundary input' in fuzz['message']
    assert fuzz['misconception']['code'] == 'wrong_value' and fuzz['misconception']['op'] == 'log'
    (_, x), = fuzz['counterexample']['graph']['inputs']
    assert 0 < x < 1e-3 and '.log()' in fuzz['counterexample']['code']


@pytest.mark.parametrize('ops', [ALL_OPS, tuple(set(ALL_OPS) - {'mul_const'})])
def test_the_reference_engine_answers_the_sweep_as_torch_does(ops):
    """The sweep is judged by the reference engine (no torch on its 1000 graphs): it must
    agree with torch on every one, scaled or not."""
    graphs = search.sweep(frozenset(ops))
    assert len(graphs) > 1000 and {g.nodes[0].op for g in graphs} >= {'log', 'relu', 'pow'}
    assert all(agree(torch_answer(g), run_reference(g)) for g in graphs)


def test_the_search_fails_no_correct_engine_where_float64_rounds():
    """The lecture's tanh of a tiny input is off by ~1e-8 relative ((e**2x - 1)/(e**2x + 1)
    cancels): the wider domains are an input's only, so no log or negative power amplifies it."""
    lecture = runpy.run_path(str(SUBMISSIONS / 'lecture_engine.py'))['Value']
    found = search.search(_runner(lecture), LECTURE - {'relu'}, 1, 300, 12, BUDGET)
    assert found.trial is None, found.trial.graph.code()


class Composed(Value):
    """tanh as the lecture composes it of Value ops, e = (2*x).exp() and (e - 1) / (e + 1), the
    division as its ``** -1``: right in floats while e squared is, up to 177."""

    def tanh(self):
        e = (2 * self).exp()
        return (e - 1) * (e + 1) ** -1


def test_the_boundary_inputs_fail_no_correct_engine_whose_tanh_is_composed():
    """Before: the sweep's tanh of 300 had this engine's gradient 4, not 0 (the square of e**600
    underflows to 0 in the ``** -1`` rule: one of the two paths through e is lost), and a
    lecture notebook that keeps this tanh failed fuzz.dags in the thorough profile, 34/51 (44/51
    standard).  Its robustness checks give that advice (``robustness.tanh_large``); the search's
    inputs stay where the lecture's formulas hold."""
    run = _runner(Composed)
    wrong = [g.code() for g in search.sweep(LECTURE) if run(g).failed]
    assert not wrong, wrong[:3]
    found = search.search(run, LECTURE - {'relu'}, 0, 300, 8, BUDGET)
    assert found.trial is None, found.trial.graph.code()


def test_the_search_is_the_same_for_the_same_seed_and_keeps_no_database(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ops = frozenset({'add', 'mul', 'mul_const', 'tanh'})
    first, again = (search.search(_run, ops, 7, 100, 6, BUDGET) for _ in range(2))
    assert first.trial is not None and first.complete
    assert (first.trial.graph, first.ran) == (again.trial.graph, again.ran)
    assert [n.op for n in first.trial.graph.nodes][:1] == ['tanh']
    assert not any(tmp_path.iterdir())  # no example database on disk


def test_the_search_stops_shrinking_at_its_budget_of_candidates():
    """A count, not a time, binds first: the same smallest graph on a busy host as on a quiet
    one (before, the time budget alone: Hypothesis's candidates, each judged by torch, ~30-50
    ms, took seconds)."""
    ops = frozenset({'add', 'mul', 'mul_const', 'tanh'})
    whole = search.search(_run, ops, 7, 100, 6, BUDGET)
    cut = [search.search(_run, ops, 7, 100, 6, replace(BUDGET, shrink_runs=2)) for _ in range(2)]
    assert whole.complete and not cut[0].complete and cut[0].ran < whole.ran
    assert (cut[0].trial.graph, cut[0].ran) == (cut[1].trial.graph, cut[1].ran)


SEARCH = """
import hashlib, sys
from micrograde.checks.trials import Trial
from micrograde.fuzz import search
from micrograde.grader.config import PROFILES
from micrograde.oracle.oracles import run_reference
if sys.argv[1:]:
    import literals  # a module of the working directory, as a course's conftest is
drawn = []

def run(graph):
    drawn.append(graph.to_json())
    return Trial(graph, run_reference(graph), run_reference(graph), None)
search.search(run, frozenset({'add', 'mul', 'mul_const', 'tanh', 'exp', 'log'}), 3, 100, 8,
              PROFILES['thorough'])
print(hashlib.sha256('\\n'.join(drawn).encode()).hexdigest())
"""


def test_the_search_follows_the_seed_alone_and_writes_no_file(tmp_path):
    """Hypothesis draws literals mined from the modules a process loaded (here a course
    repository's module) and caches them in .hypothesis/: the search uses none of them."""
    (tmp_path / 'literals.py').write_text('X = [31, 47, 2, 3, 5, 299.0, 17.5, -41.0, 0.001]\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith('HYPOTHESIS')}
    drawn = [subprocess.run([sys.executable, '-c', SEARCH, *extra], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300, check=True).stdout
             for extra in ([], ['literals'])]
    assert drawn[0] == drawn[1] and len(drawn[0]) == 65, drawn
    assert {p.name for p in tmp_path.iterdir()} <= {'__pycache__', 'literals.py'}  # no .hypothesis


def _readme_example():
    text = (ROOT / 'README.md').read_text()
    block = text.split('<!-- course-repository example -->\n```python\n', 1)[1]
    return block.split('```', 1)[0]


def test_engine_adapts_a_value_with_other_names(tmp_path):
    """A learner's Scalar keeps its number in .val and backpropagates with backprop(): found as
    the grader finds them, or named by the course author; a wrong rule still fails."""
    source = (SUBMISSIONS / 'lecture_engine.py').read_text().replace('.data', '.val').replace(
        'def backward(self)', 'def backprop(self)').replace('class Value', 'class Scalar')
    source = source.replace('Value(', 'Scalar(').replace('isinstance(other, Value)',
                                                          'isinstance(other, Scalar)')
    (tmp_path / 'scalar.py').write_text(source)
    (tmp_path / 'broken.py').write_text(source.replace('(1 - t**2)', '(1 + t**2)'))
    scalar = runpy.run_path(str(tmp_path / 'scalar.py'))['Scalar']
    graph = Graph.parse('u = a * b; out = u.tanh() + a', a=0.5, b=-1.5)
    for engine in (Engine(scalar), Engine(scalar, data='val', backward='backprop')):
        assert engine.run(graph).grads == run_reference(graph).grads
        engine.check(graph)
    broken = runpy.run_path(str(tmp_path / 'broken.py'))['Scalar']
    with pytest.raises(AssertionError, match='the local derivative of tanh is wrong'):
        Engine(broken).check(graph)


@pytest.mark.parametrize('engine, passes', [('lecture_engine.py', True),
                                            ('bug_tanh_derivative.py', False)])
def test_the_readme_course_repository_example_runs(tmp_path, engine, passes):
    """pytest + Hypothesis against a learner's Value, as a course repository would run it."""
    (tmp_path / 'tests').mkdir()
    (tmp_path / 'tests' / 'test_engine.py').write_text(_readme_example())
    (tmp_path / 'engine.py').write_text((SUBMISSIONS / engine).read_text())
    out = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
                          '-p', 'no:randomly', 'tests'], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert (out.returncode == 0) == passes, out.stdout[-3000:]
    if not passes:
        assert 'the local derivative of tanh is wrong' in out.stdout
        assert '.tanh()' in out.stdout and 'out.backward()' in out.stdout  # runnable code


def test_a_failure_found_before_a_candidate_is_lost_is_the_finding():
    """A real failure found, then a shrinking candidate lost (the grading's time limit killing
    the worker mid-shrink): the lost graph was the one reported, so the finding read 'stopped
    ... the search did not finish', not the wrong tanh the search had found (engines5's
    leftover)."""
    lost = GraphResult(error=Failure('worker', 'WorkerLost', 'timed out after 10 s'))

    def run(graph):
        trial = _run(graph)
        return Trial(graph, lost, trial.expected, first_mismatch(graph, lost, trial.expected)) \
            if trial.failed and len(graph.nodes) <= 2 else trial
    found = search.search(run, frozenset({'add', 'mul', 'tanh'}), 0, 200, 6, BUDGET)
    assert found.trial is not None and found.trial.actual is not lost and not found.complete
    assert found.trial.failed and 'tanh' in found.trial.graph.capabilities


def test_a_lost_worker_ends_the_search():
    """A graph that hangs or crashes the worker is reported as found: no candidate is worth
    another one (the checks after this one need the worker)."""
    lost = GraphResult(error=Failure('worker', 'WorkerLost', 'timed out after 10 s'))
    ran = []

    def run(graph):
        ran.append(graph)
        actual = lost if 'tanh' in graph.capabilities else Engine(Value).run(graph)
        want = run_reference(graph)
        return Trial(graph, actual, want, first_mismatch(graph, actual, want))
    found = search.search(run, frozenset({'add', 'mul', 'tanh'}), 0, 100, 6, BUDGET)
    assert found.trial.actual is lost and not found.complete
    assert found.ran == len(ran) and ran[-1] == found.trial.graph
