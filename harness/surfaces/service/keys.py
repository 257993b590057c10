"""The deployment's secrets and the state folder's modes.

The state folder holds every submission, every report, the token table and Redis's append-only
file: it is 0700 and what is in it 0600 (the programs of the service run with umask 077; the
SQLite file is made 0600 before SQLite opens it, and SQLite gives its WAL the file's mode).  Two
secrets are generated there on first use, each in a 0600 file: Redis's password (so a local user
who reaches the loopback port cannot read or write the queue) and the deployment key that signs
jobs (API -> workers) and events (workers -> API) with HMAC-SHA256, so that whoever can write to
Redis still cannot hand a worker a job or the API a report.
"""
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

FOLDER_MODE, FILE_MODE, UMASK = 0o700, 0o600, 0o077
REDIS_PASSWORD, DEPLOYMENT_KEY = 'redis.password', 'deployment.key'


def private_folder(path):
    """``path`` created if needed and made 0700."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=FOLDER_MODE)
    os.chmod(path, FOLDER_MODE)
    return path


def private_file(path):
    """``path`` created if needed and made 0600, with the SQLite files beside it (a state folder
    made by an older version had 0644 files)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    for name in (Path(path), *Path(path).parent.glob(Path(path).name + '-*')):
        os.chmod(name, FILE_MODE)
    return Path(path)


def write_private(path, text):
    """Write ``text`` to ``path``, a 0600 file whatever the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    with os.fdopen(fd, 'w') as out:
        out.write(text)


def secret(folder, name):
    """The secret kept in ``folder/name``, generated (256 random bits, 0600) the first time."""
    path = Path(folder, name)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        os.chmod(path, FILE_MODE)
        return read_secret(path)
    with os.fdopen(fd, 'w') as out:
        out.write(secrets.token_hex(32) + '\n')
    return read_secret(path)


def read_secret(path):
    text = Path(path).read_text().strip()
    if len(text) < 32:
        raise ValueError(f'{Path(path).name} holds no usable secret')
    return text


def _canonical(fields):
    return json.dumps(fields, sort_keys=True, separators=(',', ':')).encode()


def sign(key, *fields):
    """The HMAC-SHA256 of ``fields`` (JSON values) under the deployment ``key``."""
    return hmac.new(key.encode(), _canonical(fields), hashlib.sha256).hexdigest()


def signed(key, signature, *fields):
    """Whether ``signature`` is ``sign(key, *fields)``; any other value (forged, absent, not a
    string) is not."""
    try:
        expected = sign(key, *fields)
    except (TypeError, ValueError):
        return False
    return isinstance(signature, str) and hmac.compare_digest(signature, expected)


def digest(data):
    """What a signed job says of its bytes."""
    return hashlib.sha256(data).hexdigest()
