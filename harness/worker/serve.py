"""The serve loop: load one submission, then answer the grader's requests until it hangs up.

The first message from the grader says what to load and carries the nonce every answer must
repeat.
"""
import io
import os
import random
import resource
import sys
import time

from . import protocol
from .execute import Backend, run_graph
from .load import LoadError, load
from .mlp import run_mlp

OUTPUT_CAP = 8192


class Capture(io.TextIOBase):
    """Keeps the first ``OUTPUT_CAP`` characters written and counts the rest."""

    def __init__(self):
        self.parts, self.size, self.dropped = [], 0, 0

    def writable(self):
        return True

    def write(self, s):
        s = str(s)
        room = OUTPUT_CAP - self.size
        if room > 0:
            self.parts.append(s[:room])
            self.size += min(room, len(s))
        self.dropped += max(0, len(s) - max(room, 0))
        return len(s)

    def take(self):
        text = ''.join(self.parts)
        if self.dropped:
            text += f'\n[... {self.dropped} more characters not kept]'
        self.parts, self.size, self.dropped = [], 0, 0
        return text


LIMITS = {'memory': resource.RLIMIT_AS, 'cpu_seconds': resource.RLIMIT_CPU,
          'processes': resource.RLIMIT_NPROC, 'file_size': resource.RLIMIT_FSIZE,
          'open_files': resource.RLIMIT_NOFILE}


def limit(limits):
    """Apply the grader's resource limits to this process (and so to all it starts)."""
    for name, value in limits.items():
        try:
            resource.setrlimit(LIMITS[name], (value, value))
        except (ValueError, OSError, KeyError):
            pass
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def serve(rfd, wfd):
    """Load the submission the grader names, then answer its requests until it hangs up."""
    hello = protocol.recv(rfd)
    nonce = hello['nonce']
    limit(hello.get('limits', {}))
    capture = Capture()
    sys.stdout = sys.stderr = capture
    sys.stdin = io.StringIO()

    def reply(**fields):
        protocol.send(wfd, dict(fields, nonce=nonce, output=capture.take()))

    random.seed(hello.get('seed', 0))
    started = time.perf_counter()
    try:
        loaded = load(hello.get('path'), hello.get('module'), hello.get('cell_timeout', 10.0),
                      os.getcwd(), hello.get('load_budget'))
    except LoadError as e:
        return reply(type='loaded', error=str(e))
    except BaseException as e:  # the loader's own guard: a report, never a silent death
        return reply(type='loaded', error=f'{type(e).__name__} while loading: {e}')
    found = loaded.find(hello['classes'])
    classes = {role: cls for role, (cls, _) in found.items()}
    reply(type='loaded', warnings=loaded.warnings, seconds=time.perf_counter() - started,
          classes={role: origin for role, (_, origin) in found.items()})
    if 'Value' not in classes:
        return
    backend = Backend(classes['Value'], loaded.own)
    while True:
        request = protocol.recv(rfd)
        if request is None:
            return
        for k, item in enumerate(request['items']):
            random.seed(hello.get('seed', 0))
            if request['task'] == 'graph':
                result = run_graph(item['graph'], backend, item.get('backward', 1),
                                   item.get('instrument', False))
            else:
                result = run_mlp(classes, item, loaded.own)
            reply(id=request['id'], item=k, result=result)
        reply(id=request['id'], done=True)
