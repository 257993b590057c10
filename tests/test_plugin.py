"""The pytest plugin and the Classroom test file, run by real pytest processes (pytester)."""
import ast
import os
import shutil
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import actions
from conftest import SUBMISSIONS, in_process, one_grade, one_junit, validate_junit
from micrograde.checks import check_ids
from micrograde.grader.config import Config
from micrograde.grader.rubric import Rubric

pytest_plugins = ['pytester']

EVERY = ['load', *check_ids()]
NO_TORCH_AT_COLLECTION = '''
import sys

def pytest_collection_finish(session):
    print("TORCH IMPORTED:", "torch" in sys.modules)
'''


def test_collection_makes_one_item_per_check_without_torch(pytester):
    pytester.makeconftest(NO_TORCH_AT_COLLECTION)
    pytester.makeini(f'[pytest]\nmicrograde = {SUBMISSIONS / "lecture_engine.py"}\n')
    result = pytester.runpytest_subprocess('--collect-only', '-q', '-p', 'no:cacheprovider')
    result.stdout.fnmatch_lines(['TORCH IMPORTED: False'])
    assert [f'micrograde::{i}' for i in EVERY] == \
        [line for line in result.outlines if line.startswith('micrograde::')]


def test_the_header_counts_the_checks_and_says_the_profile_the_cli_uses(pytester):
    pytester.makeini(f'[pytest]\nmicrograde = {SUBMISSIONS / "lecture_engine.py"}\n')
    result = pytester.runpytest_subprocess('--collect-only', '-p', 'no:cacheprovider')
    result.stdout.fnmatch_lines([f'micrograde: *lecture_engine.py (profile {Config.profile}, seed 0*',
                                 f'collected {len(EVERY)} items'])
    assert Config.profile == 'standard'


def test_a_real_run_lists_every_check_in_junit_and_json_and_grades_once(pytester):
    # two xdist workers that each run every test (--dist each), recording the grading they saw
    pytester.makepyfile(test_seen='''
import pytest

@pytest.mark.parametrize("k", range(3))
def test_seen(micrograde_report, worker_id, k):
    with open("seen.txt", "a") as f:
        f.write(f"{worker_id} {micrograde_report.timestamp} {micrograde_report.timings['total']}\\n")
''')
    out = pytester.path / 'reports'
    result = pytester.runpytest_subprocess(
        f'--micrograde={SUBMISSIONS / "bug_overwrite_grad.py"}', '-n', '2', '--dist', 'each',
        '-p', 'no:cacheprovider',
        '--junitxml=junit.xml', f'--micrograde-out={out}', '-rfx')
    outcomes = result.parseoutcomes()
    assert outcomes['failed'] >= 1 and outcomes['xfailed'] >= 1
    # readable failures: the diagnosis, the counterexample, expected vs actual, the method
    text = result.stdout.str()
    for expected in ('the gradient is assigned instead of accumulated', 'Reproduce with:',
                     'a.grad: expected -4.0, got -2.0', 'at Value.__add__ ('):
        assert expected in text
    assert 'Traceback' not in text
    validate_junit(pytester.path / 'junit.xml')
    cases = ET.parse(pytester.path / 'junit.xml').getroot().iter('testcase')
    names = [c.get('name') for c in cases if c.get('classname') == 'micrograde']
    assert sorted(names) == sorted(EVERY * 2)
    report = json.loads((out / 'report.json').read_text())
    assert [c['id'] for c in report['checks']] == EVERY
    seen = (pytester.path / 'seen.txt').read_text().split('\n')[:-1]
    assert len({line.split()[0] for line in seen}) == 2, 'both workers ran tests'
    assert len({tuple(line.split()[1:]) for line in seen}) == 1, 'one grading for the session'
    # the score beside pytest's own summary, as without xdist: its controller's run id was not
    # its workers', so it found no grading and said nothing
    score = f'micrograde: {report["verdict"].upper()}  score {report["score"]:g} / {report["max_score"]:g}'
    assert score in result.outlines, text[-2000:]


def test_advisory_findings_are_xfail_and_a_correct_engine_passes(pytester):
    result = pytester.runpytest_subprocess(f'--micrograde={SUBMISSIONS / "lecture_engine.py"}',
                                           '-p', 'no:cacheprovider', '-rx')
    outcomes = result.parseoutcomes()
    assert result.ret == 0 and 'failed' not in outcomes and outcomes['xfailed'] >= 1
    result.stdout.fnmatch_lines(['XFAIL micrograde::robustness.* - advisory: *'])


@pytest.mark.parametrize('option', ['--micrograde-rubric=bad.toml', '--micrograde-out=blocker/out'])
def test_a_rubric_or_out_folder_it_cannot_use_is_one_usage_error_before_grading(pytester, option):
    """A rubric that cannot be read, or an out folder that cannot be written: every item, the
    advisory ones too, failed with the grader's traceback, and each graded the submission again
    (the report was kept only after the reports were written). Now one usage error, nothing run."""
    pytester.path.joinpath('bad.toml').write_text('points = [\n')
    pytester.path.joinpath('blocker').write_text('a file, not a folder')
    result = pytester.runpytest_subprocess(f'--micrograde={SUBMISSIONS / "lecture_engine.py"}',
                                           '--micrograde-profile=quick', option, '-p', 'no:cacheprovider')
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.outlines[-20:]
    shown = '\n'.join(result.outlines + result.errlines)
    assert f'ERROR: {option.partition("=")[0]}: cannot ' in shown, shown[-2000:]
    assert 'Traceback' not in shown and 'failed' not in shown, shown[-2000:]


def test_pytests_own_junit_of_the_checks_is_annotated_at_the_learners_line_by_dorny(pytester):
    """``pytest --micrograde=hw/engine.py --junitxml=...``, read by dorny/test-reporter
    (java-junit, as the shipped workflow reads micrograde's own JUnit): every failure was put on
    the JUnit file itself, line 0, as pytest's failure text had no frame dorny reads. It now
    ends in the frame micrograde's own JUnit carries: the learner's file and line, by dorny's
    rule and by its dist/index.js under Node."""
    import actions
    from test_reports import dorny_place
    (pytester.path / 'hw').mkdir()
    shutil.copy(SUBMISSIONS / 'bug_overwrite_grad.py', pytester.path / 'hw' / 'engine.py')
    subprocess.run(['git', 'init', '-q', str(pytester.path)], check=True)
    subprocess.run(['git', '-C', str(pytester.path), 'add', 'hw'], check=True)
    result = pytester.runpytest_subprocess('--micrograde=hw/engine.py', '--micrograde-profile=quick',
                                           '--micrograde-out=reports', '-p', 'no:cacheprovider',
                                           '--junitxml=junit.xml')
    assert result.ret == 1
    report = json.loads((pytester.path / 'reports' / 'report.json').read_text())
    line = next(c for c in report['checks'] if c['id'] == 'ops.add')['misconception']['line']
    failures = list(ET.parse(pytester.path / 'junit.xml').getroot().iter('failure'))
    assert failures and {dorny_place(f.text, ['hw/engine.py']) for f in failures} == {('hw/engine.py', line)}
    if actions.missing(actions.DORNY):
        pytest.skip(actions.missing(actions.DORNY))
    _, calls, _ = actions.run(actions.DORNY, pytester.path, {
        'name': 'pytest', 'path': 'junit.xml', 'reporter': 'java-junit', 'use-actions-summary': 'false'})
    posted = [a for _, _, body in calls if body and body.get('output', {}).get('annotations')
              for a in body['output']['annotations']]
    assert posted and {(a['path'], a['start_line']) for a in posted} == {('hw/engine.py', line)}, posted


def test_the_plugin_grades_as_micrograde_grade_does_and_shows_no_grader_path(pytester):
    """From a course repository's root, ``pytest --micrograde=hw/engine.py`` and ``micrograde
    grade hw/engine.py``: the same report and JUnit (the path as the repository names it, which
    GitHub's annotators open), and pytest's own terminal and JUnit name no file of the grader's
    (a skip is shown at the submission) nor the repository's absolute path."""
    import micrograde
    (pytester.path / 'hw').mkdir()
    shutil.copy(SUBMISSIONS / 'bug_overwrite_grad.py', pytester.path / 'hw' / 'engine.py')
    result = pytester.runpytest_subprocess('--micrograde=hw/engine.py', '--micrograde-out=plugin',
                                           '-p', 'no:cacheprovider', '--junitxml=pytest.xml', '-rsx')
    assert result.parseoutcomes()['skipped'] >= 1
    done = subprocess.run([sys.executable, '-m', 'micrograde.surfaces.cli', 'grade', 'hw/engine.py',
                           '--out', 'grade', '--no-color'], cwd=pytester.path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    read = {k: json.loads((pytester.path / k / 'report.json').read_text()) for k in ('plugin', 'grade')}
    assert read['plugin']['submission'] == 'hw/engine.py'
    assert one_grade(read['plugin']) == one_grade(read['grade'])
    assert one_junit((pytester.path / 'plugin' / 'junit.xml').read_text()) == \
        one_junit((pytester.path / 'grade' / 'junit.xml').read_text())
    ours = [line for line in result.outlines[result.outlines.index(f'collected {len(EVERY)} items'):]
            if 'generated xml file' not in line]  # pytest's own lines: its rootdir, its xml file
    shown = '\n'.join(ours) + (pytester.path / 'pytest.xml').read_text()
    line = next(c for c in read['grade']['checks'] if c['id'] == 'ops.add')['misconception']['line']
    assert f'hw/engine.py:{line}' in shown  # the failure at the learner's line, named as graded
    for path in (str(pytester.path), str(Path(micrograde.__file__).parent)):
        assert path not in shown, path


def _points_tests(tree):
    """The ``def test_*`` of a written Classroom test file, as ``{name: (check id, k, count)}``."""
    tests = [f for f in tree.body if isinstance(f, ast.FunctionDef)]
    assert all(len(f.body) == 1 and not f.args.args for f in tests)
    return {f.name: tuple(ast.literal_eval(a) for a in f.body[0].value.args) for f in tests}


def test_classroom_test_file_is_plain_tests_the_python_grader_reads(pytester):
    (pytester.path / 'micrograd.ipynb').write_bytes((SUBMISSIONS / 'lecture_notebook.ipynb').read_bytes())
    target = pytester.path / 'tests' / 'micrograde_test.py'
    done = in_process('classroom-tests', '--out', target, '--submission',
                      pytester.path / 'micrograd.ipynb')
    assert done.returncode == 0, done.stderr
    tests = _points_tests(ast.parse(target.read_text()))
    rubric = Rubric.load()
    # one test per point of the rubric, each check's as many as its points, in the checks' order
    assert len(tests) == rubric.total() and f'max-score {rubric.total():g}' in done.stdout
    assert [i for i, _, _ in tests.values()] == [i for i in EVERY if rubric.graded(i) for _ in
                                                   range(int(rubric.worth(i, i.split('.')[0])))]
    # what the python grader runs: pytest on the *_test.py files, from the repository's root
    result = pytester.runpytest_subprocess('-s', '-p', 'no:cacheprovider', str(target))
    outcomes = result.parseoutcomes()
    assert result.ret == 0 and outcomes == {'passed': len(tests)}
    assert in_process('classroom-tests', '--out', pytester.path / 'checks.py', '--submission',
                      'x.py').returncode == 2
    # the grade `micrograde grade` gives it: the same profile, the submission named as given
    assert f", {str(pytester.path / 'micrograd.ipynb')!r}, {Config.profile!r})" in target.read_text()


def test_classroom_tests_follow_the_course_s_rubric(pytester):
    """A course grading with its own rubric (`micrograde grade --rubric`) could only write the
    lecture's tests: classroom-tests had no --rubric, so Classroom's python grader posted points
    of the lecture's 51 while Gradescope, the batch and the service graded the course's. Now
    its tests are the course's points, and they grade with the course's rubric."""
    (pytester.path / 'engine.py').write_bytes((SUBMISSIONS / 'bug_overwrite_grad.py').read_bytes())
    (pytester.path / 'grading').mkdir()
    rubric_file = pytester.path / 'grading' / 'rubric.toml'
    rubric_file.write_text('required_ops = ["add", "mul", "backward", "tanh"]\n'
                           'advisory = ["robustness", "mlp"]\n'
                           '[points]\nops = 2\nbackward = 3\nfuzz = 5\nmlp = 0\nrobustness = 0\n')
    rubric = Rubric.load(rubric_file)
    target = pytester.path / 'tests' / 'micrograde_test.py'
    done = in_process('classroom-tests', '--out', target, '--submission', pytester.path / 'engine.py',
                      '--rubric', rubric_file, '--profile', 'quick')
    assert done.returncode == 0, done.stderr
    tests = _points_tests(ast.parse(target.read_text()))
    assert f'max-score {rubric.total():g}' in done.stdout and rubric.total() != Rubric.load().total()
    assert sorted(i for i, _, _ in tests.values()) == sorted(
        i for i in EVERY if rubric.graded(i) and rubric.worth(i, i.split('.')[0])
        for _ in range(int(rubric.worth(i, i.split('.')[0]) // 1)))
    assert in_process('grade', pytester.path / 'engine.py', '--profile', 'quick', '--rubric',
                      rubric_file, '--json', pytester.path / 'graded.json').returncode == 1
    report = json.loads((pytester.path / 'graded.json').read_text())
    assert report['max_score'] == rubric.total()
    result = pytester.runpytest_subprocess('-p', 'no:cacheprovider', '--junitxml',
                                           str(pytester.path / 'run.xml'), str(target))
    points = python_grader_points(pytester.path / 'run.xml', rubric.total())
    assert points == pytest.approx(report['score']) and report['score'] < rubric.total()
    assert result.ret == 1
    bad = pytester.path / 'bad.toml'
    bad.write_text('required_ops = ["mull"]\n')
    refused = in_process('classroom-tests', '--out', target, '--submission', 'engine.py',
                         '--rubric', bad)
    assert refused.returncode == 2 and "unknown op in required_ops: 'mull'" in refused.stderr


def test_a_micrograde_option_without_a_submission_is_a_usage_error(tmp_path):
    """``pytest --micrograde-rubric /abs/rubric.toml`` in a course repository whose ini file
    names the submission ran nothing ("no tests ran", exit 5): pytest takes a path argument's
    folder into its rootdir, found no ini file there, and the plugin, with no submission, was
    silent about the option it had been given. It is now a usage error that says why."""
    repo = tmp_path / 'repo'
    repo.mkdir()
    (repo / 'engine.py').write_bytes((SUBMISSIONS / 'lecture_engine.py').read_bytes())
    (repo / 'pytest.ini').write_text('[pytest]\nmicrograde = engine.py\n')
    rubric = tmp_path / 'rubric.toml'
    rubric.write_text('required_ops = ["add", "mul", "backward"]\n')
    done = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
                           '--micrograde-rubric', str(rubric)], cwd=repo, capture_output=True,
                          text=True, timeout=300)
    said = done.stdout + done.stderr
    assert done.returncode == 4, said  # pytest's usage error
    assert '--micrograde-rubric needs a submission' in said and '--micrograde-rubric=' in said
    assert str(tmp_path) in said  # the rootdir pytest chose, where it looked for the ini file


def test_the_ini_file_names_the_course_s_rubric_as_it_names_the_submission(pytester):
    """A course repository's pytest.ini could name the submission (``micrograde = ...``) but
    not the rubric: only ``--micrograde-rubric`` on every command line. ``micrograde_rubric``
    in the ini file, a path from its folder, grades as ``micrograde grade --rubric`` does."""
    (pytester.path / 'engine.py').write_bytes((SUBMISSIONS / 'bug_overwrite_grad.py').read_bytes())
    (pytester.path / 'grading').mkdir()
    (pytester.path / 'grading' / 'rubric.toml').write_text('[points]\nfuzz = 3\nmlp = 0\n')
    pytester.makeini('[pytest]\nmicrograde = engine.py\nmicrograde_rubric = grading/rubric.toml\n'
                     'micrograde_profile = quick\n')
    result = pytester.runpytest_subprocess('-p', 'no:cacheprovider')
    total = Rubric.load(pytester.path / 'grading' / 'rubric.toml').total()
    assert total != Rubric.load().total()
    assert any(line.startswith('micrograde: FAILED  score ') and f' / {total:g}' in line
               for line in result.outlines), result.stdout.str()[-1500:]


def python_grader_points(junit, max_score):
    """The points GitHub Classroom's python grader posts for a run of its tests
    (classroom-resources/autograding-python-grader, runner/__init__.py and data.py): a test is
    ``Status.PASS`` until a report of it fails (a skip, an xfail stay passes), and each passing
    test scores ``max_score / len(tests)``."""
    cases = list(ET.parse(junit).getroot().iter('testcase'))
    passing = [c for c in cases if c.find('failure') is None and c.find('error') is None]
    return len(passing) / len(cases) * max_score


@pytest.mark.parametrize('name', ['value_only.py', 'bug_tanh_derivative.py'])
def test_the_python_grader_posts_the_grades_points(pytester, name):
    """The Classroom test file was one test per check: the python grader gives each an equal
    share and counts a skipped test as passed, so an engine with no MLP and no ``-`` (29/51,
    passed) posted 51/51 (every check skipped or passed), and a wrong ``tanh`` (49/51) 48.8. Now
    one test per point, passing where the grade kept it: the points posted are the grade's."""
    (pytester.path / 'engine.py').write_bytes((SUBMISSIONS / name).read_bytes())
    target = pytester.path / 'tests' / 'micrograde_test.py'
    assert in_process('classroom-tests', '--out', target, '--submission', pytester.path / 'engine.py',
                      '--profile', 'quick').returncode == 0
    graded = pytester.path / 'graded.json'
    assert in_process('grade', pytester.path / 'engine.py', '--profile', 'quick', '--json',
                      graded).returncode in (0, 1)
    report = json.loads(graded.read_text())
    pytester.runpytest_subprocess('-s', '-p', 'no:cacheprovider', '--junitxml=run.xml', str(target))
    points = python_grader_points(pytester.path / 'run.xml', report['max_score'])
    assert points == pytest.approx(report['score']) and 0 < report['score'] < report['max_score']
    unrun = [c['id'] for c in report['checks'] if c['status'] == 'skipped' and c['max_score']]
    said = (pytester.path / 'run.xml').read_text()
    assert all(f'{i}: ' in said for i in unrun)  # each says why it kept none of its points


def test_writing_the_classroom_tests_imports_neither_pytest_nor_torch(tmp_path):
    """pytest is a development extra and torch the grader's: a fresh process writes the file
    with neither (the test file imports the plugin when it runs, where pytest is)."""
    code = ('import sys\nfrom micrograde.surfaces.cli import main\n'
            'try:\n    main(["classroom-tests", "--out", sys.argv[1], "--submission", "e.py"])\n'
            'except SystemExit as e:\n    assert e.code == 0, e\n'
            'print(sorted({m.split(".")[0] for m in sys.modules} & {"pytest", "_pytest", "torch"}))')
    done = subprocess.run([sys.executable, '-c', code, str(tmp_path / 'm_test.py')], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.split('\n')[-2] == '[]', done.stdout + done.stderr
    assert 'SUBMISSION.point(' in (tmp_path / 'm_test.py').read_text()


def test_the_plugins_score_line_says_what_the_console_says_beside_it(pytester):
    """``micrograde: FAILED  score 51 / 51`` under pytest, where the console says why beside it
    (``text.beside_score``: a required check worth no points failed; points in checks not run)."""
    from test_reports import EDITS
    source = (SUBMISSIONS / 'lecture_engine.py').read_text()
    (pytester.path / 'engine.py').write_text(source.replace(*EDITS['pointless']))
    result = pytester.runpytest_subprocess('--micrograde=engine.py', '--micrograde-profile=quick',
                                           '-p', 'no:cacheprovider')
    console = subprocess.run([sys.executable, '-m', 'micrograde.surfaces.cli', 'grade', 'engine.py',
                              '--profile', 'quick', '--no-color'], cwd=pytester.path,
                             capture_output=True, text=True, timeout=300).stdout
    said = next(line for line in console.splitlines() if line.startswith('FAILED  score'))
    assert '(' in said and f'micrograde: {said}' in result.outlines, said


def test_the_plugin_names_the_bugs_above_the_failed_items(pytester):
    """Under pytest, one wrong rule read as eight FAILED items and a score line; the console
    says "1 bug(s) found" and names it. The summary names each bug and the items it explains."""
    (pytester.path / 'engine.py').write_bytes((SUBMISSIONS / 'bug_overwrite_grad.py').read_bytes())
    result = pytester.runpytest_subprocess('--micrograde=engine.py', '--micrograde-profile=quick',
                                           '-p', 'no:cacheprovider')
    assert 'micrograde: 1 bug: ops.add, gradient assigned instead of accumulated (__add__); ' \
        in result.stdout.str(), result.stdout.str()[-1500:]
    assert 'more failing checks are its consequences' in result.stdout.str()


PYTHON_GRADER = actions.ACTIONS / 'classroom-resources+autograding-python-grader'


def python_grader(repo, max_score):
    """``(results.json, run.py's output)`` of classroom-resources/autograding-python-grader's
    own runner (bin/run.py, as its Docker entrypoint runs it: the repository's root, the test
    files found there, ``max_score`` as given), where it is checked out in MICROGRADE_ACTIONS.
    Its runner imports ``timeout_decorator`` and never calls it (the image's time limit is
    run.sh's ``timeout``): where that package is not installed, an empty module stands in for
    the import alone."""
    if not (PYTHON_GRADER / 'bin' / 'run.py').is_file():
        pytest.skip(f'the python grader is not checked out in {actions.ACTIONS}')
    uncalled = repo.parent / f'{repo.name}-uncalled'
    uncalled.mkdir(exist_ok=True)
    (uncalled / 'timeout_decorator.py').write_text('"""imported by runner/__init__.py, unused"""\n')
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join(
        [str(PYTHON_GRADER), *filter(None, [os.environ.get('PYTHONPATH')]), str(uncalled)])}
    imports = subprocess.run([sys.executable, '-c', 'import runner'], env=env, capture_output=True,
                             text=True)
    if imports.returncode:
        pytest.skip(f'the python grader cannot run here: {imports.stderr.strip().splitlines()[-1]}')
    (repo / 'out').mkdir(exist_ok=True)
    (repo / 'out' / 'results.json').unlink(missing_ok=True)
    done = subprocess.run([sys.executable, str(PYTHON_GRADER / 'bin' / 'run.py'), './', './out',
                           str(max_score)], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=600)
    written = repo / 'out' / 'results.json'
    return (json.loads(written.read_text()) if written.exists() else None), done.stdout + done.stderr


def test_the_python_graders_own_runner_posts_the_grades_points(pytester):
    """The python grader's own runner posts the grade's points, and so it does where the
    repository's pytest.ini names the submission for the plugin too (a course repository whose
    learners run ``pytest``): the plugin added its check items to the runner's session, and the
    runner, reading each test's source by its node id's file, stopped at ``micrograde::load``
    with an INTERNALERROR (no file ``micrograde``): 48.05 posted of a grade of 48, the status
    an error's."""
    (pytester.path / 'engine.py').write_bytes((SUBMISSIONS / 'value_only.py').read_bytes())
    printed = in_process('classroom-tests', '--out', pytester.path / 'tests' / 'micrograde_test.py',
                         '--submission', pytester.path / 'engine.py', '--profile', 'quick')
    assert printed.returncode == 0
    assert in_process('grade', pytester.path / 'engine.py', '--profile', 'quick', '--json',
                      pytester.path / 'graded.json').returncode == 0
    report = json.loads((pytester.path / 'graded.json').read_text())
    max_score = printed.stdout.split('max-score ')[1].split(')')[0]  # as the staff are told
    results, said = python_grader(pytester.path, max_score)
    assert sum(t['score'] for t in results['tests']) == pytest.approx(report['score']), said
    assert report['score'] < report['max_score']
    pytester.makeini('[pytest]\nmicrograde = engine.py\nmicrograde_profile = quick\n')
    results, said = python_grader(pytester.path, max_score)
    assert 'INTERNALERROR' not in said, said[-3000:]
    assert sum(t['score'] for t in results['tests']) == pytest.approx(report['score']), said
    assert results['status'] == 'fail' and len(results['tests']) == report['max_score']  # not error
    assert 'its checks ran as the tests of tests/micrograde_test.py' in said
    # plain pytest there: the checks once, as the plain tests
    result = pytester.runpytest_subprocess('-p', 'no:cacheprovider')
    outcomes = result.parseoutcomes()
    assert outcomes == {'passed': report['score'], 'failed': report['max_score'] - report['score']}, \
        result.stdout.str()[-2000:]


def test_classroom_tests_refuse_a_total_the_python_grader_cannot_take(pytester):
    """``classroom-tests`` with a rubric worth 29.5 points said "give the python grader
    max-score 29.5", which its runner refuses ("argument MAX: invalid int value: '29.5'"): no
    results, no points for anyone. It is a usage error now, saying what to do instead."""
    (pytester.path / 'engine.py').write_bytes((SUBMISSIONS / 'bug_overwrite_grad.py').read_bytes())
    half = pytester.path / 'half.toml'
    half.write_text('[points]\nops = 0.5\nbackward = 2\nfuzz = 5\nmlp = 0\nrobustness = 0\n'
                    'load = 0\ncapability = 0\n')
    assert Rubric.load(half).total() == 29.5
    target = pytester.path / 'tests' / 'micrograde_test.py'
    refused = in_process('classroom-tests', '--out', target, '--submission', 'engine.py',
                         '--rubric', half)
    assert refused.returncode == 2 and 'not a whole number' in refused.stderr, refused.stderr
    assert '--github-output' in refused.stderr and not target.exists()
    # the runner's own rule: a whole max-score or nothing
    target.parent.mkdir()
    target.write_text('def test_one():\n    pass\n')
    results, said = python_grader(pytester.path, 29.5)
    assert results is None and "invalid int value: '29.5'" in said, said[-500:]
    third = pytester.path / 'third.toml'  # thirds of a point: whole in all, no unit to count
    third.write_text('[points]\nload = 0\ncapability = 0\nops = 1\nbackward = 1\nfuzz = 1\n'
                     'mlp = 1\nrobustness = 0\n[points.checks]\n"ops.add" = 0.3333333333333333\n'
                     '"ops.mul" = 0.6666666666666667\n')
    assert Rubric.load(third).total() == round(Rubric.load(third).total())
    refused = in_process('classroom-tests', '--out', target, '--submission', 'engine.py',
                         '--rubric', third)
    assert refused.returncode == 2 and 'more than 1000 tests' in refused.stderr, refused.stderr
