"""Present, absent or broken: the executor tells an op the submission does not have from one that
raises inside the learner's own code, and names the learner's line."""
import math

import pytest

from micrograde.isolate.answers import GraphResult
from micrograde.model.graph import Graph
from micrograde.worker.execute import Backend, run_graph

G = Graph.parse


class Value:
    """The lecture's first stage: Value with Value only, no ``__pow__``, a stub ``log``."""

    def __init__(self, data, _children=()):
        self.data, self.grad, self._prev = data, 0.0, _children
        self._backward = lambda: None

    def __add__(self, other):
        out = Value(self.data + other.data, (self, other))

        def _backward():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        out = Value(self.data * other.data, (self, other))

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def __truediv__(self, other):
        return self * other**-1  # needs the missing __pow__

    def __sub__(self, other):
        return self + (-1 * other)  # needs the missing __rmul__

    def log(self):
        raise NotImplementedError('to do')

    def tanh(self):
        return (self.log() + self.log())  # an op that is the stub: broken, not absent

    def relu(self):
        return _todo()  # a stub helper that is no op's method: not written yet, absent

    def backward(self):
        self.grad = 1.0
        for v in (self,) + tuple(self._prev):
            v._backward()


def _todo():
    raise NotImplementedError('todo')


def result(source, **inputs):
    own = lambda filename: 'engine.py' if filename == __file__ else None  # noqa: E731
    return GraphResult.parse(run_graph(G(source, **inputs).to_dict(), Backend(Value, own)))


@pytest.mark.parametrize('source, missing, line', [
    ('out = a / b', False, 'return self * other**-1'),   # broken: raises in the learner's code
    ('out = a - b', False, 'return self + (-1 * other)'),
    ('out = a * 2.0', True, 'out = Value(self.data * other.data'),  # a number used as a Value
    ('out = 2.0 + a', True, None),                        # no __radd__: Python refused
    ('out = a.log()', True, "raise NotImplementedError('to do')"),  # the learner says so
    ('out = a.tanh()', False, "raise NotImplementedError('to do')"),
    ('out = a.relu()', True, 'return _todo()'),  # its caller's: relu is not written
    ('out = a.exp()', True, None),                        # no such method
    ('out = a ** 2.0', True, None),
])
def test_absent_only_when_the_submission_does_not_have_it(source, missing, line):
    error = result(source, a=1.5, b=-2.0).error if 'b' in source else result(source, a=1.5).error
    assert error is not None and error.missing is missing, error
    if line:
        assert error.where.startswith('engine.py, line ') and line in error.where
    else:
        assert error.where == ''


class Refusing:
    """Refuses operands with a ``raise`` statement of its own (a ``ValueError``, as real engines
    do) and computes with ``math``, whose domain errors are ValueErrors too."""

    def __init__(self, data, _children=()):
        self.data, self.grad, self._prev = data, 0.0, _children

    def __add__(self, other):
        if not isinstance(other, Refusing):
            raise ValueError(f'only Values can be added, got {type(other)=}')
        return Refusing(self.data + other.data, (self, other))

    def __pow__(self, other):
        if isinstance(other, Refusing):
            return Refusing(math.pow(self.data, other.data), (self, other))
        if not isinstance(other, (int, float)):
            raise ValueError(
                'only int and float powers for now')
        return Refusing(math.pow(self.data, other), (self,))


@pytest.mark.parametrize('source, inputs, missing', [
    ('out = a + 2.0', {'a': 1.5}, True),                  # refused: a raise statement in __add__
    ('out = a ** 0.5', {'a': -1.5}, False),               # math domain error: the op broke
    ('out = a ** b', {'a': -1.5, 'b': 0.5}, False),
])
def test_a_refusal_raised_by_the_ops_own_method_is_absent_a_computation_error_is_not(
        source, inputs, missing):
    own = lambda filename: 'engine.py' if filename == __file__ else None  # noqa: E731
    error = GraphResult.parse(run_graph(G(source, **inputs).to_dict(),
                                        Backend(Refusing, own))).error
    assert error is not None and error.type == 'ValueError' and error.missing is missing, error


def test_a_value_exponent_refused_with_a_raise_statement_is_absent():
    """The multi-line ``raise ValueError(...)`` in ``Refusing.__pow__``, reached by ``a ** b``
    when the exponent is not a Value of this class (the lecture's Value exponent form)."""
    class Exponent(Refusing):
        def __pow__(self, other):
            if not isinstance(other, (int, float)):
                raise ValueError(
                    'only int and float powers for now')
            return Refusing(self.data ** other, (self,))
    own = lambda filename: 'engine.py' if filename == __file__ else None  # noqa: E731
    error = GraphResult.parse(run_graph(G('out = a ** b', a=1.5, b=2.0).to_dict(),
                                        Backend(Exponent, own))).error
    assert error is not None and error.missing is True, error


class InProcess:
    """A session that runs graphs here, on ``Value`` above."""

    def run(self, task, items, timeout=None, meanwhile=None):
        own = lambda filename: 'engine.py' if filename == __file__ else None  # noqa: E731
        return [GraphResult.parse(run_graph(i['graph'], Backend(Value, own), i.get('backward', 1),
                                            i.get('instrument', False))) for i in items]


def test_an_engine_without_plain_numbers_lacks_that_capability_not_every_op():
    from micrograde.checks.probe import probe
    found = probe(InProcess())
    assert found['numbers'] == 'absent'
    assert {found[c] for c in ('mul_const', 'radd', 'rsub', 'add_const')} == {'absent'}
    assert found['add'] == found['mul'] == 'present'
    assert found['truediv'] == found['sub'] == 'broken'  # they raise in the learner's code
    assert found['pow'] == found['pow_value'] == found['exp'] == 'absent'
    assert found['log'] == 'absent' and found['tanh'] == 'broken'


def test_every_fixed_case_is_graded_by_both_oracles():
    from micrograde.model import cases
    from micrograde.oracle import oracles
    for cap, graphs in cases.OP_CASES.items():
        assert graphs, cap
        for g in graphs:
            assert oracles.expected(g) is not None, (cap, g.code())


class Held:
    """A Value that keeps its number in ``val`` and its gradient in ``g``."""

    def __init__(self, val, _children=()):
        self.label, self.val, self.g, self._prev = 'leaf', val, 0.0, _children
        self._backward = lambda: None

    def __add__(self, other):
        out = Held(self.val + other.val, (self, other))

        def _backward():
            self.g += out.g
            other.g += out.g
        out._backward = _backward
        return out

    def __mul__(self, other):
        out = Held(self.val * other.val, (self, other))

        def _backward():
            self.g += other.val * out.g
            other.g += self.val * out.g
        out._backward = _backward
        return out

    def backward(self):
        self.g = 1.0
        for v in (self,) + tuple(self._prev):
            v._backward()


def test_a_value_named_otherwise_is_found_by_what_a_leaf_holds_and_read_through_it():
    from micrograde.oracle import oracles
    from micrograde.worker.load.classes import Found, graded, shape
    assert graded(shape(Held))
    found = Found(Held, 'engine.py, line 1', 'shape')
    warnings = found.locate(lambda filename: None)
    assert found.attributes == {'data': 'val', 'grad': 'g'} == found.info()['attributes']
    assert any('keeps its number in `.val`, not `.data`' in w for w in warnings)
    g = G('out = (a + b) * k', a=1.5, b=-2.0, k=3.0)
    got = GraphResult.parse(run_graph(g.to_dict(), Backend(Held, attributes=found.attributes)))
    expected = oracles.expected(g)
    assert got.error is None and (got.values, got.grads) == (expected.values, expected.grads)


class Listed(Value):
    """A Value that holds a list: no leaf can be built from one number."""

    def __init__(self, data, _children=()):
        self.data = [x for x in data]
        super().__init__(self.data, _children)


def test_a_leaf_that_cannot_be_built_fails_load_at_the_learners_line():
    from micrograde.worker.load import LoadError
    from micrograde.worker.load.classes import Found
    own = lambda filename: 'engine.py' if filename == __file__ else None  # noqa: E731
    with pytest.raises(LoadError) as e:
        Found(Listed, 'engine.py, line 1', 'name').locate(own)
    assert "`Listed(1.5)` raises TypeError: 'float' object is not iterable" in str(e.value)
    assert 'in __init__, at engine.py, line ' in str(e.value)
    assert 'self.data = [x for x in data]' in str(e.value)


def test_a_leaf_that_cannot_be_built_says_nothing_of_the_ops():
    """Absent ops stay absent, the ops the class has are not called broken, and the error is
    the learner's line building an input."""
    from micrograde.checks.probe import probe

    class Unbuildable(InProcess):
        def run(self, task, items, timeout=None, meanwhile=None):
            own = lambda filename: 'engine.py' if filename == __file__ else None  # noqa: E731
            return [GraphResult.parse(run_graph(i['graph'], Backend(Listed, own))) for i in items]
    found = probe(Unbuildable())
    assert found['add'] == found['mul'] == found['truediv'] == found['tanh'] == 'present'
    assert found['exp'] == found['pow'] == found['radd'] == 'absent'
    error = Unbuildable().run('graph', [{'graph': G('out = a + b', a=1.5, b=-2.0).to_dict()}])[0].error
    assert (error.stage, error.node, error.missing) == ('leaf', 0, False)
    assert error.where.startswith('engine.py, line ') and 'for x in data' in error.where


def test_an_op_must_give_something_that_holds_a_number():
    """A float or a numpy scalar from an op is told as such; another class of the learner's
    that keeps its number as a Value does (a base class its ops return) is accepted."""
    from micrograde.worker.execute import Backend, NotAValue

    class Node:
        def __init__(self, data):
            self.data, self.grad = data, 0.0

    class Leaf(Node):
        pass

    backend = Backend(Leaf)
    backend.created(Leaf(1.0))
    backend.created(Node(2.0))
    for wrong in (1.5, memoryview(b'12')):
        with pytest.raises(NotAValue):
            backend.created(wrong)
