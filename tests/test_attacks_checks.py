"""Answers a submission shapes within the protocol (numbers that are not floats, through its
own ops) against the checks that read them: a finding of the submission's, never "micrograde
itself failed" (before: ``checks/mlp._slopes`` subtracted two losses, and ``backward.repeat``
doubled a gradient, that were not floats: a TypeError in the grader)."""
import json

import pytest

from conftest import SUBMISSIONS, micrograde

#: The lecture engine whose network turns every parameter complex once a backward() has run
#: (and whose tanh takes a complex number): the MLP task's central differences then come back
#: as ``{'complex': [...]}`` answers, a shape the parser lets through (``answers.number``).
COMPLEX_AFTER_BACKWARD = '''

_backward = Value.backward
_ran = [0]


def _counted(self):
    _ran[0] += 1
    return _backward(self)


Value.backward = _counted
_call = MLP.__call__


def _complex_after_a_backward(self, x):
    if _ran[0]:
        for p in self.parameters():
            p.data = complex(p.data, 0.0)
    return _call(self, x)


MLP.__call__ = _complex_after_a_backward
'''
#: A Value that keeps every number it is given as a complex one: each graph's values and
#: gradients are ``{'complex': [...]}`` answers, backward.repeat's doubled gradients too.
COMPLEX_DATA = '''

_init = Value.__init__


def _complex_init(self, data, *args, **kwargs):
    _init(self, complex(data) if isinstance(data, (int, float)) else data, *args, **kwargs)


Value.__init__ = _complex_init
'''


CASES = {'mlp.gradients': COMPLEX_AFTER_BACKWARD, 'backward.repeat': COMPLEX_DATA}


def _engine(attack):
    return (SUBMISSIONS / 'lecture_engine.py').read_text().replace(
        'math.exp(2*x)', 'math.e ** (2*x)') + attack


def _fails_as_a_finding(report, check):
    found = next(c for c in report['checks'] if c['id'] == check)
    assert found['status'] == 'failed' and 'micrograde itself' not in found['message'], found


@pytest.mark.parametrize('via', ['grade', 'batch'])
@pytest.mark.parametrize('check', CASES)
def test_answers_that_are_not_floats_fail_the_check_that_reads_them(run_cli, tmp_path, check, via):
    folder = tmp_path / 'class'
    folder.mkdir()
    path = folder / 'not_floats.py'
    path.write_text(_engine(CASES[check]))
    out = tmp_path / 'out'
    if via == 'grade':
        run_cli('grade', path, '--profile', 'quick', '--out', out, '--no-color')
    else:
        result = micrograde('batch', folder, '--out', out, '-j', '1', '--profile', 'quick')
        assert result.returncode == 0, result.stdout + result.stderr
        out = out / 'not_floats.py'
    _fails_as_a_finding(json.loads((out / 'report.json').read_text()), check)


@pytest.mark.service
def test_answers_that_are_not_floats_fail_the_check_that_reads_them_in_the_service(
        graded_by_a_worker):
    served = graded_by_a_worker
    for check, attack in CASES.items():
        served.submit(check.replace('.', '_'), _engine(attack).encode())
    rows = served.grade(timeout=600)
    for check in CASES:
        assert rows[check.replace('.', '_')]['status'] == 'done', rows
        _fails_as_a_finding(served.get(check.replace('.', '_')).json(), check)
