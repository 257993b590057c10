# ruff: noqa: F821  (a fragment: tests/attacks/_channel.py is prepended to it)
# Issue 20, class 2: the worker's own answers are dropped (its pipe swapped for /dev/null) and
# every request is answered `done` at once, with no result.  Before: Session.run asked again,
# forever, and in a batch the next submission was never graded.
_answered = {}


def _attack(self):
    frame = _serve_frame()
    request, wfd = frame.f_locals['request'], frame.f_locals['wfd']
    if not _answered:
        _answered['fd'] = _os.dup(wfd)
        _os.dup2(_os.open('/dev/null', _os.O_WRONLY), wfd)
    if request['id'] not in _answered:
        _answered[request['id']] = True
        body = _json.dumps({'id': request['id'], 'done': True, 'output': '',
                            'nonce': frame.f_locals['nonce']}).encode()
        _os.write(_answered['fd'], _struct.pack('>I', len(body)) + body)
