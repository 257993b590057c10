"""A worker a busy host gives part of a CPU reads as one on a quiet host: an answer is late, and a
notebook's cell is cut, once the worker would have used its time limit of a whole CPU
(``worker/clock.py``), not after that many seconds of the wall clock.  Real workers (a fresh
one, and one forked from the warm template), pinned with three busy processes to one CPU: a
quarter of it each, or half where the worker's own cgroup shares it fairly with theirs."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from micrograde.isolate import sandbox

ROOT = Path(__file__).resolve().parent.parent
LECTURE = (ROOT / 'submissions' / 'lecture_engine.py').read_text()
EXP = 'self.grad += out.data * out.grad'
#: exp's rule uses ``seconds`` of CPU (not of the wall clock: the same work on any host).
BURNS = EXP + '''
            import time
            started = time.process_time()
            while time.process_time() - started < {seconds}:
                pass'''
#: exp's rule waits (using no CPU): a hang, however busy the host.
SLEEPS = EXP + '''
            import time
            time.sleep(30)'''
LIMIT = 1.0

#: Runs one graph that holds an exp node in a session of the given submission, on the CPU
#: given; prints its error (or null) and the seconds it took.
SCRIPT = '''
import json, os, sys, time
os.sched_setaffinity(0, {int(sys.argv[3])})
from micrograde.checks.trials import item
from micrograde.grader.config import Config, Settings
from micrograde.isolate.session import Session
from micrograde.isolate.warm import WarmTemplate
from micrograde.model.graph import Graph
settings = Settings(check_timeout=float(sys.argv[2]), cell_timeout=float(sys.argv[2]),
                    load_timeout=float(sys.argv[5]))
rubric = Config().rubric
template = WarmTemplate(rubric.imports, settings.limits.memory) if sys.argv[4] == 'template' else None
session = Session(settings, sys.argv[1], template=template, seed=0)
started = time.monotonic()
loaded = session.load()
if sys.argv[1].endswith('.ipynb'):
    print(json.dumps({'warnings': loaded.warnings, 'error': loaded.error,
                      'seconds': time.monotonic() - started}))
    sys.exit(0)
assert not loaded.error
started = time.monotonic()
result = session.run('graph', [item(Graph.parse('out = a.exp() * k', a=0.5, k=2.0))])[0]
print(json.dumps({'error': str(result.error) if result.error else None,
                  'seconds': time.monotonic() - started}))
session.close()
if template is not None:
    template.close()
'''


def _workers():
    kinds = ['fresh']
    if sandbox.isolation('auto') == 'bubblewrap' and sandbox.templates_available():
        kinds.append('template')
    return kinds


def _run(tmp_path, source, cpu, worker, notebook=False, load_timeout=60.0):
    """A graph's answer (``notebook``: the load of a notebook of the engine and the cells of
    ``source``, one or a list) on ``cpu``."""
    if notebook:
        path = tmp_path / 'engine.ipynb'
        sources = [LECTURE, *([source] if isinstance(source, str) else source), 'print("after")']
        path.write_text(json.dumps({'nbformat': 4, 'nbformat_minor': 5, 'metadata': {}, 'cells': [
            {'cell_type': 'code', 'metadata': {}, 'outputs': [], 'execution_count': None,
             'source': text} for text in sources]}))
    else:
        path = tmp_path / 'engine.py'
        path.write_text(LECTURE.replace(EXP, source))
    done = subprocess.run([sys.executable, '-c', SCRIPT, str(path), str(LIMIT), str(cpu), worker,
                           str(load_timeout)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def busy_cpu():
    """One CPU of this process's, with three processes spinning on it until the test ends."""
    cpu = min(os.sched_getaffinity(0))
    spin = (f'import os, sys\nos.sched_setaffinity(0, {{{cpu}}})\nsys.stdout.write(".")\n'
            f'sys.stdout.flush()\nwhile True: pass')
    hogs = [subprocess.Popen([sys.executable, '-c', spin], stdout=subprocess.PIPE)
            for _ in range(3)]
    try:
        for hog in hogs:  # each spinning before the test starts (a busy suite starts them late)
            assert hog.stdout.read(1) == b'.'
        yield cpu
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


@pytest.mark.parametrize('worker', _workers())
def test_a_rule_within_its_time_limit_of_cpu_passes_on_a_busy_host(tmp_path, busy_cpu, worker):
    """Before: exp's rule using three quarters of the time limit of CPU timed out (a quarter to
    half a CPU: 1.5 to 3 times the limit of wall time), where a quiet host answered it: the same
    submission failed ops.exp on a busy host (``batch -j`` on a shared runner) and passed on a
    quiet one."""
    ran = _run(tmp_path, BURNS.format(seconds=LIMIT * 3 / 4), busy_cpu, worker)
    assert ran['error'] is None, ran
    assert ran['seconds'] > LIMIT, ran  # starved indeed: a quiet host answers within the limit


@pytest.mark.parametrize('worker', ['fresh'])  # the same clock as the template's
def test_a_rule_over_its_time_limit_of_cpu_still_times_out_on_a_busy_host(tmp_path, busy_cpu,
                                                                           worker):
    """Given more time, not all the time: twice the limit of CPU times out, busy host or not,
    within ``STARVED`` times the limit."""
    ran = _run(tmp_path, BURNS.format(seconds=LIMIT * 2), busy_cpu, worker)
    assert 'timed out after 1 s' in (ran['error'] or ''), ran
    assert ran['seconds'] < 4 * LIMIT + 1, ran


@pytest.mark.parametrize('worker', ['fresh'])  # the same clock as the template's
def test_a_worker_that_waits_times_out_at_its_limit_on_a_busy_host(tmp_path, busy_cpu, worker):
    """A worker that uses no CPU (it sleeps, or waits on a lock) is not working: it gets no more
    time than its limit (and the short measure of its share), however busy the host."""
    ran = _run(tmp_path, SLEEPS, busy_cpu, worker)
    assert 'timed out after 1 s' in (ran['error'] or ''), ran
    assert ran['seconds'] < 2 * LIMIT, ran


#: A notebook cell that uses ``seconds`` of CPU, then says so.
CELL = '''import time
started = time.process_time()
while time.process_time() - started < {seconds}:
    pass
print('done')'''


@pytest.mark.parametrize('worker', _workers())
def test_a_cell_within_its_time_limit_of_cpu_runs_whole_on_a_busy_host(tmp_path, busy_cpu, worker):
    """Before: a cell using three quarters of its limit of CPU was cut (1.5 to 3 times the limit
    of wall time), and the load went on without what the rest of the cell bound."""
    ran = _run(tmp_path, CELL.format(seconds=LIMIT * 3 / 4), busy_cpu, worker, notebook=True)
    assert not ran['error'] and not [w for w in ran['warnings'] if 'limit' in w], ran


@pytest.mark.parametrize('worker', ['fresh'])  # the same clock as the template's
def test_a_cell_over_its_time_limit_is_still_cut_on_a_busy_host(tmp_path, busy_cpu, worker):
    """Twice its limit of CPU is cut, busy host or not, and a cell that waits (sleeping, in
    short sleeps: one long sleep is one C call, which no limit interrupts) at its limit."""
    for cell in (CELL.format(seconds=LIMIT * 2), 'import time\nwhile True:\n    time.sleep(0.05)'):
        ran = _run(tmp_path, cell, busy_cpu, worker, notebook=True)
        assert [w for w in ran['warnings'] if f"ran past the cell's {LIMIT:g} s limit" in w], ran
        assert ran['seconds'] < (4 * LIMIT if 'sleep' not in cell else 2 * LIMIT) + 2, ran



@pytest.mark.parametrize('worker', _workers())
def test_the_cells_a_quiet_host_runs_in_the_load_time_run_on_a_busy_host(tmp_path, busy_cpu,
                                                                         worker):
    """Before: four cells of 0.5 s of CPU each, under a load time of 4 s (cells run for 3.2 s
    of it), ran whole on a quiet host and on a quarter of a CPU the last ones were skipped
    ("the notebook used its whole load time"), the classes they define then missing: the
    notebook's cells' budget was of wall seconds, each cell's limit of CPU seconds."""
    cells = [CELL.format(seconds=LIMIT / 2)] * 4
    ran = _run(tmp_path, cells, busy_cpu, worker, notebook=True, load_timeout=4.0)
    assert not ran['error'] and not ran['warnings'], ran
    assert ran['seconds'] > 3.2, ran  # starved indeed: the wall clock passed the budget


@pytest.mark.parametrize('worker', ['fresh'])  # the same clock as the template's
def test_cells_over_the_load_time_of_cpu_are_still_skipped_on_a_busy_host(tmp_path, busy_cpu,
                                                                          worker):
    """Given more time, not all the time: cells needing twice the budget of CPU are skipped
    past it, within ``STARVED`` times the budget."""
    cells = [CELL.format(seconds=LIMIT * 0.8)] * 8
    ran = _run(tmp_path, cells, busy_cpu, worker, notebook=True, load_timeout=4.0)
    # the cells stopped at the budget; or, where the host gave the worker less than the quarter
    # of a CPU its start and the budget need of the grader's four times the load time, the load
    assert [w for w in ran['warnings'] if 'whole load time' in w] or \
        'loading timed out' in (ran['error'] or ''), ran
    assert ran['seconds'] < 4 * 4.0 + 3, ran


#: backward() uses ``seconds`` of CPU at every call: a submission slow everywhere.
SLOW_BACKWARD = '    def backward(self):\n' + '''        import time
        started = time.process_time()
        while time.process_time() - started < {seconds}:
            pass
'''
#: Grades a submission with the quick profile and the grading's time limit given, on the CPU
#: given; prints its score, the checks the limit stopped and the seconds it took.
GRADE = '''
import json, os, sys, time
os.sched_setaffinity(0, {int(sys.argv[3])})
from micrograde.grader.config import Config, Settings
from micrograde.grader.grading import grade
from micrograde.isolate.warm import WarmTemplate
config = Config(profile='quick', settings=Settings(grade_timeout=float(sys.argv[2])))
template = WarmTemplate(config.rubric.imports, config.settings.limits.memory) \\
    if sys.argv[4] == 'template' else None
started = time.monotonic()
report = grade(sys.argv[1], config=config, template=template)
print(json.dumps({'score': report.score, 'max': report.max_score,
                  'seconds': time.monotonic() - started,
                  'checks': report.timings['total'] - report.timings['load'],
                  'stopped': [c.id for c in report.checks if 'time limit' in (c.message or '')],
                  'cut': [c.message for c in report.checks if 'cut short' in c.message],
                  'errors': [c.id for c in report.checks if c.status.value == 'error'],
                  'verdict': report.verdict.value}))
if template is not None:
    template.close()
'''


def _graded(tmp_path, seconds, limit, cpu, worker):
    path = tmp_path / 'slow.py'
    path.write_text(LECTURE.replace('    def backward(self):\n',
                                    SLOW_BACKWARD.format(seconds=seconds), 1))
    done = subprocess.run([sys.executable, '-c', GRADE, str(path), str(limit), str(cpu), worker],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize('worker', _workers())
def test_the_checks_a_quiet_host_runs_in_the_grading_time_run_on_a_busy_host(tmp_path, busy_cpu,
                                                                            worker):
    """Before: a submission whose backward() uses 5 ms of CPU, graded with a limit of 4 s for
    all the checks (more than twice what they use on a quiet host), had its last checks cut on a
    busy host (a quarter of a CPU: 31/51, fuzz.dags, the MLP and robustness checks "not run:
    the grading's time limit had passed"), where a quiet one ran them all (51/51): the
    grading's limit was of wall seconds, while every other limit is of CPU seconds.  Here 10
    ms: a quarter of a CPU then surely takes longer than the limit."""
    ran = _graded(tmp_path, 0.01, 4, busy_cpu, worker)
    assert not ran['stopped'] and ran['score'] == ran['max'], ran
    assert ran['seconds'] > 4, ran  # starved indeed: the wall clock passed the limit


def test_checks_over_the_grading_time_limit_of_cpu_still_stop_on_a_busy_host(tmp_path, busy_cpu):
    """Given more time, not all the time: checks that need several times the limit of CPU are
    stopped, busy host or not, within ``STARVED`` times the limit.  Before: the answer awaited
    when the limit passed was waited for, spinning, until its own limit (the checks took 15 s,
    not 8: the grading's "due" was the moment it was asked, a moment later than the waiter's
    "now"), and the check it cut read "2 of 3 graphs wrong"."""
    ran = _graded(tmp_path, 0.05, 2, busy_cpu, 'fresh')
    assert ran['stopped'] and ran['score'] < ran['max'], ran
    # the checks' time (the load aside: its own limit, and on a busy suite the bulk of the wall
    # time) within the limit's STARVED times, and the answer then cut and the worker closed
    assert ran['checks'] < 4 * 2 + 3, ran
    # the check the limit cut: not run (its graphs not answered, none wrong), no bug of the
    # submission's at its op's method (P3, staff15); and the grade is no pass
    assert not ran['errors'] and ran['verdict'] == 'failed', ran
    assert all('not answered' in m and 'wrong' not in m for m in ran['cut']), ran
