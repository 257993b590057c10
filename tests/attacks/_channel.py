# The worker's answer channel, as a submission inside the worker can reach it: the serve
# loop's frame holds the pipe it writes to, the nonce and the request being answered.
# Prepended to each attack in this folder (tests/test_protocol_attacks.py).
import json as _json
import os as _os
import struct as _struct
import sys as _sys


def _serve_frame():
    frame = _sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == 'serve' and 'wfd' in frame.f_locals:
            return frame
        frame = frame.f_back
    raise RuntimeError('no serve loop above')


def _raw(data):
    """Bytes straight onto the answer pipe."""
    fd = _serve_frame().f_locals['wfd']
    while data:
        data = data[_os.write(fd, data):]


def _send(message, nonce=True):
    """One well-framed message, with the session's nonce unless told otherwise."""
    frame = _serve_frame()
    if nonce:
        message = dict(message, nonce=frame.f_locals['nonce'])
    body = message if isinstance(message, bytes) else _json.dumps(message).encode()
    _raw(_struct.pack('>I', len(body)) + body)


def _request():
    """The request being answered, and the index of the item being run."""
    frame = _serve_frame()
    return frame.f_locals.get('request'), frame.f_locals.get('k')


def _loaded():
    """The loader's record of the submission (its warnings, ...), while it loads."""
    frame = _sys._getframe(0)
    while frame is not None:
        if type(frame.f_locals.get('loaded')).__name__ == 'Loaded':
            return frame.f_locals['loaded']
        frame = frame.f_back
