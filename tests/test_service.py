"""The grading service with real components: a real redis-server on a loopback port, the API,
real worker processes (killed for real in the durability tests, marked slow)."""
import io
import json
import subprocess
import sys
import time
import zipfile

import httpx
import pytest
from fastapi.testclient import TestClient

from conftest import SUBMISSIONS
from micrograde.surfaces.service import tasks
from micrograde.surfaces.service.api import ServiceConfig, create_app
from micrograde.surfaces.service.supervisor import Program, Supervisor, free_port, redis_command, stop, wait_for_redis
from micrograde.surfaces.service.tokens import Tokens

pytestmark = pytest.mark.service
ENGINE = (SUBMISSIONS / 'lecture_engine.py').read_bytes()
PROFILE = 'quick'


@pytest.fixture
def redis_url(tmp_path):
    port = free_port()
    (tmp_path / 'redis').mkdir()
    server = Program('redis', redis_command(tmp_path / 'redis', port), tmp_path / 'redis.log')
    server.start()
    url = f'redis://127.0.0.1:{port}/0'
    try:
        wait_for_redis(url)
        yield url
    finally:
        stop([server.proc])


def service(tmp_path, redis_url, **limits):
    config = ServiceConfig(tmp_path / 'state', redis_url, profile=PROFILE, **limits)
    return TestClient(create_app(config)), Tokens(config.database)


def bearer(tokens, course, role, learner=None):
    return {'Authorization': 'Bearer ' + tokens.create(course, role, learner)[0]}


def upload(client, headers, data=ENGINE, name='engine.py', course='c1'):
    return client.post(f'/v1/courses/{course}/submissions', headers=headers,
                       files={'file': (name, data)})


def test_tokens_roles_and_learners_see_only_their_own(tmp_path, redis_url):
    client, tokens = service(tmp_path, redis_url)
    alice, bob = bearer(tokens, 'c1', 'learner', 'alice'), bearer(tokens, 'c1', 'learner', 'bob')
    staff, other_course = bearer(tokens, 'c1', 'staff'), bearer(tokens, 'c2', 'staff')
    with client:
        assert client.get('/v1/health').json() == {'ok': True, 'redis': True}
        assert '/v1/courses/{course}/submissions/{job_id}/{name}' in client.get('/openapi.json').json()['paths']
        assert upload(client, {}).status_code == 401
        assert upload(client, {'Authorization': 'Bearer mg_forged'}).status_code == 401
        assert upload(client, other_course).status_code == 403
        first = upload(client, alice)
        assert first.status_code == 202, first.text
        job = first.json()
        assert job['status'] == 'queued' and job['learner'] == 'alice' and 'worker' not in job
        again = upload(client, alice, name='engine.py')
        assert again.status_code == 200 and again.json()['id'] == job['id']  # identical resubmission
        bobs = upload(client, bob)
        assert bobs.status_code == 202 and bobs.json()['id'] != job['id']
        url = f'/v1/courses/c1/submissions/{job["id"]}'
        assert client.get(url, headers=bob).status_code == 404
        assert client.get(url, headers=alice).json()['id'] == job['id']
        assert client.get(url, headers=staff).json()['worker'] == ''
        assert [j['learner'] for j in client.get('/v1/courses/c1/submissions', headers=bob).json()] == ['bob']
        assert len(client.get('/v1/courses/c1/submissions', headers=staff).json()) == 2
        assert client.get('/v1/courses/c1/gradebook.csv', headers=alice).status_code == 403
        assert client.get('/v1/courses/c1/class', headers=alice).status_code == 403
        assert client.get(url + '/report.json', headers=alice).status_code == 409  # not graded yet
        assert client.get(url + '/report.pdf', headers=alice).status_code == 404
        made = client.post('/v1/courses/c1/tokens', headers=staff, data={'role': 'learner',
                                                                         'learner': 'carol'})
        assert made.status_code == 201 and made.json()['learner'] == 'carol'
        carol = {'Authorization': 'Bearer ' + made.json()['token']}
        assert client.get('/v1/courses/c1/submissions', headers=carol).json() == []
        assert client.post('/v1/courses/c1/tokens', headers=carol).status_code == 403
        assert client.get('/v1/queue', headers=carol).json()['queued'] == 2
    stored = b''.join(p.read_bytes() for p in (tmp_path / 'state').glob('service.sqlite3*'))
    assert made.json()['token'].encode() not in stored and b'alice' in stored  # only hashes kept


def test_uploads_are_capped_named_safely_and_typed(tmp_path, redis_url):
    client, tokens = service(tmp_path, redis_url, upload_limit=4096)
    alice = bearer(tokens, 'c1', 'learner', 'alice')
    with client:
        assert upload(client, alice, data=b'#' * 5000).status_code == 413

        def chunks():  # no Content-Length: the cap is counted as the body arrives
            for _ in range(10):
                yield b'x' * 1000
        chunked = client.post('/v1/courses/c1/submissions', headers={**alice, 'Content-Type':
                              'multipart/form-data; boundary=b'}, content=chunks())
        assert chunked.status_code == 413
        assert upload(client, alice, data=b'x = 1\n', name='notes.txt').status_code == 415
        hostile = upload(client, alice, data=b'x = 1\n', name='../../<script>x</script>.py')
        assert hostile.status_code == 202
        assert hostile.json()['filename'] == 'script_.py'  # the last path part, tamed


def test_rate_limit_per_learner_and_backpressure(tmp_path, redis_url):
    client, tokens = service(tmp_path, redis_url, rate_count=2, max_queued=3)
    alice, bob = bearer(tokens, 'c1', 'learner', 'alice'), bearer(tokens, 'c1', 'learner', 'bob')
    staff = bearer(tokens, 'c1', 'staff')
    with client:
        for i in range(2):
            assert upload(client, alice, data=ENGINE + b'#%d\n' % i).status_code == 202
        limited = upload(client, alice, data=ENGINE + b'#2\n')
        assert limited.status_code == 429 and int(limited.headers['Retry-After']) > 0
        assert upload(client, alice, data=ENGINE + b'#0\n').status_code == 200  # not a new job
        assert upload(client, bob).status_code == 202  # the limit is alice's
        full = upload(client, staff)
        assert full.status_code == 503 and int(full.headers['Retry-After']) >= 1


def test_graded_by_a_real_worker_with_every_report(tmp_path, redis_url):
    client, tokens = service(tmp_path, redis_url)
    alice, bob = bearer(tokens, 'c1', 'learner', 'alice'), bearer(tokens, 'c1', 'learner', 'bob')
    staff = bearer(tokens, 'c1', 'staff')
    worker = Program('worker', [sys.executable, '-m', 'micrograde.surfaces.service.cli', 'worker', '--broker',
                                redis_url], tmp_path / 'worker.log')
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, 'w') as z:
        z.writestr('engine/engine.py', (SUBMISSIONS / 'bug_overwrite_grad.py').read_text())
    with client:
        good = upload(client, alice).json()
        bad = upload(client, bob, data=archive.getvalue(), name='bob.zip').json()
        worker.start()
        try:
            done = {j['id']: wait_for(client, staff, j['id']) for j in (good, bad)}
            queue = client.get('/v1/queue', headers=staff).json()
        finally:
            stop([worker.proc])
        assert queue['workers'] == 1 and queue['queued'] == 0
        assert done[good['id']]['verdict'] == 'passed' and done[good['id']]['attempts'] == 1
        assert done[bad['id']]['verdict'] == 'failed'
        base = f'/v1/courses/c1/submissions/{bad["id"]}'
        report = client.get(base + '/report.json', headers=bob).json()
        assert 'backward.accumulate' in [c['id'] for c in report['checks'] if c['status'] == 'failed']
        assert report['profile'] == PROFILE and report['submission'] == 'bob.zip'
        assert b'<testsuite' in client.get(base + '/report.xml', headers=bob).content
        assert 'tests' in client.get(base + '/results.json', headers=bob).json()
        html = client.get(base + '/report.html', headers=bob)
        assert html.status_code == 200 and 'id="check-backward.accumulate"' in html.text
        book = client.get('/v1/courses/c1/gradebook.csv', headers=staff).text.splitlines()
        assert book[0].startswith('id,score,max_score,verdict') and len(book) == 3
        page = client.get('/v1/courses/c1/class', headers=staff).text
        assert '<td>alice</td>' in page and 'bob.zip' in page


def test_a_submission_cannot_reach_the_queue_or_the_state(tmp_path, redis_url):
    """The worker grades next to Redis and (on one machine) the job table: the sandbox must keep
    a submission away from both."""
    import redis
    client, tokens = service(tmp_path, redis_url)
    staff = bearer(tokens, 'c1', 'staff')
    port = int(redis_url.rsplit(':', 1)[1].split('/')[0])
    attack = (f'import glob, socket\n'
              f'try:\n'
              f'    s = socket.create_connection(("127.0.0.1", {port}), timeout=2)\n'
              f'    s.sendall(b"FLUSHALL\\r\\n"); print("reached redis", s.recv(100))\n'
              f'except OSError as e:\n'
              f'    print("no redis:", e)\n'
              f'for path in glob.glob({str(tmp_path)!r} + "/**", recursive=True):\n'
              f'    try:\n'
              f'        open(path, "w").write("owned")\n'
              f'    except OSError:\n'
              f'        pass\n').encode() + ENGINE
    canary = redis.Redis.from_url(redis_url)
    canary.set('canary', 'alive')
    worker = Program('worker', [sys.executable, '-m', 'micrograde.surfaces.service.cli', 'worker', '--broker',
                                redis_url], tmp_path / 'worker.log')
    with client:
        job = upload(client, staff, data=attack, name='attack.py').json()
        worker.start()
        try:
            done = wait_for(client, staff, job['id'])
        finally:
            stop([worker.proc])
        report = client.get(f'/v1/courses/c1/submissions/{job["id"]}/report.json', headers=staff).json()
    if report['isolation'] != 'bubblewrap':
        pytest.skip('workers run with process isolation here: loopback is reachable')
    assert done['status'] == 'done' and 'no redis' in report['checks'][0]['output']
    assert canary.get('canary') == b'alive'
    assert b'owned' not in (tmp_path / 'state' / 'service.sqlite3').read_bytes()
    canary.close()


def wait_for(client, headers, job_id, course='c1', timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f'/v1/courses/{course}/submissions/{job_id}', headers=headers).json()
        if job['status'] in ('done', 'error'):
            return job
        time.sleep(0.2)
    raise AssertionError(f'job {job_id} not graded in {timeout} s: {job}')


# --- durability: every process real, killed for real ---------------------------------------------

SLOW = b'import time\ntime.sleep(4)  # a slow load: the job is running long enough to be killed\n'


@pytest.fixture
def cluster(tmp_path):
    """Redis, the API (a real uvicorn process) and two workers, as ``make serve`` starts them."""
    sup = Supervisor(tmp_path / 'state', free_port(), 2,
                     api_args=['--profile', PROFILE, '--rate', '1000'])
    sup.start()
    try:
        sup.wait_ready()
        tokens = Tokens(sup.state / 'service.sqlite3')
        sup.client = httpx.Client(base_url=sup.url, timeout=30)
        sup.staff = bearer(tokens, 'c1', 'staff')
        yield sup
    finally:
        sup.stop()
        assert all(p.proc.poll() is not None for p in sup.running)


def running_on(sup, job_id, attempt, timeout=90):
    """The worker Program running ``attempt`` of the job."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = sup.client.get(f'/v1/courses/c1/submissions/{job_id}', headers=sup.staff).json()
        if job['status'] == 'running' and job['attempts'] == attempt:
            pid = int(job['worker'].rsplit(':', 1)[1])
            return next(w for w in sup.workers if w.proc.pid == pid)
        time.sleep(0.1)
    raise AssertionError(f'attempt {attempt} of {job_id} never ran: {job}')


def without_timings(report):
    """A report without when it ran: its timings and its timestamp."""
    report = dict(report, timings={}, timestamp='')
    report['checks'] = [dict(c, duration=0) for c in report['checks']]
    return report


@pytest.mark.slow
def test_a_killed_worker_s_job_finishes_on_the_other_like_micrograde_grade(cluster, tmp_path):
    data = SLOW + ENGINE
    job = upload(cluster.client, cluster.staff, data=data, name='slow.py').json()
    victim = running_on(cluster, job['id'], 1)
    victim.proc.kill()  # SIGKILL mid-job
    victim.proc.wait()
    done = wait_for(cluster.client, cluster.staff, job['id'])
    assert done['status'] == 'done' and done['attempts'] == 2
    assert int(done['worker'].rsplit(':', 1)[1]) != victim.proc.pid
    served = cluster.client.get(f'/v1/courses/c1/submissions/{job["id"]}/report.json',
                                headers=cluster.staff).json()
    (tmp_path / 'slow.py').write_bytes(data)
    subprocess.run([sys.executable, '-m', 'micrograde.surfaces.cli', 'grade', 'slow.py', '--seed', '0',
                    '--profile', PROFILE, '--json', 'cli.json'], cwd=tmp_path, capture_output=True,
                   timeout=300)
    cli = json.loads((tmp_path / 'cli.json').read_text())
    assert without_timings(served) == without_timings(cli)


@pytest.mark.slow
def test_a_job_that_kills_its_worker_three_times_ends_as_an_error_report(cluster):
    job = upload(cluster.client, cluster.staff, data=SLOW + ENGINE, name='slow.py').json()
    for attempt in range(1, tasks.MAX_ATTEMPTS + 1):
        victim = running_on(cluster, job['id'], attempt)
        victim.proc.kill()
        victim.proc.wait()
        victim.start()  # as the supervisor would
    done = wait_for(cluster.client, cluster.staff, job['id'])
    assert done['status'] == 'error' and done['attempts'] == tasks.MAX_ATTEMPTS
    report = cluster.client.get(f'/v1/courses/c1/submissions/{job["id"]}/report.json',
                                headers=cluster.staff).json()
    assert report['verdict'] == 'failed' and 'stopped its worker 3 times' in report['checks'][0]['message']


@pytest.mark.slow
def test_redis_restarted_with_jobs_queued_loses_none(cluster):
    workers = cluster.workers
    stop([w.proc for w in workers])  # nothing is taken off the queue while Redis restarts
    ids = [upload(cluster.client, cluster.staff, data=ENGINE + b'#%d\n' % i).json()['id'] for i in range(4)]
    time.sleep(0.5)
    cluster.redis.proc.kill()  # a crash, not a clean shutdown: the append-only file must hold
    cluster.redis.proc.wait()
    ids.append(upload(cluster.client, cluster.staff, data=ENGINE + b'#4\n').json()['id'])  # Redis down
    cluster.redis.start()
    wait_for_redis(cluster.broker)
    for w in workers:
        w.start()
    jobs = [wait_for(cluster.client, cluster.staff, i) for i in ids]
    assert [j['status'] for j in jobs] == ['done'] * 5
    assert [j['verdict'] for j in jobs] == ['passed'] * 5


@pytest.mark.slow
def test_api_restarted_loses_nothing(cluster):
    first = upload(cluster.client, cluster.staff, data=ENGINE + b'#first\n').json()
    wait_for(cluster.client, cluster.staff, first['id'])
    ids = [upload(cluster.client, cluster.staff, data=ENGINE + b'#%d\n' % i).json()['id'] for i in range(3)]
    cluster.api.proc.kill()  # workers go on; their reports wait in Redis
    cluster.api.proc.wait()
    time.sleep(3)
    cluster.api.start()
    cluster.wait_ready()
    jobs = [wait_for(cluster.client, cluster.staff, i) for i in [first['id'], *ids]]
    assert [j['verdict'] for j in jobs] == ['passed'] * 4
    listing = cluster.client.get('/v1/courses/c1/submissions', headers=cluster.staff).json()
    assert {j['id'] for j in listing} == {first['id'], *ids}
