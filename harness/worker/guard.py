"""Tampering made evident: the worker's answers are sealed, and the routes into its internals are
watched by an audit hook the submission cannot remove.

Python cannot isolate code inside one process: the submission runs beside the serve loop, so it
can reach the worker's modules, objects and frames.  ``install`` runs before the submission loads:

* **Sealed answers.**  The serve loop hands each answer to the hook (``sys.audit(SEND, fields)``);
  only the hook holds the key the grader sent (in its closure: no frame, module or object the
  submission can name refers to it), and it seals every message with an HMAC over its sequence
  number and bytes (``protocol.seal``).  It sends only for a call stack made of the worker's own
  code objects, compared by identity (a file name is a string the submission controls): a call
  from inside the submission's code, or from a thread it started, is tampering.  The grader
  drops any stream holding a message it did not seal.
* **Nothing the worker calls was changed.**  Before each request's last answer (and the load's)
  the hook compares the worker's modules, their classes, functions and tables, and the stdlib
  modules that carry an answer (``json``, ``pickle``, ``struct``, ``builtins``) with a snapshot
  taken at install (``Snapshot``).  The serve loop also binds what it calls before the
  submission loads, so replacing a module attribute changes nothing it runs.
* **Routes watched** (``ROUTES``): ctypes, the garbage collector's object walks, trace and profile
  functions, other threads' frames, frames and tracebacks that reach the worker's own frames,
  code and default swaps, code compiled under a library's file name, opening the protocol's
  descriptors or any process's memory, and adding an audit hook.  Each is tampering when the
  innermost frame that is not the standard library's is the submission's; numpy, matplotlib and
  graphviz use some of these routes themselves, and their frames (their files, under the import
  folders fixed before the submission loads) are let through.

A route taken ends the worker at once: the hook sends a sealed ``tampered`` answer and exits
with ``TAMPERED_EXIT``, before the route's call returns.  What the hook cannot see is listed in
the README's sandbox section.
"""
import builtins
import json
import os
import pickle
import re
import struct
import sys
import threading
import traceback

from . import protocol

SEND = 'mgworker.send'
TAMPERED_EXIT = 86  # the worker's exit code once a route was taken (the grader reads it too)
WORKER, LIBRARY, SUBMISSION = 'worker', 'library', 'submission'
#: Modules whose functions carry an answer from the worker to the grader, besides the worker's.
CARRIERS = (json, json.encoder, pickle, struct)


def _frame_of(attribute):
    """A watched attribute read: tampering when it hands the submission one of the worker's
    frames.  ``traceback`` printing a stack (``print_stack``, ``format_stack``) reads each
    frame's code for its file and line only, and keeps no frame: a learner's debugging."""
    def check(guard, args, caller):
        obj, name = args[0], args[1]
        if name not in attribute:
            return None
        frame = obj if name == 'f_code' else getattr(obj, name, None)
        if not guard.worker_frame(frame):
            return None
        if name == 'f_code' and caller.f_code.co_filename == guard.printer:
            return None
        return f'read the grader\'s frames ({type(obj).__name__}.{name})'
    return check


def _getframe(guard, args, caller):
    return "walked the call stack into the grader's frames (sys._getframe)" \
        if guard.worker_frame(args[0]) else None


def _swap(guard, args, caller):
    name = args[1]
    return f'replaced a function\'s {name}' if name in ('__code__', '__defaults__', '__kwdefaults__') \
        else None


def _forged_code(guard, args, caller):
    filename = args[1]
    if isinstance(filename, bytes):
        filename = os.fsdecode(filename)
    if isinstance(filename, str) and guard.provenance(filename) and not guard.same_source(args[0], filename):
        return f'made code that claims to come from {os.path.basename(filename)}'
    return None


def _opened(guard, args, caller):
    what = guard.protected_file(args[0])
    return f'opened {what}' if what else None


def _always(what):
    return lambda guard, args, caller: what


#: Audit event -> what taking it says (or ``None``: not tampering), asked only when the
#: submission's code is the one taking it.  Event names: CPython's audit events table.
ROUTES = {
    'gc.get_objects': _always("walked the garbage collector's objects (gc.get_objects)"),
    'gc.get_referrers': _always("walked the garbage collector's objects (gc.get_referrers)"),
    'gc.get_referents': _always("walked the garbage collector's objects (gc.get_referents)"),
    'sys._current_frames': _always("read every thread's frames (sys._current_frames)"),
    'sys._current_exceptions': _always("read every thread's exceptions (sys._current_exceptions)"),
    'sys.settrace': _always('installed a trace function (it sees every frame)'),
    'sys.setprofile': _always('installed a profile function (it sees every frame)'),
    'sys.addaudithook': _always('added an audit hook'),
    'sys._getframe': _getframe,
    'object.__getattr__': _frame_of(('tb_frame', 'gi_frame', 'cr_frame', 'ag_frame', 'f_code')),
    'object.__setattr__': _swap,
    'object.__delattr__': _swap,
    'code.__new__': _forged_code,
    'compile': _forged_code,
    'open': _opened,
}
CTYPES = 'ctypes.'  # every ctypes event: raw memory, C calls, libraries loaded
_PROC = re.compile(r'/proc/(?:self|thread-self|\d+)(?:/task/\d+)?/(mem|fd/(.*))$|/dev/fd/(.*)$')


class Snapshot:
    """What the worker calls, by identity: every entry of its modules' namespaces (and the
    carriers'), its classes' methods, its module-level tables, the builtins its code names
    (``used``); ``changed()`` names the first that differs now.  Functions' code and defaults
    are not compared: setting them raises an audit event (``object.__setattr__``), reading
    them one more."""

    def __init__(self, worker, carriers, used):
        self.entries = []  # (owner's label, namespace (a dict or a class's mappingproxy), key, value)
        self.sizes = []    # (namespace, length): a name added to a worker module shadows a builtin
        for module in (*worker, *carriers):
            namespace = vars(module)
            if module in worker:
                self.sizes.append((module.__name__, namespace, _names(namespace)))
            for key, value in list(namespace.items()):
                self.entries.append((module.__name__, namespace, key, value))
                for label, inner, keys in self._inside(module, key, value, module in worker):
                    self.entries += [(label, inner, k, inner[k]) for k in keys]
        builtin = vars(builtins)  # those the worker's code names (a learner may rebind print)
        self.entries += [('builtins', builtin, k, v) for k, v in builtin.items() if k in used]

    @staticmethod
    def _inside(module, key, value, own):
        """The tables (of the worker's own modules: a carrier's registries grow as libraries
        load) and classes a module defines: their entries are what it calls too."""
        if isinstance(value, dict) and own and not key.startswith('__'):  # not __builtins__
            yield f'{module.__name__}.{key}', value, list(value)
        elif isinstance(value, type) and value.__module__ == module.__name__:
            methods = vars(value)  # live: a method replaced on the class shows here
            yield f'{module.__name__}.{key}', methods, [
                k for k, v in methods.items()
                if callable(v) or isinstance(v, (staticmethod, classmethod, property))]

    def changed(self):
        missing = self.entries
        for label, namespace, key, value in self.entries:
            if namespace.get(key, missing) is not value:
                return f'{label}.{key}'
        for label, namespace, size in self.sizes:
            if _names(namespace) != size:
                return f'{label} (a name was added)'
        return None


def _names(namespace):
    """How many names a module defines; ``warnings.warn`` adds its registry to the module of
    the frame it blames, which may be the worker's (a learner's ``stacklevel=2``)."""
    return len(namespace) - ('__warningregistry__' in namespace)


def _code_objects(modules, frame):
    """Every code object of the worker's modules (nested functions, lambdas, class bodies) and
    of the frames that called ``install``: the only code that may send an answer."""
    found, todo = {}, []
    for module in modules:
        for value in list(vars(module).values()):
            todo += _codes_of(value)
            if isinstance(value, type):
                for member in vars(value).values():
                    todo += _codes_of(member)
    while frame is not None:
        todo.append(frame.f_code)
        frame = frame.f_back
    while todo:
        code = todo.pop()
        if id(code) not in found:
            found[id(code)] = code
            todo += [c for c in code.co_consts if isinstance(c, type(code))]
    return found


def _codes_of(value):
    value = getattr(value, '__func__', value)  # staticmethod, classmethod
    if isinstance(value, property):
        return [f.__code__ for f in (value.fget, value.fset, value.fdel) if f is not None]
    code = getattr(value, '__code__', None)
    return [code] if isinstance(code, type(_codes_of.__code__)) else []


class Guard:
    """The state the audit hook reads: kept only in the hook's closure."""

    def __init__(self, fds, libraries, stdlib):
        self.fds = frozenset(fds)
        self.libraries, self.stdlib = tuple(libraries), tuple(stdlib)
        self.modules = [m for name, m in list(sys.modules.items())
                        if name == __package__ or name.startswith(__package__ + '.')]
        self.codes = _code_objects(self.modules, sys._getframe(2))
        self.snapshot = Snapshot(self.modules, CARRIERS,
                                 {n for code in self.codes.values() for n in code.co_names})
        self.folder = os.path.dirname(os.path.abspath(__file__)) + os.sep
        self.printer = traceback.__file__

    def culprit(self, frame):
        """Whose code takes a route: the innermost frame not the standard library's decides."""
        while frame is not None:
            code = frame.f_code
            if id(code) in self.codes:
                return WORKER
            name = code.co_filename
            if not name.startswith(self.stdlib):
                return LIBRARY if name.startswith(self.libraries) else SUBMISSION
            frame = frame.f_back
        return SUBMISSION  # a thread of the submission's running the standard library only

    def only_worker(self, frame):
        """Whether every frame of the stack is the worker's own code."""
        while frame is not None:
            if id(frame.f_code) not in self.codes:
                return False
            frame = frame.f_back
        return True

    def worker_frame(self, frame):
        return frame is not None and hasattr(frame, 'f_code') and id(frame.f_code) in self.codes

    def provenance(self, filename):
        """Whether code under ``filename`` would pass for the worker's, a library's or the
        standard library's."""
        return filename.startswith((self.folder, '<frozen', *self.libraries, *self.stdlib))

    @staticmethod
    def same_source(source, filename):
        """Whether ``source`` is the file's own text (an import compiling it)."""
        if not isinstance(source, (str, bytes)):
            return False
        try:
            with open(filename, 'rb') as f:
                text = f.read()
        except OSError:
            return False
        return (source.encode() if isinstance(source, str) else source) == text

    def protected_file(self, path):
        """What opening ``path`` would reach: a protocol descriptor or a process's memory."""
        if isinstance(path, int):
            return 'the grader\'s answer channel' if path in self.fds else None
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not isinstance(path, str) or path.startswith((*self.libraries, *self.stdlib)):
            return None
        for candidate in (os.path.normpath(path), os.path.realpath(path)):
            m = _PROC.match(candidate)
            if m:
                if m.group(1) == 'mem':
                    return 'a process\'s memory (/proc/…/mem)'
                fd = m.group(2) if m.group(2) is not None else m.group(3)
                if not fd.isdigit() or int(fd) in self.fds:
                    return 'the grader\'s answer channel (/proc/…/fd)'
        return None


def install(key, nonce, wfd, fds, libraries, stdlib):
    """Seal every answer from now on and watch the routes; ``libraries`` and ``stdlib``: folder
    prefixes whose frames are not the submission's.  Call before the submission loads."""
    guard = Guard(fds, libraries, stdlib)
    write, exit_, dumps, getframe = os.write, os._exit, json.JSONEncoder(
        separators=(',', ':')).encode, sys._getframe
    seal, header, ident = protocol.seal, protocol.HEADER.pack, threading.get_ident
    routes, ctypes_, sent, busy = dict(ROUTES), CTYPES, [0], set()

    def emit(fields):
        body = dumps(dict(fields, nonce=nonce)).encode()
        message = seal(key, sent[0], body) + body
        sent[0] += 1
        view = memoryview(header(len(message)) + message)
        while view:
            view = view[write(wfd, view):]

    def tampered(what):
        try:
            emit({'type': 'tampered', 'what': what})
        except BaseException:  # the channel is closed or full: the exit code still says it
            pass
        exit_(TAMPERED_EXIT)

    def hook(event, args):
        if event != SEND and event not in routes and not event.startswith(ctypes_):
            return
        thread = ident()
        if thread in busy:  # the hook's own reads raise events too
            return
        busy.add(thread)
        try:
            caller = getframe(1)
            if event == SEND:
                if not guard.only_worker(caller):
                    return tampered("sent an answer from the submission's own code")
                fields = args[0]
                if 'done' in fields or 'type' in fields:
                    changed = guard.snapshot.changed()
                    if changed:
                        return tampered(f"changed the grader's code ({changed})")
                return emit(fields)
            try:
                what = routes[event](guard, args, caller) if event in routes else \
                    f'used ctypes ({event})'
            except Exception:  # an odd argument: the hook never breaks the call it watches
                return
            if what and guard.culprit(caller) == SUBMISSION:
                tampered(what)
        finally:
            busy.discard(thread)

    sys.addaudithook(hook)
