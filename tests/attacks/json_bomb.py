# ruff: noqa: F821  (a fragment: tests/attacks/_channel.py is prepended to it)
# A new attack: a well-framed answer of arrays nested 200 000 deep (json.loads raises
# RecursionError, which the grader did not catch: a grader crash).
def _attack(self):
    _send(b'[' * 200_000 + b']' * 200_000, nonce=False)
