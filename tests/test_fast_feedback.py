"""Fast feedback without changing a verdict: a cold grade imports neither torch nor Hypothesis,
a cached run reports exactly what a fresh one does, and shrinking finds a small graph that fails
the same way."""
import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest

from conftest import ROOT, SUBMISSIONS
from micrograde.fuzz import shrink
from micrograde.isolate.answers import Failure, GraphResult
from micrograde.checks.trials import Trial
from micrograde.fuzz.dags import ALL_OPS, corpus
from micrograde.grader.config import PROFILES
from micrograde.diagnose.diagnosis import first_mismatch
from micrograde.oracle.oracles import run_reference
from micrograde.worker.execute import Backend, run_graph
from micrograde.reference import Value
from test_oracle_store import ONLY_STDLIB


def _grade(name, cache, *options, block=False):
    """Grade through the CLI; ``block``: as if torch and Hypothesis were not installed."""
    env = dict(os.environ, MICROGRADE_CACHE=str(cache))
    code = (ONLY_STDLIB if block else 'import sys\n') + '''
import json
from micrograde.surfaces.cli import main
try:
    main()
finally:
    print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'hypothesis'})),
          file=sys.stderr)
'''
    out = subprocess.run([sys.executable, '-c', code, 'grade', SUBMISSIONS / name, '--no-color',
                          '--json', cache / 'report.json', *options], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    report = json.loads((cache / 'report.json').read_text())
    report.pop('timings')
    report.pop('timestamp')  # when it ran: like the timings, not part of the grade
    for c in report['checks']:
        c.pop('duration', None)
    return out, report, json.loads(out.stderr.strip().splitlines()[-1])


def test_a_cold_grade_of_a_correct_engine_imports_neither_torch_nor_hypothesis(tmp_path):
    out, report, imported = _grade('lecture_engine.py', tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert imported == []
    blocked, same, _ = _grade('lecture_engine.py', tmp_path, block=True)
    assert blocked.returncode == 0 and same == report
    assert not any(tmp_path.glob('oracles-*/*.json'))  # every answer was shipped


#: The reference engine without some ops: an op set no example has and no pool set is.
PARTIAL = (ROOT / 'reference' / 'engine.py').read_text() + (
    "\nfor _name in ('log', 'sigmoid', '__rtruediv__', '__rsub__', '__rpow__', 'relu'):\n"
    "    delattr(Value, _name)\n")


@pytest.mark.parametrize('name', ['value_only.py', 'number_in_value.py', 'local_grads_engine.py',
                                  'missing_ops.py', 'partial_reference.py'])
def test_a_cold_grade_of_an_engine_with_a_partial_op_set_never_imports_torch(tmp_path, name):
    """Its corpus comes from the shipped pool whatever ops it has: torch is made unimportable in
    the grading process, and the grade is the same as with torch there."""
    if name == 'partial_reference.py':
        (tmp_path / name).write_text(PARTIAL)
        name = tmp_path / name
    out, report, imported = _grade(name, tmp_path)
    assert imported == [] and out.returncode == 0, out.stdout + out.stderr
    blocked, same, _ = _grade(name, tmp_path, block=True)
    assert same == report
    fuzz = {c['id']: c for c in report['checks']}['fuzz.dags']
    assert fuzz['status'] == 'passed' and 'corpus ' in fuzz['message']
    assert not any(tmp_path.glob('oracles-*/*.json'))  # every answer was shipped


def test_a_failing_grade_needs_neither_torch_nor_hypothesis(tmp_path):
    """Shrinking and the re-runs of the shrunk graph ask no oracle but the reference engine."""
    out, report, _ = _grade('bug_set_order.py', tmp_path, block=True)
    checks = {c['id']: c for c in report['checks']}
    assert out.returncode == 1 and 'grader' not in checks, out.stdout
    assert checks['fuzz.dags']['status'] == 'failed'
    assert not any(tmp_path.glob('oracles-*/*.json'))


def test_a_cached_run_reports_exactly_what_a_fresh_one_does(tmp_path):
    """Every corpus answer is shipped or vouched for; what still asks torch is the thorough
    profile's search (boundary inputs the pool never reaches): the first run asks torch and fills
    the cache, the second reads it and reports the same."""
    fresh, first, imported_first = _grade('lecture_engine.py', tmp_path, '--profile', 'thorough')
    cached, second, imported_second = _grade('lecture_engine.py', tmp_path, '--profile', 'thorough')
    assert fresh.returncode == cached.returncode == 0, fresh.stdout + fresh.stderr
    assert 'torch' in imported_first and 'torch' not in imported_second
    assert any(tmp_path.glob('oracles-*/*.json'))  # the search's answers were cached
    assert first == second
    fuzz = {c['id']: c for c in second['checks']}['fuzz.dags']
    assert 'corpus ' in fuzz['message']  # which graphs were checked


class TanhSlope(Value):
    """The catalogue's tanh mistake: the local derivative taken as 1 - x**2 of the input."""

    def tanh(self):
        out = super().tanh()
        x = self.data

        def _backward():
            self.grad += (1 - x * x) * out.grad
        out._backward = _backward
        return out


def _trials(engine, graphs):
    backend = Backend(engine)
    out = []
    for g in graphs:
        actual = GraphResult.parse(run_graph(g.to_dict(), backend, instrument=True))
        expected = run_reference(g)
        out.append(Trial(g, actual, expected, first_mismatch(g, actual, expected)))
    return out


#: The standard profile's budget, its shrinking cut at 10 s (never reached here).
BUDGET = replace(PROFILES['standard'], shrink_seconds=10.0)


def test_shrinking_finds_a_one_node_graph_that_fails_the_same_way():
    graphs = corpus(0, frozenset(ALL_OPS), 200, 8)
    failing = [t for t in _trials(TanhSlope, graphs) if t.failed]
    start = max(failing, key=lambda t: shrink.cost(t.graph))
    runs = []

    def run(gs):
        runs.append(len(gs))
        return [t.actual for t in _trials(TanhSlope, gs)]
    minimal, rounds, complete = shrink.shrink(start, run, BUDGET, Trial)
    assert complete and rounds == len(runs)
    assert shrink.signature(minimal) == shrink.signature(start)
    assert [n.op for n in minimal.graph.nodes][:1] == ['tanh'] and len(minimal.graph.nodes) <= 2
    assert minimal.graph.code().count('\n') <= 4


def test_shrinking_stops_at_its_time_budget():
    failing = [t for t in _trials(TanhSlope, corpus(0, frozenset(ALL_OPS), 200, 8)) if t.failed]
    start = max(failing, key=lambda t: shrink.cost(t.graph))
    minimal, rounds, complete = shrink.shrink(start, lambda gs: [], replace(BUDGET, shrink_seconds=0.0),
                                              Trial)
    assert (minimal, rounds, complete) == (start, 0, False)


def test_shrinking_stops_at_its_budget_of_candidates_wherever_it_runs():
    """The count binds before the time: the same candidates on a busy host as on a quiet one
    (before, a time budget alone: a slow host's report stopped shrinking sooner)."""
    failing = [t for t in _trials(TanhSlope, corpus(0, frozenset(ALL_OPS), 200, 8)) if t.failed]
    start = max(failing, key=lambda t: shrink.cost(t.graph))
    ran = []

    def run(gs):
        ran.extend(gs)
        return [t.actual for t in _trials(TanhSlope, gs)]
    whole = shrink.shrink(start, run, BUDGET, Trial)
    needed, ran[:] = len(ran), []
    cut = shrink.shrink(start, run, replace(BUDGET, shrink_runs=needed // 2), Trial)
    assert whole[2] and not cut[2] and len(ran) <= needed // 2
    assert shrink.cost(cut[0].graph) >= shrink.cost(whole[0].graph)


def test_a_candidate_that_hangs_or_crashes_ends_shrinking():
    """The worker's strikes are for the checks after this one, not for candidates."""
    failing = [t for t in _trials(TanhSlope, corpus(0, frozenset(ALL_OPS), 200, 8)) if t.failed]
    start = max(failing, key=lambda t: shrink.cost(t.graph))
    lost = GraphResult(error=Failure('worker', 'WorkerLost', 'timed out after 10 s'))
    asked = []

    def run(gs):
        asked.append(len(gs))
        return [lost] * len(gs)
    minimal, rounds, complete = shrink.shrink(start, run, BUDGET, Trial)
    assert minimal is start and not complete and len(asked) == 1
