"""A class graded at once: copies, a hanging one and a broken one; resumable; valid outputs."""
import csv
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, strategies as st

from conftest import ROOT, SUBMISSIONS, needs_templates
from micrograde.surfaces.batch import (NAME_MAX, RESERVED, Rename, Skip, allocate, discover,
                                       fingerprint, key, make_room)
from micrograde.model.results import CATEGORIES

SCHEMA = json.loads((Path(__file__).parent.parent / 'harness/schemas/report.schema.json').read_text())


def make_class(folder):
    folder.mkdir()
    for i in range(3):
        shutil.copy(SUBMISSIONS / 'lecture_notebook.ipynb', folder / f'student{i}.ipynb')
    shutil.copy(SUBMISSIONS / 'bug_overwrite_grad.py', folder / 'overwrite.py')
    shutil.copytree(SUBMISSIONS / 'micrograd', folder / 'package')
    shutil.copy(SUBMISSIONS / 'broken' / 'not_json.ipynb', folder / 'broken.ipynb')
    (folder / 'hangs.py').write_text('while True:\n    pass\n')
    (folder / 'notes.txt').write_text('not a submission')


def test_batch_finishes_with_a_complete_gradebook_and_resumes(run_cli, tmp_path):
    make_class(tmp_path / 'class')
    out = tmp_path / 'out'
    args = ('batch', tmp_path / 'class', '--out', out, '-j', '2', '--profile', 'quick',
            '--load-timeout', '3')
    first = run_cli(*args)
    assert first.returncode == 0, first.stdout + first.stderr
    rows = list(csv.DictReader((out / 'gradebook.csv').open()))
    assert [r['id'] for r in rows] == ['broken.ipynb', 'hangs.py', 'overwrite.py', 'package',
                                        'student0.ipynb', 'student1.ipynb', 'student2.ipynb']
    assert set(rows[0]) == {'id', 'score', 'max_score', 'verdict', *CATEGORIES,
                            'failing_checks', 'advisory_findings'}
    assert len({r['max_score'] for r in rows}) == 1, 'one rubric, one maximum'
    verdicts = {r['id']: r['verdict'] for r in rows}
    assert verdicts == {'broken.ipynb': 'failed', 'hangs.py': 'failed', 'overwrite.py': 'failed',
                        'package': 'passed', 'student0.ipynb': 'passed',
                        'student1.ipynb': 'passed', 'student2.ipynb': 'passed'}
    assert 'backward.accumulate' in {r['id']: r for r in rows}['overwrite.py']['failing_checks']
    for row in rows:
        report = json.loads((out / row['id'] / 'report.json').read_text())
        jsonschema.validate(report, SCHEMA)
        assert float(row['score']) == report['score']
    hang = json.loads((out / 'hangs.py' / 'report.json').read_text())
    assert 'timed out' in hang['checks'][0]['message']

    (tmp_path / 'class' / 'student1.ipynb').write_text(
        (SUBMISSIONS / 'bug_tanh_derivative.py').read_text())
    second = run_cli(*args)
    assert '6 unchanged' in second.stdout, second.stdout
    rows = {r['id']: r for r in csv.DictReader((out / 'gradebook.csv').open())}
    assert rows['student1.ipynb']['verdict'] == 'failed'


def test_fingerprint_follows_content_and_config(tmp_path):
    from micrograde import Config
    path = tmp_path / 'a.py'
    path.write_text('x = 1\n')
    base = fingerprint(path, Config())
    assert fingerprint(path, Config()) == base
    assert fingerprint(path, Config(seed=1)) != base
    # the worker's settings decide a grade too: a class graded again with a longer load timeout
    # or at another isolation level kept every report of the first run ('unchanged')
    from micrograde.grader.config import Limits, Settings
    for changed in ({'load_timeout': 30.0}, {'check_timeout': 1.0}, {'cell_timeout': 1.0},
                    {'grade_timeout': 1.0}, {'isolation': 'process'},
                    {'limits': Limits(memory=1 << 30)}, {'classes': {'Value': 'Val'}}):
        assert fingerprint(path, Config(settings=Settings(**changed))) != base, changed
    reordered = Settings(classes=dict(reversed(Settings().classes.items())))
    assert fingerprint(path, Config(settings=reordered)) == base
    path.write_text('x = 2\n')
    assert fingerprint(path, Config()) != base


def test_single_grade_report_matches_the_schema(run_cli, tmp_path):
    run_cli('grade', SUBMISSIONS / 'bug_no_seed.py', '--profile', 'quick', '--json', tmp_path / 'r.json')
    jsonschema.validate(json.loads((tmp_path / 'r.json').read_text()), SCHEMA)


SPY = '''
import os
own = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # this job's: /jobs/<job>
for root, dirs, files in os.walk("/jobs"):
    for f in files:
        path = os.path.join(root, f)
        if path.startswith(own + "/"):
            continue
        try:
            print("READ", path, open(path).read()[:20])
        except OSError:
            pass
try:
    os.kill(os.getppid(), 9)
    print("KILLED THE TEMPLATE")
except OSError as e:
    print("kill refused:", e)
import subprocess
subprocess.Popen(["sleep", "637"], start_new_session=True)
'''


def test_jobs_of_a_batch_cannot_see_or_harm_each_other(run_cli, tmp_path):
    from micrograde.isolate import sandbox
    if not sandbox.templates_available():
        import pytest
        pytest.skip('warm templates need bubblewrap as root')
    folder = tmp_path / 'class'
    folder.mkdir()
    shutil.copy(SUBMISSIONS / 'lecture_engine.py', folder / 'a_first.py')
    (folder / 'b_spy.py').write_text(SPY + (SUBMISSIONS / 'lecture_engine.py').read_text())
    shutil.copy(SUBMISSIONS / 'lecture_engine.py', folder / 'c_after.py')
    result = run_cli('batch', folder, '--out', tmp_path / 'out', '-j', '1', '--profile', 'quick')
    assert result.returncode == 0, result.stderr
    spy = json.loads((tmp_path / 'out' / 'b_spy.py' / 'report.json').read_text())
    printed = spy['checks'][0]['output']
    assert 'kill refused' in printed and 'READ' not in printed and 'KILLED' not in printed
    rows = {r['id']: r['verdict'] for r in csv.DictReader((tmp_path / 'out' / 'gradebook.csv').open())}
    assert rows == {'a_first.py': 'passed', 'b_spy.py': 'passed', 'c_after.py': 'passed'}
    import os
    leftovers = []
    for pid in os.listdir('/proc'):
        try:
            if b'sleep\x00637' in open(f'/proc/{pid}/cmdline', 'rb').read():
                leftovers.append(pid)
        except OSError:
            pass
    assert not leftovers


def test_counterexample_graph_round_trips_and_reproduces_the_failure(run_cli, tmp_path):
    from micrograde.oracle import oracles
    from micrograde.model.compare import show
    from micrograde.model.graph import Graph
    run_cli('grade', SUBMISSIONS / 'bug_tanh_derivative.py', '--profile', 'quick', '--json',
            tmp_path / 'r.json')
    report = json.loads((tmp_path / 'r.json').read_text())
    check = {c['id']: c for c in report['checks']}['ops.tanh']
    graph = Graph.from_dict(check['counterexample']['graph'])
    assert graph.code(show=[0]) == check['counterexample']['code']
    expected = oracles.run_torch(graph)
    assert check['counterexample']['expected']['a.grad'] == show(expected.grads[0])


# --- names: one report folder per submission, none a class-level output's ----------------------

NAME_POOL = ['a.py', 'A.PY', 'a.py-1', 'a.py-2', 'A.py-1', 'index.html', 'INDEX.html',
             'gradebook.csv', 'gradebook.csv-1', 'gradebook-moodle.csv', 'é.py', 'e\u0301.py',
             'x' * 252 + '.py', 'x' * 253 + '-1', 'é' * 127 + '.py', r'\xff.py']


@given(st.lists(st.sampled_from(NAME_POOL), max_size=12))
def test_allocate_gives_each_name_its_own_folder_and_keeps_what_it_can(wanted):
    ids = [sub_id for sub_id, _ in allocate(wanted)]
    keys = [key(i) for i in ids]
    assert len(ids) == len(wanted) and len(set(keys)) == len(keys)
    assert not set(keys) & {key(n) for n in RESERVED}
    assert all(len(i.encode()) <= NAME_MAX for i in ids)
    alone = [n for n in wanted if [key(w) for w in wanted].count(key(n)) == 1]
    assert [n for n in alone if n not in ids] == [n for n in alone if key(n) in
                                                  {key(r) for r in RESERVED}
                                                  or len(n.encode()) > NAME_MAX]


def test_discover_skips_only_what_it_must_and_says_why(tmp_path):
    cls = tmp_path / 'class'
    cls.mkdir()
    for name in ('alice.py', '_bob.py', 'reportsmith_jane.py', '.hidden.py', 'notes.txt'):
        (cls / name).write_text('')
    for name in ('reports', '__pycache__', 'gradebook.csv', 'out'):
        (cls / name).mkdir()
    found = discover([cls], tmp_path / 'unpacked', cls / 'out' / 'batch')
    assert [i for i, _ in found.submissions] == ['_bob.py', 'alice.py', 'gradebook.csv-1',
                                                 'reports', 'reportsmith_jane.py']
    assert found.renamed == [('class/gradebook.csv', 'gradebook.csv-1', Rename.RESERVED)]
    assert sorted(found.skipped) == [('class/.hidden.py', Skip.HIDDEN),
                                     ('class/__pycache__', Skip.LEFTOVER),
                                     ('class/notes.txt', Skip.FORMAT), ('class/out', Skip.OUTPUT)]
    with pytest.raises(ValueError, match='both graded and the --out folder'):
        discover([cls], tmp_path / 'unpacked', cls)


def test_an_entry_of_a_class_zip_this_disk_cannot_hold_costs_its_own_submission(run_cli, tmp_path):
    """A class zip (an LMS's download) holding a name over 255 bytes, or a file ``bob`` beside
    a folder ``bob/``: before, the whole batch was refused, nobody graded, with the grader's own
    unpacking folder in the message ("class.zip is not a readable zip file ([Errno 36] File
    name too long: '/tmp/micrograde-batch-.../0/class/bbb...b.py')").  Now each such entry gets
    a report saying why it was not graded, and the rest of the class is graded."""
    engine = (SUBMISSIONS / 'lecture_engine.py').read_text()
    long = 'b' * 300 + '.py'
    with zipfile.ZipFile(tmp_path / 'class.zip', 'w') as z:
        z.writestr('alice.py', engine)
        z.writestr(long, engine)
        z.writestr('bob', 'a file')
        z.writestr('bob/engine.py', engine)
        z.writestr('carol/engine.py', engine)
        z.writestr('.dave/engine.py', engine)
        z.writestr('.' + long, engine)
    out = tmp_path / 'out'
    result = run_cli('batch', tmp_path / 'class.zip', '--out', out, '-j', '2', '--profile', 'quick')
    said = result.stdout + result.stderr
    assert result.returncode == 0, said[-2000:]
    assert 'Traceback' not in said and 'micrograde-batch-' not in said, said[-2000:]
    rows = {r['id']: r for r in csv.DictReader((out / 'gradebook.csv').open())}
    cut = 'b' * (NAME_MAX - 2) + '-1'
    assert sorted(rows) == ['alice.py', cut, 'bob', 'carol'], sorted(rows)
    assert rows['alice.py']['verdict'] == rows['carol']['verdict'] == 'passed'
    for sub_id, why in ((cut, 'File name too long'), ('bob', 'File exists')):
        report = json.loads((out / sub_id / 'report.json').read_text())
        jsonschema.validate(report, SCHEMA)
        assert report['verdict'] == 'failed' and report['score'] == 0
        message = report['checks'][0]['message']
        assert f'could not be unpacked from class.zip here ({why})' in message, message
        assert 'micrograde-batch-' not in json.dumps(report)
    assert 'skipped, hidden' in said and '.dave' in said


def test_a_stored_report_this_grader_cannot_read_is_graded_again(run_cli, tmp_path):
    """A report.json in --out that is JSON of another shape (another tool's folder of the same
    name, a report cut short): before, ``[]`` or ``null`` crashed the whole batch with a
    traceback (AttributeError in ``Report.from_dict``), arrays nested deep with a
    RecursionError, and nobody was graded."""
    cls = tmp_path / 'class'
    cls.mkdir()
    stored = {'a.py': '[]', 'b.py': 'null', 'c.py': '[' * 100_000 + ']' * 100_000, 'd.py': '"x"'}
    out = tmp_path / 'out'
    for name, text in stored.items():
        shutil.copy(SUBMISSIONS / 'lecture_engine.py', cls / name)
        (out / name).mkdir(parents=True)
        (out / name / 'report.json').write_text(text)
    result = run_cli('batch', cls, '--out', out, '-j', '2', '--profile', 'quick')
    assert result.returncode == 0 and 'Traceback' not in result.stderr, result.stderr[-2000:]
    for name in stored:
        report = json.loads((out / name / 'report.json').read_text())
        assert report['verdict'] == 'passed', name


@pytest.mark.parametrize('there', ['file', 'link'])
def test_a_file_or_link_where_a_report_folder_goes_is_refused_before_grading(run_cli, tmp_path,
                                                                             there):
    """``batch hw1/*.py --out hw1``: each file's report folder goes where the file is.  Before,
    every grading process died on it (FileExistsError), then the batch itself, with a
    traceback; a link there had the reports written wherever it leads."""
    cls = tmp_path / 'hw1'
    cls.mkdir()
    shutil.copy(SUBMISSIONS / 'lecture_engine.py', cls / 'a.py')
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    if there == 'link':
        out = tmp_path / 'out'
        out.mkdir()
        (out / 'a.py').symlink_to(elsewhere)
    else:
        out = cls
    result = run_cli('batch', cls / 'a.py', '--out', out, '--profile', 'quick')
    assert result.returncode == 2 and 'Traceback' not in result.stderr, result.stderr[-2000:]
    assert f'a.py is a {there}: the batch writes the reports of a.py in a folder there' in \
        result.stderr, result.stderr
    assert (cls / 'a.py').read_bytes() == (SUBMISSIONS / 'lecture_engine.py').read_bytes()
    assert not list(elsewhere.iterdir())


def test_a_report_folder_an_older_batch_left_at_a_class_output_makes_room(tmp_path):
    stale, foreign = tmp_path / 'gradebook.csv', tmp_path / 'index.html'
    stale.mkdir()  # what a batch before this fix wrote for a submission named gradebook.csv
    (stale / 'report.json').write_text('{}')
    (stale / 'junit.xml').write_text('')
    make_room(stale)
    assert not stale.exists()
    foreign.mkdir()
    (foreign / 'mine.txt').write_text('keep')
    with pytest.raises(ValueError, match='index.html is a folder'):
        make_room(foreign)
    assert (foreign / 'mine.txt').read_text() == 'keep'


# -- a grading process killed while it sends its report ------------------------------------------

def _proc(pid, name):
    try:
        with open(f'/proc/{pid}/{name}') as f:
            return f.read()
    except OSError:
        return ''


def _ancestor_under(pid, top):
    """The ancestor of ``pid`` (or itself) whose parent is ``top``."""
    while True:
        parent = int(_proc(pid, 'stat').rpartition(')')[2].split()[1])
        if parent == top:
            return pid
        if parent <= 1:
            raise AssertionError(f'{pid} is not under {top}')
        pid = parent


def _until(what, seconds=120):
    deadline = time.monotonic() + seconds
    while not what():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def _shrink_send_buffers(pid):
    """Give every Unix socket of ``pid`` (its end of the batch's pipe among them) the smallest
    send buffer, so that a report of a few KiB fills it: ``pidfd_getfd`` (Linux >= 5.6, root)
    copies each into this process, and the buffer is the socket's, not the copy's."""
    pidfd = os.pidfd_open(pid)
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        for fd in os.listdir(f'/proc/{pid}/fd'):
            try:
                if not os.readlink(f'/proc/{pid}/fd/{fd}').startswith('socket:'):
                    continue
            except OSError:
                continue
            copy = libc.syscall(438, pidfd, int(fd), 0)  # SYS_pidfd_getfd
            if copy < 0:
                pytest.skip(f'pidfd_getfd: {os.strerror(ctypes.get_errno())}')
            with socket.socket(fileno=copy) as sock:
                if sock.family == socket.AF_UNIX:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1)
    finally:
        os.close(pidfd)


@pytest.mark.parametrize('config', [('bubblewrap', True), ('process', False)],
                         ids=['bubblewrap', 'process-user'])
def test_a_grading_process_killed_mid_report_costs_its_job_alone_and_reports_no_unseen_pass(
        installed, config):
    """A grading process of the batch killed (the OOM killer, an operator) while it sends its
    report to the batch, the report cut short in transit: its job gets the error report, never
    the pass it wrote to disk before sending, and the rest of the class its reports (before
    ebe38a6 the batch died of "got end of file during message").  Made real: as it grades a
    correct engine its send buffer is shrunk and the batch stopped (SIGSTOP), so that its report
    fills the buffer; it is killed once blocked sending it, and the batch resumes to find part
    of a report and the end of the pipe.

    Every step waits for the one before it, none for a time: the engine's import waits for a
    ``sleep`` that only the test ends, once the buffer is shrunk and the batch stopped.  (It
    once flaked under load: the test found the ``sleep`` the engine had started, and before it
    shrank the buffer the grade was over and its report sent, the grading process gone or
    grading another submission.)"""
    from engines import GOOD_TANH, hostile_engine
    from test_attacks import _processes, token
    if os.geteuid() != 0:
        pytest.skip('pidfd_getfd of another process needs root here')
    grader, mark = installed.grader(*config), token()
    folder = grader.work / 'class'
    folder.mkdir()
    (folder / 'a_killed.py').write_text(hostile_engine(  # loads once the test ends the sleep
        f"import subprocess\nsubprocess.run(['sleep', '{mark}'])\n", tanh=GOOD_TANH))
    for name in ('b.py', 'c.py'):
        (folder / name).write_text(hostile_engine('', tanh=GOOD_TANH))
    out = grader.work / 'out'
    grader._own(grader.work)
    batch = grader.start('batch', folder, '--out', out, '-j', '2', '--profile', 'quick',
                         '--isolation', grader.level, '--load-timeout', '600',
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _until(lambda: _processes(f'sleep\0{mark}') or batch.poll() is not None)
        assert batch.poll() is None, batch.communicate()
        sleeping = int(_processes(f'sleep\0{mark}')[0])
        grading = _ancestor_under(sleeping, batch.pid)
        _shrink_send_buffers(grading)
        os.kill(batch.pid, signal.SIGSTOP)  # reads no report until it is resumed
        try:
            os.kill(sleeping, signal.SIGKILL)  # the engine's import goes on: its grade begins
            _until(lambda: 'send' in _proc(grading, 'wchan'))  # blocked sending its report
            written = json.loads((out / 'a_killed.py' / 'report.json').read_text())
            assert written['verdict'] == 'passed'  # on disk, never received
            os.kill(grading, signal.SIGKILL)
            _until(lambda: _proc(grading, 'stat').rpartition(')')[2].split()[0] == 'Z')
        finally:
            os.kill(batch.pid, signal.SIGCONT)
        stdout, stderr = batch.communicate(timeout=300)
    finally:
        batch.kill()
        batch.wait()
    assert 'Traceback' not in stderr and batch.returncode == 0, stderr
    reports = {p.parent.name: json.loads(p.read_text()) for p in out.glob('*/report.json')}
    assert sorted(reports) == ['a_killed.py', 'b.py', 'c.py']
    assert reports['b.py']['verdict'] == reports['c.py']['verdict'] == 'passed'
    killed = reports['a_killed.py']
    assert killed['verdict'] != 'passed' and killed['checks'][0]['status'] == 'error', killed
    assert 'grading process died' in killed['checks'][0]['message']
    assert len(list(csv.DictReader((out / 'gradebook.csv').open()))) == 3


#: The lecture engine with a backward() that walks breadth-first, each node's children in the
#: order of their ``id()`` (wrong on some graphs: which ones depends on that order).
BY_ID = '''    def backward(self):
        self.grad = 1.0
        queue, seen = [self], {id(self)}
        while queue:
            v = queue.pop(0)
            v._backward()
            for c in sorted(v._prev, key=id):
                if id(c) not in seen:
                    seen.add(id(c))
                    queue.append(c)


'''


def test_an_engine_ordering_by_id_gets_one_report_from_grade_and_batch(run_cli, tmp_path):
    from micrograde.isolate import sandbox
    if not sandbox.templates_available():
        pytest.skip('warm templates need bubblewrap as root')
    source = (SUBMISSIONS / 'lecture_engine.py').read_text()
    walk = source[source.index('    def backward(self):'):source.index('import random')]
    folder = tmp_path / 'class'
    folder.mkdir()
    (folder / 'by_id.py').write_text(source.replace(walk, BY_ID))
    assert run_cli('grade', folder / 'by_id.py', '--out', tmp_path / 'alone').returncode == 1
    assert run_cli('batch', folder, '--out', tmp_path / 'out', '-j', '2').returncode == 0
    alone, batch = (json.loads(p.read_text()) for p in (tmp_path / 'alone' / 'report.json',
                                                         tmp_path / 'out' / 'by_id.py' / 'report.json'))
    seen = [[(c['id'], c['status'], c.get('message')) for c in r['checks']] for r in (alone, batch)]
    assert seen[0] == seen[1]


# -- the warm template killed under a job -----------------------------------------------------

def _descendants(pid):
    """Pids of every process under ``pid``."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for entry in os.listdir('/proc'):
            if entry.isdigit() and _proc(entry, 'stat').rpartition(')')[2].split()[1:2] == [str(parent)]:
                found.append(int(entry))
                todo.append(int(entry))
    return found


def _template_with_a_job(batch):
    """The pid of a warm template of ``batch`` (the forkserver's Python, root) while a job it
    forked (another uid) runs, or ``None``."""
    for pid in _descendants(batch):
        if 'forkserver' in _proc(pid, 'cmdline') and _proc(pid, 'status') and \
                'Uid:\t0\t' in _proc(pid, 'status') and \
                any('Uid:\t0\t' not in _proc(child, 'status') for child in _descendants(pid)):
            return pid
    return None


def _slow_engine():
    """The lecture's engine, 20 ms slower at every backward(): a grade of ~10 s."""
    engine = (SUBMISSIONS / 'lecture_engine.py').read_text()
    slow = engine.replace('class Value:', 'import time as _t\n\n\nclass Value:', 1).replace(
        '    def backward(self):\n', '    def backward(self):\n        _t.sleep(0.02)\n', 1)
    assert slow.count('_t.sleep') == 1
    return slow


def _kill_templates(top, times, until):
    """SIGKILL a warm template under ``top`` while it runs a job, up to ``times`` times, 3 s
    apart, until ``until()``; how many were killed."""
    killed, deadline = 0, time.monotonic() + 300
    while killed < times and not until() and time.monotonic() < deadline:
        template = _template_with_a_job(top)
        if template is None:
            time.sleep(0.2)
            continue
        os.kill(template, signal.SIGKILL)
        killed += 1
        time.sleep(3)  # the next kill lands on the template that replaced it, later on
    return killed


def _served_while(served, act):
    """The service's rows for what was submitted, graded while ``act(top, until)`` acts on the
    service worker's templates (``top``: its process; ``until()``: whether grading is over), and
    what ``act`` returned (falsy: no template was seen)."""
    done, acted = threading.Event(), []

    def watch():
        while served.worker.proc is None and not done.is_set():
            time.sleep(0.05)
        if served.worker.proc is not None:
            acted.append(act(served.worker.proc.pid, done.is_set))
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        rows = served.grade(timeout=300)
    finally:
        done.set()
        watcher.join()
    return rows, acted[0] if acted else None


def _graded_in_full(report, name):
    lost = [(c['id'], c['message'][:120]) for c in report['checks']
            if c['status'] not in ('passed', 'skipped') and c['category'] != 'robustness'
            and not c['id'].startswith('mlp.one_neuron')]
    assert (report['verdict'], report['score']) == ('passed', 51), (name, lost)


@needs_templates
def test_a_warm_template_killed_under_a_job_costs_the_submission_nothing(tmp_path):
    """The host's out-of-memory killer or an operator kills a grading process's warm template
    while one of its jobs runs: before, that submission's item (or its load) was lost as if the
    submission had ended its worker ("ops.mul: 1 of 6 graphs wrong: the check could not finish:
    the worker closed its result channel", 50/51 for a correct engine; at load, 0/51).  The
    work is now asked again of a worker of its own, and the next submission gets a fresh
    template."""
    cls = tmp_path / 'class'
    cls.mkdir()
    for i in range(3):
        (cls / f's{i}.py').write_text(_slow_engine())
    out = tmp_path / 'out'
    batch = subprocess.Popen([sys.executable, '-m', 'micrograde.surfaces.cli', 'batch', cls,
                              '--out', out, '-j', '1', '--profile', 'quick'], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        killed = _kill_templates(batch.pid, 2, lambda: batch.poll() is not None)
        stdout, stderr = batch.communicate(timeout=600)
    finally:
        if batch.poll() is None:
            batch.kill()
    assert killed, 'no template was seen running a job'
    assert batch.returncode == 0 and 'Traceback' not in stderr, stderr[-2000:]
    for i in range(3):
        _graded_in_full(json.loads((out / f's{i}.py' / 'report.json').read_text()), i)


@pytest.mark.service
@needs_templates
def test_a_warm_template_killed_under_a_job_costs_the_served_submission_nothing(
        graded_by_a_worker):
    """The same through the service: its worker grades every job with one warm template."""
    served = graded_by_a_worker
    for i in range(2):
        served.submit(f's{i}', (_slow_engine() + f'#{i}\n').encode())
    rows, killed = _served_while(served, lambda top, until: _kill_templates(top, 2, until))
    assert killed, 'no template was seen running a job'
    for i in range(2):
        assert rows[f's{i}']['status'] == 'done', rows[f's{i}']
        _graded_in_full(served.get(f's{i}').json(), i)


# -- a job hoarding memory where no process maps it ---------------------------------------------

#: A submission that holds memory no process maps (memfds written, never mapped: not in any
#: process's resident count, which the OOM killer weighs), in three processes, until killed;
#: it first tries to make itself the OOM killer's last choice.  Its load fails.
HOARD = """
import os, time
for score in (b'0', b'-1000'):
    try:
        with open('/proc/self/oom_score_adj', 'wb') as f:
            f.write(score)
    except OSError:
        pass
kids = []
for _ in range(3):
    pid = os.fork()
    if pid == 0:
        try:
            chunk = b'x' * (8 << 20)
            for _ in range(LIMIT // 200):
                fd = os.memfd_create('hoard')
                for _ in range(25):
                    os.write(fd, chunk)
            time.sleep(5)
        finally:
            os._exit(0)
    kids.append(pid)
for pid in kids:
    os.waitpid(pid, 0)
raise SystemExit('hoarded and was not stopped')
"""


def _template_pids(top, until, seen):
    """Add to ``seen`` the pid of every warm template's Python under ``top`` until ``until()``."""
    while not until():
        template = _template_python(top)
        if template is not None:
            seen.add(template)
        time.sleep(0.1)


def _hoarding_class(cls, limit):
    cls.mkdir()
    (cls / 'a_hoard.py').write_text(HOARD.replace('LIMIT', str(limit)))
    for name in ('b', 'c'):
        shutil.copy(SUBMISSIONS / 'lecture_engine.py', cls / f'{name}.py')


@needs_templates
def test_a_job_hoarding_memory_no_process_maps_never_costs_its_template(tmp_path):
    """A job holding memory in memfds (or its /tmp) brings the cgroup it shares with its warm
    template past its cap; the kernel's OOM killer took the process holding most memory by its
    own count, which such memory is not: the template (redteam14), the grading process then
    waiting for a new one (seconds; with torch, more) for every later submission.  Every
    process of a job is now the killer's first choice, and the job cannot undo that."""
    _hoarding_class(tmp_path / 'class', 4000)
    out = tmp_path / 'out'
    batch = subprocess.Popen([sys.executable, '-m', 'micrograde.surfaces.cli', 'batch',
                              tmp_path / 'class', '--out', out, '-j', '1', '--profile', 'quick',
                              '--memory-limit', '256'], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = set()
    watcher = threading.Thread(target=_template_pids,
                               args=(batch.pid, lambda: batch.poll() is not None, seen))
    watcher.start()
    try:
        stdout, stderr = batch.communicate(timeout=600)
    finally:
        if batch.poll() is None:
            batch.kill()
        watcher.join()
    assert batch.returncode == 0 and 'Traceback' not in stderr, stderr[-2000:]
    assert len(seen) == 1, f'the template was replaced: {sorted(seen)}'
    hoard = json.loads((out / 'a_hoard.py' / 'report.json').read_text())
    assert hoard['verdict'] == 'failed' and hoard['timings']['load'] < 30, hoard['timings']
    for name in ('b', 'c'):
        _graded_in_full(json.loads((out / f'{name}.py' / 'report.json').read_text()), name)


@pytest.mark.service
@needs_templates
def test_a_job_hoarding_memory_no_process_maps_never_costs_the_served_template(
        graded_by_a_worker):
    """The same through the service, whose worker keeps one template at the default memory
    limit (6 GiB a job): the hoard reaches the cgroup's 7.25 GiB for a moment."""
    served = graded_by_a_worker
    served.submit('a_hoard', HOARD.replace('LIMIT', '3000').encode())
    for name in ('b', 'c'):
        served.submit(name, ((SUBMISSIONS / 'lecture_engine.py').read_text() + f'#{name}\n').encode())
    seen = set()
    rows, _ = _served_while(served, lambda top, until: _template_pids(top, until, seen))
    assert len(seen) == 1, f'the template was replaced: {sorted(seen)}'
    assert rows['a_hoard']['status'] == 'done', rows['a_hoard']
    assert served.get('a_hoard').json()['verdict'] == 'failed'
    for name in ('b', 'c'):
        assert rows[name]['status'] == 'done', rows[name]
        _graded_in_full(served.get(name).json(), name)


#: A worker that forks a child (which sleeps, holding the worker's pipes), then holds memory no
#: process maps until the kernel kills it.
OOM_BESIDE_A_CHILD = """
import os, time
if os.fork() == 0:
    time.sleep(120)
    os._exit(0)
chunk = b'x' * (8 << 20)
held = []
while True:
    held.append(os.memfd_create('w'))
    for _ in range(25):
        os.write(held[-1], chunk)
"""


def _one_graded(run_cli, tmp_path, via, source, *options):
    """The report of ``source`` graded alone (``grade``) or in a batch of one (``batch -j 1``, a
    process of its own, its warm template's workers), with ``options``."""
    cls, out = tmp_path / 'class', tmp_path / 'out'
    cls.mkdir()
    (cls / 'a.py').write_text(source)
    if via == 'grade':
        done = run_cli('grade', cls / 'a.py', '--json', out / 'a.py' / 'report.json', *options)
        assert done.returncode in (0, 1), done.stdout + done.stderr
    else:
        done = subprocess.run([sys.executable, '-m', 'micrograde.surfaces.cli', 'batch', cls,
                               '--out', out, '-j', '1', *options], cwd=ROOT,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0 and 'Traceback' not in done.stderr, done.stderr[-2000:]
    return json.loads((out / 'a.py' / 'report.json').read_text())


def _load_check(report):
    return next(c for c in report['checks'] if c['id'] == 'load')


@needs_templates
@pytest.mark.parametrize('via', ['grade', 'batch'])
def test_a_worker_killed_for_memory_beside_its_child_reads_so_at_once(run_cli, tmp_path, via):
    """A worker of its own dies with its sandbox's pid namespace, its children with it: killed
    for memory, its load fails at once, "killed by SIGKILL (out of memory?)".  A job forked from
    the template shares the template's, and its child kept the worker's pipes open: the same
    submission read as a load that hung, 60 s later ("loading timed out ... hangs").  The job's
    processes are now killed once its worker is gone, and every path says the same."""
    report = _one_graded(run_cli, tmp_path, via, OOM_BESIDE_A_CHILD, '--memory-limit', '256')
    assert 'killed by SIGKILL (out of memory?)' in _load_check(report)['message'], report['checks'][0]
    assert report['timings']['load'] < 50, report['timings']  # before: 60 s and more


@pytest.mark.service
@needs_templates
def test_a_worker_killed_for_memory_beside_its_child_reads_so_at_once_in_the_service(
        graded_by_a_worker):
    """The same through the service, at its memory limit (6 GiB a job; 7.25 GiB for a moment)."""
    served = graded_by_a_worker
    served.submit('a', OOM_BESIDE_A_CHILD.encode())
    rows = served.grade(timeout=300)
    assert rows['a']['status'] == 'done', rows['a']
    report = served.get('a').json()
    assert 'killed by SIGKILL (out of memory?)' in _load_check(report)['message'], report['checks'][0]
    assert report['timings']['load'] < 50, report['timings']  # before: 60 s and more


# -- a job filling its /tmp with empty files -----------------------------------------------------

#: Empty files in /tmp until refused (at most 200 000 here), and what /tmp is mounted with.
INODES = """
import os
made = 0
try:
    while made < 200_000:
        os.close(os.open(f'/tmp/f{made}', os.O_CREAT | os.O_WRONLY, 0o600))
        made += 1
except OSError:
    pass
options = [line.split(' - ')[1].split()[-1] for line in open('/proc/self/mountinfo')
           if line.split()[4] == '/tmp'][-1]
print('MADE', made, options, 'MADE')
"""


def _inode_bound(report):
    """``(files made, /tmp's options)`` the ``INODES`` submission printed in ``report``."""
    said = json.dumps(report).split('MADE ')[1].split(' MADE')[0].split()
    return int(said[0]), said[1]


def _inodes_engine():
    return INODES + (SUBMISSIONS / 'lecture_engine.py').read_text()


@needs_templates
@pytest.mark.parametrize('via', ['grade', 'batch'])
def test_a_job_filling_its_tmp_with_empty_files_is_stopped_at_its_bound(run_cli, tmp_path, via):
    """A tmpfs's bound in bytes counts no empty file: the kernel's default is an inode per two
    pages of RAM, 3.1M here, and a job that made them all spent 9 s of CPU a million at load and
    the kernel memory for each (redteam14: 113 s in a batch).  A worker's /tmp, forked from the
    template or not, now holds ``SCRATCH_INODES`` at most, and keeps its flags."""
    from micrograde.isolate.sandbox import SCRATCH_INODES
    report = _one_graded(run_cli, tmp_path, via, _inodes_engine(), '--profile', 'quick')
    made, options = _inode_bound(report)
    assert SCRATCH_INODES - 16 < made <= SCRATCH_INODES, made
    assert f'nr_inodes={SCRATCH_INODES}' in options and 'size=131072k' in options, options
    _graded_in_full(report, via)


@pytest.mark.service
@needs_templates
def test_a_job_filling_its_tmp_with_empty_files_is_stopped_at_its_bound_in_the_service(
        graded_by_a_worker):
    """The same through the service's worker and its template."""
    from micrograde.isolate.sandbox import SCRATCH_INODES
    served = graded_by_a_worker
    served.submit('a', _inodes_engine().encode())
    rows = served.grade(timeout=300)
    assert rows['a']['status'] == 'done', rows['a']
    report = served.get('a').json()
    assert SCRATCH_INODES - 16 < _inode_bound(report)[0] <= SCRATCH_INODES
    _graded_in_full(report, 'a')


# -- the warm template stopped ---------------------------------------------------------------

def _template_python(top):
    """The pid of a warm template's own Python (the forkserver, root) under ``top``, or
    ``None``: not bubblewrap, whose command line names the forkserver too."""
    for pid in _descendants(top):
        argv = _proc(pid, 'cmdline').split('\0')
        if 'forkserver' in argv and 'bwrap' not in argv[0] and 'setarch' not in argv[0] and \
                'Uid:\t0\t' in _proc(pid, 'status'):
            return pid
    return None


def _stop_a_template(top, until):
    """SIGSTOP the first warm template under ``top`` (before ``until()``); its pid, or None."""
    deadline = time.monotonic() + 120
    while not until() and time.monotonic() < deadline:
        template = _template_python(top)
        if template is not None:
            os.kill(template, signal.SIGSTOP)
            return template
        time.sleep(0.05)
    return None


def _stopped_left(pid):
    """Whether ``pid`` is still a process, stopped (the template was never ended)."""
    return _proc(pid, 'stat').rpartition(')')[2].split()[:1] == ['T']


@needs_templates
def test_a_stopped_warm_template_is_replaced_at_once(tmp_path):
    """An operator's or a debugger's SIGSTOP (or a host freezing it) stalls a grading process's
    warm template: before, every later spawn asked it and waited 30 s for an answer that never
    came, then graded the submission in a worker of its own (four engines: 30.4 s of load each,
    125 s in all; redteam13).  The template is now seen stopped within a fraction of a second,
    set aside and replaced, and is killed at the end, not left stopped."""
    cls = tmp_path / 'class'
    cls.mkdir()
    for i in range(4):
        shutil.copy(SUBMISSIONS / 'lecture_engine.py', cls / f's{i}.py')
    out = tmp_path / 'out'
    batch = subprocess.Popen([sys.executable, '-m', 'micrograde.surfaces.cli', 'batch', cls,
                              '--out', out, '-j', '1', '--profile', 'quick'], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stopped = _stop_a_template(batch.pid, lambda: batch.poll() is not None)
        stdout, stderr = batch.communicate(timeout=600)
    finally:
        if batch.poll() is None:
            batch.kill()
    assert stopped, 'no template was seen'
    assert batch.returncode == 0 and 'Traceback' not in stderr, stderr[-2000:]
    loads = []
    for i in range(4):
        report = json.loads((out / f's{i}.py' / 'report.json').read_text())
        _graded_in_full(report, i)
        loads.append(report['timings']['load'])
    assert max(loads) < 15, loads  # before: 30.4 s each
    assert not _stopped_left(stopped)


@needs_templates
def test_a_stopped_job_is_not_taken_for_its_stopped_template(tmp_path):
    """What a template counts as its own to say it is stopped: its processes (the grader's
    uid), never a job's (a submission may stop itself; its time limit ends it).  A job's
    worker, made from root, has a /proc folder owned by root: read by that, a job stopping
    itself would have set its template aside, and the work it was doing asked again."""
    from micrograde.isolate.allowlist import ALLOWED_IMPORTS
    from micrograde.isolate.warm import WarmTemplate
    engine = tmp_path / 'engine.py'
    shutil.copy(SUBMISSIONS / 'lecture_engine.py', engine)
    template = WarmTemplate(ALLOWED_IMPORTS)
    try:
        job, _, fds = template.spawn(engine)
        uid = template.uids[job]
        deadline = time.monotonic() + 60
        while not (workers := [pid for pid in _descendants(template.proc.pid)
                               if f'Uid:\t{uid}\t' in _proc(pid, 'status')]):
            assert time.monotonic() < deadline, 'the job never started'
            time.sleep(0.05)
        for pid in workers:
            os.kill(pid, signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while not all(_stopped_left(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not template._stopped()
        own = _template_python(template.proc.pid)
        os.kill(own, signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while not _stopped_left(own) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert template._stopped()
        os.kill(own, signal.SIGCONT)
        template.end(job)
        for fd in fds:
            os.close(fd)
        assert not template.broken
    finally:
        template.close()


@needs_templates
def test_a_job_ended_as_soon_as_it_is_spawned_is_killed_and_its_template_answers(
        tmp_path, monkeypatch):
    """A job ended right after its spawn (a run the service stops at once): the template killed
    it only as its uid, which the forked worker takes a moment after the spawn's answer; one
    still root lived, the template waited on it forever, and the grader set it aside after
    ``REPLY_TIMEOUT`` seconds (under load: within 20 spawns of six templates of six).  Each end
    now kills the job and answers at once."""
    from micrograde.isolate import warm
    from micrograde.isolate.allowlist import ALLOWED_IMPORTS
    monkeypatch.setattr(warm, 'REPLY_TIMEOUT', 5)
    engine = tmp_path / 'engine.py'
    shutil.copy(SUBMISSIONS / 'lecture_engine.py', engine)
    for _ in range(3):
        template = warm.WarmTemplate(ALLOWED_IMPORTS)
        try:
            for _ in range(100):
                job, _, fds = template.spawn(engine)
                started = time.monotonic()
                status = template.end(job)
                for fd in fds:
                    os.close(fd)
                assert (status, template.broken) == (-signal.SIGKILL, False), status
                assert time.monotonic() - started < 2
        finally:
            template.close()


@pytest.mark.service
@needs_templates
def test_a_stopped_warm_template_is_replaced_at_once_in_the_service(graded_by_a_worker):
    """The same through the service's worker, which keeps one warm template between jobs."""
    served = graded_by_a_worker
    for i in range(3):
        served.submit(f's{i}', ((SUBMISSIONS / 'lecture_engine.py').read_text() + f'#{i}\n').encode())
    rows, stopped = _served_while(served, _stop_a_template)
    assert stopped, 'no template was seen'
    for i in range(3):
        assert rows[f's{i}']['status'] == 'done', rows[f's{i}']
        report = served.get(f's{i}').json()
        _graded_in_full(report, i)
        assert report['timings']['load'] < 15, report['timings']


# -- a grader killed while its template starts ------------------------------------------------

def _job_copies(jobs, mark=''):
    """The submission copies in the job folders of a template's ``jobs`` folder (of those
    holding ``mark``)."""
    found = []
    for path in jobs.glob('job*/submission/*'):
        try:
            if mark in path.read_text(errors='replace'):
                found.append(path)
        except OSError:
            pass
    return found


def _killed_at_its_first_spawn(top, mark=''):
    """Wait for a copy of the submission (holding ``mark``) in the job folder of a warm
    template under ``top`` (its first spawn waits seconds for the template to start), then
    SIGKILL the grading process that holds that template; the copies seen."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        template = _template_python(top)
        mounts = [line.split() for line in _proc(template, 'mountinfo').splitlines()]
        bound = [fields[3] for fields in mounts if fields[4:5] == ['/jobs']]
        if bound:  # the template's jobs folder, bound at /jobs: under the temporary folder
            copies = _job_copies(Path(tempfile.gettempdir(), os.path.basename(bound[0])), mark)
            if copies:
                grader = template
                while 'bwrap' in _proc(grader, 'cmdline').split('\0')[0] or grader == template:
                    grader = int(_proc(grader, 'stat').rpartition(')')[2].split()[1])
                os.kill(grader, signal.SIGKILL)
                return copies
        time.sleep(0.01)
    return []


@needs_templates
def test_a_grader_killed_while_its_template_starts_leaves_no_copy_of_the_submission(tmp_path):
    """A grading process killed outright (the host's out-of-memory killer, a CI job's timeout)
    during its first spawn, which waits seconds for the template to start: the job folder
    holding the learner's copy was watched only once the spawn was answered, so the copy was
    left in the temporary folder for good.  It is watched from the start now: the warden
    removes it."""
    mark = f'mark{os.getpid()}x{time.monotonic_ns()}'
    cls = tmp_path / 'class'
    cls.mkdir()
    (cls / 'a.py').write_text((SUBMISSIONS / 'lecture_engine.py').read_text() + f'# {mark}\n')
    batch = subprocess.Popen([sys.executable, '-m', 'micrograde.surfaces.cli', 'batch', cls,
                              '--out', tmp_path / 'out', '-j', '1', '--profile', 'quick'],
                             cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    try:
        copies = _killed_at_its_first_spawn(batch.pid, mark)
    finally:
        os.killpg(batch.pid, signal.SIGKILL)  # the batch and its grading processes, not the warden
        batch.wait()
    assert copies, 'no copy was seen in a job folder'
    deadline = time.monotonic() + 30
    while any(map(os.path.lexists, copies)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(os.path.lexists, copies)), copies


@needs_templates
def test_the_folders_a_killed_batch_left_are_removed_by_the_next(tmp_path):
    """A batch killed outright (its process group: a CI job's timeout) runs no ``atexit``: its
    class zip unpacked (every learner's submission), each grading process's copy of the worker
    package (~300 KB), its view (the process levels) and its template's jobs folder stayed in the temporary folder
    for good (485 MB of them in this machine's /tmp in a day).  Each is named for its process
    now, and the next grader to make one of its kind removes those of processes gone."""
    tmp = tmp_path / 'tmp'
    tmp.mkdir()
    env = {**os.environ, 'TMPDIR': str(tmp)}
    engine = (SUBMISSIONS / 'lecture_engine.py').read_text()
    with zipfile.ZipFile(tmp_path / 'class.zip', 'w') as z:
        z.writestr('a.py', engine)
    command = [sys.executable, '-m', 'micrograde.surfaces.cli', 'batch', '-j', '1',
               '--profile', 'quick']
    batch = subprocess.Popen([*command, tmp_path / 'class.zip', '--out', tmp_path / 'out1'],
                             cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while _template_python(batch.pid) is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        os.killpg(batch.pid, signal.SIGKILL)
        batch.wait()
    kinds = ('batch', 'worker', 'view', 'jobs')
    left = sorted(p.name for p in tmp.iterdir() if p.name.split('-')[1:2] in ([k] for k in kinds))
    assert {name.split('-')[1] for name in left} >= {'batch', 'worker', 'jobs'}, left
    (tmp_path / 'class').mkdir()
    (tmp_path / 'class' / 'b.py').write_text(engine)
    done = subprocess.run([*command, tmp_path / 'class', '--out', tmp_path / 'out2'], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    deadline = time.monotonic() + 30  # the warden removes the job folders once the batch ends
    while time.monotonic() < deadline:
        still = sorted(p.name for p in tmp.iterdir() if p.name.split('-')[1:2] in ([k] for k in kinds))
        if not still:
            break
        time.sleep(0.2)
    assert not still, still


@pytest.mark.service
@needs_templates
def test_a_service_worker_killed_while_its_template_starts_leaves_no_copy(graded_by_a_worker):
    """The same for a service worker killed outright at its warm-up, the first job of its
    template."""
    served = graded_by_a_worker
    served.worker.start()
    try:
        copies = _killed_at_its_first_spawn(served.worker.proc.pid)
    finally:
        served.worker.proc.kill()
        served.worker.proc.wait()
    assert copies, 'no copy was seen in a job folder'
    deadline = time.monotonic() + 30
    while any(map(os.path.lexists, copies)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(os.path.lexists, copies)), copies


@pytest.mark.skipif(os.geteuid() != 0, reason='mounts a small tmpfs (root)')
def test_a_full_disk_under_the_reports_is_a_clear_error(tmp_path):
    """--out on a disk with no room (a 48 KiB tmpfs): before, each grading process died on
    write_reports' ENOSPC with a traceback, then the batch with one more (redteam13); now one
    line says so, and the reports written are kept."""
    out = tmp_path / 'full'
    out.mkdir()
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=48k', 'tmpfs', str(out)], check=True)
    try:
        for name in ('a', 'b', 'c'):
            shutil.copy(SUBMISSIONS / 'lecture_engine.py', tmp_path / f'{name}.py')
        done = subprocess.run([sys.executable, '-m', 'micrograde.surfaces.cli', 'batch',
                               *(str(tmp_path / f'{n}.py') for n in 'abc'), '--out', str(out),
                               '-j', '2'], cwd=ROOT, capture_output=True, text=True, timeout=600)
    finally:
        subprocess.run(['umount', str(out)], check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert 'the reports could not be written in' in done.stderr, done.stderr
    assert 'Traceback' not in done.stderr, done.stderr
