"""Answers a submission shapes within the protocol (numbers that are not floats, through its
own ops) against the checks that read them: a finding of the submission's, never "micrograde
itself failed" (before: ``checks/mlp._slopes`` subtracted two losses, and ``backward.repeat``
doubled a gradient, that were not floats: a TypeError in the grader)."""
import json

import pytest

from conftest import SUBMISSIONS

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


@pytest.mark.parametrize('check, attack', [('mlp.gradients', COMPLEX_AFTER_BACKWARD),
                                           ('backward.repeat', COMPLEX_DATA)])
def test_answers_that_are_not_floats_fail_the_check_that_reads_them(run_cli, tmp_path, check,
                                                                    attack):
    engine = (SUBMISSIONS / 'lecture_engine.py').read_text().replace(
        'math.exp(2*x)', 'math.e ** (2*x)') + attack
    path = tmp_path / 'not_floats.py'
    path.write_text(engine)
    run_cli('grade', path, '--profile', 'quick', '--out', tmp_path / 'out', '--no-color')
    report = json.loads((tmp_path / 'out' / 'report.json').read_text())
    found = next(c for c in report['checks'] if c['id'] == check)
    assert found['status'] == 'failed' and 'micrograde itself' not in found['message'], found
