"""The durable queue: Dramatiq on Redis.  Workers grade jobs; the API records what they report.

Two kinds of queue.  ``grading-<version>`` carries a job (the submission's bytes, rubric, seed and
profile, so no shared disk is needed) to the ``micrograde worker`` processes of that grader
version: a worker of another version never sees it.  ``events`` carries what workers report (an
attempt started, a report finished) back to the API, which writes it to the job table; while the
API is down, events wait in Redis.  Both directions are signed with the deployment key
(``keys``): a job or an event that is not is dropped and logged, so whoever can write to Redis
cannot have a worker grade their file as someone else's, nor hand the API a report.

A worker that dies stops heartbeating, and after ``HEARTBEAT_TIMEOUT_MS`` Dramatiq's maintenance
hands its unacknowledged job to another worker.

Slow jobs give way.  A run of the main lane that takes longer than its limit (``Pace``) while
other jobs wait is stopped (its sandbox killed; the worker stays warm) and handed to the
``-slow`` lane.  A slow job starts only when no job waits in the main lane and fewer than half
of the live workers (one at least) grade slow jobs: both are checked and the slot taken in one
Redis script, so two workers cannot both take the last slot.  A submission that hangs or crawls
then waits behind the others, and a few of them cannot take every worker at deadline hour; a
slow-lane run gives way in turn when a job per live worker waits.
Runs are counted in Redis at each start; a run
that never finished lost its worker (killed, out of memory, the machine gone): that is not
blamed on the submission, whose own crashes and limits are findings of its report.  A job that
has lost ``MAX_LOST`` workers is answered with an error report that staff can retry.
"""
import base64
import logging
import os
import random
import re
import signal
import socket
import sys
import statistics
import threading
import time
from collections import deque
from dataclasses import dataclass

import dramatiq
import redis
from dramatiq import Message
from dramatiq.brokers.redis import (MAINTENANCE_COMMAND_BLACKLIST, MAINTENANCE_SCALE, RedisBroker,
                                    _RedisConsumer)
from dramatiq.common import q_name

from micrograde.surfaces.service import grader
from micrograde.surfaces.service.config import SLOW_AFTER
from micrograde.surfaces.service.keys import digest, sign, signed

NAMESPACE = 'micrograde'
EVENTS = 'events'
HEARTBEAT_TIMEOUT_MS = 10_000  # a worker silent this long is dead; its job goes to another
MAINTENANCE_CHANCE = 100_000   # per million broker calls: dead workers are looked for often
MAX_LOST = 3                   # runs of one job that lost their worker before it is given up
JOB_TIME_LIMIT_MS = 3_600_000  # grading has its own limits; this only stops a wedged thread
POLL_MS = 30                   # longest pause of an idle consumer between asks for a message
#                                (at 100 ms a worker waited 0.1 s between two jobs: 8% of a deadline hour)
PRESENCE_SECONDS = 2           # how often a worker says it is alive (health, metrics)
RUNS = NAMESPACE + ':runs:'
DONE = NAMESPACE + ':done:'    # set by the API once a job has its report: a copy is not graded
SLOW = NAMESPACE + ':slow:'    # a job that gave way: the slow lane has it (reconciling sees it)
SLOW_BUSY = NAMESPACE + ':slow-busy:'  # workers grading a slow job, per version
PACE_FACTOR = 3                # a run may take SLOW_AFTER s, or this many times the worker's median run
#                                if longer (a loaded host)
PACE_RUNS = 20                 # runs of the median
SLOW_HOLD = 3600               # seconds a slow mark lasts unless its lane renews it
SLOW_PAUSE_MS = 3000           # a slow job that may not run yet comes back after this
ABORT_SECONDS = 30.0           # a stopped run that does not end by then takes its worker with it
WATCH_SECONDS = 0.5            # how often a worker looks at its run in progress
WORKERS = NAMESPACE + ':workers:'
HELD = NAMESPACE + ':held:'    # jobs the API holds back from a full main lane, per version
HELD_SECONDS = 10              # ... a count the API renews every 2 s: a dead API holds nothing
SEND_PATIENCE = 600            # seconds a worker waits for Redis to come back mid-job
KINDS = ('started', 'gave_way', 'finished')  # what a worker reports of a run
EXIT_GAVE_WAY = 75

log = logging.getLogger('micrograde.service')


#: Take a slow-lane slot, atomically: only when the main lane has no job waiting (in Redis, nor
#: held back by the API) and fewer than half of the live workers (one at least) hold one.
#: KEYS: live workers, slots, the main queue, the API's held count; ARGV: now, seconds a
#: presence lasts, this worker.
TAKE_SLOT = """
local fresh = tonumber(ARGV[1]) - tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', fresh)
local alive = redis.call('ZCOUNT', KEYS[1], fresh, '+inf')
local waiting = redis.call('LLEN', KEYS[3]) + tonumber(redis.call('GET', KEYS[4]) or '0')
if waiting > 0 or redis.call('ZCARD', KEYS[2]) >= math.max(math.floor(alive / 2), 1) then
  return 0
end
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[3])
return 1
"""


class Pace:
    """How long a main-lane run may take while others wait: ``slow_after`` seconds, or
    ``PACE_FACTOR`` times this worker's median of its last ``PACE_RUNS`` runs when that is longer
    (on a loaded host every run is slower; an ordinary one must not give way)."""

    def __init__(self, slow_after):
        self.slow_after, self.runs = slow_after, deque(maxlen=PACE_RUNS)

    def ran(self, seconds):
        self.runs.append(seconds)

    def limit(self):
        return max(self.slow_after, PACE_FACTOR * statistics.median(self.runs) if self.runs else 0)


class _OneJobAtATime(_RedisConsumer):
    """A consumer that counts what every lane of its broker holds (delayed messages aside): with
    a prefetch of one, a worker holds one job at a time, so no job waits inside a worker busy
    with another (a slow one) while another worker could take it."""

    def __init__(self, broker, queue_name, prefetch, timeout):
        super().__init__(broker, queue_name, prefetch, timeout)
        if q_name(queue_name) == queue_name:
            broker.lanes.append(self)

    def __next__(self):
        """Count and fetch under one lock: two lanes fetching at once would hold two jobs."""
        if q_name(self.queue_name) != self.queue_name:
            return super().__next__()
        with self.broker.fetching:
            return super().__next__()

    @property
    def outstanding_message_count(self):
        if q_name(self.queue_name) != self.queue_name:
            return super().outstanding_message_count
        return sum(len(c.queued_message_ids) + len(c.message_cache) for c in self.broker.lanes)


class _Broker(RedisBroker):
    """Dramatiq's Redis broker, rolling its maintenance dice with a generator of its own (the
    global ``random`` is Hypothesis's while the grader fuzzes in the same process), its
    consumers holding one job at a time across lanes."""
    dice = random.Random()
    consumer_class = _OneJobAtATime

    def __init__(self, **options):
        super().__init__(**options)
        self.lanes, self.fetching = [], threading.Lock()

    def _should_do_maintenance(self, command):
        return int(command not in MAINTENANCE_COMMAND_BLACKLIST
                   and self.dice.randint(1, MAINTENANCE_SCALE) <= self.maintenance_chance)


def _nobody(*args, **kwargs):
    raise RuntimeError('events are consumed by the API only')


def grading_queue(version):
    """The queue of the workers of one grader version."""
    return 'grading-' + re.sub(r'[^A-Za-z0-9]', '_', version)


@dataclass(frozen=True)
class Job:
    """A job as a worker receives it, its signature checked."""
    id: str
    retry: int
    filename: str
    data: bytes
    seed: int
    profile: str
    rubric: str
    version: str


@dataclass(frozen=True)
class Event:
    """What a worker reports, its signature checked: ``report`` is JSON text on ``finished``."""
    job: str
    retry: int
    kind: str
    attempt: int
    worker: str
    at: float
    report: str | None


_JOB_TYPES = (str, int, str, str, int, str, str, str)
_EVENT_TYPES = (str, int, str, int, str, (int, float), (str, type(None)))


def _typed(values, types):
    return all(isinstance(v, t) and not (t is int and isinstance(v, bool))
               for v, t in zip(values, types, strict=True))


def parse_job(key, args, kwargs):
    """The ``Job`` a grading message carries, or ``None`` when it is not one the API signed."""
    if kwargs or len(args) != len(_JOB_TYPES) + 1 or not _typed(args[:-1], _JOB_TYPES):
        return None
    job_id, retry, filename, data, seed, profile, rubric, version = args[:-1]
    try:
        raw = base64.b64decode(data, validate=True)
    except ValueError:
        return None
    fields = (job_id, retry, filename, digest(raw), seed, profile, rubric, version)
    return Job(job_id, retry, filename, raw, seed, profile, rubric, version) \
        if signed(key, args[-1], *fields) else None


def parse_event(key, args, kwargs):
    """The ``Event`` an events message carries, or ``None`` when no worker of this deployment
    signed it (forged, altered, malformed)."""
    if kwargs or len(args) != len(_EVENT_TYPES) + 1 or not _typed(args[:-1], _EVENT_TYPES):
        return None
    event = Event(*args[:-1])
    if event.kind not in KINDS or (event.kind == 'finished') != (event.report is not None):
        return None
    return event if signed(key, args[-1], *args[:-1]) else None


class Queue:
    """The broker and its actors; ``record`` handles events (the API passes it).  ``key`` is the
    deployment key; ``version`` the grader version of the jobs this process grades."""

    def __init__(self, url, key, record=_nobody, version=None, warm=None, slow_after=SLOW_AFTER):
        self.warm = warm  # a worker's warm template (grader.warm()), kept between its jobs
        client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30)
        self.broker = _Broker(client=client, namespace=NAMESPACE, heartbeat_timeout=HEARTBEAT_TIMEOUT_MS,
                              maintenance_chance=MAINTENANCE_CHANCE)
        self.redis = self.broker.client
        self.key = key
        self.version = version or grader.VERSION
        self.grading = grading_queue(self.version)
        self.grade_actor = dramatiq.actor(self._grade, broker=self.broker, actor_name='grade',
                                          queue_name=self.grading, max_retries=0,
                                          time_limit=JOB_TIME_LIMIT_MS)
        self.slow_actor = dramatiq.actor(self._grade_slow, broker=self.broker, actor_name='grade_slow',
                                         queue_name=self.grading + '-slow', priority=100,
                                         max_retries=0, time_limit=JOB_TIME_LIMIT_MS)
        self.current = None  # (job, its message's args, slow lane?, when it started) while grading
        self.stopped = None  # the ``current`` that gave way: its report is not sent
        self.pace = Pace(slow_after)
        self.take_slot = self.redis.register_script(TAKE_SLOT)
        self.event_actor = dramatiq.actor(record, broker=self.broker, actor_name='event',
                                          queue_name=EVENTS, max_retries=50, min_backoff=200,
                                          max_backoff=10_000)
        self.worker_id = f'{socket.gethostname()}:{os.getpid()}'

    def submit(self, job, slow=False):
        """Hand a job row (``jobs.Jobs.next_pending``) to the workers of its version, signed (to its
        slow lane at once when ``slow``); returns the message's id in Redis (``holding`` tells
        whether Redis still has it)."""
        fields = (job['id'], job['retry'], job['filename'], digest(job['data']), job['seed'],
                  job['profile'], job['rubric'], job['version'])
        args = (*fields[:3], base64.b64encode(job['data']).decode(), *fields[4:],
                sign(self.key, *fields))
        queue = grading_queue(job['version'])
        if slow:
            self.redis.set(f'{SLOW}{job["id"]}:{job["retry"]}', 1, ex=SLOW_HOLD)
        message = self.broker.enqueue(Message(queue_name=queue + '-slow' if slow else queue,
                                              actor_name='grade_slow' if slow else 'grade',
                                              args=args, kwargs={}, options={}))
        return message.options['redis_message_id']

    def holding(self, jobs):
        """The ids of ``jobs`` (rows with ``message``, ``retry`` and ``version``) that Redis still
        has: their message waiting or taken and not acknowledged yet, or in the slow lane."""
        pipe = self.redis.pipeline(transaction=False)
        for job in jobs:
            pipe.hexists(f'{NAMESPACE}:{grading_queue(job["version"])}.msgs', job['message'])
            pipe.exists(f'{SLOW}{job["id"]}:{job["retry"]}')
        held = pipe.execute()
        return {job['id'] for job, main, slow in zip(jobs, held[::2], held[1::2]) if main or slow}

    def graded(self, job_id, retry):
        """Tell the workers a job has its report, so that a copy of it is not graded again."""
        self.redis.set(f'{DONE}{job_id}:{retry}', 1, ex=86400)

    def hold(self, count):
        """Say how many jobs the API holds back (they count as waiting for ``TAKE_SLOT``)."""
        self.redis.set(HELD + self.version, count, ex=HELD_SECONDS)

    def waiting(self):
        """Ordinary jobs waiting: in the main lane, or held back by the API."""
        return self.depth() + int(self.redis.get(HELD + self.version) or 0)

    def depth(self):
        """Jobs waiting in this version's queue (not yet taken by a worker)."""
        return self.redis.llen(f'{NAMESPACE}:{self.grading}')

    def workers_alive(self):
        now = self.redis.time()[0]
        return self.redis.zcount(WORKERS + self.version, now - 3 * PRESENCE_SECONDS, '+inf')

    def ping(self):
        try:
            return bool(self.redis.ping())
        except redis.RedisError:
            return False

    def close(self):
        self.broker.close()

    # --- the worker's side -------------------------------------------------------------------

    def _verified(self, args, kwargs):
        """The job a grading message carries, or ``None`` (logged) when it is not one this
        worker may grade: not signed by the deployment key, or for another grader version."""
        job = parse_job(self.key, args, kwargs)
        if job is None:
            log.warning('dropped a grading message that the deployment key did not sign')
        elif job.version != self.version:
            log.warning('refused job %s: graded by version %s, this worker is %s', job.id,
                        job.version, self.version)
            return None
        return job

    def _grade(self, *args, **kwargs):
        """The main lane's actor: one run of a job.  Never raises: every outcome is a report, or
        a message that is not a job of this deployment and version, logged and dropped."""
        job = self._verified(args, kwargs)
        if job is not None and not _patiently(self.redis.exists, f'{SLOW}{job.id}:{job.retry}'):
            self._run(job, args, slow=False)  # (one that gave way is the slow lane's)

    def _grade_slow(self, *args, **kwargs):
        """The slow lane's actor: a slow job runs once it has a slot (``TAKE_SLOT``: no job
        waits in the main lane, fewer than half of the workers grade slow jobs); until then it
        comes back every ``SLOW_PAUSE_MS``."""
        job = self._verified(args, kwargs)
        mark = job and f'{SLOW}{job.id}:{job.retry}'
        if job is None or not _patiently(self.redis.exists, mark):
            return  # lost its mark (Redis flushed): the API has handed it to the main lane again
        if not self.slot():
            self.redis.expire(mark, SLOW_HOLD)
            self.slow_actor.send_with_options(args=args, delay=SLOW_PAUSE_MS)
            return
        try:
            stopped = self._run(job, args, slow=True)
        finally:
            self.redis.zrem(SLOW_BUSY + self.version, self.worker_id)
        if not stopped:
            self.redis.delete(mark)  # (one that gave way again keeps it: the lane has it back)

    def _run(self, job, args, slow):
        """One run of ``job``, its report sent; whether it gave way instead (``give_way``)."""
        if _patiently(self.redis.exists, f'{DONE}{job.id}:{job.retry}'):
            return  # a copy of a job that was graded meanwhile
        runs = _patiently(self.redis.incr, f'{RUNS}{job.id}:{job.retry}')
        _patiently(self.redis.expire, f'{RUNS}{job.id}:{job.retry}', 30 * 86400)
        if runs > MAX_LOST:
            report = grader.gave_up(job.filename, job.seed, job.profile, job.rubric,
                                    f'grading lost its worker {MAX_LOST} times on this submission '
                                    '(stopped, out of memory or its machine gone); it is not run '
                                    'again. Course staff can retry it.')
            self._send(job, 'finished', runs, report)
            return
        self._send(job, 'started', runs)
        began = time.monotonic()  # one clock: the pace and give_way measure the same run
        current = self.current = (job, args, slow, began)
        try:
            report = grader.grade(job.filename, job.data, job.seed, job.profile, job.rubric,
                                  self.warm)
        except Exception as e:  # grader.grade is safe_grade; this is the service's own failure
            log.exception('job %s', job.id)
            report = grader.gave_up(job.filename, job.seed, job.profile, job.rubric,
                                    f'the grading service failed on this submission ({type(e).__name__})')
        finally:
            self.current = None
        if self.stopped is current:
            return True  # it gave way: the slow lane grades it (this run's report is cut short)
        took = time.monotonic() - began
        if not slow:
            self.pace.ran(took)
        log.info('job %s run %d graded in %.2f s%s', job.id, runs, took, ' (slow lane)' if slow else '')
        self._send(job, 'finished', runs, report)

    def slot(self):
        """Whether this worker took a slow-lane slot (``TAKE_SLOT``)."""
        now = self.redis.time()[0]
        keys = (WORKERS + self.version, SLOW_BUSY + self.version, f'{NAMESPACE}:{self.grading}',
                HELD + self.version)
        return bool(self.take_slot(keys=keys, args=(now, 3 * PRESENCE_SECONDS, self.worker_id)))

    def give_way(self):
        """Stop the run in progress and hand its job to the slow lane, if it is a main-lane run
        past its limit (``Pace``) while a job waits, or a slow-lane run while a job per live
        worker waits (the rush came back: ordinary jobs go first); whether it did.  The run is
        stopped by killing its sandbox (the worker stays warm); where no warm template runs
        it, or the run does not end, the worker exits (its supervisor starts it again)."""
        current = self.current
        if current is None:
            return False
        job, args, slow, began = current
        if slow and self.waiting() < max(self.workers_alive(), 1):
            return False
        if not slow and (time.monotonic() - began < self.pace.limit() or not self.waiting()):
            return False
        self.stopped = current
        self.redis.set(f'{SLOW}{job.id}:{job.retry}', 1, ex=SLOW_HOLD)
        runs = self.redis.decr(f'{RUNS}{job.id}:{job.retry}')  # giving way is not a lost run
        self.slow_actor.send_with_options(args=args, delay=SLOW_PAUSE_MS if slow else None)
        self._send(job, 'gave_way', runs)
        log.warning('job %s gave way after %.1f s%s: others wait; it goes to the slow lane', job.id,
                    time.monotonic() - began, ' in the slow lane' if slow else '')
        deadline = time.monotonic() + ABORT_SECONDS
        while self.current is current:
            if not grader.abort(self.warm) or time.monotonic() > deadline:
                self._absence()
                _exit_with_children()
            time.sleep(0.05)
        return True

    def _send(self, job, kind, attempt, report=None):
        """Report a signed event to the API."""
        fields = (job.id, job.retry, kind, attempt, self.worker_id, time.time(),
                  None if report is None else grader.dumps(report))
        _patiently(self.event_actor.send, *fields, sign(self.key, *fields))

    def _presence(self):
        try:
            now = self.redis.time()[0]
            self.redis.zadd(WORKERS + self.version, {self.worker_id: now})
            if self.current and self.current[2]:
                self.redis.zadd(SLOW_BUSY + self.version, {self.worker_id: now})
            self.redis.zremrangebyscore(WORKERS + self.version, 0, now - 3600)
        except redis.RedisError:
            pass  # Redis restarting: say so again in a moment

    def _absence(self):
        try:
            self.redis.zrem(WORKERS + self.version, self.worker_id)
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


def run_worker(url, key, stop_after=10.0, version=None, slow_after=SLOW_AFTER):
    """Grade jobs one at a time until SIGTERM or SIGINT; the warm template stays between jobs.

    On a stop, a running job gets ``stop_after`` seconds to finish; otherwise it is left
    unacknowledged and goes to another worker."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format='%(asctime)s worker %(process)d %(levelname)s %(message)s')
    logging.getLogger('dramatiq').setLevel(logging.WARNING)
    warm = grader.warm()
    if grader.warm_up(warm) != 'bubblewrap':
        log.warning('no bubblewrap sandbox here: submissions run as plain processes and can reach '
                    'loopback services (Redis); run workers where bubblewrap works')
    queue = Queue(url, key, version=version, warm=warm, slow_after=slow_after)
    worker = dramatiq.Worker(queue.broker, queues={queue.grading, queue.grading + '-slow'},
                             worker_threads=1, worker_timeout=POLL_MS)
    worker.queue_prefetch = 1  # one job in hand (_OneJobAtATime): the rest wait in Redis for any worker
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    worker.start()
    try:
        while not stop.is_set():
            queue._presence()
            for _ in range(round(PRESENCE_SECONDS / WATCH_SECONDS)):
                try:
                    queue.give_way()
                except redis.RedisError:
                    pass
                if stop.wait(WATCH_SECONDS):
                    break
    finally:
        queue._absence()
        worker.stop(timeout=int(stop_after * 1000))
        queue.close()
        warm.close()


def _exit_with_children():
    """Exit now, with the sandbox processes of the run in progress: the whole process group
    when this worker leads one (as the supervisor starts it), else this process.  A worker
    started without a template is in a session of its own, out of the group's reach: as root
    the warden kills its uid once this process is gone (``sandbox.Warden``), unprivileged its
    keeper kills it and all it started (``sandbox.KEEPER``)."""
    if os.getpgid(0) == os.getpid():
        os.killpg(0, signal.SIGKILL)
    os._exit(EXIT_GAVE_WAY)
