"""A submission slow everywhere, each task within its own time limit, is held to the grading's
(``--grade-timeout``): the checks left then are not run, and say why (an attacker's engine whose
backward() sleeps 1.5 s held the grader for 9 minutes and passed)."""
import json

import pytest

from conftest import SUBMISSIONS

SLOW = (SUBMISSIONS / 'lecture_engine.py').read_text().replace(
    '    def backward(self):\n', '    def backward(self):\n        import time\n        time.sleep(0.05)\n', 1)
LIMIT = "the grading's time limit (2 s for all the checks, --grade-timeout) had passed"


@pytest.mark.parametrize('via', ['grade', 'batch'])
def test_a_submission_slow_everywhere_is_held_to_the_grading_time_limit(run_cli, tmp_path, via):
    assert SLOW.count('time.sleep') == 1
    folder = tmp_path / 'class'
    folder.mkdir()
    (folder / 'slow.py').write_text(SLOW)
    out = tmp_path / 'out'
    limits = ('--check-timeout', '5', '--grade-timeout', '2', '--profile', 'quick')
    if via == 'grade':
        result = run_cli('grade', folder / 'slow.py', '--json', out / 'report.json', *limits)
        report = json.loads((out / 'report.json').read_text())
    else:
        result = run_cli('batch', folder, '--out', out, '-j', '2', *limits)
        report = json.loads((out / 'slow.py' / 'report.json').read_text())
    assert result.returncode in (0, 1), result.stdout + result.stderr
    checks = report['checks']
    stopped = [i for i, c in enumerate(checks) if LIMIT in (c['message'] or '')]
    assert stopped and all(checks[i]['status'] != 'passed' for i in stopped)
    assert all(c['status'] != 'passed' for c in checks if c['id'].startswith('mlp.'))
    assert any(c['status'] == 'passed' for c in checks[:stopped[0]]), 'what ran before it stands'
    assert report['verdict'] == 'failed'
