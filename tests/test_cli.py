"""Every example submission graded end to end through the real CLI, in real workers."""
import compileall
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

import pytest

from conftest import EXPECTED, ROOT, SUBMISSIONS, unnamed, validate_json, validate_junit



@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_example_gets_its_expected_verdict(name, run_cli, tmp_path):
    want = EXPECTED[name]
    result = run_cli('grade', SUBMISSIONS / name, '--profile', 'quick', '--out', tmp_path,
                     '--no-color')
    assert result.returncode == want['exit'], result.stdout + result.stderr
    assert 'Traceback' not in result.stdout + result.stderr
    report = json.loads((tmp_path / 'report.json').read_text())
    assert report['verdict'] == ('passed' if want['exit'] == 0 else 'failed')
    assert {'submission', 'score', 'max_score', 'seed', 'versions', 'isolation', 'checks',
            'capabilities', 'load_warnings'} <= set(report)
    checks = {c['id']: c for c in report['checks']}
    named = ([(want['check'], want['says'])] if 'check' in want else []) + want.get('also', [])
    # every bug named, each under its own check
    assert not unnamed(want, {i: (c['status'], c['message']) for i, c in checks.items()}), checks
    for check_id, _ in named:
        failing = checks.get(check_id, {})
        if failing.get('status') == 'failed' and failing['category'] not in ('load', 'capability'):
            assert failing['counterexample']['code'].count('\n') <= 12  # graphs to show
    if 'bug' in want:  # one bug: one root cause, at the method that holds it
        roots = [c for c in report['checks'] if c['required'] and c['status'] in ('failed', 'error')
                 and not c['consequence_of']]
        assert [(c['misconception'] or {}).get('code') for c in roots] == [want['bug'][0]], roots
        assert roots[0]['misconception']['method'] == want['bug'][1], roots[0]
        assert all(c['misconception'] == roots[0]['misconception'] for c in report['checks']
                   if c['consequence_of'])
        # every surface: the console's one headline, every JUnit failure at that method
        assert '1 bug(s) found' in result.stdout, result.stdout
        at = f'at {report["class_info"]["Value"]["name"]}.{want["bug"][1]} ('
        failures = ET.parse(tmp_path / 'junit.xml').getroot().findall('.//failure')
        assert failures and all(at in f.text for f in failures), [f.text[-200:] for f in failures]
        html = (tmp_path / 'report.html').read_text()
        fixes = html.split('What to fix', 1)[1].split('</ul>', 1)[0]
        assert fixes.count('<li') == 1 and want['bug'][1] in fixes, fixes
    for check_id, status in want.get('status', {}).items():
        assert checks[check_id]['status'] == status, checks[check_id]
    if not named:
        assert all(c['status'] in ('passed', 'skipped') for c in report['checks']
                   if c['required']), [c for c in report['checks'] if c['status'] == 'failed']
    for check_id, words in want.get('messages', {}).items():
        assert words in checks[check_id]['message'], checks[check_id]
    for words in want.get('warns', []):
        assert any(words in w for w in report['load_warnings']), report['load_warnings']
    leaks = [t for t in _texts(report) if GRADER_PATHS.search(t)]
    assert not leaks, leaks
    suites = ET.parse(tmp_path / 'junit.xml').getroot()
    cases = suites.findall('.//testcase')
    assert len(cases) == len(report['checks'])
    assert {c.get('classname') for c in cases} == {f'micrograde.{c["category"]}'
                                                    for c in report['checks']}
    validate_junit(tmp_path / 'junit.xml')
    gradescope = json.loads((tmp_path / 'results.json').read_text())
    validate_json(gradescope, 'gradescope-results.schema.json')


#: The grader's own folders: no message, warning or origin of a report may show one.
GRADER_PATHS = re.compile('|'.join(
    r'(?<![\w./-])' + re.escape(p) + r'(?![\w.-])' for p in sorted(
        {sys.prefix, sys.base_prefix, tempfile.gettempdir(), str(ROOT), '/scratch', '/submission',
         '/opt/micrograde', '/jobs'}, key=len, reverse=True)))


def _texts(report):
    yield from report['load_warnings']
    yield from report['classes'].values()
    yield report['output']
    for c in report['checks']:
        yield from (c['message'], c['diagnosis'], c['output'])


def test_lecture_engine_standard_profile_is_clean_and_reproducible(run_cli, tmp_path):
    reports = []
    for k in range(2):
        out = tmp_path / str(k)
        result = run_cli('grade', SUBMISSIONS / 'lecture_engine.py', '--out', out, '--seed', 7)
        assert result.returncode == 0, result.stdout
        report = json.loads((out / 'report.json').read_text())
        for c in report['checks']:
            c.pop('duration')
        report.pop('timings')
        report.pop('timestamp')  # when it ran: like the timings, not part of the grade
        reports.append(report)
    assert reports[0] == reports[1]
    assert reports[0]['isolation'] in ('bubblewrap', 'process')
    assert reports[0]['capabilities']['tanh'] == 'present'


def _grade_from(root, submission, out):
    """The report of ``submission`` graded by the grader checked out at ``root``."""
    env = dict(os.environ, PYTHONPATH=str(root))
    where = subprocess.run([sys.executable, '-c', 'import micrograde; print(micrograde.__file__)'],
                           cwd=root, env=env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(root)), where
    subprocess.run([sys.executable, '-m', 'micrograde.surfaces.cli', 'grade', str(submission), '--profile',
                    'quick', '--out', str(out)], cwd=root, env=env, capture_output=True,
                   timeout=300)
    report = json.loads((out / 'report.json').read_text())
    for c in report['checks']:
        c.pop('duration')
    for key in ('timings', 'timestamp', 'submission'):
        report.pop(key)
    return report


def test_a_set_order_engine_gets_the_same_report_from_another_checkout(tmp_path):
    """Same submission, seed and version, same report, wherever the grader and the submission
    live and whatever bytecode caches its tree holds: an engine that keeps children in a set
    walks them in an order set by memory addresses, so the worker's memory must not depend on
    them."""
    reports = []
    for name, cached in (('a', False), ('another-checkout-of-micrograde', True)):
        root = tmp_path / name
        # the installed layout: harness/ is the package micrograde, reference/ micrograde.reference
        for package, there in (('harness', 'micrograde'), ('reference', 'micrograde/reference')):
            shutil.copytree(ROOT / package, root / there, ignore=shutil.ignore_patterns('__pycache__'))
        if cached:
            compileall.compile_dir(root / 'micrograde' / 'worker', quiet=1)
        submission = root / 'submitted' / 'bug_overwrite_grad.py'
        submission.parent.mkdir()
        shutil.copyfile(SUBMISSIONS / 'bug_overwrite_grad.py', submission)
        reports.append(_grade_from(root, submission, tmp_path / f'{name}-out'))
    assert reports[0]['verdict'] == 'failed'
    assert reports[0] == reports[1]


def test_missing_ops_are_skipped_not_failed(run_cli, tmp_path):
    result = run_cli('grade', SUBMISSIONS / 'missing_ops.py', '--profile', 'quick', '--json',
                     tmp_path / 'r.json')
    report = json.loads((tmp_path / 'r.json').read_text())
    assert result.returncode == 0
    assert report['capabilities']['exp'] == 'absent'
    assert {c['id']: c['status'] for c in report['checks']}['ops.exp'] == 'skipped'
    listed = re.search(r'so not checked: (.*)$', result.stdout, re.M).group(1).split(', ')
    assert 'exp' in listed and 'add' not in listed and 'mul' not in listed


def test_an_engine_without_mul_still_has_its_other_ops_checked(run_cli, tmp_path):
    """Every per-op graph ends in ``* k``; without ``*`` the ops are checked on their own."""
    source = (SUBMISSIONS / 'missing_ops.py').read_text()
    start = source.index('    def __mul__')
    source = source[:start] + source[source.index('\n    def ', start + 10) + 1:]
    verdicts = {}
    for name, text in (('correct', source),
                       ('tanh_bug', source.replace('(1 - t**2) * out.grad', '(1 - t) * out.grad'))):
        (tmp_path / f'{name}.py').write_text(text)
        run_cli('grade', tmp_path / f'{name}.py', '--profile', 'quick', '--json',
                tmp_path / f'{name}.json')
        checks = json.loads((tmp_path / f'{name}.json').read_text())['checks']
        verdicts[name] = {c['id']: (c['status'], c['message']) for c in checks
                          if c['id'].startswith('ops.')}
    assert verdicts['correct']['ops.add'][0] == verdicts['correct']['ops.tanh'][0] == 'passed'
    assert 'no `*`' in verdicts['correct']['ops.tanh'][1]
    assert verdicts['tanh_bug']['ops.tanh'][0] == 'failed'
    assert verdicts['tanh_bug']['ops.add'][0] == 'passed'


def test_a_package_without_init_is_graded_by_every_route(run_cli, tmp_path):
    """``autograd/engine.py`` and ``autograd/nn.py`` (``from autograd.engine import Value``)
    with no ``__init__.py``: a namespace package, as learners' repositories often have."""
    import zipfile
    package = tmp_path / 'repo' / 'autograd'
    package.mkdir(parents=True)
    (package / 'engine.py').write_text((SUBMISSIONS / 'micrograd' / 'engine.py').read_text())
    (package / 'nn.py').write_text((SUBMISSIONS / 'micrograd' / 'nn.py').read_text()
                                   .replace('from micrograd.engine', 'from autograd.engine'))
    with zipfile.ZipFile(tmp_path / 'repo.zip', 'w') as z:
        for f in package.iterdir():
            z.write(f, f'repo/autograd/{f.name}')
    for k, route in enumerate((tmp_path / 'repo', package, tmp_path / 'repo.zip')):
        run_cli('grade', route, '--profile', 'quick', '--json', tmp_path / f'{k}.json')
        report = json.loads((tmp_path / f'{k}.json').read_text())
        status = {c['id']: c['status'] for c in report['checks']}
        assert report['verdict'] == 'passed' and status['mlp.build'] == 'passed', (route, status)
        assert report['classes']['Value'].endswith('autograd/engine.py, line 4'), report['classes']
        assert not [w for w in report['load_warnings'] if 'not installed' in w], route


@pytest.mark.parametrize('activation, architecture', [
    ('act.sigmoid()', 'sigmoid everywhere'),
    ('act.leaky_relu() if self.hidden else act', 'leaky relu (slope 0.01) hidden layers, linear head')])
def test_an_mlp_with_another_activation_is_recognised_not_failed(run_cli, tmp_path, activation,
                                                                 architecture):
    package = tmp_path / 'micrograd'
    shutil.copytree(SUBMISSIONS / 'micrograd', package)
    engine = (package / 'engine.py').read_text().replace('    def relu(self):', (
        '    def leaky_relu(self, alpha=0.01):\n'
        '        out = Value(self.data if self.data > 0 else alpha * self.data, (self,))\n'
        '        def _backward():\n'
        '            self.grad += (1.0 if self.data > 0 else alpha) * out.grad\n'
        '        out._backward = _backward\n'
        '        return out\n\n'
        '    def relu(self):'))
    (package / 'engine.py').write_text(engine)
    nn = (package / 'nn.py').read_text().replace('out = act.tanh()', f'out = {activation}')
    nn = nn.replace('class Layer', 'Neuron.hidden = True\n\n\nclass Layer')
    nn = nn.replace('for i in range(len(nouts))]', 'for i in range(len(nouts))]\n'
                    '        for n in self.layers[-1].neurons:\n            n.hidden = False')
    (package / 'nn.py').write_text(nn)
    run_cli('grade', package, '--profile', 'quick', '--json', tmp_path / 'r.json')
    checks = {c['id']: c for c in json.loads((tmp_path / 'r.json').read_text())['checks']}
    assert checks['mlp.forward']['status'] == 'passed', checks['mlp.forward']['message']
    assert checks['mlp.forward']['message'].endswith(architecture)


def test_a_reflected_op_that_assigns_its_gradient_fails_its_own_check_not_the_fuzz(run_cli,
                                                                                   tmp_path):
    engine = tmp_path / 'engine.py'
    engine.write_text((SUBMISSIONS / 'lecture_engine.py').read_text() + (
        '\n\ndef _rsub(self, other):\n'
        '    out = Value(other - self.data, (self,), "rsub")\n'
        '    def _backward():\n'
        '        self.grad = -out.grad  # `=` for `+=`\n'
        '    out._backward = _backward\n'
        '    return out\n\n\nValue.__rsub__ = _rsub\n'))
    run_cli('grade', engine, '--profile', 'quick', '--json', tmp_path / 'r.json')
    checks = {c['id']: c for c in json.loads((tmp_path / 'r.json').read_text())['checks']}
    assert checks['ops.rsub']['status'] == 'failed'
    assert 'assigned instead of accumulated' in checks['ops.rsub']['message']
    assert checks['fuzz.dags']['status'] == 'passed'


def test_a_wrong_rule_is_its_ops_finding_not_the_topological_orders(run_cli, tmp_path):
    """`=` for `+=` in `__add__` alone: the ops and the accumulation checks name it; the walk's
    order is right (each rule once, consumers first), so the topological check passes."""
    engine = tmp_path / 'engine.py'
    engine.write_text((SUBMISSIONS / 'lecture_engine.py').read_text().replace(
        '            self.grad += 1.0 * out.grad\n            other.grad += 1.0 * out.grad',
        '            self.grad = 1.0 * out.grad\n            other.grad = 1.0 * out.grad'))
    run_cli('grade', engine, '--profile', 'quick', '--json', tmp_path / 'r.json')
    status = {c['id']: c['status'] for c in json.loads((tmp_path / 'r.json').read_text())['checks']}
    assert status['ops.add'] == status['backward.accumulate'] == 'failed'
    assert status['backward.topological'] == status['backward.visits'] == 'passed'


STALE_VISITED = '''
class Value:
    """Each node walks on with its parent's visited set, cleared on the output only."""
    def __init__(self, data, _children=()):
        self.data, self.grad, self._prev, self._op, self.visited = data, 0.0, _children, "", set()

    def __add__(self, other):
        out = Value(self.data + other.data, (self, other)); out._op = "+"
        return out

    def __mul__(self, other):
        out = Value(self.data * other.data, (self, other)); out._op = "*"
        return out

    def _push(self):
        a, b = self._prev
        a.grad += self.grad * (1.0 if self._op == "+" else b.data)
        b.grad += self.grad * (1.0 if self._op == "+" else a.data)

    def trace_back(self, node):
        if node not in self.visited:
            self.visited.add(node)
            if node._prev:
                node._push()
                for child in node._prev:
                    node.trace_back(child)

    def backward(self):
        self.grad, self.visited = 1.0, set()
        self.trace_back(self)
'''


def test_a_second_backward_that_stops_below_the_output_is_caught(run_cli, tmp_path):
    (tmp_path / 'engine.py').write_text(STALE_VISITED)
    run_cli('grade', tmp_path / 'engine.py', '--profile', 'quick', '--json', tmp_path / 'r.json')
    checks = {c['id']: c for c in json.loads((tmp_path / 'r.json').read_text())['checks']}
    assert checks['ops.add']['status'] == checks['ops.mul']['status'] == 'passed'
    assert checks['backward.repeat']['status'] == 'failed'
    assert 'reached only part of the graph (a.grad, b.grad' in checks['backward.repeat']['message']


#: backward() as torch's: each pass propagates its own gradients, added to what the nodes held
TORCH_LIKE = ('        self.grad = 1.0\n        for node in reversed(topo):\n',
              '        held = [v.grad for v in topo]\n        for v in topo:\n            v.grad = 0.0\n'
              '        self.grad = 1.0\n        for node in reversed(topo):\n')
TORCH_LIKE_END = ('            node._backward()\n\n',
                  '            node._backward()\n        for v, g in zip(topo, held):\n'
                  '            v.grad += g\n\n')
#: every gradient zeroed before propagating, as real engines do: a second pass changes nothing
RESETS = ('        self.grad = 1.0\n        for node in reversed(topo):\n',
          '        for v in topo:\n            v.grad = 0.0\n'
          '        self.grad = 1.0\n        for node in reversed(topo):\n')


@pytest.mark.parametrize('edits, status', [((TORCH_LIKE, TORCH_LIKE_END), 'passed'),
                                           ((RESETS,), 'failed')])
def test_a_second_backward_is_judged_by_torchs_numbers(run_cli, tmp_path, edits, status):
    """torch doubles every gradient on a second pass; the lecture's micrograd compounds through
    the nodes below the output (both pass). A failure shows torch's numbers, computed here by
    torch, with micrograd's beside them."""
    torch = pytest.importorskip('torch')
    engine = (SUBMISSIONS / 'lecture_engine.py').read_text()
    for old, new in edits:
        assert engine.count(old) == 1
        engine = engine.replace(old, new)
    (tmp_path / 'engine.py').write_text(engine)
    run_cli('grade', tmp_path / 'engine.py', '--profile', 'quick', '--json', tmp_path / 'r.json')
    repeat = {c['id']: c for c in json.loads((tmp_path / 'r.json').read_text())['checks']}[
        'backward.repeat']
    assert repeat['status'] == status, repeat['message']
    if status == 'passed':
        assert 'as in torch' in repeat['message']
        return
    leaves = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in (1.5, -0.5, 2.0, 0.75)]
    a, b, c, d = leaves
    out = (a + b) * c * d
    out.backward(retain_graph=True)
    out.backward()
    expected = repeat['counterexample']['expected']
    assert [float(expected[f'{n}.grad'].split()[0]) for n in 'abcd'] == [x.grad.item() for x in leaves]
    assert expected['a.grad'] == '3.0 (torch; micrograd: 6.0)' and expected['d.grad'] == '4.0'
    assert 'torch and micrograd both add to the gradients again' in repeat['message']


def test_a_topological_sort_that_follows_every_path_is_named_at_once(run_cli, tmp_path):
    """Each _backward runs once, but the sort recurses before it checks `visited`: exponential
    in the diamonds, which the small ladder's operand walks show (the full ladder would only
    run into the time limit)."""
    source = (SUBMISSIONS / 'lecture_engine.py').read_text()
    engine = tmp_path / 'engine.py'
    engine.write_text(source.replace(
        '            if v not in visited:\n                visited.add(v)\n'
        '                for child in v._prev:\n                    build_topo(child)\n'
        '                topo.append(v)\n',
        '            for child in v._prev:\n                build_topo(child)\n'
        '            if v not in visited:\n                visited.add(v)\n'
        '                topo.append(v)\n'))
    assert engine.read_text() != source
    run_cli('grade', engine, '--profile', 'quick', '--json', tmp_path / 'r.json')
    report = json.loads((tmp_path / 'r.json').read_text())
    checks = {c['id']: c for c in report['checks']}
    ladder = checks['robustness.diamond_ladder']
    assert ladder['status'] == 'failed' and 'follows every path' in ladder['message']
    assert checks['backward.visits']['status'] == 'passed'


def test_methods_indented_into_init_are_pointed_out_and_backward_is_absent(run_cli, tmp_path):
    source = (SUBMISSIONS / 'lecture_engine.py').read_text()
    head, init, rest = source.partition('    def __init__')
    body, _, methods = rest.partition('\n\n    def ')
    indented = '\n'.join('    ' + line if line else line for line in ('    def ' + methods).split('\n'))
    (tmp_path / 'engine.py').write_text(head + init + body + '\n\n' + indented)
    run_cli('grade', tmp_path / 'engine.py', '--profile', 'quick', '--json', tmp_path / 'r.json')
    report = json.loads((tmp_path / 'r.json').read_text())
    assert any('__init__ defines __add__, __mul__' in w and 'indented one level too deep' in w
               for w in report['load_warnings']), report['load_warnings']
    assert report['capabilities']['backward'] == 'absent'
    assert {c['id']: c['status'] for c in report['checks']}['backward.walk'] == 'failed'


def test_a_visited_flag_is_named_even_when_another_rule_is_wrong(run_cli, tmp_path):
    """A flag kept on the nodes stops the second backward(); exp's rule is wrong too, but the
    repeat graph's own ops (+, *) accumulate, so `=` is not the reason."""
    source = (SUBMISSIONS / 'lecture_engine.py').read_text()
    engine = source.replace('            if v not in visited:\n                visited.add(v)\n',
                            '            if not getattr(v, "_seen", False):\n'
                            '                v._seen = True\n')
    engine = engine.replace('self.grad += out.data * out.grad', 'self.grad += out.grad', 1)
    assert engine.count('_seen') == 2 and 'self.grad += out.data * out.grad' not in engine
    (tmp_path / 'engine.py').write_text(engine)
    run_cli('grade', tmp_path / 'engine.py', '--profile', 'quick', '--json', tmp_path / 'r.json')
    checks = {c['id']: c for c in json.loads((tmp_path / 'r.json').read_text())['checks']}
    assert checks['ops.exp']['status'] == checks['backward.repeat']['status'] == 'failed'
    assert '"visited" flag' in checks['backward.repeat']['message']
    assert 'assigned' not in checks['backward.repeat']['message']


def test_required_op_from_rubric_fails_when_absent(run_cli, tmp_path):
    rubric = tmp_path / 'rubric.toml'
    rubric.write_text('required_ops = ["add", "mul", "backward", "exp"]\n')
    result = run_cli('grade', SUBMISSIONS / 'missing_ops.py', '--profile', 'quick', '--rubric',
                     rubric, '--json', tmp_path / 'r.json')
    assert result.returncode == 1
    checks = {c['id']: c for c in json.loads((tmp_path / 'r.json').read_text())['checks']}
    assert checks['capability.exp']['status'] == 'failed'


def test_a_required_op_that_is_absent_is_one_finding(run_cli, tmp_path):
    """capability.exp says exp is not implemented; ops.exp, failing for that same reason, is
    listed under it (it was a second "exp is not implemented" finding)."""
    rubric = tmp_path / 'rubric.toml'
    rubric.write_text('required_ops = ["add", "mul", "backward", "exp"]\n')
    result = run_cli('grade', SUBMISSIONS / 'missing_ops.py', '--profile', 'quick', '--rubric',
                     rubric, '--json', tmp_path / 'r.json', '--no-color')
    checks = {c['id']: c for c in json.loads((tmp_path / 'r.json').read_text())['checks']}
    assert checks['capability.exp']['misconception']['code'] == 'missing_op'
    assert checks['ops.exp']['status'] == 'failed'
    assert checks['ops.exp']['consequence_of'] == 'capability.exp'
    assert '1 bug(s) found' in result.stdout, result.stdout


def test_usage_errors_exit_2(run_cli):
    assert run_cli('grade').returncode == 2
    assert run_cli('grade', 'x.py', '--profile', 'nope').returncode == 2


@pytest.mark.parametrize('given, said', [
    ('Value=1x', "'1x' is not a Python class name"),
    ('Value=Scalar Value', "'Scalar Value' is not a Python class name"),
    ('value=Scalar', "'value' is not a role: the roles are Value, Neuron, Layer, MLP"),
    ('Scalar', 'expected ROLE=NAME'),
    ('Value=', 'expected ROLE=NAME')])
def test_a_class_option_says_which_half_is_wrong(run_cli, given, said):
    """``--class Value=1x`` said "expected ROLE=NAME with ROLE one of Value, ..." where ROLE was
    right and the name was not one a class can have."""
    result = run_cli('grade', 'x.py', '--class', given)
    assert result.returncode == 2 and said in result.stderr, result.stderr


def test_installed_third_party_engine_is_graded_like_a_student(run_cli, tmp_path):
    result = run_cli('grade', '--module', 'micrograd', '--profile', 'quick', '--json',
                     tmp_path / 'r.json')
    report = json.loads((tmp_path / 'r.json').read_text())
    assert result.returncode == 0, result.stdout
    assert report['verdict'] == 'passed'
    assert report['capabilities']['relu'] == 'present' and report['capabilities']['tanh'] == 'absent'


def test_an_installed_engine_reads_as_the_same_folder_handed_in(tmp_path):
    """``--module NAME`` is graded as the folder of that package would be: its classes at
    ``pkg/engine.py, line N`` and a finding at the method that holds it.  An installed engine's
    classes read ``micrograd.engine (engine.py)``, its report listed no methods, and so no
    finding said where it was (the folder's said ``at Value.__add__ (pkg/engine.py:18)``)."""
    import micrograd
    package = tmp_path / 'site' / 'bugpkg'
    shutil.copytree(os.path.dirname(micrograd.__file__), package,
                    ignore=shutil.ignore_patterns('__pycache__'))
    for module in package.glob('*.py'):
        module.write_text(module.read_text().replace('from micrograd', 'from bugpkg'))
    engine = package / 'engine.py'
    source = engine.read_text()
    assert 'self.grad += out.grad' in source
    engine.write_text(source.replace('self.grad += out.grad', 'self.grad = out.grad', 1))
    env = dict(os.environ, PYTHONPATH=str(tmp_path / 'site'))
    reports = {}
    for how, given in (('module', ['--module', 'bugpkg']), ('folder', ['bugpkg'])):
        out = tmp_path / how
        result = subprocess.run([sys.executable, '-m', 'micrograde.surfaces.cli', 'grade', *given,
                                 '--profile', 'quick', '--out', str(out), '--no-color'],
                                cwd=package.parent, env=env, capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 1, result.stdout + result.stderr
        reports[how] = json.loads((out / 'report.json').read_text())
        failures = ET.parse(out / 'junit.xml').getroot().findall('.//failure')
        assert failures and all('at Value.__add__ (bugpkg/engine.py:' in f.text
                                for f in failures), [f.text[-300:] for f in failures]
    module, folder = reports['module'], reports['folder']
    line = source.splitlines().index('class Value:') + 1
    assert module['classes']['Value'] == folder['classes']['Value'] == \
        f'bugpkg/engine.py, line {line}'
    assert module['methods'] == folder['methods'] and module['methods']['__add__']['file'] == \
        'bugpkg/engine.py'
    assert (module['score'], module['verdict']) == (folder['score'], folder['verdict'])
    assert [(c['id'], c['status'], c['message'], c['misconception']) for c in module['checks']] \
        == [(c['id'], c['status'], c['message'], c['misconception']) for c in folder['checks']]


def test_our_own_packages_are_not_importable_by_a_submission(run_cli, tmp_path):
    result = run_cli('grade', '--module', 'micrograde', '--profile', 'quick', '--json', tmp_path / 'r.json')
    report = json.loads((tmp_path / 'r.json').read_text())
    assert result.returncode == 1 and 'no installed module' in report['checks'][0]['message']


def test_zip_of_a_package_is_graded(run_cli, tmp_path):
    import shutil
    archive = shutil.make_archive(str(tmp_path / 'sub'), 'zip', SUBMISSIONS, 'micrograd')
    result = run_cli('grade', archive, '--profile', 'quick', '--json', tmp_path / 'r.json')
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize('name, mutation, op, alias', [
    ('renamed_class.py', ('(1 - t**2) * out.grad', '(1 - t) * out.grad'), 'tanh', 'Scalar'),
    ('number_in_value.py', ('self.gradient += out.value * out.gradient',
                            'self.gradient += out.value'), 'exp', 'Scalar'),
])
def test_counterexamples_run_pasted_under_the_learners_code(run_cli, tmp_path, name, mutation,
                                                            op, alias):
    """A class graded as the Value under another name, or keeping its number and gradient
    under other names: every snippet says so, and run after the learner's file it prints what
    the report says the engine gave."""
    source = (SUBMISSIONS / name).read_text()
    buggy = source.replace(*mutation, 1)
    assert buggy != source
    engine = tmp_path / 'engine.py'
    engine.write_text(buggy)
    result = run_cli('grade', engine, '--profile', 'quick', '--json', tmp_path / 'r.json')
    assert result.returncode == 1
    report = json.loads((tmp_path / 'r.json').read_text())
    check = next(c for c in report['checks'] if c['id'] == f'ops.{op}')
    code = check['counterexample']['code']
    assert code.startswith(f'Value = {alias}  #')
    printed = subprocess.run([sys.executable, '-c', buggy + '\n' + code], capture_output=True,
                             text=True, timeout=60)
    assert printed.returncode == 0, printed.stderr
    shown = re.search(r'print\((.*)\)\n$', code).group(1).split(', ')
    got = check['counterexample']['actual']
    attributes = report['class_info']['Value'].get('attributes', {})
    labels = [re.sub(r'\.(\w+)$', lambda m: '.' + next(
        (k for k, v in attributes.items() if v == m.group(1)), m.group(1)), s) for s in shown]
    assert [float(f'{float(x):.12g}') for x in printed.stdout.split()[-len(shown):]] == \
        [float(got[label]) for label in labels]  # the report shows 12 significant digits
    assert f'at {alias}.' in result.stdout and 'at Value.' not in result.stdout


@pytest.mark.parametrize('mutation, check_id', [
    (('(1 - t**2) * out.grad', '(1 - t) * out.grad'), 'mlp.gradients'),
    (('out = act.tanh()', 'out = (act * 0.5).tanh()'), 'mlp.forward')])
def test_mlp_counterexamples_run_with_the_reference_weights(run_cli, tmp_path, mutation, check_id):
    """The network's snippets copy the reference weights in, so pasted under the learner's code
    they print what the report says the network gave."""
    source = (SUBMISSIONS / 'lecture_engine.py').read_text()
    buggy = source.replace(*mutation, 1)
    assert buggy != source
    (tmp_path / 'engine.py').write_text(buggy)
    run_cli('grade', tmp_path / 'engine.py', '--profile', 'quick', '--json', tmp_path / 'r.json')
    check = next(c for c in json.loads((tmp_path / 'r.json').read_text())['checks']
                 if c['id'] == check_id)
    assert check['status'] == 'failed'
    printed = subprocess.run([sys.executable, '-c', buggy + '\n' + check['counterexample']['code']],
                             capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0, printed.stderr
    numbers = re.findall(r'-?\d+\.\d+(?:e-?\d+)?', printed.stdout)
    got = re.findall(r'-?\d+\.\d+(?:e-?\d+)?', ', '.join(check['counterexample']['actual'].values()))
    assert [float(f'{float(x):.12g}') for x in numbers] == [float(x) for x in got]


@pytest.mark.parametrize('scale, status, message', [
    ('', 'passed', 'along 3 random directions'),  # the differences agree along each direction
    # off by a relative 1e-6: within the per-parameter tolerance (1e-5), not along a direction's
    # (1e-8): the per-parameter differences decide, as without the directions
    (' * (1 + 1e-6)', 'passed', 'all 41 parameter gradients match'),
    (' * (1 + 1e-3)', 'failed', 'parameter gradients disagree with finite differences')])
def test_network_gradients_are_decided_per_parameter_where_a_direction_disagrees(
        run_cli, tmp_path, scale, status, message):
    source = (SUBMISSIONS / 'lecture_engine.py').read_text()
    line = 'self.grad += (1 - t**2) * out.grad'
    assert line in source
    (tmp_path / 'engine.py').write_text(source.replace(line, line + scale))
    run_cli('grade', tmp_path / 'engine.py', '--profile', 'quick', '--json', tmp_path / 'r.json')
    check = next(c for c in json.loads((tmp_path / 'r.json').read_text())['checks']
                 if c['id'] == 'mlp.gradients')
    assert (check['status'], message in check['message']) == (status, True), check['message']


def test_an_operator_the_value_lacks_is_one_bug_wherever_the_network_uses_it(run_cli, tmp_path):
    """A notebook ending with the exercises' starter Value (no __mul__): the network's four
    checks failed on `wi*xi` inside sum()'s generator expression, which names no function, so
    they were four more bugs beside 'mul is not implemented' (notebooks6: gg2001/nn-zero-to-hero)."""
    result = run_cli('grade', SUBMISSIONS / 'nb_value_redefined_by_exercise.ipynb', '--profile',
                     'quick', '--json', tmp_path / 'r.json', '--no-color')
    checks = {c['id']: c for c in json.loads((tmp_path / 'r.json').read_text())['checks']}
    assert [checks[i]['consequence_of'] for i in ('mlp.forward', 'mlp.gradients', 'mlp.step',
                                                   'mlp.zero_grad')] == ['capability.mul'] * 4
    assert '1 bug(s) found' in result.stdout, result.stdout


MATRIX_MLP = '''
import numpy as np


class MLP:
    """A matrix network: one Value per weight matrix and bias row, not one per number."""

    def __init__(self, nin, nouts):
        sizes = [nin] + list(nouts)
        self.W = [Value(np.zeros((a, b))) for a, b in zip(sizes, sizes[1:])]
        self.b = [Value(np.zeros((1, b))) for b in nouts]

    def parameters(self):
        return self.W + self.b

    def __call__(self, x):
        raise TypeError('give me a matrix of samples')
'''


def test_a_matrix_network_is_another_interface_not_a_wrong_count(run_cli, tmp_path):
    engine = tmp_path / 'matrix_engine.py'
    engine.write_text((SUBMISSIONS / 'lecture_engine.py').read_text() + MATRIX_MLP)
    result = run_cli('grade', engine, '--profile', 'quick', '--json', tmp_path / 'r.json')
    report = json.loads((tmp_path / 'r.json').read_text())
    build = next(c for c in report['checks'] if c['id'] == 'mlp.build')
    assert result.returncode == 0, result.stdout
    assert build['status'] == 'skipped' and 'matrix network' in build['message']


@pytest.mark.parametrize('mutation, op', [
    (('t = (math.exp(2*x) - 1)/(math.exp(2*x) + 1)', 't = (exp(2*x) - 1)/(exp(2*x) + 1)'), 'tanh'),
    (('self.grad += out.data * out.grad', 'self.grad += outt.data * out.grad'), 'exp'),
])
def test_one_broken_op_is_one_finding(run_cli, tmp_path, mutation, op):
    """An op that raises (in its forward, or in its own local rule) fails its own check; the
    walks and the random graphs set aside the graphs that stop inside it, instead of charging
    the learner's correct backward() with it."""
    source = (SUBMISSIONS / 'lecture_engine.py').read_text()
    engine = tmp_path / 'engine.py'
    engine.write_text(source.replace(*mutation))
    assert engine.read_text() != source
    run_cli('grade', engine, '--profile', 'quick', '--json', tmp_path / 'r.json')
    checks = {c['id']: c for c in json.loads((tmp_path / 'r.json').read_text())['checks']}
    assert checks[f'ops.{op}']['status'] == 'failed'
    for walk in ('backward.seed', 'backward.accumulate', 'backward.topological',
                 'backward.visits'):
        assert checks[walk]['status'] == 'passed', checks[walk]
    assert checks['fuzz.dags']['status'] == 'passed'
    assert f'ops.{op}): left to those checks' in checks['fuzz.dags']['message']


def test_a_rule_stored_on_the_operand_is_named_under_its_op(run_cli, tmp_path):
    """``self._backward = _backward`` in exp: harmless on a leaf, it replaces a computed
    operand's own rule, which the op's check on ``(a * b).exp()`` shows and names."""
    source = (SUBMISSIONS / 'lecture_engine.py').read_text()
    exp = source.index('    def exp(self):')
    end = source.index('return out', exp)
    buggy = source[:exp] + source[exp:end].replace('out._backward = _backward',
                                                   'self._backward = _backward') + source[end:]
    assert buggy != source
    engine = tmp_path / 'engine.py'
    engine.write_text(buggy)
    run_cli('grade', engine, '--profile', 'quick', '--json', tmp_path / 'r.json')
    checks = {c['id']: c for c in json.loads((tmp_path / 'r.json').read_text())['checks']}
    assert checks['ops.exp']['status'] == 'failed'
    assert "exp's backward is stored on its operand" in checks['ops.exp']['diagnosis']
    assert checks['ops.tanh']['status'] == 'passed'


def test_an_op_that_returns_a_number_is_told_so(run_cli, tmp_path):
    source = (SUBMISSIONS / 'lecture_engine.py').read_text()
    engine = tmp_path / 'engine.py'
    engine.write_text(source.replace('        return self * -1', '        return -self.data', 1))
    assert engine.read_text() != source
    run_cli('grade', engine, '--profile', 'quick', '--json', tmp_path / 'r.json')
    checks = {c['id']: c for c in json.loads((tmp_path / 'r.json').read_text())['checks']}
    assert checks['ops.neg']['status'] == 'failed'
    assert 'the op returned float -1.25, not a Value' in checks['ops.neg']['message']


OTHER_CONSTRUCTOR = '''

class MLP(MLP):
    """Built from one list of layer sizes; MLP(3, [4, 4, 1]) binds 3 to it and then breaks."""

    def __init__(self, structure, final_layer_softmax=True):
        super().__init__(structure[0], structure[1:])
'''


def test_a_constructor_of_another_shape_is_another_interface(run_cli, tmp_path):
    engine = tmp_path / 'engine.py'
    engine.write_text((SUBMISSIONS / 'lecture_engine.py').read_text() + OTHER_CONSTRUCTOR)
    result = run_cli('grade', engine, '--profile', 'quick', '--json', tmp_path / 'r.json')
    build = next(c for c in json.loads((tmp_path / 'r.json').read_text())['checks']
                 if c['id'] == 'mlp.build')
    assert result.returncode == 0, result.stdout
    assert build['status'] == 'skipped' and "not the lecture's MLP(nin, nouts)" in build['message']


def test_profile_help_says_what_each_profile_does():
    """``--help`` tells quick from standard from thorough: what each runs, and the search."""
    from click.testing import CliRunner
    from micrograde.surfaces.cli import main
    for command in ('grade', 'batch'):
        text = ' '.join(CliRunner().invoke(main, [command, '--help']).output.split())
        assert 'quick: 60 random graphs of up to 6 nodes' in text
        assert 'standard: 200 random graphs of up to 8 nodes' in text
        assert 'thorough: 1000 random graphs' in text
        assert 'a Hypothesis search of 300 graphs from boundary inputs' in text


def test_time_limit_help_says_what_a_report_then_says():
    """``--check-timeout`` said a graph past it makes "its check fail", and seconds of the wall
    clock: the report says the graph was "not answered" and its check "could not finish" (not
    wrong), the limit is of CPU (a busy host gives more), and three such stop the grading."""
    from click.testing import CliRunner
    from micrograde.surfaces.cli import main
    for command in ('grade', 'batch'):
        text = ' '.join(CliRunner().invoke(main, [command, '--help']).output.split())
        check = text.split('--check-timeout', 1)[1].split('--grade-timeout', 1)[0]
        grade = text.split('--grade-timeout', 1)[1].split('--memory-limit', 1)[0]
        assert 'Seconds of a whole CPU' in check and 'not answered' in check, check
        assert 'could not finish' in check and 'after three such' in check, check
        assert 'could not finish' in grade and 'not run' in grade, grade
        assert 'fails.' not in check, check


@pytest.mark.parametrize('command', ['grade', 'batch'])
def test_a_closed_stdout_loses_no_report_nor_exit_status(command, tmp_path):
    """Run with its standard output closed (``>&-``: Python's ``sys.stdout`` is ``None``), the
    program still writes every report and exits with the grade's status, not a traceback's 1
    (the fast exit flushed ``None``; ``grade`` asked ``None`` whether it is a terminal)."""
    out = tmp_path / 'out'
    argv = [sys.executable, '-m', 'micrograde.surfaces.cli', command,
            str(SUBMISSIONS / 'lecture_engine.py'), '--profile', 'quick', '--out', str(out)]
    result = subprocess.run(['sh', '-c', 'exec "$@" >&-', 'sh', *argv], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0 and 'Traceback' not in result.stderr, result.stderr
    reports = list(out.glob('**/report.json'))
    assert [json.loads(p.read_text())['verdict'] for p in reports] == ['passed']


def test_a_report_path_that_cannot_be_written_is_a_usage_error_after_the_grade(run_cli, tmp_path):
    """``--out``, a format's own path or ``--github-output`` where nothing can be written (a file
    where a folder must be) was a traceback through the writer (its temporary file's name, the
    grader's own source paths) and no other report. Now the grade is shown, every report that can
    be written is, each one that cannot is named as given with why, and the exit is 2."""
    (tmp_path / 'blocker').write_text('a file, not a folder')
    blocked = tmp_path / 'blocker'
    result = run_cli('grade', SUBMISSIONS / 'bug_overwrite_grad.py', '--profile', 'quick',
                     '--out', blocked / 'reports', '--junit', blocked / 'junit.xml',
                     '--json', tmp_path / 'report.json', '--github-output', blocked / 'output',
                     '--no-color')
    assert result.returncode == 2, result.stdout + result.stderr
    assert 'Traceback' not in result.stderr and str(ROOT / 'harness') not in result.stderr, result.stderr
    report = json.loads((tmp_path / 'report.json').read_text())
    assert f'score {report["score"]:g} / {report["max_score"]:g}' in result.stdout
    assert f'wrote {tmp_path / "report.json"}' in result.stdout
    for path in (blocked / 'reports' / 'junit.xml', blocked / 'reports' / 'report.html',
                 blocked / 'junit.xml', blocked / 'output'):
        assert f'Error: cannot write {path}: Not a directory' in result.stderr, result.stderr
    assert '.junit.xml.' not in result.stderr  # never the writer's temporary file


def test_a_batch_whose_out_cannot_be_written_is_refused_before_grading(run_cli, tmp_path):
    (tmp_path / 'blocker').write_text('a file, not a folder')
    result = run_cli('batch', SUBMISSIONS / 'lecture_engine.py', '--profile', 'quick',
                     '--out', tmp_path / 'blocker' / 'out')
    assert result.returncode == 2, result.stdout + result.stderr
    assert 'Traceback' not in result.stderr and 'grading' not in result.stderr, result.stderr
    assert f'cannot write {tmp_path / "blocker" / "out"}: Not a directory' in result.stderr


@pytest.mark.parametrize('option, value', [('--load-timeout', '-1'), ('--load-timeout', 'inf'),
                                           ('--check-timeout', '0'), ('--cell-timeout', 'nan'),
                                           ('--grade-timeout', '-5'), ('--memory-limit', '0'),
                                           ('--memory-limit', '30')])
@pytest.mark.parametrize('command', ['grade', 'batch'])
def test_a_limit_no_grading_can_keep_is_a_usage_error_not_a_failed_grade(run_cli, tmp_path, command,
                                                                         option, value):
    """A time limit of 0, below 0, nan or inf, or less memory than a worker needs to start (30 MB:
    'loading failed: the worker exited with code 1'), failed every submission, a correct one too
    ('loading timed out after -1 s', score 0, exit 1), and inf was a traceback through the
    grader's own files (the clock overflowed). Now it is a usage error."""
    out = ['--json', tmp_path / 'r.json'] if command == 'grade' else ['--out', tmp_path / 'out']
    result = run_cli(command, SUBMISSIONS / 'lecture_engine.py', '--profile', 'quick', option, value, *out)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"Invalid value for '{option}'" in result.stderr, result.stderr
    assert 'Traceback' not in result.stderr + result.stdout and str(ROOT) not in result.stderr
    assert not (tmp_path / 'r.json').exists() and not list(tmp_path.glob('out/*/report.json'))


@pytest.mark.parametrize('option', ['--json', '--junit', '--html', '--github-output'])
def test_a_report_path_that_is_the_submission_is_refused_and_the_code_kept(run_cli, tmp_path, option):
    """``micrograde grade engine.py --json engine.py`` replaced the learner's engine with its own
    report (and said 'wrote engine.py'). Now a usage error before grading; the file is untouched."""
    engine = tmp_path / 'engine.py'
    shutil.copy(SUBMISSIONS / 'lecture_engine.py', engine)
    result = run_cli('grade', engine, '--profile', 'quick', option, tmp_path / '.' / 'engine.py')
    assert result.returncode == 2, result.stdout + result.stderr
    assert 'is the submission: the report would replace it' in result.stderr
    assert engine.read_bytes() == (SUBMISSIONS / 'lecture_engine.py').read_bytes()


@pytest.mark.parametrize('options, said', [
    (('--json', '{t}/same', '--junit', '{t}/same'), '--junit and --json both name'),
    (('--out', '{t}/out', '--json', '{t}/out/./results.json'), '--out and --json both name'),
    (('--html', '{t}/x', '--github-output', '{t}/x'), '--html and --github-output both name')])
def test_two_reports_to_one_file_is_a_usage_error_before_grading(run_cli, tmp_path, options, said):
    """``--json same --junit same`` said 'wrote same' twice and kept the JSON alone: the JUnit
    report a CI was told to read was gone, silently (``--out DIR --json DIR/results.json``
    replaced Gradescope's file; ``--github-output`` appended its lines to a report). Now a
    usage error before grading naming both options; one format asked twice stays fine."""
    engine = tmp_path / 'engine.py'
    shutil.copy(SUBMISSIONS / 'lecture_engine.py', engine)
    args = [a.format(t=tmp_path) for a in options]
    result = run_cli('grade', engine, '--profile', 'quick', *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert said in result.stderr and 'one would replace the other' in result.stderr
    assert 'Traceback' not in result.stderr and not (tmp_path / 'same').exists()
    fine = run_cli('grade', engine, '--profile', 'quick', '--out', tmp_path / 'o',
                   '--json', tmp_path / 'o' / 'report.json')
    assert fine.returncode == 0, fine.stdout + fine.stderr


def test_a_batch_of_nothing_gradable_is_a_usage_error_that_says_so(run_cli, tmp_path):
    """A folder with nothing to grade (empty, or a README only): '0 graded: 0 passed, 0 failed',
    exit 0, a gradebook of no one, as if the class had handed nothing in. Now a usage error
    naming the folder and what was skipped in it; nothing is written."""
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'notes').mkdir()
    (tmp_path / 'notes' / 'README.txt').write_text('hand in engine.py')
    for folder, said in (('empty', ''), ('notes', 'README.txt')):
        result = run_cli('batch', tmp_path / folder, '--out', tmp_path / f'out-{folder}')
        assert result.returncode == 2, result.stdout + result.stderr
        assert f'nothing to grade in {tmp_path / folder}' in result.stderr and said in result.stderr
        assert 'Traceback' not in result.stderr
        assert not (tmp_path / f'out-{folder}' / 'gradebook.csv').exists()


def test_one_seed_gives_one_report_for_an_engine_drawing_numpys_random_numbers(tmp_path):
    """A notebook that initialises its network with ``np.random`` and prints its training loss
    as it loads (k9ts/ai_fun's) got another report.json (the load check's output) from every
    ``grade`` at the same seed: numpy's generator was not seeded as ``random`` is.  ``batch``
    prints the same: there numpy is imported before the submission loads, seeded at once."""
    from conftest import micrograde, one_grade
    source = (SUBMISSIONS / 'lecture_engine.py').read_text() + (
        '\nimport numpy as np\nprint("initial weights", np.random.uniform(-1, 1, 3))\n')
    (tmp_path / 'engine.py').write_text(source)
    reports = []
    for k in range(2):
        done = micrograde('grade', tmp_path / 'engine.py', '--profile', 'quick', '--json',
                          tmp_path / f'{k}.json')
        assert done.returncode == 0, done.stdout + done.stderr
        reports.append(one_grade(json.loads((tmp_path / f'{k}.json').read_text())))
    done = micrograde('batch', tmp_path / 'engine.py', '--profile', 'quick', '--out',
                      tmp_path / 'batch', '-j', '1')  # a worker forked from the warm template,
    assert done.returncode == 0, done.stdout + done.stderr  # numpy imported before it loads
    reports.append(one_grade(json.loads((tmp_path / 'batch' / 'engine.py' / 'report.json')
                                        .read_text())))
    said = [next(c['output'] for c in r['checks'] if c['id'] == 'load') for r in reports]
    assert all('initial weights' in s for s in said), said
    assert reports[0] == reports[1] and said[0] == said[2], said
