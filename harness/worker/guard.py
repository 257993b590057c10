"""Tampering made evident: the worker's answers are sealed, and the routes into its internals are
watched by an audit hook the submission cannot remove.

Python cannot isolate code inside one process: the submission runs beside the serve loop, so it
can reach the worker's modules, objects and frames.  ``install`` runs before the submission loads:

* **Sealed answers.**  The serve loop hands each answer to the hook (``sys.audit(SEND, fields)``);
  only the hook holds the key the grader sent (in its state: no frame, module or object the
  submission can name refers to it), and it seals every message with an HMAC over its sequence
  number and bytes (as ``protocol.seal`` checks it).  It sends only what the serve loop's own
  frame hands its ``reply`` or ``answer`` by keyword (``sent``): that frame, by identity, at
  one of its calls by keyword, on the thread that installed the hook.  A call from inside the
  submission's code, from a thread it started (even one running the serve loop's own
  ``reply``, found by a frame walk), or from a function the submission made of ``reply``'s
  code with defaults of its own (worker code alone on the stack, called by the worker as a
  method of the learner's: ``send_clone``) is tampering.  The serve loop hands the hook
  each answer as its runner returned it (an item's frozen by ``marshal``, ``serve._frozen``,
  which the hook loads): what was printed is added, and the whole made plain
  data and packed (``protocol.message``), inside the hook, so no code the submission can reach
  runs between the worker's observation and the seal.  The grader drops any stream holding a
  message it did not seal.
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

Everything the hook runs is bound before the submission loads: its functions (and
``protocol``'s it calls) run on private copies of their globals and of the builtins, encode
with ``_json``'s C encoder and seal with ``_hashlib``'s C HMAC, and keep their state in a
``SimpleNamespace`` (a C type): patching this module, ``json``, ``hmac``, ``os`` or a builtin
changes nothing the hook does.  And the hook never calls a method of an object the submission
made (a ``str`` subclass's ``startswith``, an ``__eq__``, a ``__class__`` property, a dict
subclass's ``items``; ``_exact``, ``protocol.plain``), nor a Python function of the standard
library's that looks names up as it runs (``os.path.realpath``): code of the submission's run
inside the hook would walk ``f_back`` (no event) to the hook's state and its key.

A route taken ends the worker at once: the hook sends a sealed ``tampered`` answer and exits
with ``TAMPERED_EXIT``, before the route's call returns.  Inside a garbage collection (a
``__del__``, a weakref callback) the hook checks nothing (that allocates, and another thread's
collection may end meanwhile): a route there is refused, raising ``PermissionError``, and a
frame of the hook's own handed out there is tampering (``_hooks_frame``).  What the hook cannot see is listed in
the README's sandbox section.
"""
import _imp
import _thread
import builtins
import ctypes
import dis
import gc
import itertools
import json
import marshal
import operator
import os
import pickle
import re
import struct
import sys
import threading
import time
import traceback
import types
from _hashlib import hmac_digest
from _json import encode_basestring_ascii, make_encoder
from types import AsyncGeneratorType, CoroutineType, FrameType, GeneratorType, TracebackType

from . import protocol

SEND = 'mgworker.send'
TAMPERED_EXIT = 86  # the worker's exit code once a route was taken (the grader reads it too)
#: The worker's exit code when a thread waited ~0.25 s for a collection under way to end before
#: the hook could run: one held open by the submission, or one the thread is inside.
STALLED_EXIT = 87
_WAIT, _WAITS = 0.0005, 500  # the wait's sleeps (each lets the GIL go), and their number
WORKER, LIBRARY, SUBMISSION = 'worker', 'library', 'submission'
#: Modules whose functions carry an answer from the worker to the grader, besides the worker's.
CARRIERS = (json, json.encoder, pickle, struct)
CTYPES = 'ctypes.'  # every ctypes event: raw memory, C calls, libraries loaded
_PROC = re.compile(r'/proc/(?:self|thread-self|\d+)(?:/task/\d+)?/(mem|fd/(.*))$|/dev/fd/(.*)$')
# what the hook calls, as names of its own (no attribute of a module is looked up late), all C:
# a function of Python's (os.path.realpath, os.fsdecode) looks os.fspath, os.lstat ... up as it
# runs, and the submission may have replaced them
_open, _fstat, _readlink, _close, _O_PATH = os.open, os.fstat, os.readlink, os.close, os.O_PATH
_write, _exit, _getframe, _ident = os.write, os._exit, sys._getframe, threading.get_ident
_sleep, _count = time.sleep, _thread._count
_compile, _frozen_code = compile, _imp.get_frozen_object
_urandom, _loads = os.urandom, marshal.loads
_is, _repeat = operator.is_, itertools.repeat
_header, _match, _CodeType = protocol.HEADER.pack, _PROC.match, types.CodeType
_FSENCODING = sys.getfilesystemencoding()
#: The attributes whose read hands out a frame or a frame's code (``object.__getattr__`` is
#: raised for others too: every function's ``__code__``, thousands per grade).
FRAME_READS = frozenset(('tb_frame', 'gi_frame', 'cr_frame', 'ag_frame', 'f_code'))
#: Routes that only make a frame walk evident (one by ``f_back`` raises nothing): let by while a
#: collection is under way, whose own code (a ``__del__``, a gc.callbacks entry) may take them.
WALKS = frozenset(('sys._getframe', 'object.__getattr__'))
#: threading's ``invoke_excepthook`` (a thread's, made by ``_make_invoke_excepthook``): the frame
#: CPython's printer of a thread's traceback runs under (``_shown_line``).
_EXCEPTHOOK = next(c for c in threading._make_invoke_excepthook.__code__.co_consts
                   if isinstance(c, types.CodeType) and c.co_name == 'invoke_excepthook')
#: The objects whose frame a read reaches (``object.__getattr__``): C types, none subclassable.
_FRAMED = (FrameType, TracebackType, GeneratorType, CoroutineType, AsyncGeneratorType)
_COPIES = (*protocol.COPIES, (bytes, bytes.__bytes__))


def _exact(x):
    """A route's argument as the exact str, bytes or int it is (a subclass copied by the
    builtin's C method), else ``None``.  The hook never calls a method of an object the
    submission made, not even ``__eq__`` or a ``__class__`` property that ``isinstance`` reads:
    run inside the hook, its code would reach the hook's state by ``f_back`` (no event)."""
    kind = type(x)
    if kind is str or kind is bytes or kind is int:
        return x
    for base, copy in _COPIES:
        if issubclass(kind, base):
            return copy(x)
    return None


def _text(x):
    """A route's file name as exact text, or ``None``."""
    x = _exact(x)
    return x.decode(_FSENCODING, 'surrogateescape') if type(x) is bytes else x


def _frame_of(attribute):
    """A watched attribute read: tampering when it hands the submission one of the worker's
    frames.  ``traceback`` printing a stack (``print_stack``, ``format_stack``) reads each
    frame's code for its file and line only, and keeps no frame: a learner's debugging."""
    def check(g, args, caller):
        obj, name = args[0], _exact(args[1])
        if name not in attribute or not any(type(obj) is kind for kind in _FRAMED):
            return None
        frame = obj if name == 'f_code' else getattr(obj, name, None)
        if not worker_frame(g, frame) and not (type(frame) is FrameType and _hooks(g, frame)):
            return None
        if name == 'f_code' and _exact(caller.f_code.co_filename) == g.printer:
            return None
        return f"read the grader's frames ({type(obj).__name__}.{name})"
    return check


def _getframe_route(g, args, caller):
    return "walked the call stack into the grader's frames (sys._getframe)" \
        if worker_frame(g, args[0]) else None


def _swap(g, args, caller):
    name = _exact(args[1])
    return f"replaced a function's {name}" if name in ('__code__', '__defaults__', '__kwdefaults__') \
        else None


def _forged_code(g, args, caller):
    filename = _text(args[1])
    if type(filename) is str and provenance(g, filename) and not same_source(args[0], filename) \
            and not _shown_line(args, caller):
        return f'made code that claims to come from {filename.rpartition("/")[2]}'
    return None


def _shown_line(args, caller):
    """Whether a ``compile`` is CPython's printer of a thread's traceback (a learner's thread
    that raised) parsing the line it shows of a frame, under that frame's file name: an AST, no
    code.  Called from threading's ``invoke_excepthook`` (by identity), one line of bytes."""
    line = _exact(args[0])
    return caller.f_code is _EXCEPTHOOK and type(line) is bytes and b'\n' not in line


def _opened(g, args, caller):
    what = protected_file(g, args[0])
    return f'opened {what}' if what else None


#: CPython's own test modules (its lib-dynload): no library the grader allows imports them, and
#: they reach the interpreter's insides: ``_testcapi.run_in_subinterp`` runs code in an
#: interpreter it makes with no thread state (so no event of its making is seen here), where no
#: audit hook of this one's runs.  Known by a name's last part: an extension module's init
#: function is named by it, whatever the spec (``_imp.create_dynamic`` raises ``import`` too).
TEST_MODULES = frozenset(('_testcapi', '_testinternalcapi', '_testbuffer', '_testmultiphase',
                          '_testimportmultiple', '_testsinglephase', '_testclinic', '_xxtestfuzz',
                          '_ctypes_test'))


def _test_module(g, args, caller):
    name = _text(args[0]) if args else None
    name = name.rpartition('.')[2] if type(name) is str else ''
    return f"imported CPython's test module {name}" if name in TEST_MODULES else None


def _always(what):
    return lambda g, args, caller: what


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
    # another interpreter runs no audit hook of this one's (ctypes there raises no event seen
    # here): raised in this one as it makes one (_xxsubinterpreters, _testcapi.run_in_subinterp)
    'cpython.PyInterpreterState_New': _always('started an interpreter (no audit hook of the '
                                              "grader's runs in it)"),
    'sys._getframe': _getframe_route,
    'object.__getattr__': _frame_of(FRAME_READS),
    'object.__setattr__': _swap,
    'object.__delattr__': _swap,
    'code.__new__': _forged_code,
    'compile': _forged_code,
    'open': _opened,
    'import': _test_module,
}


#: Routes no library the worker allows takes as it grades (numpy's test helpers and matplotlib's
#: debugging ``print_cycles`` aside): refused whoever's frame takes them.  A library's frame
#: takes them for the submission when handed the function: ``np.vectorize(gc.get_objects,
#: otypes=[object])(None)`` walked the collector's objects to the hook's state from numpy's
#: frame (``library_walks``), and ``np.fromfunction`` calls one with no arguments.
ANYONE = frozenset(('gc.get_objects', 'gc.get_referrers', 'gc.get_referents',
                    'sys._current_frames', 'sys._current_exceptions', 'sys.settrace',
                    'sys.setprofile', 'sys.addaudithook', 'cpython.PyInterpreterState_New',
                    'import'))


def snapshot(worker, used):
    """What the worker calls, by identity: every entry of its modules' namespaces (and the
    carriers'), its classes' methods, its module-level tables, the builtins its code names
    (``used``: a learner may rebind print).  Functions' code and defaults are not kept:
    setting them raises an audit event (``object.__setattr__``), reading them one more.
    Returns ``(entries, sizes)`` for ``changed``."""
    entries, sizes = [], []  # (label, namespace, key, value); (label, namespace, names)
    for module in (*worker, *CARRIERS):
        namespace, own = vars(module), module in worker
        if own:
            sizes.append((module.__name__, namespace, _names(namespace)))
        for key, value in list(namespace.items()):
            entries.append((module.__name__, namespace, key, value))
            label = f'{module.__name__}.{key}'
            if isinstance(value, dict) and own and not key.startswith('__'):  # a table
                entries += [(label, value, k, v) for k, v in list(value.items())]
            elif isinstance(value, type) and value.__module__ == module.__name__:
                methods = vars(value)  # live: a method replaced on the class shows here
                entries += [(label, methods, k, v) for k, v in methods.items()
                            if callable(v) or isinstance(v, (staticmethod, classmethod, property))]
    builtin = vars(builtins)
    entries += [('builtins', builtin, k, v) for k, v in builtin.items() if k in used]
    return entries, sizes


def changed(g):
    """The first thing the worker calls that is not what it was at install, or ``None``.

    Checked every request, so in C where it can be: a namespace whose keys are all exact str
    (as Python makes them) is read by its row's ``read`` (``_grouped``: one C call), and no
    key's ``__eq__`` is anyone's but str's.  One holding another key (``vars(json)[k] =
    ...``, with the hash of a name the worker uses) is read by iterating it, keys compared by
    identity: a lookup would call that key's ``__eq__``, the submission's code, inside the hook."""
    plain = []
    for label, namespace, keys, values, read in g.entries:
        plain.append(_plain(namespace))
        if plain[-1]:
            try:
                now = read(namespace) if read else map(namespace.get, keys, _repeat(g))
                if all(map(_is, now, values)):
                    continue
            except KeyError:  # a name removed: found below
                pass
            now, found = namespace, keys
        else:
            now, found = {id(k): v for k, v in namespace.items()}, [id(k) for k in keys]
        for key, value, name in zip(found, values, keys):
            if now.get(key, g) is not value:
                return f'{label}.{name}'
    for (label, namespace, size), row in zip(g.sizes, g.sized):
        if _names(namespace, plain[row]) != size:
            return f'{label} (a name was added)'
    return None


def _plain(namespace):
    """Whether every key of ``namespace`` is an exact str (read in C: no key's method runs)."""
    return all(map(_is, map(type, namespace), _repeat(str)))


def _grouped(entries, sizes):
    """``snapshot``'s entries as one row per namespace, ``(label, namespace, keys, values,
    read)``, for ``changed`` to compare in C: ``read(namespace)``, the values of ``keys`` now as
    a tuple, is an ``itemgetter`` for a dict or a class's namespace (one key is read twice:
    ``itemgetter`` of one gives the value alone), ``None`` for a table of another type (read by
    ``get``: an ``itemgetter`` would call a ``defaultdict``'s factory).  Also the row of each of
    ``sizes``' namespaces."""
    rows = {}
    for label, namespace, key, value in entries:
        row = rows.setdefault(id(namespace), (label, namespace, [], []))
        row[2].append(key)
        row[3].append(value)
    grouped = []
    for label, namespace, keys, values in rows.values():
        if len(keys) == 1:
            keys, values = keys * 2, values * 2
        read = operator.itemgetter(*keys) if type(namespace) in (dict, types.MappingProxyType) \
            else None
        grouped.append((label, namespace, tuple(keys), tuple(values), read))
    row_of = {key: k for k, key in enumerate(rows)}
    return grouped, [row_of[id(namespace)] for _, namespace, _ in sizes]


def _names(namespace, plain=None):
    """How many names a module defines; ``warnings.warn`` adds its registry to the module of
    the frame it blames, which may be the worker's (a learner's ``stacklevel=2``).  Only an
    exact str is compared (another key's ``__eq__`` is the submission's); ``plain``: whether
    every key is one, when the caller knows."""
    if _plain(namespace) if plain is None else plain:
        return len(namespace) - ('__warningregistry__' in namespace)
    return sum(type(k) is not str or k != '__warningregistry__' for k in namespace)


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
            todo += [c for c in code.co_consts if isinstance(c, _CodeType)]
    return found


def _codes_of(value):
    value = getattr(value, '__func__', value)  # staticmethod, classmethod
    if isinstance(value, property):
        return [c for f in (value.fget, value.fset, value.fdel) for c in _codes_of(f)]
    code = getattr(value, '__code__', None)
    return [code] if isinstance(code, _CodeType) else []


def culprit(g, frame):
    """Whose code takes a route: the innermost frame not the standard library's decides.  A
    frame is a library's, or the standard library's (which acts for its caller), only when its
    code is its file's own (``genuine``)."""
    while frame is not None:
        code = frame.f_code
        if id(code) in g.codes:
            return WORKER
        name = _exact(code.co_filename)
        if type(name) is not str or not name.startswith(g.trusted) or not genuine(g, code, name):
            return SUBMISSION
        if not name.startswith(g.stdlib):
            return LIBRARY
        frame = frame.f_back
    return SUBMISSION  # a thread of the submission's running the standard library only


#: The frozen modules known by another name than their code's (``<frozen importlib._bootstrap>``).
FROZEN_AS = {'importlib._bootstrap': '_frozen_importlib',
             'importlib._bootstrap_external': '_frozen_importlib_external'}


def genuine(g, code, name):
    """Whether ``code`` is one of those its file's own text compiles to (each file compiled once,
    as a route first meets it).  A file name is a string the submission sets: its own code made
    to claim a library's (``_imp._fix_co_filename``, raising no event; ``marshal.loads``; a path
    through ``..`` to a file of its own with the same text) would pass for that library's and
    take its routes: the collector's objects, to the hook's state."""
    known = g.genuine.get(name)
    if known is None:
        known = g.genuine[name] = _compiled(name)
    return code in known  # code objects hash and compare in C, by their contents


def _compiled(name):
    """Every code object ``name``'s text compiles to (a frozen module's: as frozen), as a set;
    empty for a name that is not a plain path of a file (``..``, ``.``, ``//``)."""
    try:
        if name.startswith('<frozen ') and name.endswith('>'):
            module = name[8:-1]
            top = _frozen_code(FROZEN_AS.get(module, module))
        elif name.startswith('/') and '/./' not in name + '/' and '/../' not in name + '/' \
                and '//' not in name:
            with open(name, 'rb') as f:
                top = _compile(f.read(), name, 'exec', dont_inherit=True)
        else:
            return frozenset()
    except (OSError, ImportError, SyntaxError, ValueError):
        return frozenset()
    found, todo = set(), [top]
    while todo:
        code = todo.pop()
        found.add(code)
        todo += [c for c in code.co_consts if type(c) is _CodeType]
    return frozenset(found)


def sent(g, caller, args):
    """The answer an event hands the hook, as a dict, when the serve loop sent it; else ``None``.

    Worker code alone on the stack proves nothing: the submission holds the serve loop's
    functions (a frame walk) and makes functions of their code with defaults of its own, which
    the worker calls as a method of the learner's (``send_clone``); and a C callable it makes
    (``functools.partial(sys.audit, SEND, ...)``) raises the event from any worker frame that
    calls it.  So: on the serve loop's thread, from its ``reply`` (an exact dict of names) or
    its ``answer`` (an item's fields, immutable: in no dict that a collection's code could reach
    by a frame walk), called by the serve loop's own frame (by identity) at one of its calls by
    keyword (``g.sites``), where it calls only these and the loader, all bound before the
    submission loads.  A function made of their code is called at another place: the worker
    calls nothing of the submission's by keyword."""
    if _ident() != g.thread or len(args) != 1 or caller.f_back is not g.serve or \
            g.serve.f_lasti not in g.sites:
        return None
    code, fields = caller.f_code, args[0]
    if code is g.reply and type(fields) is dict and fields and _plain(fields):
        return fields
    if code is g.answer and type(fields) is tuple and len(fields) == 3:
        return {'id': fields[0], 'item': fields[1], 'result': fields[2]}
    return None


def _keyword_calls(code):
    """The offsets at which a frame of ``code`` stands while it calls by keyword (``KW_NAMES``,
    ``PRECALL``, ``CALL``): from the call to the end of its inline caches (``f_lasti`` while a
    Python function it called runs)."""
    steps = list(dis.get_instructions(code, show_caches=True))
    ops = [s for s in steps if s.opname != 'CACHE']
    sites = set()
    for before, call, after in zip(ops, ops[2:], ops[3:]):
        if call.opname == 'CALL' and before.opname == 'KW_NAMES':
            sites.update(range(call.offset, after.offset, 2))
    return frozenset(sites)


def worker_frame(g, frame):
    return type(frame) is FrameType and id(frame.f_code) in g.codes


def provenance(g, filename):
    """Whether code under ``filename`` would pass for the worker's, a library's or the
    standard library's."""
    return filename.startswith(g.trusted)


def same_source(source, filename):
    """Whether ``source`` is the file's own text (an import compiling it)."""
    source = _exact(source)
    if type(source) is str:
        source = source.encode('utf-8', 'surrogatepass')
    if type(source) is not bytes:
        return False
    try:
        with open(filename, 'rb') as f:
            text = f.read()
    except OSError:
        return False
    return source == text


def protected_file(g, path):
    """What opening ``path`` would reach: a protocol descriptor or a process's memory.  The
    path as written, and where the kernel takes it (every link followed: ``_reached``)."""
    path = _exact(path)
    if type(path) is int:
        return "the grader's answer channel" if path in g.fds else None
    path = _text(path)
    if type(path) is not str or path.startswith(g.quiet):
        return None
    target, node = _reached(path)
    if node in g.channel:
        return "the grader's answer channel (/proc/…/fd)"
    for candidate in (path, target):
        m = _match(candidate)
        if m:
            if m.group(1) == 'mem':
                return "a process's memory (/proc/…/mem)"
            fd = m.group(2) if m.group(2) is not None else m.group(3)
            if not fd.isdecimal() or int(fd) in g.fds:
                return "the grader's answer channel (/proc/…/fd)"
    return None


def _reached(path):
    """Where the kernel takes ``path``: its target's name and ``(st_dev, st_ino)``, read from an
    ``O_PATH`` descriptor (nothing is opened for reading, a fifo does not block); ``('',
    None)`` when it reaches nothing.  A link to ``/proc/self/fd/N`` reaches the pipe itself."""
    try:
        fd = _open(path, _O_PATH)
    except (OSError, ValueError):
        return '', None
    try:
        found = _fstat(fd)
        return _readlink(f'/proc/self/fd/{fd}'), (found.st_dev, found.st_ino)
    except OSError:
        return '', None
    finally:
        _close(fd)


def _unencodable(obj):
    """What the encoder cannot write (a buffer ``marshal`` kept as bytes): ``null``."""
    return None


def emit(g, fields, loaded=False):
    """Seal and send one answer: made ``plain`` (and packed) by the hook's own copy of
    ``protocol``, ``_json``'s C encoder, ``_hashlib``'s C HMAC; ``loaded``: ``protocol.message``'s."""
    fields = dict(fields)
    fields['nonce'] = g.nonce
    body = ''.join(g.encode(g.message(fields, loaded), 0)).encode()
    message = hmac_digest(g.key, g.sent[0].to_bytes(8, 'big') + body, 'sha256') + body
    g.sent[0] += 1
    view = memoryview(_header(len(message)) + message)
    while view:
        view = view[_write(g.wfd, view):]


def tampered(g, what):
    """Say what the submission did, sealed, and end the worker before the route returns."""
    try:
        emit(g, {'type': 'tampered', 'what': what})
    except BaseException:  # the channel is closed or full: the exit code still says it
        pass
    _exit(TAMPERED_EXIT)


#: What a route taken while a collection is under way raises (``hook``).
REFUSED = ('micrograde refuses this while a garbage collection runs (in a __del__, a weakref '
           'callback or a gc.callbacks function): the grader cannot check it there')


#: What ``_gate`` clears of an exception a check raised, by ``BaseException``'s own setters (no
#: ``__setattr__`` of an exception class's runs): its traceback holds the hook's frames, whose
#: locals hold its state and key, and a collection keeps them for the submission
#: (``gc.DEBUG_SAVEALL`` puts every frame of a cyclic traceback in ``gc.garbage``, where no
#: ``tb_frame`` is read); its context or cause may hold such a traceback.
CLEARED = tuple(vars(BaseException)[name].__set__
                for name in ('__traceback__', '__context__', '__cause__'))


def _gate(event, args, hook=None, BaseException=BaseException, cleared=CLEARED):
    """The audit hook as Python calls it: ``hook`` (bound to its state) runs, and a route it
    refuses (an exception it returns) is raised here, from a frame that holds nothing once it
    raises: its locals cleared, its globals an empty dict it never reads (all it uses are its
    defaults).  A traceback the submission catches shows this frame, never the hook's, whose
    locals hold the hook's state and whose globals what it calls (``_hooks_frame``), so that a
    learner's ``__del__`` may print the refusal."""
    try:
        refused = hook(event, args)
    except BaseException as e:  # a check that raised: raised again without the hook's frames
        hook = None
        cleared[0](e, None)  # three calls, no loop: no jump back between them
        cleared[1](e, None)
        cleared[2](e, None)
        raise
    if refused is not None:
        hook = None
        raise refused


def hook(g, event, args):
    if event != SEND and event not in g.routes and not event.startswith(CTYPES):
        return
    if event == 'object.__getattr__' and len(args) == 2 and type(args[1]) is str and \
            args[1] not in FRAME_READS:  # an exact str: only str's own hash and == run
        return
    if event == 'import' and args and type(args[0]) is str and \
            args[0].rpartition('.')[2] not in TEST_MODULES:  # every import: at once, in C
        return
    thread = _ident()
    if thread in g.busy:  # the hook's own reads (f_code, _getframe) raise events too: ~30 per
        return  # answer, none allocating; this thread holds the collector already
    # no collection, on any thread, while the hook runs: a collection runs the submission's code
    # (gc.callbacks, a __del__ or weakref callback of its garbage) on the thread whose allocation
    # starts it, and from inside the hook that code would reach ``g`` by f_back.  gc.disable()
    # holds only until another thread runs (the real gc.enable is within the submission's reach,
    # and the hook lets the GIL go as it writes); CPython's own ``collecting`` flag holds: while it
    # is set no collection starts anywhere (gc.collect() included), and none but a collection
    # under way clears it.  So it is taken only when no collection is under way, the test and
    # the set one straight line of bytecode that no other thread can come between (CPython 3.11
    # switches threads only at a call's end, a backward jump, a function's start, or in C that
    # lets the GIL go).  Until it is held, nothing allocates what the collector tracks (no
    # ``with``: its bound ``__exit__``; the wait counts with an int, not an iterator).  A frame
    # walk's evidence, taken by a collection's own code, is let by (``WALKS``); anything else
    # waits for the collection to end: another thread's would end in the middle of the hook.
    # One this thread is inside never ends while the hook waits (a learner's __del__ that opens
    # its log file): a route is then refused (``REFUSED``, raised by ``_gate``), at once when no
    # other thread runs Python (``_count``: a thread of the submission's that is ending is not
    # counted, and is refused alike), never checked: that allocates.  The refusal is made right
    # after the test, no call between: the collector is still held as it is allocated.
    held, left = g.collecting, _WAITS
    if held[0] and event != SEND and event not in WALKS and _count() <= 1:
        left = 0
    while held[0]:  # a collection under way: another thread's, or one this thread is inside
        if event in WALKS:
            found = event == 'object.__getattr__' and _hooks_frame(g, args, held)
            if found:
                _exit(TAMPERED_EXIT)  # no answer sent: its code would allocate here
            if found is None:  # the collection ended: the read is checked as any other
                continue
            return
        if not left:  # this thread's own (it never ends while the hook waits), or held open
            if event == SEND:
                _exit(STALLED_EXIT)
            return PermissionError(REFUSED)
        _sleep(_WAIT)  # lets the GIL go; the loop allocates nothing the collector tracks
        left -= 1
    held[0] = 1  # the test's last line falls through to it: no thread switch between
    try:  # from here an exception (the notebook watchdog's, at any call's end) lets it go
        g.busy.add(thread)
        caller = _getframe(2)  # past _gate's frame
        if event == SEND:
            fields = sent(g, caller, args)
            if fields is None:
                return tampered(g, "sent an answer from the submission's own code (or a thread "
                                   'it started)')
            if 'id' in fields and type(fields['id']) is not int:  # the grader's ids are ints
                return tampered(g, 'answered a request the grader did not send (the request '
                                   'channel was replaced)')
            if 'done' in fields or 'type' in fields:
                what = changed(g)
                if what:
                    return tampered(g, f"changed the grader's code ({what})")
            fields = dict(fields, output=g.taken(*g.output))
            frozen = type(fields.get('result')) is bytes  # an item's answer (serve._frozen)
            if frozen:
                fields['result'] = _loads(fields['result'])
            return emit(g, fields, frozen)
        # a check that raises refuses the call (the hook's exception is the call's): out of
        # depth or memory, both the submission's to arrange (recursion_check), it was let through
        route = g.routes.get(event)
        what = route(g, args, caller) if route else f'used ctypes ({event})'
        if what and (event in ANYONE or culprit(g, caller) == SUBMISSION):
            tampered(g, what)
    finally:
        held[0] = 0  # first: no collection has started since it was set, none can come between
        g.busy.discard(thread)


def _hooks_frame(g, args, held):
    """Whether a frame read hands out a frame of the hook's own (``_hooks``), read while a
    collection is under way: ``None`` when that collection has ended meanwhile (the read is
    then checked as any other, the collector held).  A check that raised (out of depth:
    ``recursion_check``) or the notebook watchdog's exception left such frames in the traceback
    the submission caught; read inside a collection, where frame reads are let by (``WALKS``),
    one handed it the hook's state and its key (``hook_traceback``).

    It runs before the hook holds the collector, which another thread's collection may let go
    at any call's end: it makes nothing the collector tracks but the arguments of the event its
    own read of ``tb_frame`` raises, made right after a test that the collector is still held
    (no call between)."""
    if len(args) != 2:  # an event the submission raised itself: no IndexError made here
        return False
    frame = args[0]
    if type(frame) is TracebackType and type(args[1]) is str and args[1] == 'tb_frame':
        thread = _ident()
        try:  # no call between: an exception at the add's end (the watchdog's) still discards
            g.busy.add(thread)  # its own read of tb_frame raises the event again
            if not held[0]:
                return None
            frame = frame.tb_frame
        finally:
            g.busy.discard(thread)
    return type(frame) is FrameType and _hooks(g, frame)


def _hooks(g, frame):
    """Whether ``frame`` is one of the hook's own: of its private functions or its copy of
    ``protocol``'s (their locals hold its state, their globals what it calls), or ``_gate``'s
    before it cleared its locals (the watchdog's exception raised as it began).  By globals and
    ``f_lasti``: reading neither raises an event or makes an object."""
    scope = frame.f_globals
    return scope is g.private or scope is g.carried or \
        scope is g.gate and frame.f_lasti not in g.cleared


def _collecting():
    """CPython's ``collecting`` flag (``_gc_runtime_state.collecting``, the int just before the
    pointers to ``gc.garbage`` and ``gc.callbacks``, found by them in the interpreter's state), as
    a one-int ctypes array: reading and setting an item raises no audit event and calls no Python.
    Checked: 0 now, 1 inside a collection."""
    interp = ctypes.PYFUNCTYPE(ctypes.c_void_p)(('PyInterpreterState_Get', ctypes.pythonapi))()
    state = ctypes.string_at(interp, 1 << 14)
    at = state.find(struct.pack('PP', id(gc.garbage), id(gc.callbacks)))
    flag = (ctypes.c_int * 1).from_address(interp + max(at - 8, 0))
    seen = []

    def look(phase, info):
        seen.append(flag[0])
    gc.callbacks.append(look)
    try:
        gc.collect(0)
    finally:
        gc.callbacks.remove(look)
    if at < 8 or at % 8 or flag[0] != 0 or seen != [1, 1]:
        raise RuntimeError("the garbage collector's state was not found (CPython 3.11+ only)")
    return flag


def _raises(code):
    """The offsets of ``code``'s raises: where ``_gate``'s frame stands once it cleared its
    locals and raised (its ``f_lasti`` in a traceback)."""
    return frozenset(step.offset for step in dis.get_instructions(code)
                     if step.opname in ('RAISE_VARARGS', 'RERAISE'))


def _forked(g):
    """In a child the submission forked: this process's seals would pass for the worker's, and
    its thread is the child's main thread (signal handlers run there): it gets a key of its own,
    which the grader does not hold (``dud``, made at install).  It calls nothing: a function
    that calls nothing runs wherever any code of the submission's can.  Out of depth (the
    recursion limit set just above the fork's caller), a call here failed where the child's
    next code still ran: Python hands what failed (this method, bound to the hook's state) to
    ``sys.unraisablehook``, and ``_posixsubprocess.fork_exec`` (no audit event) runs a
    ``preexec_fn`` in the child, which could copy the grader's key into memory the parent
    shares (an ``mmap``) with no call either."""
    g.key = g.dud


def _node(fd):
    found = _fstat(fd)
    return found.st_dev, found.st_ino


def _private(functions, namespace):
    """``functions`` rebound to ``namespace`` (closures kept): what they look up by name is
    then what it was at install, whatever the submission later assigns to this module."""
    return {name: types.FunctionType(f.__code__, namespace, f.__name__, f.__defaults__,
                                     f.__closure__) for name, f in functions.items()}


def install(key, nonce, wfd, fds, libraries, stdlib, output, reply, answer, sites):
    """Seal every answer from now on and watch the routes; ``libraries`` and ``stdlib``: folder
    prefixes whose frames are not the submission's; ``output``: the capture's storage
    (``protocol.taken``), read into every answer; ``reply``, ``answer``: the functions by which
    the caller (the serve loop) sends, each called by keyword (``sent``); ``sites``: the
    caller's ``_keyword_calls``, made at import (a warm template's workers inherit them: ~2 ms
    a worker).  Call before the submission loads."""
    modules = [m for name, m in list(sys.modules.items())
               if name == __package__ or name.startswith(__package__ + '.')]
    codes = _code_objects(modules, _getframe(1))
    codes.pop(id(_gate.__code__))  # its frame, in a refusal's traceback, holds nothing
    serve = _getframe(1)
    entries, sizes = snapshot(modules, {n for code in codes.values() for n in code.co_names})
    entries, sized = _grouped(entries, sizes)
    namespace = dict(globals())
    namespace['__builtins__'] = dict(vars(builtins))
    namespace.update(_private({k: v for k, v in namespace.items()
                               if isinstance(v, types.FunctionType) and v.__module__ == __name__},
                              namespace))
    routes = _private(ROUTES, namespace)
    carried = dict(vars(protocol), __builtins__=namespace['__builtins__'])  # its own copy
    carried.update(_private({k: v for k, v in carried.items() if isinstance(v, types.FunctionType)
                             and v.__module__ == protocol.__name__}, carried))
    folder = os.path.dirname(os.path.abspath(__file__)) + os.sep
    # a copy of the worker the submission imports itself runs as a library would (landlock's
    # ctypes at import): the running worker's code is known by identity, never by its files
    libraries, stdlib = (*libraries, folder), tuple(stdlib)
    g = types.SimpleNamespace(
        key=key, nonce=nonce, wfd=wfd, fds=frozenset(fds), sent=[0], busy=set(), codes=codes,
        serve=serve, sites=sites,
        reply=reply.__code__, answer=answer.__code__, thread=_ident(),
        channel={_node(fd) for fd in fds}, output=output, collecting=_collecting(), genuine={},
        private=namespace, carried=carried, gate={}, dud=_urandom(32),
        cleared=_raises(_gate.__code__),
        message=carried['message'], taken=carried['taken'],
        entries=entries, sizes=sizes, sized=sized, routes=routes, libraries=libraries, stdlib=stdlib,
        trusted=('<frozen', *libraries, *stdlib), quiet=(*libraries, *stdlib),
        printer=traceback.__file__,
        encode=make_encoder(None, namespace['_unencodable'], encode_basestring_ascii, None, ':',
                            ',', False, False, True))
    sys.addaudithook(types.FunctionType(_gate.__code__, g.gate, '_gate', (
        types.MethodType(namespace['hook'], g), BaseException, CLEARED)))
    os.register_at_fork(after_in_child=types.MethodType(namespace['_forked'], g))
