"""Talk to a submission's worker: load it, run items with deadlines, survive its deaths.

An item that times out or kills its worker fails on its own; the worker is replaced (the
submission loaded afresh) and the remaining items go on (``answers.Strikes``).  Everything the
worker sends is read under a deadline and parsed by ``answers``: a worker that breaks the
protocol is not replaced, and nothing more is asked of the submission (``Session.interfered``).
"""
import fcntl
import os
import secrets
import select
import signal
import subprocess
import tempfile
import threading
import time

from micrograde.isolate import sandbox
from micrograde.isolate.answers import INTERFERED, Lost, Loaded, Strikes, Violation, answer, lost
from micrograde.load import tree
from micrograde.load.cells import notebook_cells
from micrograde.model.errors import WorkerError
from micrograde.model.names import shown
from micrograde.model.results import Isolation
from micrograde.isolate.allowlist import ALLOWED_IMPORTS, ANSWER_KEY_LIBRARIES
from micrograde.worker import clock, protocol
from micrograde.worker.guard import TAMPERED_EXIT
from micrograde.worker.load.errors import LoadError

OUTPUT_KEEP = 64 * 1024
#: Once ``OUTPUT_KEEP`` bytes are in, what a worker prints is read (to count it, and so that it
#: does not wait on a full pipe) at most a pipe's worth every ``DRAIN_PAUSE`` seconds: a worker
#: writing without end had the grader read as fast as it wrote, ~30% of a CPU the whole grade
#: long (redteam16: 11 s of the grader's CPU for one grade, 0.6 s for the correct engine).
DRAIN_PAUSE = 0.01
PIPE_SIZE, F_SETPIPE_SZ = 1 << 20, 1031  # up to 100 MB a second, then
TAMPERED = 'the submission tampered with the grader'


class WorkerGone(WorkerError):
    """The worker died or ran out of time; ``kind`` (a ``Lost``) and ``str`` say which."""

    def __init__(self, reason, kind=Lost.WORKER):
        super().__init__(reason)
        self.kind = kind


class Tampered(WorkerGone):
    """The worker's guard saw the submission take a route into the grader (``worker/guard.py``),
    or the answer stream holds what the guard did not seal; ``str`` says what."""

    def __init__(self, reason):
        super().__init__(reason, Lost.INTERFERED)


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
            poller = select.poll()  # not select(): a grader may hold descriptors past 1023
            for each in (fd, self.wake):
                poller.register(each, select.POLLIN)
            paused = select.poll()  # past OUTPUT_KEEP: a pause that stop() ends
            paused.register(self.wake, select.POLLIN)
            try:
                fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE)  # a pipe's worth a pause
            except OSError:
                pass
            while True:
                ready = [each for each, _ in poller.poll()]
                if fd not in ready:  # stopped: take what is written already, then no more
                    os.set_blocking(fd, False)
                    while self._keep(_read_now(fd)):
                        pass
                    return
                if not self._keep(os.read(fd, 1 << 20)):
                    return
                if self.total > OUTPUT_KEEP:
                    paused.poll(DRAIN_PAUSE * 1000)
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

    def hello(self, settings, seed, cells, refused):
        """Say what to load, with the nonce every answer must carry and the key only the
        worker's guard holds, that seals every answer."""
        self.nonce, self.key, self.received = secrets.token_hex(16), secrets.token_bytes(32), 0
        self.ask({'landlock': self.landlock, 'nonce': self.nonce, 'key': self.key,
            'answer_keys': refused,  # libraries kept out of reach (rubric's answer_key_libraries)
            'path': self.inside,
            'module': self.module, 'classes': settings.classes,
            'cells': cells,  # notebooks' cells as Jupyter runs them (``cells.py``)
            'cell_timeout': settings.cell_timeout, 'seed': seed,
            # the notebook stops running cells before the grader's deadline kills it
            'load_budget': settings.load_timeout * 0.8,
            'limits': settings.limits.to_dict()}, settings.load_timeout)

    def waiting(self):
        """Whether nothing the worker sent is there to read yet."""
        return not readable(self.from_worker)

    def ask(self, request, timeout):
        """Send a request; ``WorkerGone`` when the worker does not read it within ``timeout``."""
        try:
            protocol.ask(self.to_worker, request, time.monotonic() + timeout)
        except TimeoutError:
            raise WorkerGone(f'timed out after {timeout:g} s', Lost.TIMEOUT) from None
        except OSError:
            raise WorkerGone('the worker closed its pipe') from None

    def receive(self, timeout, latest=None):
        """The next message (a dict with the session's nonce), ``WorkerGone`` when there is
        none in ``timeout`` seconds of a worker working as fast as it can, ``Violation`` when
        what came is no message of ours, ``Tampered`` when the guard says so or did not seal
        it.  A worker a busy host gives part of a CPU is waited for longer (``clock``), never
        past ``latest()`` (``time.monotonic()``, asked again whenever it is reached: the
        grading's own limit, which a busy host extends too)."""
        started = time.monotonic()
        deadline, measured = started + max(timeout, 0), None
        if latest is not None:
            deadline = min(deadline, latest())
        try:
            while True:
                try:
                    message = protocol.recv(self.from_worker, deadline, self.key, self.received)
                    break
                except TimeoutError:
                    now = time.monotonic()
                    if latest is not None and now < started + timeout:  # cut short by latest()
                        until = latest()
                        if until <= now:
                            raise
                        deadline = min(started + timeout, until)
                        continue
                    measured = measured or (now, self.usage())
                    deadline = clock.due(started, timeout, measured, now, self.usage,
                                         latest and latest())
                    if deadline is None:
                        raise
        except protocol.Unsealed:
            raise Tampered("wrote answers of its own to the grader's channel") from None
        except TimeoutError:
            raise WorkerGone(f'timed out after {timeout:g} s', Lost.TIMEOUT) from None
        except protocol.Broken as e:
            raise Violation(str(e)) from None
        except OSError:
            raise WorkerGone('the worker closed its pipe') from None
        self.received += 1
        if message is None:
            status = self.end()
            if status == TAMPERED_EXIT:
                raise Tampered('took a route into the grader, after closing its answer channel')
            raise WorkerGone(_death(status))
        if type(message) is not dict or message.get('nonce') != self.nonce:
            raise Violation('sent an answer without the session nonce')
        if message.get('type') == 'tampered':
            raise Tampered(str(message.get('what', ''))[:300])
        return message

    def cpu(self):
        """CPU seconds the worker's processes have used (``sandbox.cpu_seconds``)."""
        return sandbox.cpu_seconds(self.since, *self.owner())

    def usage(self):
        """``(CPU seconds, seconds run, seconds waited for a CPU)`` of the worker's processes
        (``sandbox.usage``): the share of a CPU the host gave it while it wanted one."""
        return sandbox.usage(self.since, *self.owner())

    def loaded(self):
        """Once the submission is loaded: its processes' peak memory so far (``exhausted``)."""
        self.base = sandbox.peak_memory(self.since, *self.owner())

    def exhausted(self, limit):
        """Whether the worker's processes really filled memory since the submission was loaded:
        one of them grew past its peak then by at least half of what ``limit`` (its address
        space, ``Limits.memory``) left (``sandbox.peak_memory``).  A MemoryError the worker
        reports is then a strike (``Session._ask``); one that cost nothing (``raise
        MemoryError``, ``bytearray(1 << 50)`` refused at once, memory filled once at import) is
        an exception like any other.  By bytes, not by time: the same code reads the same on a
        busy host."""
        grown = sandbox.peak_memory(self.since, *self.owner()) - self.base
        return grown * 2 >= limit - self.base

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

    def __init__(self, submission, module, level, imports, memory=None):
        self.level, self.status, self.module = level, None, module
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
            tree.remove(self.scratch)
            raise
        if level != 'bubblewrap':
            sandbox.become_subreaper()
        self.uid, self.since, self.base = launch.uid, sandbox.last_pid(), 0
        self.proc = sandbox.start(launch.argv, memory, self.uid,
                                  env=launch.env, cwd=self.scratch,
                                  preexec_fn=launch.preexec, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, pass_fds=fds,
                                  start_new_session=True)
        os.close(to_worker_r)
        os.close(from_worker_w)
        self.output = Output(self.proc.stdout)
        self.inside, self.landlock = launch.inside, launch.landlock

    def owner(self):
        """``(top, uid)`` for ``sandbox.peak_memory``: its first process, and its throwaway uid."""
        return self.proc.pid, self.uid

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
                tree.remove(self.scratch)
        return self.status


class ForkedWorker(Worker):
    """A worker forked from a warm template: it pays only for its submission's own code."""

    def __init__(self, template, submission):
        self.template, self.module, self.landlock = template, None, None
        self.since, self.base = sandbox.last_pid(), 0
        self.job, self.inside, fds = template.spawn(submission)
        self.uid = template.uids[self.job]  # every job has a throwaway uid (templates: as root)
        self.to_worker, self.from_worker, out = fds
        self.output = Output(os.fdopen(out, 'rb', buffering=0))
        self.status, self.ended = None, False

    def owner(self):
        return None, self.uid

    def end(self, grace=None):
        """``grace=0`` (closing, its answers in): its exit code says nothing, so do not wait
        for it (the template still kills all of the job's processes first)."""
        if not self.ended:
            self.ended = True
            self.status = self.template.end(self.job, wait=grace != 0)
            if grace == 0:
                self.output.stop()
        return self.status


def readable(fd, timeout=0):
    """Whether ``fd`` can be read (or is at its end) within ``timeout`` seconds.  By ``poll``,
    not ``select``: ``select`` raises for a descriptor numbered 1024 or more, which a grader
    holding many files (a service worker, a test session) gets for every pipe it makes."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(timeout * 1000))


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
                 imports=ALLOWED_IMPORTS, refused=ANSWER_KEY_LIBRARIES):
        self.settings, self.path, self.module, self.seed = settings, path, module, seed
        self.template = template if template is not None and module is None else None
        self.level = Isolation.BUBBLEWRAP if self.template else sandbox.isolation(settings.isolation)
        self.imports, self.refused = tuple(imports), tuple(refused)
        self.tampered = ''  # what the guard saw the submission do: nothing more is run
        self.worker, self.loaded_error = None, None
        self.requests = 0
        self.relaunched = False  # the worker was lost with its template: not the submission's
        self.unrun = 0  # items refused since nothing more is run (``given_up``)
        self.strikes = Strikes()
        self.outputs = []
        try:  # notebooks as Jupyter runs them, sent to each worker
            self.cells, self.untransformed = notebook_cells(path), ''
        except LoadError as e:  # a cell past what the grader transforms: no worker is started
            self.cells, self.untransformed = {}, str(e)
        except ValueError:  # JSON Python will not read (an integer of 5000 digits): left to the
            self.cells, self.untransformed = {}, ''  # worker, whose load reports it (as unreadable
            # notebooks are: ``notebook_cells``), never a traceback of the grader's
        except RecursionError:  # a cell's start nests cell magics (2000 lines of %%time, each
            # running the rest as its body) past Python's depth, in the grader as in Jupyter
            self.cells, self.untransformed = {}, (
                f'{shown(os.path.basename(os.path.normpath(path)))}: a cell nests more than '
                f'IPython can transform (a cell magic such as %%time running a cell that starts '
                f'with another, over and over): remove the repeated cell magics.')
        self.sent = []  # every (task, items) asked for: the work, replayable (``make bench``)
        self.limit = None  # the checks' time (``overtime``): from the submission's load on
        self.spent = (0.0, 0.0, 0.0)  # ``sandbox.usage`` of the workers dropped since it was due

    @property
    def restarts(self):
        return self.strikes.restarts

    @property
    def interfered(self):
        """What the worker did to break the protocol, or ``''``: then its grade is void."""
        return self.strikes.interfered

    @property
    def given_up(self):
        """Why nothing more is run for want of the submission's answers (timeouts, lost workers,
        a load that fails again, the time limit), or ``''``; never for tampering or a broken
        protocol, which void the grade."""
        return '' if self.tampered or self.interfered else self._stopped()

    def load(self, meanwhile=None):
        """Start a worker; returns its ``Loaded`` answer (with ``error`` when loading failed).
        ``meanwhile(waiting)``, if given, runs while the worker starts and loads the submission;
        ``waiting()`` says whether the worker's answer is still to come."""
        if self.path is not None and not os.path.lexists(self.path):  # a link: refused by its copy
            return Loaded(error=f'{os.path.basename(self.path)}: no such file or folder.')
        if self.untransformed:
            self.loaded_error = self.untransformed
            return Loaded(error=self.untransformed)
        self.worker = None
        try:
            if self.template is not None:
                try:
                    self.worker = ForkedWorker(self.template, self.path)
                except OSError:
                    self.template = None  # a broken template: go on with workers of their own
            if self.worker is None:
                self.worker = DirectWorker(self.path, self.module, self.level, self.imports,
                                           self.settings.limits.memory)
        except LoadError as e:  # the submission's copy refused what it holds
            self.loaded_error = str(e)
            return Loaded(error=self.loaded_error)
        try:
            self.worker.hello(self.settings, self.seed, self.cells, self.refused)
            gone = None
        except WorkerGone as e:
            gone = e
        if meanwhile is not None:  # the grader's own work: none of its errors is the worker's
            meanwhile(self.worker.waiting if gone is None else lambda: False)
        try:
            if gone is not None:
                raise gone
            loaded = Loaded.parse(self.worker.receive(self.settings.load_timeout))
            self.worker.loaded()
            if self.limit is None:  # the checks' time starts once the submission is loaded
                self.limit = clock.Limit(self.settings.grade_timeout, self._cpu)
        except Tampered as e:
            self.tampered = str(e)
            loaded = Loaded(error=f'{TAMPERED}: {e}.')
        except WorkerGone as e:
            if e.kind is Lost.WORKER and self._grader_lost():
                return self.load()
            loaded = Loaded(error=_load_failure(str(e)))
        except Violation as e:
            self.strikes.interfered = str(e)
            loaded = Loaded(error=f'{INTERFERED}: {e}.')
        if loaded.error:
            self._drop()
            loaded.output += self.outputs[-1] if self.outputs else ''
            self.loaded_error = loaded.error
        return loaded

    def run(self, task, items, timeout=None, meanwhile=None):
        """One result per item (a ``GraphResult`` or ``MlpResult``): the worker's answer, or a
        result whose ``error`` says why there is none (``answers.Strikes``: every request
        either gets an answer or a reason for each of its items, after at most
        ``MAX_RESTARTS`` workers).  ``meanwhile()``, if given, runs once the request is sent
        (the grader's own work, while the worker runs it), or not at all: what it did not do,
        an error of its own included, is for the caller to do again."""
        timeout = timeout or self.settings.check_timeout
        self.sent.append((task, items))
        results = []
        while len(results) < len(items):
            stop = self._stopped()
            if stop:
                self.unrun += len(items) - len(results)
                kind = Lost.INTERFERED if self.interfered or self.tampered else Lost.NOT_RUN
                return results + [lost(task, kind, stop)] * (len(items) - len(results))
            if self.worker is None:
                self.strikes.restarts += not self.relaunched
                self.relaunched = False
                self.load()
                continue
            results += self._ask(task, items[len(results):], timeout, meanwhile)
            meanwhile = None
        return results

    def _stopped(self):
        """Why nothing more is run, or ``''``."""
        if self.tampered:
            return f'not run: {TAMPERED} ({self.tampered})'
        if self.worker is None and self.restarts and self.loaded_error and not self.interfered:
            return 'not run: the submission could not be loaded again'
        return self.overtime() or self.strikes.stopped()

    def overtime(self):
        """Why nothing more is run once the checks' time is up, or ``''``.  Seconds of a whole
        CPU, as every time limit (``clock``): past ``grade_timeout`` the checks get more time in
        proportion to the share of a CPU the grading had (this thread and the worker's
        processes), at most ``clock.STARVED`` times the limit, so that a busy host (``batch
        -j``, a shared runner) runs the checks a quiet one runs, and the same submission reads
        the same; grading that uses no CPU (a worker that sleeps) gets no more."""
        if self.limit is None or not self.limit.out():
            return ''
        return (f"not run: the grading's time limit ({self.settings.grade_timeout:g} s for all "
                f"the checks, --grade-timeout) had passed")

    def _cpu(self):
        """``sandbox.usage`` of the grading: this thread's (the checks, the oracles, the
        reports) and its workers' (those dropped since the checks' time was first due): CPU
        seconds, seconds run and seconds waited for a CPU (``None`` where not counted)."""
        return _sum(sandbox.thread_usage(), self.spent,
                    self.worker.usage() if self.worker else (0.0, 0.0, 0.0))

    def _ask(self, task, items, timeout, meanwhile=None):
        """The results of one request: at least one (an answer, or why there is none).  Each
        answer is waited for ``timeout`` seconds at most, and never past the checks' deadline."""
        self.requests += 1
        results = []
        try:
            self.worker.ask({'id': self.requests, 'task': task, 'items': items}, timeout)
            if meanwhile is not None:
                try:
                    meanwhile()
                except Exception:  # the grader's, raised again by its caller: read the answers
                    pass
            while True:
                try:
                    message = self.worker.receive(timeout, self.limit and self.limit.due)
                except WorkerGone as e:
                    overtime = self.overtime() if e.kind is Lost.TIMEOUT else ''
                    if overtime:
                        # the grading's limit, not the submission's hang: no strike, not run
                        raise WorkerGone(overtime, Lost.NOT_RUN) from None
                    raise
                result = answer(message, task, items, len(results), self.requests)
                if result is None:
                    return results
                results.append(result)
                if result.error and result.error.type == 'MemoryError' and \
                        self.worker.exhausted(self.settings.limits.memory):
                    return self._strike(task, results, len(items), 'ran out of memory')
        except Tampered as e:
            self.tampered = str(e)
            results.append(lost(task, Lost.INTERFERED, f'{TAMPERED}: {e}'))
        except WorkerGone as e:
            if e.kind is Lost.WORKER and self._grader_lost():
                self.relaunched = True
                self._drop()
                return results  # ``run`` asks the rest of a fresh worker
            results.append(lost(task, e.kind, str(e)))
            self.unrun += e.kind is Lost.NOT_RUN  # cut by the grading's limit: refused, as the rest
            if e.kind is Lost.TIMEOUT:
                return self._strike(task, results, len(items), 'timed out')
        except Violation as e:
            self.strikes.interfered = str(e)
            results.append(lost(task, Lost.INTERFERED, f'{INTERFERED}: {e}'))
        self._drop()
        return results

    def _grader_lost(self):
        """Whether the worker just lost went with its warm template (killed by the host's
        out-of-memory killer or an operator, or wedged: it did not answer the end of the job),
        which no submission can reach (another uid, no signal to it): the grader's loss, not
        the submission's.  The template is then set aside, and the work is asked again of a
        worker of its own, at no cost to the submission; only once, since that worker has no
        template to lose."""
        worker = self.worker
        if not isinstance(worker, ForkedWorker):
            return False
        worker.end()
        if not worker.template.broken:
            return False
        self.template = None
        self._drop()
        return True

    def _strike(self, task, results, total, what):
        """A timeout or exhausted memory: the worker goes, the rest of this request is not run."""
        self._drop()
        self.strikes.strikes += 1
        return results + [lost(task, Lost.NOT_RUN, f'not run: an earlier graph of this check '
                                                   f'{what}')] * (total - len(results))

    def _drop(self):
        if self.worker is not None:
            if self.limit and self.limit.first:  # the checks' time, in CPU seconds
                self.spent = _sum(self.spent, self.worker.usage())
            self.outputs.append(self.worker.close())
            self.worker = None

    def close(self):
        """Stop the worker and everything it started; returns everything it printed."""
        self._drop()
        return ''.join(self.outputs)


def _sum(*readings):
    """The sum of ``sandbox.usage`` readings; a count one of them lacks (``None``) is lacking."""
    return tuple(None if None in column else sum(column) for column in zip(*readings))


def _load_failure(reason):
    if reason.startswith('timed out'):
        return f'loading {reason}: the submission hangs, or runs too long at import.'
    return f'loading failed: {reason}.'
