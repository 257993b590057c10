"""The durable queue: Dramatiq on Redis.  Workers grade jobs; the API records what they report.

Two queues.  ``grading`` carries a job (the submission's bytes, rubric, seed and profile, so no
shared disk is needed) to ``micrograde worker`` processes.  ``events`` carries what workers report
(an attempt started, a report finished) back to the API, which writes it to the job table; while
the API is down, events wait in Redis.  A worker that dies stops heartbeating, and after
``HEARTBEAT_TIMEOUT_MS`` Dramatiq's maintenance hands its unacknowledged job to another worker.
Attempts are counted in Redis at each start, so a job that has killed ``MAX_ATTEMPTS`` workers is
answered with an error report instead of being run again.
"""
import base64
import logging
import os
import random
import signal
import socket
import sys
import threading
import time

import dramatiq
import redis
from dramatiq.brokers.redis import MAINTENANCE_COMMAND_BLACKLIST, MAINTENANCE_SCALE, RedisBroker

from micrograde.surfaces.service import grader

NAMESPACE = 'micrograde'
GRADING, EVENTS = 'grading', 'events'
HEARTBEAT_TIMEOUT_MS = 10_000  # a worker silent this long is dead; its job goes to another
MAINTENANCE_CHANCE = 100_000   # per million broker calls: dead workers are looked for often
MAX_ATTEMPTS = 3
JOB_TIME_LIMIT_MS = 3_600_000  # grading has its own limits; this only stops a wedged thread
POLL_MS = 100                  # longest pause of an idle consumer between asks for a message
PRESENCE_SECONDS = 2           # how often a worker says it is alive (``GET /v1/queue``)
ATTEMPTS = NAMESPACE + ':attempts:'
WORKERS = NAMESPACE + ':workers'
SEND_PATIENCE = 600            # seconds a worker waits for Redis to come back mid-job

log = logging.getLogger('micrograde.service')


class _Broker(RedisBroker):
    """Dramatiq's Redis broker, rolling its maintenance dice with a generator of its own: the
    global ``random`` is Hypothesis's while the grader fuzzes in the same process."""
    dice = random.Random()

    def _should_do_maintenance(self, command):
        return int(command not in MAINTENANCE_COMMAND_BLACKLIST
                   and self.dice.randint(1, MAINTENANCE_SCALE) <= self.maintenance_chance)


def _nobody(*args, **kwargs):
    raise RuntimeError('events are consumed by the API only')


class Queue:
    """The broker and its two actors; ``record`` handles events (the API passes it)."""

    def __init__(self, url, record=_nobody):
        client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30)
        self.broker = _Broker(client=client, namespace=NAMESPACE, heartbeat_timeout=HEARTBEAT_TIMEOUT_MS,
                              maintenance_chance=MAINTENANCE_CHANCE)
        self.redis = self.broker.client
        self.grade_actor = dramatiq.actor(self._grade, broker=self.broker, actor_name='grade',
                                          queue_name=GRADING, max_retries=0,
                                          time_limit=JOB_TIME_LIMIT_MS)
        self.event_actor = dramatiq.actor(record, broker=self.broker, actor_name='event',
                                          queue_name=EVENTS, max_retries=50, min_backoff=200,
                                          max_backoff=10_000)
        self.worker_id = f'{socket.gethostname()}:{os.getpid()}'

    def submit(self, job):
        """Hand a job row (``jobs.Jobs.pending``) to the workers."""
        self.grade_actor.send(job['id'], job['filename'], base64.b64encode(job['data']).decode(),
                              job['seed'], job['profile'], job['rubric'])

    def workers_alive(self):
        now = self.redis.time()[0]
        return self.redis.zcount(WORKERS, now - 3 * PRESENCE_SECONDS, '+inf')

    def ping(self):
        try:
            return bool(self.redis.ping())
        except redis.RedisError:
            return False

    def close(self):
        self.broker.close()

    # --- the worker's side -------------------------------------------------------------------

    def _grade(self, job_id, filename, data, seed, profile, rubric):
        """The actor: one attempt at a job.  Never raises: every outcome is a report."""
        attempt = _patiently(self.redis.incr, ATTEMPTS + job_id)
        _patiently(self.redis.expire, ATTEMPTS + job_id, 30 * 86400)
        if attempt > MAX_ATTEMPTS:
            report = grader.gave_up(filename, seed, profile, rubric,
                                    f'grading stopped its worker {MAX_ATTEMPTS} times (killed, out of '
                                    'memory or lost); it is not run again. Please check the '
                                    'submission or ask your course staff.')
            self._send(job_id, 'finished', MAX_ATTEMPTS, report)
            return
        self._send(job_id, 'started', attempt)
        t = time.perf_counter()
        try:
            report = grader.grade(filename, base64.b64decode(data), seed, profile, rubric)
        except Exception as e:  # grader.grade is safe_grade; this is the service's own failure
            log.exception('job %s', job_id)
            report = grader.gave_up(filename, seed, profile, rubric,
                                    f'the grading service failed on this submission ({type(e).__name__})')
        log.warning('job %s attempt %d graded in %.2f s', job_id, attempt, time.perf_counter() - t)
        self._send(job_id, 'finished', attempt, report)

    def _send(self, job_id, kind, attempt, report=None):
        """Report an event to the API."""
        _patiently(self.event_actor.send, job_id, kind, attempt, self.worker_id, time.time(), report)

    def _presence(self):
        try:
            now = self.redis.time()[0]
            self.redis.zadd(WORKERS, {self.worker_id: now})
            self.redis.zremrangebyscore(WORKERS, 0, now - 3600)
        except redis.RedisError:
            pass  # Redis restarting: say so again in a moment

    def _absence(self):
        try:
            self.redis.zrem(WORKERS, self.worker_id)
        except redis.RedisError:
            pass


def _patiently(call, *args):
    """``call(*args)``, waiting out a Redis restart (up to ``SEND_PATIENCE`` seconds): a job whose
    actor raises is dead-lettered, and its learner would wait for a report forever."""
    deadline = time.monotonic() + SEND_PATIENCE
    while True:
        try:
            return call(*args)
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def run_worker(url, stop_after=10.0):
    """Grade jobs one at a time until SIGTERM or SIGINT; the warm template stays between jobs.

    On a stop, a running job gets ``stop_after`` seconds to finish; otherwise it is left
    unacknowledged and goes to another worker."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format='%(asctime)s worker %(process)d %(message)s')
    if grader.warm_up() != 'bubblewrap':
        log.warning('no bubblewrap sandbox here: submissions run as plain processes and can reach '
                    'loopback services (Redis); run workers where bubblewrap works')
    queue = Queue(url)
    worker = dramatiq.Worker(queue.broker, queues={GRADING}, worker_threads=1, worker_timeout=POLL_MS)
    worker.queue_prefetch = 2  # the next job is at hand when one ends; the rest wait in Redis
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    worker.start()
    try:
        while not stop.is_set():
            queue._presence()
            stop.wait(PRESENCE_SECONDS)
    finally:
        queue._absence()
        worker.stop(timeout=int(stop_after * 1000))
        queue.close()
