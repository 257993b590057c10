"""The worker's side of the protocol is the submission's: attacks on it, each a real submission
(``tests/attacks/``) graded through the real CLI (``grade``), a batch (``batch -j 2``: the warm
template where bubblewrap runs as root) and the service.

Whatever the worker sends, grading ends in bounded time with every report written and under
1 MB; a worker that breaks the protocol fails every check as "the submission interfered with
grading" (never skipped, never passed), and the batch goes on to the next submission.  Most of
these attacks reach the answer channel through the worker's frames, which its guard sees first
(``tests/test_tamper.py``): they fail every check as "the submission tampered with the grader"
instead, with a finding for staff on top.  Either way the grade is void.
"""
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import ROOT, SUBMISSIONS, micrograde


@pytest.fixture
def run_cli():
    """A grading process of its own per attack: a worker that breaks the protocol must cost
    that process's grade, never the test's."""
    return micrograde

ATTACKS = Path(__file__).with_name('attacks')
#: Appended to the lecture's engine: an attack's ``_attack(self)`` runs at every backward().
HOOK = '''

if '_attack' in globals():
    _backward = Value.backward

    def _hooked(self):
        _attack(self)
        return _backward(self)
    Value.backward = _hooked
'''
#: attack -> what grading must make of it: 'interfered' (the grade is void), a bound the report
#: keeps ('capped': the engine is correct, only its texts are long), or nothing ('graded': the
#: attack finds nothing to change, and the correct engine passes).
EXPECT = {
    'partial_message': 'interfered',
    'done_without_results': 'interfered',
    'warning_none': 'interfered',
    'unasked_answers': 'interfered',
    'huge_counts': 'interfered',
    'wrong_types': 'interfered',
    'json_bomb': 'interfered',
    'mlp_short_grads': 'interfered',
    'mlp_short_losses': 'graded',
    'seconds_huge': 'interfered',
    'warning_huge': 'capped',
    'loud': 'capped',
    'leak_paths': 'capped',
}
INTERFERED = 'interfered with grading'
TAMPERED = 'tampered with the grader'
MAX_REPORT = 1_000_000
ARGS = ('--profile', 'quick', '--load-timeout', '10', '--check-timeout', '5')


def attack(name):
    """The submission: the channel helper, the attack, the lecture's (correct) engine."""
    return ((ATTACKS / '_channel.py').read_text() + '\n' + (ATTACKS / f'{name}.py').read_text()
            + '\n' + (SUBMISSIONS / 'lecture_engine.py').read_text() + HOOK)


def grader_paths():
    """Where this grader is: the project, its environment, Python, the home folder, each as a
    submission may print it."""
    import os
    import sys
    from urllib.parse import quote
    paths = {str(ROOT), sys.prefix, sys.base_prefix, os.path.expanduser('~')}
    return {form for p in paths for form in (p + '/', quote(p, safe=''), p.replace('/', '\\/'))}


def assert_holds(name, folder):
    """The reports in ``folder`` of the attack ``name``: complete, bounded, and as expected."""
    ET.parse(folder / 'junit.xml')
    json.loads((folder / 'results.json').read_text())
    assert (folder / 'report.html').stat().st_size < 4 * MAX_REPORT
    return assert_report(name, (folder / 'report.json').read_bytes())


def assert_report(name, raw):
    """``report.json`` of the attack ``name``: under 1 MB, no grader path, as expected."""
    assert len(raw) < MAX_REPORT, f'{name}: report.json is {len(raw)} bytes'
    text = json.dumps(json.loads(raw), ensure_ascii=False)  # as read, JSON's own escapes undone
    leaked = [p for p in grader_paths() if p in text or p in raw.decode()]
    assert not leaked, f"{name}: {leaked} " + repr([text[max(0, text.find(p) - 150):text.find(p) + 60] for p in leaked][:2])
    report = json.loads(raw)
    if EXPECT[name] == 'interfered':
        assert report['verdict'] == 'failed' and report['score'] == 0
        wrong = [(c['id'], c['status'], c['message'][:80]) for c in report['checks']
                 if c['status'] != 'failed' or not (INTERFERED in c['message']
                                                    or TAMPERED in c['message'])]
        assert not wrong, f'{name}: {wrong[:5]}'
    else:
        assert all(len(w) <= 2100 for w in report['load_warnings'])
        assert all(len(c['output']) <= 8300 for c in report['checks'])
        assert report['verdict'] == 'passed', name  # long texts are no reason to fail
    return report


@pytest.mark.parametrize('name', sorted(EXPECT))
def test_an_attack_on_the_protocol_through_grade(run_cli, tmp_path, name):
    path = tmp_path / f'{name}.py'
    path.write_text(attack(name))
    result = run_cli('grade', path, '--out', tmp_path / 'out', '--no-color', *ARGS, timeout=120)
    assert 'Traceback' not in result.stderr, result.stderr[-2000:]
    assert result.returncode == (1 if EXPECT[name] == 'interfered' else 0)
    assert_holds(name, tmp_path / 'out')


def test_attacks_on_the_protocol_through_a_batch(run_cli, tmp_path):
    """Every attack in one class with two honest neighbours: all graded, in bounded time."""
    folder = tmp_path / 'class'
    folder.mkdir()
    for name in EXPECT:
        (folder / f'{name}.py').write_text(attack(name))
    for honest in ('lecture_engine.py', 'bug_overwrite_grad.py'):
        (folder / honest).write_bytes((SUBMISSIONS / honest).read_bytes())
    out = tmp_path / 'out'
    result = run_cli('batch', folder, '--out', out, '-j', '2', *ARGS, timeout=600)
    assert 'Traceback' not in result.stderr, result.stderr[-2000:]
    for name in EXPECT:
        assert_holds(name, out / f'{name}.py')
    book = (out / 'gradebook.csv').read_text().splitlines()
    assert len(book) == 1 + len(EXPECT) + 2 and (out / 'index.html').exists()
    verdicts = {line.split(',')[0]: line.split(',')[3] for line in book[1:]}
    assert verdicts['lecture_engine.py'] == 'passed'
    assert verdicts['bug_overwrite_grad.py'] == 'failed'


@pytest.mark.service
def test_attacks_on_the_protocol_through_the_service(graded_by_a_worker):
    """Every attack uploaded with an honest neighbour, graded by one real worker process."""
    served = graded_by_a_worker
    for name in EXPECT:
        served.submit(name, attack(name).encode())
    served.submit('honest', (SUBMISSIONS / 'lecture_engine.py').read_bytes())
    done = served.grade()
    assert done.pop('honest')['verdict'] == 'passed'
    for name, job in done.items():
        assert job['status'] == 'done', (name, job)
        assert_report(name, served.get(name).content)
        ET.fromstring(served.get(name, 'report.xml').content)
        assert served.get(name, 'report.html').status_code == 200
