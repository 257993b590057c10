"""The diagnosis names each misconception from a synthetic result: one per classic mistake."""
import copy
import struct

from micrograde import reference
from micrograde.oracle import oracles
from micrograde.isolate.answers import Failure, GraphResult
from micrograde.diagnose.diagnosis import explain, first_mismatch, topological_violation
from micrograde.model.graph import Graph
from micrograde.worker.execute import Backend, run_graph

G = Graph.parse


def diagnosis(graph, actual, order=None):
    expected = oracles.expected(graph)
    mismatch = first_mismatch(graph, actual, expected)
    assert mismatch is not None, 'the synthetic result is not wrong'
    return explain(graph, actual, expected, mismatch, order).text


def correct(graph):
    return copy.deepcopy(oracles.expected(graph))


def with_grads(graph, **grads):
    actual = correct(graph)
    for name, value in grads.items():
        actual.grads[[graph.name(i) for i in range(graph.size)].index(name)] = value
    return actual


def test_root_not_seeded():
    g = G('out = a * b', a=1.5, b=-2.0)
    actual = correct(g)
    actual.grads = [0.0] * g.size
    assert 'not seeded' in diagnosis(g, actual)


def test_gradient_assigned_instead_of_accumulated():
    g = G('out = (a * a) * k', a=-1.5, k=3.0)  # a.grad = 2·a·k; assigning keeps one term: a·k
    assert 'assigned instead of accumulated' in diagnosis(g, with_grads(g, a=-4.5))


def test_a_gradient_assigned_only_where_both_operands_are_one_value():
    """``if self is other: self.grad = 2 * self.data * out.grad``: a * a alone is right, and the
    gradient `a` got from `a / ...` first is lost; the fuzz corpus's shrunk graph named no op."""
    g = G('n1 = a * a; out = a / n1', a=1.0)  # a.grad = -1; a*a's 2a·n1.grad assigned: -2
    text = diagnosis(g, with_grads(g, a=-2.0))
    assert "multiplication's backward assigns the gradient where both operands are one Value " \
        "(`a * a`)" in text, text


def test_upstream_gradient_ignored_by_one_op():
    g = G('out = a.exp() * k', a=1.0, k=3.0)  # exp's rule without out.grad: a.grad = e
    text = diagnosis(g, with_grads(g, a=2.718281828459045))
    assert "exp's backward ignores the upstream gradient" in text


class ForwardWalk(Backend):
    """The lecture's engine with the topological order not reversed."""

    def backward(self, v):
        topo = v._topological_order()
        v.grad = 1.0
        for node in topo:
            node._backward()


def test_backward_order_not_topological():
    g = G('n1 = a * b; n2 = n1 * c; out = (n1 + n2) * k', a=0.5, b=-1.5, c=2.0, k=3.0)
    actual = GraphResult.parse(run_graph(g.to_dict(), ForwardWalk(reference.Value)))
    assert 'not topological' in diagnosis(g, actual)


def test_instrumented_orders_name_the_two_nodes_or_the_repeat():
    g = G('n1 = a * b; n2 = n1 * c; out = n2 * k', a=0.5, b=-1.5, c=2.0, k=3.0)
    n1, n2, out = 4, 5, 6
    assert topological_violation(g, [out, n2, n1]) is None
    assert 'not topological' in topological_violation(g, [out, n1, n2]).text
    assert '2 times' in topological_violation(g, [out, n2, n2, n1]).text
    assert 'never ran' in topological_violation(g, [out, n2]).text


def test_reflected_op_with_swapped_operands():
    g = G('out = (2.0 - a) * k', a=1.5, k=3.0)
    actual = correct(g)
    actual.values[2] = 1.5 - 2.0
    text = diagnosis(g, actual)
    assert 'wrong order' in text and '__rsub__' in text


def test_wrong_forward_value_names_the_op():
    g = G('out = a.tanh() * k', a=0.3, k=3.0)
    actual = correct(g)
    actual.values[2] = 0.9
    assert 'forward value of tanh is wrong' in diagnosis(g, actual)


def test_wrong_local_derivative_names_the_op():
    g = G('out = a.tanh() * k', a=0.3, k=3.0)  # a.grad = (1 - tanh²)·k; here the rule forgot 1 - t²
    assert 'local derivative of tanh' in diagnosis(g, with_grads(g, a=3.0))


def test_a_wrong_rule_for_both_operands_says_both_not_the_right_one():
    """A rule wrong for both operands (here each gets the other's gradient scaled by nothing a
    model knows) read 'with respect to its right input', showing b alone though a was wrong too."""
    g = G('n = a * b; out = n + k', a=1.5, b=-2.0, k=0.5)  # a.grad = b = -2, b.grad = a = 1.5
    text = diagnosis(g, with_grads(g, a=7.0, b=5.0))
    assert 'local derivative of multiplication with respect to both inputs is wrong: in `n = a * ' \
        'b`, a.grad is 7.0, expected -2.0, b.grad is 5.0, expected 1.5.' in text, text


def test_an_upstream_gradient_added_where_the_chain_rule_multiplies():
    """A real engine's __add__ rule reads ``self.grad += 1.0 + out.grad`` (index file
    40209618662, 'my reimplementation of micrograd'): named as that, not a wrong derivative
    with respect to one input."""
    g = G('n = a + b; out = n * k', a=1.5, b=-2.0, k=3.0)  # n.grad = 3: a.grad = b.grad = 1 + 3
    text = diagnosis(g, with_grads(g, a=4.0, b=4.0))
    assert "addition's backward adds the upstream gradient to the local derivative" in text, text


def test_a_derivative_one_too_large_at_upstream_1_is_no_upstream_added():
    """`a + 2.0` alone, its rule written with `*`'s derivative (`other.data * out.grad`: 2.0):
    at an upstream of 1, adding it gives 1 + 1 = 2.0 too, and the sentence said `... + out.grad`,
    which the rule does not hold. Only an upstream other than 1 tells the two apart."""
    g = G('out = a + 2.0', a=1.5)
    text = diagnosis(g, with_grads(g, a=2.0))
    assert 'adds the upstream gradient' not in text, text
    assert 'local derivative of addition is wrong' in text, text


def test_wrong_gradients_no_rule_explains_where_equal_values_merge_are_merged_nodes():
    """arobopsychologist/micrograd hashes Values by value; at seed 4242 its random graphs shrank
    to `a / a` at a = 1: `a ** -1` (1.0), built inside `/`, is taken for `a`, so mul's children
    are one Value. No rule of the graph explains a.grad = 1.0, and it read 'a.grad is 1.0,
    expected 0.0', where the other seeds said the merging."""
    g = G('out = a / a', a=1.0)
    actual = with_grads(g, a=1.0)
    expected = oracles.expected(g)

    def said():  # division's own check passed: its rule is not blamed
        return explain(g, actual, expected, first_mismatch(g, actual, expected),
                       trusted=frozenset({'truediv'})).text
    actual.merged = [0, 0]  # the worker saw `out` and `a` compare equal
    assert 'distinct nodes with equal values are merged' in said(), said()
    actual.merged = None  # and without that, not
    assert 'merged' not in said(), said()


def test_an_input_that_changed_its_value():
    g = G('out = (a.relu() + a) * k', a=-1.5, k=3.0)
    actual = correct(g)
    actual.values[0] = 0.0  # relu wrote its result into a.data
    assert 'input a changed its value' in diagnosis(g, actual)


def test_reflected_op_calling_itself():
    g = G('out = 2.0 + a', a=1.5)
    actual = GraphResult([1.5], error=Failure('forward', 'RecursionError',
                                              'maximum recursion depth exceeded', node=1))
    text = diagnosis(g, actual)
    assert 'RecursionError' in text and '__radd__' in text and '`out = 2.0 + a`' in text


def test_an_op_that_propagates_nothing_has_no_backward_not_a_wrong_order():
    g = G('out = (2.0 ** a) * k', a=1.5, k=3.0)  # rpow's rule never reaches a
    order = [3, 2]  # observed: consumers first, as it should be
    text = diagnosis(g, with_grads(g, a=0.0), order)
    assert 'op pow has no backward' in text and 'topological' not in text


def test_repeated_propagation_from_the_observed_order_and_from_the_gradients():
    g = G('n1 = a * b; n2 = n1 * c; out = n2 * k', a=0.5, b=-1.5, c=2.0, k=3.0)
    assert 'repeated propagation' in topological_violation(g, [6, 5, 4, 5, 4, 4]).text

    class CallsOperands(Backend):
        """Each node's rule also runs its operands' rules, then the loop runs them again."""

        def backward(self, v):
            topo = v._topological_order()
            v.grad = 1.0
            for node in reversed(topo):
                stack = [node]
                while stack:
                    n = stack.pop()
                    n._backward()
                    stack.extend(c for c in reversed(n._prev) if c._prev)
    actual = GraphResult.parse(run_graph(g.to_dict(), CallsOperands(reference.Value)))
    assert 'repeated propagation' in diagnosis(g, actual)


def test_an_attribute_shadowing_backward_is_named():
    g = G('out = a * b', a=1.5, b=-2.0)
    actual = correct(g)
    actual.grads = [0.0] * g.size
    actual.shadowed = 'op'
    assert '`out.backward = _backward`' in diagnosis(g, actual)
    actual.shadowed = 'init'
    assert '`self.backward = ...` in __init__' in diagnosis(g, actual)


def test_the_worker_sees_a_shadowing_attribute():
    class Shadowed(reference.Value):
        def __mul__(self, other):
            out = super().__mul__(other)
            out.__class__ = Shadowed
            out.backward = out._backward  # written for out._backward
            return out
    g = G('out = a * b', a=1.5, b=-2.0)
    actual = GraphResult.parse(run_graph(g.to_dict(), Backend(Shadowed)))
    assert actual.shadowed == 'op' and 'shadows the backward() method' in diagnosis(g, actual)


def test_an_input_that_cannot_be_built_is_named_with_its_number():
    g = G('out = a * b', a=1.5, b=-2.0)
    actual = GraphResult(error=Failure('leaf', 'TypeError', "'float' object is not iterable", 1,
                                       where='engine.py, line 8: for x in data'))
    text = diagnosis(g, actual)
    assert text.startswith("TypeError building the input `b = Value(-2.0)`: 'float' object")
    assert text.endswith('(at engine.py, line 8: for x in data)')


def test_a_wrong_gradient_on_the_deep_chain_is_explained_not_a_grader_crash():
    """The 5000-node chain is deeper than any recursion limit: the modelled walks are loops.
    Here its number is a leaf ``c`` (an engine without plain numbers) whose gradient was
    assigned at each of its 5000 uses instead of accumulated."""
    from micrograde.model import cases
    from micrograde.worker.ops import NUMBER_FORMS
    graph = cases.deep(cases.chain, 5000, NUMBER_FORMS)[0]
    expected = oracles.expected(graph)
    c = [name for name, _ in graph.inputs].index('c')
    grads = list(expected.grads)
    grads[c] = 1.0
    actual = GraphResult(values=list(expected.values), grads=grads)
    assert 'assigned instead of accumulated' in diagnosis(graph, actual)


def test_values_right_to_float32_precision_are_named_as_such():
    import struct
    graph = G('out = (a / b) * k', a=1.5, b=-2.5, k=3.0)
    expected = oracles.expected(graph)
    single = [struct.unpack('f', struct.pack('f', v))[0] for v in expected.values]
    text = diagnosis(graph, GraphResult(values=single, grads=list(expected.grads)))
    assert text.startswith('values are right to about 7 digits only') and 'float32' in text
    wrong = [v + 0.01 for v in expected.values]  # a real mistake is not a rounding
    assert 'float32' not in diagnosis(graph, GraphResult(values=wrong, grads=list(expected.grads)))
    # as close, but no float32 holds it (sigmoid clamped at 20, given 21): a wrong value
    near = [v * (1 - 2e-9) for v in expected.values]
    assert 'float32' not in diagnosis(graph, GraphResult(values=near, grads=list(expected.grads)))


def test_an_op_written_with_a_plain_number_first_lacks_the_reflected_op():
    """Samanvith1404/MicroGNN: `__sub__` returns `self + (-1*other)` and the Value has
    `__mul__` but no `__rmul__`; the finding said "(no __mul__)", a method the learner wrote."""
    g = G('out = a - b', a=1.5, b=-2.0)
    said = "unsupported operand type(s) for *: 'int' and 'Value'"
    actual = GraphResult([1.5, -2.0], error=Failure('forward', 'TypeError', said, node=2,
                                                    function='__sub__', line=30))
    text = diagnosis(g, actual)
    assert text.startswith('subtraction uses `*`, which the Value does not define for these '
                           'operands (no __rmul__): TypeError'), text
    said = "unsupported operand type(s) for *: 'Value' and 'Value'"  # no __mul__ at all
    actual.error = Failure('forward', 'TypeError', said, node=2, function='__sub__', line=30)
    assert '(no __mul__)' in diagnosis(g, actual)


def test_a_second_bug_in_the_graph_is_named_not_the_known_one():
    """micrograd_exercises.ipynb (petar-ceho/karpathy-lectures): `*` passes `self.grad` to its
    right operand and tanh's `out._backward = _backward` is indented into the rule itself, so
    `a.tanh() * k` has two wrong gradients: k's (mul's, already found by the add check) and
    a's, 0 (tanh's). The tanh check must name tanh, not mul again, or its bug is never found."""
    g = G('_1 = a.tanh(); out = _1 * k', a=0.3, k=3.0)
    actual = with_grads(g, a=0.0, k=3.0)
    expected = oracles.expected(g)
    found = explain(g, actual, expected, first_mismatch(g, actual, expected), None,
                    suspects=frozenset({'mul'}))
    assert (found.code.value, found.op) == ('no_backward', 'tanh'), found
    # with no earlier finding, the latest wrong flow is still the one named
    found = explain(g, actual, expected, first_mismatch(g, actual, expected), None)
    assert found.op == 'mul', found


def test_only_the_grader_says_a_graph_was_never_asked():
    """A learner's exception class named NotRun, raised in a rule, read as a graph the grader
    never asked (attacker12): only a failure of the ``worker`` stage is the grader's word."""
    from types import SimpleNamespace
    from micrograde.checks.trials import unasked
    from micrograde.isolate.answers import Failure, Lost
    def trial(stage):
        return SimpleNamespace(actual=SimpleNamespace(error=Failure(stage, Lost.NOT_RUN.value, '')))
    assert unasked(trial('worker')) and not unasked(trial('backward'))


def test_an_op_passing_nothing_is_not_a_wrong_walk_where_other_ops_checks_pass():
    """ManoahKinnaert/minigrad's Tanh saves a new Tensor of its output for backward and passes
    the gradient to it, not to the input: `a.tanh() * k` leaves a.grad 0, as a forward walk
    would (tanh's rule first, while its own gradient is still 0). The walk is not observed (no
    `_backward` closures), and mul, add and exp passed their own checks, each a chain a forward
    walk spoils: the walk is right as far as they show, and tanh's rule is the finding; it was
    named 'the backward order is not topological', at backward()."""
    g = G('_1 = a.tanh(); out = _1 * k', a=0.3, k=3.0)
    actual = with_grads(g, a=0.0)
    expected = oracles.expected(g)
    found = explain(g, actual, expected, first_mismatch(g, actual, expected), None,
                    trusted=frozenset({'mul', 'add'}))
    assert (found.code.value, found.op) == ('no_backward', 'tanh'), found
    # with no op's checks passed, the walk is the likelier: it spoils every op at once
    found = explain(g, actual, expected, first_mismatch(g, actual, expected), None)
    assert found.code.value == 'not_topological', found


def test_an_output_grad_that_is_not_a_number_is_said_as_such_not_as_unseeded():
    """Diismas19/minigrad's Tensor seeds backward() with `Tensor(np.ones_like(...))` and keeps
    every grad as a Tensor: the output's grad is not the number 1, but it was seeded; the
    finding said 'left the output's own grad at not a number (Tensor); it must seed it with 1'."""
    g = G('out = a * b', a=1.5, b=-2.0)
    actual = correct(g)
    actual.grads = [{'type': 'Tensor'}] * g.size
    text = diagnosis(g, actual)
    assert "the output's grad is not a number (Tensor), not the number 1" in text and \
        'must seed it with 1' not in text, text
    actual.grads = [None] * g.size  # never set: not seeded
    assert diagnosis(g, actual) == "backward() left the output's own grad at not a number " \
        "(NoneType); it must seed it with 1."


def test_gradients_right_to_float32_precision_are_named_as_such():
    """tarickali/minigrad keeps data in float64 and grad in `np.zeros_like(data,
    dtype=np.float32)`: every value is right, every gradient float32's rounding of the right
    one. It was read as a wrong local derivative of `*` (or of `**`, or as gradients that
    disagree, by the seed's inputs), at the rule's line; the bug is where grad is stored."""
    g = G('n1 = a * b; out = n1 * k', a=1.3, b=-0.7, k=3.13)
    expected = oracles.expected(g)
    actual = correct(g)
    actual.grads = [struct.unpack('f', struct.pack('f', x))[0] for x in expected.grads]
    found = explain(g, actual, expected, first_mismatch(g, actual, expected), None)
    assert found.code.value == 'single_precision' and 'gradients are right to about 7 digits ' \
        'only' in found.text and 'keep its grad in float32' in found.text, found
    actual.grads[0] = -2.0  # a wrong rule beyond float32's rounding is not precision
    found = explain(g, actual, expected, first_mismatch(g, actual, expected), None)
    assert found.code.value != 'single_precision', found


def test_a_rule_that_passes_nothing_here_but_the_right_gradient_elsewhere_is_a_wrong_one():
    """KaelinGraf/micrograd: relu's rule `grad = 1 if out.data > 1 else 0` gives nothing at
    0.9685 and the right gradient at 2.0: one graph of the relu check failed, four passed, and
    the failing one read as "op relu has no backward".  Given the graphs that passed, it is a
    wrong derivative at this input; given only graphs where relu passes 0 anyway, it stays."""
    from micrograde.diagnose.diagnosis import sometimes
    g = G('u = a * b; n2 = u.relu(); out = n2 * k', a=0.65, b=1.49, k=3.5)
    actual = with_grads(g, a=0.0, b=0.0, u=0.0)
    expected = oracles.expected(g)
    # mul's own check passes: relu's is the culprit, as the relu check reads it
    found = explain(g, actual, expected, first_mismatch(g, actual, expected), None, {'mul'})
    assert found.code == 'no_backward' and found.op == 'relu', found
    right = G('out = a.relu() * k', a=2.0, k=3.0)
    flat = G('out = a.relu() * k', a=-1.0, k=-2.0)
    said = sometimes(found, g, actual, [(flat, oracles.expected(flat)),
                                        (right, oracles.expected(right))])
    assert said.code == 'wrong_derivative' and said.op == 'relu' and said.entry == found.entry
    assert '`n2 = u.relu()` (u = 0.9685)' in said.text and '(a = 2.0)' in said.text, said.text
    assert sometimes(found, g, actual, [(flat, oracles.expected(flat))]) is found


def test_a_grad_that_is_a_method_is_said_as_such():
    """AndreyE/micrograd keeps each Value's gradients in a list `_grad` and `def grad(self):
    return sum(self._grad)`: every .grad the grader reads is a bound method, and the finding
    said backward() "seeds it (and keeps gradients) as objects"."""
    g = G('out = a * b', a=1.5, b=-2.0)
    actual = correct(g)
    actual.grads = [{'type': 'method'}] * g.size
    text = diagnosis(g, actual)
    assert text.startswith('every .grad is a method (`v.grad()` computes it), not a number') and \
        'seeds it (and keeps gradients) as objects' not in text, text


def test_a_backward_that_runs_the_outputs_rule_alone_is_said_as_that():
    """Aditya-Chaubey/autograd-engine: `def backward(self): self.grad = 1.0; self._backward()`
    runs no walk at all; the finding asked whether its topological sort loops over the
    output's children (self._prev), a sort it does not have."""
    g = G('n1 = a * b; n2 = n1 * c; out = n2 * k', a=0.5, b=-1.5, c=2.0, k=3.0)
    out, n2 = 6, 5
    text = topological_violation(g, [out], unheld=[]).text
    assert text.startswith("backward() ran the output's own rule only (`out = n2 * k`)") and \
        'self._prev' not in text, text
    # a walk that reaches the output's children and stops there is the other question
    assert 'self._prev' in topological_violation(g, [out, n2], unheld=[]).text


def test_inputs_whose_data_is_no_number_are_how_the_value_holds_it():
    """SubhasmitaSw/picograd's `Value.data` is a `DistributedTensor` around a numpy array, at
    every input: it read 'the input a changed its value to not a number', a place no op had
    (none changed it); it is how __init__ keeps the number, said there."""
    g = G('out = a + b', a=1.5, b=-2.0)
    actual = correct(g)
    actual.values = [{'type': 'DistributedTensor'}] * g.size
    expected = oracles.expected(g)
    found = explain(g, actual, expected, first_mismatch(g, actual, expected))
    assert 'changed' not in found.text and 'holds a DistributedTensor in .data' in found.text
    assert found.raised[0] == '__init__', found
    # one input an op set to an object of its own is that op's (no storage of every input)
    actual.values = [1.5, {'type': 'Value'}] + actual.values[2:]
    assert 'changed its value' in explain(g, actual, expected,
                                          first_mismatch(g, actual, expected)).text


def test_results_that_keep_no_grad_are_said_as_such_not_as_an_unseeded_output():
    """thomasahle/smallgrad: leaves are `Param`s with a grad, what an op returns a `Branch`
    with a backward(g) and no grad. The inputs' gradients were right and the finding said
    'backward() left the output's own grad at exception (AttributeError); it must seed it'."""
    g = G('n1 = a + b; out = n1 * k', a=1.5, b=-2.0, k=3.0)
    actual = correct(g)
    actual.grads = actual.grads[:3] + [{'error': 'AttributeError'}] * 2
    text = diagnosis(g, actual)
    assert 'must seed' not in text and '`n1.grad`, `out.grad` could not be read ' \
        '(AttributeError)' in text, text


def test_a_log_of_its_input_plus_an_epsilon_is_said_as_such():
    """Surydevx/The-Autograd-Engine's log is `math.log(x + 1e-8)`: 'gave 0.916290735874,
    expected 0.916290731874' left the learner to find the eighth digit's cause."""
    import math
    g = G('out = a.log()', a=2.5)
    actual = correct(g)
    actual.values[-1] = math.log(2.5 + 1e-8)
    assert 'the log of its input plus 1e-08' in diagnosis(g, actual)
    actual.values[-1] = math.log10(2.5)  # wrong otherwise: no epsilon said
    assert 'epsilon' not in diagnosis(g, actual)
