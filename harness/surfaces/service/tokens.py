"""Bearer tokens per course with a role and an expiry; only their SHA-256 is stored.

A token is 256 random bits, so a plain hash is enough (nothing to brute-force); a leaked table
gives no usable token.  A learner token names its learner: it sees only their submissions.  A
token stops working when it expires (``DAYS`` after it was made unless told otherwise) or when
``micrograde token --revoke`` revokes it.
"""
import hashlib
import re
import secrets
import time
from dataclasses import dataclass

from micrograde.surfaces.service.jobs import add_columns, connection

ROLES = ('staff', 'learner')
PREFIX = 'mg_'
DAYS = 180  # a course's length: a learner's token outlives a term only when staff say so
COURSE = r'^[A-Za-z0-9._-]{1,64}$'  # a course's name, as URLs carry it

SCHEMA = '''
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY,
    course TEXT NOT NULL,
    role TEXT NOT NULL,
    learner TEXT NOT NULL,
    created REAL NOT NULL
);
'''
#: Columns added since the first release (a token made before them expires DAYS after it was made).
ADDED = {'expires': 'REAL', 'revoked': 'REAL'}


@dataclass(frozen=True)
class Identity:
    course: str
    role: str
    learner: str

    @property
    def staff(self):
        return self.role == 'staff'


def _hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    def __init__(self, path):
        self.path = str(path)
        db = connection(self.path)
        db.executescript(SCHEMA)
        add_columns(db, 'tokens', ADDED)

    def create(self, course, role, learner=None, days=DAYS):
        """A new token (the only time it is seen in clear) and its identity; it works for
        ``days`` days."""
        if role not in ROLES:
            raise ValueError(f'role {role!r} is not one of {", ".join(ROLES)}')
        if not re.fullmatch(COURSE, course):
            raise ValueError(f'a course is 1 to 64 letters, digits, ".", "_" or "-", not {course!r}')
        learner = learner or (f'{role}-{secrets.token_hex(4)}')
        token = PREFIX + secrets.token_urlsafe(32)
        now = time.time()
        connection(self.path).execute(
            'INSERT INTO tokens (hash, course, role, learner, created, expires) VALUES (?,?,?,?,?,?)',
            (_hash(token), course, role, learner, now, now + days * 86400))
        return token, Identity(course, role, learner)

    def identify(self, token):
        """The identity of a token, or ``None`` (unknown, expired or revoked)."""
        row = connection(self.path).execute(
            'SELECT course, role, learner FROM tokens WHERE hash=? AND revoked IS NULL AND '
            'COALESCE(expires, created + ?) > ?', (_hash(token), DAYS * 86400, time.time())).fetchone()
        return Identity(*row) if row else None

    def revoke(self, token):
        """Revoke a token; its identity, or ``None`` when there is no such token."""
        db = connection(self.path)
        row = db.execute('SELECT course, role, learner FROM tokens WHERE hash=?',
                         (_hash(token),)).fetchone()
        if row:
            db.execute('UPDATE tokens SET revoked=COALESCE(revoked, ?) WHERE hash=?',
                       (time.time(), _hash(token)))
        return Identity(*row) if row else None
