"""Length-prefixed messages on a pair of pipes, apart from stdout and stderr.

What a submission prints can therefore never pose as a result; each message the worker sends
also carries the nonce the grader gave it.  The two directions differ in whom they trust:

* the worker's answers are JSON, never pickle: the grader runs nothing the worker sends, and
  reads it under a deadline and a size limit, since the submission runs in the worker and can
  write anything on its pipe (half a message, then nothing).  Each is sealed (``seal``: an HMAC
  over its sequence number and bytes, with a key only the grader and the worker's audit hook
  hold, ``guard.py``), so ``recv`` tells an answer the worker sent from one the submission
  wrote to the channel itself;
* a list of floats in an answer travels as its doubles' bytes (``pack``: ``{"f64": base64}``,
  read back by ``unpack``): writing and reading a float's JSON text costs ~1 µs, and a grade
  sends ~40 000 of them (a 5000-node chain's values and gradients, an MLP's finite differences);
  NaN and the infinities travel exactly;
* the grader's requests (``ask``/``asked``) are pickled: only the worker unpickles them, and it
  trusts its grader.  Pickle is ~3x faster than JSON both ways on the large graphs (a
  5000-node chain, an MLP's parameter sets), which a worker reads for every submission.  The
  grader writes them under a deadline too: a worker that stops reading must not block it.
"""
import hmac
import json
import os
import pickle
import select
import struct
import sys
import time
from array import array
from binascii import Error as Base64Error
from binascii import a2b_base64, b2a_base64
from marshal import dumps as marshalled

HEADER = struct.Struct('>I')
MAX_MESSAGE = 64 * 2**20  # a request (a 20 000-node chain is ~1 MB)
MAX_ANSWER = 8 * 2**20    # an answer: a 20 000-node chain's values and gradients are ~1.5 MB
SEAL = 32  # bytes of HMAC-SHA256 before each answer's JSON
#: Seconds a message begun before its deadline may take to finish: our worker writes a message
#: at once, so one still unfinished by then was cut short on purpose.
GRACE = 5.0


class Broken(ValueError):
    """What came on the pipe is no message of the protocol; ``str`` says what it was."""


class Unsealed(ValueError):
    """An answer the worker's hook did not seal: something else wrote to the channel."""


def seal(key, seq, body):
    """The seal of the ``seq``-th answer (from 0), whose JSON is ``body``."""
    return hmac.digest(key, seq.to_bytes(8, 'big') + body, 'sha256')


def recv(fd, deadline, key, seq):
    """The ``seq``-th answer from ``fd`` (any JSON value), its seal checked with ``key``, or
    ``None`` when the worker has gone.

    ``deadline`` (``time.monotonic()``) bounds every read: ``TimeoutError`` when nothing came by
    then; ``Broken`` for a message over ``MAX_ANSWER``, cut short, or not JSON; ``Unsealed`` for
    one the worker's hook did not seal."""
    head = _read_exact(fd, HEADER.size, deadline)
    if head is None:
        return None
    (size,) = HEADER.unpack(head)
    if size > MAX_ANSWER + SEAL:
        raise Broken(f'announced a message of {size} bytes (at most {MAX_ANSWER})')
    message = _read_exact(fd, size, deadline, started=True)
    if message is None:
        return None  # died while writing (killed for its memory): lost, not forged
    mark, body = message[:SEAL], message[SEAL:]
    if not hmac.compare_digest(mark, seal(key, seq, body)):
        raise Unsealed('an answer the worker did not seal')
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as e:  # RecursionError: arrays nested 100 000 deep
        raise Broken(f'sent a message that is not JSON ({type(e).__name__})') from None


F64 = 'f64'
FLOATS = frozenset({float})  # the types in a list of floats (``pack``; the grader reads it the same way)
PACKED = 8  # a list shorter than this stays JSON
DEEPEST = 32  # containers nested deeper in an answer travel as null (ours nest 4 deep)
LITTLE = sys.byteorder == 'little'
#: An exact builtin a subclass of it is copied to, by the builtin's own C method: a numpy
#: float64 is its float, a str subclass its text, without calling a method of the subclass's.
COPIES = ((float, float.__float__), (int, int.__index__), (str, str.__str__))
_KEYS = (str, int, float, bool)  # what a JSON object's key may be made of (``plain``'s keys)


def message(fields, loaded=False):
    """An answer as it travels: ``plain`` data, its ``result``'s lists of floats packed.  The
    guard's hook calls this on its private copy of this module's functions (``guard.install``),
    as it seals: nothing of the submission's runs between the two.  ``loaded``: its result made
    by ``marshal.loads`` (an item's frozen answer), exact builtins already; the other fields are
    not (a request's id, which a request channel the submission replaced hands the serve loop:
    a dict subclass's ``items()`` ran inside the hook, ``request_id``)."""
    if loaded:  # only the result was: the rest (a request's id) as any other answer's
        fields = {k: v if k == 'result' else plain(v) for k, v in fields.items()}
    else:
        try:  # nearly every answer is plain already: marshal, in C, takes only exact builtins and
            marshalled(fields)  # C types with a buffer (numpy's float64), which no method of Python's reads
        except ValueError:
            fields = plain(fields)
    result = fields.get('result')
    if type(result) is dict:
        fields['result'] = pack(result)
    return fields


def plain(x, depth=0):
    """``x`` rebuilt of exact JSON types (str, float, int, bool, None, list, dict),
    reading only through C: a subclass of a number or a string is copied to its builtin, and
    anything else (a dict subclass, whose ``items()`` the JSON encoder would call; a container
    nested over ``DEEPEST``) is ``None``.  What the submission made is thus never asked
    anything (an ``__eq__``, ``__class__`` or ``items()`` of its own) while an answer is sealed."""
    kind = type(x)
    if kind is float or kind is str or kind is int or kind is bool or x is None:
        return x
    if depth >= DEEPEST:
        return None
    if kind is list or kind is tuple:
        if all(issubclass(type(v), float) for v in x):  # numpy's float64: read in C by array
            return array('d', x).tolist()
        return [plain(v, depth + 1) for v in x]
    if kind is dict:
        keys = [(plain(k, DEEPEST), v) for k, v in x.items()]
        return {k: plain(v, depth + 1) for k, v in keys if type(k) in _KEYS}
    for base, copy in COPIES:
        if issubclass(kind, base):
            return copy(x)
    return None


OUTPUT_CAP = 8192  # bytes of what the submission printed kept per answer


def taken(kept, dropped):
    """What the submission printed since the last answer, from the capture's own ``bytearray``
    and its ``array`` counting bytes beyond ``OUTPUT_CAP`` (``serve.CappedBytes``), which
    are emptied.  Only their C methods run: no stream method the submission could replace."""
    more = dropped[0] + max(0, len(kept) - OUTPUT_CAP)
    text = kept[:OUTPUT_CAP].decode('utf-8', 'replace')
    if more:
        text += f'\n[... {more} more bytes not kept]'
    del kept[:]
    dropped[0] = 0
    return text


def pack(result):
    """``result`` (a task's answer: a dict) with each list of floats as its packed doubles."""
    return {k: {F64: _doubles(v)} if type(v) is list and len(v) >= PACKED and
            set(map(type, v)) == FLOATS else v for k, v in result.items()}


def _doubles(floats):
    packed = array('d', floats)
    if not LITTLE:
        packed.byteswap()
    return b2a_base64(packed.tobytes(), newline=False).decode('ascii')


def unpack(text, most):
    """The floats of a packed list (``pack``), at most ``most``; ``ValueError`` saying what is
    wrong with it otherwise."""
    if type(text) is not str or len(text) > (most * 8 + 2) // 3 * 4:
        raise ValueError('is not packed doubles, or more of them than asked for')
    try:
        data = a2b_base64(text, strict_mode=True)
    except Base64Error:
        raise ValueError('is not base64') from None
    if len(data) % 8:
        raise ValueError('is not a whole number of doubles')
    floats = array('d')
    floats.frombytes(data)
    if not LITTLE:
        floats.byteswap()
    return floats.tolist()


def ask(fd, obj, deadline=None):
    """A request to the worker, pickled; with a ``deadline``, ``TimeoutError`` once it passes
    with the request not yet all read by the worker."""
    _write(fd, pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL), deadline)


def asked(fd):
    """The next request from the grader, or ``None`` when it has hung up."""
    head = _read_exact(fd, HEADER.size)
    if head is None:
        return None
    (size,) = HEADER.unpack(head)
    if size > MAX_MESSAGE:
        raise ValueError(f'message of {size} bytes is over the limit')
    body = _read_exact(fd, size)
    return None if body is None else pickle.loads(body)


def _write(fd, data, deadline=None):
    view = memoryview(HEADER.pack(len(data)) + data)
    if deadline is not None:
        os.set_blocking(fd, False)  # a write may then never wait past the deadline
    while view:
        if deadline is not None:
            _wait(fd, deadline, write=True)
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            pass


def _read_exact(fd, n, deadline=None, started=False):
    """``n`` bytes from ``fd``, or ``None`` at end of file; with a ``deadline``, every read
    waits at most until then (``GRACE`` more once part of a message is in).  Read into one
    buffer of ``n`` bytes: a worker writing its answer two bytes at a time had the grader keep
    a bytes object for each (~24 times the answer: 8 MB held 200 MB)."""
    buffer, got = bytearray(n), 0
    with memoryview(buffer) as view:
        while got < n:
            if deadline is not None:
                begun = started or got > 0
                try:
                    _wait(fd, deadline + GRACE if begun else deadline)
                except TimeoutError:
                    if begun:
                        raise Broken('sent part of a message, then nothing') from None
                    raise
            read = os.readv(fd, [view[got:got + (1 << 20)]])
            if not read:
                return None
            got += read
    return bytes(buffer)


def _wait(fd, deadline, write=False):
    """Until ``fd`` can be read (or written) without blocking; ``TimeoutError`` past
    ``deadline``."""
    poller = select.poll()  # not select(): it raises for a descriptor numbered 1024 or more
    poller.register(fd, select.POLLOUT if write else select.POLLIN)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        if poller.poll(left * 1000):  # ready, or at its end (POLLHUP, POLLERR): the read says
            return
