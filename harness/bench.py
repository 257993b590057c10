"""``make bench``: grade a class of copies of the examples and compare with the floor.

The floor is what the submissions' own code needs for the same work: loading it and running the
same graphs and MLP tasks in-process, with no sandbox, no oracles and no reports.
"""
import contextlib
import gc
import io
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click

from .batch import Batch
from .config import PROFILES, Config
from .grading import grade
from .results import CATEGORIES
from .session import Session
from .worker.execute import Backend, run_graph
from .worker.load import load
from .worker.mlp import run_mlp
from .worker.forkserver import preload

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / 'submissions'
STEPS = ('probe',) + tuple(c for c in CATEGORIES if c != 'load')  # the report's timings


def build_class(folder, copies, notebook):
    """``copies`` copies of the notebook example plus every other example once."""
    for i in range(copies):
        shutil.copy(EXAMPLES / notebook, folder / f'student{i:04d}.ipynb')
    for entry in sorted(EXAMPLES.iterdir()):
        if entry.suffix in ('.py', '.ipynb') and entry.name != notebook:
            shutil.copy(entry, folder / entry.name)


def floor(path, config):
    """Seconds the submission's own code needs for the work grading asked of it: every request
    a real grading sent, replayed in-process, with no sandbox, oracles or reports."""
    session = Session(config.settings, str(path), seed=config.seed)
    grade(str(path), config=config, session=session)
    preload()  # as the template does: the floor is the submission's own code only
    gc.collect()
    gc.freeze()
    runs = []
    for _ in range(3):
        scratch = tempfile.mkdtemp()
        try:
            t = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                loaded = load(str(path), None, config.settings.cell_timeout, scratch)
                classes = {role: cls for role, (cls, _) in loaded.find(config.settings.classes).items()}
                backend = Backend(classes['Value'])
                for task, items in session.sent:
                    for item in items:
                        if task == 'graph':
                            run_graph(item['graph'], backend, item.get('backward', 1),
                                      item.get('instrument', False))
                        else:
                            run_mlp(classes, item)
            runs.append(time.perf_counter() - t)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return statistics.median(runs)


SELF_CHECK = ('import importlib.util, time\n'
              't = time.perf_counter()\n'
              'spec = importlib.util.spec_from_file_location("engine", {path!r})\n'
              'engine = importlib.util.module_from_spec(spec); spec.loader.exec_module(engine)\n'
              'from harness import check\n'
              'assert check(engine.Value, MLP=engine.MLP).passed\n'
              'print(time.perf_counter() - t)\n')


def self_check(engine='lecture_engine.py', runs=3):
    """Median seconds of ``check(Value, MLP=MLP)`` on a correct engine in a fresh interpreter,
    imports included, and of ``import torch`` alone in one."""
    def median(code):
        return statistics.median(float(subprocess.run([sys.executable, '-c', code], check=True,
                                                      capture_output=True, text=True).stdout)
                                 for _ in range(runs))
    return (median(SELF_CHECK.format(path=str(EXAMPLES / engine))),
            median('import time; t = time.perf_counter(); import torch; print(time.perf_counter() - t)'))


@click.command()
@click.option('--copies', default=300, show_default=True, help='Copies of the notebook example.')
@click.option('--jobs', '-j', default=2, show_default=True, help='Submissions graded at once.')
@click.option('--profile', type=click.Choice(list(PROFILES)), default=Config.profile,
              show_default=True)
@click.option('--notebook', default='lecture_notebook.ipynb', show_default=True)
def main(copies, jobs, profile, notebook):
    """Grade a class of example copies; print throughput, breakdown and the ratio to the floor."""
    config = Config(profile=profile)
    mine, torch = self_check()
    click.echo(f'notebook self-check of a correct engine, imports included: {mine:.2f} s (target '
               f'< 2 s), {mine / torch:.2f}x a bare import torch ({torch:.2f} s)')
    work_dir = Path(tempfile.mkdtemp(prefix='micrograde-bench-'))
    try:
        (work_dir / 'class').mkdir()
        build_class(work_dir / 'class', copies, notebook)
        t = time.perf_counter()
        with Batch([work_dir / 'class'], work_dir / 'out', config) as batch:
            reports = batch.run(jobs)
        wall = time.perf_counter() - t
        n = len(reports)
        timing = [r.timings for r in reports.values()]

        def mean(key, rows=timing):
            return statistics.fmean(row.get(key, 0.0) for row in rows)
        nb = [r.timings for k, r in reports.items() if k.startswith('student')]
        click.echo(f'{n} submissions ({copies} notebooks) in {wall:.1f} s with -j {jobs}, profile '
                   f'{profile}: {n / wall:.2f} submissions/s')
        click.echo('per notebook, mean seconds:')
        start = mean('load', nb) - mean('load_in_worker', nb)
        click.echo(f'  start worker {start:.3f}  load {mean("load_in_worker", nb):.3f}  checks '
                   f'{sum(mean(s, nb) for s in STEPS):.3f}  report {mean("report", nb):.3f}  '
                   f'total {mean("total", nb) + mean("report", nb):.3f}')
        for step in STEPS:
            click.echo(f'    {step:<11} {mean(step, nb):.3f}')
        own = floor(EXAMPLES / notebook, config)
        per = mean('total', nb) + mean('report', nb)
        click.echo(f'floor (the notebook\'s own code, same work, in-process, median of 3): {own:.3f} s; '
                   f'grading costs {per / own:.2f}x the floor')
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == '__main__':
    main()
