"""What an honest worker says of an unusual but honest submission is never read as interference.

The answer parser (``isolate/answers.py``) voids a grade ("the submission interfered with
grading") for an answer our worker never sends.  Its bounds must therefore hold everything our
worker does send: a bound tighter than the worker's own words accuses an honest learner."""
import json

import pytest

from conftest import SUBMISSIONS, micrograde

#: Comment lines before the engine: its class, methods and rules then sit past line 1 048 576
#: (``answers.MOST``, a bound on a list's entries), as in a file that carries generated data.
PADDING = '#\n' * 1_100_000
#: name -> the example it pads
ENGINES = {'correct': 'lecture_engine.py', 'tanh': 'bug_tanh_derivative.py'}
INTERFERED = 'interfered with grading'


def _padded(name):
    return PADDING + (SUBMISSIONS / ENGINES[name]).read_text()


def _score(path, out):
    micrograde('grade', path, '--profile', 'quick', '--out', out, '--no-color')
    return json.loads((out / 'report.json').read_text())


def _same(report, plain):
    """``report`` (the padded engine's) grades as ``plain`` (the same engine unpadded): no check
    says the submission interfered, and every check's status is the same."""
    said = [c['message'][:160] for c in report['checks'] if INTERFERED in c['message']]
    assert not said, said[:2]
    assert (report['verdict'], report['score']) == (plain['verdict'], plain['score'])
    assert {c['id']: c['status'] for c in report['checks']} == \
        {c['id']: c['status'] for c in plain['checks']}


@pytest.fixture(scope='module')
def plain(tmp_path_factory):
    """Each engine's report unpadded."""
    work = tmp_path_factory.mktemp('plain')
    return {name: _score(SUBMISSIONS / file, work / name) for name, file in ENGINES.items()}


@pytest.mark.parametrize('via', ['grade', 'batch'])
def test_a_class_past_line_a_million_is_graded_as_written(tmp_path, plain, via):
    """Before: ``load answer.methods['__init__'].line is not an integer in [1, 1048576)``, the
    correct engine failed 0/51, every check "the submission interfered with grading"."""
    folder = tmp_path / 'class'
    folder.mkdir()
    for name in ENGINES:
        (folder / f'{name}.py').write_text(_padded(name))
    out = tmp_path / 'out'
    if via == 'grade':
        reports = {name: _score(folder / f'{name}.py', out / name) for name in ENGINES}
    else:
        result = micrograde('batch', folder, '--out', out, '-j', '2', '--profile', 'quick')
        assert result.returncode == 0, result.stdout + result.stderr
        reports = {name: json.loads((out / f'{name}.py' / 'report.json').read_text())
                   for name in ENGINES}
    for name in ENGINES:
        _same(reports[name], plain[name])


@pytest.mark.service
def test_a_class_past_line_a_million_is_graded_as_written_by_the_service(graded_by_a_worker, plain):
    served = graded_by_a_worker
    for name in ENGINES:
        served.submit(name, _padded(name).encode())
    served.grade(timeout=300)
    for name in ENGINES:
        _same(served.get(name).json(), plain[name])


@pytest.mark.parametrize('via', ['grade', 'batch'])
def test_a_file_whose_code_starts_past_4096_blank_bytes_is_not_empty(tmp_path, plain, via):
    """5000 blank lines before the engine: "correct.py is empty: submit the file that defines
    your Value class", 0/51."""
    folder = tmp_path / 'class'
    folder.mkdir()
    (folder / 'correct.py').write_text('\n' * 5000 + (SUBMISSIONS / ENGINES['correct']).read_text())
    out = tmp_path / 'out'
    if via == 'grade':
        report = _score(folder / 'correct.py', out)
    else:
        micrograde('batch', folder, '--out', out, '--profile', 'quick')
        report = json.loads((out / 'correct.py' / 'report.json').read_text())
    _same(report, plain['correct'])


@pytest.mark.service
def test_a_file_whose_code_starts_past_4096_blank_bytes_is_not_empty_to_the_service(
        graded_by_a_worker, plain):
    """The same uploaded: the service reads the upload before any worker does."""
    served = graded_by_a_worker
    served.submit('correct', ('\n' * 5000 + (SUBMISSIONS / ENGINES['correct']).read_text()).encode())
    rows = served.grade(timeout=300)
    assert rows['correct']['status'] == 'done', rows['correct']
    _same(served.get('correct').json(), plain['correct'])
