"""Every report kind read as its consumer reads it: JUnit against Jenkins xunit's schema and as
CI report actions parse it, Gradescope's results.json against a schema written from its spec, the
console as a learner reads it. A passing engine shows no failure anywhere; advisory findings are
visible but never failures; every submission under one rubric has the same maximum score."""
import base64
import dataclasses
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import actions
from conftest import ROOT, SUBMISSIONS, validate_json, validate_junit
from micrograde.checks import check_ids
from micrograde.grader.rubric import Rubric
from micrograde.model.results import Check, Report

HOSTILE = r'''
NASTY = ("nul\x00 esc\x1b[31m surrogate\udc80 </failure>]]><testcase name='fake'/> bell\x07"
         " bidi\u202eevil\u202c hidden\u200b\U000e0041\ufeff ##[error]forged legacy"
         "\n  ::notice title=Autograding report::{\"totalPoints\":51,\"maxPoints\":51}"
         "\r::error file=engine.py,line=1::forged\r\n::add-mask::forged")
print(NASTY)


def _tanh(self):
    raise ValueError(NASTY)


Value.tanh = _tanh
'''

KINDS = {'passing': 'lecture_engine.py', 'failing': 'bug_overwrite_grad.py',
         'partial': 'missing_ops.py', 'unloadable': 'broken/syntax_error.py',
         'notebook': 'lecture_notebook.ipynb', 'hostile': None, 'lineless': 'broken/latin1.py',
         'pointless': 'pow_value_bug.py'}
#: the file each generated kind is made from (else its own, or the lecture's engine)
SOURCES = {'pointless': 'lecture_engine.py'}
#: the edits that make a kind's submission: the notebook is the lecture's with __add__ assigning
#: its gradients; ``pointless`` fails only a required check worth no points (``ops.pow_value``,
#: a Value exponent's own gradient forgotten): the verdict fails with every point kept
EDITS = {'notebook': ('grad += 1.0 * out.grad', 'grad = 1.0 * out.grad'),
         'pointless': ('        assert isinstance(other, (int, float)), "only supporting int/float '
                       'powers for now"\n',
                       '        if isinstance(other, Value):\n'
                       '            out = Value(self.data**other.data, (self, other), "**")\n'
                       '            def _backward():\n'
                       '                self.grad += other.data * self.data ** (other.data - 1) * out.grad\n'
                       '            out._backward = _backward\n'
                       '            return out\n')}


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    """A course repository as a GitHub runner checks it out: the submissions tracked by git,
    graded from its top by relative path, as the shipped workflow does."""
    ws = tmp_path_factory.mktemp('workspace')
    for kind, name in KINDS.items():
        path = ws / 'submissions' / (name or 'hostile_engine.py')
        path.parent.mkdir(parents=True, exist_ok=True)
        if name and kind not in EDITS:  # as it is, bytes that are not UTF-8 too
            path.write_bytes((SUBMISSIONS / name).read_bytes())
            continue
        text = (SUBMISSIONS / SOURCES.get(kind, name or 'lecture_engine.py')).read_text()
        edited = text.replace(*EDITS[kind]) if kind in EDITS else text + HOSTILE
        assert edited != text or kind == 'hostile'
        path.write_text(edited)
    subprocess.run(['git', 'init', '-q', str(ws)], check=True)
    subprocess.run(['git', '-C', str(ws), 'add', 'submissions'], check=True)
    return ws


@pytest.fixture(scope='module')
def graded(workspace, tmp_path_factory):
    """``{kind: (folder, exit code, console text)}``, each graded once through the real CLI."""
    out = {}
    for kind, name in KINDS.items():
        folder = tmp_path_factory.mktemp(kind)
        path = Path('submissions', name or 'hostile_engine.py')
        result = subprocess.run(
            [sys.executable, '-m', 'micrograde.surfaces.cli', 'grade', str(path), '--profile', 'quick', '--out',
             str(folder / 'reports'), '--no-color', '--github-output', str(folder / 'github_output')],
            cwd=workspace, capture_output=True, text=True, timeout=300)
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
    runners = github_output(graded, kind)
    assert list(runners) == ['result', 'verdict'] and runners['result'] == classroom
    validate_json(runners['verdict'], 'classroom-result.schema.json')
    assert [c['id'] for c in report['checks']][:1] == ['load']


def github_output(graded, kind):
    """``{output name: runner result}`` of the lines ``--github-output`` appended."""
    text = (graded[kind][0].parent / 'github_output').read_text()
    assert text.endswith('\n')
    return {name: json.loads(base64.b64decode(value)) for name, value in
            (line.split('=', 1) for line in text.splitlines())}


def workflow_env(uses):
    """``{variable: step output}`` of the ``env:`` the shipped Classroom workflow gives the step
    that uses ``uses`` (``MICROGRADE_RESULTS: "${{ steps.micrograde.outputs.result }}"``)."""
    text = (ROOT / 'examples' / 'github-classroom' / 'classroom.yml').read_text()
    step = text.split(f'uses: {uses}@', 1)[1].split('\n      - ', 1)[0]
    return dict(re.findall(r'^\s+(\w+): "\$\{\{ steps\.micrograde\.outputs\.(\w+) \}\}"', step, re.M))


def classroom_reporter(result):
    """What autograding-grading-reporter (v1, src/) makes of a runner's result: the points it
    posts (notify-classroom.js: sum of tests' score, max_score), the points it prints
    (helpers/test-helpers.js getTestScore: tests with status pass / tests x max_score), the
    tests it shows as red crosses (console-results.js: any status but pass or error), whether
    it fails the run (main.js: status fail)."""
    tests = result['tests']
    posted = (sum(t['score'] for t in tests), result['max_score'])
    printed = sum(t['status'] == 'pass' for t in tests) / len(tests) * result['max_score']
    red = [t['name'] for t in tests if t['status'] not in ('pass', 'error')]
    return posted, round(printed, 2), red, result['status'] == 'fail'


def test_classroom_posts_and_prints_the_true_points_and_only_failures_are_red(graded):
    total = Rubric.load().total()
    runs = {kind: json.loads((graded[kind][0] / 'classroom.json').read_text()) for kind in KINDS}
    for kind, run in runs.items():
        report = load(graded, kind)[0]
        posted, printed, red, fails = classroom_reporter(run)
        assert posted == (report['score'], total) and printed == report['score'], kind
        assert fails == (report['verdict'] == 'failed'), kind
        assert not [n for n in red if n.startswith(('robustness', 'capability'))], kind
    for kind in ('passing', 'partial'):
        assert classroom_reporter(runs[kind])[2] == [], kind
    assert classroom_reporter(runs['partial'])[0][0] < total
    missing = [t for t in runs['partial']['tests'] if t['status'] == 'error']
    assert missing and all('not implemented' in t['message'] for t in missing
                           if t['name'].startswith('ops.'))
    # one root cause, charged once (the default rubric): the red crosses are its most valuable
    # check's points, each at the rule's line in __add__; the checks it explains keep theirs
    report = load(graded, 'failing')[0]
    charged = [c['id'] for c in report['checks'] if c['required'] and c['status'] == 'failed'
               and c['score'] < c['max_score']]
    red = classroom_reporter(runs['failing'])[2]
    assert len(charged) == 1 and red and all(n.startswith(charged[0]) for n in red), (charged, red)
    crosses = [t for t in runs['failing']['tests'] if t['status'] == 'fail']
    assert {(t['filename'], t['line_no']) for t in crosses} == {('submissions/bug_overwrite_grad.py', 23)}
    kept = [t['name'] for t in runs['failing']['tests'] if 'its points kept' in t['name']]
    assert kept and all(t['status'] == 'pass' for t in runs['failing']['tests'] if t['name'] in kept)
    unloaded = runs['unloadable']['tests']
    assert {t['status'] for t in unloaded} == {'error'} and 'syntax error' in unloaded[0]['message']


def test_the_classroom_reporters_own_code_prints_the_true_points(graded, workspace):
    """autograding-grading-reporter's dist/main.js under Node, with MICROGRADE_RESULTS from the
    ``--github-output`` line, as the shipped workflow passes it."""
    if actions.missing(actions.CLASSROOM):
        pytest.skip(actions.missing(actions.CLASSROOM))
    uses = 'classroom-resources/autograding-grading-reporter'
    inputs, env = workflow_inputs(uses), workflow_env(uses)
    assert inputs['runners'] == 'micrograde,verdict', inputs
    for kind in ('passing', 'failing', 'partial', 'unloadable', 'pointless'):
        report = load(graded, kind)[0]
        lines = (graded[kind][0].parent / 'github_output').read_text().splitlines()
        outputs = dict(line.split('=', 1) for line in lines)
        out, calls, _ = actions.run(actions.CLASSROOM, workspace, inputs,
                                    {var: outputs[name] for var, name in env.items()})
        score, total = report['score'], report['max_score']
        assert f'Total points for micrograde: {score:.2f}/{total:g}' in out, out[-2000:]
        assert 'Total points for verdict' not in out and 'NaN' not in out, out[-2000:]
        # notify-classroom.js posts the points on the check run (older builds print a notice)
        posted = [body['output']['summary'] for _, _, body in calls if body and 'output' in body]
        assert f'Points {score:g}/{total:g}' in posted or \
            f'::notice title=Autograding complete::Points {score:g}/{total:g}' in out, (posted, out)
        crosses = re.findall(r'❌ (\S+)', out)
        assert bool(crosses) == (report['verdict'] == 'failed'), (kind, crosses)
        assert ('::error::Some tests failed.' in out) == (report['verdict'] == 'failed')
    # a required check worth no points that fails: every point kept, and it is a red cross
    report = load(graded, 'pointless')[0]
    assert report['verdict'] == 'failed' and report['score'] == report['max_score'], report['score']
    assert crosses == ['micrograde', 'ops.pow_value'], crosses


@pytest.mark.parametrize('kind', KINDS)
def test_every_consumer_shows_the_reports_score(graded, kind):
    """Charged once per root cause (the default rubric), a failure's consequences keep their
    points: each consumer must show that score, not one of its own counting."""
    report, junit, gradescope = load(graded, kind)
    score, total = report['score'], report['max_score']
    folder, _, console = graded[kind]
    assert f'score {score:g} / {total:g}' in console
    assert gradescope['score'] == score == sum(t['score'] for t in gradescope['tests'])
    props = {p.get('name'): p.get('value') for p in junit.iter('property')}
    assert (props['score'], props['max_score']) == (f'{score:g}', f'{total:g}')
    html = (folder / 'report.html').read_text(encoding='utf-8')
    assert f'score {score:g} / {total:g}' in html
    posted, printed, _, _ = classroom_reporter(json.loads((folder / 'classroom.json').read_text()))
    assert posted == (score, total) and printed == score
    if kind == 'failing':  # the example's one bug, charged once: its consequences kept points
        kept = [c for c in report['checks'] if c['consequence_of'] and c['score'] == c['max_score'] > 0]
        assert kept and score > sum(c['score'] for c in report['checks'] if c['status'] == 'passed')


def test_a_failed_verdict_with_every_point_kept_says_why_on_every_surface(graded):
    """``FAILED  score 51 / 51`` reads as a contradiction: where only a required check worth no
    points failed, the console, the HTML page and Gradescope's summary say which, beside the
    score; where points were lost they add nothing."""
    why = 'every point kept, but a required check worth no points failed: ops.pow_value'
    folder, code, console = graded['pointless']
    assert code == 1 and f'FAILED  score 51 / 51 ({why})' in console
    assert why in (folder / 'report.html').read_text(encoding='utf-8')
    assert why.capitalize() in json.loads((folder / 'results.json').read_text())['output']
    folder, _, console = graded['failing']
    assert 'every point kept' not in console + (folder / 'report.html').read_text(encoding='utf-8')


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


def test_junit_names_kinds_and_times_as_jenkins_xunit_allows(graded):
    _, junit, _ = load(graded, 'failing')
    for suite in junit.iter('testsuite'):
        assert re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d', suite.get('timestamp'))
        # junit-10.xsd's SUREFIRE_TIME: at most three decimals (validate_junit checks it too)
        assert suite.get('hostname') and re.fullmatch(r'\d+\.\d{3}', suite.get('time'))
        for case in suite.iter('testcase'):
            assert case.get('classname') == suite.get('name')
            assert not case.get('name').startswith(suite.get('name').split('.')[-1] + '.')
    failure = junit.find(".//testcase[@name='add']/failure")
    assert failure.get('type') == 'gradient assigned instead of accumulated'
    assert 'a.grad: expected -4.0, got -2.0' in failure.text


JAVA_FRAME = re.compile(r'^\s*at (\S+/\S*/)?(.*)\((.*):(\d+)\)$')


def dorny_place(text, tracked):
    """Where dorny/test-reporter's java-junit parser annotates a failure (v2.7.0 to v3,
    src/parsers/java-junit/java-junit-parser.ts): ``exceptionThrowSource`` takes the first line
    of the text matching java-stack-trace-element-parser.ts's ``re`` whose file ``getFilePath``
    finds: a file ``git ls-files`` lists with that base name, whose last folders are the frame's
    package (its parts split on ``.`` up to the first starting with a character <= ``Z``; none
    means no file). Otherwise the report file itself, line 0."""
    for line in text.split('\n'):
        m = JAVA_FRAME.match(line)
        if not m:
            continue
        parts = m[2].split('.')
        parts = parts[:next((i for i, p in enumerate(parts) if p[:1] and p[0] <= 'Z'), len(parts))]
        for file in tracked if parts else ():
            dirs = os.path.dirname(file).split('/')
            if os.path.basename(file) == m[3] and len(parts) <= len(dirs) and \
                    dirs[len(dirs) - len(parts):] == parts:
                return file, int(m[4])
    return 'junit.xml', 0


def mikepenz_place(suite, text):
    """Where mikepenz/action-junit-report annotates a failure (v4, v5: ``resolveFileAndLine``,
    src/testParser.ts): the ``file`` of the testcase, the failure or else the suite (a file
    and a ``line`` attribute are taken as they are; junit-10.xsd allows neither on a testcase),
    else the classname's last part; the line from the last `` [^ ]*<file>.*?:<digits>`` in the
    failure's text, else 1."""
    file = suite.get('file') or suite.find('testcase').get('classname').split('.')[-1]
    found = re.findall(rf' [^ ]*{re.escape(file)}.*?:\d+', text)
    return file, int(found[-1].split(':')[-1]) if found else 1


#: kind -> {failing check: text on the learner's line it must be annotated at}
LEARNER_LINES = {
    # one bug, at its rule's assignment (in __add__'s `_backward`) for every check it explains
    'failing': {'ops.add': 'self.grad = 1.0', 'ops.radd': 'self.grad = 1.0',
                'backward.accumulate': 'self.grad = 1.0', 'mlp.gradients': 'self.grad = 1.0'},
    'unloadable': {'load': 'def __init__(self, data)'},
    'notebook': {'ops.add': 'self.grad = 1.0', 'backward.accumulate': 'self.grad = 1.0'},
}


@pytest.mark.parametrize('kind', ['failing', 'partial', 'unloadable', 'notebook', 'hostile', 'lineless'])
def test_every_failure_is_annotated_at_the_learners_line_by_both_github_annotators(
        graded, workspace, kind):
    report, junit, _ = load(graded, kind)
    tracked = subprocess.run(['git', '-C', str(workspace), 'ls-files'], capture_output=True,
                             text=True, check=True).stdout.split()
    submission = report['submission']
    lines = (workspace / submission).read_text(errors='replace').split('\n')
    places = {}
    for suite in junit.iter('testsuite'):
        for case in suite.iter('testcase'):
            failure = case.find('failure') if case.find('failure') is not None else case.find('error')
            if failure is None:
                continue
            where = dorny_place(failure.text, tracked)
            assert where == mikepenz_place(suite, failure.text), case.get('name')
            assert where[0] == submission and where[1] >= 1, (case.get('name'), where)
            places[f"{suite.get('name').split('.')[-1]}.{case.get('name')}".removeprefix('load.')] = \
                where[1]
    assert len(places) == len(report['checks']) - sum(
        c['status'] in ('passed', 'skipped') or not c['required'] for c in report['checks'])
    for check, code in LEARNER_LINES.get(kind, {}).items():
        assert code in lines[places[check] - 1], (check, lines[places[check] - 1])


def test_the_github_annotators_own_code_puts_failures_at_the_learners_line(graded, workspace):
    """dorny/test-reporter and action-junit-report's dist/index.js under Node, as a runner runs
    them (inputs from the shipped workflow), GitHub's API on loopback."""
    for action in (actions.DORNY, actions.MIKEPENZ):
        if actions.missing(action):
            pytest.skip(actions.missing(action))
    for kind in ('failing', 'notebook', 'passing'):
        report, junit, _ = load(graded, kind)
        (workspace / 'junit.xml').write_bytes((graded[kind][0] / 'junit.xml').read_bytes())
        tracked = subprocess.run(['git', '-C', str(workspace), 'ls-files'], capture_output=True,
                                 text=True, check=True).stdout.split()
        want = sorted((*dorny_place(f.text, tracked), 'failure') for f in junit.iter('failure'))
        _, calls, _ = actions.run(actions.DORNY, workspace, {
            'name': 'micrograde', 'path': 'junit.xml', 'reporter': 'java-junit',
            'use-actions-summary': 'false'})
        posted = [a for _, _, body in calls if body and body.get('output', {}).get('annotations')
                  for a in body['output']['annotations']]
        assert sorted((a['path'], a['start_line'], a['annotation_level']) for a in posted) == want
        summary = [body['output']['summary'] for _, _, body in calls
                   if body and body.get('output', {}).get('summary')][-1]
        advised = [c['id'].split('.', 1)[1] for c in report['checks'] if c['status'] == 'failed'
                   and not c['required']]
        # dorny lists skipped tests by name only (⚪ name): advice is told apart by its name
        assert advised and all(f'⚪ {name} (advisory)' in summary for name in advised), kind
        _, calls, _ = actions.run(actions.MIKEPENZ, workspace, {
            **workflow_inputs('mikepenz/action-junit-report'), 'report_paths': 'junit.xml'})
        posted = [a for _, _, body in calls if body and 'output' in body
                  for a in body['output'].get('annotations', [])]
        failures = sorted((a['path'], a['start_line'], 'failure') for a in posted
                          if a['annotation_level'] == 'failure')
        assert failures == want, kind
        advisory = [a for a in posted if a['title'].endswith('(advisory)')]
        assert advisory and {a['annotation_level'] for a in advisory} == {'notice'}, kind
        assert {a['path'] for a in posted} == {report['submission']}


def test_a_failures_frames_are_the_reports_path_not_the_renderers_folder(tmp_path, monkeypatch):
    """dorny's frame names the file's folder as the report gives it: a file at the top of the
    repository (which dorny cannot resolve) gets none, never the working folder's name."""
    from micrograde.reporters.junit import frames
    (tmp_path / 'grader_folder').mkdir()
    monkeypatch.chdir(tmp_path / 'grader_folder')
    at = {'method': 'Value.__add__', 'line': 22, 'cell': None}
    assert frames({**at, 'file': 'engine.py'}) == 'at Value.__add__ (engine.py:22)'
    assert frames({**at, 'file': './engine.py'}).count('\n') == 0
    assert frames({**at, 'file': 'hw/engine.py'}).split('\n')[1] == 'at hw.Value.__add__(engine.py:22)'


def test_dorny_annotates_the_graded_copy_where_the_repository_has_two_of_that_folder(tmp_path):
    """A course repository keeps one folder per assignment, each with its own ``micrograd``
    package (``hw1/micrograd/engine.py``, ``hw2/micrograd/engine.py``). dorny/test-reporter takes
    the first tracked file whose last folders are the frame's package: named by its last folder
    only, a failure of ``hw2/micrograd`` was annotated on ``hw1``'s engine. The frames name the
    folder from the most precise package dorny can read to the least, so the first that resolves
    is the graded file, read by the rule and by dorny's own code under Node."""
    import shutil
    ws = tmp_path / 'repo'
    for hw in ('hw1', 'hw2'):
        shutil.copytree(SUBMISSIONS / 'micrograd', ws / hw / 'micrograd',
                        ignore=shutil.ignore_patterns('__pycache__'))
    engine = ws / 'hw2' / 'micrograd' / 'engine.py'
    engine.write_text(engine.read_text().replace('self.grad += 1.0 * out.grad',
                                                 'self.grad = 1.0 * out.grad', 1))
    subprocess.run(['git', 'init', '-q', str(ws)], check=True)
    subprocess.run(['git', '-C', str(ws), 'add', '.'], check=True)
    result = subprocess.run([sys.executable, '-m', 'micrograde.surfaces.cli', 'grade', 'hw2/micrograd',
                             '--profile', 'quick', '--junit', 'junit.xml', '--no-color'],
                            cwd=ws, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    tracked = subprocess.run(['git', '-C', str(ws), 'ls-files'], capture_output=True, text=True,
                             check=True).stdout.split()
    failures = list(ET.parse(ws / 'junit.xml').getroot().iter('failure'))
    assert failures and {dorny_place(f.text, tracked)[0] for f in failures} == {'hw2/micrograd/engine.py'}
    if actions.missing(actions.DORNY):
        pytest.skip(actions.missing(actions.DORNY))
    _, calls, _ = actions.run(actions.DORNY, ws, {'name': 'micrograde', 'path': 'junit.xml',
                                                  'reporter': 'java-junit', 'use-actions-summary': 'false'})
    posted = [a for _, _, body in calls if body and body.get('output', {}).get('annotations')
              for a in body['output']['annotations']]
    assert posted and {a['path'] for a in posted} == {'hw2/micrograd/engine.py'}, posted


def workflow_inputs(uses):
    """The ``with:`` inputs of the shipped Classroom workflow's step that uses ``uses``."""
    text = (ROOT / 'examples' / 'github-classroom' / 'classroom.yml').read_text()
    step = text.split(f'uses: {uses}@', 1)[1].split('\n      - ', 1)[0]
    block = step.split('with:', 1)[1]
    return {m[1]: m[2].strip().strip('\'"') for m in re.finditer(r'^\s+(\w+):\s*(.+)$', block, re.M)
            if not m[2].lstrip().startswith('#')}


def test_no_consumer_runs_a_submissions_text_as_a_ci_log_command(graded, workspace):
    """A CI log runs ``::cmd::`` at a line's start (after spaces) and ``##[cmd]`` anywhere as a
    command: a submission's exception text must never become one (a forged "Autograding report"
    notice is what Classroom reads points from), not in micrograde's console, not in what the
    annotators print of the JUnit file, not in what Classroom's reporter prints."""
    def forged(out):
        return [c for c in actions.runner_commands(out) if '##[error]forged' in c or c.lstrip()
                .startswith(('::error file=engine.py', '::add-mask::forged',
                             '::notice title=Autograding report::{"totalPoints":51'))]

    console = graded['hostile'][2]
    assert 'forged' in console and actions.runner_commands(console) == []
    assert not re.search('[\u202e\u200b\ufeff\U000e0041]', console)
    junit = (graded['hostile'][0] / 'junit.xml').read_bytes()
    (workspace / 'junit.xml').write_bytes(junit)
    for action, inputs in ((actions.DORNY, {'name': 'micrograde', 'path': 'junit.xml',
                                            'reporter': 'java-junit', 'use-actions-summary': 'false'}),
                           (actions.MIKEPENZ, {**workflow_inputs('mikepenz/action-junit-report'),
                                               'report_paths': 'junit.xml'})):
        if actions.missing(action):
            pytest.skip(actions.missing(action))
        out, calls, _ = actions.run(action, workspace, inputs)
        assert forged(out) == [], action
        posted = [a for _, _, body in calls if body and 'output' in body
                  for a in body['output'].get('annotations', [])]
        assert posted and not [a for a in posted if a['path'] == 'engine.py'], action
    outputs = dict(line.split('=', 1) for line in
                   (graded['hostile'][0].parent / 'github_output').read_text().splitlines())
    out, _, _ = actions.run(actions.CLASSROOM, workspace, workflow_inputs(
        'classroom-resources/autograding-grading-reporter'),
        {var: outputs[name] for var, name in workflow_env(
            'classroom-resources/autograding-grading-reporter').items()})
    assert forged(out) == [] and 'Points 51/51' not in out


def test_a_hostile_engines_page_hides_and_reorders_nothing_in_chromium(graded, page_of):
    """The learner's exception text on the HTML page, as Chromium lays it out: no script, no
    bidi control that reorders a line, no zero-width or tag character that hides text; each is
    shown as its escape, as every other report shows it."""
    page, _ = page_of(graded['hostile'][0] / 'report.html')
    assert page.locator('script, img, iframe, object, embed, foreignObject').count() == 0
    text = page.locator('body').inner_text()
    assert 'forged legacy' in text and '\\u202eevil' in text and '\\U000e0041' in text
    assert not re.search('[\u202a-\u202e\u2066-\u2069\u200b\ufeff\U000e0000-\U000e007f]', text)


def test_hostile_output_stays_data(graded):
    folder, code, _ = graded['hostile']
    report, junit, gradescope = load(graded, 'hostile')
    assert code == 1 and report['verdict'] == 'failed'
    assert sorted(re.sub(r' \((advisory|not run|skipped)\)$', '', c.get('name'))
                  for c in junit.iter('testcase')) == \
        sorted(c['id'].split('.', 1)[-1] for c in report['checks'])
    text = (folder / 'junit.xml').read_text(encoding='utf-8')
    assert '\x00' not in text and '\x1b' not in text
    tanh = next(t for t in gradescope['tests'] if t['name'] == 'ops.tanh')
    assert tanh['status'] == 'failed' and '</failure>]]>' in tanh['output']


def test_console_groups_failures_by_cause_with_expected_and_actual(graded):
    console = graded['failing'][2]
    headlines = re.findall(r'^FAIL  (.*)$', console, re.M)
    assert len(headlines) == len(set(headlines)) and 'assigned instead of accumulated' in headlines[0]
    assert re.search(r'seen by ops\.add, (ops\.\w+, )*backward\.accumulate\b', console, re.M)
    assert 'a.grad: expected -4.0, got -2.0' in console
    assert re.search(r'at Value.__add__ \(\S*bug_overwrite_grad.py:23\)', console)  # its rule's `=`
    assert 'warning  robustness.' in console
    assert not re.search(r'FAIL\s+(robustness|mlp\.one_neuron_layer)', console)


def test_one_misconception_in_one_method_is_one_bug_and_others_are_its_consequences():
    from micrograde.checks.causes import link
    from micrograde.model.results import Check, Code, Misconception, Report
    report = Report('engine.py', methods={'__add__': {'file': 'engine.py', 'line': 18},
                                          'backward': {'file': 'engine.py', 'line': 90}})
    report.checks = [
        Check('ops.add', 'ops', 'failed', 'm',
              misconception=Misconception(Code.ASSIGNED, 'add', '__add__', line=22)),
        Check('ops.sub', 'ops', 'failed', 'm',  # `self + (-other)`: the rule of __add__ ran
              misconception=Misconception(Code.ASSIGNED, 'sub', '__add__', line=22)),
        Check('ops.truediv', 'ops', 'failed', 'm',
              misconception=Misconception(Code.SINGLE_PRECISION, method='__init__')),
        Check('ops.exp', 'ops', 'failed', 'm',
              misconception=Misconception(Code.SINGLE_PRECISION, method='__init__')),
        Check('fuzz.dags', 'fuzz', 'failed', 'm', misconception=Misconception(Code.GRADIENTS_DISAGREE)),
        Check('mlp.gradients', 'mlp', 'failed', 'm')]
    link(report)
    causes = {root.id: [c.id for c in found] for root, found in report.causes()}
    assert causes == {'ops.add': ['ops.sub', 'fuzz.dags', 'mlp.gradients'], 'ops.truediv': ['ops.exp']}
    assert all(c.misconception.method == '__add__' for c in report.checks if c.consequence_of == 'ops.add')
    assert report.checks[0].misconception.file == 'engine.py' and report.checks[0].misconception.line == 22


def test_the_console_names_ops_not_implemented_only_when_they_were_probed(graded):
    assert 'so not checked: sub, sub_const' in graded['partial'][2]
    unloadable = graded['unloadable'][2]
    assert 'so not checked' not in unloadable and 'syntax error' in unloadable


@pytest.mark.parametrize('indent', [1, None])
def test_a_notebooks_source_lines_are_found_where_its_file_writes_them(indent):
    from micrograde.grader.lines import source_lines
    nb = json.loads((SUBMISSIONS / 'lecture_notebook.ipynb').read_text())
    text = json.dumps(nb, indent=indent)
    found, rows = source_lines(text), text.split('\n')
    code = [(number, cell) for number, cell in enumerate(nb['cells'], 1) if cell['cell_type'] == 'code']
    assert len(code) > 1 and not found[1]  # the notebook opens with markdown, never placed
    for number, cell in code:
        source = ''.join(cell['source']).split('\n')
        for line, code in enumerate(source, 1):
            if code.strip():
                assert json.dumps(code)[1:-1] in rows[found[number][line] - 1], (number, line)


def test_a_notebooks_saved_outputs_are_not_walked(monkeypatch):
    """Only what leads to a cell's source is walked token by token: the outputs (which may fill
    a 100 MiB notebook) are passed over by the JSON decoder, whatever their size."""
    from micrograde.grader import lines as places
    nb = json.loads((SUBMISSIONS / 'lecture_notebook.ipynb').read_text())
    walked, walk = [], places._walk
    monkeypatch.setattr(places, '_walk', lambda *a: walked.append(1) or walk(*a))
    steps = []
    for size in (10, 10_000):
        nb['cells'][1]['outputs'] = [{'output_type': 'execute_result', 'data': {'x': [0] * size}}]
        walked.clear()
        assert places.source_lines(json.dumps(nb, indent=1))[2]  # still found
        steps.append(len(walked))
    assert steps[0] == steps[1], steps


def test_a_notebooks_lines_are_read_within_bounds(tmp_path, monkeypatch):
    """Never through a link, never past ``MAX_FILE`` bytes, never past ``MAX_SOURCE`` characters
    of code (a graded notebook holds no more): a line not found is the file's first."""
    from micrograde.grader import lines
    text = (SUBMISSIONS / 'lecture_notebook.ipynb').read_text()
    (tmp_path / 'nb.ipynb').write_text(text)
    (tmp_path / 'link.ipynb').symlink_to(tmp_path / 'nb.ipynb')
    naming = Report('nb.ipynb', checks=[Check('ops.add', 'ops', 'failed', 'at cell 2, line 1')])

    def line(path):
        naming.notebook_lines = lines.recorded(path, naming)
        return lines.file_line(naming, 2, 1)
    assert line(tmp_path / 'nb.ipynb') > 1
    assert line(tmp_path / 'link.ipynb') == 1
    every = lines.source_lines(text)
    monkeypatch.setattr(lines, 'MAX_SOURCE', len(''.join(json.loads(text)['cells'][1]['source'])))
    found = lines.source_lines(text)
    assert found[2] == every[2] and every[3] and not found.get(3)  # cell 2's lines, no more
    monkeypatch.setattr(lines, 'MAX_FILE', len(text) - 1)
    assert line(tmp_path / 'nb.ipynb') == 1


def test_a_notebooks_lines_are_recorded_in_its_report_for_the_cells_it_names(graded):
    """One run of lines per cell the report names (nbformat writes a line per line), and only
    those: a report stays small whatever the notebook."""
    report = json.loads((graded['notebook'][0] / 'report.json').read_text())
    named = set(re.findall(r'\bcell (\d+)\b', json.dumps({**report, 'notebook_lines': {}})))
    assert named and set(report['notebook_lines']) == named
    assert all(len(runs) == 1 for runs in report['notebook_lines'].values())
    assert not load(graded, 'failing')[0]['notebook_lines']  # a .py file: lines are its own


@pytest.mark.parametrize('kind', KINDS)
def test_a_report_renders_the_same_wherever_it_is_rendered(graded, kind, tmp_path, monkeypatch):
    """Every format, rendered again from report.json alone (as the service renders a stored
    report, and a batch a submission named by its id), in a folder without the submission and
    another name: the same bytes as ``grade`` wrote. A reporter reads only the report."""
    from micrograde.reporters import FILENAMES, FORMATS
    folder = graded[kind][0]
    report = Report.from_dict(json.loads((folder / 'report.json').read_text()))
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    for name, render in FORMATS.items():
        assert render(report) == (folder / FILENAMES[name]).read_bytes(), (kind, name)


def test_advice_is_never_a_root_cause_nor_a_consequence():
    """A rubric that makes ops advisory: the required fuzz check that shows the same wrong rule
    is a finding of its own, not a consequence of the advice (which no consumer lists as a bug)."""
    from micrograde.checks.causes import link
    from micrograde.model.results import Check, Code, Misconception, Report
    rubric = dataclasses.replace(Rubric.load(), advisory=frozenset({'ops'}))
    report = Report('engine.py', methods={'__mul__': {'file': 'engine.py', 'line': 30}})
    report.checks = [Check('ops.mul', 'ops', 'failed', 'm', consequence_of='capability.mul',
                           misconception=Misconception(Code.ASSIGNED, 'mul', '__mul__', line=31)),
                     Check('fuzz.dags', 'fuzz', 'failed', 'm',
                           misconception=Misconception(Code.ASSIGNED, 'mul', '__mul__', line=31))]
    link(report, rubric.counts)
    advice, fuzz = report.checks
    assert fuzz.consequence_of == '' and advice.consequence_of == ''
    assert [(root.id, found) for root, found in rubric.apply(report).causes() if root.required] == \
        [('fuzz.dags', [])]
    assert advice.misconception.file == 'engine.py'  # advice is still placed at its method


def test_a_root_cause_costs_once_when_the_rubric_says_so_else_every_check(tmp_path):
    from micrograde.checks.causes import link
    from micrograde.model.results import Check, Code, Misconception, Report
    from micrograde.grader.rubric import Rubric, RubricError

    def graded(rubric):
        report = Report('engine.py', methods={'__add__': {'file': 'engine.py', 'line': 18}})
        m = Misconception(Code.ASSIGNED, 'add', '__add__', line=22)
        report.checks = [Check('load', 'load', 'passed', 'ok'),
                         Check('ops.add', 'ops', 'failed', 'm', misconception=m),
                         Check('backward.accumulate', 'backward', 'failed', 'm',
                               misconception=Misconception(Code.ASSIGNED, 'add', '__add__', line=22)),
                         Check('mlp.gradients', 'mlp', 'failed', 'm')]
        link(report)
        return rubric.apply(report)

    assert Rubric.load().charge == 'cause'  # the default rubric charges a root cause once
    once, every = graded(Rubric.load()), graded(dataclasses.replace(Rubric.load(), charge='check'))
    assert once.max_score == every.max_score == Rubric.load().total()
    # charged once: backward.accumulate's 2 points (its most valuable check); ops.add (1) and
    # mlp.gradients (2), which it explains, keep theirs; every other check was not run here
    assert (once.score, every.score) == (1 + 2, 0)
    assert once.verdict == every.verdict == 'failed'
    (tmp_path / 'r.toml').write_text('charge = "sometimes"\n')
    with pytest.raises(RubricError, match='charge'):
        Rubric.load(tmp_path / 'r.toml')
