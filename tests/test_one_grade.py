"""One grade: every example gets the same report from every surface that grades it, and every
consumer's format rendered from it is the same: ``micrograde grade``, ``batch -j 2`` (workers
forked from the warm template), the service (a real redis-server and real workers), Gradescope's
``run_autograder``, the pytest plugin, and, for the same code saved as a notebook, ``grade`` and
``batch``. Compared whole (``conftest.one_grade``): everything but what differs by nature from
run to run (when, how long, a batch's cache key, a lost worker), so a field added to the report
is compared without a change here; what a notebook prints as it loads too (its Values are
numbered while it loads, so a set's order is the same on every surface).

Each surface is given the submission as one file named alike (graded from its folder by name),
so ``submission`` and every path derived from it agree. Memory layout differs between a fresh
worker and one forked from the template; the grader numbers the learner's Values
(worker/identity.py), so set orders, and grades, agree.  Slow (every example six ways), so it runs
with the service's tests (``make test-service``)."""
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import EXPECTED, ROOT, SUBMISSIONS, one_grade, one_junit
from test_examples import MICROGRADE, RUN_AUTOGRADER
from served import bearer, service, wait_for, worker_program
from micrograde.surfaces.service.supervisor import stop

pytestmark = pytest.mark.service
SEED, PROFILE = '0', 'standard'
#: Every example the suite knows (submissions/examples.toml): a package folder as a zip of it
EXAMPLES = sorted(name for name in EXPECTED if (SUBMISSIONS / name).exists())


def _notebook(source):
    """The same code as a one-cell notebook."""
    return json.dumps({'cells': [{'cell_type': 'code', 'metadata': {}, 'execution_count': None,
                                  'outputs': [], 'source': source.splitlines(True)}],
                       'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5})


def _as_file(name, folder):
    """The example as the one file every surface takes: itself, or its folder zipped."""
    path = SUBMISSIONS / name
    if path.is_file():
        return path
    target = folder / f'{path.name}.zip'
    with zipfile.ZipFile(target, 'w') as z:
        for f in sorted(path.rglob('*')):
            if f.is_file() and '__pycache__' not in f.parts:
                z.write(f, f.relative_to(path.parent))
    return target


def _alike(report, messages=True):
    """What must agree: the whole report but what differs by nature (``conftest.one_grade``);
    without ``messages``, each check's status, score, root cause and misconception code (a
    notebook names cells where a .py names lines)."""
    alike = one_grade(report)
    if messages:
        return alike
    return alike['score'], alike['max_score'], {
        c['id']: (c['status'], c['score'], c['consequence_of'], (c['misconception'] or {}).get('code'))
        for c in alike['checks']}


#: The formats every surface renders from its report, as ``grade --out`` names them, with what
#: differs by nature taken out: JUnit's times and host, Gradescope's and Classroom's durations.
FORMATS = {'junit.xml': one_junit,
           'results.json': lambda text: re.sub(r'"execution_time": [0-9.e-]+', '', text),
           'classroom.json': lambda text: re.sub(r'"duration": [0-9]+', '', text)}


def _formats(folder, names=None):
    """``{format: its text, per-run fields out}`` of the reports in ``folder`` (``names``: the
    surface's own file name for each format it serves)."""
    names = names or {}
    found = {f: folder / names.get(f, f) for f in FORMATS}
    return {f: FORMATS[f](path.read_text()) for f, path in found.items() if path.exists()}


def _run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=900, **kw)


def _grade(path, out):
    """``micrograde grade NAME`` from the submission's folder: its report and formats."""
    _run([MICROGRADE, 'grade', path.name, '--seed', SEED, '--profile', PROFILE, '--out', str(out)],
         cwd=path.parent)
    return json.loads((out / 'report.json').read_text())


def _gradescope(path, root):
    """Gradescope's run_autograder in a folder laid out like /autograder: its results.json's
    text, and the report micrograde wrote beside it."""
    for sub in ('source', 'submission', 'results'):
        (root / sub).mkdir(parents=True)
    (root / 'source' / 'micrograde').symlink_to(ROOT)  # the course's copy, as setup.sh installs it
    shutil.copy(path, root / 'submission' / path.name)
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), MICROGRADE=MICROGRADE, SUBMISSION_NAME=path.name,
               MICROGRADE_ARGS=f'--seed {SEED} --profile {PROFILE} --json {root / "report.json"}')
    _run(['python3', str(RUN_AUTOGRADER)], cwd=root, env=env)
    return _formats(root / 'results'), json.loads((root / 'report.json').read_text())


def _plugin(path, folder):
    """The pytest plugin's run on the submission, from its folder (a course repository's root):
    its report, its formats and the score line it prints."""
    done = _run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '--rootdir',
                 str(path.parent), '--micrograde', path.name, '--micrograde-seed', SEED,
                 '--micrograde-profile', PROFILE, '--micrograde-out', str(folder)], cwd=path.parent)
    return json.loads((folder / 'report.json').read_text()), _formats(folder), done.stdout


def _service(tmp_path, url, files):
    """Each file uploaded to the service (its own learner), graded by two real workers: its
    report and the formats the service serves."""
    client, tokens = service(tmp_path, url, profile=PROFILE, seed=int(SEED), rate_count=1000,
                             grading_budget=1e9)
    staff = bearer(tokens, 'c1', 'staff')
    workers = [worker_program(tmp_path, url, f'worker{k}') for k in range(2)]
    reports = {}
    with client:
        jobs = {}
        for k, (name, path) in enumerate(files.items()):
            learner = bearer(tokens, 'c1', 'learner', f'learner{k}')
            answer = client.post('/v1/courses/c1/submissions', headers=learner,
                                 files={'file': (path.name, path.read_bytes())})
            assert answer.status_code == 202, (name, answer.text)
            jobs[name] = answer.json()['id']
        for w in workers:
            w.start()
        try:
            for name, job in jobs.items():
                wait_for(client, staff, job, timeout=600)
                got = {what: client.get(f'/v1/courses/c1/submissions/{job}/{what}', headers=staff).text
                       for what in ('report.json', 'report.xml', 'results.json')}
                reports[name] = json.loads(got['report.json']), {
                    'junit.xml': one_junit(got['report.xml']),
                    'results.json': FORMATS['results.json'](got['results.json'])}
        finally:
            stop([w.proc for w in workers])
    return reports


def test_every_example_gets_one_grade_on_every_surface(tmp_path, redis_url_):
    files = {name: _as_file(name, tmp_path) for name in EXAMPLES}
    folder = tmp_path / 'class'
    folder.mkdir()
    for path in files.values():
        shutil.copy(path, folder / path.name)
        if path.suffix == '.py':
            (folder / f'{path.stem}_nb.ipynb').write_text(_notebook(path.read_text(errors='replace')))
    done = _run([MICROGRADE, 'batch', str(folder), '--out', str(tmp_path / 'out'), '-j', '2',
                 '--seed', SEED, '--profile', PROFILE])
    assert (tmp_path / 'out' / 'index.html').exists(), done.stdout + done.stderr
    batch = {d.name: (json.loads((d / 'report.json').read_text()), _formats(d))
             for d in (tmp_path / 'out').iterdir() if (d / 'report.json').exists()}
    served = _service(tmp_path, redis_url_, files)

    def each(item):
        k, (name, path) = item
        path = folder / path.name  # graded where the batch found it, by the same name
        alone = _grade(path, tmp_path / f'grade{k}')
        plugin = _plugin(path, tmp_path / f'plugin{k}')
        scope = _gradescope(path, tmp_path / f'gradescope{k}') if path.suffix != '.zip' else None
        notebook = _grade(folder / f'{path.stem}_nb.ipynb', tmp_path / f'grade{k}_nb') \
            if path.suffix == '.py' else None
        return name, path, (alone, _formats(tmp_path / f'grade{k}')), plugin, scope, notebook

    with ThreadPoolExecutor(2) as pool:
        legs = list(pool.map(each, enumerate(files.items())))
    differ = []
    for name, path, (alone, formats), (plugin, plugin_formats, printed), scope, notebook in legs:
        want = _alike(alone)
        seen = {'batch -j 2': batch.get(path.name), 'service': served[name],
                'pytest plugin': (plugin, plugin_formats)}
        if scope is not None:
            results, report = scope
            seen['gradescope'] = report, results
        for surface, (report, rendered) in ((s, r) for s, r in seen.items() if r is not None):
            if _alike(report) != want:
                differ.append((name, surface, [(k, v) for k, v in _alike(report).items() if want.get(k) != v]))
            for f, text in rendered.items():
                if text != formats[f]:
                    differ.append((name, surface, f))
        if batch.get(path.name) is None:
            differ.append((name, 'batch -j 2', 'no report'))
        if f'score {alone["score"]:g} / {alone["max_score"]:g}' not in printed:
            differ.append((name, 'pytest plugin summary', printed[-300:], alone['score']))
        if notebook is not None:
            nb = f'{path.stem}_nb.ipynb'
            for surface, report in (('notebook', notebook), ('notebook in batch', (batch.get(nb) or (None,))[0])):
                if report is None or _alike(report, messages=False) != _alike(alone, messages=False):
                    differ.append((name, surface, report and _alike(report, False), _alike(alone, False)))
    assert not differ, differ[:5]
