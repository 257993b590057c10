"""Length-prefixed messages on a pair of pipes, apart from stdout and stderr.

What a submission prints can therefore never pose as a result; each message the worker sends
also carries the nonce the grader gave it.  The two directions differ in whom they trust:

* the worker's answers are JSON, never pickle: the grader runs nothing the worker sends.  Each
  is sealed (``seal``: an HMAC over its sequence number and bytes, with a key only the grader
  and the worker's audit hook hold, ``guard.py``), so ``recv`` tells an answer the worker sent
  from one the submission wrote to the channel itself;
* the grader's requests (``ask``/``asked``) are pickled: only the worker unpickles them, and it
  trusts its grader.  Pickle is ~3x faster than JSON both ways on the large graphs (a
  5000-node chain, an MLP's parameter sets), which a worker reads for every submission.
"""
import hmac
import json
import os
import pickle
import struct

HEADER = struct.Struct('>I')
MAX_MESSAGE = 64 * 2**20
SEAL = 32  # bytes of HMAC-SHA256 before each answer's JSON


class Unsealed(ValueError):
    """An answer the worker's hook did not seal: something else wrote to the channel."""


def seal(key, seq, body):
    """The seal of the ``seq``-th answer (from 0), whose JSON is ``body``."""
    return hmac.digest(key, seq.to_bytes(8, 'big') + body, 'sha256')


def recv(fd, key, seq):
    """The ``seq``-th answer from ``fd``, its seal checked with ``key``; ``None`` when the
    worker has gone."""
    message = _read(fd)
    if message is None:
        return None
    mark, body = message[:SEAL], message[SEAL:]
    if not hmac.compare_digest(mark, seal(key, seq, body)):
        raise Unsealed('an answer the worker did not seal')
    return json.loads(body)


def ask(fd, obj):
    """A request to the worker, pickled."""
    _write(fd, pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def asked(fd):
    """The next request from the grader, or ``None`` when it has hung up."""
    body = _read(fd)
    return None if body is None else pickle.loads(body)


def _write(fd, data):
    view = memoryview(HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def read_exact(fd, n):
    """``n`` bytes from ``fd``, or ``None`` at end of file."""
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b''.join(chunks)


def _read(fd):
    head = read_exact(fd, HEADER.size)
    if head is None:
        return None
    (size,) = HEADER.unpack(head)
    if size > MAX_MESSAGE:
        raise ValueError(f'message of {size} bytes is over the limit')
    return read_exact(fd, size)
