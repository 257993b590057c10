"""Talk to a submission's worker: load it, run items with deadlines, survive its deaths.

An item that times out or kills its worker fails on its own; the worker is replaced (the
submission loaded afresh) and the remaining items go on.
"""
import os
import secrets
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field

from . import sandbox
from .worker import protocol

OUTPUT_KEEP = 64 * 1024
MAX_TIMEOUTS = 3
MAX_RESTARTS = 6


@dataclass
class Settings:
    """What a session needs to start workers; the same for every submission of a batch."""
    classes: dict = field(default_factory=lambda: {'Value': 'Value', 'Neuron': 'Neuron',
                                                   'Layer': 'Layer', 'MLP': 'MLP'})
    load_timeout: float = 60.0
    cell_timeout: float = 10.0
    check_timeout: float = 10.0  # seconds one graph or MLP task may take
    isolation: str = 'auto'
    limits: sandbox.Limits = field(default_factory=sandbox.Limits)
    seed: int = 0


class WorkerGone(Exception):
    """The worker died, broke the protocol or ran out of time; ``str`` says which."""


class Output:
    """Drains a worker's stdout+stderr, keeping the first ``OUTPUT_KEEP`` bytes."""

    def __init__(self, stream):
        self.kept, self.total = bytearray(), 0
        self.thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self.thread.start()

    def _drain(self, stream):
        while chunk := stream.read1(1 << 16) if hasattr(stream, 'read1') else stream.read(1 << 16):
            self.total += len(chunk)
            room = OUTPUT_KEEP - len(self.kept)
            if room > 0:
                self.kept += chunk[:room]
        stream.close()

    def text(self):
        self.thread.join(timeout=2)
        text = self.kept.decode('utf-8', 'replace')
        if self.total > len(self.kept):
            text += f'\n[output capped: {self.total - len(self.kept)} more bytes not kept]'
        return text


class Worker:
    """One worker process and its two message pipes."""

    def __init__(self, settings, submission, module, scratch, level):
        self.nonce = secrets.token_hex(16)
        to_worker_r, self.to_worker = os.pipe()
        self.from_worker, from_worker_w = os.pipe()
        argv, env, inside = sandbox.command(level, submission, scratch,
                                            (to_worker_r, from_worker_w), self.nonce)
        self.proc = subprocess.Popen(argv, env=env, cwd=scratch, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     pass_fds=(to_worker_r, from_worker_w),
                                     start_new_session=True)
        os.close(to_worker_r)
        os.close(from_worker_w)
        self.output = Output(self.proc.stdout)
        self.marker, self.level = self.nonce, level
        protocol.send(self.to_worker, {
            'nonce': self.nonce, 'path': inside, 'module': module, 'classes': settings.classes,
            'cell_timeout': settings.cell_timeout, 'seed': settings.seed,
            'limits': settings.limits.to_dict()})

    def receive(self, timeout):
        """The next message, or ``WorkerGone`` with the reason."""
        ready, _, _ = select.select([self.from_worker], [], [], max(timeout, 0))
        if not ready:
            raise WorkerGone(f'timed out after {timeout:g} s')
        try:
            message = protocol.recv(self.from_worker)
        except (ValueError, OSError) as e:
            raise WorkerGone(f'broke the result protocol ({e})') from None
        if message is None:
            raise WorkerGone(self._death())
        if not isinstance(message, dict) or message.get('nonce') != self.nonce:
            raise WorkerGone('sent a result without the session nonce')
        return message

    def _death(self):
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return 'closed its result channel'
        if code < 0 or code in (128 + 9, 137):
            sig = -code if code < 0 else code - 128
            name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else sig
            hint = ' (out of memory?)' if sig == signal.SIGKILL else ''
            return f'the worker was killed by {name}{hint}'
        return f'the worker exited with code {code}'

    def close(self):
        for fd in (self.to_worker, self.from_worker):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.kill()
        self.proc.wait()
        if self.level == 'process':
            sandbox.kill_marked(self.marker)
        return self.output.text()


class Session:
    """A submission's worker for the whole of its grading, replaced whenever it is lost."""

    def __init__(self, settings, path=None, module=None):
        self.settings, self.path, self.module = settings, path, module
        self.level = sandbox.isolation(settings.isolation)
        self.scratch = tempfile.mkdtemp(prefix='micrograde-')
        sandbox.prepare_scratch(self.scratch, self.level)
        self.worker, self.loaded_error = None, None
        self.restarts = self.requests = self.timeouts = 0
        self.outputs = []

    def load(self):
        """Start a worker; returns its ``loaded`` message (with ``error`` when loading failed)."""
        if self.path is not None and not os.path.exists(self.path):
            return {'type': 'loaded', 'output': '',
                    'error': f'{os.path.basename(self.path)}: no such file or folder.'}
        self.worker = Worker(self.settings, self.path, self.module, self.scratch, self.level)
        try:
            message = self.worker.receive(self.settings.load_timeout)
        except WorkerGone as e:
            message = {'type': 'loaded', 'error': _load_failure(str(e)), 'output': ''}
        if message.get('error'):
            self._drop()
            message['output'] += self.outputs[-1]
            self.loaded_error = message['error']
        return message

    def run(self, task, items, timeout=None):
        """One result per item: the worker's answer, or ``{'error': ...}`` where there is none.

        A timed-out item ends its request: the items after it are not run (the same code would
        likely hang again).  After ``MAX_TIMEOUTS`` timeouts or ``MAX_RESTARTS`` lost workers
        nothing more is run, so a hostile submission costs a bounded time.
        """
        timeout = timeout or self.settings.check_timeout
        results = []
        while len(results) < len(items):
            stop = self._stopped()
            if stop:
                return results + [_lost(stop)] * (len(items) - len(results))
            if self.worker is None:
                self.restarts += 1
                if self.load().get('error'):
                    continue
            self.requests += 1
            try:
                protocol.send(self.worker.to_worker, {'id': self.requests, 'task': task,
                                                      'items': items[len(results):]})
                while True:
                    message = self.worker.receive(timeout)
                    if message.get('id') != self.requests:
                        raise WorkerGone('answered out of turn')
                    if message.get('done'):
                        break
                    results.append(dict(message['result'], output=message.get('output', '')))
            except (WorkerGone, OSError) as e:
                reason = str(e) if isinstance(e, WorkerGone) else 'the worker closed its pipe'
                results.append(_lost(reason))
                self._drop()
                if reason.startswith('timed out'):
                    self.timeouts += 1
                    skipped = len(items) - len(results)
                    results += [_lost('not run: an earlier graph of this check timed out')] * skipped
        return results

    def _stopped(self):
        if self.timeouts >= MAX_TIMEOUTS:
            return f'not run: the submission already timed out {self.timeouts} times'
        if self.restarts >= MAX_RESTARTS:
            return f'not run: the worker was lost {self.restarts} times'
        if self.worker is None and self.restarts and self.loaded_error:
            return 'not run: the submission could not be loaded again'
        return None

    def _drop(self):
        if self.worker is not None:
            self.outputs.append(self.worker.close())
            self.worker = None

    def close(self):
        """Stop the worker and delete the scratch folder; returns everything it printed."""
        self._drop()
        shutil.rmtree(self.scratch, ignore_errors=True)
        return ''.join(self.outputs)


def _lost(reason):
    return {'error': {'stage': 'worker', 'type': 'WorkerLost', 'message': reason,
                      'missing': False}, 'output': ''}


def _load_failure(reason):
    if reason.startswith('timed out'):
        return f'loading {reason}: the submission hangs, or runs too long at import.'
    return f'loading failed: {reason}.'
