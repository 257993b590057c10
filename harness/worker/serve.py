"""The serve loop: load one submission, then answer the grader's requests until it hangs up.

The first message from the grader says what to load and carries the nonce every answer must
repeat.
"""
import _thread
import ctypes
import gc
import io
import marshal
import os
import resource
import signal
import site
import sys
import time
import traceback
import warnings
from array import array

from . import guard, identity, landlock, protocol, seeding, tasks
from .execute import bound_backend
from .load import LoadError, load, methods
from .protocol import OUTPUT_CAP


class CappedBytes(io.RawIOBase):
    """Keeps the first ``OUTPUT_CAP`` bytes written and counts the rest; no file descriptor
    (``fileno()`` raises ``io.UnsupportedOperation``, as Jupyter's streams do).  Both are C
    objects (a ``bytearray``, an ``array`` of one count) that the guard reads into every answer
    as it seals it (``protocol.taken``): the submission can replace this stream's methods, never
    what that read runs."""

    def __init__(self):
        self.kept, self.dropped = bytearray(), array('Q', [0])

    def writable(self):
        return True

    def write(self, b):
        room = OUTPUT_CAP - len(self.kept)
        if room > 0:
            self.kept += bytes(b[:room])
        self.dropped[0] += max(0, len(b) - max(room, 0))
        return len(b)


class Capture(io.TextIOWrapper):
    """``sys.stdout`` and ``sys.stderr`` of the worker: a text stream with ``.buffer``,
    ``.encoding`` and the rest, over a capped byte buffer."""

    def __init__(self):
        super().__init__(CappedBytes(), encoding='utf-8', errors='backslashreplace',
                         write_through=True)

    def take(self):
        """What was written since the last call."""
        try:
            self.flush()
        except (ValueError, OSError):  # closed by the submission
            pass
        return protocol.taken(self.buffer.kept, self.buffer.dropped)


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
    """Load the submission the grader names, then answer its requests until it hangs up: all on
    a thread of its own, while this one (the main thread) waits and runs no Python at all.
    Python runs signal handlers on the main thread only, handing each the frame it interrupted
    (the guard's hook, holding its key, at any moment), and lets only the main thread set one:
    the submission, on another, cannot; and this one, every signal blocked while it waits in
    C, runs none (nor a collection, which would run the submission's gc.callbacks).  The
    resource limits and the fence are set here first: a thread starts under them."""
    hello = protocol.asked(rfd)
    _keep_to_self(rfd, wfd)
    limit(hello.get('limits', {}))
    fence, unfenced = hello.get('landlock'), None
    if fence:
        try:
            landlock.restrict(fence['read'], fence['write'])
        except OSError as e:  # never run the submission less fenced than the report says
            unfenced = f'the sandbox could not be set up: {e}'
    signal.signal = _unset  # what the submission calls: off the main thread Python's raises
    done, failed = _thread.allocate_lock(), []
    done.acquire()
    unblocked = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())

    def thread():
        signal.pthread_sigmask(signal.SIG_SETMASK, unblocked)
        try:
            _serve(rfd, wfd, hello, unfenced)
        except BaseException:  # as the main thread's exit would say it
            failed.append(1)
        finally:
            done.release()
    _thread.stack_size(_stack())
    _thread.start_new_thread(thread, ())
    _thread.stack_size(0)
    done.acquire()
    if failed:
        raise SystemExit(1)


def _unset(signalnum, handler):
    """``signal.signal`` as the submission finds it: no handler is set (off the main thread,
    Python's own raises ValueError), and a learner's Ctrl-C or timeout handler is no error: the
    grader limits time itself.  Returns the handler in place, as Python's does."""
    return signal.getsignal(signalnum)


def _frozen(answer, dumps=marshal.dumps, ValueError=ValueError):
    """A runner's answer as ``marshal``'s bytes: read in C, under the GIL throughout, running
    nothing of Python's (it takes exact builtins only, and allocates nothing the collector
    tracks), so no code of the submission's runs while it is read.  The guard's hook loads
    it as it seals.  An answer holding anything else (a container the worker handed the
    submission, filled with its objects) is sent as ``None``: the grader's parse refuses it."""
    try:
        return dumps(answer)
    except ValueError:
        return dumps(None)


def _unraisable(unraisable, said=traceback.format_exception_only):
    """What Python prints of an exception it cannot raise (a learner's ``__del__`` raising), to
    the captured output, without the source lines of its traceback: Python's own hook opens
    each file to show them, and a Value's ``__del__`` runs inside a collection (its graph is a
    cycle), where the guard must wait out any watched event (``open``) for the collection to end:
    an innocent engine's worker was lost."""
    try:
        where = f'{unraisable.err_msg or "Exception ignored in"}: {unraisable.object!r}'
        sys.stderr.write(where + '\n' + ''.join(said(unraisable.exc_type, unraisable.exc_value)))
    except BaseException:  # the learner's __repr__ raising: nothing more to say
        pass


def _warned(message, category, filename, lineno, file=None, line=None,
            said=warnings.formatwarning):
    """What Python prints of a warning, to the captured output, without its source line, for
    the reason ``_unraisable`` gives: a warning from a ``__del__`` the collector runs (an
    undrawn matplotlib animation's) had Python's printer open the file for that line, and the
    worker was lost."""
    try:
        sys.stderr.write(said(message, category, filename, lineno, line or ''))
    except BaseException:  # a learner's warning whose str() raises: nothing more to say
        pass


def _stack():
    """The submission's thread's stack: as deep as the main thread's may grow (its limit), from
    8 to 256 MiB."""
    soft = resource.getrlimit(resource.RLIMIT_STACK)[0]
    return 256 << 20 if soft == resource.RLIM_INFINITY else max(8 << 20, min(soft, 256 << 20))


def _serve(rfd, wfd, hello, unfenced):
    """The serve loop.

    Everything the loop calls is bound here, before the submission loads, as locals (never
    cells, which a closure's ``__closure__`` hands out for rewriting): replacing an attribute
    of this module (``run_graph``), another's or a builtin changes nothing it runs, and the
    runners bind what they call (``execute``'s docstring).  What it reads of the load and of a
    request is read before the submission's code runs again (an item's, or a thread's)."""
    asked, audit, install, seed, sending = (protocol.asked, sys.audit, guard.install,
                                            seeding.seed, guard.SEND)
    loader, failed, listed, run, engine = load, LoadError, methods, tasks.run, bound_backend
    received = tasks.received
    frozen, enumerated, tuple_, seeded = _frozen, enumerate, tuple, hello.get('seed', 0)
    number, renumber, numbering = identity.install, identity.reset, identity.numbering
    give_ids, collections = identity.give_ids, _collections
    capture = Capture()

    def reply(audit=audit, sending=sending, **fields):
        """Hand an answer to the guard as it is: the guard adds what was printed and makes it
        plain data as it seals it, so nothing the submission reaches runs in between.  Sends
        only as this frame calls it, by keyword (``guard.sent``)."""
        audit(sending, fields)

    def answer(audit=audit, sending=sending, *, asking, k, result):
        """Hand an item's answer to the guard: its fields held by no dict (a collection's code
        finds this frame by a frame walk), and by keyword only: a function the submission makes
        of this code cannot be called with fields of its own."""
        audit(sending, (asking, k, result))

    install(hello.pop('key'), hello['nonce'], wfd, (rfd, wfd), _libraries(hello.get('module')),
            _stdlib(), (capture.buffer.kept, capture.buffer.dropped), reply, answer, SITES)
    for name in [n for n in sys.modules if n == __package__ or n.startswith(__package__ + '.')]:
        del sys.modules[name]  # not there to be named: `import mgworker` loads a copy of its own
    sys.stdout = sys.stderr = capture
    sys.stdin = io.StringIO()
    sys.unraisablehook = _unraisable
    warnings.showwarning = _warned

    if unfenced:
        return reply(type='loaded', error=unfenced)
    site.setquit()  # started without ``site`` (no site folders): keep exit(), quit(), help()
    site.sethelper()
    seed(seeded)
    seeding.on_import(seeded)
    started = time.perf_counter()
    loaded = None
    renumber(seeded)
    try:
        with numbering() as numbered:
            loaded = loader(hello.get('path'), hello.get('module'), hello.get('cell_timeout', 10.0),
                            os.getcwd(), hello.get('load_budget'), hello.get('cells'),
                            hello.get('answer_keys', ()), beside=True, number=numbered)
        found = loaded.find(hello['classes'])
        loaded.warnings += found['Value'].locate(loaded.own)
    except failed as e:
        return reply(type='loaded', error=str(e), warnings=loaded.warnings if loaded else [])
    except BaseException as e:  # the loader's own guard: a report, never a silent death
        return reply(type='loaded', error=f'{type(e).__name__} while loading: {e}')
    classes = {role: f.cls for role, f in found.items()}
    networks = []  # the network classes whose run methods are listed (a loop: no cell)
    for role in ('Neuron', 'Layer', 'MLP'):
        if role in classes:
            networks.append(classes[role])
    reply(type='loaded', warnings=loaded.warnings, seconds=time.perf_counter() - started,
          classes={role: f.origin for role, f in found.items()},
          class_info={role: f.info() for role, f in found.items()},
          methods=listed(classes['Value'], loaded.root, networks) if 'Value' in classes else {})
    own = loaded.own
    backend = engine(classes['Value'], own, found['Value'].attributes)
    for cls in classes.values():  # a set's order follows a seeded numbering, not addresses
        number(cls)
    give_ids(classes.values(), [ns for _, ns in loaded.namespaces])  # and so does id()
    roles = tuple_(classes.items())  # pairs: no entry to rebind between items
    collections()
    while True:
        request = received(asked(rfd))  # read whole before the submission's code runs again
        if request is None:
            return
        task, asking, items = request
        for k, (order, item) in enumerated(items):
            seed(seeded)
            renumber(seeded, order)
            # the answer as bytes (C, atomic) before any frame holds it: what a thread, a
            # __del__ or a collection's callback of the submission's finds here is immutable
            result = frozen(run(task, item, roles, backend, own))
            answer(asking=asking, k=k, result=result)
        reply(id=asking, done=True)


#: The collector's thresholds while the submission runs, the warm template's too
#: (``forkserver.freeze``).
COLLECTIONS = (700, 10, 100)


def _collections():
    """The collector as the graded items meet it, the same on every surface: no garbage, every
    object made so far frozen, no count, and the template's thresholds.  A collection runs a
    learner's ``__del__`` (and frees what a weak reference holds) at some count of allocations:
    a fresh worker (``grade``) and one forked from the template (``batch``) reached the first
    item with other counts (a fresh one's own imports, and those the load made that the
    template had made already) and other thresholds, so a ``__del__`` that counts or prints
    ran elsewhere, and what an engine printed of it differed between the two.  Once the load
    is done, frozen first: the collection then walks nothing (one of a fresh worker's imports
    took ~10 ms, with torch's ~100 ms) and only sets every count to 0 (``gc.freeze`` sets the
    youngest's alone); what the load left is frozen too, its cycles never collected, on every
    surface."""
    gc.freeze()
    gc.collect()
    gc.set_threshold(*COLLECTIONS)


#: Where ``_serve`` calls by keyword (``guard.sent``), read from its bytecode once: here, at
#: import, in the warm template, not in each worker.
SITES = guard._keyword_calls(_serve.__code__)
PR_SET_DUMPABLE = 4


def _keep_to_self(*fds):
    """No process the submission starts inherits the protocol's descriptors, and none (of its
    uid) can read this one's memory or trace it: not dumpable."""
    for fd in fds:
        os.set_inheritable(fd, False)
    os.environ['PYTHONBREAKPOINT'] = '0'  # a breakpoint() left in: no debugger (a trace function)
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def _stdlib():
    """Prefixes of the standard library's files (and frozen modules): frames there act for
    whoever called them."""
    return (os.path.dirname(os.__file__) + os.sep, '<frozen ')


def _libraries(module):
    """Prefixes of the allowed libraries' files: every entry of the import folders fixed at
    start (the view), but the worker itself and an installed module being graded.  Not the
    folder ``-m`` started in (``sys.path[0]``: a scratch or shared folder, never a library's)."""
    own = {__package__, (module or '').partition('.')[0]}
    stdlib = _stdlib()[0]
    found = []
    for folder in sys.path[1:]:
        if not folder or folder.startswith(stdlib) or not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            if name.partition('.')[0] not in own and not name.endswith('.dist-info'):
                found.append(os.path.join(folder, name) + (os.sep if '.' not in name else ''))
    return found
