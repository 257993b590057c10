"""Engines written as other repositories write them (tests/engines/), each once misread: graded
end to end through the real CLI, each with the verdict it must get and, for a single bug, the one
root cause at the method that holds it."""
import json
from pathlib import Path

import pytest

ENGINES = Path(__file__).resolve().parent / 'engines'
#: engine -> (exit code, the one bug as [code, method] or None, words a load warning must say)
VERDICTS = {
    # the network is run as model.forward(x): was four MLP failures, its gradients all right
    'mlp_forward.py': (0, None, 'graded through model.forward(x)'),
    # backpropagation is a function backward(root), not a method: failed load
    'backward_function.py': (0, None, 'the function backward(v)'),
    # exp's rule on its input node: was named "backward order is not topological"
    'exp_rule_on_input.py': (1, ('rule_on_operand', 'exp'), ''),
}
#: the same engines with one bug planted: (engine, (old, new), the one bug)
MUTANTS = {
    'backward_function_forward_order': ('backward_function.py', ('for v in reversed(topo):', 'for v in topo:'),
                                        ('not_topological', 'backward')),
    'mlp_forward_mul_assigns': ('mlp_forward.py', ('self.grad += other.data * out.grad',
                                                   'self.grad = other.data * out.grad'),
                                ('assigned', '__mul__')),
}


def _graded(run_cli, path, out):
    result = run_cli('grade', path, '--profile', 'quick', '--out', out, '--no-color')
    assert 'Traceback' not in result.stdout + result.stderr, result.stderr
    return result, json.loads((out / 'report.json').read_text())


def _one_bug(report, code, method):
    roots = [c for c in report['checks'] if c['required'] and c['status'] in ('failed', 'error')
             and not c['consequence_of']]
    assert [(c['misconception'] or {}).get('code') for c in roots] == [code], roots
    assert roots[0]['misconception']['method'] == method, roots[0]
    assert report['methods'][method]['line'] <= roots[0]['misconception']['line']


@pytest.mark.parametrize('name', sorted(VERDICTS))
def test_a_real_engine_gets_its_verdict(name, run_cli, tmp_path):
    code, bug, warns = VERDICTS[name]
    result, report = _graded(run_cli, ENGINES / name, tmp_path)
    assert result.returncode == code, result.stdout
    mlp = [c for c in report['checks'] if c['category'] == 'mlp' and c['required']]
    assert mlp and all(c['status'] == 'passed' for c in mlp), mlp
    if bug:
        _one_bug(report, *bug)
    assert not warns or any(warns in w for w in report['load_warnings']), report['load_warnings']


@pytest.mark.parametrize('name', sorted(MUTANTS))
def test_a_bug_planted_in_a_real_engine_is_one_finding_at_its_method(name, run_cli, tmp_path):
    engine, (old, new), bug = MUTANTS[name]
    source = (ENGINES / engine).read_text()
    assert old in source
    path = tmp_path / engine
    path.write_text(source.replace(old, new))
    result, report = _graded(run_cli, path, tmp_path / 'out')
    assert result.returncode == 1
    _one_bug(report, *bug)


def test_an_exception_is_one_finding_where_it_was_raised_whatever_op_reached_it(run_cli, tmp_path):
    """`selff` in __neg__ breaks `-a`, `a - b` and `2.0 - a` (both subtract as `self + (-other)`):
    one bug, at __neg__'s line, not three at three methods."""
    from conftest import SUBMISSIONS
    _, report = _graded(run_cli, SUBMISSIONS / 'backwards_named_neg_raises.py', tmp_path)
    checks = {c['id']: c for c in report['checks']}
    root = checks['ops.sub']
    assert root['misconception']['method'] == '__neg__' and not root['consequence_of']
    assert 'selff' in (SUBMISSIONS / 'backwards_named_neg_raises.py').read_text().split(
        '\n')[root['misconception']['line'] - 1]
    assert [checks[i]['consequence_of'] for i in ('ops.rsub', 'ops.neg')] == ['ops.sub', 'ops.sub']
