"""The code a report shows is the grader's.  A counterexample's snippet is meant to be pasted
under the learner's code and run (by the learner, or by course staff reproducing a failure); it
calls the classes and reads the attributes by the names the worker's loader found
(``grading._as_written``: ``Value = Scalar  # your class``, ``out.backprop()``, ``a.val``).
Those names come from the worker, which the submission runs in: a class's ``__name__`` or an
attribute given by ``setattr`` is any text, and without a check the snippet ran it.  The
answer parser keeps only names that are identifiers (``answers.in_code``)."""
import json

import pytest

from conftest import micrograde
from engines import hostile_engine

#: Statements the submission plants in its names; no control character in them (an escaped
#: newline would not have stopped them: ``;`` ends a statement too).
PLANTED = 'import os; os.system("echo PLANTED")'
#: The hostile engine (its tanh rule wrong, so that checks fail with snippets) with its class
#: or its backward() renamed to run ``PLANTED`` where a snippet names them.
RENAMED = {
    'class': hostile_engine('') + f'\nValue.__name__ = Value.__qualname__ = {f"V; {PLANTED}; V"!r}\n',
    'backward': hostile_engine('').replace('    def backward(self):', '    def _walk(self):') +
    f'\nsetattr(Value, {f"backward(); {PLANTED}; out.backward"!r}, Value._walk)\n'}


def _snippets(report):
    return [c['counterexample']['code'] for c in report['checks']
            if (c.get('counterexample') or {}).get('code')]


def _planted_nowhere_in_code(report, renamed):
    """No snippet of the report holds what the submission planted, and every one is code;
    the class is called by its role.  Before the fix the tanh checks showed
    ``Value = V; import os; os.system("echo PLANTED"); V  # your class`` and
    ``out.backward(); import os; os.system("echo PLANTED"); out.backward()``."""
    assert report['verdict'] != 'passed'
    snippets = _snippets(report)
    assert snippets or renamed == 'backward', [c['id'] for c in report['checks']]
    for code in snippets:
        assert 'PLANTED' not in code, code
        compile(code, 'snippet', 'exec')
    assert 'PLANTED' not in json.dumps(report['class_info']), report['class_info']


@pytest.mark.parametrize('renamed', RENAMED)
@pytest.mark.parametrize('via', ['grade', 'batch'])
def test_no_snippet_of_a_report_runs_what_the_submission_named(tmp_path, via, renamed):
    folder = tmp_path / 'class'
    folder.mkdir()
    (folder / 'named.py').write_text(RENAMED[renamed])
    out = tmp_path / 'out'
    if via == 'grade':
        micrograde('grade', folder / 'named.py', '--profile', 'quick', '--out', out, '--no-color')
        report = json.loads((out / 'report.json').read_text())
    else:
        result = micrograde('batch', folder, '--out', out, '-j', '1', '--profile', 'quick')
        assert result.returncode == 0, result.stdout + result.stderr
        report = json.loads((out / 'named.py' / 'report.json').read_text())
    _planted_nowhere_in_code(report, renamed)


@pytest.mark.service
@pytest.mark.parametrize('renamed', RENAMED)
def test_no_snippet_of_a_served_report_runs_what_the_submission_named(graded_by_a_worker, renamed):
    served = graded_by_a_worker
    served.submit('named', RENAMED[renamed].encode())
    served.grade(timeout=120)
    _planted_nowhere_in_code(served.get('named').json(), renamed)
