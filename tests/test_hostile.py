"""Hostile and broken submissions: each a real file, graded through the real CLI and sandbox.

Whatever a submission does, grading finishes, writes valid reports, never reports a pass it did
not observe, and leaves nothing running.
"""
import json
import os
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from conftest import ROOT, SUBMISSIONS, micrograde, needs_bubblewrap
from engines import BAD_TANH, GOOD_TANH, hostile_engine


@pytest.fixture
def run_cli():
    """A grading process of its own per submission: what a hostile one does to its grader (kill
    it, outlive it, flood it) must land on that process, never on the test's."""
    return micrograde


def submission(tmp_path, at_import='', in_backward='pass', tanh=GOOD_TANH, name='sub.py'):
    """The hostile engine as a file, with a right tanh unless said: what it does is the attack."""
    path = tmp_path / name
    path.write_text(hostile_engine(at_import, in_backward, tanh))
    return path


def grade(run_cli, path, tmp_path, *args, timeout=300):
    out = tmp_path / 'reports'
    result = run_cli('grade', path, '--profile', 'quick', '--out', out, '--no-color', *args,
                     timeout=timeout)
    assert 'Traceback' not in result.stderr, result.stderr
    report = json.loads((out / 'report.json').read_text(encoding='utf-8'))
    ET.parse(out / 'junit.xml')  # valid XML whatever the submission printed
    json.loads((out / 'results.json').read_text(encoding='utf-8'))
    return result, report, {c['id']: c for c in report['checks']}


def assert_never_passed(result, report):
    assert result.returncode == 1 and report['verdict'] == 'failed'


@pytest.mark.parametrize('hang', ['while True:\n    pass\n', 'import time\ntime.sleep(3600)\n'])
def test_hang_at_import_fails_load_with_a_timeout(run_cli, tmp_path, hang):
    result, report, checks = grade(run_cli, submission(tmp_path, at_import=hang), tmp_path,
                                   '--load-timeout', '3')
    assert_never_passed(result, report)
    assert 'timed out' in checks['load']['message']


@pytest.mark.parametrize('prelude', ['', 'import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n'])
def test_hang_in_backward_fails_those_checks_only(run_cli, tmp_path, prelude):
    path = submission(tmp_path, at_import=prelude, in_backward='while True:\n    pass')
    result, report, checks = grade(run_cli, path, tmp_path, '--check-timeout', '2')
    assert_never_passed(result, report)
    assert checks['load']['status'] == 'passed'
    assert 'timed out' in checks['ops.add']['message']
    # three strikes: the rest is not run, so a hanging submission costs a few limits, not minutes
    assert any('already timed out' in c['message'] for c in report['checks'])
    # and what was not run is no finding of its own: skipped, 0 points (the grade failed already)
    for c in report['checks']:
        if 'already timed out' in c['message']:
            assert c['status'] == 'skipped' and c['score'] == 0, c
    assert all('timed out after' in c['message'] for c in report['checks']
               if c['status'] in ('failed', 'error')), [c['message'] for c in report['checks']]


def test_a_rule_that_never_returns_is_one_finding_at_its_op(run_cli, tmp_path):
    """Before: a ``tanh`` whose rule never returns was two findings, 24/51: ops.tanh timed out,
    and backward.topological timed out on its graph that holds a tanh (``n2 = n1.tanh()``), a root
    of its own although its other graphs passed.  A graph that hangs in an op whose own check
    could not finish for it is that op's finding, as a graph that raises inside it is."""
    path = tmp_path / 'hang.py'
    path.write_text((SUBMISSIONS / 'lecture_engine.py').read_text().replace(
        '            self.grad += (1 - t**2) * out.grad\n', '            while True:\n                pass\n', 1))
    result, report, checks = grade(run_cli, path, tmp_path, '--check-timeout', '2')
    assert_never_passed(result, report)
    roots = [c['id'] for c in report['checks'] if c['status'] in ('failed', 'error')
             and c['required'] and not c['consequence_of']]
    assert roots == ['ops.tanh'], roots
    assert checks['backward.topological']['status'] == 'passed', checks['backward.topological']


def test_unbounded_allocation_fails_the_check_not_the_grader(run_cli, tmp_path):
    path = submission(tmp_path, in_backward='hog = []\nwhile True:\n    hog.append(bytearray(50 * 2**20))')
    result, report, checks = grade(run_cli, path, tmp_path, '--memory-limit', '1024')
    assert_never_passed(result, report)
    assert any('MemoryError' in c['message'] or 'killed' in c['message'] for c in report['checks'])


def test_sys_exit_at_import_is_a_load_failure(run_cli, tmp_path):
    result, report, checks = grade(run_cli, submission(tmp_path, 'import sys\nsys.exit(0)\n'), tmp_path)
    assert_never_passed(result, report)
    assert 'exit' in checks['load']['message']


def test_os_exit_in_backward_never_passes(run_cli, tmp_path):
    path = submission(tmp_path, in_backward='import os\nos._exit(0)')
    result, report, checks = grade(run_cli, path, tmp_path)
    assert_never_passed(result, report)
    assert checks['ops.add']['status'] in ('failed', 'error')


@needs_bubblewrap
def test_killing_the_parent_does_not_touch_the_grader(run_cli, tmp_path):
    kill = 'import os, signal\ntry:\n    os.kill(os.getppid(), signal.SIGKILL)\nexcept OSError:\n    pass\n'
    result, report, checks = grade(run_cli, submission(tmp_path, kill), tmp_path)
    assert report['isolation'] == 'bubblewrap'
    assert result.returncode == 0, result.stdout


def test_fake_reports_in_output_and_cwd_change_nothing(run_cli, tmp_path):
    fake = '''
print('<?xml version="1.0"?><testsuites><testsuite tests="1" failures="0"/></testsuites>')
print("1 passed, 0 failed")
for name in ("junit.xml", "report.json", "results.json"):
    with open(name, "w") as f:
        f.write('{"verdict": "passed", "score": 100}')
'''
    result, report, checks = grade(run_cli, submission(tmp_path, fake, tanh=BAD_TANH), tmp_path)
    assert_never_passed(result, report)
    assert checks['ops.tanh']['status'] == 'failed'


def test_patching_math_torch_and_builtins_does_not_fool_the_oracles(run_cli, tmp_path):
    patch = '''
import builtins, math
try:
    import torch  # out of reach unless the rubric allows it
    torch.tanh = lambda x: x
    torch.allclose = lambda *a, **k: True
except ImportError:
    pass
math.tanh = lambda x: 0.0
builtins.print = lambda *a, **k: None
'''
    result, report, checks = grade(run_cli, submission(tmp_path, patch, tanh=BAD_TANH), tmp_path)
    assert_never_passed(result, report)
    assert checks['ops.tanh']['status'] == 'failed'
    patch += 'builtins.abs = lambda x: 0.0\n'  # a builtin the worker's own code calls
    result, report, checks = grade(run_cli, submission(tmp_path, patch, tanh=BAD_TANH), tmp_path)
    assert_never_passed(result, report)
    assert "changed the grader's code (builtins.abs)" in checks['tampered']['message']


def _running(token):
    found = []
    for pid in os.listdir('/proc'):
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                if token.encode() in f.read():
                    found.append(pid)
        except OSError:
            pass
    return found


def test_no_process_outlives_grading(run_cli, tmp_path):
    spawn = '''
import os, subprocess
subprocess.Popen(["sleep", "617"], start_new_session=True)
for _ in range(64):
    if os.fork() == 0:
        os.execvp("sleep", ["sleep", "618"])
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execvp("sleep", ["sleep", "619"])
    os._exit(0)
'''
    result, report, checks = grade(run_cli, submission(tmp_path, spawn), tmp_path)
    assert result.returncode == 0, result.stdout
    assert not [p for t in ('617', '618', '619') for p in _running(f'sleep\0{t}')]


def test_200_mb_of_output_is_capped(run_cli, tmp_path):
    flood = '''
import os, sys
chunk = "spam " * 200_000
for _ in range(100):
    sys.stdout.write(chunk)
    os.write(1, chunk.encode())
'''
    result, report, checks = grade(run_cli, submission(tmp_path, flood), tmp_path)
    assert result.returncode == 0
    for name in ('report.json', 'junit.xml', 'results.json'):
        assert (tmp_path / 'reports' / name).stat().st_size < 1_000_000
    assert 'capped' in report['output'] or 'not kept' in json.dumps(report)


def test_control_characters_and_surrogates_keep_reports_valid(run_cli, tmp_path):
    nasty = r'''
NASTY = "nul\x00 esc\x1b[31m surrogate\udc80 cdata]]> bell\x07"
print(NASTY)
import sys
sys.stderr.write(NASTY)
'''
    path = submission(tmp_path, nasty, tanh='raise ValueError(NASTY)')
    result, report, checks = grade(run_cli, path, tmp_path)
    assert_never_passed(result, report)
    assert 'cdata]]>' in checks['ops.tanh']['message']
    junit = (tmp_path / 'reports' / 'junit.xml').read_text(encoding='utf-8')
    assert '\x00' not in junit
    # a byte that was not UTF-8 reads the same in every report: as the name of a file shows it
    assert 'surrogate\\x80' in checks['ops.tanh']['message'] and 'surrogate\\x80' in junit


def test_nan_everywhere_fails_clearly_without_nan_literals(run_cli, tmp_path):
    path = submission(tmp_path, 'NAN = float("nan")\n', in_backward='pass', tanh=GOOD_TANH)
    path.write_text(path.read_text().replace('self.data = data', 'self.data = float("nan")'))
    result, report, checks = grade(run_cli, path, tmp_path)
    assert_never_passed(result, report)
    assert 'nan' in checks['ops.add']['message']
    text = (tmp_path / 'reports' / 'report.json').read_text()
    assert 'NaN' not in text and 'Infinity' not in text


def test_no_network_even_to_localhost(run_cli, tmp_path):
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    server.listen(1)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    dial = f'''
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2).sendall(b"hello")
    print("CONNECTED")
except OSError as e:
    print("no network:", e)
'''
    result, report, checks = grade(run_cli, submission(tmp_path, dial), tmp_path)
    with pytest.raises(socket.timeout):
        server.accept()
    server.close()
    assert 'CONNECTED' not in checks['load']['output']


@needs_bubblewrap
def test_no_writes_outside_scratch(run_cli, tmp_path):
    token = tmp_path.name
    escape = f'''
import os
for path in ("/tmp/escape-{token}", os.path.expanduser("~/escape-{token}"), "/root/escape-{token}",
             "{tmp_path}/escape"):
    try:
        with open(path, "w") as f:
            f.write("x")
    except OSError:
        pass
'''
    result, report, checks = grade(run_cli, submission(tmp_path, escape), tmp_path)
    assert report['isolation'] == 'bubblewrap'
    for path in (f'/tmp/escape-{token}', f'/root/escape-{token}', tmp_path / 'escape',
                 os.path.expanduser(f'~/escape-{token}')):
        assert not os.path.exists(path), path


def test_deep_recursion_with_raised_limit_fails_that_check_only(run_cli, tmp_path):
    # with the limit raised, runaway recursion grows until a limit stops it: the C stack
    # (SIGSEGV), memory, or the check's time limit; that check fails, the others are graded
    dive = 'import sys\nsys.setrecursionlimit(10**8)\n\ndef dive(n):\n    return dive(n + 1)\n'
    path = submission(tmp_path, dive, tanh='dive(0)')
    result, report, checks = grade(run_cli, path, tmp_path, '--check-timeout', '3')
    assert_never_passed(result, report)
    message = checks['ops.tanh']['message']
    assert checks['ops.tanh']['status'] in ('failed', 'error')
    assert any(why in message for why in ('SIGSEGV', 'RecursionError', 'MemoryError', 'timed out')), message
    assert checks['ops.add']['status'] == 'passed' and checks['ops.mul']['status'] == 'passed'


def test_slow_but_honest_import_passes(run_cli, tmp_path):
    result, report, checks = grade(run_cli, submission(tmp_path, 'import time\ntime.sleep(4)\n'), tmp_path)
    assert result.returncode == 0, result.stdout


def test_a_learners_threads_and_collector_callbacks_take_turns_with_the_guard(run_cli, tmp_path):
    """A monitor thread (as tqdm's) that wakes every millisecond, opens a file and reads its own
    frame, and a gc.callbacks entry that reads the frame it runs in: the guard's hook waits its
    turn with theirs (it holds the collector's flag as it runs), and the engine passes."""
    path = submission(tmp_path, '''
        import gc, sys, threading, time

        def _monitor():
            while True:
                time.sleep(0.001)
                with open(__file__) as f:
                    f.read(10)
                sys._getframe(0)
        threading.Thread(target=_monitor, daemon=True).start()
        gc.callbacks.append(lambda phase, info: sys._getframe(0))
        ''')
    result, report, checks = grade(run_cli, path, tmp_path)
    assert result.returncode == 0 and 'tampered' not in checks, result.stdout


def test_a_thread_that_dies_of_an_exception_is_no_tampering(run_cli, tmp_path):
    """A learner's thread that raises: threading prints its traceback, and CPython's printer
    parses the line it shows of each frame (a ``compile`` event under that frame's file name,
    threading.py's: an AST, no code)."""
    path = submission(tmp_path, '''
        import threading

        def _boom():
            return [1][2]
        _thread = threading.Thread(target=_boom)
        _thread.start()
        _thread.join()
        ''')
    result, report, checks = grade(run_cli, path, tmp_path)
    assert result.returncode == 0 and 'tampered' not in checks, checks.get('tampered')


def test_a_value_whose_del_raises_is_graded_as_written(run_cli, tmp_path):
    """A learner's ``__del__`` that raises: Python prints 'Exception ignored in' and goes on.
    A Value's graph is a cycle, so its ``__del__`` runs inside a collection, where the default
    printer opened the source file to show its lines (an ``open`` the guard waits out until the
    collection ends): the worker was lost on every item and a correct engine failed 14 checks."""
    source = (SUBMISSIONS / 'lecture_engine.py').read_text()
    assert source.count('class Value:\n') == 1
    path = tmp_path / 'engine.py'
    path.write_text(source.replace('class Value:\n', 'class Value:\n    def __del__(self):\n'
                                   '        if self.data == 1.5:\n'
                                   '            raise ValueError("bad")\n\n', 1))
    result, report, checks = grade(run_cli, path, tmp_path)
    assert result.returncode == 0 and report['verdict'] == 'passed', result.stdout
    assert not [c for c in checks.values() if c['status'] == 'error'], result.stdout


def _nested_magics():
    """The lecture's notebook with a first cell of 2000 ``%%time`` lines: each runs the rest of
    the cell as its body, so the grader's transformer recursed once per line."""
    nb = json.loads((SUBMISSIONS / 'lecture_notebook.ipynb').read_text())
    nb['cells'].insert(0, {'cell_type': 'code', 'metadata': {}, 'execution_count': None,
                           'outputs': [], 'source': '%%time\n' * 2000 + 'x = 1\n'})
    return json.dumps(nb)


NESTED = 'a cell nests more than IPython can transform'


def _big_integer():
    """The lecture's notebook with an integer of 5000 digits in its metadata: JSON, but Python
    reads no integer past 4300 digits (a ValueError that is no JSONDecodeError)."""
    text = (SUBMISSIONS / 'lecture_notebook.ipynb').read_text().rstrip()
    assert text.endswith('}')
    return text[:-1] + ', "big": ' + '1' * 5000 + '}'


#: notebook -> (how it is made, what its load error says)
UNREAD = {'nested': (_nested_magics, NESTED), 'big_integer': (_big_integer, 'integer')}


def _refused_cleanly(report, said=NESTED):
    """A load error that says why, not "micrograde itself failed" (RecursionError, at
    load/cells.py:86; ValueError, at worker/load/notebooks.py:97), and never a pass."""
    checks = {c['id']: c for c in report['checks']}
    assert report['verdict'] == 'failed' and 'grader' not in checks, checks.get('grader')
    assert said in checks['load']['message'], checks['load']['message']


@pytest.mark.parametrize('via', ['grade', 'batch'])
@pytest.mark.parametrize('kind', sorted(UNREAD))
def test_a_notebook_the_grader_cannot_read_is_a_load_error(run_cli, tmp_path, kind, via):
    """Cell magics nested past Python's depth, or JSON Python will not read (an integer of 5000
    digits). Before: a traceback on the grader's stderr, and an error report asking to report a
    bug."""
    made, said = UNREAD[kind]
    folder = tmp_path / 'class'
    folder.mkdir()
    (folder / f'{kind}.ipynb').write_text(made())
    if via == 'grade':
        result, report, _ = grade(run_cli, folder / f'{kind}.ipynb', tmp_path)
    else:
        out = tmp_path / 'out'
        result = run_cli('batch', folder, '--out', out, '-j', '1', '--profile', 'quick')
        assert result.returncode == 0 and 'Traceback' not in result.stderr, result.stderr
        report = json.loads((out / f'{kind}.ipynb' / 'report.json').read_text())
    _refused_cleanly(report, said)


@pytest.mark.service
def test_cell_magics_nested_past_python_s_depth_are_a_load_error_through_the_service(
        graded_by_a_worker):
    """And a notebook of JSON Python will not read (an integer of 5000 digits)."""
    served = graded_by_a_worker
    for name, (made, _) in UNREAD.items():
        served.submit(name, made().encode(), filename=f'{name}.ipynb')
    rows = served.grade(timeout=300)
    for name, (_, said) in UNREAD.items():
        assert rows[name]['status'] == 'done', rows[name]  # a grade, not a failed job
        _refused_cleanly(served.get(name).json(), said)


# -- the grader's own memory while a worker dribbles its answer ---------------------------------

#: A near-limit answer frame's header, then its body two bytes a write, each once the grader has
#: read the last (``FIONREAD``: nothing left in the pipe): every read of the grader's gets two
#: bytes.  It finds the answer pipe as any code in the worker can: its one write-only pipe.
DRIBBLE = '''
import array, fcntl, os, stat, struct, termios
fd = next(fd for fd in range(3, 256) if _is_answer_pipe(fd))
os.write(fd, struct.pack('>I', 8 * 2**20 + 32))
left, sent = array.array('i', [0]), 0
try:
    while sent < 8 * 2**20 + 32:
        sent += os.write(fd, b'xx')
        while not fcntl.ioctl(fd, termios.FIONREAD, left) and left[0]:
            pass
except OSError:
    pass
'''
ANSWER_PIPE = '''
def _is_answer_pipe(fd):
    import fcntl, os, stat
    try:
        return stat.S_ISFIFO(os.fstat(fd).st_mode) and \\
            fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY
    except OSError:
        return False
'''
#: ``python -c MEASURED args``: the CLI, then its own process's CPU and peak memory (its
#: workers' not counted: they are its children) on stderr.
MEASURED = '''
import atexit, resource, runpy, sys
def said():
    r = resource.getrusage(resource.RUSAGE_SELF)
    sys.stderr.write(f"GRADER {r.ru_utime + r.ru_stime} {r.ru_maxrss}\\n")
atexit.register(said)
sys.argv = ['micrograde'] + sys.argv[1:]
runpy.run_module('micrograde.surfaces.cli', run_name='__main__')
'''


def _graded_measured(path, out, *args):
    """``(report, the grader's CPU seconds, its peak memory in MB)`` of ``path`` graded."""
    done = subprocess.run([sys.executable, '-c', MEASURED, 'grade', path, '--profile', 'quick',
                           '--out', out, '--no-color', '--load-timeout', '5', *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert 'Traceback' not in done.stderr, done.stderr[-2000:]
    cpu, peak = done.stderr.split('GRADER ')[1].split()[:2]
    return json.loads((out / 'report.json').read_text()), float(cpu), int(peak) / 1024


def test_an_answer_written_two_bytes_at_a_time_costs_the_grader_no_more_memory(tmp_path):
    """The grader read a message chunk by chunk into a list of bytes objects, joined at its
    end: a worker writing its 8 MB answer two bytes at a time had the grader hold ~24 bytes for
    each (a bytes object and its place in the list), 232 MB at its peak against 47 for the
    correct engine, in the deadline and grace it is given; a service worker or a batch's pool
    process grading it held as much.  Read into one buffer of the announced size, the grader
    grows by that size at most."""
    engine = (SUBMISSIONS / 'lecture_engine.py').read_text()
    honest, dribbled = tmp_path / 'honest.py', tmp_path / 'dribbled.py'
    honest.write_text(engine)
    dribbled.write_text(ANSWER_PIPE + DRIBBLE + engine)
    report, _, base = _graded_measured(honest, tmp_path / 'honest')
    assert report['verdict'] == 'passed'
    report, _, peak = _graded_measured(dribbled, tmp_path / 'dribbled')
    assert report['verdict'] == 'failed' and report['score'] == 0
    assert all('interfered with grading' in c['message'] or 'tampered' in c['message']
               for c in report['checks']), [c['message'][:80] for c in report['checks']][:3]
    assert peak - base < 40, (base, peak)



def test_output_written_without_end_costs_the_grader_little_cpu(tmp_path):
    """A backward() that writes to stdout without end: the grader's drain read it as fast as
    it came, 11 s of the grader's CPU for one grade (0.6 s for the correct engine), and the
    worker, its CPU shared with that, was given four times its limits (38 s for three strikes
    of 2 s).  Past what is kept, the output is read a pipe's worth a pause: the worker waits on
    its full pipe (using no CPU: no more time given), and the grader reads ~nothing."""
    engine = (SUBMISSIONS / 'lecture_engine.py').read_text()
    honest = tmp_path / 'honest.py'
    honest.write_text(engine)
    report, base, _ = _graded_measured(honest, tmp_path / 'honest', '--check-timeout', '2')
    assert report['verdict'] == 'passed'
    flood = tmp_path / 'flood.py'
    flood.write_text(hostile_engine('', 'import os\nwhile True:\n    os.write(1, b"spam " * 13107)',
                                    GOOD_TANH))
    report, cpu, _ = _graded_measured(flood, tmp_path / 'flood', '--check-timeout', '2')
    assert report['verdict'] == 'failed' and 'not kept' in json.dumps(report)
    assert cpu - base < 2, (base, cpu)

# -- the same attacks on every path: a batch (the warm template as root) and the service ---------

#: Marks the processes of this module's every-path attacks (``_running``): none outlives them.
MARK = '6173'
#: name -> (at import, in backward, tanh, what the report must say): the attacks the tests above
#: grade one by one through ``grade``, here graded together through ``batch`` and the service.
EVERY_PATH = {
    'exits_at_import': ('import sys\nsys.exit(0)\n', 'pass', GOOD_TANH,
                        lambda checks: 'exit' in checks['load']['message']),
    'exits_in_backward': ('', 'import os\nos._exit(0)', GOOD_TANH,
                          lambda checks: checks['ops.add']['status'] in ('failed', 'error')),
    'kills_its_parent': ('import os, signal\ntry:\n    os.kill(os.getppid(), signal.SIGKILL)\n'
                         'except OSError:\n    pass\n', 'pass', GOOD_TANH, None),
    'forges_reports': ('print("1 passed, 0 failed")\nfor name in ("junit.xml", "report.json"):\n'
                       '    with open(name, "w") as f:\n        f.write(\'{"verdict": "passed"}\')\n',
                       'pass', BAD_TANH, lambda checks: checks['ops.tanh']['status'] == 'failed'),
    'patches_builtins': ('import builtins, math\nmath.tanh = lambda x: 0.0\n'
                         'builtins.print = lambda *a, **k: None\nbuiltins.abs = lambda x: 0.0\n',
                         'pass', BAD_TANH,
                         lambda checks: "changed the grader's code (builtins.abs)"
                         in checks['tampered']['message']),
    'spawns_and_daemonizes': (f'''
import os, subprocess
subprocess.Popen(["sleep", "{MARK}1"], start_new_session=True)
for _ in range(16):
    if os.fork() == 0:
        os.execvp("sleep", ["sleep", "{MARK}2"])
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execvp("sleep", ["sleep", "{MARK}3"])
    os._exit(0)
''', 'pass', GOOD_TANH, None),
    'floods_its_output': ('import os, sys\nchunk = "spam " * 200_000\nfor _ in range(40):\n'
                          '    sys.stdout.write(chunk)\n    os.write(1, chunk.encode())\n',
                          'pass', GOOD_TANH, None),
    'nasty_text': ('NASTY = "nul\\x00 esc\\x1b[31m surrogate\\udc80 cdata]]> bell\\x07"\n'
                   'print(NASTY)\n', 'pass', 'raise ValueError(NASTY)',
                   lambda checks: 'cdata]]>' in checks['ops.tanh']['message'] and
                   'surrogate\\x80' in checks['ops.tanh']['message']),
    'dives': ('import sys\nsys.setrecursionlimit(10**8)\n\ndef dive(n):\n    return dive(n + 1)\n',
              'pass', 'dive(0)',
              lambda checks: checks['ops.tanh']['status'] in ('failed', 'error') and
              checks['ops.add']['status'] == 'passed'),
    'writes_outside': (f'''
import os
for path in ("/tmp/escape-{MARK}", os.path.expanduser("~/escape-{MARK}"), "/root/escape-{MARK}"):
    try:
        with open(path, "w") as f:
            f.write("x")
    except OSError:
        pass
''', 'pass', GOOD_TANH, None),
    'imports_slowly': ('import time\ntime.sleep(4)\n', 'pass', GOOD_TANH, None),
    'a_thread_dies': ('''
import threading

def _boom():
    return [1][2]
_thread = threading.Thread(target=_boom)
_thread.start()
_thread.join()
''', 'pass', GOOD_TANH, None),
    'threads_and_collector': ('''
import gc, sys, threading, time

def _monitor():
    while True:
        time.sleep(0.001)
        with open(__file__) as f:
            f.read(10)
        sys._getframe(0)
threading.Thread(target=_monitor, daemon=True).start()
gc.callbacks.append(lambda phase, info: sys._getframe(0))
''', 'pass', GOOD_TANH, None),
    'nan_everywhere': ('NAN = float("nan")\n', 'pass', GOOD_TANH,
                       lambda checks: 'nan' in checks['ops.add']['message']),
}
#: name -> (text, what replaces it) in its engine.
REWRITES = {'nan_everywhere': ('self.data = data', 'self.data = float("nan")')}
#: Those whose attack is the grade's only finding: a correct engine otherwise, so it passes.
PASSES = {'kills_its_parent', 'spawns_and_daemonizes', 'floods_its_output', 'writes_outside',
          'imports_slowly', 'a_thread_dies', 'threads_and_collector'}


def _every_path_source(name, port):
    at_import, in_backward, tanh, _ = EVERY_PATH[name]
    dial = f'''
import socket as _socket
try:
    _socket.create_connection(("127.0.0.1", {port}), timeout=2).sendall(b"hello")
    print("CONNECTED")
except OSError:
    pass
'''
    engine = hostile_engine(dial + at_import, in_backward, tanh)
    if name in REWRITES:
        assert REWRITES[name][0] in engine
        engine = engine.replace(*REWRITES[name])
    return engine


def _every_path_holds(name, report):
    """What ``grade`` makes of ``name`` (the tests above), read in ``report``."""
    text = json.dumps(report)
    assert len(text) < 1_000_000, (name, len(text))
    assert 'CONNECTED' not in text and 'NaN' not in text, name
    checks = {c['id']: c for c in report['checks']}
    if name in PASSES:
        assert report['verdict'] == 'passed', (name, [c['message'][:80] for c in report['checks']
                                                      if c['status'] != 'passed'][:3])
    else:
        assert report['verdict'] == 'failed', name
    said = EVERY_PATH[name][3]
    assert said is None or said(checks), (name, [(c['id'], c['message'][:100])
                                                 for c in report['checks']][:4])


def _nothing_left(server):
    with pytest.raises(socket.timeout):
        server.accept()
    server.close()
    assert not [p for t in '123' for p in _running(f'sleep\0{MARK}{t}')]
    for path in (f'/tmp/escape-{MARK}', f'/root/escape-{MARK}',
                 os.path.expanduser(f'~/escape-{MARK}')):
        assert not os.path.exists(path), path


def _listening():
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    server.listen(8)
    server.settimeout(0.5)
    return server, server.getsockname()[1]


def test_hostile_submissions_through_a_batch(tmp_path):
    """Every attack above in one ``batch -j 2`` (as root with bubblewrap: workers forked from
    the warm template, which share its pid namespace): each graded as ``grade`` grades it."""
    server, port = _listening()
    folder = tmp_path / 'class'
    folder.mkdir()
    for name in EVERY_PATH:
        (folder / f'{name}.py').write_text(_every_path_source(name, port))
    out = tmp_path / 'out'
    result = micrograde('batch', folder, '--out', out, '-j', '2', '--profile', 'quick',
                        '--check-timeout', '3', timeout=900)
    assert result.returncode == 0 and 'Traceback' not in result.stderr, result.stderr[-2000:]
    for name in EVERY_PATH:
        _every_path_holds(name, json.loads((out / f'{name}.py' / 'report.json').read_text()))
    _nothing_left(server)


@pytest.mark.service
def test_hostile_submissions_through_the_service(graded_by_a_worker):
    """The same through the service: one real worker process, its warm template."""
    server, port = _listening()
    served = graded_by_a_worker
    for name in EVERY_PATH:
        served.submit(name, _every_path_source(name, port).encode())
    rows = served.grade(timeout=900)
    for name in EVERY_PATH:
        assert rows[name]['status'] == 'done', (name, rows[name])
        _every_path_holds(name, served.get(name).json())
    _nothing_left(server)


# -- hangs (the time limits, in CPU seconds of a whole CPU: ``worker/clock``) on every path -------

def _hung_in_backward(report):
    """What a submission whose backward() never returns reads: its load passed, the first
    checks timed out, and after three strikes the rest is not run (skipped, 0 points)."""
    assert report['verdict'] == 'failed'
    checks = {c['id']: c for c in report['checks']}
    assert checks['load']['status'] == 'passed'
    assert 'timed out' in checks['ops.add']['message'], checks['ops.add']
    skipped = [c for c in report['checks'] if 'already timed out' in c['message']]
    assert skipped and all(c['status'] == 'skipped' and c['score'] == 0 for c in skipped)
    assert all('timed out after' in c['message'] for c in report['checks']
               if c['status'] in ('failed', 'error')), [c['message'] for c in report['checks']]


HANGS = {'spins': ('', 'while True:\n    pass'),
         'spins_ignoring_sigterm': ('import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n',
                                    'while True:\n    pass'),
         'sleeps': ('', 'import time\ntime.sleep(3600)')}


def test_hangs_through_a_batch(tmp_path):
    """``grade``'s hang tests above (at import and in backward()) in one ``batch -j 2``."""
    folder = tmp_path / 'class'
    folder.mkdir()
    for name, (at_import, in_backward) in HANGS.items():
        (folder / f'{name}.py').write_text(hostile_engine(at_import, in_backward, GOOD_TANH))
    (folder / 'hangs_at_import.py').write_text(hostile_engine('while True:\n    pass\n'))
    out = tmp_path / 'out'
    result = micrograde('batch', folder, '--out', out, '-j', '2', '--profile', 'quick',
                        '--check-timeout', '2', '--load-timeout', '3', timeout=900)
    assert result.returncode == 0 and 'Traceback' not in result.stderr, result.stderr[-2000:]
    for name in HANGS:
        _hung_in_backward(json.loads((out / f'{name}.py' / 'report.json').read_text()))
    load = json.loads((out / 'hangs_at_import.py' / 'report.json').read_text())['checks'][0]
    assert load['id'] == 'load' and 'timed out' in load['message'], load


@pytest.mark.service
def test_hangs_in_backward_through_the_service(graded_by_a_worker):
    """The same through the service, at its own limits (a check's: 10 s; a spinning one's up
    to four times that on a busy host: 230 s for all three, so the plain spin is left out)."""
    served = graded_by_a_worker
    hangs = {name: HANGS[name] for name in ('spins_ignoring_sigterm', 'sleeps')}
    for name, (at_import, in_backward) in hangs.items():
        served.submit(name, hostile_engine(at_import, in_backward, GOOD_TANH).encode())
    rows = served.grade(timeout=1200)
    for name in hangs:
        assert rows[name]['status'] == 'done', rows[name]
        _hung_in_backward(served.get(name).json())
