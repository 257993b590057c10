"""``make bench``: the figures of fast feedback, each with its ratio measured in the same run.

* a cold ``micrograde grade`` of a correct ``.py`` (the lecture's engine, and each example engine
  with another op set, whose corpus the shipped pool must hold too) against
  ``python -c "import torch"``;
* a failing grade (median over the examples ``bug_*.py``, ``surfaces/examples.py``) against a
  passing one;
* the notebook self-check (``check(Value, MLP=MLP)``) of a correct engine, imports included;
* a class of copies of the notebook example (plus every other example) graded with ``-j``;
* per notebook, grading's cost against the floor: what the notebook's own code needs for the
  same work (every request a real grading sent, replayed in-process, with no sandbox, no
  oracles and no reports), both measured alone and interleaved; the same replay in a fresh
  process forked from the warm bench, which is what a process per notebook costs by itself;
  and in-process with the numbered identity hashes (one grade on every surface), what they
  cost by themselves.

Cold runs are interleaved (torch, correct, each failing example, again ...) so that the load of
a shared machine falls on all of them alike; each figure is the median of ``--runs``.  They use
an empty oracle cache: only what ships with the package counts as stored.
"""
import contextlib
import gc
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click

from micrograde.isolate import sandbox
from micrograde.surfaces import examples
from micrograde.surfaces.batch import Batch
from micrograde.load.cells import notebook_cells
from micrograde.grader.config import PROFILES, Config
from micrograde.grader.grading import grade, safe_grade
from micrograde.reporters import write_reports
from micrograde.model.results import CATEGORIES
from micrograde.isolate.session import Session
from micrograde.worker import identity, tasks
from micrograde.worker.execute import Backend
from micrograde.worker.load import load
from micrograde.worker.forkserver import freeze, preload
from micrograde.isolate.warm import WarmTemplate

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = examples.SUBMISSIONS
STEPS = ('probe',) + tuple(c for c in CATEGORIES if c != 'load')  # the report's timings
CORRECT = 'lecture_engine.py'
#: Correct example engines whose op set is not the lecture's: all ops but ``2.0 ** a``; the
#: smallest two (Values only, or numbers on the right only); no tanh, relu, sigmoid or log.
PARTIAL = ('alt_engine.py', 'missing_ops.py', 'number_in_value.py', 'value_only.py')
#: (figure, target ratio): what issues 12 and 24 ask of each figure.
TARGETS = {'cold': 0.5, 'failing': 1.5, 'class': 45.0, 'floor': 1.3}


def build_class(folder, copies, notebook):
    """``copies`` copies of the notebook example plus every other example once."""
    for i in range(copies):
        shutil.copy(EXAMPLES / notebook, folder / f'student{i:04d}.ipynb')
    for entry in sorted(EXAMPLES.iterdir()):
        if entry.suffix in ('.py', '.ipynb') and entry.name != notebook:
            shutil.copy(entry, folder / entry.name)
    examples.write(folder)


def replay(path, config, sent, numbered=False):
    """Seconds the submission's own code needs for the work grading asked of it: the requests
    ``sent``, replayed in this process with no sandbox, oracles or reports (the floor).
    ``numbered``: with the worker's numbered identity hashes (``worker/identity.py``), which one
    grade on every surface needs: what that alone costs the notebook's code."""
    scratch = tempfile.mkdtemp()
    try:
        t = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            loaded = load(str(path), None, config.settings.cell_timeout, scratch, None,
                          notebook_cells(str(path)))
            found = loaded.find(config.settings.classes)
            found['Value'].locate(loaded.own)
            classes = {role: f.cls for role, f in found.items()}
            backend = Backend(classes['Value'], loaded.own, found['Value'].attributes)
            with identity.numbered(classes['Value']) if numbered else contextlib.nullcontext():
                for task, items in sent:
                    for item in items:
                        if numbered:  # as the serve loop does before each item
                            identity.reset(config.seed, item.get('order', 0))
                        tasks.run(task, item, classes, backend, loaded.own)
        return time.perf_counter() - t
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def forked_replay(path, config, sent):
    """Seconds from forking this warm process to the child's end of ``replay``: what running
    each notebook in a process of its own costs at the least (no sandbox, protocol, oracles or
    reports; the child's exit is not waited for, as grading does not wait for its worker's)."""
    done_r, done_w = os.pipe()
    t = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            replay(path, config, sent)
            os.write(done_w, b'.')
        finally:
            os._exit(0)
    os.close(done_w)
    os.read(done_r, 1)
    seconds = time.perf_counter() - t
    os.close(done_r)
    os.waitpid(pid, 0)
    return seconds


def per_notebook(path, config, runs):
    """``(grading, floor, forked floor, numbered floor)`` median seconds for one submission,
    each measured alone and interleaved (grade, replay, forked replay, numbered replay, grade,
    ...) so that the machine's load falls on all alike.  Grading is what a batch pays per submission: a worker from the warm
    template where there is one, every check, the reports written."""
    template = WarmTemplate(config.rubric.imports, config.settings.limits.memory) if \
        sandbox.isolation(config.settings.isolation) == 'bubblewrap' and \
        sandbox.templates_available() else None
    out = Path(tempfile.mkdtemp(prefix='micrograde-bench-'))
    def graded(k):
        t = time.perf_counter()
        write_reports(safe_grade(str(path), None, config, f'run{k}', template), out=out / f'run{k}')
        return time.perf_counter() - t

    times = ([], [], [], [])  # grading, the floor, in a fresh process, with numbered hashes
    try:
        session = Session(config.settings, str(path), seed=config.seed,
                          imports=config.rubric.imports, refused=config.rubric.refused)
        grade(str(path), config=config, session=session)  # what grading asks of the submission
        preload()  # as the template does: the floor is the submission's own code only
        freeze()
        measures = (graded, lambda k: replay(path, config, session.sent),
                    lambda k: forked_replay(path, config, session.sent),
                    lambda k: replay(path, config, session.sent, numbered=True))
        for k in range(runs + 2):  # the first two warm the caches of all
            for measure, seconds in zip(measures, times):
                gc.collect()  # from a collected heap: no collection of another's garbage counts
                seconds.append(measure(k))
    finally:
        if template is not None:
            template.close()
        shutil.rmtree(out, ignore_errors=True)
    return tuple(statistics.median(seconds[2:]) for seconds in times)


def _timed(argv, env):
    t = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def cold(runs, profile):
    """Median seconds of ``import torch``, of a cold grade of the correct example, of each
    example with a partial op set and of each failing example: ``(torch, correct, {partial:
    seconds}, {bug: seconds})``, all interleaved."""
    every = examples.assemble(tempfile.mkdtemp(prefix='micrograde-bench-examples-'))
    bugs = sorted(p.name for p in every.glob('bug_*.py'))
    cache = tempfile.mkdtemp(prefix='micrograde-bench-cache-')
    env = dict(os.environ, MICROGRADE_CACHE=cache)
    times = {name: [] for name in ['torch', CORRECT, *PARTIAL, *bugs]}
    try:
        for _ in range(runs):
            times['torch'].append(_timed([sys.executable, '-c', 'import torch'], env))
            for name in [CORRECT, *PARTIAL, *bugs]:
                times[name].append(_timed([sys.executable, '-m', 'micrograde.surfaces.cli', 'grade',
                                           str(every / name), '--profile', profile,
                                           '--no-color'], env))
    finally:
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(every, ignore_errors=True)
    med = {name: statistics.median(ts) for name, ts in times.items()}
    return (med.pop('torch'), med.pop(CORRECT), {name: med.pop(name) for name in PARTIAL}, med)


def classroom(copies, jobs, profile, notebook):
    """Grade a class; returns ``(wall seconds, submissions, per-notebook timing rows)``."""
    work_dir = Path(tempfile.mkdtemp(prefix='micrograde-bench-'))
    try:
        (work_dir / 'class').mkdir()
        build_class(work_dir / 'class', copies, notebook)
        t = time.perf_counter()
        with Batch([work_dir / 'class'], work_dir / 'out', Config(profile=profile)) as batch:
            reports = batch.run(jobs)
        wall = time.perf_counter() - t
        return wall, len(reports), [r.timings for k, r in reports.items() if k.startswith('student')]
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def _row(figure, measured, ratio, target):
    ok = 'ok' if ratio <= target else 'MISSED'
    click.echo(f'  {figure:<48} {measured:<26} {ratio:>6.2f}x  target <= {target:g}x  {ok}')


SELF_CHECK = ('import importlib.util, time\n'
              't = time.perf_counter()\n'
              'spec = importlib.util.spec_from_file_location("engine", {path!r})\n'
              'engine = importlib.util.module_from_spec(spec); spec.loader.exec_module(engine)\n'
              'from micrograde import check\n'
              'assert check(engine.Value, MLP=engine.MLP).passed\n'
              'print(time.perf_counter() - t)\n')


def self_check(runs, engine=CORRECT):
    """Median seconds of ``check(Value, MLP=MLP)`` on a correct engine in a fresh interpreter,
    imports included (an empty oracle cache: only what ships counts)."""
    cache = tempfile.mkdtemp(prefix='micrograde-bench-cache-')
    env = dict(os.environ, MICROGRADE_CACHE=cache)
    code = SELF_CHECK.format(path=str(EXAMPLES / engine))
    try:
        return statistics.median(
            float(subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=env, check=True,
                                 capture_output=True, text=True).stdout) for _ in range(runs))
    finally:
        shutil.rmtree(cache, ignore_errors=True)


@click.command()
@click.option('--copies', default=300, show_default=True, help='Copies of the notebook example.')
@click.option('--jobs', '-j', default=2, show_default=True, help='Submissions graded at once.')
@click.option('--profile', type=click.Choice(list(PROFILES)), default=Config.profile,
              show_default=True)
@click.option('--notebook', default='lecture_notebook.ipynb', show_default=True)
@click.option('--runs', default=5, show_default=True, help='Runs of each cold grade and of the '
              'floor, for the medians.')
def main(copies, jobs, profile, notebook, runs):
    """Print each figure of fast feedback with its ratio, all measured in this run."""
    torch_s, correct_s, partial, bugs = cold(runs, profile)
    failing_s = statistics.median(bugs.values())
    click.echo(f'cold runs (median of {runs}, profile {profile}):')
    click.echo(f'  import torch {torch_s:.2f} s; grade {CORRECT} {correct_s:.2f} s')
    for name, s in {**partial, **bugs}.items():
        click.echo(f'  grade {name} {s:.2f} s')
    mine = self_check(runs)
    click.echo(f'  notebook self-check of {CORRECT}, imports included: {mine:.2f} s (issue 13: '
               f'< 2 s), {mine / torch_s:.2f}x import torch')
    wall, n, nb = classroom(copies, jobs, profile, notebook)

    def mean(key):
        return statistics.fmean(row.get(key, 0.0) for row in nb)
    click.echo(f'class: {n} submissions ({copies} notebooks) in {wall:.1f} s with -j {jobs}: '
               f'{n / wall:.2f} submissions/s')
    start = mean('load') - mean('load_in_worker')
    click.echo(f'per notebook, mean seconds: start worker {start:.3f}  load '
               f'{mean("load_in_worker"):.3f}  report {mean("report"):.3f}  ' +
               '  '.join(f'{step} {mean(step):.3f}' for step in STEPS))
    per, own, forked, numbered = per_notebook(EXAMPLES / notebook, Config(profile=profile), runs)
    click.echo(f'per notebook, alone (median of {runs}, interleaved): grading {per:.3f} s, '
               f'its own code on the same requests {own:.3f} s (the floor); the same in a '
               f'fresh process forked from a warm one {forked:.3f} s = {forked / own:.2f}x the '
               f'floor (a process per notebook, before any sandbox, protocol, oracle or report); '
               f'in-process with the numbered identity hashes one grade needs {numbered:.3f} s = '
               f'{numbered / own:.2f}x; the two together at least '
               f'{(forked + numbered - own) / own:.2f}x')
    click.echo('figures (ratios measured in this run):')
    _row('cold grade of a correct .py / import torch', f'{correct_s:.2f} s / {torch_s:.2f} s',
         correct_s / torch_s, TARGETS['cold'])
    for name, s in partial.items():
        _row(f'cold grade of {name} (other ops) / import torch', f'{s:.2f} s / {torch_s:.2f} s',
             s / torch_s, TARGETS['cold'])
    _row('failing grade (median of bug_*.py) / passing', f'{failing_s:.2f} s / {correct_s:.2f} s',
         failing_s / correct_s, TARGETS['failing'])
    _row(f'class of {copies} notebooks, -j {jobs} / 45 s', f'{wall:.1f} s',
         wall / TARGETS['class'], 1.0)
    _row('per-notebook cost / floor', f'{per:.3f} s / {own:.3f} s', per / own, TARGETS['floor'])


if __name__ == '__main__':
    main()
