"""The job table: the source of truth for every submission the service accepted.

SQLite on the API host, in WAL mode so readers never wait for the one writer.  A job row keeps
the submission's bytes and, once graded, its report: if Redis loses its queue, nothing is lost
that this table cannot re-send (``pending`` jobs are the outbox the API dispatches from).
Events from workers are applied idempotently: a late or repeated event never undoes a report.
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
    UNIQUE (course, learner, fingerprint)
);
CREATE INDEX IF NOT EXISTS jobs_by_learner ON jobs (course, learner, created);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, dispatched);
'''

SUMMARY = ('id, course, learner, filename, status, attempts, worker, verdict, score, max_score, '
           'created, started, finished')


_local = threading.local()


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
        connection(self.path).executescript(SCHEMA)

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

    def submit(self, course, learner, filename, fingerprint, seed, profile, rubric, data):
        """``(job, created)``: a new queued job, or the learner's existing one with this
        fingerprint (an identical resubmission)."""
        with self._write() as db:
            row = self._find(db, course, learner, fingerprint)
            if row:
                return row, False
            job_id = uuid.uuid4().hex
            db.execute('INSERT INTO jobs (id, course, learner, filename, fingerprint, seed, profile, '
                       'rubric, data, created) VALUES (?,?,?,?,?,?,?,?,?,?)',
                       (job_id, course, learner, filename, fingerprint, seed, profile, rubric,
                        data, time.time()))
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
        query, args = f'SELECT {SUMMARY} FROM jobs WHERE id=?', [job_id]
        for column, value in (('course', course), ('learner', learner)):
            if value is not None:
                query += f' AND {column}=?'
                args.append(value)
        with self._db() as db:
            row = db.execute(query, args).fetchone()
        return dict(row) if row else None

    def listing(self, course, learner=None):
        query, args = f'SELECT {SUMMARY} FROM jobs WHERE course=?', [course]
        if learner is not None:
            query += ' AND learner=?'
            args.append(learner)
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

    def recent(self, course, learner, since):
        with self._db() as db:
            return db.execute('SELECT COUNT(*), MIN(created) FROM jobs WHERE course=? AND learner=? '
                              'AND created>=?', (course, learner, since)).fetchone()

    def counts(self):
        with self._db() as db:
            rows = db.execute('SELECT status, COUNT(*) FROM jobs GROUP BY status').fetchall()
        return {s: 0 for s in STATUSES} | {r[0]: r[1] for r in rows}

    def mean_seconds(self, last=50):
        """Mean start-to-finish time of the last graded jobs (for a Retry-After estimate)."""
        with self._db() as db:
            row = db.execute('SELECT AVG(finished - started) FROM (SELECT started, finished FROM jobs '
                             'WHERE finished IS NOT NULL AND started IS NOT NULL ORDER BY finished '
                             'DESC LIMIT ?)', (last,)).fetchone()
        return row[0]

    def pending(self, limit=20):
        """The oldest jobs accepted but not yet handed to the queue, with what a job carries."""
        with self._db() as db:
            return [dict(r) for r in db.execute(
                "SELECT id, filename, seed, profile, rubric, data FROM jobs WHERE status='queued' "
                'AND dispatched=0 ORDER BY created LIMIT ?', (limit,))]

    def dispatched(self, job_id):
        with self._write() as db:
            db.execute('UPDATE jobs SET dispatched=1 WHERE id=?', (job_id,))

    def started(self, job_id, attempt, worker, at):
        """A worker began an attempt; ignored once the job has its report."""
        with self._write() as db:
            db.execute("UPDATE jobs SET status='running', attempts=MAX(attempts, ?), worker=?, "
                       "started=? WHERE id=? AND status IN ('queued', 'running')",
                       (attempt, worker, at, job_id))

    def finished(self, job_id, status, attempts, report_json, verdict, score, max_score, at):
        """The job's report; the first one wins (grades are reproducible, a repeat is the same)."""
        with self._write() as db:
            db.execute('UPDATE jobs SET status=?, attempts=MAX(attempts, ?), report=?, verdict=?, '
                       "score=?, max_score=?, finished=? WHERE id=? AND status IN ('queued', 'running')",
                       (status, attempts, report_json, verdict, score, max_score, at, job_id))
