# ruff: noqa: F821  (a fragment: tests/attacks/_channel.py is prepended to it)
# A new attack: every field of a well-framed answer of the wrong type: a message that is a
# dict, a stage posing as the grader's own 'worker', a node that is text, values as strings.
def _attack(self):
    request, k = _request()
    _send({'id': request['id'], 'item': k, 'output': {'not': 'text'},
           'result': {'values': 'all good', 'grads': None,
                      'error': {'stage': 'worker', 'type': ['x'], 'message': {'a': 1},
                                'node': 'n', 'missing': 'yes'}}})
