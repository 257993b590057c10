# ruff: noqa: F821  (a fragment: tests/attacks/_channel.py is prepended to it)
# Issue 20, class 6: the grader's paths as the sandbox shows them, printed in every encoding
# they come in: /proc/1/cmdline (NUL-separated, so repr shows each after a `\x00`), the mount
# table (octal escapes), and the same percent- and JSON-encoded, a different one at each
# backward() (each check keeps the output of its first graphs).  Before: the report held the
# home folder, the project's path and its virtual environment.
import json as _j
import urllib.parse as _u


def _read(path):
    try:
        with open(path, 'rb') as f:
            return f.read()
    except OSError:
        return b''


_SEEN = [_read('/proc/1/cmdline'), _read('/proc/self/mountinfo'), _read('/proc/self/cmdline')]
_SHOWN = [repr, lambda b: _u.quote(b), lambda b: _u.quote(b, safe=''),
          lambda b: _j.dumps(b.decode('latin-1')).replace('/', '\\/'),
          lambda b: b.replace(b'\0', b' ').decode('latin-1')]
_calls = [0]
print(repr(_SEEN[0]))


def _attack(self):
    k = _calls[0] = _calls[0] + 1
    seen = _SEEN[k % len(_SEEN)]
    print(_SHOWN[k % len(_SHOWN)](seen[(k // 15) * 2000 % max(len(seen), 1):][:6000]))
