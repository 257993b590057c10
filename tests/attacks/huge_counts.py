# ruff: noqa: F821  (a fragment: tests/attacks/_channel.py is prepended to it)
# A new attack: a result with 200 000 values, gradients and call-order entries for a graph
# of a few entries, and a `walks` count past any integer the grader would store.
def _attack(self):
    request, k = _request()
    _send({'id': request['id'], 'item': k, 'output': '',
           'result': {'values': [0.0] * 200_000, 'grads': [0.0] * 200_000,
                      'order': list(range(200_000)), 'walks': 10 ** 30}})
