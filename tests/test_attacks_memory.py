"""Out of memory is what the grader sees, not what the worker says.  An item whose answer is a
MemoryError was a strike (``answers.Strikes``: the rest of its request not run, three strikes
stop the grading), and a strike is a price: a submission can raise MemoryError for nothing
where a bug would show, and the checks its bug fails are not run (attacker12's
``test_gaming_fuzz.test_a_memory_error_that_costs_nothing_is_no_strike``: 41/51 -> 45/51).
It is a strike now only when the worker's processes really filled memory since the submission
was loaded (their peak grew by half of what the limit left), read by the grader in ``/proc``
(``Worker.exhausted``): by bytes, never by time, so the same submission reads the same on a busy
host; memory filled once at import, then a MemoryError for nothing, buys no strike either.  Every path: ``grade`` (a worker of its own),
``batch`` (as root: a worker forked from the warm template), an unprivileged grader (no
throwaway uid: the processes under the worker), and the service."""
import json

import pytest

from engines import hostile_engine

LIMIT_MB = 1024
FILL = 'hog = []\nwhile True:\n    hog.append(bytearray(50 * 2**20))'
#: ``(at import, in backward(), so on every graph)``: a MemoryError that costs nothing; the
#: same once memory was filled at import and freed (each worker's load fills it); one that
#: fills memory.
CASES = {'cheap': ('', 'raise MemoryError'),
         'import': (f'try:\n    {FILL.replace(chr(10), chr(10) + "    ")}\nexcept MemoryError:\n'
                    '    del hog\n', 'raise MemoryError'),
         'fills': ('', FILL)}
STRIKE = 'ran out of memory'


def _read(report, case):
    """A MemoryError that cost nothing since the load is an exception like any other: its
    checks fail with it, and none is "not run" for it.  One that filled memory is a strike, as
    before."""
    assert report['verdict'] != 'passed'
    messages = [c['message'] for c in report['checks']]
    assert any('MemoryError' in m for m in messages), messages
    struck = [m for m in messages if STRIKE in m]
    assert bool(struck) is (case == 'fills'), struck or messages


def _engine(case):
    at_import, in_backward = CASES[case]
    return hostile_engine(at_import, in_backward=in_backward)


CONFIGS = [('bubblewrap', True), ('process', False)]


@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('via', ['grade', 'batch'])
@pytest.mark.parametrize('config', CONFIGS, ids=['bubblewrap', 'process-user'])
def test_a_memory_error_is_a_strike_only_where_memory_was_filled(installed, config, via, case):
    grader = installed.grader(*config)
    folder = grader.work / 'class'
    folder.mkdir()
    (folder / 'oom.py').write_text(_engine(case))
    out = grader.work / 'out'
    grader._own(grader.work)
    options = ('--profile', 'quick', '--isolation', grader.level, '--memory-limit', LIMIT_MB)
    if via == 'grade':
        grader.run('grade', folder / 'oom.py', *options, '--out', out, '--no-color')
        report = json.loads((out / 'report.json').read_text())
    else:
        result = grader.run('batch', folder, '--out', out, '-j', '1', *options)
        assert result.returncode == 0, result.stdout + result.stderr
        report = json.loads((out / 'oom.py' / 'report.json').read_text())
    _read(report, case)


@pytest.mark.service
def test_a_memory_error_that_costs_nothing_is_no_strike_through_the_service(graded_by_a_worker):
    """The service grades as ``batch`` does as root (a worker forked from the warm template);
    it has no memory limit of its own to lower (the default is 6 GiB), so only the cheap case
    is tried here: filling 6 GiB on a machine the tests share is not."""
    served = graded_by_a_worker
    served.submit('oom', _engine('cheap').encode())
    served.grade(timeout=300)
    _read(served.get('oom').json(), 'cheap')
