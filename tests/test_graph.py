"""The graph model: parse, print, prune, JSON; the strategy's shapes; the comparison rule."""
import math

from hypothesis import HealthCheck, given, settings

from micrograde.oracle import oracles
from micrograde.model.compare import close
from micrograde.model.graph import Graph
from micrograde.fuzz.strategies import graphs
from micrograde.reference import Value


def execute(code):
    scope = {'Value': Value}
    exec(code, scope)
    return scope


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(graphs())
def test_printed_code_reexecutes_to_the_same_values(g):
    scope = execute(g.code())
    result = oracles.run_reference(g)
    for i in range(g.size):
        assert close(scope[g.name(i)].data, result.values[i])
        assert close(scope[g.name(i)].grad, result.grads[i])


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(graphs())
def test_json_round_trip(g):
    assert Graph.from_json(g.to_json()) == g


def test_parse_names_and_prunes_dead_nodes():
    g = Graph.parse('u = a * 2; v = b.exp(); out = u + u * 3', a=1.0, b=2.0)
    p = g.pruned()
    assert [n for n, _ in p.inputs] == ['a']
    assert 'exp' not in p.code() and p.code().startswith('a = Value(1.0)\nu = a * 2.0\n')


def test_reflected_constants_print_on_the_left():
    g = Graph.parse('out = 2 - a', a=0.5)
    assert 'out = 2.0 - a' in g.code()
    assert g.capabilities == {'rsub', 'backward'}


def _shapes(g):
    users = g.consumers()
    n = len(g.inputs)
    depth = [0] * g.size
    for i in range(n, g.size):
        depth[i] = 1 + max(depth[a] for a in g.node(i).args)
    found = set()
    for i in range(n, g.size):
        node = g.node(i)
        if len(node.args) == 2 and node.args[0] == node.args[1]:
            found.add('same operand')
        exponent = node.op == 'pow' and node.const is not None and not node.left
        if node.const is not None and not exponent:
            found.add('const left' if node.left else 'const right')
        if exponent and node.const < 0:
            found.add('negative exponent')
        if exponent and node.const != int(node.const):
            found.add('fractional exponent')
        if node.op == 'pow' and node.const is None:
            found.add('Value exponent')
        if node.op == 'pow' and node.left:
            found.add('number base')
        if len(set(users[i])) > 1 and len({depth[u] for u in users[i]}) > 1:
            found.add('non-leaf reused at unequal depths')
    out = g.node(g.output)
    if out.op == 'mul' and out.const not in (None, 1.0):
        found.add('scaled output')
    return found


def test_strategy_produces_the_shapes_that_break_engines():
    seen = set()

    @settings(max_examples=400, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(graphs())
    def collect(g):
        seen.update(_shapes(g))
    collect()
    assert seen >= {'same operand', 'const left', 'const right', 'negative exponent',
                    'fractional exponent', 'Value exponent', 'number base',
                    'non-leaf reused at unequal depths', 'scaled output'}


def test_without_numbers_graphs_use_values_only_and_scale_by_an_input():
    from micrograde.worker.ops import FORMS, NUMBER_FORMS

    @settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(graphs(ops=tuple(set(FORMS) - set(NUMBER_FORMS))))
    def check(g):
        assert not {n.capability for n in g.nodes} & set(NUMBER_FORMS)
        out = g.node(g.output)
        assert out.op == 'mul' and g.name(out.args[1]) == 'k' and g.inputs[-1][1] != 1.0
    check()


def test_values_stay_in_their_domain():
    @settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(graphs(max_nodes=12))
    def check(g):
        r = oracles.run_torch(g)
        assert all(isinstance(v, float) and math.isfinite(v) for v in r.values + r.grads)
    check()


def test_rule_accepts_formula_differences_and_rejects_finite_differences():
    x = 0.3
    lecture_tanh = (math.exp(2 * x) - 1) / (math.exp(2 * x) + 1)
    assert close(lecture_tanh, math.tanh(x))
    assert close(1.5 * 2.5 ** -1, 1.5 / 2.5)
    a, b, h = 1234.5, -0.75, 1e-6
    fd = ((a + h) * b - (a - h) * b) / (2 * h)
    assert not close(fd, b)
    assert not close(1.01 * 2.0, 2.0)
    assert close(math.nan, math.nan) and not close(math.inf, 1e308) and not close(1.0, {'complex': [1, 0]})


def test_numbers_become_leaf_inputs_for_an_engine_without_them():
    from micrograde.worker.ops import NUMBER_FORMS
    g = Graph.parse('out = (2.0 - a) * 3.0 + a / 2.0 + a ** 2.0', a=1.5)
    v = g.numbers_as_inputs(NUMBER_FORMS)
    assert [n for n, _ in v.inputs] == ['a', 'c', 'c2']
    assert not {n.capability for n in v.nodes} & set(NUMBER_FORMS)
    assert 'a ** 2.0' in v.code()  # a number exponent is power's own form, kept
    assert close(oracles.run_reference(v).values[v.output], oracles.run_reference(g).values[g.output])
    assert oracles.run_reference(v).grads[0] == oracles.run_reference(g).grads[0]
