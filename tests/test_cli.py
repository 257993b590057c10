"""Every example submission graded end to end through the real CLI, in real workers."""
import compileall
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import xml.etree.ElementTree as ET

import pytest

from conftest import ROOT, SUBMISSIONS, unnamed, validate_json, validate_junit

EXPECTED = tomllib.loads((SUBMISSIONS / 'expected.toml').read_text())


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
    where = subprocess.run([sys.executable, '-c', 'import harness; print(harness.__file__)'],
                           cwd=root, env=env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(root)), where
    subprocess.run([sys.executable, '-m', 'harness.cli', 'grade', str(submission), '--profile',
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
        for package in ('harness', 'reference'):
            shutil.copytree(ROOT / package, root / package,
                            ignore=shutil.ignore_patterns('__pycache__'))
        if cached:
            compileall.compile_dir(root / 'harness' / 'worker', quiet=1)
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


def test_required_op_from_rubric_fails_when_absent(run_cli, tmp_path):
    rubric = tmp_path / 'rubric.toml'
    rubric.write_text('required_ops = ["add", "mul", "backward", "exp"]\n')
    result = run_cli('grade', SUBMISSIONS / 'missing_ops.py', '--profile', 'quick', '--rubric',
                     rubric, '--json', tmp_path / 'r.json')
    assert result.returncode == 1
    checks = {c['id']: c for c in json.loads((tmp_path / 'r.json').read_text())['checks']}
    assert checks['capability.exp']['status'] == 'failed'


def test_usage_errors_exit_2(run_cli):
    assert run_cli('grade').returncode == 2
    assert run_cli('grade', 'x.py', '--profile', 'nope').returncode == 2


def test_installed_third_party_engine_is_graded_like_a_student(run_cli, tmp_path):
    result = run_cli('grade', '--module', 'micrograd', '--profile', 'quick', '--json',
                     tmp_path / 'r.json')
    report = json.loads((tmp_path / 'r.json').read_text())
    assert result.returncode == 0, result.stdout
    assert report['verdict'] == 'passed'
    assert report['capabilities']['relu'] == 'present' and report['capabilities']['tanh'] == 'absent'


def test_our_own_packages_are_not_importable_by_a_submission(run_cli, tmp_path):
    result = run_cli('grade', '--module', 'harness', '--profile', 'quick', '--json', tmp_path / 'r.json')
    report = json.loads((tmp_path / 'r.json').read_text())
    assert result.returncode == 1 and 'no installed module' in report['checks'][0]['message']


def test_zip_of_a_package_is_graded(run_cli, tmp_path):
    import shutil
    archive = shutil.make_archive(str(tmp_path / 'sub'), 'zip', SUBMISSIONS, 'micrograd')
    result = run_cli('grade', archive, '--profile', 'quick', '--json', tmp_path / 'r.json')
    assert result.returncode == 0, result.stdout
