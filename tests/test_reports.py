"""Every report kind read as its consumer reads it: JUnit against Jenkins xunit's schema and as
CI report actions parse it, Gradescope's results.json against a schema written from its spec, the
console as a learner reads it. A passing engine shows no failure anywhere; advisory findings are
visible but never failures; every submission under one rubric has the same maximum score."""
import base64
import json
import re
import xml.etree.ElementTree as ET

import pytest

from conftest import SUBMISSIONS, validate_json, validate_junit
from micrograde.checks import check_ids
from micrograde.grader.rubric import Rubric

HOSTILE = r'''
NASTY = "nul\x00 esc\x1b[31m surrogate\udc80 </failure>]]><testcase name='fake'/> bell\x07"
print(NASTY)


def _tanh(self):
    raise ValueError(NASTY)


Value.tanh = _tanh
'''

KINDS = {'passing': 'lecture_engine.py', 'failing': 'bug_overwrite_grad.py',
         'unloadable': 'broken/syntax_error.py', 'hostile': None}


@pytest.fixture(scope='module')
def graded(tmp_path_factory):
    """``{kind: (folder, exit code, console text)}``, each graded once through the real CLI."""
    from conftest import micrograde
    out = {}
    for kind, name in KINDS.items():
        folder = tmp_path_factory.mktemp(kind)
        path = SUBMISSIONS / name if name else folder / 'hostile_engine.py'
        if not name:
            path.write_text((SUBMISSIONS / 'lecture_engine.py').read_text() + HOSTILE)
        result = micrograde('grade', path, '--profile', 'quick', '--out', folder / 'reports',
                            '--no-color', '--github-output', folder / 'github_output')
        assert 'Traceback' not in result.stderr, result.stderr
        out[kind] = (folder / 'reports', result.returncode, result.stdout)
    return out


def load(graded, kind):
    folder = graded[kind][0]
    report = json.loads((folder / 'report.json').read_text(encoding='utf-8'))
    gradescope = json.loads((folder / 'results.json').read_text(encoding='utf-8'))
    return report, ET.parse(folder / 'junit.xml').getroot(), gradescope


@pytest.mark.parametrize('kind', KINDS)
def test_every_report_is_valid_for_its_consumer(graded, kind):
    folder = graded[kind][0]
    validate_junit(folder / 'junit.xml')
    report, _, gradescope = load(graded, kind)
    validate_json(gradescope, 'gradescope-results.schema.json')
    classroom = json.loads((folder / 'classroom.json').read_text(encoding='utf-8'))
    validate_json(classroom, 'classroom-result.schema.json')
    line = (folder.parent / 'github_output').read_text()
    assert line.startswith('result=') and line.count('\n') == 1
    assert json.loads(base64.b64decode(line.removeprefix('result='))) == classroom
    assert [c['id'] for c in report['checks']][:1] == ['load']


def classroom_reporter(result):
    """What autograding-grading-reporter makes of a runner's result: the points it posts
    (NotifyClassroom: sum of tests' score over max_score), the tests it shows red (ConsoleResults:
    any status but pass or error), whether it fails the run (main: status fail)."""
    points = (sum(t['score'] for t in result['tests']), result['max_score'])
    red = [t['name'] for t in result['tests'] if t['status'] not in ('pass', 'error')]
    return points, red, result['status'] == 'fail'


def test_classroom_gets_the_points_and_advice_is_never_red(graded):
    total = Rubric.load().total()
    runs = {kind: json.loads((graded[kind][0] / 'classroom.json').read_text()) for kind in KINDS}
    points, red, fails = classroom_reporter(runs['passing'])
    assert points == (total, total) and red == [] and not fails
    assert any('advisory' in t['name'] and t['status'] == 'pass' for t in runs['passing']['tests'])
    points, red, fails = classroom_reporter(runs['failing'])
    assert points[1] == total and 0 < points[0] < total and fails
    assert 'ops.add' in red and not [n for n in red if n.startswith('robustness')]
    add = next(t for t in runs['failing']['tests'] if t['name'] == 'ops.add')
    assert add['filename'].endswith('bug_overwrite_grad.py') and add['line_no'] == 18
    assert classroom_reporter(runs['unloadable'])[0] == (0, total)


def test_every_submission_has_the_rubrics_maximum(graded):
    total = Rubric.load().total()
    assert total > 0
    for kind in KINDS:
        report, _, gradescope = load(graded, kind)
        assert report['max_score'] == total, kind
        assert sum(t['max_score'] for t in gradescope['tests']) == total, kind
        assert {c['id'] for c in report['checks']} == {'load', *check_ids()}, kind
    report, _, gradescope = load(graded, 'unloadable')
    assert report['score'] == gradescope['score'] == 0
    assert all(t['score'] == 0 for t in gradescope['tests'])


def test_a_passing_engine_shows_no_failure_to_any_consumer(graded):
    folder, code, console = graded['passing']
    report, junit, gradescope = load(graded, 'passing')
    assert code == 0 and report['verdict'] == 'passed'
    assert junit.findall('.//failure') == [] and junit.findall('.//error') == []
    assert junit.get('failures') == junit.get('errors') == '0'
    advisory = junit.findall(".//skipped[@type='micrograde.advisory']")
    assert advisory, 'the lecture engine has advisory findings: they must stay visible'
    assert all(s.text and s.get('message').startswith('advisory: ') for s in advisory)
    assert [t['name'] for t in gradescope['tests'] if t['status'] != 'passed'] == []
    flagged = [t for t in gradescope['tests'] if 'advisory' in t['tags'] and t['output']
               .startswith('Advisory')]
    assert len(flagged) == len(advisory) and all(t['max_score'] == 0 for t in flagged)
    assert 'FAIL' not in console and 'advisory warning' in console


def test_junit_names_kinds_times_and_places_like_ci_actions_read_them(graded):
    _, junit, _ = load(graded, 'failing')
    for suite in junit.iter('testsuite'):
        assert re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d', suite.get('timestamp'))
        assert suite.get('hostname') and re.fullmatch(r'\d+\.\d+', suite.get('time'))
        for case in suite.iter('testcase'):
            assert case.get('classname') == suite.get('name')
            assert not case.get('name').startswith(suite.get('name').split('.')[-1] + '.')
    ops = junit.find("testsuite[@name='micrograde.ops']")
    failure = ops.find("testcase[@name='add']/failure")
    assert failure.get('type') == 'wrong gradient'
    assert 'a.grad: expected -4.0, got -2.0' in failure.text
    # mikepenz/action-junit-report's resolveFileAndLine: the suite's file, then the last
    # ` <file>...:<line>` in the failure's text
    file = ops.get('file')
    assert file.endswith('bug_overwrite_grad.py')
    line = re.findall(rf' [^ ]*{re.escape(file)}.*?:(\d+)', failure.text)[-1]
    source = (SUBMISSIONS / 'bug_overwrite_grad.py').read_text().split('\n')
    assert source[int(line) - 1].lstrip().startswith('def __add__')


def test_hostile_output_stays_data(graded):
    folder, code, _ = graded['hostile']
    report, junit, gradescope = load(graded, 'hostile')
    assert code == 1 and report['verdict'] == 'failed'
    assert [c.get('name') for c in junit.iter('testcase')] == \
        [c['id'].split('.', 1)[-1] for c in report['checks']]
    text = (folder / 'junit.xml').read_text(encoding='utf-8')
    assert '\x00' not in text and '\x1b' not in text
    tanh = next(t for t in gradescope['tests'] if t['name'] == 'ops.tanh')
    assert tanh['status'] == 'failed' and '</failure>]]>' in tanh['output']


def test_console_groups_failures_by_cause_with_expected_and_actual(graded):
    console = graded['failing'][2]
    headlines = re.findall(r'^FAIL  (.*)$', console, re.M)
    assert len(headlines) == len(set(headlines)) and 'assigned instead of accumulated' in headlines[0]
    assert re.search(r'seen by ops\.add, (ops\.\w+, )*backward\.accumulate$', console, re.M)
    assert 'a.grad: expected -4.0, got -2.0' in console
    assert re.search(r'at Value.__add__ \(\S*bug_overwrite_grad.py:18\)', console)
    assert 'warning  robustness.' in console
    assert not re.search(r'FAIL\s+(robustness|mlp\.one_neuron_layer)', console)


def test_the_console_groups_one_cause_seen_in_other_code_and_numbers_as_one_bug():
    from micrograde.reporters.text import cause
    from micrograde.model.results import Check
    same = [Check('ops.truediv', 'ops', 'failed', 'm', diagnosis='values are right to about 7 '
                  'digits only (`a / b` is -0.600000023842, expected -0.6): float32?'),
            Check('ops.exp', 'ops', 'failed', 'm', diagnosis='values are right to about 7 '
                  'digits only (`a.exp()` is 2.71828174591, expected 2.71828182846): float32?')]
    assert cause(same[0]) == cause(same[1])
    at = [Check('ops.log', 'ops', 'failed', 'm', diagnosis=f'NameError computing `_1 = a.log()`: '
                f'name x is not defined (at engine.py, line {n}: return x)') for n in (12, 40)]
    assert cause(at[0]) != cause(at[1])  # two places are two bugs
