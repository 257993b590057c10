"""Length-prefixed JSON messages on a pair of pipes, apart from stdout and stderr.

What a submission prints can therefore never pose as a result; each message the worker sends
also carries the nonce the grader gave it.  JSON (never pickle) keeps the grader from running
anything the worker sends.
"""
import json
import os
import struct

HEADER = struct.Struct('>I')
MAX_MESSAGE = 64 * 2**20


def encode(obj):
    data = json.dumps(obj, separators=(',', ':')).encode()
    return HEADER.pack(len(data)) + data


def send(fd, obj):
    data = encode(obj)
    view = memoryview(data)
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


def recv(fd):
    """The next message from ``fd``, or ``None`` when the other side has gone."""
    head = read_exact(fd, HEADER.size)
    if head is None:
        return None
    (size,) = HEADER.unpack(head)
    if size > MAX_MESSAGE:
        raise ValueError(f'message of {size} bytes is over the limit')
    body = read_exact(fd, size)
    return None if body is None else json.loads(body)
