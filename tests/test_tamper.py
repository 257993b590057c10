"""Forged answers from inside the worker, and the answer key out of reach (issue 20, class 1).

Each attack is a real submission graded through the real CLI, by ``micrograde grade`` (a worker
of its own) and by ``micrograde batch -j 2`` (as root: workers forked from the warm template).
Its engine has a wrong tanh, so a pass of any tanh check could only be forged; every attack must
end failed and scored 0, and each route into the worker with a "tampered with the grader"
finding that staff see in the report and the gradebook.
"""
import csv
import json
import shutil

import pytest

from conftest import SUBMISSIONS, needs_templates, validate_json, validate_junit
from engines import hostile_engine, tampered

FORGED = '''
import json, os, struct
answer = json.dumps({'type': 'loaded', 'warnings': [], 'classes': {'Value': 'x'}}).encode()
for fd in range(3, 64):
    try:
        os.write(fd, struct.pack('>I', 32 + len(answer)) + bytes(32) + answer)
    except OSError:
        pass
'''

#: attack -> (its source, words the report's tampered finding says; None: no route taken)
ATTACKS = {
    # the worker's graph and MLP runners replaced at import by ones that run a hidden engine:
    # the running worker is not in sys.modules to be found, and binds what it calls anyway
    'runner_replaced': (tampered('runner_replaced'), None),
    # the same through a copy the submission imports itself, and a transient patch
    'runner_reimported': (hostile_engine('''
        import mgworker.execute, mgworker.serve
        mgworker.serve.run_graph = lambda *a, **k: {'values': [], 'grads': []}
        mgworker.execute.Backend.grad = lambda self, v: 0.0
        '''), None),
    # torch's autograd as the answer key: kept out of reach, so the engine does not load
    'torch_oracle': (tampered('torch_oracle'), None),
    'gc_walk': (hostile_engine('''
        import gc
        secrets = [o for o in gc.get_objects() if isinstance(o, dict) and 'nonce' in o]
        '''), "garbage collector's objects"),
    'gc_referrers': (hostile_engine(in_backward='''
        import gc
        users = gc.get_referrers(self)  # the worker's lists of this graph's Values
        '''), "garbage collector's objects"),
    'ctypes_write': (hostile_engine('''
        import ctypes
        x = 1.5
        ctypes.c_double.from_address(id(x) + 16).value = 2.5
        '''), 'used ctypes'),
    'frame_walk': (hostile_engine(in_backward='''
        import sys
        grader = sys._getframe(2)  # the worker's run_graph: its vals, its result
        grader.f_locals['result']['grads'] = [1.0]
        '''), "grader's frames"),
    'frame_walk_inspect': (hostile_engine(in_backward='''
        import inspect
        stack = inspect.stack()
        '''), "grader's frames"),
    'traceback_walk': (hostile_engine(in_backward='''
        import sys
        try:
            raise ValueError
        except ValueError as e:
            frame = e.__traceback__.tb_frame
            while frame.f_code.co_name != 'run_graph':
                frame = frame.f_back
        '''), "grader's frames"),
    # the running worker reached through what it hands the submission: instrumented runs wrap
    # each node's _backward in a function of the worker's, whose globals are its module's
    'code_swap': (hostile_engine(in_backward='''
        grader = getattr(self._backward, '__globals__', {})
        if 'Backend' in grader:
            grader['Backend'].grad.__code__ = (lambda self, v: 0.0).__code__
        '''), 'replaced a function'),
    'globals_patch': (hostile_engine(in_backward='''
        grader = getattr(self._backward, '__globals__', {})
        if '_read' in grader:
            grader['_read'] = lambda reader, vals: [0.0] * len(vals)
        '''), "changed the grader's code (mgworker.execute._read)"),
    'proc_mem': (hostile_engine('''
        with open('/proc/self/mem', 'rb') as f:
            pass
        '''), "process's memory"),
    'fd_reopen': (hostile_engine('''
        import os
        for fd in range(3, 64):
            try:
                open(f'/proc/self/fd/{fd}', 'wb').close()
            except OSError:
                pass
        '''), "answer channel"),
    'own_answers': (hostile_engine(FORGED), 'answers of its own'),
    'audit_send': (hostile_engine('''
        import sys
        sys.audit('mgworker.send', {'type': 'loaded', 'warnings': [], 'classes': {}})
        '''), "submission's own code"),
    # the serve loop's own reply(), found by an f_back walk (no audit event), run on a thread of
    # the submission's: a stack of worker code alone, but not the serve loop's thread and root
    'thread_reply': (hostile_engine(in_backward='''
        import _thread, sys, time
        f = sys._getframe(0)
        while f is not None and 'reply' not in f.f_locals:
            f = f.f_back
        if f is not None:
            _thread.start_new_thread(f.f_locals['reply'], (), {'id': 0, 'done': True})
            time.sleep(0.5)
        '''), 'a thread it started'),
    'settrace': (hostile_engine('''
        import sys
        sys.settrace(lambda frame, event, arg: None)
        '''), 'trace function'),
}


#: A correct engine that does what learners do, and what libraries do for them: no tampering.
INNOCENT = tampered('innocent')


def _check(report, words):
    """Never a pass it did not earn: failed, the wrong tanh or the nothing-doing backward() found
    out; a route into the worker scores nothing at all."""
    checks = {c['id']: c for c in report['checks']}
    passed = [(c['id'], c['status']) for c in report['checks'] if c['status'] == 'passed']
    assert report['verdict'] == 'failed', passed
    if words is None:
        assert 'tampered' not in checks
        graded = [c for c in checks.values() if c['category'] in ('ops', 'backward', 'fuzz')
                  and c['max_score']]
        assert any(c['status'] != 'passed' for c in graded), passed
        return checks
    assert report['score'] == 0, passed
    assert checks['tampered']['status'] == 'failed', checks.get('tampered')
    assert words in checks['tampered']['message'], checks['tampered']['message']
    assert report['checks'][0]['id'] == 'tampered'  # staff see it first
    return checks


def test_what_learners_and_libraries_do_is_not_tampering(run_cli, tmp_path):
    path = tmp_path / 'innocent.py'
    path.write_text(INNOCENT)
    out = tmp_path / 'out'
    result = run_cli('grade', path, '--profile', 'quick', '--out', out, '--no-color')
    report = json.loads((out / 'report.json').read_text())
    assert result.returncode == 0 and report['verdict'] == 'passed', \
        [(c['id'], c['message']) for c in report['checks'] if c['status'] == 'failed']
    assert 'tampered' not in {c['id'] for c in report['checks']}


@pytest.mark.parametrize('name', sorted(ATTACKS))
def test_attack_on_grade(name, run_cli, tmp_path):
    source, words = ATTACKS[name]
    path = tmp_path / f'{name}.py'
    path.write_text(source)
    out = tmp_path / 'out'
    result = run_cli('grade', path, '--profile', 'quick', '--out', out, '--no-color')
    assert result.returncode == 1 and 'Traceback' not in result.stdout + result.stderr
    checks = _check(json.loads((out / 'report.json').read_text()), words)
    validate_junit(out / 'junit.xml')
    gradescope = json.loads((out / 'results.json').read_text())
    validate_json(gradescope, 'gradescope-results.schema.json')
    if words is not None:  # every surface shows it
        assert words in (out / 'junit.xml').read_text(encoding='utf-8').replace('&#x27;', "'")
        assert any(t.get('name', '').startswith('tampered') or words in t.get('output', '')
                   for t in gradescope['tests'])
        assert 'tampered' in (out / 'report.html').read_text(encoding='utf-8')
        assert 'tampered with the grader' in result.stdout
    if name == 'torch_oracle':
        assert 'keeps out of reach' in checks['load']['message']


@pytest.fixture(scope='module')
def batch(tmp_path_factory):
    """Every attack graded in one batch, two at a time, from the warm template."""
    from conftest import in_process
    folder = tmp_path_factory.mktemp('class')
    for name, (source, _) in ATTACKS.items():
        (folder / f'{name}.py').write_text(source)
    (folder / 'innocent.py').write_text(INNOCENT)
    out = tmp_path_factory.mktemp('out')
    result = in_process('batch', folder, '--out', out, '-j', '2', '--profile', 'quick')
    assert 'Traceback' not in result.stdout + result.stderr, result.stderr
    with open(out / 'gradebook.csv', newline='') as f:
        book = {row['id']: row for row in csv.DictReader(f)}
    return out, book


def test_what_learners_and_libraries_do_is_not_tampering_in_a_batch(batch):
    out, book = batch
    assert book['innocent.py']['verdict'] == 'passed', book['innocent.py']


@needs_templates
@pytest.mark.parametrize('name', sorted(ATTACKS))
def test_attack_on_batch(name, batch):
    out, book = batch
    report = json.loads((out / f'{name}.py' / 'report.json').read_text())
    assert report['isolation'] == 'bubblewrap'
    words = ATTACKS[name][1]
    _check(report, words)
    row = book[f'{name}.py']
    assert row['verdict'] == 'failed'
    if words is not None:  # staff see it in the gradebook too
        assert 'tampered' in row['failing_checks'].split() and float(row['score']) == 0


def test_no_example_trips_the_guard_in_a_batch(tmp_path):
    """numpy, matplotlib and graphviz take some of the watched routes themselves; every example
    (engines, notebooks, folders, installed packages) loads and is graded as before."""
    from conftest import in_process
    folder = tmp_path / 'class'
    shutil.copytree(SUBMISSIONS, folder, symlinks=True)
    out = tmp_path / 'out'
    result = in_process('batch', folder, '--out', out, '-j', '2', '--profile', 'quick')
    assert 'Traceback' not in result.stdout + result.stderr, result.stderr
    reports = [json.loads(p.read_text()) for p in out.glob('*/report.json')]
    assert len(reports) >= 30
    tampered = [(r['submission'], c['message']) for r in reports for c in r['checks']
                if 'tampered' in c['message'] or c['id'] == 'tampered']
    assert not tampered, tampered


@pytest.mark.service
def test_every_attack_through_the_service(graded_by_a_worker):
    """The same attacks uploaded to the grading service, graded by a real service worker."""
    served = graded_by_a_worker
    for name, (source, _) in ATTACKS.items():
        served.submit(name, source.encode())
    for name, job in served.grade().items():
        assert job['status'] == 'done', (name, job)
        _check(served.get(name).json(), ATTACKS[name][1])
    book = served.client.get('/v1/courses/c1/gradebook.csv', headers=served.staff()).text
    assert book.count('tampered') == sum(words is not None for _, words in ATTACKS.values())


def test_a_rubric_that_allows_torch_gives_up_the_answer_key_protection(run_cli, tmp_path):
    rubric = tmp_path / 'rubric.toml'
    rubric.write_text('allowed_imports = ["numpy", "matplotlib", "graphviz", "torch"]\n')
    out = tmp_path / 'out'
    path = tmp_path / 'torch_oracle.py'
    path.write_text(ATTACKS['torch_oracle'][0])
    run_cli('grade', path, '--profile', 'quick', '--out', out, '--no-color', '--rubric', rubric)
    report = json.loads((out / 'report.json').read_text())
    checks = {c['id']: c for c in report['checks']}
    assert checks['load']['status'] == 'passed' and 'tampered' not in checks
    assert 'answer-key' in report['protections']['unprotected']
    assert checks['backward.walk']['status'] == 'passed'  # torch did the work
