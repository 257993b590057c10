"""The grading service with real components: a real redis-server on a loopback port, the API,
real worker processes (killed for real in the durability tests, marked slow)."""
import io
import json
import logging
import os
import re
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from conftest import ROOT, SUBMISSIONS, needs_bubblewrap
from micrograde.model.results import Report
from micrograde.surfaces.service import grader, tasks
from micrograde.surfaces.service.api import ServiceConfig
from micrograde.surfaces.service.jobs import Jobs
from micrograde.surfaces.service.keys import DEPLOYMENT_KEY, REDIS_PASSWORD
from micrograde.surfaces.service.supervisor import (CHILDREN, Busy, Supervisor, _birth, free_port,
                                        stop, wait_for_redis)
from micrograde.surfaces.service.tokens import Tokens
from test_attacks import _processes, _waited
from served import ENGINE, KEY, PROFILE, bearer, service, upload, wait_for, worker_program

pytestmark = pytest.mark.service


def passing_report():
    return Report('engine.py', verdict='passed', score=51.0, max_score=51.0, profile=PROFILE).to_dict()


def event(key, job_id, kind='finished', report=None, retry=0, attempt=1, at=None):
    """The args of an events message, signed with ``key`` as a worker signs it."""
    from micrograde.surfaces.service.keys import sign
    fields = (job_id, retry, kind, attempt, 'host:1', at or time.time(),
              None if kind == 'started' else json.dumps(report or passing_report()))
    return (*fields, sign(key, *fields))


def eventually(condition, what, timeout=60):
    """Poll ``condition`` until it holds (a bound, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f'{what}: not within {timeout} s')
        time.sleep(0.1)
    return value


def test_tokens_roles_and_learners_see_only_their_own(tmp_path, redis_url_):
    client, tokens = service(tmp_path, redis_url_)
    alice, bob = bearer(tokens, 'c1', 'learner', 'alice'), bearer(tokens, 'c1', 'learner', 'bob')
    staff, other_course = bearer(tokens, 'c1', 'staff'), bearer(tokens, 'c2', 'staff')
    with client:
        health = client.get('/v1/health')  # no worker: grading cannot happen
        assert health.status_code == 503 and health.json()['redis'] and health.json()['workers'] == 0
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
        assert client.get('/v1/courses/c1/queue', headers=carol).status_code == 403  # staff only
        assert client.get('/v1/courses/c1/queue', headers=other_course).status_code == 403
        for course in ('c1 x', 'c' * 65, '<c1>'):  # no token can name such a course
            assert client.get(f'/v1/courses/{course}/queue', headers=staff).status_code == 422
            with pytest.raises(ValueError, match='a course is'):
                tokens.create(course, 'staff')
        figures = client.get('/v1/courses/c1/queue', headers=staff).json()
        assert figures['queued'] == 2 and figures['waiting_in_queue'] == 2 and figures['workers'] == 0
    stored = b''.join(p.read_bytes() for p in (tmp_path / 'state').glob('service.sqlite3*'))
    assert made.json()['token'].encode() not in stored and b'alice' in stored  # only hashes kept


def test_uploads_are_capped_named_safely_and_typed(tmp_path, redis_url_):
    client, tokens = service(tmp_path, redis_url_, upload_limit=4096)
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
        assert hostile.json()['filename'] == 'script>.py'  # the last path part
        # as `micrograde grade` of that file names it (before: every one as [A-Za-z0-9._-])
        for i, (name, kept) in enumerate((
                ('eve (1).py', 'eve (1).py'), ('C:\\work\\Übung 1.py', 'Übung 1.py'),
                ('..hidden.py', 'hidden.py'), ('é' * 150 + '.py', 'é' * 98 + '.py'))):
            named = upload(client, bearer(tokens, 'c1', 'learner', f'learner{i}'),
                           data=b'x = 1\n', name=name)
            assert named.status_code == 202 and named.json()['filename'] == kept, named.json()


def test_rate_limit_per_learner_and_backpressure(tmp_path, redis_url_):
    client, tokens = service(tmp_path, redis_url_, rate_count=2, max_queued=3)
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


def test_graded_by_a_real_worker_with_every_report(tmp_path, redis_url_):
    client, tokens = service(tmp_path, redis_url_)
    alice, bob = bearer(tokens, 'c1', 'learner', 'alice'), bearer(tokens, 'c1', 'learner', 'bob')
    staff = bearer(tokens, 'c1', 'staff')
    worker = worker_program(tmp_path, redis_url_)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, 'w') as z:
        z.writestr('engine/engine.py', (SUBMISSIONS / 'bug_overwrite_grad.py').read_text())
    with client:
        good = upload(client, alice).json()
        bad = upload(client, bob, data=archive.getvalue(), name='bob.zip').json()
        worker.start()
        try:
            done = {j['id']: wait_for(client, staff, j['id']) for j in (good, bad)}
            queue = client.get('/v1/courses/c1/queue', headers=staff).json()
            health = client.get('/v1/health')
        finally:
            stop([worker.proc])
        assert queue['workers'] == 1 and queue['queued'] == 0
        assert health.status_code == 200 and health.json()['workers'] == 1
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
        assert f'<a href="/v1/courses/c1/submissions/{good["id"]}/report.html">alice</a>' in page
        assert 'bob.zip' in page


@needs_bubblewrap
def test_a_submission_cannot_reach_the_queue_or_the_state(tmp_path, redis_url_, graded_by_a_worker):
    """The worker grades next to Redis and (on one machine) the job table: the sandbox must keep
    a submission away from both."""
    port = int(redis_url_.rsplit(':', 1)[1].split('/')[0])
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
    canary = redis.Redis.from_url(redis_url_)
    canary.set('canary', 'alive')
    graded_by_a_worker.submit('attack', attack)
    done = graded_by_a_worker.grade(timeout=120)['attack']
    report = graded_by_a_worker.get('attack').json()
    assert report['isolation'] == 'bubblewrap'  # elsewhere loopback is reachable
    assert done['status'] == 'done' and 'no redis' in report['checks'][0]['output']
    assert canary.get('canary') == b'alive'
    assert b'owned' not in (tmp_path / 'state' / 'service.sqlite3').read_bytes()
    canary.close()


def test_a_slow_learner_is_held_to_a_grading_budget_and_a_course_to_its_share(tmp_path, redis_url_):
    client, tokens = service(tmp_path, redis_url_, grading_budget=60, course_queued=2)
    slow, quick = bearer(tokens, 'c1', 'learner', 'slow'), bearer(tokens, 'c1', 'learner', 'quick')
    sender = tasks.Queue(redis_url_, KEY)
    with client:
        job = upload(client, slow).json()
        sender.event_actor.send(*event(KEY, job['id'], 'started', at=time.time() - 90))
        sender.event_actor.send(*event(KEY, job['id']))  # 90 s of grading: past the budget
        eventually(lambda: client.get(f'/v1/courses/c1/submissions/{job["id"]}',
                                      headers=slow).json()['status'] == 'done', 'graded')
        refused = upload(client, slow, data=ENGINE + b'#again\n')
        assert refused.status_code == 429 and 'took 90 s of grading' in refused.json()['detail']
        assert upload(client, quick).status_code == 202  # the budget is the slow learner's
        assert upload(client, quick, data=ENGINE + b'#2\n').status_code == 202
        full = upload(client, bearer(tokens, 'c1', 'staff'), data=ENGINE + b'#3\n')
        assert full.status_code == 503 and 'course c1' in full.json()['detail']
        assert upload(client, bearer(tokens, 'c2', 'learner'), course='c2').status_code == 202
    sender.close()


def test_a_slow_learner_s_next_uploads_go_to_the_slow_lane(tmp_path, redis_url_):
    """A learner whose grading took ``slow_learner`` seconds in the window has their next jobs
    dispatched to the slow lane, which grades only while no other job waits."""
    client, tokens = service(tmp_path, redis_url_, slow_learner=60)
    slow, quick = bearer(tokens, 'c1', 'learner', 'slow'), bearer(tokens, 'c1', 'learner', 'quick')
    sender = tasks.Queue(redis_url_, KEY)
    lanes = lambda: (sender.depth(), sender.redis.llen(f'micrograde:{sender.grading}-slow'))  # noqa: E731
    with client:
        job = upload(client, slow).json()
        assert eventually(lambda: lanes() == (1, 0), 'the first job in the main lane')
        sender.event_actor.send(*event(KEY, job['id'], 'started', at=time.time() - 70))
        sender.event_actor.send(*event(KEY, job['id']))  # 70 s of grading
        eventually(lambda: client.get(f'/v1/courses/c1/submissions/{job["id"]}',
                                      headers=slow).json()['status'] == 'done', 'graded')
        again = upload(client, slow, data=ENGINE + b'#again\n').json()
        assert eventually(lambda: lanes() == (1, 1), 'the next in the slow lane')
        assert sender.redis.exists(f'{tasks.SLOW}{again["id"]}:0')  # reconciling sees it held
        upload(client, quick)
        assert eventually(lambda: lanes() == (2, 1), "another learner's in the main lane")
    sender.close()


def test_one_course_s_deadline_does_not_queue_another_s_behind_it(tmp_path, redis_url_):
    """The main lane holds a few jobs per worker; the rest wait in the job table, and the next
    to go is the oldest of the course with the fewest jobs in flight."""
    from micrograde.surfaces.service.api import MIN_WINDOW
    client, tokens = service(tmp_path, redis_url_)
    a, b = bearer(tokens, 'a', 'staff'), bearer(tokens, 'b', 'staff')
    queue = tasks.Queue(redis_url_, KEY)
    main = f'micrograde:{queue.grading}'
    waiting = lambda: [json.loads(queue.redis.hget(f'{main}.msgs', m))['args'][0]  # noqa: E731
                       for m in queue.redis.lrange(main, 0, -1)]
    with client:
        ours = [upload(client, a, course='a', data=ENGINE + b'#%d\n' % i).json()['id']
                for i in range(MIN_WINDOW + 2)]
        theirs = upload(client, b, course='b').json()['id']
        assert waiting() == ours[:MIN_WINDOW]
        assert int(queue.redis.get(tasks.HELD + queue.version)) == 3  # counted for the slow lane
        for _ in range(2):  # a worker takes two
            queue.redis.lpop(main)
        eventually(lambda: len(waiting()) == MIN_WINDOW, 'the lane refilled')
        assert waiting()[-2:] == [theirs, ours[MIN_WINDOW]]
        assert int(queue.redis.get(tasks.HELD + queue.version)) == 1
    queue.close()


def test_a_slow_lane_slot_goes_to_one_worker_and_only_while_nobody_waits(redis_url_):
    """The slot is checked and taken in one Redis script: workers racing for it never take
    more than half of the live workers' slots, and none while the main lane has a job waiting."""
    queues = [tasks.Queue(redis_url_, KEY) for _ in range(8)]
    for k, q in enumerate(queues):
        q.worker_id = f'host:{k}'
    first = queues[0]
    now = first.redis.time()[0]
    first.redis.zadd(tasks.WORKERS + first.version, {'host:0': now, 'host:1': now})
    first.submit({'id': 'j1', 'retry': 0, 'filename': 'x.py', 'data': ENGINE, 'seed': 0,
                  'profile': PROFILE, 'rubric': '', 'version': first.version})
    assert not first.slot()  # an ordinary job waits
    first.redis.delete(f'micrograde:{first.grading}')
    first.hold(1)
    assert not first.slot()  # one waits in the API, held back from a full main lane
    first.hold(0)
    for alive, cap in ((2, 1), (5, 2)):
        first.redis.zadd(tasks.WORKERS + first.version, {f'host:{k}': now for k in range(alive)})
        first.redis.delete(tasks.SLOW_BUSY + first.version)
        start = threading.Barrier(len(queues))
        with ThreadPoolExecutor(len(queues)) as pool:
            taken = list(pool.map(lambda q, start=start: (start.wait(), q.slot())[1], queues))
        assert sum(taken) == cap
    for q in queues:
        q.close()


def test_a_learner_has_at_most_a_few_jobs_waiting(tmp_path, redis_url_):
    """Their grading time per window is bounded by the budget plus that many runs, however
    many they upload at once."""
    client, tokens = service(tmp_path, redis_url_, learner_queued=2)
    alice = bearer(tokens, 'c1', 'learner', 'alice')
    sender = tasks.Queue(redis_url_, KEY)
    with client:
        first = upload(client, alice).json()
        assert upload(client, alice, data=ENGINE + b'#2\n').status_code == 202
        third = upload(client, alice, data=ENGINE + b'#3\n')
        assert third.status_code == 429 and 'not graded yet' in third.json()['detail']
        assert upload(client, bearer(tokens, 'c1', 'staff'), data=ENGINE + b'#3\n').status_code == 202
        sender.event_actor.send(*event(KEY, first['id'], 'started'))
        sender.event_actor.send(*event(KEY, first['id']))
        eventually(lambda: upload(client, alice, data=ENGINE + b'#3\n').status_code == 202,
                   'room once one is graded')
    sender.close()


def test_uploads_sent_at_once_are_held_to_the_learner_s_limits(tmp_path, redis_url_):
    """Each upload read the learner's jobs, then the queue's length (Redis), then added its own:
    uploads sent at once each passed the limits before any was added.  Here another writer of the
    job table (an API process beside this one, a checkpoint) holds it while 20 are sent: a
    learner with a limit of 2 got 20 jobs (in bursts of 40 with nothing holding the table, 3 to
    7 now and then).  Their limits are now read again in the transaction that adds the job.
    Identical uploads sent at once are one job."""
    client, tokens = service(tmp_path, redis_url_, rate_count=2, learner_queued=2)
    database = ServiceConfig(tmp_path / 'state', redis_url_, KEY).database

    def burst(who, data, n=20):
        other = sqlite3.connect(database, isolation_level=None)
        other.execute('BEGIN IMMEDIATE')  # the table held by another writer for a moment
        with ThreadPoolExecutor(n) as pool:
            sent = [pool.submit(upload, client, who, data=data(i)) for i in range(n)]
            time.sleep(2)
            other.execute('COMMIT')
            other.close()
            return [f.result() for f in sent]
    with client:
        answers = burst(bearer(tokens, 'c1', 'learner', 'alice'), lambda i: ENGINE + b'#%d\n' % i)
        assert sorted(a.status_code for a in answers) == [202] * 2 + [429] * 18
        same = burst(bearer(tokens, 'c1', 'learner', 'bob'), lambda i: ENGINE)
        assert sorted(a.status_code for a in same) == [200] * 19 + [202]
        assert len({a.json()['id'] for a in same}) == 1


def test_expired_and_revoked_tokens_are_refused(tmp_path, redis_url_):
    client, tokens = service(tmp_path, redis_url_)
    expired = bearer(tokens, 'c1', 'learner', 'alice', days=-1)
    made = subprocess.run([sys.executable, '-m', 'micrograde.surfaces.service.cli', 'token', '--state',
                           str(tmp_path / 'state'), '--course', 'c1', '--role', 'learner',
                           '--learner', 'bob'], capture_output=True, text=True, timeout=120)
    bob = {'Authorization': 'Bearer ' + made.stdout.strip()}
    with client:
        assert upload(client, expired).status_code == 401
        assert client.get('/v1/courses/c1/submissions', headers=bob).status_code == 200
        revoked = subprocess.run([sys.executable, '-m', 'micrograde.surfaces.service.cli', 'token', '--state',
                                  str(tmp_path / 'state'), '--revoke', made.stdout.strip()],
                                 capture_output=True, text=True, timeout=120)
        assert revoked.returncode == 0 and 'bob' in revoked.stderr
        assert client.get('/v1/courses/c1/submissions', headers=bob).status_code == 401
        unknown = subprocess.run([sys.executable, '-m', 'micrograde.surfaces.service.cli', 'token', '--state',
                                  str(tmp_path / 'state'), '--revoke', 'mg_nothing'],
                                 capture_output=True, text=True, timeout=120)
        assert unknown.returncode == 1 and 'no such token' in unknown.stderr


def test_forged_events_and_jobs_are_dropped_and_logged(tmp_path, redis_url_, caplog):
    """Whoever can write to Redis (here even with its password) cannot hand the API a report nor
    a worker a job: neither is signed with the deployment key."""
    client, tokens = service(tmp_path, redis_url_)
    staff = bearer(tokens, 'c1', 'staff')
    forger = tasks.Queue(redis_url_, 'f' * 64)
    caplog.set_level(logging.WARNING, 'micrograde')
    with client:
        job = upload(client, staff, data=b'class Value:\n    pass\n', name='empty.py').json()
        forger.event_actor.send(*event('f' * 64, job['id']))           # signed with another key
        forger.event_actor.send(job['id'], 'finished', 1, 'host:1', time.time(), passing_report())
        forger.event_actor.send(*event(KEY, job['id'])[:-1], 'beef')   # a made-up signature
        eventually(lambda: caplog.text.count('dropped an event') == 3, 'three events dropped')
        url = f'/v1/courses/c1/submissions/{job["id"]}'
        assert client.get(url, headers=staff).json()['status'] == 'queued'
        metrics = scrape(client)
        assert metrics[('micrograde_events_dropped_total', ())] == 3
        # the same event signed with the deployment key is taken: the check above can fail
        forger.event_actor.send(*event(KEY, job['id']))
        done = eventually(lambda: (j := client.get(url, headers=staff).json())['status'] == 'done' and j,
                          'the signed report recorded')
        assert done['verdict'] == 'passed'
    # a grading message: not signed, signed with another key, or for another grader version
    worker = tasks.Queue(redis_url_, KEY)
    row = {'id': 'j1', 'retry': 0, 'filename': 'x.py', 'data': ENGINE, 'seed': 0, 'profile': PROFILE,
           'rubric': grader.rubric_text(), 'version': grader.VERSION}
    forger.submit(row)
    forged = queued_args(worker, worker.grading, 'j1')
    assert tasks.parse_job(KEY, forged, {}) is None
    assert tasks.parse_job(KEY, forged[:-1] + ['0' * 64], {}) is None
    assert tasks.parse_job('f' * 64, forged, {}).data == ENGINE  # what the forger signed is a job
    caplog.clear()
    worker._grade(*forged)
    other = tasks.Queue(redis_url_, KEY, version='0.0.0-other')
    other.submit(dict(row, version='0.0.0-other'))
    resigned = queued_args(worker, other.grading, 'j1')
    worker._grade(*resigned)
    assert 'dropped a grading message' in caplog.text and 'refused job j1' in caplog.text
    assert not worker.redis.exists('micrograde:runs:j1:0')  # neither was run
    for q in (forger, worker, other):
        q.close()


def queued_args(queue, name, job_id):
    """The args of job ``job_id``'s message in Redis's queue ``name``."""
    return next(args for m in queue.redis.hvals(f'micrograde:{name}.msgs')
                if (args := json.loads(m)['args'])[0] == job_id)


def scrape(client):
    """``{(sample name, labels): value}`` of /metrics, read by Prometheus's own text parser."""
    text = client.get('/metrics').text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_and_failed_jobs_retried_by_staff(tmp_path, redis_url_):
    client, tokens = service(tmp_path, redis_url_)
    staff, alice = bearer(tokens, 'c1', 'staff'), bearer(tokens, 'c1', 'learner', 'alice')
    sender = tasks.Queue(redis_url_, KEY)
    with client:
        job = upload(client, alice).json()
        other = upload(client, alice, data=ENGINE + b'#2\n').json()
        metrics = scrape(client)
        assert metrics[('micrograde_jobs', (('status', 'queued'),))] == 2
        assert metrics[('micrograde_queue_depth', ())] == 2 and metrics[('micrograde_workers', ())] == 0
        lost = grader.gave_up('engine.py', 0, PROFILE, grader.rubric_text(), 'grading lost its worker')
        sender.event_actor.send(*event(KEY, job['id'], 'started', at=time.time() - 3))
        sender.event_actor.send(*event(KEY, job['id'], report=lost))
        sender.event_actor.send(*event(KEY, other['id'], 'started', at=time.time() - 2))
        sender.event_actor.send(*event(KEY, other['id']))
        url = f'/v1/courses/c1/submissions/{job["id"]}'
        eventually(lambda: client.get(url, headers=staff).json()['status'] == 'error', 'an error job')
        eventually(lambda: scrape(client).get(('micrograde_grading_seconds_count', ())) == 2, 'timed')
        metrics = scrape(client)
        assert metrics[('micrograde_jobs', (('status', 'error'),))] == 1
        assert metrics[('micrograde_attempts_total', (('run', 'first'),))] == 2
        assert metrics[('micrograde_grading_seconds_bucket', (('le', '1.0'),))] == 0  # 2 s and 3 s
        assert client.get('/v1/courses/c1/failed', headers=alice).status_code == 403
        assert [j['id'] for j in client.get('/v1/courses/c1/failed', headers=staff).json()] == [job['id']]
        assert client.post(f'/v1/courses/c1/submissions/{other["id"]}/retry', headers=staff).status_code == 409
        assert client.post(url + '/retry', headers=alice).status_code == 403
        again = client.post(url + '/retry', headers=staff).json()
        assert again['status'] == 'queued' and again['retry'] == 1
        sender.event_actor.send(*event(KEY, job['id']))  # a late report of the first try: ignored
        sender.event_actor.send(*event(KEY, job['id'], retry=1))
        done = eventually(lambda: (j := client.get(url, headers=staff).json())['status'] == 'done' and j,
                          'the retry graded')
        assert done['retry'] == 1 and client.get('/v1/courses/c1/failed', headers=staff).json() == []
    sender.close()


def test_the_queue_flushed_hands_its_jobs_again(tmp_path, redis_url_):
    client, tokens = service(tmp_path, redis_url_, lost_after=1.0)
    staff = bearer(tokens, 'c1', 'staff')
    flush = redis.Redis.from_url(redis_url_)
    with client:
        ids = [upload(client, staff, data=ENGINE + b'#%d\n' % i).json()['id'] for i in range(3)]
        depth = lambda: client.get('/v1/courses/c1/queue', headers=staff).json()['waiting_in_queue']  # noqa: E731
        assert depth() == 3
        flush.flushall()
        assert depth() == 0
        eventually(lambda: depth() == 3, 'the lost jobs handed again')
        assert scrape(client)[('micrograde_jobs_resent_total', ())] == 3
        assert {j['status'] for j in client.get('/v1/courses/c1/submissions', headers=staff).json()} == {'queued'}
    messages = [json.loads(m)['args'][0] for m in flush.hvals(f'micrograde:{tasks.grading_queue(grader.VERSION)}.msgs')]
    assert sorted(messages) == sorted(ids)  # each once
    flush.close()


def test_old_graded_jobs_are_pruned_but_each_learner_s_latest_kept(tmp_path):
    jobs = Jobs(tmp_path / 'jobs.sqlite3')
    old = time.time() - 40 * 86400
    made = []
    for i, learner in enumerate(['alice', 'alice', 'bob', 'carol']):
        job, _ = jobs.submit('c1', learner, 'e.py', f'print{i}', 0, PROFILE, '', b'x', grader.VERSION)
        made.append(job['id'])
    for job_id in made[:3]:
        assert jobs.finished(job_id, 0, 'done', 1, '{}', 'passed', 1, 1, old)
    assert jobs.prune(time.time() - 30 * 86400) == 1  # alice's first; carol's is not graded
    assert {j['id'] for j in jobs.listing('c1')} == set(made[1:])


def test_a_served_state_folder_is_private_locked_and_redis_needs_its_password(tmp_path):
    sup = Supervisor(tmp_path / 'state', free_port(), 0, api_args=['--profile', PROFILE])
    sup.start()
    try:
        sup.wait_ready()
        health = httpx.get(sup.url + '/v1/health')
        assert health.status_code == 503 and health.json()['redis'] and health.json()['workers'] == 0
        logged = eventually(lambda: re.search(r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ micrograde\.access INFO '
                                              r'127\.0\.0\.1 GET /v1/health 503 [\d.]+ms$',
                                              (sup.logs / 'api.log').read_text(), re.M), 'an access line')
        assert logged
        with pytest.raises(Busy, match='another supervisor'):
            Supervisor(tmp_path / 'state', free_port(), 0).start()
        password = (sup.state / REDIS_PASSWORD).read_text().strip()
        port = int(sup.broker.rsplit(':', 1)[1].split('/')[0])
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port).ping()
        with socket.create_connection(('127.0.0.1', port)) as s:
            s.sendall(b'FLUSHALL\r\n')
            assert s.recv(100).startswith(b'-NOAUTH')
        assert redis.Redis(port=port, password=password).ping()
        for program in sup.running:  # no secret on a command line (every user can read those)
            cmdline = open(f'/proc/{program.proc.pid}/cmdline', 'rb').read()
            assert password.encode() not in cmdline
        eventually(lambda: any((sup.state / 'redis').rglob('*.aof')), 'an append-only file')
        assert (sup.state / 'service.sqlite3').exists()
        modes = {p.relative_to(sup.state).as_posix(): stat.S_IMODE(p.stat().st_mode)
                 for p in [sup.state, *sup.state.rglob('*')]}
        assert modes['.'] == 0o700 and modes[DEPLOYMENT_KEY] == 0o600
        wrong = {p: oct(m) for p, m in modes.items() if m != (0o700 if (sup.state / p).is_dir() else 0o600)}
        assert not wrong, wrong
    finally:
        sup.stop()


# --- durability: every process real, killed for real ---------------------------------------------

SLOW = b'import time\ntime.sleep(4)  # a slow load: the job is running long enough to be killed\n'


@pytest.fixture
def cluster(tmp_path):
    """Redis, the API (a real uvicorn process) and two workers, as ``make serve`` starts them."""
    yield from started(tmp_path)


def started(tmp_path, *worker_args):
    sup = Supervisor(tmp_path / 'state', free_port(), 2,
                     api_args=['--profile', PROFILE, '--rate', '1000'], worker_args=worker_args)
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
    """... and nothing the submission started outlives the worker killed (at the two process
    levels it ran on for good: ``test_attacks.test_a_grader_killed_outright_...``)."""
    mark = f'7777.{time.monotonic_ns() % 10**9}'
    data = f'import subprocess\nsubprocess.Popen(["sleep", "{mark}"])\n'.encode() + SLOW + ENGINE
    job = upload(cluster.client, cluster.staff, data=data, name='slow.py').json()
    victim = running_on(cluster, job['id'], 1)
    assert _waited(lambda: _processes(f'sleep\0{mark}'), 60), 'the submission started nothing'
    started = _processes(f'sleep\0{mark}')
    victim.proc.kill()  # SIGKILL mid-job
    victim.proc.wait()
    assert _waited(lambda: not set(started) & set(_processes(f'sleep\0{mark}')), 30)
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
def test_an_operator_killing_workers_is_not_blamed_on_the_submission_and_staff_retry(cluster):
    job = upload(cluster.client, cluster.staff, data=SLOW + ENGINE, name='slow.py').json()
    for attempt in range(1, tasks.MAX_LOST + 1):
        victim = running_on(cluster, job['id'], attempt)
        victim.proc.kill()
        victim.proc.wait()
        victim.start()  # as the supervisor would
    done = wait_for(cluster.client, cluster.staff, job['id'])
    assert done['status'] == 'error'
    url = f'/v1/courses/c1/submissions/{job["id"]}'
    message = cluster.client.get(url + '/report.json', headers=cluster.staff).json()['checks'][0]['message']
    assert f'lost its worker {tasks.MAX_LOST} times' in message and 'staff can retry' in message
    assert 'check the submission' not in message
    failed = cluster.client.get('/v1/courses/c1/failed', headers=cluster.staff).json()
    assert [j['id'] for j in failed] == [job['id']]
    assert cluster.client.post(url + '/retry', headers=cluster.staff).json()['retry'] == 1
    again = wait_for(cluster.client, cluster.staff, job['id'])
    assert again['status'] == 'done' and again['verdict'] == 'passed' and again['attempts'] == 1


@pytest.mark.slow
def test_redis_flushed_with_jobs_queued_and_running_grades_each_once(cluster):
    ids = [upload(cluster.client, cluster.staff, data=SLOW + ENGINE + b'#%d\n' % i).json()['id']
           for i in range(4)]
    running_on(cluster, ids[0], 1)
    flush = redis.Redis.from_url(cluster.broker)
    flush.flushall()
    jobs = [wait_for(cluster.client, cluster.staff, i, timeout=240) for i in ids]
    assert [(j['status'], j['verdict']) for j in jobs] == [('done', 'passed')] * 4
    metrics = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in text_string_to_metric_families(
        cluster.client.get('/metrics').text) for s in f.samples}
    assert metrics[('micrograde_jobs_resent_total', ())] >= 1
    assert metrics[('micrograde_jobs', (('status', 'done'),))] == 4
    flush.close()


@pytest.mark.slow
def test_a_supervisor_killed_outright_takes_its_programs_and_restarts_clean(tmp_path):
    port = free_port()
    serve = [sys.executable, '-m', 'micrograde.surfaces.service.cli', 'serve', '--state', str(tmp_path / 'state'),
             '--port', str(port), '--workers', '1', '--profile', PROFILE]
    first = subprocess.Popen(serve, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        eventually(lambda: httpx.get(f'http://127.0.0.1:{port}/v1/health').status_code == 200
                   if _answers(port) else False, 'the service grading', timeout=240)
        children = json.loads((tmp_path / 'state' / CHILDREN).read_text())
        assert len(children) == 3  # redis, api, worker
        second = subprocess.run(serve, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert second.returncode == 1 and 'another supervisor' in second.stderr
        first.send_signal(signal.SIGKILL)
        first.wait()
        eventually(lambda: all(_birth(c['pid']) != c['birth'] for c in children),
                   'every program gone with its supervisor')
        again = subprocess.Popen(serve, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            eventually(lambda: _answers(port) and httpx.get(f'http://127.0.0.1:{port}/v1/health').status_code == 200,
                       'the service grading again', timeout=240)
        finally:
            again.send_signal(signal.SIGTERM)
            again.wait(60)
        assert not (tmp_path / 'state' / CHILDREN).exists()  # stopped cleanly this time
    finally:
        if first.poll() is None:
            first.kill()


def _answers(port):
    try:
        httpx.get(f'http://127.0.0.1:{port}/v1/health', timeout=2)
        return True
    except httpx.HTTPError:
        return False


@pytest.fixture
def tended_cluster(tmp_path):
    """A cluster whose workers give way after 3 s, started again when they exit (as ``micrograde
    serve`` does)."""
    for sup in started(tmp_path, '--slow-after', '3'):
        with sup.tending():
            yield sup


@pytest.mark.slow
def test_a_slow_learner_beside_ten_normal_ones_waits_behind_them(tended_cluster):
    """Two submissions that take both workers (45 s each) give way to ten learners' uploads:
    their runs are stopped, and the slow lane grades them only once no ordinary job waits, one
    at a time (at most half the workers), so every one of the ten is graded before the slow
    ones, whatever the machine's speed; when eight more come while a slow one runs, it gives
    way again."""
    cluster = tended_cluster
    eventually(lambda: cluster.client.get('/v1/health').json()['workers'] == 2, 'both workers',
               timeout=120)
    crawl = b'import time\ntime.sleep(45)\n' + ENGINE  # under the 60 s load timeout
    slow = [upload(cluster.client, cluster.staff, data=crawl + b'#%d\n' % i).json()['id']
            for i in range(2)]
    for job_id in slow:
        running_on(cluster, job_id, 1)
    tokens = Tokens(cluster.state / 'service.sqlite3')
    normal = [upload(cluster.client, bearer(tokens, 'c1', 'learner', f'l{i}'),
                     data=ENGINE + b'#%d\n' % i).json()['id'] for i in range(10)]
    for i in normal:
        wait_for(cluster.client, cluster.staff, i, timeout=300)
    eventually(lambda: any(cluster.client.get(f'/v1/courses/c1/submissions/{i}', headers=cluster.staff)
                           .json()['status'] == 'running' for i in slow), 'a slow job in its lane')
    # the rush comes back: a job per worker waits, and the slow lane's run gives way in turn
    late = [upload(cluster.client, bearer(tokens, 'c1', 'learner', f'late{i}'),
                   data=ENGINE + b'#late%d\n' % i).json()['id'] for i in range(8)]
    done = {i: wait_for(cluster.client, cluster.staff, i, timeout=300) for i in slow + normal + late}
    assert {(j['status'], j['verdict']) for j in done.values()} == {('done', 'passed')}
    assert max(done[i]['finished'] for i in normal + late) < min(done[i]['finished'] for i in slow)
    assert all(done[i]['attempts'] == 1 for i in slow)  # giving way is not a lost run
    logs = ''.join(p.read_text() for p in cluster.logs.glob('worker*.log'))
    # how often the slow run is caught by the rushes depends on the machine: at least once each
    gave_way = logs.count('gave way')
    assert gave_way >= 1 and logs.count('in the slow lane:') >= 1 and logs.count('(slow lane)') >= 1
    assert scrape(cluster.client)[('micrograde_jobs_gave_way_total', ())] == gave_way


@pytest.mark.slow
def test_redis_restarted_with_jobs_queued_loses_none(cluster):
    workers = cluster.workers
    stop([w.proc for w in workers])  # nothing is taken off the queue while Redis restarts
    ids = [upload(cluster.client, cluster.staff, data=ENGINE + b'#%d\n' % i).json()['id'] for i in range(4)]
    time.sleep(0.5)
    cluster.redis.proc.kill()  # a crash, not a clean shutdown: the append-only file must hold
    cluster.redis.proc.wait()
    ids.append(upload(cluster.client, cluster.staff, data=ENGINE + b'#4\n').json()['id'])  # Redis down
    health = cluster.client.get('/v1/health')
    assert health.status_code == 503 and health.json()['redis'] is False
    cluster.redis.start()
    wait_for_redis(cluster.broker)
    for w in workers:
        w.start()
    jobs = [wait_for(cluster.client, cluster.staff, i) for i in ids]
    assert [j['status'] for j in jobs] == ['done'] * 5
    assert [j['verdict'] for j in jobs] == ['passed'] * 5


@pytest.mark.slow
def test_redis_killed_while_a_job_runs_loses_it_not(cluster):
    """Redis crashes while a worker grades (the workers left running): the worker finishes
    with Redis away, waits for it to send the report, and the job is graded once."""
    job = upload(cluster.client, cluster.staff, data=SLOW + ENGINE, name='slow.py').json()
    running_on(cluster, job['id'], 1)
    cluster.redis.proc.kill()  # a crash: the append-only file must hold
    cluster.redis.proc.wait()
    late = upload(cluster.client, cluster.staff, data=ENGINE + b'#late\n').json()  # Redis down
    time.sleep(8)  # the slow load (4 s) ends, its report waits
    cluster.redis.start()
    wait_for_redis(cluster.broker)
    jobs = [wait_for(cluster.client, cluster.staff, i, timeout=240) for i in (job['id'], late['id'])]
    assert [(j['status'], j['verdict']) for j in jobs] == [('done', 'passed')] * 2, jobs
    assert jobs[0]['attempts'] == 1, jobs[0]


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


def test_a_worker_removes_the_job_folders_of_workers_gone(tmp_path, monkeypatch):
    """A worker killed mid-job (or exiting as its run gave way, with no template to stop it)
    left its job's folder, a learner's upload, in the temporary folder for good: the next
    worker to start removes those of workers gone, never a live one's."""
    monkeypatch.setenv('TMPDIR', str(tmp_path))
    monkeypatch.setattr(grader.tempfile, 'tempdir', None)
    gone = subprocess.Popen(['true'])
    gone.wait()
    dead = tmp_path / f'{grader.JOB_PREFIX}{gone.pid}-abc'
    live = tmp_path / f'{grader.JOB_PREFIX}{os.getpid()}-def'
    other = tmp_path / 'micrograde-jobless'
    for folder in (dead, live, other):
        folder.mkdir()
        (folder / 'upload.py').write_text('x = 1\n')
    grader.warm().close()
    assert not dead.exists() and live.exists() and other.exists()
