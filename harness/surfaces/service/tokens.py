"""Bearer tokens per course with a role; only their SHA-256 is stored.

A token is 256 random bits, so a plain hash is enough (nothing to brute-force); a leaked table
gives no usable token.  A learner token names its learner: it sees only their submissions.
"""
import hashlib
import secrets
import time
from dataclasses import dataclass

from micrograde.surfaces.service.jobs import connection

ROLES = ('staff', 'learner')
PREFIX = 'mg_'

SCHEMA = '''
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY,
    course TEXT NOT NULL,
    role TEXT NOT NULL,
    learner TEXT NOT NULL,
    created REAL NOT NULL
);
'''


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
        connection(self.path).executescript(SCHEMA)

    def create(self, course, role, learner=None):
        """A new token (the only time it is seen in clear) and its identity."""
        if role not in ROLES:
            raise ValueError(f'role {role!r} is not one of {", ".join(ROLES)}')
        learner = learner or (f'{role}-{secrets.token_hex(4)}')
        token = PREFIX + secrets.token_urlsafe(32)
        connection(self.path).execute('INSERT INTO tokens VALUES (?,?,?,?,?)',
                                      (_hash(token), course, role, learner, time.time()))
        return token, Identity(course, role, learner)

    def identify(self, token):
        """The identity of a token, or ``None``."""
        row = connection(self.path).execute('SELECT course, role, learner FROM tokens WHERE hash=?',
                                            (_hash(token),)).fetchone()
        return Identity(*row) if row else None
