"""The reference engine against torch, and its promises beyond the lecture."""
import math

from hypothesis import HealthCheck, given, settings

from micrograde.oracle import oracles
from micrograde.fuzz.strategies import graphs
from micrograde.reference import MLP, Value, draw_dot
from micrograde.reference.demo import train


@settings(max_examples=2000, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(graphs(max_nodes=8))
def test_reference_matches_torch_on_random_dags(g):
    assert oracles.agree(oracles.run_reference(g), oracles.run_torch(g)), g.code()


def test_chain_of_100000_nodes_has_no_recursion_limit():
    a = Value(0.5)
    x = a
    for _ in range(100_000):
        x = x * 1.0
    x.backward()
    assert a.grad == 1.0


def test_overflow_cases_give_limits_not_errors():
    assert Value(1000.0).tanh().data == 1.0
    assert Value(-1000.0).tanh().data == -1.0
    assert Value(-1000.0).sigmoid().data == 0.0
    assert Value(1000.0).sigmoid().data == 1.0
    assert Value(710.0).exp().data == math.inf


def test_relu_gradient_at_zero_is_zero():
    a = Value(0.0)
    (a.relu() * 3).backward()
    assert a.grad == 0.0


def test_zero_to_the_zero_has_zero_gradient():
    a = Value(0.0)
    (a ** 0).backward()
    assert a.grad == 0.0


def test_second_backward_doubles_leaf_gradients_of_a_depth_one_graph():
    a, b = Value(2.0), Value(-3.0)
    out = a * b
    out.backward()
    first = (a.grad, b.grad)
    out.backward()
    assert (a.grad, b.grad) == (2 * first[0], 2 * first[1])


def test_parameters_in_lecture_order_and_count():
    model = MLP(3, [4, 4, 1], seed=1)
    params = model.parameters()
    assert len(params) == 4 * 4 + 4 * 5 + 1 * 5
    first = model.layers[0].neurons[0]
    assert params[:4] == first.w + [first.b]


def test_seeded_init_is_reproducible_and_activations_differ():
    x = [0.5, -1.0, 2.0]
    assert MLP(3, [4, 1], seed=3)(x).data == MLP(3, [4, 1], seed=3)(x).data
    assert MLP(3, [4, 1], activation='relu', seed=3)(x).data != MLP(3, [4, 1], seed=3)(x).data


def test_demo_loss_falls():
    losses = train(steps=20)
    assert losses[-1] < losses[0] / 2
    assert sum(b < a for a, b in zip(losses, losses[1:])) >= 15


def test_draw_dot_shows_every_value_and_op():
    a = Value(2.0, label='a')
    out = (a * 3).tanh()
    out.label = 'out'
    out.backward()
    dot = draw_dot(out, format='svg')
    text = dot if isinstance(dot, str) else dot.decode()
    assert 'tanh' in text and 'out' in text and '2.0000' in text


def test_each_activation_of_the_reference_network_is_the_function_it_is_named_for():
    import math
    from micrograde.reference.nn import ACTIVATIONS
    want = {'tanh': math.tanh, 'relu': lambda x: max(x, 0.0), 'linear': lambda x: x,
            'sigmoid': lambda x: 1 / (1 + math.exp(-x)),
            'leaky_relu': lambda x: x if x > 0 else 0.01 * x}
    assert set(ACTIVATIONS) == set(want)
    for name, f in ACTIVATIONS.items():
        for x in (-2.5, -0.5, 0.75, 3.0):
            assert math.isclose(f(Value(x)).data, want[name](x), rel_tol=1e-12), (name, x)
