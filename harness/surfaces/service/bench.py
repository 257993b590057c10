"""``make bench-service``: a class of notebooks through the HTTP API, against ``micrograde batch``.

Starts the service as ``make serve`` does (a private Redis, the API, N workers) on loopback,
uploads every submission of the bench class (the notebook copies of ``make bench``, every other
example and a few hostile ones), one learner token each, and waits for every report; then
stops it and grades the same folder with ``micrograde batch -j N``.  Prints both throughputs,
the time from upload to report (p50, p95) and whether the verdicts agree.  Bounded: it gives up
after ``--timeout`` seconds.
"""
import csv
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import click
import httpx
from dramatiq import Message

from micrograde.surfaces.bench import EXAMPLES, build_class
from micrograde.surfaces.service.grader import VERSION
from micrograde.surfaces.service.jobs import Jobs
from micrograde.surfaces.service.keys import DEPLOYMENT_KEY, read_secret
from micrograde.surfaces.service.supervisor import Supervisor, free_port
from micrograde.surfaces.service.tasks import Queue
from micrograde.surfaces.service.tokens import Tokens

HOSTILE = {
    'hangs.py': 'while True:\n    pass\n',
    'kills_its_parent.py': 'import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n',
    'floods.py': 'import sys\nfor _ in range(50_000):\n    sys.stdout.write("x" * 1000 + "\\n")\n',
    'hoards_memory.py': 'hoard = []\nwhile True:\n    hoard.append(bytearray(1 << 26))\n',
}


def build(folder, copies):
    folder.mkdir()
    build_class(Path(folder), copies, 'lecture_notebook.ipynb')
    for name, source in HOSTILE.items():
        (folder / name).write_text(source)
    return sorted(p for p in folder.iterdir() if p.is_file())


@contextmanager
def served(state, workers, profile, seed):
    """The service as ``make serve`` starts it, once a worker is ready: ``(supervisor, tokens,
    HTTP client)``."""
    sup = Supervisor(state, free_port(), workers,
                     api_args=['--profile', profile, '--seed', str(seed), '--rate', '1000000'])
    sup.start()
    try:
        sup.wait_ready(timeout=600, grading=workers > 0)
        with sup.tending(), httpx.Client(base_url=sup.url, timeout=60) as client:
            yield sup, Tokens(sup.state / 'service.sqlite3'), client
    finally:
        sup.stop()


def post(client, learner, name, data, deadline):
    """Upload as a client should (waiting as told on 429 and 503); the job, or ``None``."""
    while time.monotonic() < deadline:
        r = client.post('/v1/courses/bench/submissions', headers=learner, files={'file': (name, data)})
        if r.status_code in (429, 503):
            time.sleep(float(r.headers.get('Retry-After', '1')))
            continue
        r.raise_for_status()
        return r.json()
    return None


def reported(client, staff, enough, deadline):
    """The course's jobs with a report, by file name, once ``enough(them)`` (or at
    ``deadline``)."""
    while True:
        jobs = {j['filename']: j for j in client.get('/v1/courses/bench/submissions', headers=staff).json()
                if j['status'] in ('done', 'error')}
        if enough(jobs) or time.monotonic() > deadline:
            return jobs
        time.sleep(1)


def through_service(files, workers, profile, seed, deadline, state, concurrency):
    """Upload every file, one learner each, and wait for every report.

    Returns ``(jobs by file name, seconds of the uploads, seconds to the last report, limits)``;
    upload-to-report times are the API's own stamps (accepted, report finished)."""
    with served(state, workers, profile, seed) as (sup, tokens, client):
        staff = {'Authorization': 'Bearer ' + tokens.create('bench', 'staff')[0]}
        learners = {p.name: {'Authorization': 'Bearer ' + tokens.create('bench', 'learner', p.stem)[0]}
                    for p in files}
        t0 = time.time()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(lambda p: post(client, learners[p.name], p.name, p.read_bytes(), deadline),
                          files))
        uploads = time.time() - t0
        jobs = reported(client, staff, lambda done: len(done) >= len(files), deadline)
        for name, job in jobs.items():  # every report is there and readable
            url = f'/v1/courses/bench/submissions/{job["id"]}/report.json'
            assert client.get(url, headers=staff).json()['verdict'] == job['verdict'], name
        last = max((j['finished'] for j in jobs.values()), default=t0)
        idle = alone(client, tokens, files[0])
        return jobs, uploads, last - t0, idle, limits(sup.broker, sup.state, files[0].stat().st_size)


def deadline_submissions(uploads, slow_share):
    """``{file name: bytes}``: the lecture engine made distinct by a comment, and every
    ``1/slow_share``-th one hanging at load or crawling (each ``+`` takes half a second)."""
    engine = (EXAMPLES / 'lecture_engine.py').read_bytes()
    crawl = engine.replace(b'    def __add__(self, other):\n',
                           b'    def __add__(self, other):\n        __import__("time").sleep(0.5)\n', 1)
    slow = itertools.cycle([('hangs', b'while True:\n    pass\n'), ('crawls', crawl)])
    every = max(round(1 / slow_share), 1) if slow_share else uploads + 1
    files = {}
    for i in range(uploads):
        kind, body = next(slow) if (i + 1) % every == 0 else ('engine', engine)
        files[f'{kind}{i:04d}.py'] = body + b'\n# %d\n' % i
    return files


def deadline_hour(uploads, minutes, slow_share, workers, profile, seed, state, timeout):
    """Upload ``uploads`` submissions from as many learners, evenly over ``minutes``; wait for
    every ordinary one's report, then for the slow ones' until ``timeout``.  Returns
    ``({file name: seconds from its first try to its report, or nan}, {file name: seconds it
    had waited at the end, without a report}, load averages at the start and the end)``."""
    files = deadline_submissions(uploads, slow_share)
    load = [os.getloadavg()]
    with served(state, workers, profile, seed) as (sup, tokens, client):
        staff = {'Authorization': 'Bearer ' + tokens.create('bench', 'staff')[0]}
        learners = {name: {'Authorization': 'Bearer ' + tokens.create('bench', 'learner', name[:-3])[0]}
                    for name in files}
        deadline = time.monotonic() + timeout
        t0, tried = time.monotonic(), {}

        def upload(i_name):
            i, name = i_name
            time.sleep(max(t0 + i * minutes * 60 / uploads - time.monotonic(), 0))
            tried[name] = time.time()
            post(client, learners[name], name, files[name], deadline)
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(upload, enumerate(files)))
        ordinary = sum(name.startswith('engine') for name in files)
        jobs = reported(client, staff, lambda done: sum(n.startswith('engine') for n in done) >= ordinary,
                        deadline)
        jobs = reported(client, staff, lambda done: len(done) == len(files), deadline)
        load.append(os.getloadavg())
        end = time.time()
        return ({name: jobs[name]['finished'] - tried[name] if name in jobs else float('nan')
                 for name in files},
                {name: end - tried[name] for name in files if name not in jobs}, load)


def alone(client, tokens, path, timeout=300):
    """Seconds from upload to report of one submission on an idle service."""
    learner = {'Authorization': 'Bearer ' + tokens.create('bench', 'learner', 'alone')[0]}
    job = client.post('/v1/courses/bench/submissions', headers=learner,
                      files={'file': ('alone-' + path.name, path.read_bytes())}).json()
    deadline = time.monotonic() + timeout
    while job['status'] not in ('done', 'error') and time.monotonic() < deadline:
        time.sleep(0.05)
        job = client.get(f'/v1/courses/bench/submissions/{job["id"]}', headers=learner).json()
    return job['finished'] - job['created'] if job['finished'] else float('nan')


def limits(broker, state, size, n=500):
    """Job messages of ``size`` bytes Redis takes per second; jobs SQLite accepts per second."""
    queue = Queue(broker, read_secret(Path(state, DEPLOYMENT_KEY)))
    payload = 'x' * (size * 4 // 3)  # base64, as a job carries it
    t = time.perf_counter()
    for _ in range(n):
        queue.broker.enqueue(Message(queue_name='probe', actor_name='probe', args=(payload,),
                                     kwargs={}, options={}))
    redis_rate = n / (time.perf_counter() - t)
    queue.broker.flush('probe')
    queue.close()
    jobs = Jobs(Path(state, 'probe.sqlite3'))
    t = time.perf_counter()
    for i in range(n):
        jobs.submit('probe', f'learner{i}', 'probe.ipynb', str(i), 0, 'standard', '', payload.encode(),
                    VERSION)
    return redis_rate, n / (time.perf_counter() - t)


def through_batch(folder, out, workers, profile, seed):
    t = time.monotonic()
    subprocess.run([sys.executable, '-m', 'micrograde.surfaces.cli', 'batch', str(folder), '--out', str(out),
                    '-j', str(workers), '--profile', profile, '--seed', str(seed)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.monotonic() - t
    with open(out / 'gradebook.csv', newline='') as f:
        return {row['id']: row['verdict'] for row in csv.DictReader(f)}, wall


def percentile(values, p):
    return statistics.quantiles(values, n=100, method='inclusive')[p - 1] if len(values) > 1 else values[0]


@click.command()
@click.option('--copies', default=300, show_default=True, help='Copies of the notebook example.')
@click.option('--workers', '-w', default=2, show_default=True, help='Workers (and batch -j).')
@click.option('--profile', default='standard', show_default=True)
@click.option('--seed', default=0, show_default=True)
@click.option('--timeout', default=1800, show_default=True, help='Seconds before giving up.')
@click.option('--concurrency', default=4, show_default=True, help='Uploads in flight at once.')
@click.option('--deadline-hour', is_flag=True,
              help='Instead: --uploads submissions from as many learners over --minutes.')
@click.option('--uploads', default=1000, show_default=True)
@click.option('--minutes', default=10.0, show_default=True)
@click.option('--slow-share', default=0.05, show_default=True,
              help='Share of the uploads that hang at load or crawl.')
def main(copies, workers, profile, seed, timeout, concurrency, deadline_hour, uploads, minutes,
         slow_share):
    """Grade the bench class through the service and with micrograde batch; compare."""
    work = Path(tempfile.mkdtemp(prefix='micrograde-bench-service-'))
    try:
        if deadline_hour:
            return report_deadline_hour(uploads, minutes, slow_share, workers, profile, seed,
                                        work / 'state', timeout)
        files = build(work / 'class', copies)
        deadline = time.monotonic() + timeout
        jobs, uploads, wall, idle, (redis_rate, sqlite_rate) = through_service(
            files, workers, profile, seed, deadline, work / 'state', concurrency)
        n = len(files)
        statuses = {s: sum(j['status'] == s for j in jobs.values()) for s in ('done', 'error')}
        click.echo(f'service: {len(jobs)}/{n} submissions ({copies} notebooks, {len(HOSTILE)} hostile) '
                   f'reported in {wall:.1f} s with {workers} workers: {len(jobs) / wall:.2f}/s '
                   f'({statuses["done"]} done, {statuses["error"]} error)')
        times = sorted(j['finished'] - j['created'] for j in jobs.values())
        click.echo(f'  uploads accepted in {uploads:.1f} s ({n / uploads:.0f}/s); upload -> report: '
                   f'p50 {percentile(times, 50):.1f} s, p95 {percentile(times, 95):.1f} s, max '
                   f'{times[-1]:.1f} s (a backlog of {n} on {workers} workers); one notebook on '
                   f'the idle service: {idle:.2f} s')
        click.echo(f'  limits: Redis takes {redis_rate:.0f} job messages/s (append-only file), '
                   f'SQLite accepts {sqlite_rate:.0f} jobs/s')
        if len(jobs) < n:
            click.echo(f'gave up after {timeout} s: {n - len(jobs)} without a report')
            sys.exit(1)
        verdicts, batch_wall = through_batch(work / 'class', work / 'batch', workers, profile, seed)
        click.echo(f'batch:   {len(verdicts)} submissions in {batch_wall:.1f} s with -j {workers}: '
                   f'{len(verdicts) / batch_wall:.2f}/s')
        click.echo(f'service takes {wall / batch_wall:.2f}x the time of micrograde batch')
        differ = [name for name, job in jobs.items() if verdicts.get(name) != job['verdict']]
        click.echo('verdicts: the same as the batch\'s' if not differ else
                   f'verdicts differ from the batch\'s for {", ".join(differ)}')
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report_deadline_hour(uploads, minutes, slow_share, workers, profile, seed, state, timeout):
    waited, waiting, load = deadline_hour(uploads, minutes, slow_share, workers, profile, seed,
                                          state, timeout)
    normal = [t for name, t in waited.items() if name.startswith('engine')]
    slow = [t for name, t in waited.items() if not name.startswith('engine')]
    click.echo(f'deadline hour: {uploads} uploads from {uploads} learners over {minutes:g} min, '
               f'{len(slow)} slow (hang or crawl), {workers} workers, profile {profile}; load '
               f'average (1, 5, 15 min) {"%.1f %.1f %.1f" % load[0]} at the start, '
               f'{"%.1f %.1f %.1f" % load[1]} at the end')
    for what, times in (('others', normal), ('slow ones', slow)):
        got = sorted(t for t in times if t == t)  # nan: no report yet
        if got:
            click.echo(f'  {what}: first try -> report p50 {percentile(got, 50):.1f} s, p95 '
                       f'{percentile(got, 95):.1f} s, max {got[-1]:.1f} s ({len(got)}/{len(times)})')
    late = [waiting[name] for name in waiting if not name.startswith('engine')]
    if late:
        click.echo(f'  slow ones still in the slow lane after {timeout} s: {len(late)}, waiting '
                   f'{min(late):.0f} to {max(late):.0f} s (it grades them one at a time while '
                   'no ordinary job waits)')
    lost = [name for name in waiting if name.startswith('engine')]
    if lost:
        click.echo(f'gave up after {timeout} s: {len(lost)} ordinary uploads without a report')
        sys.exit(1)


if __name__ == '__main__':
    main()
