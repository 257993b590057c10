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

from micrograde.isolate import sandbox
from micrograde.isolate.answers import RESULTS, Failure, Loaded
from micrograde.load.cells import notebook_cells
from micrograde.isolate.allowlist import ALLOWED_IMPORTS
from micrograde.worker import protocol
from micrograde.worker.load.errors import LoadError

OUTPUT_KEEP = 64 * 1024
MAX_STRIKES = 3  # timeouts or memory exhaustion before nothing more is run
MAX_RESTARTS = 6


class WorkerGone(Exception):
    """The worker died, broke the protocol or ran out of time; ``str`` says which."""


class Exhausted(Exception):
    """The worker answered, but ran out of a resource: do not ask it for more."""


class Output:
    """Drains a worker's stdout+stderr, keeping the first ``OUTPUT_KEEP`` bytes, until the
    end of the stream or ``stop()``."""

    def __init__(self, stream):
        self.kept, self.total = bytearray(), 0
        self.wake, self._woken = os.pipe()
        self.thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self.thread.start()

    def _drain(self, stream):
        fd = stream.fileno()
        try:
            while True:
                ready, _, _ = select.select([fd, self.wake], [], [])
                if fd not in ready:  # stopped: take what is written already, then no more
                    os.set_blocking(fd, False)
                    while self._keep(_read_now(fd)):
                        pass
                    return
                if not self._keep(os.read(fd, 1 << 16)):
                    return
        finally:
            stream.close()

    def _keep(self, chunk):
        self.total += len(chunk)
        room = OUTPUT_KEEP - len(self.kept)
        if room > 0:
            self.kept += chunk[:room]
        return bool(chunk)

    def stop(self):
        """Every process that could write is dead (killed, maybe not yet reaped): what it
        wrote is in the pipe, so do not wait for the end of the stream."""
        os.write(self._woken, b'.')

    def text(self):
        self.thread.join(timeout=2)
        if self.thread.is_alive():  # something still holds the pipe open: stop reading it
            self.stop()
            self.thread.join(timeout=1)
        if self.wake is not None and not self.thread.is_alive():
            os.close(self.wake)
            os.close(self._woken)
            self.wake = None
        text = self.kept.decode('utf-8', 'replace')
        if self.total > len(self.kept):
            text += f'\n[output capped: {self.total - len(self.kept)} more bytes not kept]'
        return text


class Worker:
    """One worker process and its two message pipes; subclasses say how it is started."""

    def hello(self, settings, path, module, seed, cells, landlock=None):
        self.nonce = secrets.token_hex(16)
        protocol.ask(self.to_worker, {'landlock': landlock,
            'nonce': self.nonce, 'path': path, 'module': module, 'classes': settings.classes,
            'cells': cells,  # notebooks' cells as Jupyter runs them (``cells.py``)
            'cell_timeout': settings.cell_timeout, 'seed': seed,
            # the notebook stops running cells before the grader's deadline kills it
            'load_budget': settings.load_timeout * 0.8,
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
            raise WorkerGone(_death(self.end()))
        if not isinstance(message, dict) or message.get('nonce') != self.nonce:
            raise WorkerGone('sent a result without the session nonce')
        return message

    def close(self):
        """Stop the worker and everything it started; returns what it printed."""
        for fd in (self.to_worker, self.from_worker):
            try:
                os.close(fd)
            except OSError:
                pass
        self.end(grace=0)  # its answers are in: nothing to wait for
        return self.output.text()


class DirectWorker(Worker):
    """A worker started on its own: a bubblewrap sandbox, or a process (Landlock or not)."""

    def __init__(self, settings, submission, module, level, seed, imports, cells):
        self.level, self.status = level, None
        self.scratch = tempfile.mkdtemp(prefix='micrograde-')  # its copy (and home, unsandboxed)
        to_worker_r, self.to_worker = os.pipe()
        self.from_worker, from_worker_w = os.pipe()
        fds = (to_worker_r, from_worker_w)
        try:
            launch = sandbox.Launch(level, submission, self.scratch, fds, imports,
                                    (module,) if module else ())
        except BaseException:  # a refused copy: nothing of this worker stays behind
            for fd in (*fds, self.to_worker, self.from_worker):
                os.close(fd)
            shutil.rmtree(self.scratch, ignore_errors=True)
            raise
        if level != 'bubblewrap':
            sandbox.become_subreaper()
        self.uid = launch.uid
        self.proc = sandbox.start(launch.argv, env=launch.env, cwd=self.scratch,
                                  preexec_fn=launch.preexec, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, pass_fds=fds,
                                  start_new_session=True)
        os.close(to_worker_r)
        os.close(from_worker_w)
        self.output = Output(self.proc.stdout)
        self.hello(settings, launch.inside, module, seed, cells, launch.landlock)

    def end(self, grace=0.5):
        """Kill the worker and everything it started (its uid's processes, the orphans it left
        to this subreaper) after ``grace`` seconds to exit on its own, delete its scratch; its
        exit code."""
        if self.status is None:
            try:
                self.status = self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                self.proc.kill()
                self.status = self.proc.wait()
            sandbox.stop(self.proc, self.uid, subreaper=self.level != 'bubblewrap')
            if self.scratch:
                shutil.rmtree(self.scratch, ignore_errors=True)
        return self.status


class ForkedWorker(Worker):
    """A worker forked from a warm template: it pays only for its submission's own code."""

    def __init__(self, template, settings, submission, seed, cells):
        self.template = template
        self.job, inside, fds = template.spawn(submission)
        self.to_worker, self.from_worker, out = fds
        self.output = Output(os.fdopen(out, 'rb', buffering=0))
        self.status, self.ended = None, False
        self.hello(settings, inside, None, seed, cells)

    def end(self, grace=None):
        """``grace=0`` (closing, its answers in): its exit code says nothing, so do not wait
        for it (the template still kills all of the job's processes first)."""
        if not self.ended:
            self.ended = True
            self.status = self.template.end(self.job, wait=grace != 0)
            if grace == 0:
                self.output.stop()
        return self.status


def _read_now(fd):
    try:
        return os.read(fd, 1 << 16)
    except BlockingIOError:
        return b''


def _death(code):
    if code is None:
        return 'the worker closed its result channel'
    if code < 0 or code == 128 + 9:
        sig = -code if code < 0 else code - 128
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else sig
        hint = ' (out of memory?)' if sig == signal.SIGKILL else ''
        return f'the worker was killed by {name}{hint}'
    return f'the worker exited with code {code}'


class Session:
    """A submission's worker for the whole of its grading, replaced whenever it is lost."""

    def __init__(self, settings, path=None, module=None, template=None, seed=0,
                 imports=ALLOWED_IMPORTS):
        self.settings, self.path, self.module, self.seed = settings, path, module, seed
        self.template = template if template is not None and module is None else None
        self.level = 'bubblewrap' if self.template else sandbox.isolation(settings.isolation)
        self.imports = tuple(imports)
        self.worker, self.loaded_error = None, None
        self.restarts = self.requests = self.strikes = 0
        self.outputs = []
        self.cells = notebook_cells(path)  # notebooks as Jupyter runs them, sent to each worker
        self.sent = []  # every (task, items) asked for: the work, replayable (``make bench``)

    def load(self, meanwhile=None):
        """Start a worker; returns its ``Loaded`` answer (with ``error`` when loading failed).
        ``meanwhile()``, if given, runs while the worker starts and loads the submission."""
        if self.path is not None and not os.path.lexists(self.path):  # a link: refused by its copy
            return Loaded(error=f'{os.path.basename(self.path)}: no such file or folder.')
        self.worker = None
        try:
            if self.template is not None:
                try:
                    self.worker = ForkedWorker(self.template, self.settings, self.path,
                                               self.seed, self.cells)
                except OSError:
                    self.template = None  # a broken template: go on with workers of their own
            if self.worker is None:
                self.worker = DirectWorker(self.settings, self.path, self.module, self.level,
                                           self.seed, self.imports, self.cells)
        except LoadError as e:  # the submission's copy refused what it holds
            self.loaded_error = str(e)
            return Loaded(error=self.loaded_error)
        if meanwhile is not None:
            meanwhile()
        try:
            loaded = Loaded.parse(self.worker.receive(self.settings.load_timeout))
        except WorkerGone as e:
            loaded = Loaded(error=_load_failure(str(e)))
        if loaded.error:
            self._drop()
            loaded.output += self.outputs[-1]
            self.loaded_error = loaded.error
        return loaded

    def run(self, task, items, timeout=None):
        """One result per item (a ``GraphResult`` or ``MlpResult``): the worker's answer, or a
        result whose ``error`` says why there is none.

        An item that times out or runs out of memory ends its request: the items after it are
        not run (the same code would likely do it again).  After ``MAX_STRIKES`` of those or
        ``MAX_RESTARTS`` lost workers nothing more is run, so a hostile submission costs a
        bounded time.
        """
        timeout = timeout or self.settings.check_timeout
        result = RESULTS[task]
        self.sent.append((task, items))
        results = []
        while len(results) < len(items):
            stop = self._stopped()
            if stop:
                return results + [_lost(result, stop)] * (len(items) - len(results))
            if self.worker is None:
                self.restarts += 1
                if self.load().error:
                    continue
            self.requests += 1
            try:
                protocol.ask(self.worker.to_worker, {'id': self.requests, 'task': task,
                                                      'items': items[len(results):]})
                while True:
                    message = self.worker.receive(timeout)
                    if message.get('id') != self.requests:
                        raise WorkerGone('answered out of turn')
                    if message.get('done'):
                        break
                    results.append(result.parse(message['result'], message.get('output', '')))
                    if results[-1].error and results[-1].error.type == 'MemoryError':
                        raise Exhausted('ran out of memory')
            except Exhausted as e:
                self._strike(result, results, len(items), str(e))
            except (WorkerGone, OSError) as e:
                reason = str(e) if isinstance(e, WorkerGone) else 'the worker closed its pipe'
                results.append(_lost(result, reason))
                if reason.startswith('timed out'):
                    self._strike(result, results, len(items), 'timed out')
                else:
                    self._drop()
        return results

    def _strike(self, result, results, total, what):
        """A timeout or exhausted memory: the worker goes, the rest of this check is not run."""
        self._drop()
        self.strikes += 1
        results += [_lost(result, f'not run: an earlier graph of this check {what}')] * (
            total - len(results))

    def _stopped(self):
        if self.strikes >= MAX_STRIKES:
            return (f'not run: the submission already timed out or ran out of memory '
                    f'{self.strikes} times')
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
        """Stop the worker and everything it started; returns everything it printed."""
        self._drop()
        return ''.join(self.outputs)


def _lost(result, reason):
    return result(error=Failure('worker', 'WorkerLost', reason))


def _load_failure(reason):
    if reason.startswith('timed out'):
        return f'loading {reason}: the submission hangs, or runs too long at import.'
    return f'loading failed: {reason}.'
