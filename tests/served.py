"""The grading service as the tests run it, a pytest plugin (``conftest.pytest_plugins``): a real
redis-server with its password (``redis_url_``), the API in this process, and real ``micrograde
worker`` processes; ``graded_by_a_worker`` is all three around the submissions a test uploads."""
import os
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from micrograde.surfaces.service.api import ServiceConfig, create_app
from micrograde.surfaces.service.supervisor import Program, free_port, redis_command, redis_url, stop, \
    wait_for_redis
from micrograde.surfaces.service.tokens import Tokens

ENGINE = (Path(__file__).resolve().parent.parent / 'submissions' / 'lecture_engine.py').read_bytes()
PROFILE = 'quick'
KEY = 'k' * 64


@pytest.fixture
def redis_url_(tmp_path):
    """A real redis-server with a password, as the supervisor starts it."""
    port, password = free_port(), 'p' * 64
    (tmp_path / 'redis').mkdir()
    server = Program('redis', redis_command(tmp_path / 'redis', port, password), tmp_path / 'redis.log')
    server.start()
    url = redis_url(port, password)
    try:
        wait_for_redis(url)
        yield url
    finally:
        stop([server.proc])


def service(tmp_path, redis_url_, profile=PROFILE, **limits):
    """The API (a ``TestClient``) and its tokens; ``limits``: any other ``ServiceConfig`` field."""
    config = ServiceConfig(tmp_path / 'state', redis_url_, KEY, profile=profile, **limits)
    app = create_app(config)
    return TestClient(app), Tokens(config.database)


def bearer(tokens, course, role, learner=None, **options):
    return {'Authorization': 'Bearer ' + tokens.create(course, role, learner, **options)[0]}


def upload(client, headers, data=ENGINE, name='engine.py', course='c1'):
    return client.post(f'/v1/courses/{course}/submissions', headers=headers,
                       files={'file': (name, data)})


def worker_program(tmp_path, url, name='worker'):
    """A real ``micrograde worker`` process with the test deployment's key."""
    key_file = tmp_path / 'worker.key'
    key_file.write_text(KEY)
    return Program(name, [sys.executable, '-m', 'micrograde.surfaces.service.cli', 'worker'], tmp_path / f'{name}.log',
                   {**os.environ, 'MICROGRADE_BROKER': url, 'MICROGRADE_KEY_FILE': str(key_file)})


def wait_for(client, headers, job_id, course='c1', timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f'/v1/courses/{course}/submissions/{job_id}', headers=headers).json()
        if job['status'] in ('done', 'error'):
            return job
        time.sleep(0.2)
    raise AssertionError(f'job {job_id} not graded in {timeout} s: {job}')


class Served:
    """Submissions uploaded to the service, each by a learner of its own, then graded together by
    one real worker process started only once all are queued."""

    def __init__(self, tmp_path, url):
        self.client, self.tokens = service(tmp_path, url)
        self.worker = worker_program(tmp_path, url)
        self.jobs = {}  # name -> (course, job id)

    def staff(self, course='c1'):
        return bearer(self.tokens, course, 'staff')

    def submit(self, name, data, filename=None, learner=None, course='c1'):
        """Upload ``data`` as ``filename`` (``name``.py) by ``learner`` (``name``)."""
        answer = upload(self.client, bearer(self.tokens, course, 'learner', learner or name), data=data,
                        name=filename or f'{name}.py', course=course)
        assert answer.status_code == 202, answer.text
        self.jobs[name] = course, answer.json()['id']

    def grade(self, timeout=600):
        """Start the worker, wait until it has graded every job, stop it: each job's row, by name."""
        self.worker.start()
        try:
            return {name: wait_for(self.client, self.staff(course), job, course, timeout)
                    for name, (course, job) in self.jobs.items()}
        finally:
            stop([self.worker.proc])

    def get(self, name, what='report.json'):
        """One of the job's reports as staff fetch it."""
        course, job = self.jobs[name]
        return self.client.get(f'/v1/courses/{course}/submissions/{job}/{what}', headers=self.staff(course))


@pytest.fixture
def graded_by_a_worker(tmp_path, redis_url_):
    """The service with one real worker (``Served``): ``submit`` each submission, then ``grade``."""
    served = Served(tmp_path, redis_url_)
    with served.client:
        yield served
