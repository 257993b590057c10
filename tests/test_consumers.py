"""Edge and hostile inputs, through real grades, read as each consumer reads them: a rubric's
points no report can hold, points that would make the Classroom runner endless."""
import base64
import importlib.util
import json
import math
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
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


#: Every op of the lecture's engine raising a long exception of the learner's: every check fails
#: with a long message.
BOOMING = """
_BIG = '<b>' + 'Z' * 6000


def _boom(name):
    def boom(self, *args):
        raise ValueError(name + _BIG)
    return boom


for _name in ('__add__', '__mul__', '__pow__', '__neg__', '__sub__', '__truediv__', '__radd__',
              '__rmul__', '__rsub__', '__rtruediv__', 'tanh', 'exp', 'log', 'relu', 'sigmoid'):
    if hasattr(Value, _name):
        setattr(Value, _name, _boom(_name))
"""
#: A course's rubric of 132 points, each point a test of Classroom's points runner.
RUBRIC_132 = ('[points]\nload = 0\ncapability = 0\nops = 3\nbackward = 5\nfuzz = 20\nmlp = 5\n'
              'robustness = 0\n[points.checks]\n"backward.walk" = 0\n"ops.pow_value" = 0\n'
              '"ops.rpow" = 0\n')


@pytest.mark.parametrize('rubric, total', [(RUBRIC_132, 132), ('[points]\nfuzz = 900\n', 957)])
def test_classroom_s_reporter_starts_and_posts_the_points_whatever_the_messages(
        tmp_path, workspace_of, rubric, total):
    """The shipped workflow hands each runner result to Classroom's reporter in an environment
    variable, and Linux starts no program given one of 128 KiB or more (``MAX_ARG_STRLEN``:
    "Argument list too long"). An engine whose every op raises a long exception, under a rubric
    of 132 points, wrote a 198 KB ``result=`` (a test per point, each repeating its check's
    message, which the reporter does not even print for a failing test): the reporter never
    started and Classroom got no points at all; a test per point of a 957-point rubric was 210 KB
    with no text at all. Each runner's line fits (texts cut, else a test per check), and the
    reporter's own code under Node posts the grade's points."""
    engine = tmp_path / 'engine.py'
    engine.write_text((SUBMISSIONS / 'lecture_engine.py').read_text() + BOOMING)
    (tmp_path / 'rubric.toml').write_text(rubric)
    done = micrograde('grade', engine, '--rubric', tmp_path / 'rubric.toml', '--profile', 'quick',
                      '--github-output', tmp_path / 'out', '--json', tmp_path / 'r.json')
    assert done.returncode == 1 and 'Traceback' not in done.stderr, done.stderr[-2000:]
    report = json.loads((tmp_path / 'r.json').read_text())
    assert report['max_score'] == total
    outputs = dict(line.split('=', 1) for line in (tmp_path / 'out').read_text().splitlines())
    uses = 'classroom-resources/autograding-grading-reporter'
    env = {var: outputs[name] for var, name in workflow_env(uses).items()}
    assert all(len(f'{var}={value}'.encode()) < 128 * 1024 for var, value in env.items())
    run = json.loads(base64.b64decode(outputs['result']))
    assert math.isclose(sum(t['score'] for t in run['tests']), report['score'])
    if actions.missing(actions.CLASSROOM):
        pytest.skip(actions.missing(actions.CLASSROOM))
    out, _, _ = actions.run(actions.CLASSROOM, workspace_of, workflow_inputs(uses), env)
    assert f'Points {report["score"]:g}/{total}' in out, out[-2000:]


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


#: A ``tanh`` whose rule never returns: the grader gives the worker up after three timeouts and
#: every later check is ``not run`` (``grading._not_run``), at 0 points.
HANGING_TANH = ('            self.grad += (1 - t**2) * out.grad\n',
                '            while True:\n                pass\n')


def graded_in_repository(ws, given, *options):
    """``micrograde grade given --profile quick --no-color options`` run from the top of ``ws``,
    made a git repository of what it holds (the annotators read tracked files only)."""
    subprocess.run(['git', 'init', '-q', str(ws)], check=True)
    subprocess.run(['git', '-C', str(ws), 'add', '.'], check=True)
    return subprocess.run([sys.executable, '-m', 'micrograde.surfaces.cli', 'grade', given,
                           '--profile', 'quick', '--no-color', *options],
                          cwd=ws, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope='module')
def given_up(tmp_path_factory):
    """A course repository with the hanging ``tanh`` at ``hw/engine.py``, graded from its top
    as the shipped workflow grades: ``(workspace, reports folder, console text, report)``."""
    ws = tmp_path_factory.mktemp('given_up')
    engine = ws / 'hw' / 'engine.py'
    engine.parent.mkdir()
    text = (SUBMISSIONS / 'lecture_engine.py').read_text()
    engine.write_text(text.replace(*HANGING_TANH, 1))
    assert engine.read_text() != text
    done = graded_in_repository(ws, 'hw/engine.py', '--check-timeout', '2', '--out', 'reports')
    assert done.returncode == 1 and 'Traceback' not in done.stderr, done.stderr[-2000:]
    report = json.loads((ws / 'reports' / 'report.json').read_text())
    return ws, ws / 'reports', done.stdout, report


#: A ``tanh`` that ends the worker's process: each of its graphs loses a worker, and the
#: grader counts a lost worker when it starts the next one, so the last loss is counted in the
#: first request of the check after ``ops.tanh`` (``ops.relu``), none of whose graphs ever ran.
EXITING_TANH = ('        t = (math.exp(2*x) - 1)/(math.exp(2*x) + 1)\n',
                '        import os; os._exit(3)\n')


def test_a_check_none_of_whose_graphs_ran_is_not_run_not_a_bug(tmp_path):
    """A ``tanh`` that exits the worker was one bug and a second at ``def relu`` on every
    consumer ("2 bugs: ops.tanh ...; ops.relu, 5 of 5 graphs wrong: the check could not finish:
    not run: the worker was lost 6 times", a red cross at relu's line): relu's check began before
    the grader gave the worker up and was refused every graph. One bug, at tanh; relu is not run, as
    every check after it."""
    engine = tmp_path / 'hw' / 'engine.py'
    engine.parent.mkdir()
    text = (SUBMISSIONS / 'lecture_engine.py').read_text()
    engine.write_text(text.replace(*EXITING_TANH, 1))
    assert engine.read_text() != text
    done = graded_in_repository(tmp_path, 'hw/engine.py', '--out', 'reports')
    assert done.returncode == 1 and 'Traceback' not in done.stderr, done.stderr[-2000:]
    report = json.loads((tmp_path / 'reports' / 'report.json').read_text())
    failing = {c['id'] for c in report['checks'] if c['status'] in ('failed', 'error')}
    assert failing == {'ops.tanh'}, failing
    relu = next(c for c in report['checks'] if c['id'] == 'ops.relu')
    assert relu['status'] == 'skipped' and relu['not_run'] == 'stopped', relu['message']
    assert '1 bug(s) found' in done.stdout
    tanh = text.split('\n').index('    def tanh(self):') + 1  # a lost worker leaves no traceback
    junit = ET.parse(tmp_path / 'reports' / 'junit.xml').getroot()
    texts = [f.text for f in junit.iter() if f.tag in ('failure', 'error')]
    assert texts and all(t.rstrip().endswith(f'(engine.py:{tanh})') for t in texts), texts


def _not_run(report):
    return [c for c in report['checks'] if c['not_run']]  # stopped, or what it needs missing


def test_points_in_checks_not_run_are_said_beside_the_score(given_up):
    """A hanging ``tanh`` scored 24/51 with "2 bug(s) found" worth 3 points: the 24 points of
    the checks not run after the worker was given up were said nowhere beside the score. The
    console, the HTML page and Gradescope's summary now say them, with the reason."""
    _, folder, console, report = given_up
    lost = [c for c in _not_run(report) if c['score'] < c['max_score']]
    points = sum(c['max_score'] - c['score'] for c in lost)
    assert points >= 10 and report['verdict'] == 'failed'  # fuzz.dags (10) at least was not run
    why = f'{points:g} point(s) in {len(lost)} check(s) not run: the submission already timed out'
    assert why in next(line for line in console.splitlines() if line.startswith('FAILED  score'))
    assert why in (folder / 'report.html').read_text(encoding='utf-8')
    summary = json.loads((folder / 'results.json').read_text())['output']
    assert why[0].upper() + why[1:] in summary
    # and in the feedback Moodle shows the learner beside the grade
    from micrograde.reporters import gradebook, json_report
    moodle = gradebook.render({'hw': json_report.read(folder / 'report.json')}, 'moodle',
                              {'hw': {'student_id': 's1', 'email': 'a@b.c'}}).decode()
    assert why in moodle.splitlines()[1]


def test_a_check_not_run_reads_neither_as_a_pass_nor_as_a_failure_to_the_github_annotators(given_up):
    """action-junit-report (as the shipped workflow runs it) made a skipped check a notice
    titled ``micrograde.fuzz / dags``, word for word a passed check's; dorny listed it ``⚪
    dags``. Each names it ``(not run)`` now, never a failure, and both fail the check run (the
    grade failed)."""
    for action in (actions.DORNY, actions.MIKEPENZ):
        if actions.missing(action):
            pytest.skip(actions.missing(action))
    ws, folder, _, report = given_up
    unrun = _not_run(report)
    assert any(c['id'] == 'fuzz.dags' for c in unrun), [c['id'] for c in unrun]
    _, calls, _ = actions.run(actions.MIKEPENZ, ws, {
        **workflow_inputs('mikepenz/action-junit-report'), 'report_paths': 'reports/junit.xml'})
    posted = [a for _, _, body in calls if body and 'output' in body
              for a in body['output'].get('annotations', [])]
    conclusions = {body.get('conclusion') for _, _, body in calls if body and body.get('conclusion')}
    assert conclusions == {'failure'}, conclusions
    by_title = {a['title']: a for a in posted}
    for c in unrun:
        category, name = c['id'].split('.', 1)
        assert f'micrograde.{category} / {name}' not in by_title, c['id']  # a pass's title
        shown = by_title.get(f'micrograde.{category} / {name} (not run)')
        assert shown is None or shown['annotation_level'] == 'notice', c['id']
    assert {a['annotation_level'] for a in posted if '(not run)' in a['title']} == {'notice'}
    _, calls, _ = actions.run(actions.DORNY, ws, {'name': 'micrograde', 'path': 'reports/junit.xml',
                                                  'reporter': 'java-junit', 'use-actions-summary': 'false'})
    summary = [body['output']['summary'] for _, _, body in calls
               if body and body.get('output', {}).get('summary')][-1]
    assert all(f'⚪ {c["id"].split(".", 1)[1]} (not run)' in summary for c in unrun)
    assert {body.get('conclusion') for _, _, body in calls if body and body.get('conclusion')} == {'failure'}


def test_a_zips_failures_are_annotated_at_the_zip_not_at_a_file_of_that_name(tmp_path):
    """A package handed in as ``hw/hw.zip`` (``micrograd/engine.py`` inside), in a course
    repository that also tracks the template it started from (``template/micrograd/``): the
    failures were annotated at ``micrograd/engine.py``, no file of the repository, by
    action-junit-report, and at the template's correct ``engine.py`` by dorny/test-reporter.
    Both, under Node, now annotate the zip, at line 1."""
    for action in (actions.DORNY, actions.MIKEPENZ):
        if actions.missing(action):
            pytest.skip(actions.missing(action))
    ws = tmp_path / 'repo'
    shutil.copytree(SUBMISSIONS / 'micrograd', ws / 'template' / 'micrograd',
                    ignore=shutil.ignore_patterns('__pycache__'))
    (ws / 'hw').mkdir()
    with zipfile.ZipFile(ws / 'hw' / 'hw.zip', 'w') as z:
        for path in sorted((ws / 'template' / 'micrograd').glob('*.py')):
            text = path.read_text()
            if path.name == 'engine.py':
                text = text.replace('self.grad += 1.0 * out.grad', 'self.grad = 1.0 * out.grad', 1)
            z.writestr(f'micrograd/{path.name}', text)
    done = graded_in_repository(ws, 'hw/hw.zip', '--junit', 'junit.xml')
    assert done.returncode == 1 and 'micrograd/engine.py:' in done.stdout, done.stdout + done.stderr
    for action, inputs in ((actions.DORNY, {'name': 'micrograde', 'path': 'junit.xml',
                                            'reporter': 'java-junit', 'use-actions-summary': 'false'}),
                           (actions.MIKEPENZ, {**workflow_inputs('mikepenz/action-junit-report'),
                                               'report_paths': 'junit.xml'})):
        _, calls, _ = actions.run(action, ws, inputs)
        failures = [a for _, _, body in calls if body and 'output' in body
                    for a in body['output'].get('annotations', []) if a['annotation_level'] == 'failure']
        assert failures and {(a['path'], a['start_line']) for a in failures} == {('hw/hw.zip', 1)}, \
            (action, {(a['path'], a['start_line']) for a in failures})


def test_gradescope_names_a_check_not_run_as_such(given_up):
    """Gradescope colours a test scoring under its maximum red whatever its status, so
    ``fuzz.dags`` not run (0 / 10) was a red test named as a failure of its own: its name now
    says ``(not run)``, as JUnit's does."""
    _, folder, _, report = given_up
    tests = {t['name']: t for t in json.loads((folder / 'results.json').read_text())['tests']}
    lost = [c for c in _not_run(report) if c['max_score']]
    assert lost
    for c in lost:
        assert c['id'] not in tests and tests[f'{c["id"]} (not run)']['score'] == 0, c['id']


def test_a_folders_load_error_is_annotated_at_the_learners_file_and_line(tmp_path):
    """A folder whose Value defines ``_init_`` for ``__init__`` (ritika-s05/is-640-nn's): the
    load error said "(line 4)" with no file, so action-junit-report annotated the folder, no
    file, and dorny the JUnit file itself. It is annotated at the folder's file and line."""
    ws = tmp_path / 'repo'
    folder = ws / 'hw' / 'nn'
    folder.mkdir(parents=True)
    text = (SUBMISSIONS / 'lecture_engine.py').read_text()
    (folder / 'engine.py').write_text(text.replace('    def __init__(self, data', '    def _init_(self, data', 1))
    line = next(k for k, row in enumerate((folder / 'engine.py').read_text().splitlines(), 1)
                if 'def _init_' in row)
    done = graded_in_repository(ws, 'hw/nn', '--junit', 'junit.xml')
    assert done.returncode == 1 and '_init_' in done.stdout, done.stdout + done.stderr
    for action in (actions.DORNY, actions.MIKEPENZ):
        if actions.missing(action):
            pytest.skip(actions.missing(action))
    for action, inputs in ((actions.DORNY, {'name': 'micrograde', 'path': 'junit.xml',
                                            'reporter': 'java-junit', 'use-actions-summary': 'false'}),
                           (actions.MIKEPENZ, {**workflow_inputs('mikepenz/action-junit-report'),
                                               'report_paths': 'junit.xml'})):
        _, calls, _ = actions.run(action, ws, inputs)
        failures = {(a['path'], a['start_line']) for _, _, body in calls if body and 'output' in body
                    for a in body['output'].get('annotations', []) if a['annotation_level'] == 'failure'}
        assert failures == {('hw/nn/engine.py', line)}, (action, failures)
