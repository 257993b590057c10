"""Engines written as other repositories write them (rows of submissions/examples.toml, graded
with their verdicts by tests/test_cli.py), each once misread, with bugs planted in them; and an
exception reached through several ops: each bug one finding, at the method that holds it."""
import json
import shutil
import textwrap

import jsonschema
import pytest

from conftest import ROOT, SUBMISSIONS

#: The report's schema, which every report graded here must match (the lines of backward()'s
#: own source a finding is placed at were once missing from it: such a report was invalid).
SCHEMA = json.loads((ROOT / 'harness/schemas/report.schema.json').read_text())

#: a bug planted in an engine: (engine, (old, new), the one bug as (code, method))
MUTANTS = {
    'backward_function_forward_order': ('backward_function.py', ('for node in reversed(topo):',
                                                                 'for node in topo:'),
                                        ('not_topological', 'backward')),
    'mlp_forward_mul_assigns': ('mlp_forward_not_call.py', ('self.grad += other.data * out.grad',
                                                            'self.grad = other.data * out.grad'),
                                ('assigned', '__mul__')),
    # zvonimirkonjevic/micrograd: named 'op mul has no backward', though the rule is there
    'mul_by_the_operands_grad': ('lecture_engine.py', ('self.grad += other.data * out.grad\n'
                                                       '            other.grad += self.data * out.grad',
                                                       'self.grad += other.grad * out.grad\n'
                                                       '            other.grad += self.grad * out.grad'),
                                 ('wrong_derivative', '__mul__')),
    # named 'op mul has no backward': the node below add was never reached, add's fault
    'add_result_without_children': ('lecture_engine.py', ("(self.data + other.data, (self, other), '+')",
                                                          "(self.data + other.data, (), '+')"),
                                    ('no_backward', '__add__')),
}


def _graded(run_cli, path, out):
    result = run_cli('grade', path, '--profile', 'quick', '--out', out, '--no-color')
    assert 'Traceback' not in result.stdout + result.stderr, result.stderr
    report = json.loads((out / 'report.json').read_text())
    jsonschema.validate(report, SCHEMA)
    return result, report


def _lecture_with(tmp_path, *edits):
    """The lecture engine with each ``(old, new)`` of ``edits`` made in turn (``old`` there
    once), as ``engine.py``."""
    source = (SUBMISSIONS / 'lecture_engine.py').read_text()
    for old, new in edits:
        assert source.count(old) == 1, old
        source = source.replace(old, new)
    path = tmp_path / 'engine.py'
    path.write_text(source)
    return path


def _line(path, text):
    """The number of the first line of ``path`` that holds ``text``."""
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


@pytest.mark.parametrize('name', sorted(MUTANTS))
def test_a_bug_planted_in_a_real_engine_is_one_finding_at_its_method(name, run_cli, tmp_path):
    engine, (old, new), (code, method) = MUTANTS[name]
    source = (SUBMISSIONS / engine).read_text()
    assert source.count(old) == 1
    path = tmp_path / engine
    path.write_text(source.replace(old, new))
    result, report = _graded(run_cli, path, tmp_path / 'out')
    assert result.returncode == 1
    roots = [c for c in report['checks'] if c['required'] and c['status'] in ('failed', 'error')
             and not c['consequence_of']]
    assert [((c['misconception'] or {}).get('code'), (c['misconception'] or {}).get('method'))
            for c in roots] == [(code, method)], roots
    assert report['methods'][method]['line'] <= roots[0]['misconception']['line']


def test_an_exception_is_one_finding_where_it_was_raised_whatever_op_reached_it(run_cli, tmp_path):
    """`selff` in __neg__ breaks `-a`, `a - b` and `2.0 - a` (both subtract as `self + (-other)`):
    one bug, at __neg__'s line, not three at three methods."""
    _, report = _graded(run_cli, SUBMISSIONS / 'backwards_named_neg_raises.py', tmp_path)
    checks = {c['id']: c for c in report['checks']}
    root = checks['ops.neg']  # the op's own check, where it fails with its bug (staff12)
    assert root['misconception']['method'] == '__neg__' and not root['consequence_of']
    assert 'selff' in (SUBMISSIONS / 'backwards_named_neg_raises.py').read_text().split(
        '\n')[root['misconception']['line'] - 1]
    assert [checks[i]['consequence_of'] for i in ('ops.rsub', 'ops.sub')] == ['ops.neg', 'ops.neg']


def test_an_exception_in_the_network_is_one_finding_at_its_line(run_cli, tmp_path):
    """`selff` in Neuron.__call__ breaks the forward pass, the gradients, the step and
    zero_grad() alike: one bug, at that line (the worker locates an MLP task's failure as it
    does a graph's)."""
    path = tmp_path / 'engine.py'
    source = (SUBMISSIONS / 'lecture_engine.py').read_text()
    assert source.count('zip(self.w, x)), self.b)') == 1
    path.write_text(source.replace('zip(self.w, x)), self.b)', 'zip(self.w, x)), selff.b)'))
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if 'selff' in text)
    _, report = _graded(run_cli, path, tmp_path / 'out')
    checks = {c['id']: c for c in report['checks']}
    root = checks['mlp.forward']
    assert {k: root['misconception'][k] for k in ('code', 'method', 'line')} == \
        {'code': 'exception', 'method': 'Neuron.__call__', 'line': line} and not root['consequence_of']
    assert [checks[i]['consequence_of'] for i in ('mlp.gradients', 'mlp.step', 'mlp.zero_grad')] \
        == ['mlp.forward'] * 3


def test_a_rule_stored_on_the_operand_is_found_at_each_methods_own_assignment(run_cli, tmp_path):
    """``self._backward = _backward`` in both __add__ and __mul__ (hacobe's Scalar): each op's
    finding at its own method and the line that stores the rule, not where the entry's rule was
    seen (add's was placed at __mul__'s closure, mul's at its ``def``)."""
    source = (SUBMISSIONS / 'lecture_engine.py').read_text()
    for method in ('__add__', '__mul__'):
        start = source.index(f'    def {method}(')
        end = source.index('return out', start)
        source = source[:start] + source[start:end].replace('out._backward = _backward',
                                                            'self._backward = _backward') + source[end:]
    assert source.count('self._backward = _backward') == 2
    path = tmp_path / 'engine.py'
    path.write_text(source)
    _, report = _graded(run_cli, path, tmp_path / 'out')
    lines = source.split('\n')
    checks = {c['id']: c for c in report['checks']}
    for check, method in (('ops.add', '__add__'), ('ops.mul', '__mul__')):
        m = checks[check]['misconception']
        assert (m['code'], m['method']) == ('rule_on_operand', method), m
        assert lines[m['line'] - 1].strip() == 'self._backward = _backward', (check, m)
        assert report['methods'][method]['line'] < m['line']


def test_equal_valued_nodes_merged_by_a_value_hash_are_named_at_hash(run_cli, tmp_path):
    """``__hash__``/``__eq__`` by value (a real engine's ``value.py``): a set of children or of
    visited nodes keeps one of two equal-valued nodes, so the other never propagates; `a*1.0 +
    a*1.0` gives a.grad 1, not 2. Named as that, at __hash__, not as an op's missing rule or a
    gradient assigned instead of accumulated."""
    source = (SUBMISSIONS / 'lecture_engine.py').read_text()
    assert source.count('    def __repr__(self):') == 1
    source = source.replace('    def __repr__(self):', (
        '    def __hash__(self):\n        return hash(self.data)\n\n'
        '    def __eq__(self, other):\n        return isinstance(other, Value) and self.data == other.data\n\n'
        '    def __repr__(self):'))
    path = tmp_path / 'engine.py'
    path.write_text(source)
    _, report = _graded(run_cli, path, tmp_path / 'out')
    checks = {c['id']: c for c in report['checks']}
    visits = checks['backward.visits']
    assert visits['status'] == 'failed' and 'merged' in visits['message'], visits['message']
    m = visits['misconception']
    assert (m['code'], m['method'], m['line']) == ('merged', '__hash__', report['methods']['__hash__']['line'])
    ladder = checks['robustness.diamond_ladder']['message']
    assert 'are merged' in ladder and 'assigned' not in ladder, ladder
    assert not any((c['misconception'] or {}).get('code') == 'no_backward'
                   for c in report['checks'] if c['id'] in ('ops.pow', 'ops.exp', 'backward.visits'))


def test_sum_of_values_without_radd_is_one_missing_form_where_sum_is_used(run_cli, tmp_path):
    """No __radd__, and a neuron summing with `sum(...) + self.b` (littlegrad): sum() starts
    from the int 0, so every MLP check breaks at that line. One bug, the missing form, named."""
    source = (SUBMISSIONS / 'lecture_engine.py').read_text()
    edits = (('        return other + (-self)\n', '        return -self + other\n'),
             ('    def __radd__(self, other):  # other + self\n        return self + other\n\n', ''),
             ('sum((wi*xi for wi, xi in zip(self.w, x)), self.b)',
              'sum(wi*xi for wi, xi in zip(self.w, x)) + self.b'))
    for old, new in edits:
        assert source.count(old) == 1, old
        source = source.replace(old, new)
    path = tmp_path / 'engine.py'
    path.write_text(source)
    line = next(i for i, text in enumerate(source.splitlines(), 1) if 'zip(self.w, x)) + self.b' in text)
    result, report = _graded(run_cli, path, tmp_path / 'out')
    checks = {c['id']: c for c in report['checks']}
    roots = [c for c in report['checks'] if c['required'] and c['status'] in ('failed', 'error')
             and not c['consequence_of']]
    assert [c['id'] for c in roots] == ['mlp.forward'], [(c['id'], c['message']) for c in roots]
    m = roots[0]['misconception']
    assert (m['code'], m['op'], m['method'], m['line']) == ('missing_op', 'add', 'Neuron.__call__', line)
    assert 'no __radd__: sum() starts from the int 0' in roots[0]['message']
    assert [checks[i]['consequence_of'] for i in ('mlp.gradients', 'mlp.step', 'mlp.zero_grad')] \
        == ['mlp.forward'] * 3
    assert checks['capability.radd']['status'] == 'skipped' and '1 bug(s) found' in result.stdout


def test_a_method_replaced_by_its_own_result_is_found_at_the_assignment(run_cli, tmp_path):
    """``self.parameters = [...]`` inside a layer's parameters() (BobertoBobkinsIII's MLP):
    the next call fails where it is made (zero_grad's loop); the finding is at the assignment
    that replaced the method, and says so."""
    source = (SUBMISSIONS / 'lecture_engine.py').read_text()
    old = '        return [p for neuron in self.neurons for p in neuron.parameters()]\n'
    assert source.count(old) == 1
    source = source.replace(old, '        self.parameters = [p for neuron in self.neurons for p in '
                                 'neuron.parameters()]\n        return self.parameters\n')
    path = tmp_path / 'engine.py'
    path.write_text(source)
    line = next(i for i, text in enumerate(source.splitlines(), 1) if 'self.parameters = [' in text)
    _, report = _graded(run_cli, path, tmp_path / 'out')
    check = {c['id']: c for c in report['checks']}['mlp.zero_grad']
    assert check['status'] == 'failed'
    assert (check['misconception']['method'], check['misconception']['line']) == ('Layer.parameters', line)
    assert 'replaces the method parameters()' in check['message'], check['message']



def test_a_network_class_failure_is_named_by_its_class_and_file(run_cli, tmp_path):
    """A NameError in ``Layer.__init__`` of a package's nn.py was shown as ``Value.__init__``
    at engine.py's path (the worker sent the function's name, not its class): the finding names
    ``Layer.__init__`` and carries nn.py, in the report and in the console."""
    folder = tmp_path / 'micrograd'
    shutil.copytree(SUBMISSIONS / 'micrograd', folder)
    source = (folder / 'nn.py').read_text()
    old = 'for _ in range(nout)]'
    assert source.count(old) == 1
    (folder / 'nn.py').write_text(source.replace(old, 'for _ in range(nouts)]'))
    line = next(i for i, text in enumerate(source.splitlines(), 1) if old in text)
    result, report = _graded(run_cli, folder, tmp_path / 'out')
    m = {c['id']: c for c in report['checks']}['mlp.build']['misconception']
    assert (m['method'], m['file'], m['line']) == ('Layer.__init__', 'micrograd/nn.py', line), m
    assert f'at Layer.__init__ ({folder / "nn.py"}:{line})' in result.stdout, result.stdout
    assert 'Value.__init__' not in result.stdout


def test_a_folder_whose_modules_import_each_other_relatively_is_a_package(run_cli, tmp_path):
    """zjuadurey/micrograd's micrograd_rebuild/ has no __init__.py and nn.py says ``from .engine
    import Value``, as its notebook imports it (a namespace package): loaded as loose files, nn.py
    failed ('attempted relative import') and the network went ungraded."""
    folder = tmp_path / 'micrograd_rebuild'
    shutil.copytree(SUBMISSIONS / 'micrograd', folder)
    (folder / '__init__.py').unlink()
    source = (folder / 'nn.py').read_text()
    assert source.count('from micrograd.engine import Value') == 1
    (folder / 'nn.py').write_text(source.replace('from micrograd.engine', 'from .engine'))
    result, report = _graded(run_cli, folder, tmp_path / 'out')
    checks = {c['id']: c for c in report['checks']}
    assert 'relative import' not in result.stdout, result.stdout
    assert checks['mlp.forward']['status'] == 'passed', checks['mlp.forward']['message']


def test_a_package_holding_a_module_of_its_own_name_loads(run_cli, tmp_path):
    """UsamaHasan's utils/ holds utils.py and says ``from .utils import *`` (so would a
    micrograd/ holding micrograd.py): the loader's sibling finder took the package's own name
    for that module and imported it without end, a load failure ('RecursionError ... while
    loading') where Python imports it."""
    folder = tmp_path / 'micrograd'
    folder.mkdir()
    shutil.copy(SUBMISSIONS / 'micrograd' / 'engine.py', folder / 'micrograd.py')
    (folder / '__init__.py').write_text('from .micrograd import Value\n')
    result, report = _graded(run_cli, folder, tmp_path / 'out')
    checks = {c['id']: c for c in report['checks']}
    assert checks['load']['status'] == 'passed', checks['load']['message']
    assert checks['ops.add']['status'] == 'passed' and result.returncode == 0, result.stdout


def test_a_python_2_cell_of_a_notebook_saved_by_3_12_is_not_blamed_on_the_version(run_cli, tmp_path):
    """ankitgpt18/Micrograd's scratch notebook (saved by Python 3.12.2) has a cell with Python
    2's ``print x``: a syntax error on 3.12 too, yet the warning said the notebook was saved by
    3.12 and to write it as 3.11 reads it."""
    engine = (SUBMISSIONS / 'lecture_engine.py').read_text()
    path = tmp_path / 'nb.ipynb'
    path.write_text(json.dumps({
        'nbformat': 4, 'nbformat_minor': 5,
        'metadata': {'language_info': {'name': 'python', 'version': '3.12.2'}},
        'cells': [{'cell_type': 'code', 'metadata': {}, 'outputs': [], 'execution_count': None,
                   'source': source} for source in (engine, 'x = 1\nprint x\n')]}))
    result, _ = _graded(run_cli, path, tmp_path / 'out')
    assert "Missing parentheses in call to 'print'" in result.stdout, result.stdout
    assert 'grading runs Python 3.11' not in result.stdout, result.stdout


def test_a_topological_sort_over_the_roots_children_is_backwards_not_an_ops(run_cli, tmp_path):
    """A real engine's build(node) loops over ``self._prev`` (the output's children) where
    ``node._prev`` is meant: nodes two levels down are never reached, and ``u = a * b`` never
    propagating was named 'op mul has no backward' at __mul__, though mul is right and its
    consumer keeps it among its children."""
    source = (SUBMISSIONS / 'lecture_engine.py').read_text()
    assert source.count('for child in v._prev:') == 1
    path = tmp_path / 'engine.py'
    path.write_text(source.replace('for child in v._prev:', 'for child in self._prev:'))
    _, report = _graded(run_cli, path, tmp_path / 'out')
    checks = {c['id']: c for c in report['checks']}
    m = checks['ops.add']['misconception']
    assert (m['code'], m['method']) == ('not_topological', 'backward'), checks['ops.add']['message']
    assert checks['ops.mul']['consequence_of'] == 'ops.add'
    assert not any((c['misconception'] or {}).get('code') == 'no_backward' for c in report['checks'])


#: The lecture engine's backward() body, from its first line to its last.
BODY = ('        topo = []\n', 'node._backward()')


def _with_body(source, body):
    """``source`` with the lecture engine's backward() body replaced by ``body``."""
    start = source.index(BODY[0])
    return source[:start] + body + source[source.index(BODY[1], start) + len(BODY[1]):]


#: backward() bodies that never walk past the nodes below the output (the lecture engine's
#: ``__sub__`` and ``__truediv__`` build a node of their own on the way: ``-other``, ``other**-1``)
SHALLOW = {
    'sort_over_the_outputs_children': lambda source: source.replace('for child in v._prev:',
                                                                    'for child in self._prev:'),
    'loop_over_the_outputs_children': lambda source: _with_body(
        source, '        self.grad = 1.0\n        self._backward()\n'
                '        for child in self._prev:\n            child._backward()'),
}


@pytest.mark.parametrize('shape', sorted(SHALLOW))
def test_an_op_built_through_others_unreached_by_backward_is_backwards_not_its_derivative(
        shape, run_cli, tmp_path):
    """``a - b`` as ``self + (-other)``: the add's rule runs, but a backward() that never walks
    below the output's children never runs the rule of the ``-other`` it keeps, so b.grad is 0.
    That was 'the local derivative of subtraction (division) is wrong' at __add__ (__mul__),
    two more bugs charged beside backward()'s own."""
    source = (SUBMISSIONS / 'lecture_engine.py').read_text()
    path = tmp_path / 'engine.py'
    path.write_text(SHALLOW[shape](source))
    assert path.read_text() != source
    _, report = _graded(run_cli, path, tmp_path / 'out')
    checks = {c['id']: c for c in report['checks']}
    for op in ('sub', 'truediv', 'rsub', 'rtruediv'):
        m = checks[f'ops.{op}']['misconception']
        assert (m['code'], m['method']) == ('not_topological', 'backward'), checks[f'ops.{op}']
        assert checks[f'ops.{op}']['consequence_of'], checks[f'ops.{op}']
    assert 'builds on the way' in checks['ops.sub']['message'], checks['ops.sub']['message']
    assert not any((c['misconception'] or {}).get('code') == 'wrong_derivative'
                   for c in report['checks']), 'no op\'s derivative is wrong'


def test_a_gradient_assigned_is_found_at_the_assignment_not_the_rules_def(run_cli, tmp_path):
    """harshsuranax's notebook assigns in exp's and pow's rules (``self.grad = ...``): each
    finding was at its ``def _backward():`` line, one above the line to change."""
    source = (SUBMISSIONS / 'lecture_engine.py').read_text()
    old = 'self.grad += out.data * out.grad'
    assert source.count(old) == 1
    path = tmp_path / 'engine.py'
    path.write_text(source.replace(old, 'self.grad = out.data * out.grad'))
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1)
                if 'self.grad = out.data * out.grad' in text)
    _, report = _graded(run_cli, path, tmp_path / 'out')
    m = {c['id']: c for c in report['checks']}['ops.exp']['misconception']
    assert (m['code'], m['method'], m['line']) == ('assigned', 'exp', line), m

#: An engine not written yet: every op, backward() and the network a stub, as course templates
#: hand them out; STUB is what each body does.
UNWRITTEN = '''
def _todo(*args):
    raise NotImplementedError('to do')


class Value:
    def __init__(self, data, _children=()):
        self.data, self.grad, self._prev = data, 0.0, set(_children)
        self._backward = lambda: None
''' + ''.join(f'''
    def {name}(self, *other):
        STUB
''' for name in ('__add__', '__radd__', '__mul__', '__rmul__', '__sub__', '__rsub__',
                  '__truediv__', '__rtruediv__', '__pow__', '__neg__', 'exp', 'log', 'tanh', 'relu',
                  'sigmoid', 'backward'))


@pytest.mark.parametrize('stub', ["return _todo()", "raise NotImplementedError('to do')"])
def test_stubs_through_one_helper_earn_what_stubs_written_inline_earn(stub, run_cli, tmp_path):
    """Every op calling one stub helper is every op not written: one shared line must not make
    the other ops' failures consequences that keep their points (an attacker's all-stub engine
    scored 18/51 that way; written inline, 0)."""
    path = tmp_path / 'engine.py'
    path.write_text(UNWRITTEN.replace('STUB', stub))
    result, report = _graded(run_cli, path, tmp_path / 'out')
    assert result.returncode == 1 and report['score'] == 0, [
        (c['id'], c['score']) for c in report['checks'] if c['score']]
    assert report['capabilities']['add'] == 'absent', 'a stub is an op not written, not one broken'


#: Every rule made by one helper, each op passing it its local derivatives (a common style):
#: add and mul right, sub, neg and exp wrong.
FACTORY = '''
import math


class Value:
    def __init__(self, data, _children=()):
        self.data, self.grad, self._prev = data, 0.0, set(_children)
        self._backward = lambda: None

    def _make(self, data, parents, local):
        out = Value(data, parents)

        def _backward():
            for p, g in zip(parents, local):
                p.grad += g * out.grad
        out._backward = _backward
        return out

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return self._make(self.data + other.data, (self, other), (1.0, 1.0))

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return self._make(self.data * other.data, (self, other), (other.data, self.data))

    def __sub__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return self._make(self.data - other.data, (self, other), (1.0, 1.0))

    def __neg__(self):
        return self._make(-self.data, (self,), (1.0,))

    def exp(self):
        return self._make(math.exp(self.data), (self,), (1.0,))

    def backward(self):
        topo, seen = [], set()

        def build(v):
            if v not in seen:
                seen.add(v)
                for child in v._prev:
                    build(child)
                topo.append(v)
        build(self)
        self.grad = 1.0
        for v in reversed(topo):
            v._backward()
'''


def test_wrong_derivatives_passed_to_one_rule_helper_are_each_ops_own_bug(run_cli, tmp_path):
    """The helper that applies every rule is right (add and mul pass through it); each op's
    derivative is wrong on its own, so each is a finding of its op, charged as such, never a
    consequence of another op's (one helper line made them one bug, 49/51 for 13 wrong ops)."""
    path = tmp_path / 'engine.py'
    path.write_text(FACTORY)
    result, report = _graded(run_cli, path, tmp_path / 'out')
    checks = {c['id']: c for c in report['checks']}
    assert checks['ops.add']['status'] == checks['ops.mul']['status'] == 'passed'
    for op in ('sub', 'neg', 'exp'):
        check = checks[f'ops.{op}']
        assert check['status'] == 'failed' and check['misconception']['op'] == op
        under = checks.get(check['consequence_of'])
        assert under is None or under['misconception']['op'] == op, (op, check['consequence_of'])
        group = [c for c in report['checks'] if c['id'] == f'ops.{op}' or
                 c['consequence_of'] == check['id']]
        assert under is not None or any(c['score'] == 0 for c in group), 'each bug is charged'


#: The lecture's Value with its backpropagation split as real ones split it: ``make_topo()``
#: builds the order and ``backprop(topo)`` takes it (the learner calls
#: ``loss.backprop(loss.make_topo())``); there is no backward(). Its tanh rule wrong.
SPLIT = (
    ('    def backward(self):\n', '    def make_topo(self):\n'),
    ('        build_topo(self)\n', '        build_topo(self)\n        return topo\n\n'
                                  '    def backprop(self, topo):\n'),
    ('self.grad += (1 - t**2) * out.grad', 'self.grad += (1 - t) * out.grad'),
)


def test_a_backprop_that_takes_the_topological_order_is_graded_as_written(run_cli, tmp_path):
    """``backprop(topo)`` needs an argument, so the grader could not call it in backward()'s
    place: every gradient check failed (0/51). It is called with the order the Value's own
    ``make_topo()`` builds, as the learner calls it; the missing backward() still fails."""
    path = _lecture_with(tmp_path, *SPLIT)
    result, report = _graded(run_cli, path, tmp_path / 'out')
    checks = {c['id']: c for c in report['checks']}
    assert 'graded through v.backprop(v.make_topo())' in result.stdout, result.stdout
    assert checks['capability.backward']['status'] == 'failed'
    assert all(checks[c]['status'] == 'passed' for c in ('ops.add', 'ops.mul', 'backward.visits'))
    m = checks['ops.tanh']['misconception']
    assert (m['code'], m['method']) == ('wrong_derivative', 'tanh'), checks['ops.tanh']
    assert 'out.backprop(out.make_topo())' in checks['ops.tanh']['counterexample']['code']
    assert report['score'] > 20, report['score']


def test_a_backward_body_indented_into_its_build_function_is_named_at_its_first_line(run_cli,
                                                                                    tmp_path):
    """backward()'s lines after ``def build_topo`` indented one level too deep: backward() only
    defines build_topo, so every gradient is 0, which read 'the root gradient is not seeded'
    at the ``def backward`` line; it is the indentation, from ``build_topo(self)`` on."""
    old = """        build_topo(self)

        self.grad = 1.0
        for node in reversed(topo):
            node._backward()"""
    path = _lecture_with(tmp_path, (old, textwrap.indent(old, '    ')))
    line = _line(path, '            build_topo(self)')
    result, report = _graded(run_cli, path, tmp_path / 'out')
    checks = {c['id']: c for c in report['checks']}
    m = checks['ops.add']['misconception']
    assert (m['code'], m['method'], m['line']) == ('body_indented', 'backward', line), m
    assert f'from line {line} on, is indented' in checks['ops.add']['message']
    assert checks['backward.seed']['consequence_of'] == 'ops.add'
    assert 'not seeded' not in result.stdout, result.stdout


def test_a_rule_written_apart_for_one_value_on_both_sides_is_found_by_its_op(run_cli, tmp_path):
    """``__mul__`` special-cases ``a * a`` and assigns there (``self.grad = 2 * self.data *
    out.grad``): ``a * a`` alone is right, so ops.mul passed and only the random graphs failed,
    'a.grad is -2.0, expected -1.0', naming no op; ops.mul reuses the square's operand now."""
    old = """            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
"""
    new = """            if self is other:  # a * a: d(a^2)/da = 2a
                self.grad = 2 * self.data * out.grad
            else:
                self.grad += other.data * out.grad
                other.grad += self.data * out.grad
"""
    path = _lecture_with(tmp_path, (old, new))
    line = _line(path, 'self.grad = 2 * self.data')
    _, report = _graded(run_cli, path, tmp_path / 'out')
    checks = {c['id']: c for c in report['checks']}
    m = checks['ops.mul']['misconception']
    assert (m['code'], m['op'], m['method'], m['line']) == ('assigned', 'mul', '__mul__', line), m
    assert 'both operands are one Value' in checks['ops.mul']['message']


def test_a_division_with_its_operands_swapped_is_named_as_that(run_cli, tmp_path):
    """A real engine's ``__truediv__`` returns ``other * self**-1`` (its ``__rtruediv__``'s
    body): 'the forward value of division is wrong', where the value is exactly ``b / a``."""
    old = 'return self * other**-1'
    path = _lecture_with(tmp_path, (old, 'return other * self**-1'))
    _, report = _graded(run_cli, path, tmp_path / 'out')
    checks = {c['id']: c for c in report['checks']}
    m = checks['ops.truediv']['misconception']
    assert (m['code'], m['method']) == ('operands_swapped', '__truediv__'), checks['ops.truediv']
    assert 'the value of `b / a`; __truediv__(self, other) must compute self / other' in \
        checks['ops.truediv']['message'], checks['ops.truediv']['message']
    assert checks['ops.truediv_const']['consequence_of'] == 'ops.truediv'


def test_an_op_dunder_written_without_its_trailing_underscores_is_named_at_load(run_cli, tmp_path):
    """A real engine defines ``def __rsub(self, other)`` (stored as ``_Value__rsub``): ``2.0 - a``
    was only 'not implemented', with nothing pointing at the method that was meant as it."""
    path = _lecture_with(tmp_path, ('def __rsub__(', 'def __rsub('))
    line = _line(path, 'def __rsub(')
    result, report = _graded(run_cli, path, tmp_path / 'out')
    said = f'Value defines __rsub (engine.py, line {line}), not __rsub__: Python calls __rsub__ ' \
        f'only, so that op is missing.'
    assert said in report['load_warnings'], report['load_warnings']
    rsub = {c['id']: c for c in report['checks']}['capability.rsub']
    assert rsub['status'] != 'passed'
    assert rsub['message'] == f'rsub is not implemented (there is __rsub (engine.py, line ' \
        f'{line}): Python calls __rsub__ only)', rsub['message']


@pytest.mark.parametrize('written', ['__power__', 'pow'])
def test_an_op_dunder_named_otherwise_is_said_where_the_op_is_missing(written, run_cli, tmp_path):
    """Real engines define ``def __power__(self, other)`` (index file 40209618662) and ``def
    pow(self, other)`` (HarishVk-05/Neural-Networks-Zero-To-Hero@e8bec28, Micrograd/engine.py)
    where ``__pow__`` was meant, and divide as ``self * other**-1``: 'division uses `**`, which
    the Value does not define (no __pow__)' and 'pow is not implemented', with nothing pointing
    at the method meant as it."""
    path = _lecture_with(tmp_path, ('def __pow__(', f'def {written}('))
    line = _line(path, f'def {written}(')
    _, report = _graded(run_cli, path, tmp_path / 'out')
    note = f'there is {written} (engine.py, line {line}): Python calls __pow__ only'
    assert f'Value defines {written} (engine.py, line {line}), not __pow__: Python calls __pow__ ' \
        f'only, so that op is missing.' in report['load_warnings'], report['load_warnings']
    checks = {c['id']: c for c in report['checks']}
    assert checks['capability.pow']['message'] == f'pow is not implemented ({note})'
    truediv = checks['ops.truediv']
    assert truediv['misconception']['code'] == 'missing_op'
    assert f'(no __pow__; {note}):' in truediv['message'], truediv['message']


def _said_to_reset(report, line):
    """backward.repeat names backward()'s zeroing of the gradients, at ``line``."""
    repeat = {c['id']: c for c in report['checks']}['backward.repeat']
    assert f'backward() sets the gradients to 0 before propagating (line {line})' in \
        repeat['message'], repeat['message']
    m = repeat['misconception']
    assert (m['code'], m['method'], m['line']) == ('visited_flag', 'backward', line), m


def test_a_backward_that_zeroes_the_gradients_is_found_at_that_line(run_cli, tmp_path):
    """The example ``bug_backward_resets.py``: backward.repeat asked whether backward() resets
    the gradients or keeps a visited flag, at the def backward line; it says which, where."""
    path = SUBMISSIONS / 'bug_backward_resets.py'
    line = _line(path, 'node.grad = 0.0')
    _said_to_reset(_graded(run_cli, path, tmp_path / 'out')[1], line)


def test_a_syntax_error_is_said_in_pythons_words_with_one_stop(run_cli, tmp_path):
    """A real package's relu reads ``Value(0 of self.data<=0 else ...)``: Python says 'invalid
    syntax. Perhaps you forgot a comma?', and the load error added a stop after the '?'."""
    old = 'Value(0 if self.data < 0 else'
    path = _lecture_with(tmp_path, (old, 'Value(0 of self.data < 0 else'))
    result, report = _graded(run_cli, path, tmp_path / 'out')
    load = {c['id']: c for c in report['checks']}['load']
    assert load['status'] == 'failed'
    assert load['message'].endswith('at line 96: invalid syntax. Perhaps you forgot a comma?'), \
        load['message']


def test_a_node_added_to_the_order_outside_the_visited_check_is_found_at_that_line(run_cli,
                                                                                  tmp_path):
    """A real notebook's build_topo has ``topo.append(v)`` one level out of ``if v not in
    visited:``, so a node reached twice runs its rule twice: 'repeated propagation ... does
    backward() recurse without a visited set?' at def backward, though it has one."""
    old = """                    build_topo(child)
                topo.append(v)"""
    path = _lecture_with(tmp_path, (old, old.replace('                topo', '            topo')))
    line = _line(path, '            topo.append(v)')
    _, report = _graded(run_cli, path, tmp_path / 'out')
    root = {c['id']: c for c in report['checks']}['backward.accumulate']
    m = root['misconception']
    assert (m['code'], m['method'], m['line']) == ('repeated', 'backward', line), m
    assert f'adds each node to the order at line {line}, after the `if`' in root['message']


def test_an_upstream_gradient_added_to_the_local_derivative_is_named_at_its_op(run_cli, tmp_path):
    """A real engine's __add__ rule adds where the chain rule multiplies (``self.grad += 1.0 +
    out.grad``, index file 40209618662, 'my reimplementation of micrograd of AK'): it read 'the
    local derivative of addition with respect to its right input is wrong', though both inputs
    are, and named no cause."""
    path = _lecture_with(tmp_path, ('self.grad += 1.0 * out.grad\n            other.grad += 1.0 * '
                                    'out.grad', 'self.grad += 1.0 + out.grad\n            '
                                    'other.grad += 1.0 + out.grad'))
    _, report = _graded(run_cli, path, tmp_path / 'out')
    checks = {c['id']: c for c in report['checks']}
    m = checks['ops.add']['misconception']
    assert (m['code'], m['method']) == ('wrong_derivative', '__add__'), checks['ops.add']
    assert "addition's backward adds the upstream gradient to the local derivative (`... + " \
        "out.grad`) where the chain rule multiplies them" in checks['ops.add']['message']
    assert 'right input' not in json.dumps(report)


#: tanh's rule as an object of a class of its own (jakelevi1996/aims@36fd1b0's
#: scripts/course_4_ml/operation.py keeps every op's rule so: no closure the worker can place),
#: its derivative without the square.
RULE_OBJECT = """        out = Value(t, (self, ), 'tanh')
        out._backward = TanhRule(self, out)
        return out

    def exp(self):"""


def test_a_wrong_rule_found_nowhere_is_its_own_bug_beside_a_backward_that_resets(run_cli,
                                                                                  tmp_path):
    """jakelevi1996/aims's backward() zeroes every gradient first (a second backward() changes
    nothing) and its rules are objects, which no method's line shows: a wrong rule found only by
    the random graphs was listed under the reset, as if zeroing before one backward() spoiled
    its gradients, its finding renamed to the reset's and its 10 points charged to it."""
    path = _lecture_with(tmp_path, ("""        out = Value(t, (self, ), 'tanh')

        def _backward():
            self.grad += (1 - t**2) * out.grad
        out._backward = _backward
        return out

    def exp(self):""", RULE_OBJECT), ('        build_topo(self)\n', '        build_topo(self)\n'
                                                   '        for node in topo:\n'
                                                   '            node.grad = 0.0\n'),
                         ('class Value:\n', 'class TanhRule:\n    def __init__(self, x, out):\n'
                          '        self.x, self.out = x, out\n\n    def __call__(self):\n'
                          '        self.x.grad += (1 - self.out.data) * self.out.grad\n\n\n'
                          'class Value:\n'))
    _, report = _graded(run_cli, path, tmp_path / 'out')
    checks = {c['id']: c for c in report['checks']}
    tanh = checks['ops.tanh']
    assert tanh['status'] == 'failed' and tanh['consequence_of'] != 'backward.repeat', tanh
    assert tanh['misconception']['code'] == 'wrong_derivative', tanh['misconception']
    assert checks['backward.repeat']['misconception']['code'] == 'visited_flag'


@pytest.mark.parametrize('old, new, said', [
    ('/(math.exp(2*x) + 1)', '/(math.exp(2*x) + 2)', 't = (math.exp(2*x) - 1)/'),
    ("Value(self.data * other.data, (self, other), '*')",
     "Value(self.data * other.data + 1, (self, other), '*')", 'out = Value(self.data * other.data')])
def test_a_wrong_forward_value_is_found_at_the_line_that_computes_it(old, new, said, run_cli,
                                                                     tmp_path):
    """A wrong value was placed at the op's ``def`` line (engines5's leftover): it is where the
    number the op's result holds is computed, the line assigning the local passed as its data
    (``t = ...`` for ``Value(t, ...)``), else the line of ``Value(...)`` itself."""
    path = _lecture_with(tmp_path, (old, new))
    line = _line(path, said)
    _, report = _graded(run_cli, path, tmp_path / 'out')
    op = 'ops.tanh' if 'exp' in old else 'ops.mul'
    m = {c['id']: c for c in report['checks']}[op]['misconception']
    assert (m['code'], m['line']) == ('wrong_value', line), m
    assert report['methods'][m['method']]['line'] < line


def test_a_natural_log_named_ln_is_said_where_log_is_missing(run_cli, tmp_path):
    """A real engine (index file 41264976482: numpy data, rules in an attribute named
    ``backward``, ``backward_children()``) names its natural logarithm ``ln``: 'log is not
    implemented', with nothing pointing at ln(), which no likeness of spelling finds."""
    path = _lecture_with(tmp_path, ('def log(self):', 'def ln(self):'))
    line = _line(path, 'def ln(self):')
    _, report = _graded(run_cli, path, tmp_path / 'out')
    assert f'Value has no method log() but has ln() (engine.py, line {line}): the grader calls ' \
        f'log().' in report['load_warnings'], report['load_warnings']
    log = {c['id']: c for c in report['checks']}['capability.log']
    assert log['message'] == 'log is not implemented (there is ln(): the grader calls log())', log


@pytest.mark.parametrize('old, new, check, code', [
    ('self.grad += (1 - t**2) * out.grad', 'self.grad += (1 - t)**2 * out.grad', 'ops.tanh',
     'wrong_derivative'),
    ('self.grad += out.data * out.grad', 'self.grad += out.data', 'ops.exp', 'no_upstream')])
def test_a_unary_rules_wrong_derivative_is_found_at_its_line_not_its_def(old, new, check, code,
                                                                       run_cli, tmp_path):
    """A wrong derivative in a rule that adds in place was placed at ``def _backward():`` (the
    index file 40209618662's add, harshsuranax's and every tanh or exp bug): a rule with one
    gradient to add is found at that line, the one to change."""
    path = _lecture_with(tmp_path, (old, new))
    line = _line(path, new)
    _, report = _graded(run_cli, path, tmp_path / 'out')
    m = {c['id']: c for c in report['checks']}[check]['misconception']
    assert (m['code'], m['line']) == (code, line), m


def test_a_backward_left_a_stub_is_backward_not_implemented(run_cli, tmp_path):
    """A course template (index file 56315001110, picograd's engine.py: add and mul written, the
    rest TODO) hands backward() out as ``raise NotImplementedError(...)``: it scored 10/51 with
    two findings (the exception 'at Value.__add__', 'calling backward() twice failed'), and the
    lecture engine with that stub 35/51, where with no backward() at all it scores 8. A stub is
    backward() not written, as an op's stub is that op not written: one finding, the same score."""
    stub = tmp_path / 'stub' / 'engine.py'
    stub.parent.mkdir()
    source = (SUBMISSIONS / 'lecture_engine.py').read_text()
    stub.write_text(_with_body(source, "        raise NotImplementedError('implement backward()')"))
    start = source.index('    def backward(self):')
    absent = tmp_path / 'absent' / 'engine.py'
    absent.parent.mkdir()
    absent.write_text(_with_body(source, '')[:start] + _with_body(source, '')[start:].replace(
        '    def backward(self):\n', '', 1))
    reports = [_graded(run_cli, path, path.parent / 'out')[1] for path in (stub, absent)]
    for report in reports:
        roots = [c for c in report['checks'] if c['required'] and c['status'] == 'failed'
                 and not c['consequence_of']]
        assert [c['id'] for c in roots] == ['capability.backward'], [
            (c['id'], c['message']) for c in roots]
        assert report['capabilities']['backward'] == 'absent'
    assert reports[0]['score'] == reports[1]['score'], [r['score'] for r in reports]
    said = {c['id']: c for c in reports[0]['checks']}['capability.backward']
    assert said['message'] == 'backward is not implemented (backward() raises ' \
        'NotImplementedError: a stub) (required)', said['message']
    assert said['misconception']['line'] == _line(stub, 'def backward(self):')


#: ignatiusmf/nn-zero-to-hero@df0c623's MLP_from_scratch/mlp_from_scratch.py makes matplotlib
#: ``FuncAnimation``s at import that are never drawn: the Animation's ``__del__`` warns, inside a
#: collection (it is a cycle). Python's warning printer reads the source line (linecache opens the
#: file), an event the guard waits out until the collection ends: the worker stalls (exit 87) and
#: a correct engine reads 'loading failed: the worker exited with code 87.', 0/51.
DEL_WARNS = '''import gc
import warnings


class Animation:
    def __init__(self):
        self.me = self

    def __del__(self):
        warnings.warn('Animation was deleted without rendering anything.')


Animation()
gc.collect()
'''


def test_a_warning_from_a_del_inside_a_collection_loses_no_worker(run_cli, tmp_path):
    path = tmp_path / 'engine.py'
    path.write_text(DEL_WARNS + (SUBMISSIONS / 'lecture_engine.py').read_text())
    result, report = _graded(run_cli, path, tmp_path / 'out')
    assert result.returncode == 0, [c['message'] for c in report['checks'] if c['status'] == 'failed']


def test_a_backward_that_raises_is_one_finding_where_it_raises(run_cli, tmp_path):
    """A NameError in backward() (``selff.grad = 1.0``) breaks every gradient check, the
    network's and a second backward() alike: the repeat check's failure was a second bug, at
    the ``def backward`` line and without the exception's name, beside the one at the line that
    raised (the template of index file 56315001110 showed the same two)."""
    path = _lecture_with(tmp_path, ('        self.grad = 1.0\n', '        selff.grad = 1.0\n'))
    line = _line(path, 'selff.grad = 1.0')
    result, report = _graded(run_cli, path, tmp_path / 'out')
    roots = [c for c in report['checks'] if c['required'] and c['status'] == 'failed'
             and not c['consequence_of']]
    assert len(roots) == 1, [(c['id'], c['message']) for c in roots]
    m = roots[0]['misconception']
    assert (m['code'], m['method'], m['line']) == ('exception', 'backward', line), m
    said = roots[0]['message']  # the exception's name, as the check that first saw it says it
    assert 'NameError' in said and "name 'selff' is not defined" in said, said
    assert '1 bug(s) found' in result.stdout


def test_a_network_that_feeds_every_layer_its_input_is_named_as_that(run_cli, tmp_path):
    """A real engine's MLP (index file 41982517445) loops ``final = layer(x)`` and returns
    ``final``: every layer gets the network's input, so only the last counts (zip() pairing its
    first weights with the input). That read 'the outputs match none of the known
    architectures'; it is that mistake, said so."""
    path = _lecture_with(tmp_path, ('            x = layer(x)\n        return x\n',
                                    '            out = layer(x)\n        return out\n'))
    _, report = _graded(run_cli, path, tmp_path / 'out')
    forward = {c['id']: c for c in report['checks']}['mlp.forward']
    assert forward['status'] == 'failed'
    assert forward['message'].startswith("MLP.__call__ hands every layer the network's input, "
                                         "not the previous layer's output"), forward['message']


def test_a_none_an_op_returned_is_that_ops_bug_where_another_uses_it(run_cli, tmp_path):
    """A real engine's ``__pow__`` ends without ``return out`` (index file 2454833561): ``a / b``
    as ``self * other**-1`` then breaks in __mul__ on the None, 'division uses `*`, which the
    Value does not define for these operands (no __mul__)' though it does, and the same again
    for ``2.0 / a``: three bugs for one. One finding, at __pow__."""
    path = _lecture_with(tmp_path, ("        out._backward = _backward\n        return out\n\n"
                                    "    def __rmul__", "        out._backward = _backward\n\n"
                                    "    def __rmul__"))
    result, report = _graded(run_cli, path, tmp_path / 'out')
    roots = [c for c in report['checks'] if c['required'] and c['status'] == 'failed'
             and not c['consequence_of']]
    assert [(c['id'], c['misconception']['method']) for c in roots] == [('ops.pow', '__pow__')], \
        [(c['id'], c['message']) for c in roots]
    checks = {c['id']: c for c in report['checks']}
    assert checks['ops.truediv']['consequence_of'] == 'ops.pow'
    assert 'does not define' not in json.dumps(report)
    assert '(does the method end without `return out`?)' in roots[0]['message'], roots[0]['message']


def test_a_type_alias_statement_is_said_to_be_python_3_12(run_cli, tmp_path):
    """A real engine (index file 15189556221: ``match`` ops, dataclass operands) declares
    ``type Operands = AddOperands | ...`` (PEP 695, Python 3.12): it read 'syntax error in
    value.py at line 38: invalid syntax.', where a 3.12 f-string is said to be valid from 3.12
    on, grading running 3.11."""
    path = tmp_path / 'engine.py'
    path.write_text('type Number = int | float\n\n' + (SUBMISSIONS / 'lecture_engine.py').read_text())
    _, report = _graded(run_cli, path, tmp_path / 'out')
    load = {c['id']: c for c in report['checks']}['load']
    assert '3.12' in load['message'], load['message']


def test_a_rule_attribute_named_backward_is_no_backward_method(run_cli, tmp_path):
    """A real numpy engine (index file 53182792941) keeps each node's rule in an attribute named
    ``backward`` (``out.backward = backward``) and has no backward() method: ``out.backward()``
    ran the output's own rule, which read 'the root gradient is not seeded', 20/51. There is no
    walk of the graph to grade: backward() is not implemented, said so."""
    source = _with_body((SUBMISSIONS / 'lecture_engine.py').read_text(), '')
    source = source.replace('    def backward(self):\n', '', 1)
    source = source.replace('out._backward = _backward', 'out.backward = _backward').replace(
        'self._backward = lambda: None', 'self.backward = lambda: None')
    path = tmp_path / 'engine.py'
    path.write_text(source)
    _, report = _graded(run_cli, path, tmp_path / 'out')
    roots = [c for c in report['checks'] if c['required'] and c['status'] == 'failed'
             and not c['consequence_of']]
    assert [c['id'] for c in roots] == ['capability.backward'], [(c['id'], c['message']) for c in roots]
    assert 'the Value has no backward() method: `out.backward()` calls an attribute' in \
        roots[0]['message'], roots[0]['message']
    assert report['capabilities']['backward'] == 'absent'


@pytest.mark.parametrize('layout', ['folder', 'package'])
def test_a_module_of_a_folder_importing_the_answer_key_says_so_as_a_file_does(layout, run_cli,
                                                                              tmp_path):
    """srkds/Micrograd-Autograd-Engine-implementation: engine/micrograd.py imports torch (to
    compare with at its end); graded as a file it "imports 'torch', which grading keeps out of
    reach", but graded as its folder "which is not installed for grading": torch is there, and
    asking course staff to install it would not help."""
    folder = tmp_path / 'hw' / 'engine'
    folder.mkdir(parents=True)
    if layout == 'package':
        (folder / '__init__.py').write_text('')
    (folder / 'micrograd.py').write_text('import torch\n' + (SUBMISSIONS / 'lecture_engine.py').read_text())
    result, report = _graded(run_cli, folder if layout == 'folder' else folder.parent, tmp_path / 'out')
    said = {c['id']: c for c in report['checks']}['load']['message']
    assert "imports 'torch'" in said and 'which grading keeps out of reach' in said, said
    assert 'not installed' not in said + ' '.join(report['load_warnings']), said


def test_a_rule_left_a_stub_is_a_rule_not_written_not_a_wrong_one(run_cli, tmp_path):
    """A course template's `def _backward(): pass` left in __mul__: no gradient reaches a leaf,
    as when the rule multiplies by the other operand's gradient, and the finding said so
    ("multiplies by the other operand's gradient where its value belongs"), of a rule that
    reads nothing. A rule that does nothing is an op with no backward, at its rule's line."""
    path = _lecture_with(tmp_path, ('self.grad += other.data * out.grad\n'
                                    '            other.grad += self.data * out.grad',
                                    'pass'))
    _, report = _graded(run_cli, path, tmp_path / 'out')
    roots = [c for c in report['checks'] if c['required'] and c['status'] in ('failed', 'error')
             and not c['consequence_of']]
    assert [(c['misconception']['code'], c['misconception']['method']) for c in roots] == [
        ('no_backward', '__mul__')], roots
    assert roots[0]['misconception']['line'] == _line(path, 'pass') - 1  # its `def _backward():`
    assert "its _backward does nothing (a stub)" in roots[0]['message'], roots[0]['message']
    assert 'gradient where its value belongs' not in json.dumps(report)
    assert report['methods']['__mul__']['rule'] is False  # a stub writes no rule


def test_every_rule_left_a_stub_is_one_finding_per_method_at_its_own_rule(run_cli, tmp_path):
    """A template left unfilled, every ``_backward`` body ``pass``: every graph's ``* k`` runs
    mul's stub, so every op's check blamed mul and was its consequence, its point kept (one
    finding, 33/51). Each method whose rules are all stubs is its own finding, at its rule's
    line (``stub`` in its class report); an op written through another (``-`` as ``+`` and
    ``*``) stays that one's consequence."""
    import re
    source = (SUBMISSIONS / 'lecture_engine.py').read_text()
    stubbed = re.sub(r'(def _backward\(\):\n)((?:\s{12}.*\n)+)', r'\1            pass\n', source)
    assert stubbed.count('            pass\n') >= 8
    path = tmp_path / 'engine.py'
    path.write_text(stubbed)
    _, report = _graded(run_cli, path, tmp_path / 'out')
    roots = {c['misconception']['method']: c for c in report['checks'] if c['required'] and
             c['status'] in ('failed', 'error') and not c['consequence_of']}
    assert set(roots) == {'__add__', '__mul__', '__pow__', 'exp', 'log', 'tanh', 'relu', 'sigmoid'}, \
        {m: c['id'] for m, c in roots.items()}
    for method, root in roots.items():
        assert root['misconception']['code'] == 'no_backward', root
        assert root['misconception']['line'] == report['methods'][method]['stub']
        assert f"op {root['misconception']['op']} has no backward" in root['message']
    sub = next(c for c in report['checks'] if c['id'] == 'ops.sub')
    assert sub['misconception']['method'] != '__sub__'  # __sub__ writes no rule: not its bug
    assert report['score'] < 33


def test_an_op_that_takes_no_number_is_not_called_a_stub(run_cli, tmp_path):
    """ReylordDev/nn-zero-to-hero-exercises' micrograd_exercises.ipynb divides with
    ``self.data / other.data``, never wrapping a number: `a / 2.0` raises AttributeError, and
    truediv_const read 'is not implemented (__truediv__() raises NotImplementedError: a stub)',
    an exception the engine never raises. It says what `a / 2.0` raised instead."""
    path = _lecture_with(tmp_path, ('        return self * other**-1\n',
                                    '        return self * other.data**-1\n'))
    _, report = _graded(run_cli, path, tmp_path / 'out')
    said = {c['id']: c for c in report['checks']}['capability.truediv_const']['message']
    assert 'stub' not in said and 'NotImplementedError' not in said, said
    assert "AttributeError" in said and "'float' object has no attribute 'data'" in said, said


def test_a_rule_set_inside_itself_is_found_beside_a_known_wrong_mul(run_cli, tmp_path):
    """petar-ceho/karpathy-lectures' micrograd_exercises.ipynb: `*` passes ``self.grad`` to its
    right operand, and tanh sets ``out._backward = _backward`` inside the rule itself (so never).
    Every tanh graph is ``a.tanh() * k``: the tanh check was put on `*` again (a consequence of
    the add check), and tanh's missing rule was never said. Two bugs, two findings."""
    path = _lecture_with(tmp_path, ('            other.grad += self.data * out.grad\n        out._backward = _backward\n        return out\n\n    def __pow__',
                                    '            other.grad += self.grad * out.grad\n        out._backward = _backward\n        return out\n\n    def __pow__'),
                         ('            self.grad += (1 - t**2) * out.grad\n        out._backward = _backward\n',
                          '            self.grad += (1 - t**2) * out.grad\n            out._backward = _backward\n'))
    _, report = _graded(run_cli, path, tmp_path / 'out')
    roots = sorted(((c['misconception'] or {}).get('code'), (c['misconception'] or {}).get('method'))
                   for c in report['checks'] if c['required'] and c['status'] in ('failed', 'error')
                   and not c['consequence_of'])
    assert roots == [('no_backward', 'tanh'), ('wrong_derivative', '__mul__')], roots


def _roots(report):
    """Each root finding that counts, as (check, code, method, line), in the report's order."""
    return [(c['id'], (c['misconception'] or {}).get('code'), (c['misconception'] or {}).get('method'),
             (c['misconception'] or {}).get('line')) for c in report['checks']
            if c['required'] and c['status'] in ('failed', 'error') and not c['consequence_of']]


def test_add_and_mul_rules_swapped_are_two_findings_each_at_its_own_rule(run_cli, tmp_path):
    """`+` written with `*`'s derivatives and `*` with `+`'s (a real engine's, graded in round
    eight): every add graph ends in `* k`, whose wrong rule was read as the culprit, so the two
    were one finding at `__mul__` and `+`'s own rule was never said. Judged on the add graphs
    without their `* k`, each op's rule is its own finding."""
    add = '            self.grad += 1.0 * out.grad\n            other.grad += 1.0 * out.grad\n'
    mul = '            self.grad += other.data * out.grad\n            other.grad += self.data * out.grad\n'
    path = _lecture_with(tmp_path, (add, '@@\n'), (mul, add), ('@@\n', mul))
    _, report = _graded(run_cli, path, tmp_path / 'out')
    rule = {text: _line(path, text) - 1 for text in ('self.grad += other.data * out.grad',
                                                     'self.grad += 1.0 * out.grad')}  # its def
    assert [root[1:] for root in _roots(report)] == [
        ('wrong_derivative', '__add__', rule['self.grad += other.data * out.grad']),
        ('wrong_derivative', '__mul__', rule['self.grad += 1.0 * out.grad'])], _roots(report)


def test_an_exception_in_the_constructor_from_one_op_is_that_ops(run_cli, tmp_path):
    """exp builds its result as `Value(math.exp(x), None, 'exp')`: `set(None)` raises in
    `__init__`, which was named, though the inputs and every other op build their Values there
    without raising. What exp passes is the bug: named at exp, at the line that builds it."""
    path = _lecture_with(tmp_path, ("out = Value(math.exp(x), (self, ), 'exp')",
                                    "out = Value(math.exp(x), None, 'exp')"))
    _, report = _graded(run_cli, path, tmp_path / 'out')
    assert _roots(report) == [('ops.exp', 'exception', 'exp',
                               _line(path, "out = Value(math.exp(x), None, 'exp')"))], _roots(report)


def test_a_module_never_imported_is_one_finding_in_every_method_that_reads_it(run_cli, tmp_path):
    """QingZhou-YangHY/Micrograd's engine.py uses `math.exp` in exp and tanh and never imports
    math: two findings, charged twice, for the one line that is missing."""
    path = _lecture_with(tmp_path, ('import math\n', ''))
    _, report = _graded(run_cli, path, tmp_path / 'out')
    roots = _roots(report)
    assert len(roots) == 1 and roots[0][1] == 'exception', roots
    said = {c['id']: c for c in report['checks']}
    assert said['ops.tanh']['consequence_of'] == roots[0][0] or \
        said['ops.exp']['consequence_of'] == roots[0][0], roots


def test_an_op_dunder_whose_def_refuses_its_operands_is_broken_there(run_cli, tmp_path):
    """madhav165/micrograd-demo's lecture1/value.py: `def __neg__(self, other)`. Python calls
    it as `-x` with one operand, so `a - b` (`self + (-other)`) raised at `__sub__`'s line, which
    was named, and `-a` was said to be not implemented. The def is the bug: named there, and neg
    is checked (broken, not absent)."""
    path = _lecture_with(tmp_path, ('    def __neg__(self):  # -self', '    def __neg__(self, other):'))
    _, report = _graded(run_cli, path, tmp_path / 'out')
    assert _roots(report) == [('ops.neg', 'exception', '__neg__', _line(path, 'def __neg__'))], \
        _roots(report)
    said = {c['id']: c for c in report['checks']}
    assert said['ops.neg']['status'] == 'failed' and said['ops.sub']['consequence_of'] == 'ops.neg'


#: The lecture's topological sort with its visited guard taken out (an edit of ``_lecture_with``).
NO_VISITED_GUARD = ('            if v not in visited:\n                visited.add(v)\n'
                    '                for child in v._prev:\n                    build_topo(child)\n'
                    '                topo.append(v)\n',
                    '            for child in v._prev:\n                build_topo(child)\n'
                    '            topo.append(v)\n')


def test_a_walk_whose_result_follows_a_sets_order_says_so_where_it_is_found(run_cli, tmp_path):
    """A topological sort with no visited guard over the `set` of children (round eight: the
    learner's own runs gave `a.grad` 4.92 four times and 7.38 twice): found as repeated
    propagation, rightly, but nothing said why the learner's runs disagree with one another.
    Run again with the Values in another set order, the walk's graph says so."""
    path = _lecture_with(tmp_path, NO_VISITED_GUARD)
    _, report = _graded(run_cli, path, tmp_path / 'out')
    assert [root[1:3] for root in _roots(report)] == [('repeated', 'backward')], _roots(report)
    root = {c['id']: c for c in report['checks']}[_roots(report)[0][0]]
    assert 'changes with the order of a set' in root['message'], root['message']


def test_a_repository_whose_package_sits_in_src_imports_it_from_there(run_cli, tmp_path):
    """vdyma/nanograd: src/nanograd/ is a package, src/ has no __init__.py and no module of its
    own, and its modules say ``from src.nanograd.value import Value``: the folder was said to
    hold no .py file, notebook or package to grade."""
    folder = tmp_path / 'repository'
    shutil.copytree(SUBMISSIONS / 'micrograd', folder / 'src' / 'nanograd')
    for module in ('__init__.py', 'nn.py'):
        path = folder / 'src' / 'nanograd' / module
        assert path.read_text().count('from micrograd.engine import Value') == 1
        path.write_text(path.read_text().replace('from micrograd.engine', 'from src.nanograd.engine'))
    result, report = _graded(run_cli, folder, tmp_path / 'out')
    checks = {c['id']: c for c in report['checks']}
    assert checks['load']['status'] == 'passed', checks['load']['message']
    assert checks['mlp.forward']['status'] == 'passed', checks['mlp.forward']['message']


def test_a_network_called_with_more_than_one_sample_is_another_interface(run_cli, tmp_path):
    """vdyma/nanograd's MLP is called as `model(x, example_num)`: `model(x)` raised TypeError in
    each network check, four failures counted (and no finding said why), where another interface
    of the network is said, not failed."""
    path = _lecture_with(tmp_path, ('    def __call__(self, x):\n        for layer in self.layers:',
                                    '    def __call__(self, x, example_num):\n        for layer in self.layers:'))
    _, report = _graded(run_cli, path, tmp_path / 'out')
    checks = {c['id']: c for c in report['checks']}
    assert report['verdict'] == 'passed', _roots(report)
    assert checks['mlp.build']['status'] == 'skipped' and 'model(x)' in checks['mlp.build']['message']


def test_a_constructor_written_with_single_underscores_is_named_at_load(run_cli, tmp_path):
    """ritika-s05/is-640-nn writes every dunder with one underscore each side: the load said
    `Value(1.5)` takes no arguments, named each op's `_add_` for `__add__`, and not `_init_`,
    the one that stops everything."""
    path = _lecture_with(tmp_path, ("    def __init__(self, data, _children=(), _op='', label=''):",
                                    "    def _init_(self, data, _children=(), _op='', label=''):"))
    _, report = _graded(run_cli, path, tmp_path / 'out')
    said = {c['id']: c for c in report['checks']}['load']['message']
    assert f'defines _init_ ({path.name}, line {_line(path, "def _init_")}), not __init__' in said, said


@pytest.mark.parametrize('written', ['__inti__', '__innit__', '_int_'])
def test_a_constructor_misspelled_by_a_letter_is_named_at_load(run_cli, tmp_path, written):
    """Av3nger123/micro-grad writes `def __inti__(self, data, ...)`: the load said only that
    `Value(1.5)` takes no arguments, where `_init_` and `init` were named; a constructor one
    letter off (swapped, doubled, dropped) is the same mistake."""
    path = _lecture_with(tmp_path, ("    def __init__(self, data, _children=(), _op='', label=''):",
                                    f"    def {written}(self, data, _children=(), _op='', label=''):"))
    _, report = _graded(run_cli, path, tmp_path / 'out')
    said = {c['id']: c for c in report['checks']}['load']['message']
    assert f'defines {written} ({path.name}, line {_line(path, "def " + written)}), not __init__' \
        in said, said


def test_a_conversion_dunder_is_not_read_as_a_misspelled_constructor():
    """`__int__` is Python's own conversion, one letter off `__init__`: a class without a
    constructor that converts to int is not told it misspelled one."""
    from harness.worker.load.classes import _no_init

    class Value:
        def __int__(self, base=10):  # an argument past self, as a constructor's
            return 1

        def __iter__(self):
            return iter(())
    assert _no_init(Value) == ''


def test_an_init_helper_the_class_calls_is_no_misspelt_constructor():
    """InjongWon/minigrad-dl's `Value` (the needle course's) has `_init(self, op, inputs)`, a
    helper its own `make_from_op` calls, and a `Tensor` subclass with the `__init__`: the load
    said the Value defines _init, not __init__, which is no mistake of the learner's."""
    from harness.worker.load.classes import _no_init

    class Value:
        def _init(self, op, inputs):
            self.op, self.inputs = op, inputs

        @classmethod
        def make_from_op(cls, op, inputs):
            value = cls.__new__(cls)
            value._init(op, inputs)
            return value
    assert _no_init(Value) == ''


def test_a_walk_graded_through_the_learners_own_name_is_placed_there(run_cli, tmp_path):
    """GlaIZier/micrograd's walk is `backprop()` (graded through it) and repeats nodes: the
    repeated propagation was named at backward() with no line and no file, so no consumer
    could point at it. It is placed at backprop's def, and stays a finding apart from the
    name (capability.backward)."""
    path = _lecture_with(tmp_path, ('    def backward(self):', '    def backprop(self):'),
                         NO_VISITED_GUARD)
    _, report = _graded(run_cli, path, tmp_path / 'out')
    roots = {root[1]: root for root in _roots(report)}
    assert set(roots) == {'backward_missing', 'repeated'}, _roots(report)
    assert roots['repeated'][3] == _line(path, 'def backprop'), _roots(report)


def test_a_network_with_no_nonlinearity_is_named_as_that(run_cli, tmp_path):
    """tostacam/minigrad's MLP(nin, nouts) is linear in every layer unless told otherwise: its
    outputs matched 'none of the known architectures', which said nothing of why."""
    path = _lecture_with(tmp_path, ('        out = act.tanh()\n        return out\n',
                                    '        return act\n'))
    _, report = _graded(run_cli, path, tmp_path / 'out')
    said = {c['id']: c for c in report['checks']}['mlp.forward']
    assert said['status'] == 'failed' and 'no layer applies a nonlinearity' in said['message'], \
        said['message']


#: An engine written as FiercePhoenix7/Placement-Predictor-with-Minigrad's is: no op sets a
#: rule; backward() applies each by the node's `_op`, indexing its children, kept in a `set`.
RULES_BY_OP = """
class Value:
    def __init__(self, data, _children=(), _op=''):
        self.data = data
        self.grad = 0.0
        self._prev = set(_children)
        self._op = _op

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data + other.data, (self, other), '+')

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data * other.data, (self, other), '*')

    def backward(self):
        topo, seen = [], set()
        def build(v):
            if v not in seen:
                seen.add(v)
                for child in v._prev:
                    build(child)
                topo.append(v)
        build(self)
        self.grad = 1.0
        for node in reversed(topo):
            kids = list(node._prev)
            if node._op == '+':
                kids[0].grad += node.grad
                kids[1].grad += node.grad
            elif node._op == '*':
                kids[0].grad += kids[1].data * node.grad
                kids[1].grad += kids[0].data * node.grad
"""


def test_an_exception_in_backwards_own_lines_is_one_finding_at_the_line(run_cli, tmp_path):
    """FiercePhoenix7/Placement-Predictor-with-Minigrad: `a + a` and `a * a` have one child in
    the set, and `children[1]` raises IndexError in backward() itself, in `+`'s branch and in
    `*`'s. No rule ran, so the finding named no method and no line (nothing to annotate); placed
    where it was raised, it must stay one bug of backward(), not one per line that raised."""
    path = tmp_path / 'engine.py'
    path.write_text(textwrap.dedent(RULES_BY_OP))
    _, report = _graded(run_cli, path, tmp_path / 'out')
    assert _roots(report) == [('ops.add', 'exception', 'backward',
                               _line(path, 'kids[1].grad += node.grad'))], _roots(report)
    said = {c['id']: c for c in report['checks']}
    assert said['ops.mul']['consequence_of'] == 'ops.add', said['ops.mul']
    assert said['ops.add']['misconception']['file'] == path.name


def test_an_exception_in_a_module_function_an_op_calls_names_its_file(run_cli, tmp_path):
    """Druudik/minigrad's core.py: `__pow__` calls the module's `pow()`, which refuses a
    negative base (`raise ValueError`). The finding named `pow` and its line, but no file: in
    a package of several modules, no consumer could say where."""
    folder = tmp_path / 'repository'
    shutil.copytree(SUBMISSIONS / 'micrograd', folder / 'micrograd')
    engine = folder / 'micrograd' / 'engine.py'
    source = engine.read_text()
    old = '        out = Value(self.data**other, (self,), f\'**{other}\')\n'
    assert source.count(old) == 1
    engine.write_text(source.replace(old, '        out = _power(self, other)\n') +
                      '\n\ndef _power(x, n):\n    if x.data <= 0:\n'
                      "        raise ValueError('non-positive base')\n"
                      "    return Value(x.data**n, (x,), f'**{n}')\n")
    _, report = _graded(run_cli, folder, tmp_path / 'out')
    m = {c['id']: c for c in report['checks']}['ops.pow']['misconception']
    assert (m['method'], m['line']) == ('_power', _line(engine, "raise ValueError('non-positive")), m
    assert m['file'].endswith('micrograd/engine.py'), m


def test_a_rule_using_an_operator_the_value_lacks_is_one_finding_that_names_it(run_cli, tmp_path):
    """evintunador/autograd_engine_tutorial: tanh's rule is `(1 - out**2) * out.grad`, and the
    Value has no `__rsub__`. tanh's check named the TypeError at the rule's line, not the missing
    form; the network's checks named `__rsub__` missing, at a method `_backward`: two findings
    of the one line. One, at tanh's rule, naming what the Value lacks."""
    path = _lecture_with(tmp_path, ('    def __rsub__(self, other):  # other - self\n'
                                    '        return other + (-self)\n', ''),
                         ('self.grad += (1 - t**2) * out.grad', 'self.grad += (1 - out**2) * out.grad'))
    _, report = _graded(run_cli, path, tmp_path / 'out')
    line = _line(path, '(1 - out**2)')
    assert _roots(report) == [('ops.tanh', 'exception', 'tanh', line)], _roots(report)
    said = {c['id']: c for c in report['checks']}
    assert '(the Value has no __rsub__)' in said['ops.tanh']['message'], said['ops.tanh']['message']
    assert said['mlp.gradients']['consequence_of'] == 'ops.tanh', said['mlp.gradients']


def test_a_wrong_rule_no_method_holds_is_its_own_bug_beside_a_walk_that_repeats(run_cli, tmp_path):
    """Ninety9Colors/minigrad's backward() applies each rule by the node's `op` and walks with
    a stack that can push a node twice (repeated propagation); its pow's exponent derivative
    uses an approximate `ln` (1.5e-8 off). No method writes a rule, so the pow finding named
    none, and it was listed under the walk's, which cannot make `a ** b` wrong (no node is used
    twice): fixing the walk would have left it. A wrong rule the walk's models did not explain
    is its own bug."""
    source = textwrap.dedent(RULES_BY_OP).replace(
        '        self._prev = set(_children)\n', '        self._prev = tuple(_children)\n').replace(
        '            if v not in seen:\n                seen.add(v)\n'
        '                for child in v._prev:\n                    build(child)\n'
        '                topo.append(v)\n',
        '            for child in v._prev:\n                build(child)\n            topo.append(v)\n'
    ).replace(
        "    def backward(self):\n",
        "    def __pow__(self, n):\n        out = Value(self.data ** n, (self,), '**')\n"
        "        out._n = n\n        return out\n\n    def backward(self):\n").replace(
        "                kids[1].grad += kids[0].data * node.grad\n",
        "                kids[1].grad += kids[0].data * node.grad\n"
        "            elif node._op == '**':\n"
        "                kids[0].grad += node._n * kids[0].data ** node._n * node.grad\n")
    path = tmp_path / 'engine.py'
    path.write_text(source)
    _, report = _graded(run_cli, path, tmp_path / 'out')
    roots = {root[0]: root[1:3] for root in _roots(report)}
    assert roots.get('ops.pow') == ('wrong_derivative', ''), _roots(report)
    assert ('repeated', 'backward') in roots.values(), _roots(report)


#: A Value that stores float32, as roodriigoooo/micrograd_karpathy's numpy one does (an edit of
#: ``_lecture_with``; struct rounds as numpy's float32 does).
FLOAT32 = ("        self.data = data\n",
           "        self.data = __import__('struct').unpack('f', __import__('struct').pack('f', data))[0]\n")


@pytest.mark.parametrize('seed', ['0', '7'])
def test_a_float32_value_is_one_bug_and_hides_no_other_at_any_seed(seed, run_cli, tmp_path):
    """roodriigoooo/micrograd_karpathy's notebook stores float32 and swaps `__rsub__`'s operands.
    At seed 0 both were found; at seed 7 the inputs are numbers float32 does not hold, the first
    wrong value was an input's, and only float32 was said (33/51 at seed 0, 28 at 7). The
    network's checks said 'none of the known architectures' and '41 of 41 gradients disagree
    with finite differences' (of a float32 loss): two more bugs, of the same storage."""
    path = _lecture_with(tmp_path, FLOAT32, ('    def __rsub__(self, other):  # other - self\n'
                                             '        return other + (-self)\n',
                                             '    def __rsub__(self, other):  # other - self\n'
                                             '        return self - other\n'))
    out = tmp_path / 'out'
    run_cli('grade', path, '--profile', 'quick', '--out', out, '--no-color', '--seed', seed)
    report = json.loads((out / 'report.json').read_text())
    assert [root[1:3] for root in _roots(report)] == [
        ('single_precision', '__init__'), ('reflected_swapped', '__rsub__')], _roots(report)
    said = {c['id']: c for c in report['checks']}
    for check in ('mlp.forward', 'mlp.gradients'):
        assert said[check]['status'] == 'passed' or said[check]['misconception']['code'] == \
            'single_precision', said[check]


#: ``FLOAT32`` and a product's rule that doubles its left operand's gradient: two bugs.
FLOAT32_MUL = (FLOAT32, ('            self.grad += other.data * out.grad\n',
                         '            self.grad += 2 * other.data * out.grad\n'))


@pytest.mark.parametrize('seed', ['0', '7'])
def test_a_float32_value_hides_no_wrong_rule_at_any_seed(seed, run_cli, tmp_path):
    """redyaung/smallgrad's Value stores float32 (numpy) and its backward() walks every path
    again: at seed 0 (inputs float32 holds) the walk was found, at seed 7 every graph's first
    mismatch was an input's rounding and only float32 was said. A wrong rule hid alike: past
    the rounding (values and gradients float32 explains), the gradients are explained as any
    engine's, their models compared to float32's precision."""
    path = _lecture_with(tmp_path, *FLOAT32_MUL)
    out = tmp_path / 'out'
    run_cli('grade', path, '--profile', 'quick', '--out', out, '--no-color', '--seed', seed)
    report = json.loads((out / 'report.json').read_text())
    roots = [root[1:4] for root in _roots(report)]
    rule = _line(path, '2 * other.data') - 1  # its `def _backward():` (two lines add)
    assert ('wrong_derivative', '__mul__', rule) in roots, roots
    assert {code for code, _, _ in roots} == {'wrong_derivative', 'single_precision'}, roots


#: ``FLOAT32`` and a walk that runs a node's rule once per path to it (redyaung/smallgrad).
FLOAT32_WALK = (FLOAT32, ('            if v not in visited:\n                visited.add(v)\n'
                          '                for child in v._prev:\n                    build_topo(child)\n'
                          '                topo.append(v)\n',
                          '            for child in v._prev:\n                build_topo(child)\n'
                          '            topo.append(v)\n'))


def test_a_float32_value_reads_its_walk_alike_at_every_seed(run_cli, tmp_path):
    """redyaung/smallgrad at seed 7: backward.repeat was read as a consequence of ops.add's `=`
    (ops.add failing for float32's rounding only, no rule's), and its second pass compared to
    float64's precision; at seed 0 (inputs float32 holds) it was the walk's, as it is."""
    path = _lecture_with(tmp_path, *FLOAT32_WALK)
    seen = {}
    for seed in ('0', '7'):
        out = tmp_path / f'out{seed}'
        run_cli('grade', path, '--profile', 'quick', '--out', out, '--no-color', '--seed', seed)
        report = json.loads((out / 'report.json').read_text())
        said = {c['id']: c for c in report['checks']}
        seen[seed] = {check: (said[check]['status'], (said[check]['misconception'] or {}).get('code'))
                      for check in ('backward.topological', 'backward.repeat')}
    assert seen['0'] == seen['7'], seen
    assert seen['7']['backward.topological'] == ('failed', 'repeated'), seen


def test_a_float32_engine_with_a_wrong_rule_scores_alike_at_every_seed(run_cli, tmp_path):
    """ShubhamShukla4211/Nanograd's float32 Tensor (8/51 at seed 0, 12 at 7): a walk graph
    whose first mismatch is a gradient that a failing op's rule explains is left to that op
    (skipped, its points lost); at seed 7 the first mismatch was an input's float32 rounding,
    so the walk was judged instead (failed as a consequence, its points kept). Here a float32
    Value with a wrong product rule: backward.chain skipped at seed 0, judged at 7."""
    path = _lecture_with(tmp_path, *FLOAT32_MUL)
    seen = {}
    for seed in ('0', '7'):
        out = tmp_path / f'out{seed}'
        run_cli('grade', path, '--profile', 'quick', '--out', out, '--no-color', '--seed', seed)
        report = json.loads((out / 'report.json').read_text())
        said = {c['id']: c['status'] for c in report['checks']}
        seen[seed] = (report['score'], said['backward.topological'], said['backward.chain'])
    assert seen['0'] == seen['7'], seen


def test_an_exception_in_a_rule_of_several_lines_is_placed_at_the_line_that_raised(run_cli,
                                                                                    tmp_path):
    """yhzheng23/nn-zero-to-hero's micrograd exercise: pow's rule adds the base's derivative,
    then the exponent's, `out.data * log(self.data)`, which raises for `a ** 2.0` at a < 0. The
    rule has two lines that add to a gradient, so its place is its `def _backward():`, and the
    finding was there, not at the line the exception names."""
    path = _lecture_with(tmp_path, (
        '            self.grad += other * (self.data ** (other - 1)) * out.grad\n',
        '            self.grad += other * (self.data ** (other - 1)) * out.grad\n'
        '            self.grad += 0.0 * out.data * math.log(self.data) * out.grad\n'))
    _, report = _graded(run_cli, path, tmp_path / 'out')
    roots = _roots(report)
    assert roots[0] == ('ops.pow', 'exception', '__pow__', _line(path, 'math.log(self.data)')), roots


#: grads kept in float32, data in float64, as tarickali/minigrad's numpy grads are: each rule's
#: sums rounded as they land (struct rounds as numpy's float32 does).
FLOAT32_GRADS = ('        for node in reversed(topo):\n            node._backward()\n',
                 '        for node in reversed(topo):\n            node._backward()\n'
                 '            for child in node._prev:\n'
                 "                child.grad = __import__('struct').unpack('f', __import__("
                 "'struct').pack('f', child.grad))[0]\n")


def test_float32_gradients_are_one_price_at_every_seed(run_cli, tmp_path):
    """tarickali/minigrad keeps grads in float32. At seed 7 the ops' graphs show the rounding
    and the walks' graphs were left to them as an op's rule fault (topological and chain
    skipped, 0 points: 34/51 at seed 0, 29 at 7); a gradient only rounded to float32 is the
    engine's storage, not a rule's, so the walks are judged at every seed alike."""
    path = _lecture_with(tmp_path, FLOAT32_GRADS)
    scores = {}
    for seed in ('0', '7'):
        out = tmp_path / f'out{seed}'
        run_cli('grade', path, '--out', out, '--no-color', '--seed', seed)
        report = json.loads((out / 'report.json').read_text())
        said = {c['id']: c for c in report['checks']}
        assert {said[c]['status'] for c in ('backward.topological', 'backward.chain')} <= \
            {'passed', 'failed'}, {c: said[c]['message'] for c in ('backward.topological', 'backward.chain')}
        assert {root[1] for root in _roots(report)} == {'single_precision'}, _roots(report)
        scores[seed] = report['score']
    assert abs(scores['0'] - scores['7']) <= 1, scores


def test_a_negation_built_without_children_is_one_finding_at_its_own_method(run_cli, tmp_path):
    """dishanshakya/minigrad's notebook: `__neg__` returns `Value(-self.data)` (no children, no
    rule) and `__sub__` is `self + (-other)`.  The method that builds the Value it returns
    without a rule is where the bug is (its class report: no rule, a ``computes`` line), and
    subtraction, which only composes it, is its consequence: it was two roots, neg's unplaced
    (a method that writes no rule was taken for one that composes others) and sub's."""
    path = _lecture_with(tmp_path, ('        return self * -1\n', '        return Value(-self.data)\n'))
    result, report = _graded(run_cli, path, tmp_path / 'out')
    roots = [c for c in report['checks'] if c['required'] and c['status'] in ('failed', 'error')
             and not c['consequence_of']]
    assert [(c['id'], c['misconception']['code'], c['misconception']['method'],
             c['misconception']['line']) for c in roots] == \
        [('ops.neg', 'no_backward', '__neg__', _line(path, 'def __neg__'))], \
        [(c['id'], c['misconception']) for c in roots]
    by_id = {c['id']: c for c in report['checks']}
    assert by_id['ops.sub']['consequence_of'] == 'ops.neg'


def test_a_rule_that_runs_its_operands_rules_is_the_repeated_propagations_place(run_cli,
                                                                                tmp_path):
    """Aditya-Chaubey/autograd-engine's notebook: the rules of + and * end with
    `self._backward(); other._backward()` while backward() walks a right topological order,
    so every node below propagates twice.  The finding named backward() (line 104), which is
    right; the call in the rule is the bug (``calls_rules`` in the class report)."""
    path = _lecture_with(tmp_path, ('            other.grad += 1.0 * out.grad\n',
                                    '            other.grad += 1.0 * out.grad\n'
                                    '            self._backward()\n'
                                    '            other._backward()\n'))
    result, report = _graded(run_cli, path, tmp_path / 'out')
    assert report['methods']['__add__']['calls_rules'] == _line(path, 'self._backward()')
    roots = [c for c in report['checks'] if c['required'] and c['status'] in ('failed', 'error')
             and not c['consequence_of']]
    assert [(c['misconception']['code'], c['misconception']['method'],
             c['misconception']['line']) for c in roots] == \
        [('repeated', '__add__', _line(path, 'self._backward()'))], \
        [(c['id'], c['misconception'], c['message']) for c in roots]
    assert 'calls another node' in roots[0]['message']


def test_a_rule_right_on_some_inputs_and_silent_on_others_is_a_wrong_derivative(run_cli,
                                                                                 tmp_path):
    """KaelinGraf/micrograd: relu's rule `grad = 1 if out.data > 1 else 0` passes nothing where
    relu's input lies in (0, 1] and the right gradient above 1.  At seed 7 one relu graph has
    its input there (0.9685) and four pass: the finding said "op relu has no backward", a rule
    that passed the right gradient on four graphs of the same check."""
    path = _lecture_with(tmp_path, ('(out.data > 0) * out.grad', '(out.data > 1) * out.grad'))
    result = run_cli('grade', path, '--profile', 'quick', '--seed', '7', '--out', tmp_path / 'out',
                     '--no-color')
    report = json.loads((tmp_path / 'out' / 'report.json').read_text())
    relu = next(c for c in report['checks'] if c['id'] == 'ops.relu')
    assert relu['status'] == 'failed', relu['message']
    assert (relu['misconception']['code'], relu['misconception']['method']) == \
        ('wrong_derivative', 'relu'), relu['message']
    assert 'no backward' not in relu['message'] and 'on another graph of this check' in \
        relu['message'], relu['message']
    assert result.returncode == 1


def test_an_add_that_returns_nothing_is_one_finding_at_add(run_cli, tmp_path):
    """AMX07/micrograd: __add__ ends without `return out`.  The repeat check's graph `n1 = a +
    b; ...` cannot be built either ('the op returned NoneType None'): it was a root of its own,
    with no misconception, beside addition's own finding of the same line; and `a - b` as
    `self + (-other)` returns add's None: subtraction was a second root at __sub__, which
    writes no rule and returns what + gave."""
    path = _lecture_with(tmp_path, ('            other.grad += 1.0 * out.grad\n'
                                    '        out._backward = _backward\n        return out\n',
                                    '            other.grad += 1.0 * out.grad\n'
                                    '        out._backward = _backward\n'))
    result, report = _graded(run_cli, path, tmp_path / 'out')
    by_id = {c['id']: c for c in report['checks']}
    assert by_id['ops.add']['misconception']['method'] == '__add__'
    assert by_id['backward.repeat']['status'] == 'failed'
    assert by_id['backward.repeat']['consequence_of'] == 'ops.add', by_id['backward.repeat']
    assert by_id['ops.sub']['consequence_of'] == 'ops.add', by_id['ops.sub']
    assert by_id['ops.sub']['misconception']['method'] == '__add__'


def test_float32_values_hide_no_gradient_that_is_missing_at_any_seed(run_cli, tmp_path):
    """windshadow233/autograd-with-numpy: a numpy Tensor that stores float32 and whose leaves
    have requires_grad=False, so backward() returns at once and every grad stays None.  At seed
    0 (inputs float32 holds) addition's graphs showed the None gradients (not seeded) and
    division's the rounding; at seed 7 every first mismatch was an input's rounding and only
    float32 was said: two roots and 26/51 against one root and 27."""
    path = _lecture_with(tmp_path, FLOAT32, ('        self.grad = 0.0\n', '        self.grad = None\n'),
                         ('        topo = []\n', '        if self.grad is None:\n'
                                                '            return\n        topo = []\n'))
    seen = {}
    for seed in ('0', '7'):
        out = tmp_path / f'out{seed}'
        run_cli('grade', path, '--profile', 'quick', '--out', out, '--no-color', '--seed', seed)
        report = json.loads((out / 'report.json').read_text())
        seen[seed] = (report['score'], [root[1:3] for root in _roots(report)])
    assert seen['0'] == seen['7'], seen
    assert ('not_seeded', 'backward') in seen['0'][1], seen


#: An engine written as pavithranrao/micro_grad's is: each op a class whose ``__call__`` builds
#: the result and its rule (``Add()(self, other)``); here the product's rule assigns.
OPERATOR_CLASSES = '''
import math


class Add:
    def __call__(self, a, b):
        b = b if isinstance(b, Value) else Value(b)
        out = Value(a.data + b.data, (a, b))

        def _backward():
            a.grad += out.grad
            b.grad += out.grad
        out._backward = _backward
        return out


class Multiply:
    def __call__(self, a, b):
        b = b if isinstance(b, Value) else Value(b)
        out = Value(a.data * b.data, (a, b))

        def _backward():
            a.grad = b.data * out.grad
            b.grad = a.data * out.grad
        out._backward = _backward
        return out


class Value:
    def __init__(self, data, _children=()):
        self.data = data
        self.grad = 0.0
        self._prev = set(_children)
        self._backward = lambda: None

    def __add__(self, other):
        return Add()(self, other)

    def __radd__(self, other):
        return self + other

    def __mul__(self, other):
        return Multiply()(self, other)

    def __rmul__(self, other):
        return self * other

    def backward(self):
        topo, visited = [], set()

        def build(v):
            if v not in visited:
                visited.add(v)
                for child in v._prev:
                    build(child)
                topo.append(v)
        build(self)
        self.grad = 1.0
        for node in reversed(topo):
            node._backward()
'''


def test_a_rule_written_in_an_operator_class_is_placed_in_its_file(run_cli, tmp_path):
    """pavithranrao/micro_grad writes each op as a class whose `__call__` holds the rule: its
    findings were placed at `__call__` with no file (the Value has no such method), so no
    consumer could point at them. The operator class's method is located as the Value's are."""
    path = tmp_path / 'engine.py'
    path.write_text(OPERATOR_CLASSES)
    _, report = _graded(run_cli, path, tmp_path / 'out')
    roots = [c['misconception'] for c in report['checks']
             if c['required'] and c['status'] in ('failed', 'error') and not c['consequence_of']]
    assert [(m['code'], m['line']) for m in roots] == \
        [('assigned', _line(path, 'a.grad = b.data'))], _roots(report)
    assert roots[0]['file'] == path.name, roots
    assert roots[0]['method'] == 'Multiply.__call__', roots  # its class's, not the Value's
    assert report['methods']['Multiply.__call__']['file'] == path.name, report['methods']


def test_a_reflected_op_on_plain_numbers_is_its_own_finding(run_cli, tmp_path):
    """KX-1126/miniGrad's `__rsub__` is `other + (-self.data)` and its `__radd__` `other +
    self.data`: each returns a float, `2.0 - a` no call of `__radd__` (both operands are numbers),
    yet rsub was joined under radd's finding (its `+` read as a call of the Value's add), so the
    learner fixing `__radd__` would still fail rsub, never told where. Each is its own."""
    path = _lecture_with(tmp_path, ('    def __radd__(self, other):  # other + self\n'
                                    '        return self + other',
                                    '    def __radd__(self, other):  # other + self\n'
                                    '        return other + self.data'),
                         ('    def __rsub__(self, other):  # other - self\n'
                          '        return other + (-self)',
                          '    def __rsub__(self, other):  # other - self\n'
                          '        return other + (-self.data)'))
    _, report = _graded(run_cli, path, tmp_path / 'out')
    roots = {root[0]: root for root in _roots(report)}
    assert roots.get('ops.rsub', (None,) * 4)[1:3] == ('exception', '__rsub__'), _roots(report)
    assert roots.get('ops.radd', (None,) * 4)[1:3] == ('exception', '__radd__'), _roots(report)


def test_a_backward_that_zeroes_the_gradients_through_its_own_method_is_found_there(run_cli,
                                                                                      tmp_path):
    """bhc91/micrograd_dev's backward() starts with `self.zero_grad()`, a method of the Value
    that walks the graph and sets every node's grad to 0: a second backward() changes nothing,
    which was asked as 'does backward() reset the gradients, or keep a visited flag?' at the
    def. The call is the reset, as a reset written in backward() itself is."""
    path = _lecture_with(tmp_path, ('    def backward(self):\n        topo = []\n',
                                    '    def backward(self):\n        self.zero_grad()\n'
                                    '        topo = []\n'),
                         ('        for node in reversed(topo):\n            node._backward()\n',
                          '        for node in reversed(topo):\n            node._backward()\n\n'
                          '    def zero_grad(self):\n        seen, stack = set(), [self]\n'
                          '        while stack:\n            v = stack.pop()\n'
                          '            if v not in seen:\n                seen.add(v)\n'
                          '                v.grad = 0\n                stack.extend(v._prev)\n'))
    line = _line(path, 'self.zero_grad()')
    _said_to_reset(_graded(run_cli, path, tmp_path / 'out')[1], line)


def test_a_backward_that_takes_an_argument_is_one_finding_at_its_def(run_cli, tmp_path):
    """abourramouss/micrograd_scratch defines `def backward(self, nin):`: `out.backward()` raises
    TypeError before any of the learner's lines runs, so the findings of every op were placed at
    no method (`ops.add: exception@''`). Python names the method its signature refuses: that
    def is the place, as a dunder's own signature is."""
    path = _lecture_with(tmp_path, ('    def backward(self):\n', '    def backward(self, nin):\n'))
    _, report = _graded(run_cli, path, tmp_path / 'out')
    roots = [c for c in report['checks'] if c['required'] and c['status'] in ('failed', 'error')
             and not c['consequence_of'] and c['category'] == 'ops']
    assert [(c['misconception']['code'], c['misconception']['method'], c['misconception']['line'])
            for c in roots] == [('exception', 'backward', _line(path, 'def backward('))], \
        _roots(report)
    assert "backward() takes no argument but self" in roots[0]['message'], roots[0]['message']
    every = _roots(report)  # the second backward() and the network's, the same one bug
    assert len(every) == 1, every


def test_an_op_through_rules_stored_on_their_operands_is_their_consequence(run_cli, tmp_path):
    """mohilpatel25/simplegrad stores add's and mul's rules on their operand (`self._backward =
    _backward`); its `a - b` is `self + (-other)`, so b, a leaf, holds mul's rule and ran it
    before it had a gradient: ops.sub was a bug of its own, 'the local derivative of
    subtraction is wrong' at __mul__'s line, beside mul's own finding. An input holding an op's
    rule is that rule stored on its operand: sub is add's or mul's consequence, fixed with them."""
    edits = [(f'            other.grad += {d} * out.grad\n        out._backward = _backward\n',
              f'            other.grad += {d} * out.grad\n        self._backward = _backward\n')
             for d in ('1.0', 'self.data')]
    path = _lecture_with(tmp_path, *edits)
    _, report = _graded(run_cli, path, tmp_path / 'out')
    roots = [root[:3] for root in _roots(report) if root[0].startswith('ops.')]
    assert roots == [('ops.add', 'rule_on_operand', '__add__'),
                     ('ops.mul', 'rule_on_operand', '__mul__')], _roots(report)
    sub = {c['id']: c for c in report['checks']}['ops.sub']
    assert sub['consequence_of'] in ('ops.add', 'ops.mul'), (sub['consequence_of'], sub['message'])


def test_an_op_that_applies_its_own_operator_to_the_value_is_said_so(run_cli, tmp_path):
    """pratss10/Micrograd_engine_clone's __pow__ computes `Value(self**other, ...)`: `**` on the
    Value calls __pow__ again until the recursion limit, which was said with the hint for a
    reflected op ('does a reflected op such as __radd__ call itself?'); it is __pow__ applying
    its own operator to the Value, where `self.data ** other` was meant."""
    path = _lecture_with(tmp_path, ("out = Value(self.data**other, (self,), f'**{other}')",
                                    "out = Value(self**other, (self,), f'**{other}')"))
    _, report = _graded(run_cli, path, tmp_path / 'out')
    pow_ = {c['id']: c for c in report['checks']}['ops.pow']
    assert pow_['misconception']['method'] == '__pow__', pow_['misconception']
    assert 'does __pow__ apply `**` to the Value itself (`self ** other`, where `self.data ** ' \
        'other` was meant)?' in pow_['message'], pow_['message']
    assert 'reflected' not in pow_['message'], pow_['message']


def test_a_forward_pass_mistake_is_placed_at_the_method_that_runs_the_network(run_cli, tmp_path):
    """phongvu009/micro_grad's Neuron ignores its bias and mohilpatel25/simplegrad's MLP hands
    every layer the network's input (`out = layer(inputs)`): mlp.forward said so at no method
    (the network classes' __call__ were in no class report). Each is now at the method that
    runs the class it is in, with its file and line."""
    for old, new, at in (
            ('        act = sum((wi*xi for wi, xi in zip(self.w, x)), self.b)\n',
             '        act = sum((wi*xi for wi, xi in zip(self.w, x)), 0.0)\n', 'Neuron.__call__'),
            ('            x = layer(x)\n', '            out = layer(x)\n        x = out\n',
             'MLP.__call__')):
        path = _lecture_with(tmp_path, (old, new))
        _, report = _graded(run_cli, path, tmp_path / f'out-{at}')
        forward = {c['id']: c for c in report['checks']}['mlp.forward']
        m = forward['misconception']
        assert (m['code'], m['method'], m['file']) == ('network_forward', at, 'engine.py'), m
        assert report['methods'][at]['line'] == m['line'], report['methods']
