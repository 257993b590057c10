"""Edge and hostile inputs, through real grades, read as each consumer reads them: a rubric's
points no report can hold, points that would make the Classroom runner endless."""
import importlib.util
import json
import math
from pathlib import Path

import pytest

import actions
from conftest import SUBMISSIONS, micrograde, validate_json
from test_reports import workflow_env, workflow_inputs

pytest_plugins = ['pytester']
from micrograde.reporters.classroom import MAX_TESTS


@pytest.mark.parametrize('points', ['ops = nan', 'ops = inf', 'ops = -1', 'ops = 1e308\nfuzz = 1e308'])
def test_a_rubric_whose_points_no_report_can_hold_is_refused_clearly(tmp_path, points):
    """TOML has nan and inf; a negative or overflowing total is no score either: a usage error
    naming the rubric, never a traceback after grading."""
    rubric = tmp_path / 'rubric.toml'
    rubric.write_text(f'[points]\n{points}\n')
    done = micrograde('grade', SUBMISSIONS / 'bug_overwrite_grad.py', '--rubric', rubric,
                      '--out', tmp_path / 'out', timeout=60)
    assert done.returncode == 2 and 'Traceback' not in done.stderr, done.stderr[-2000:]
    assert '--rubric' in done.stderr and ('points' in done.stderr), done.stderr
    assert not (tmp_path / 'out').exists()


@pytest.mark.parametrize('points', ['ops = 0.3333333333333333', 'ops = 0.001\nfuzz = 1000'])
def test_classroom_lists_a_bounded_number_of_tests_whatever_the_points(tmp_path, points):
    """One test per rubric point needs a common unit; a third of a point (or 0.001 beside 1000)
    made 10^16 (or a million) tests: the grade never ended. Past ``MAX_TESTS`` each check is one
    test worth its points, and the points posted are still the score."""
    rubric = tmp_path / 'rubric.toml'
    rubric.write_text(f'[points]\n{points}\n')
    done = micrograde('grade', SUBMISSIONS / 'bug_overwrite_grad.py', '--rubric', rubric,
                      '--profile', 'quick', '--out', tmp_path, timeout=120)
    assert done.returncode == 1 and 'Traceback' not in done.stderr, done.stderr[-2000:]
    report = json.loads((tmp_path / 'report.json').read_text())
    run = json.loads((tmp_path / 'classroom.json').read_text())
    validate_json(run, 'classroom-result.schema.json')
    assert 0 < len(run['tests']) <= MAX_TESTS
    assert math.isclose(sum(t['score'] for t in run['tests']), report['score'])
    assert run['max_score'] == report['max_score'] and run['status'] == 'fail'


@pytest.mark.parametrize('name', ['lecture_engine.py', 'bug_overwrite_grad.py', 'bug_mlp_ignores_bias.py',
                                  'dataclass_rule_object.py'])
def test_the_self_check_says_what_the_grade_says(tmp_path, name):
    """One grade: the notebook self-check (the learner's classes, in this process) gives each
    check the status, points and words ``micrograde grade`` gives it with the same profile and
    seed, where the Value is and where the learner's code raised included."""
    from micrograde.surfaces.selfcheck import check
    done = micrograde('grade', SUBMISSIONS / name, '--profile', 'quick', '--json', tmp_path / 'r.json')
    assert done.returncode in (0, 1), done.stderr[-2000:]
    graded = json.loads((tmp_path / 'r.json').read_text())
    spec = importlib.util.spec_from_file_location(Path(name).stem, SUBMISSIONS / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    classes = {role: getattr(module, role) for role in ('Neuron', 'Layer', 'MLP') if hasattr(module, role)}
    mine = check(module.Value, **classes).report.to_dict()
    said = ('id', 'status', 'score', 'max_score', 'message', 'diagnosis', 'consequence_of')
    assert [[c[k] for k in said] for c in mine['checks']] == [[c[k] for k in said] for c in graded['checks']]
    assert mine['classes'] == graded['classes'] and mine['score'] == graded['score']


@pytest.mark.parametrize('rubric', [
    'advisory = ["load", "capability", "ops", "backward", "fuzz", "mlp", "robustness"]',
    '[points]\nload = 0\ncapability = 0\nops = 0\nbackward = 0\nfuzz = 0\nmlp = 0\nrobustness = 0'])
def test_a_rubric_worth_no_points_reads_as_such_in_classroom(tmp_path, workspace_of, rubric):
    """Classroom's reporter under Node, as the shipped workflow runs it: with no check worth
    points, its table printed the points runner's score as NaN (an empty runner: 0 / 0 tests)."""
    if actions.missing(actions.CLASSROOM):
        pytest.skip(actions.missing(actions.CLASSROOM))
    (tmp_path / 'rubric.toml').write_text(rubric + '\n')
    done = micrograde('grade', SUBMISSIONS / 'bug_overwrite_grad.py', '--rubric', tmp_path / 'rubric.toml',
                      '--profile', 'quick', '--github-output', tmp_path / 'out')
    assert 'Traceback' not in done.stderr, done.stderr[-2000:]
    outputs = dict(line.split('=', 1) for line in (tmp_path / 'out').read_text().splitlines())
    uses = 'classroom-resources/autograding-grading-reporter'
    out, _, _ = actions.run(actions.CLASSROOM, workspace_of, workflow_inputs(uses),
                            {var: outputs[name] for var, name in workflow_env(uses).items()})
    assert 'NaN' not in out and 'no check is worth points' in out, out[-2000:]
    assert ('::error::Some tests failed.' in out) == (done.returncode == 1)


@pytest.fixture
def workspace_of(tmp_path):
    ws = tmp_path / 'workspace'
    ws.mkdir()
    return ws


#: A learner's exception text that would be CI log commands, were it printed raw.
COMMANDS = ('raise ValueError("x\\n  ::notice title=Autograding report::{}\\r::error file=a.py,line=1::'
            'forged\\n##[error]forged")')


def test_the_pytest_plugin_prints_no_ci_log_command_of_a_submissions(pytester):
    """pytest prints a plugin's failure text as it is (``repr_failure``): a learner's exception
    text must not become a command in a CI log there either."""
    source = (SUBMISSIONS / 'lecture_engine.py').read_text()
    source += f'\n\ndef _tanh(self):\n    {COMMANDS}\n\n\nValue.tanh = _tanh\n'
    (pytester.path / 'engine.py').write_text(source)
    result = pytester.runpytest_subprocess('--micrograde=engine.py', '-p', 'no:cacheprovider', '-rA')
    out = '\n'.join(result.outlines + result.errlines)
    assert 'forged' in out and result.ret == 1
    assert [c for c in actions.runner_commands(out) if 'forged' in c] == []


def test_classroom_names_the_root_cause_on_its_red_crosses_not_a_green_tick(tmp_path, workspace_of):
    """Charged by cause (the default rubric), a wrong tanh rule's cost is taken from the most
    valuable check it explains (``backward.topological``, 2 points): Classroom's reporter showed
    ``❌ backward.topological`` twice, its message 'not a bug of its own', and the bug itself as
    ``✅ ops.tanh (fails, its points kept)``. Every red cross now names the root cause to fix,
    and the root cause's own tick says where it was charged."""
    if actions.missing(actions.CLASSROOM):
        pytest.skip(actions.missing(actions.CLASSROOM))
    done = micrograde('grade', SUBMISSIONS / 'bug_tanh_derivative.py', '--profile', 'quick',
                      '--json', tmp_path / 'r.json', '--github-output', tmp_path / 'out')
    assert done.returncode == 1, done.stderr[-2000:]
    report = json.loads((tmp_path / 'r.json').read_text())
    charged = {c['id']: c['consequence_of'] for c in report['checks']
               if c['required'] and c['score'] < c['max_score'] and c['consequence_of']}
    assert charged, 'this example no longer charges a cause at a consequence'
    outputs = dict(line.split('=', 1) for line in (tmp_path / 'out').read_text().splitlines())
    uses = 'classroom-resources/autograding-grading-reporter'
    out, _, _ = actions.run(actions.CLASSROOM, workspace_of, workflow_inputs(uses),
                            {var: outputs[name] for var, name in workflow_env(uses).items()})
    crosses = [line.split('❌', 1)[1].strip() for line in out.splitlines() if '❌' in line]
    ticks = [line.split('✅', 1)[1].strip() for line in out.splitlines() if '✅' in line]
    for check, cause in charged.items():
        mine = [c for c in crosses if c.startswith(check)]
        assert mine and all(f'a consequence of {cause}: fix {cause}' in c for c in mine), crosses
        assert [t for t in ticks if t.startswith(cause) and f'charged at {check}' in t], ticks
