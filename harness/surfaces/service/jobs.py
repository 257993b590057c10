"""The job table: the source of truth for every submission the service accepted.

SQLite on the API host, in WAL mode so readers never wait for the one writer.  A job row keeps
the submission's bytes and, once graded, its report: if Redis loses its queue, nothing is lost
that this table cannot re-send (jobs not handed over are the outbox the API dispatches from,
fairly between courses: ``next_pending``).
Events from workers are applied idempotently: a late or repeated event never undoes a report,
and an event of an earlier try of a job staff retried is ignored.  The table is 0600 in a 0700
folder (``keys``): it holds every submission and report.
"""
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager

STATUSES = ('queued', 'running', 'done', 'error')

SCHEMA = '''
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    course TEXT NOT NULL,
    learner TEXT NOT NULL,
    filename TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    seed INTEGER NOT NULL,
    profile TEXT NOT NULL,
    rubric TEXT NOT NULL,
    data BLOB NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued',
    dispatched INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    worker TEXT NOT NULL DEFAULT '',
    verdict TEXT,
    score REAL,
    max_score REAL,
    report TEXT,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    retry INTEGER NOT NULL DEFAULT 0,
    message TEXT,
    version TEXT NOT NULL DEFAULT '',
    UNIQUE (course, learner, fingerprint)
);
CREATE INDEX IF NOT EXISTS jobs_by_learner ON jobs (course, learner, created);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, dispatched);
CREATE TABLE IF NOT EXISTS roster (
    course TEXT NOT NULL,
    learner TEXT NOT NULL,
    section TEXT NOT NULL,
    PRIMARY KEY (course, learner)
);
'''

SUMMARY = ('id, course, learner, filename, status, attempts, retry, worker, verdict, score, '
           'max_score, version, created, started, finished')
#: Columns added since the first release: a table made by it gains them when it is opened.
ADDED = {'retry': 'INTEGER NOT NULL DEFAULT 0', 'message': 'TEXT',
         'version': "TEXT NOT NULL DEFAULT ''"}
CARRIED = 'id, retry, filename, seed, profile, rubric, version, data'  # what a dispatched job carries


_local = threading.local()


def add_columns(db, table, columns):
    """Add the ``{name: declaration}`` columns that ``table`` lacks."""
    have = {r[1] for r in db.execute(f'PRAGMA table_info({table})')}
    for name, declaration in columns.items():
        if name not in have:
            db.execute(f'ALTER TABLE {table} ADD COLUMN {name} {declaration}')


def connection(path):
    """This thread's connection to the database at ``path``, kept open: closing the last one
    checkpoints the WAL with an fsync, which cost every request 10 ms."""
    connections = _local.__dict__.setdefault('connections', {})
    if path not in connections:
        db = sqlite3.connect(path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute('PRAGMA journal_mode=WAL')
        db.execute('PRAGMA synchronous=NORMAL')
        connections[path] = db
    return connections[path]


class Jobs:
    """One SQLite file, one connection per thread, so any thread may use it."""

    def __init__(self, path):
        self.path = str(path)
        self.write_lock = threading.Lock()  # one writer in this process; SQLite serialises the rest
        db = connection(self.path)
        db.executescript(SCHEMA)
        add_columns(db, 'jobs', ADDED)

    @contextmanager
    def _db(self):
        yield connection(self.path)

    @contextmanager
    def _write(self):
        with self.write_lock, self._db() as db:
            db.execute('BEGIN IMMEDIATE')
            try:
                yield db
                db.execute('COMMIT')
            except BaseException:
                db.execute('ROLLBACK')
                raise

    def submit(self, course, learner, filename, fingerprint, seed, profile, rubric, data, version,
               admit=None):
        """``(job, created)``: a new queued job, or the learner's existing one with this
        fingerprint (an identical resubmission).  ``admit()``, if given, runs in the transaction
        that adds the job, before it is added (this thread's reads see every job added before,
        and no other can be added meanwhile): what it raises refuses the job."""
        with self._write() as db:
            row = self._find(db, course, learner, fingerprint)
            if row:
                return row, False
            if admit is not None:
                admit()
            job_id = uuid.uuid4().hex
            db.execute('INSERT INTO jobs (id, course, learner, filename, fingerprint, seed, profile, '
                       'rubric, data, version, created) VALUES (?,?,?,?,?,?,?,?,?,?,?)',
                       (job_id, course, learner, filename, fingerprint, seed, profile, rubric,
                        data, version, time.time()))
        return self.get(job_id), True

    def find(self, course, learner, fingerprint):
        """The learner's job with this fingerprint, or ``None``."""
        with self._db() as db:
            return self._find(db, course, learner, fingerprint)

    @staticmethod
    def _find(db, course, learner, fingerprint):
        row = db.execute(f'SELECT {SUMMARY} FROM jobs WHERE course=? AND learner=? AND fingerprint=?',
                         (course, learner, fingerprint)).fetchone()
        return dict(row) if row else None

    def get(self, job_id, course=None, learner=None):
        """The job's summary, or ``None`` (also when it is not this course's or learner's)."""
        query, args = _where(f'SELECT {SUMMARY} FROM jobs WHERE id=?', [job_id],
                             course=course, learner=learner)
        with self._db() as db:
            row = db.execute(query, args).fetchone()
        return dict(row) if row else None

    def listing(self, course, learner=None, status=None):
        query, args = _where(f'SELECT {SUMMARY} FROM jobs WHERE course=?', [course],
                             learner=learner, status=status)
        with self._db() as db:
            return [dict(r) for r in db.execute(query + ' ORDER BY created', args)]

    def report(self, job_id):
        """The stored report JSON text, or ``None`` while it is not graded."""
        with self._db() as db:
            row = db.execute('SELECT report FROM jobs WHERE id=?', (job_id,)).fetchone()
        return row['report'] if row else None

    def latest_reports(self, course):
        """``{learner: report JSON}``: each learner's latest graded submission (the gradebook)."""
        with self._db() as db:
            rows = db.execute('SELECT learner, report FROM jobs WHERE course=? AND report IS NOT '
                              'NULL ORDER BY created', (course,)).fetchall()
        return {r['learner']: r['report'] for r in rows}

    def latest_ids(self, course):
        """``{learner: job id}`` of the jobs ``latest_reports`` reads (the class page links them)."""
        with self._db() as db:
            rows = db.execute('SELECT learner, id FROM jobs WHERE course=? AND report IS NOT NULL '
                              'ORDER BY created', (course,)).fetchall()
        return {r['learner']: r['id'] for r in rows}

    def set_roster(self, course, sections):
        """The course's roster is ``{learner: section}`` from now on."""
        with self._write() as db:
            db.execute('DELETE FROM roster WHERE course=?', (course,))
            db.executemany('INSERT INTO roster (course, learner, section) VALUES (?,?,?)',
                           [(course, learner, section) for learner, section in sections.items()])

    def roster(self, course):
        """``{learner: section}`` of the course's roster (empty without one)."""
        with self._db() as db:
            return dict(db.execute('SELECT learner, section FROM roster WHERE course=? ORDER BY rowid',
                                   (course,)).fetchall())

    def recent(self, course, learner, since):
        with self._db() as db:
            return db.execute('SELECT COUNT(*), MIN(created) FROM jobs WHERE course=? AND learner=? '
                              'AND created>=?', (course, learner, since)).fetchone()

    def counts(self, course=None):
        """Jobs per status, of one course or of all."""
        where, args = ('WHERE course=?', (course,)) if course is not None else ('', ())
        with self._db() as db:
            rows = db.execute(f'SELECT status, COUNT(*) FROM jobs {where} GROUP BY status',
                              args).fetchall()
        return {s: 0 for s in STATUSES} | {r[0]: r[1] for r in rows}

    def mean_seconds(self, last=50):
        """Mean start-to-finish time of the last graded jobs (for a Retry-After estimate)."""
        with self._db() as db:
            row = db.execute('SELECT AVG(finished - started) FROM (SELECT started, finished FROM jobs '
                             'WHERE finished IS NOT NULL AND started IS NOT NULL ORDER BY finished '
                             'DESC LIMIT ?)', (last,)).fetchone()
        return row[0]

    def next_pending(self):
        """The next job to hand to the queue (accepted but not handed, or to be handed again),
        with what it carries, its course and learner: the oldest of the course with the fewest
        jobs in flight; ``None`` when there is none."""
        with self._db() as db:
            row = db.execute(
                "WITH flying AS (SELECT course, COUNT(*) AS n FROM jobs WHERE status IN ('queued', "
                "'running') AND dispatched=1 GROUP BY course) "
                f"SELECT {CARRIED}, j.course, j.learner FROM jobs j LEFT JOIN flying f ON "
                "f.course = j.course WHERE j.status IN ('queued', 'running') AND j.dispatched=0 "
                'ORDER BY COALESCE(f.n, 0), j.created LIMIT 1').fetchone()
        return dict(row) if row else None

    def counts_pending(self):
        """How many jobs wait to be handed to the queue."""
        with self._db() as db:
            return db.execute("SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running') "
                              'AND dispatched=0').fetchone()[0]

    def dispatched(self, job_id, message):
        """The job is in the queue as Redis's ``message``."""
        with self._write() as db:
            db.execute('UPDATE jobs SET dispatched=1, message=? WHERE id=?', (message, job_id))

    def in_flight(self):
        """Jobs handed to the queue and not graded: ``id``, ``retry``, ``message``, ``version``."""
        with self._db() as db:
            return [dict(r) for r in db.execute(
                "SELECT id, retry, message, version FROM jobs WHERE status IN ('queued', 'running') "
                'AND dispatched=1 AND message IS NOT NULL')]

    def lost(self, job_id):
        """The queue lost the job's message: hand it again (the first report still wins)."""
        with self._write() as db:
            db.execute("UPDATE jobs SET dispatched=0 WHERE id=? AND status IN ('queued', 'running')",
                       (job_id,))

    def started(self, job_id, retry, attempt, worker, at):
        """A worker began a run; ignored once the job has its report, or for an earlier try."""
        with self._write() as db:
            db.execute("UPDATE jobs SET status='running', attempts=MAX(attempts, ?), worker=?, "
                       "started=? WHERE id=? AND retry=? AND status IN ('queued', 'running')",
                       (attempt, worker, at, job_id, retry))

    def gave_way(self, job_id, retry):
        """A run was stopped and the job waits in the slow lane: queued again."""
        with self._write() as db:
            db.execute("UPDATE jobs SET status='queued' WHERE id=? AND retry=? AND status='running'",
                       (job_id, retry))

    def finished(self, job_id, retry, status, attempts, report_json, verdict, score, max_score, at):
        """The job's report; the first one wins (grades are reproducible, a repeat is the same).
        Whether it was taken."""
        with self._write() as db:
            return db.execute(
                'UPDATE jobs SET status=?, attempts=MAX(attempts, ?), report=?, verdict=?, score=?, '
                "max_score=?, finished=? WHERE id=? AND retry=? AND status IN ('queued', 'running')",
                (status, attempts, report_json, verdict, score, max_score, at, job_id,
                 retry)).rowcount == 1

    def retry(self, job_id, course):
        """Grade an ``error`` job again (a new try: events of the last one are ignored); the
        job, or ``None`` when the course has no such failed job."""
        with self._write() as db:
            changed = db.execute(
                "UPDATE jobs SET status='queued', retry=retry+1, dispatched=0, message=NULL, "
                "attempts=0, worker='', report=NULL, verdict=NULL, score=NULL, max_score=NULL, "
                "started=NULL, finished=NULL WHERE id=? AND course=? AND status='error'",
                (job_id, course)).rowcount
        return self.get(job_id) if changed else None

    def prune(self, before):
        """Delete the jobs graded before ``before`` (a time), except each learner's latest
        graded one (the gradebook's); how many went."""
        with self._write() as db:
            return db.execute(
                "DELETE FROM jobs WHERE status IN ('done', 'error') AND finished < ? AND id NOT IN "
                "(SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY course, learner "
                "ORDER BY created DESC) AS n FROM jobs WHERE report IS NOT NULL) WHERE n = 1)",
                (before,)).rowcount

    def outstanding(self, course, learner):
        """How many of a learner's jobs wait or run."""
        with self._db() as db:
            return db.execute("SELECT COUNT(*) FROM jobs WHERE course=? AND learner=? AND status IN "
                              "('queued', 'running')", (course, learner)).fetchone()[0]

    def grading_seconds(self, course, learner, since):
        """Seconds of grading a learner's jobs took since ``since`` (fairness)."""
        with self._db() as db:
            return db.execute('SELECT COALESCE(SUM(finished - started), 0) FROM jobs WHERE course=? '
                              'AND learner=? AND finished >= ? AND started IS NOT NULL',
                              (course, learner, since)).fetchone()[0]


def _where(query, args, **columns):
    """``query`` and ``args`` narrowed by each of ``columns`` given (``None``: any); the column
    names are this module's own, only the values are parameters."""
    for column, value in columns.items():
        if value is not None:
            query += f' AND {column}=?'
            args = [*args, value]
    return query, args
