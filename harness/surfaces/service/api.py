"""The HTTP API (FastAPI): upload a submission, follow its job, fetch its reports.

A job is written to the SQLite table first and handed to the queue after (the table is an
outbox: a job the queue did not take, because Redis was away or the API stopped, is handed again
by the dispatcher).  Workers' events come back through the ``events`` queue and are applied here.
"""
import json
import math
import re
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dramatiq
import redis
from fastapi import Depends, FastAPI, File, Form, HTTPException, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jinja2 import Environment, PackageLoader, select_autoescape

from micrograde.surfaces.service import grader
from micrograde.surfaces.service.jobs import Jobs
from micrograde.surfaces.service.tasks import EVENTS, POLL_MS, Queue
from micrograde.surfaces.service.tokens import ROLES, Tokens

DISPATCH_SECONDS = 2.0
NAME = re.compile(r'[^A-Za-z0-9._-]+')
COURSE = r'^[A-Za-z0-9._-]{1,64}$'


@dataclass
class ServiceConfig:
    """Where the state lives, which Redis, the limits and what decides a grade."""
    state: Path
    broker: str
    upload_limit: int = 8 * 2**20        # bytes of one upload; 413 past it
    rate_count: int = 20                 # submissions a learner may make per window; 429 past it
    rate_window: float = 3600.0
    max_queued: int = 500                # queued jobs before new uploads get 503 + Retry-After
    seed: int = 0
    profile: str = 'standard'
    rubric: str = field(default_factory=grader.rubric_text)

    @property
    def database(self):
        return Path(self.state, 'service.sqlite3')


class UploadLimit:
    """ASGI middleware: a request body past ``limit`` bytes is answered 413 before it is stored,
    whether the client announced its length or not."""

    def __init__(self, app, limit):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope['type'] != 'http' or scope['method'] != 'POST':
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


def create_app(config):
    """The FastAPI application over ``config``'s state and broker."""
    Path(config.state).mkdir(parents=True, exist_ok=True)
    grader.suffixes()  # import the grader (torch) now, not at the first upload
    jobs, tokens = Jobs(config.database), Tokens(config.database)
    pages = Environment(loader=PackageLoader('micrograde.surfaces.service'), autoescape=select_autoescape())

    def record(job_id, kind, attempt, worker, at, report=None):
        """The ``event`` actor: apply a worker's event to the job table."""
        if kind == 'started':
            jobs.started(job_id, attempt, worker, at)
        else:
            jobs.finished(job_id, 'error' if grader.is_error(report) else 'done', attempt,
                          json.dumps(report), report['verdict'], report['score'],
                          report['max_score'], at)

    queue = Queue(config.broker, record)
    dispatch_lock = threading.Lock()

    def dispatch():
        """Hand every accepted job the queue does not have yet to the queue."""
        with dispatch_lock:
            while batch := jobs.pending():
                for job in batch:
                    try:
                        queue.submit(job)
                    except redis.RedisError:
                        return  # Redis away: the dispatcher tries again
                    jobs.dispatched(job['id'])

    @asynccontextmanager
    async def lifespan(app):
        events = dramatiq.Worker(queue.broker, queues={EVENTS}, worker_threads=1,
                                 worker_timeout=POLL_MS)
        events.start()
        stop = threading.Event()

        def dispatcher():
            while not stop.wait(DISPATCH_SECONDS):
                dispatch()
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

    def identity(course: str, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)):
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

    def any_token(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)):
        if not credentials or tokens.identify(credentials.credentials) is None:
            raise HTTPException(401, 'a valid bearer token is needed', {'WWW-Authenticate': 'Bearer'})

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

    def backlog():
        """``Retry-After`` seconds when too many jobs wait, else ``None``."""
        queued = jobs.counts()['queued']
        if queued < config.max_queued:
            return None
        per_job = jobs.mean_seconds() or 5.0
        alive = max(queue.workers_alive(), 1)
        return min(max(math.ceil(queued * per_job / alive), 1), 600)

    @app.get('/v1/health')
    def health():
        """Liveness: the API answers; whether it reaches Redis."""
        return {'ok': True, 'redis': queue.ping()}

    @app.get('/v1/queue', dependencies=[Depends(any_token)])
    def queue_state():
        """Jobs per status and the workers alive (any valid token)."""
        counts = jobs.counts()
        try:
            alive = queue.workers_alive()
        except redis.RedisError:
            alive = None
        return {'queued': counts['queued'], 'running': counts['running'], 'done': counts['done'],
                'error': counts['error'], 'workers': alive}

    @app.post('/v1/courses/{course}/submissions', status_code=202)
    def submit(course: str, file: UploadFile = File(..., description='a .py, .ipynb or .zip'),
               who=Depends(identity)):
        """Upload a submission.  202 with the new job; 200 with the existing job when the same
        learner sent the same content before; 413 past the size cap; 429 past the learner's rate
        limit; 503 with Retry-After when the queue is full."""
        filename = NAME.sub('_', Path(file.filename or '').name)[-100:].lstrip('.')
        if not filename.lower().endswith(grader.suffixes()):
            raise HTTPException(415, f'a submission is a {", ".join(grader.suffixes())} file')
        data = file.file.read(config.upload_limit + 1)
        if len(data) > config.upload_limit:
            raise HTTPException(413, f'upload larger than {config.upload_limit} bytes')
        print_ = grader.fingerprint(filename, data, config.seed, config.profile, config.rubric)
        existing = jobs.find(course, who.learner, print_)
        if existing:
            return JSONResponse(shown(existing, who), status_code=200)
        now = time.time()
        if not who.staff:
            count, first = jobs.recent(course, who.learner, now - config.rate_window)
            if count >= config.rate_count:
                wait = math.ceil(first + config.rate_window - now)
                raise HTTPException(429, f'at most {config.rate_count} submissions per '
                                    f'{config.rate_window:g} s', {'Retry-After': str(max(wait, 1))})
        wait = backlog()
        if wait is not None:
            raise HTTPException(503, 'the grading queue is full; try again later',
                                {'Retry-After': str(wait)})
        job, created = jobs.submit(course, who.learner, filename, print_, config.seed,
                                   config.profile, config.rubric, data)
        if created:
            dispatch()
        return JSONResponse(shown(job, who), status_code=202 if created else 200)

    @app.get('/v1/courses/{course}/submissions')
    def listing(course: str, who=Depends(identity)):
        """Staff: every submission of the course; a learner: their own."""
        return [shown(j, who) for j in jobs.listing(course, None if who.staff else who.learner)]

    @app.get('/v1/courses/{course}/submissions/{job_id}')
    def status(course: str, job_id: str, who=Depends(identity)):
        """A job: status (queued, running, done, error), attempts, verdict, score, links."""
        return shown(visible(course, job_id, who), who)

    @app.get('/v1/courses/{course}/submissions/{job_id}/{name}')
    def report(course: str, job_id: str, name: str, who=Depends(identity)):
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
    def gradebook(course: str):
        """Staff: one row per learner (their latest graded submission)."""
        return Response(grader.gradebook(jobs.latest_reports(course)), media_type='text/csv')

    @app.get('/v1/courses/{course}/class', response_class=HTMLResponse, dependencies=[Depends(staff)])
    def class_page(course: str):
        """Staff: the class table as a page."""
        latest = jobs.latest_reports(course)
        return pages.get_template('class.html').render(course=course, rows=grader.table(latest),
                                                       pictures=grader.class_page(latest),
                                                       submissions=jobs.listing(course))

    @app.post('/v1/courses/{course}/tokens', status_code=201)
    def new_token(course: str, role: str = Form('learner'), learner: str | None = Form(None),
                  who=Depends(staff)):
        """Staff: a new token for this course (shown once)."""
        if role not in ROLES:
            raise HTTPException(422, f'role is one of {", ".join(ROLES)}')
        token, ident = tokens.create(course, role, learner)
        return {'token': token, 'course': course, 'role': role, 'learner': ident.learner}

    return app

