# ruff: noqa: F821  (a fragment: tests/attacks/_channel.py is prepended to it)
# A new attack: answers for items never asked (index past the request), duplicated, for
# another request id, then the real answer goes on.  Before: an answer for an id the grader
# never sent was taken for a lost worker and the submission loaded again, six times over.
def _attack(self):
    request, k = _request()
    _send({'id': request['id'], 'item': k, 'result': {'values': [], 'grads': []}, 'output': ''})
    _send({'id': request['id'] + 7, 'item': len(request['items']) + 3,
           'result': {'values': [1.0], 'grads': [1.0]}, 'output': ''})
