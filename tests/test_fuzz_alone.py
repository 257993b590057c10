"""A corpus failure no model of backward() explains, where one node is wrong by itself on the
values it had there (a rule wrong only beyond the inputs its op's own check tried): the report
names that op's rule, with the graph of that node alone as the counterexample."""
import pytest

from micrograde.model.graph import Graph
from micrograde.reference import Value
from micrograde.strategies import Engine
from test_fast_feedback import _grade
from test_search import tanh_rule

#: tanh's local derivative replaced by t itself beyond 20: ops.tanh checks |x| <= 2, and the
#: corpus reaches tanh(27) through a * a * a.
BEYOND_20 = tanh_rule('((1 - t**2) if abs(x) < 20 else t) * out.grad')


def test_a_rule_wrong_only_beyond_its_own_check_is_named_by_its_node_alone(tmp_path):
    assert 'abs(x) < 20' in BEYOND_20
    (tmp_path / 'engine.py').write_text(BEYOND_20)
    out, report, imported = _grade(tmp_path / 'engine.py', tmp_path, block=True)
    checks = {c['id']: c for c in report['checks']}
    assert checks['ops.tanh']['status'] == 'passed'
    fuzz = checks['fuzz.dags']
    assert fuzz['status'] == 'failed' and imported == [], fuzz['message']
    assert fuzz['misconception']['code'] == 'wrong_derivative', fuzz['message']
    assert fuzz['misconception']['op'] == 'tanh' and fuzz['misconception']['method'] == 'tanh'
    assert 'the local derivative of tanh is wrong' in fuzz['diagnosis']
    assert 'is wrong by itself' in fuzz['message']
    graph = fuzz['counterexample']['graph']
    assert [n['op'] for n in graph['nodes']] == ['tanh'] and abs(graph['inputs'][0][1]) >= 20
    assert '.tanh()' in fuzz['counterexample']['code']


class Guarded(Value):
    """log's gradient dropped beyond 100 (a "stability" guard)."""

    def log(self):
        out = super().log()
        if self.data >= 100:
            out._backward = lambda: None
        return out


def test_a_course_authors_check_shows_the_node_wrong_by_itself():
    """micrograde.strategies' Engine.check, as a course's property test calls it: the graph
    Hypothesis found was blamed on backward()'s order; the log node alone is the culprit."""
    graph = Graph.parse('v = a.log(); out = v * 2.0', a=100.0)
    with pytest.raises(AssertionError) as failure:
        Engine(Guarded).check(graph)
    text = str(failure.value)
    assert 'topological' not in text and text.startswith('op log has no backward'), text
    assert 'a = Value(100.0)\nout = a.log()\n' in text and 'wrong by itself' in text
    Engine(Value).check(graph)  # the reference engine passes
