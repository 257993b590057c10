"""One grade: every example gets the same score, checks, messages and findings from every surface
that grades it: ``micrograde grade``, ``batch -j 2`` (workers forked from the warm template), the
service (a real redis-server and a real worker), Gradescope's ``run_autograder``, the pytest
plugin, and, for the same code saved as a notebook, ``grade`` and ``batch``.

Memory layout differs between a fresh worker and one forked from the template; the grader numbers
the learner's Values (worker/identity.py), so set orders, and grades, agree.  Slow (every example
six ways), so it runs with the service's tests (``make test-service``)."""
import json
import os
import shutil
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from conftest import EXPECTED, ROOT, SUBMISSIONS
from test_examples import MICROGRADE, RUN_AUTOGRADER
from served import KEY, bearer, wait_for, worker_program
from micrograde.surfaces.service.api import ServiceConfig, create_app
from micrograde.surfaces.service.supervisor import stop
from micrograde.surfaces.service.tokens import Tokens

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


def _graded(report, messages=True):
    """What must agree: the score and, per check, its status, root cause and misconception code
    (and its message, for the same file: a notebook names cells where a .py names lines)."""
    return report['score'], report['max_score'], {
        c['id']: (c['status'], c['consequence_of'], (c['misconception'] or {}).get('code'),
                  c['message'] if messages else '') for c in report['checks']}


def _run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=900, **kw)


def _grade(path, out):
    _run([MICROGRADE, 'grade', str(path), '--seed', SEED, '--profile', PROFILE, '--json', str(out)])
    return json.loads(out.read_text())


def _gradescope(path, root):
    """Gradescope's run_autograder in a folder laid out like /autograder: its results.json, and
    the report micrograde wrote beside it."""
    for sub in ('source', 'submission', 'results'):
        (root / sub).mkdir(parents=True)
    (root / 'source' / 'micrograde').symlink_to(ROOT)  # the course's copy, as setup.sh installs it
    shutil.copy(path, root / 'submission' / path.name)
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), MICROGRADE=MICROGRADE, SUBMISSION_NAME=path.name,
               MICROGRADE_ARGS=f'--seed {SEED} --profile {PROFILE} --json {root / "report.json"}')
    _run(['python3', str(RUN_AUTOGRADER)], cwd=root, env=env)
    return json.loads((root / 'results' / 'results.json').read_text()), \
        json.loads((root / 'report.json').read_text())


def _plugin(path, folder):
    """The pytest plugin's run on the submission: its report and the score line it prints."""
    folder.mkdir()
    done = _run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '--micrograde',
                 str(path), '--micrograde-seed', SEED, '--micrograde-profile', PROFILE,
                 '--micrograde-out', str(folder / 'out')], cwd=folder)
    return json.loads((folder / 'out' / 'report.json').read_text()), done.stdout


def _service(tmp_path, url, files):
    """Each file uploaded to the service (its own learner), graded by two real workers."""
    config = ServiceConfig(tmp_path / 'state', url, KEY, profile=PROFILE, seed=int(SEED),
                           rate_count=1000, grading_budget=1e9)
    client, tokens = TestClient(create_app(config)), Tokens(config.database)
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
                reports[name] = client.get(f'/v1/courses/c1/submissions/{job}/report.json',
                                           headers=staff).json()
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
    batch = {d.name: json.loads((d / 'report.json').read_text())
             for d in (tmp_path / 'out').iterdir() if (d / 'report.json').exists()}
    served = _service(tmp_path, redis_url_, files)

    def each(item):
        k, (name, path) = item
        alone = _grade(path, tmp_path / f'{k}.json')
        plugin, printed = _plugin(path, tmp_path / f'plugin{k}')
        scope = _gradescope(path, tmp_path / f'gradescope{k}') if path.suffix != '.zip' else None
        notebook = _grade(folder / f'{path.stem}_nb.ipynb', tmp_path / f'{k}_nb.json') \
            if path.suffix == '.py' else None
        return name, path, alone, plugin, printed, scope, notebook

    with ThreadPoolExecutor(2) as pool:
        legs = list(pool.map(each, enumerate(files.items())))
    differ = []
    for name, path, alone, plugin, printed, scope, notebook in legs:
        want = _graded(alone)
        seen = {'batch -j 2': batch.get(path.name), 'service': served[name], 'pytest plugin': plugin}
        if scope is not None:
            results, report = scope
            seen['gradescope'] = report
            if results['score'] != alone['score']:
                differ.append((name, 'gradescope results.json', results['score'], alone['score']))
        for surface, report in seen.items():
            if report is None or _graded(report) != want:
                differ.append((name, surface, report and _graded(report), want))
        if f'score {alone["score"]:g} / {alone["max_score"]:g}' not in printed:
            differ.append((name, 'pytest plugin summary', printed[-300:], alone['score']))
        if notebook is not None:
            nb = f'{path.stem}_nb.ipynb'
            for surface, report in (('notebook', notebook), ('notebook in batch', batch.get(nb))):
                if report is None or _graded(report, messages=False) != _graded(alone, messages=False):
                    differ.append((name, surface, report and _graded(report, False), _graded(alone, False)))
    assert not differ, differ[:5]
