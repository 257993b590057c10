"""Out of memory is what the grader sees, not what the worker says.  An item whose answer is a
MemoryError was a strike (``answers.Strikes``: the rest of its request not run, three strikes
stop the grading), and a strike is a price: a submission can raise MemoryError for nothing
where a bug would show, and the checks its bug fails are not run (attacker12's
``test_gaming_fuzz.test_a_memory_error_that_costs_nothing_is_no_strike``: 41/51 -> 45/51).
It is a strike now only when the worker's processes really held memory, half of the limit at
their peak, read by the grader in ``/proc`` (``Worker.exhausted``): by bytes, never by time, so
the same submission reads the same on a busy host.  Every path: ``grade`` (a worker of its own),
``batch`` (as root: a worker forked from the warm template), an unprivileged grader (no
throwaway uid: the processes under the worker), and the service."""
import json

import pytest

from engines import hostile_engine

LIMIT_MB = 1024
#: In backward(), so on every graph: a MemoryError that costs nothing, or one that fills memory.
CHEAP = 'raise MemoryError'
FILLS = 'hog = []\nwhile True:\n    hog.append(bytearray(50 * 2**20))'
STRIKE = 'ran out of memory'


def _read(report, fills):
    """A cheap MemoryError is an exception like any other: its checks fail with it, and none is
    "not run" for it.  One that filled memory is a strike, as before."""
    assert report['verdict'] != 'passed'
    messages = [c['message'] for c in report['checks']]
    assert any('MemoryError' in m for m in messages), messages
    struck = [m for m in messages if STRIKE in m]
    assert bool(struck) is fills, struck or messages


CONFIGS = [('bubblewrap', True), ('process', False)]


@pytest.mark.parametrize('fills', [False, True], ids=['cheap', 'fills'])
@pytest.mark.parametrize('via', ['grade', 'batch'])
@pytest.mark.parametrize('config', CONFIGS, ids=['bubblewrap', 'process-user'])
def test_a_memory_error_is_a_strike_only_where_memory_was_filled(installed, config, via, fills):
    grader = installed.grader(*config)
    folder = grader.work / 'class'
    folder.mkdir()
    (folder / 'oom.py').write_text(hostile_engine('', in_backward=FILLS if fills else CHEAP))
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
    _read(report, fills)


@pytest.mark.service
def test_a_memory_error_that_costs_nothing_is_no_strike_through_the_service(graded_by_a_worker):
    """The service grades as ``batch`` does as root (a worker forked from the warm template);
    it has no memory limit of its own to lower, and filling the default 6 GiB three times on a
    shared test machine is not done here."""
    served = graded_by_a_worker
    served.submit('oom', hostile_engine('', in_backward=CHEAP).encode())
    served.grade(timeout=300)
    _read(served.get('oom').json(), fills=False)
