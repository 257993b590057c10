"""Length-prefixed messages on a pair of pipes, apart from stdout and stderr.

What a submission prints can therefore never pose as a result; each message the worker sends
also carries the nonce the grader gave it.  The two directions differ in whom they trust:

* the worker's answers (``send``/``recv``) are JSON, never pickle: the grader runs nothing the
  worker sends;
* the grader's requests (``ask``/``asked``) are pickled: only the worker unpickles them, and it
  trusts its grader.  Pickle is ~3x faster than JSON both ways on the large graphs (a
  5000-node chain, an MLP's parameter sets), which a worker reads for every submission.
"""
import json
import os
import pickle
import struct

HEADER = struct.Struct('>I')
MAX_MESSAGE = 64 * 2**20


def send(fd, obj):
    """An answer to the grader, as JSON."""
    _write(fd, json.dumps(obj, separators=(',', ':')).encode())


def recv(fd):
    """The next answer from ``fd``, or ``None`` when the worker has gone."""
    body = _read(fd)
    return None if body is None else json.loads(body)


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
