"""The HTTP API (FastAPI): upload a submission, follow its job, fetch its reports.

A job is written to the SQLite table first and handed to the queue after (the table is an
outbox: a job the queue did not take, because Redis was away or the API stopped, is handed again
by the dispatcher).  Workers' events come back through the ``events`` queue and are applied here,
when the deployment key signed them.  The dispatcher also reconciles the table with the queue: a
job in flight whose message Redis no longer has (Redis flushed, restarted without its file, a
power loss) is handed again.
"""
import csv
import io
import json
import logging
import math
import re
import threading
import time
from contextlib import asynccontextmanager
from typing import Annotated

import dramatiq
import redis
from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi import Path as InPath
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jinja2 import Environment, PackageLoader, select_autoescape
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from micrograde.surfaces.service import grader
from micrograde.surfaces.service.config import ServiceConfig
from micrograde.surfaces.service.jobs import Jobs
from micrograde.surfaces.service.keys import private_file, private_folder
from micrograde.surfaces.service.tasks import EVENTS, POLL_MS, Queue, parse_event
from micrograde.surfaces.service.tokens import COURSE, ROLES, Tokens

DISPATCH_SECONDS = 2.0
WINDOW, MIN_WINDOW = 3, 6  # jobs in the main lane per live worker (at least): the rest wait here
PRUNE_SECONDS = 3600.0
NAME_BYTES = 200  # an upload's name: a file name of Linux's holds 255
log = logging.getLogger('micrograde.api')
access = logging.getLogger('micrograde.access')
NAME = re.compile(r'[\x00-\x1f\x7f-\x9f\ud800-\udfff]+')  # controls, lone surrogates: a name is shown and written, never run
Course = Annotated[str, InPath(pattern=COURSE, description='the course (as its tokens name it)')]


class UploadLimit:
    """ASGI middleware: a request body past ``limit`` bytes is answered 413 before it is stored,
    whether the client announced its length or not, and whatever its method (a form is parsed,
    its file spooled to disk, before the route checks the token)."""

    def __init__(self, app, limit):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope['type'] != 'http':
            return await self.app(scope, receive, send)
        length = dict(scope['headers']).get(b'content-length', b'0')
        if length.isdigit() and int(length) > self.limit:
            return await self._refuse(send)
        state = {'seen': 0, 'refused': False}

        async def counted():
            message = await receive()
            state['seen'] += len(message.get('body', b''))
            if state['seen'] > self.limit and not state['refused']:
                state['refused'] = True
                await self._refuse(send)
            return {'type': 'http.disconnect'} if state['refused'] else message

        async def guarded(message):
            if not state['refused']:
                await send(message)
        await self.app(scope, counted, guarded)

    async def _refuse(self, send):
        body = json.dumps({'detail': f'upload larger than {self.limit} bytes'}).encode()
        await send({'type': 'http.response.start', 'status': 413,
                    'headers': [(b'content-type', b'application/json'),
                                (b'content-length', str(len(body)).encode()),
                                (b'connection', b'close')]})
        await send({'type': 'http.response.body', 'body': body})


class Metrics:
    """The service's Prometheus metrics: what the API sees happen, and figures read at scrape
    time (jobs by status, the queue's depth, live workers)."""

    def __init__(self, jobs, queue):
        self.registry = CollectorRegistry()
        self.jobs, self.queue = jobs, queue
        self.seconds = Histogram('micrograde_grading_seconds', 'Seconds a run took to grade a job',
                                 buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600),
                                 registry=self.registry)
        self.attempts = Counter('micrograde_attempts', 'Runs of jobs started by workers; '
                                'repeat runs lost their worker', ['run'], registry=self.registry)
        self.dropped = Counter('micrograde_events_dropped', 'Events dropped because the '
                               'deployment key did not sign them', registry=self.registry)
        self.gave_way = Counter('micrograde_jobs_gave_way', 'Runs stopped and handed to the slow '
                                'lane because they ran long while other jobs waited',
                                registry=self.registry)
        self.resent = Counter('micrograde_jobs_resent', 'Jobs handed to the queue again because '
                              'Redis lost their message', registry=self.registry)
        self.registry.register(self)

    def collect(self):
        jobs = GaugeMetricFamily('micrograde_jobs', 'Jobs in the table by status', labels=['status'])
        for status, n in self.jobs.counts().items():
            jobs.add_metric([status], n)
        yield jobs
        try:
            depth, workers = self.queue.depth(), self.queue.workers_alive()
        except redis.RedisError:
            return  # Redis away: health says so; these figures are absent rather than wrong
        yield GaugeMetricFamily('micrograde_queue_depth', 'Jobs waiting in Redis for a worker',
                                value=depth)
        yield GaugeMetricFamily('micrograde_workers', 'Workers of this grader version alive',
                                value=workers)

    def render(self):
        return generate_latest(self.registry)


def _named(uploaded):
    """The name an upload keeps, as ``micrograde grade`` of that file names it (``eve (1).py``,
    ``Übung 1.ipynb``): its last path part (``/`` or ``\\``), control characters and lone
    surrogates as ``_``, at most ``NAME_BYTES`` of UTF-8 (its end kept: the suffix), no leading
    dot.  Before, every character but ``[A-Za-z0-9._-]`` was ``_``: every report of the service
    called ``eve (1).py`` ``eve_1_.py``."""
    name = NAME.sub('_', (uploaded or '').replace('\\', '/').rsplit('/', 1)[-1]).strip()
    while len(name.encode()) > NAME_BYTES:
        name = name[1:]
    return name.lstrip('.').strip()


def create_app(config: ServiceConfig):
    """The FastAPI application over ``config``'s state and broker."""
    private_folder(config.state)
    grader.suffixes()  # import the grader (torch) now, not at the first upload
    private_file(config.database)
    jobs, tokens = Jobs(config.database), Tokens(config.database)
    pages = Environment(loader=PackageLoader('micrograde.surfaces.service'), autoescape=select_autoescape())

    def record(*args, **kwargs):
        """The ``event`` actor: apply a worker's signed event to the job table.  Anything else
        (forged, altered, malformed) is logged and dropped, never raised (it would be retried)."""
        event = parse_event(config.key, args, kwargs)
        if event is None:
            metrics.dropped.inc()
            log.warning('dropped an event the deployment key did not sign: %.200r', (args, kwargs))
            return
        if event.kind == 'started':  # a worker took a job: the main lane has room for another
            metrics.attempts.labels('first' if event.attempt == 1 else 'repeat').inc()
            jobs.started(event.job, event.retry, event.attempt, event.worker, event.at)
            dispatch()
            return
        if event.kind == 'gave_way':
            metrics.gave_way.inc()
            jobs.gave_way(event.job, event.retry)
            return
        report = grader.loads(event.report)
        if report is None:
            log.warning('job %s: its worker sent a report the API cannot read', event.job)
            job = jobs.get(event.job) or {'filename': '?'}
            report = grader.gave_up(job['filename'], config.seed, config.profile, config.rubric,
                                    'the grading service could not read the report of this '
                                    'submission; course staff can retry it')
        taken = jobs.finished(event.job, event.retry, 'error' if grader.is_error(report) else 'done',
                              event.attempt, grader.dumps(report), report['verdict'],
                              report['score'], report['max_score'], event.at)
        if taken:
            job = jobs.get(event.job)
            if job and job['started']:
                metrics.seconds.observe(max(event.at - job['started'], 0))
        queue.graded(event.job, event.retry)

    queue = Queue(config.broker, config.key, record)
    metrics = Metrics(jobs, queue)
    dispatch_lock = threading.Lock()
    missing = {}  # job id -> when its message was first seen missing from Redis

    def dispatch():
        """Hand accepted jobs to the queue while its main lane has room (``WINDOW`` jobs per live
        worker): the next is the oldest of the course with the fewest jobs in flight, so one
        course's deadline does not queue another's behind it; a slow learner's (their grading
        took ``slow_learner`` seconds in the window) goes to the slow lane at once.  The jobs
        held back are counted in Redis: the slow lane waits for them too."""
        with dispatch_lock:
            try:
                room = max(WINDOW * queue.workers_alive(), MIN_WINDOW) - queue.depth()
                while room > 0 and (job := jobs.next_pending()):
                    slow = jobs.grading_seconds(job['course'], job['learner'],
                                                time.time() - config.rate_window) >= config.slow_learner
                    jobs.dispatched(job['id'], queue.submit(job, slow))
                    room -= not slow
                queue.hold(jobs.counts_pending())
            except redis.RedisError:
                return  # Redis away: the dispatcher tries again

    def reconcile():
        """Hand again the jobs whose message Redis has not had for ``lost_after`` seconds (the
        pause lets a report on its way through the events queue arrive first)."""
        flying = jobs.in_flight()
        held = queue.holding(flying)
        now = time.monotonic()
        for job in flying:
            if job['id'] in held:
                missing.pop(job['id'], None)
            elif now - missing.setdefault(job['id'], now) > config.lost_after:
                log.warning('job %s: the queue lost its message; handing it again', job['id'])
                metrics.resent.inc()
                missing.pop(job['id'])
                jobs.lost(job['id'])
        for job_id in set(missing) - {j['id'] for j in flying}:
            missing.pop(job_id)

    def prune():
        if config.keep_days is not None:
            gone = jobs.prune(time.time() - config.keep_days * 86400)
            if gone:
                log.info('pruned %d jobs graded more than %g days ago', gone, config.keep_days)

    @asynccontextmanager
    async def lifespan(app):
        events = dramatiq.Worker(queue.broker, queues={EVENTS}, worker_threads=1,
                                 worker_timeout=POLL_MS)
        events.start()
        stop = threading.Event()

        def dispatcher():
            pruned = float('-inf')
            while not stop.wait(DISPATCH_SECONDS):
                try:
                    reconcile()
                except redis.RedisError:
                    pass  # Redis away: nothing to compare with yet
                dispatch()
                if time.monotonic() - pruned > PRUNE_SECONDS:
                    prune()
                    pruned = time.monotonic()
        thread = threading.Thread(target=dispatcher, name='dispatcher', daemon=True)
        thread.start()
        dispatch()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            events.stop(timeout=5000)
            queue.close()

    app = FastAPI(title='micrograde', lifespan=lifespan,
                  description='Grading service for micrograd-style autograd engines: upload a '
                  'submission, follow its job, fetch its reports.')
    app.add_middleware(UploadLimit, limit=config.upload_limit)
    bearer = HTTPBearer(auto_error=False)

    @app.middleware('http')
    async def access_log(request: Request, call_next):
        """One line a request: client, method, path (never a query or a header: no token), status
        and milliseconds."""
        t = time.perf_counter()
        response = await call_next(request)
        client = request.client.host if request.client else '-'
        access.info('%s %s %s %d %.1fms', client, request.method, request.url.path,
                    response.status_code, (time.perf_counter() - t) * 1000)
        return response

    def identity(course: Course, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)):
        who = tokens.identify(credentials.credentials) if credentials else None
        if who is None:
            raise HTTPException(401, 'a valid bearer token is needed', {'WWW-Authenticate': 'Bearer'})
        if who.course != course:
            raise HTTPException(403, f'this token is not for course {course!r}')
        return who

    def staff(who=Depends(identity)):
        if not who.staff:
            raise HTTPException(403, 'staff only')
        return who


    def visible(course, job_id, who):
        job = jobs.get(job_id, course, None if who.staff else who.learner)
        if job is None:
            raise HTTPException(404, 'no such submission')
        return job

    def shown(job, who):
        keep = dict(job)
        if not who.staff:
            keep.pop('worker')
        base = f'/v1/courses/{job["course"]}/submissions/{job["id"]}'
        keep['links'] = {'self': base, **({name: f'{base}/{name}' for name in grader.FORMATS}
                                          if job['status'] in ('done', 'error') else {})}
        return keep

    def admit(course, who):
        """An ``HTTPException`` (429, 503) when the learner (staff are not limited) or the
        course has as many jobs as its limits allow."""
        now = time.time()
        if not who.staff:
            count, first = jobs.recent(course, who.learner, now - config.rate_window)
            if count >= config.rate_count:
                wait = math.ceil(first + config.rate_window - now)
                raise HTTPException(429, f'at most {config.rate_count} submissions per '
                                    f'{config.rate_window:g} s', {'Retry-After': str(max(wait, 1))})
            if jobs.outstanding(course, who.learner) >= config.learner_queued:
                raise HTTPException(429, f'{config.learner_queued} of your submissions are not '
                                    'graded yet; wait for their reports', {'Retry-After': '30'})
            used = jobs.grading_seconds(course, who.learner, now - config.rate_window)
            if used >= config.grading_budget:  # slow submissions cost their learner, not the class
                raise HTTPException(429, f'your submissions took {used:.0f} s of grading in the last '
                                    f'{config.rate_window:g} s (at most {config.grading_budget:g} s)',
                                    {'Retry-After': str(math.ceil(config.rate_window / 4))})
        if jobs.counts(course)['queued'] >= config.course_queued:
            raise HTTPException(503, f'course {course} has {config.course_queued} jobs waiting; try '
                                'again later', {'Retry-After': str(backlog() or 60)})

    def backlog():
        """``Retry-After`` seconds when too many jobs wait, else ``None``."""
        queued = jobs.counts()['queued']  # of every course: one pool of workers
        if queued < config.max_queued:
            return None
        per_job = jobs.mean_seconds() or 5.0
        try:
            alive = max(queue.workers_alive(), 1)
        except redis.RedisError:
            alive = 1
        return min(max(math.ceil(queued * per_job / alive), 1), 600)

    @app.get('/v1/health')
    def health():
        """Whether grading can happen: Redis answers and a worker of this grader version is
        alive (503 when not, so that a load balancer or a probe sees it)."""
        up = queue.ping()
        try:
            workers = queue.workers_alive() if up else 0
        except redis.RedisError:
            up, workers = False, 0
        ok = up and workers > 0
        return JSONResponse({'ok': ok, 'redis': up, 'workers': workers, 'version': grader.VERSION},
                            status_code=200 if ok else 503)

    @app.get('/metrics', include_in_schema=False)
    def prometheus():
        """Prometheus's text format: jobs by status, queue depth, workers, grading seconds,
        attempts, dropped events, jobs handed again."""
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get('/v1/courses/{course}/queue', dependencies=[Depends(staff)])
    def queue_state(course: Course):
        """Staff: the course's jobs per status, and the queue's depth and workers alive."""
        try:
            alive, depth = queue.workers_alive(), queue.depth()
        except redis.RedisError:
            alive = depth = None
        return {**jobs.counts(course), 'waiting_in_queue': depth, 'workers': alive}

    @app.get('/v1/courses/{course}/failed')
    def failed(course: Course, who=Depends(staff)):
        """Staff: the course's jobs that ended without a grade (status ``error``)."""
        return [shown(j, who) for j in jobs.listing(course, status='error')]

    @app.post('/v1/courses/{course}/submissions/{job_id}/retry')
    def retry(course: Course, job_id: str, who=Depends(staff)):
        """Staff: grade a failed job again (409 when it is not failed)."""
        job = jobs.retry(job_id, course)
        if job is None:
            raise HTTPException(409 if jobs.get(job_id, course) else 404,
                                'only a failed (error) job of this course can be retried')
        log.info('job %s retried by staff', job_id)
        dispatch()
        return shown(job, who)

    @app.post('/v1/courses/{course}/submissions', status_code=202)
    def submit(course: Course, file: UploadFile = File(..., description='a .py, .ipynb or .zip'),
               who=Depends(identity)):
        """Upload a submission.  202 with the new job; 200 with the existing job when the same
        learner sent the same content before; 413 past the size cap; 429 past the learner's rate
        limit; 503 with Retry-After when the queue is full."""
        filename = _named(file.filename)
        if not filename.lower().endswith(grader.suffixes()):
            *others, last = grader.suffixes()
            raise HTTPException(415, f'a submission is a {", ".join(others)} or {last} file')
        data = file.file.read(config.upload_limit + 1)
        if len(data) > config.upload_limit:
            raise HTTPException(413, f'upload larger than {config.upload_limit} bytes')
        print_ = grader.fingerprint(filename, data, config.seed, config.profile, config.rubric)
        existing = jobs.find(course, who.learner, print_)
        if existing:
            return JSONResponse(shown(existing, who), status_code=200)
        admit(course, who)
        wait = backlog()
        if wait is not None:
            raise HTTPException(503, 'the grading queue is full; try again later',
                                {'Retry-After': str(wait)})
        # and again in the transaction that adds the job: uploads sent at once each passed the
        # limits above before any was added (3 of 40 taken, at most 2 allowed)
        job, created = jobs.submit(course, who.learner, filename, print_, config.seed,
                                   config.profile, config.rubric, data, grader.VERSION,
                                   admit=lambda: admit(course, who))
        if created:
            dispatch()
        return JSONResponse(shown(job, who), status_code=202 if created else 200)

    @app.get('/v1/courses/{course}/submissions')
    def listing(course: Course, who=Depends(identity)):
        """Staff: every submission of the course; a learner: their own."""
        return [shown(j, who) for j in jobs.listing(course, None if who.staff else who.learner)]

    @app.get('/v1/courses/{course}/submissions/{job_id}')
    def status(course: Course, job_id: str, who=Depends(identity)):
        """A job: status (queued, running, done, error), attempts, verdict, score, links."""
        return shown(visible(course, job_id, who), who)

    @app.get('/v1/courses/{course}/submissions/{job_id}/{name}')
    def report(course: Course, job_id: str, name: str, who=Depends(identity)):
        """One report: report.json, report.xml (JUnit), results.json (Gradescope), report.html."""
        job = visible(course, job_id, who)
        if name == 'report.html' and name not in grader.FORMATS:
            raise HTTPException(404, 'this grader has no HTML reporter; use report.json')
        if name not in grader.FORMATS:
            raise HTTPException(404, f'no report named {name!r}; one of {", ".join(grader.FORMATS)}')
        if job['status'] not in ('done', 'error'):
            raise HTTPException(409, f'not graded yet: {job["status"]}')
        body, media = grader.render(jobs.report(job_id), name)
        return Response(body, media_type=media)

    @app.get('/v1/courses/{course}/gradebook.csv', dependencies=[Depends(staff)])
    def gradebook(course: Course):
        """Staff: one row per learner (their latest graded submission)."""
        return Response(grader.gradebook(jobs.latest_reports(course)), media_type='text/csv')

    @app.get('/v1/courses/{course}/class', response_class=HTMLResponse, dependencies=[Depends(staff)])
    def class_page(course: Course):
        """Staff: the class page (its pictures filtered by the roster's sections, each learner
        linked to their latest report) and the table of submissions."""
        latest, ids, sections = jobs.latest_reports(course), jobs.latest_ids(course), jobs.roster(course)
        base = f'/v1/courses/{course}/submissions'
        return pages.get_template('class.html').render(
            course=course, rows=grader.table(latest), sections=sections, ids=ids, base=base,
            pictures=grader.class_page(latest, sections, lambda learner: f'{base}/{ids[learner]}/report.html'),
            submissions=jobs.listing(course))

    @app.put('/v1/courses/{course}/roster', dependencies=[Depends(staff)])
    def set_roster(course: Course, file: UploadFile = File(..., description='CSV: learner, section')):
        """Staff: the course's roster, a CSV with the columns ``learner`` (as tokens name
        learners) and ``section``; it replaces the last one.  The class page filters by it."""
        try:
            rows = list(csv.DictReader(io.StringIO(file.file.read(config.upload_limit).decode('utf-8-sig'))))
        except (UnicodeDecodeError, csv.Error) as e:
            raise HTTPException(422, f'the roster is not a UTF-8 CSV file: {e}') from None
        if not rows or not {'learner', 'section'} <= set(rows[0]):
            raise HTTPException(422, 'the roster needs the columns learner and section')
        sections = {(r['learner'] or '').strip(): (r['section'] or '').strip() for r in rows}
        sections.pop('', None)
        jobs.set_roster(course, sections)
        return {'learners': len(sections), 'sections': sorted(set(sections.values()))}

    @app.get('/v1/courses/{course}/roster', dependencies=[Depends(staff)])
    def roster(course: Course):
        """Staff: the course's roster, ``{learner: section}``."""
        return jobs.roster(course)

    @app.post('/v1/courses/{course}/tokens', status_code=201)
    def new_token(course: Course, role: str = Form('learner'), learner: str | None = Form(None),
                  who=Depends(staff)):
        """Staff: a new token for this course (shown once)."""
        if role not in ROLES:
            raise HTTPException(422, f'role is one of {", ".join(ROLES)}')
        token, ident = tokens.create(course, role, learner)
        return {'token': token, 'course': course, 'role': role, 'learner': ident.learner}

    return app

