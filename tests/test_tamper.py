"""Forged answers from inside the worker, and the answer key out of reach (issue 20, class 1).

Each attack is a real submission graded through the real CLI, by ``micrograde grade`` (a worker
of its own) and by ``micrograde batch -j 2`` (as root: workers forked from the warm template).
Its engine has a wrong tanh, so a pass of any tanh check could only be forged; every attack must
end failed and scored 0, and each route into the worker with a "tampered with the grader"
finding that staff see in the report and the gradebook.
"""
import csv
import dis
import json
import re
import shutil
import sys
import textwrap
import types

import pytest

from conftest import SUBMISSIONS, needs_templates, validate_json, validate_junit
from engines import ENGINE, GOOD_TANH, WATCHED, hostile_engine, tampered

FORGED = '''
import json, os, struct
answer = json.dumps({'type': 'loaded', 'warnings': [], 'classes': {'Value': 'x'}}).encode()
for fd in range(3, 64):
    try:
        os.write(fd, struct.pack('>I', 32 + len(answer)) + bytes(32) + answer)
    except OSError:
        pass
'''

#: A hidden correct engine (_Good) and _forge(fields, frame): an answer the worker is about to
#: seal given the hidden engine's result for its item, run by the worker's own runner that an
#: f_back walk from ``frame`` finds in the serve loop.  Each door below runs it (or reaches the
#: hook's state, whose output reader it then wraps) after the worker observed the shown tanh's answer.
FORGE = ENGINE.replace('TANH_RULE', GOOD_TANH).replace('IN_BACKWARD', 'pass').replace(
    'Value', '_Good') + '''

import sys


def _up(frame, name):
    """The first frame from ``frame`` outward whose locals hold ``name``, or ``None``."""
    while frame is not None and name not in frame.f_locals:
        frame = frame.f_back
    return frame


def _forge(fields, frame):
    frame = _up(frame, 'request')
    if frame is not None and 'result' in fields:
        serve = frame.f_locals
        task, _, items = serve['request']  # read whole as it came: (order, item) pairs
        backend = serve['engine'](_Good, serve['own'], serve['found']['Value'].attributes)
        fields['result'] = serve['run'](task, items[fields['item']][1], {'Value': _Good}, backend,
                                        serve['own'])


def _seize(*args, **kwargs):
    """Run inside the guard's hook: the hook's state, by f_back, and its output reader (called
    for every answer, the answer's fields in the hook's frame) wrapped to rewrite each answer
    about to be sealed."""
    frame = sys._getframe(0)
    while frame is not None and 'g' not in frame.f_locals:
        frame = frame.f_back
    if frame is not None:
        _take(frame.f_locals['g'])
    return False


def _take(g):
    """The hook's state ``g`` made to forge: its output reader wrapped."""
    if not hasattr(g.taken, 'forging'):
        taken = g.taken

        def forging(*args):
            hook = sys._getframe(1)
            _forge(hook.f_locals.get('fields', {}), hook)
            return taken(*args)
        forging.forging = True
        g.taken = forging


# Run in backward(): the runner's result being collected (found by f_back: no event), the
# serve loop's frame, and the hidden engine's answer for this item, or ``None``.
def _window():
    frame = _up(sys._getframe(0), 'result')
    serve = _up(frame, 'request')
    if frame is None or serve is None or not isinstance(frame.f_locals['result'], dict):
        return None
    fields = {'result': None, 'item': serve.f_locals['k']}
    _forge(fields, serve)
    good = fields['result']
    return (frame.f_locals['result'], good) if isinstance(good, dict) else None
'''



def _forging(door):
    """The hostile engine (its tanh wrong) with FORGE and ``door`` run at import (a pair: and
    its second part first in backward())."""
    at_import, in_backward = (door, 'pass') if isinstance(door, str) else door
    return hostile_engine(FORGE + textwrap.dedent(at_import), in_backward)


#: A collection between the runner's last read and the seal (gc.set_threshold(1): at every
#: allocation) runs the submission's gc.callbacks, which find the serve loop's result by f_back
#: and rewrite it in place.
GC_WINDOW = '''
        import gc
        _busy = [False]

        def _collected(phase, info):
            frame = sys._getframe(0)
            while frame is not None and 'request' not in frame.f_locals:
                frame = frame.f_back
            if _busy[0] or frame is None or phase != 'start':
                return
            result, k = frame.f_locals.get('result'), frame.f_locals.get('k')
            if isinstance(result, dict) and k is not None:
                _busy[0] = True
                try:
                    fields = {'result': None, 'item': k}
                    _forge(fields, frame)
                    if isinstance(fields['result'], dict):
                        result.clear()
                        result.update(fields['result'])
                finally:
                    _busy[0] = False
        gc.callbacks.append(_collected)
        gc.set_threshold(1)
        '''

#: A thread of the submission's turns the real collector on (gc.enable and set_threshold kept
#: from import) while the serve loop's thread is inside the guard's hook, which lets go of the GIL
#: as it writes an answer (and, sys.setswitchinterval(1e-6), at any call's end): the next
#: allocation there starts a collection on that thread, inside the hook, and what the collection
#: runs (_inside, by each row's way in) takes the hook's state by f_back (_seize).  The thread
#: knows when: it holds the serve loop's frame (found in backward(): _AT) and reads its line (no
#: event).  On main each row forged a pass (review6's: a wrong tanh, 27/51); the hook now holds
#: the collector's own flag, and each is graded as written.  Each: (at import, in backward()).
GC_THREAD = '''
        import gc, threading, time, weakref
        _serving, _on, _threshold = threading.get_ident(), gc.enable, gc.set_threshold
        _at = []  # a frame of the serve loop's thread, and the line it is inside the hook at
        _seized = []  # whether _seize ran inside the hook

        def _answering():
            return bool(_at) and _at[0].f_lineno == _at[1]

        def _inside(*args):  # run by a collection: on the serve loop's thread, in the hook
            if threading.get_ident() == _serving and _answering():
                _seize()
                _seized.append(True)

        def _arm():  # what the thread leaves for the collection to run, as the hook runs
            pass

        def _spin():
            while True:
                if _answering():
                    _arm()
                    _threshold(1)
                    _on()
                else:
                    _threshold(700)
        threading.Thread(target=_spin, daemon=True).start()
        '''
#: backward(): the serve loop's frame, and the line of its item answer's audit (the next one)
_AT = '''
        if not _at:
            f = _up(sys._getframe(0), 'request')
            if f is not None:
                _at[:] = [f, f.f_lineno + 1]
        '''
GC_THREADS = {
    # the collection runs the submission's gc.callbacks (review6's repro)
    'gc_thread_hook': (GC_THREAD + '''
        gc.callbacks.append(_inside)
        ''', _AT),
    # ... the __del__ of garbage the thread made as the hook ran
    'gc_thread_del': (GC_THREAD + '''
        class _Trap:
            def __del__(self):
                _inside()

        def _arm():  # made with the collector off: this thread's allocations collect nothing
            gc.disable()
            trap = _Trap()
            trap.cycle = trap
        ''', _AT),
    # ... a weakref's callback, its object garbage the thread made as the hook ran
    'gc_thread_weakref': (GC_THREAD + '''
        class _Box:
            pass
        _refs = []

        def _arm():
            gc.disable()
            box = _Box()
            box.cycle = box
            _refs.append(weakref.ref(box, _inside))
            del _refs[:-100]
        ''', _AT),
    # ... inside the hook as it checks a route the submission's own code takes (open), switches
    # asked for every microsecond: the collector turned on in the middle of the check
    'gc_thread_route': (GC_THREAD + '''
        gc.callbacks.append(_inside)

        def _route():  # until a collection ran inside the hook (_seize wrapped g.taken)
            f = sys._getframe(0)
            _at[:] = [f, f.f_lineno + 3]
            for _ in range(0 if _seized else 10 ** 4):
                try:
                    open('/nonexistent-path')
                except OSError:
                    pass
            _at[1] = -1  # never emptied: another thread reads _at[0] after bool(_at)
        ''', '''
        sys.setswitchinterval(1e-6)
        _route()
        '''),
    # ... with a collection of another thread's held open (its own gc.callbacks entry waits) until
    # the serve loop answers, and ended as the hook runs
    'gc_thread_held': (GC_THREAD + '''
        gc.callbacks.append(_inside)

        def _hold(phase, info):
            if threading.get_ident() == _holder and phase == 'start':
                while not _answering():
                    time.sleep(0)
                time.sleep(0)
        gc.callbacks.insert(0, _hold)

        def _collecting():
            while True:
                gc.collect(0)
                while _answering():  # no collection of its own to hold the collector off
                    time.sleep(0)
        _holder = threading.Thread(target=_collecting, daemon=True)
        _holder.start()
        _holder = _holder.ident
        ''', '\n        sys.setswitchinterval(1e-6)' + _AT),
}

#: Doors by which code of the submission's ran after the worker observed an answer, and
#: rewrote it before it was sealed (each runs FORGE's _forge or _seize); graded as written, each
#: fails every check the same engine without its door fails (HONEST).
DOORS = {
    # a method of sys.stdout (the submission holds it) that the serve loop's reply() called
    # after the answer was complete: rewritten in reply's frame, then sealed by the worker
    'stdout_take': '''
        _take = type(sys.stdout).take

        def _rewrite():
            reply = sys._getframe(0).f_back
            _forge(reply.f_locals.get('fields', {}), reply)
            return _take(sys.stdout)
        sys.stdout.take = _rewrite
        ''',
    # code of the submission's run inside the guard's hook (which then watches nothing on this
    # thread) by each door the hook had: a str subclass's startswith (the open route's path),
    # os.fspath (os.path.normpath calls it), an event raised with an object whose __getattr__
    # or __class__ (isinstance) is the submission's, a key whose __eq__ is
    # (changed() looked a name up in a module's dict)
    'hook_str_subclass': '''
        class _Path(str):
            startswith = _seize
        try:
            open(_Path('/nonexistent-path'))
        except OSError:
            pass
        ''',
    'hook_fspath': '''
        import os
        _fspath, os.fspath = os.fspath, lambda path: _seize() or _fspath(path)
        try:
            open('/nonexistent-path')
        except OSError:
            pass
        os.fspath = _fspath
        ''',
    'hook_fake_event': '''
        class _Frame:
            __getattr__ = _seize
        sys.audit('object.__getattr__', _Frame(), 'tb_frame')
        ''',
    'hook_class_property': '''
        class _Path:
            __class__ = property(_seize)
        sys.audit('open', _Path(), 'r', 0)
        ''',
    'hook_key_collision': '''
        import json

        class _Key:  # looked up before json's own 'dumps' as the guard compares namespaces
            def __hash__(self):
                return hash('dumps')
            __eq__ = _seize
        _dumps = json.dumps
        del json.dumps
        vars(json)[_Key()] = None
        json.dumps = _dumps
        ''',
    # a signal handler: handed the frame it interrupts (no event), the guard's hook at times
    'signal_handler': '''
        import signal

        def _alarm(signum, frame):
            _seize()
        signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, 0.0002, 0.0002)
        ''',
    'gc_window': GC_WINDOW,
    # the same callback, run as the worker reads the gradients (a property of the submission's
    # that also turns on the real collector, from a gc module made fresh by _imp, should it be off)
    'gc_window_read': (GC_WINDOW, '''
        if not isinstance(vars(type(self)).get('grad'), property):
            import _imp, importlib.util
            _on = _imp.create_builtin(importlib.util.find_spec('gc')).enable

            def _get(v):
                _on()
                return v.__dict__.get('grad', 0.0)

            def _set(v, x):
                v.__dict__['grad'] = x
            type(self).grad = property(_get, _set)
        '''),
    # a __del__ the worker's own release of an object runs after the runner's last read: the
    # exception backward() raised, let go as the runner's except block ends, holds one that
    # rewrites the result (found in backward, by f_back) in place
    'del_window': ('''
        class _Rewrite:
            def __init__(self, result, good):
                self.result, self.good = result, good

            def __del__(self):
                self.result.clear()
                self.result.update(self.good)
        ''', '''
        found = _window()
        if found:
            raise RuntimeError(_Rewrite(*found))
        '''),
    # threads of the submission's, handed the result being collected, rewrite it in place once
    # the runner has read the gradients, between its last read and the seal (a switch asked
    # for every microsecond, by eight threads: the serve loop's turns are a few microseconds)
    'thread_window': ('''
        import threading
        _raced = []  # the results raced for, held: an id is reused once its dict is freed

        def _race(result, good):
            for _ in range(10 ** 6):
                if 'grads' in result:
                    result.update(good)
                    return
        ''', '''
        found = _window()
        if found and not any(r is found[0] for r in _raced):
            _raced.append(found[0])
            sys.setswitchinterval(1e-6)
            for _ in range(8):  # each waiting for the GIL: the loop's turns are short
                threading.Thread(target=_race, args=found, daemon=True).start()
        '''),
    # the request the serve loop runs (a dict on main, reached by f_back), its graphs' inputs
    # rewritten for the items still to run: graded as written, at the inputs the grader asked
    'request_rewrite': ('', '''
        serve = _up(sys._getframe(0), 'request')
        request = serve.f_locals['request'] if serve is not None else None
        for item in request.get('items', ()) if isinstance(request, dict) else ():
            graph = item.get('graph') if isinstance(item, dict) else None
            if isinstance(graph, dict):
                graph['inputs'] = [[name, 0.25] for name, _ in graph['inputs']]
        '''),
    # a module attribute the worker looked up as it packed an answer's long lists of floats
    # (protocol._doubles: binascii.b2a_base64), in no snapshot of the guard's
    'binascii_packing': '''
        import array, binascii
        _b2a = binascii.b2a_base64

        def _packing(data, newline=True):
            frame = sys._getframe(0)
            while frame is not None and 'k' not in frame.f_locals:
                frame = frame.f_back  # protocol.pack's comprehension: the key it packs
            if frame is not None:
                fields = {'result': {}, 'item': frame.f_back.f_back.f_locals.get('k')}
                _forge(fields, frame)
                good = fields['result'].get(frame.f_locals['k'])
                if isinstance(good, list) and all(type(x) is float for x in good):
                    data = array.array('d', good).tobytes()
            return _b2a(data, newline=newline)
        binascii.b2a_base64 = _packing
        ''',
    **GC_THREADS,
}
#: What the runners read once the submission's code has run, each swapped by backward() for one
#: call (a frame walk from its own frame: no event) and put back as it is called, so no check at
#: the request's end saw it; each hands the runner a hidden engine's gradients (review6: on main
#: a wrong tanh passed, 27/51; transient_op passed a wrong topological sort).  Run after FORGE:
#: _hidden() (at import) finds the graph's frame and the hidden engine's gradients the runner
#: reads next.  Now the runners call and read nothing there: a swap is never called, so it is
#: still in place at the request's end (seen: the words), or is no tampering (None: graded as
#: written).
HIDDEN = '''
        def _hidden():
            f = _up(sys._getframe(0), 'graph')
            serve = _up(f, 'request')
            if serve is None or len(f.f_locals['vals']) >= 50:
                return None
            fields = {'result': None, 'item': serve.f_locals['k']}
            _forge(fields, serve)
            key = 'grads2' if f.f_locals.get('i') else 'grads'
            good = fields['result']
            return (f, tuple(good[key])) if isinstance(good, dict) and key in good else None
        '''
READS = {
    # execute's _read in run_graph's module globals (the door review6 found: 27/51 on main)
    'transient_read': ("changed the grader's code (mgworker.execute._read)", '''
        found = _hidden()
        if found:
            _ns, _good = found[0].f_globals, found[1]

            def _once(reader, vals, _real=_ns['_read']):
                _ns['_read'] = _real
                got = _real(reader, vals)
                return _good if len(_good) == len(got) else got
            _ns['_read'] = _once
        '''),
    # a builtin the runner calls as it reads (tuple)
    'transient_builtin': ("changed the grader's code (builtins.tuple)", '''
        found = _hidden()
        if found:
            import builtins
            _good = found[1]

            def _once(it, _real=builtins.tuple):
                builtins.tuple = _real
                got = _real(it)
                return _good if len(_good) == len(got) else got
            builtins.tuple = _once
        '''),
    # the backend's reader of gradients, an attribute of an object the runner holds
    'transient_backend': (None, '''
        found = _hidden()
        if found:
            _at = {id(v): n for n, v in enumerate(found[0].f_locals['vals'])}
            try:
                found[0].f_locals['backend'].grad = lambda v, _g=found[1]: _g[_at[id(v)]]
            except AttributeError:
                pass
        '''),
    # the op the runner calls for a node (ops.Op.call), swapped for the request's next items: a
    # correct tanh of the shown Value at the first tanh, and the real op put back (on main, where
    # this door waited for a next item of add, mul and tanh only, a wrong topological sort passed)
    'transient_op': ("changed the grader's code (mgworker.ops.Op.call)", '''
        f = _up(sys._getframe(0), 'graph')
        serve = _up(f, 'request')
        ops = f.f_globals.get('OPS') if f is not None else None
        if serve is not None and isinstance(ops, dict) and \
                serve.f_locals['k'] < len(serve.f_locals['request'][2]) - 1:
            kind = type(ops['tanh'])
            real = vars(kind)['call']

            def _tanh(v):
                t = math.tanh(v.data)
                out = type(v)(t, (v,))

                def _backward():
                    v.grad += (1 - t ** 2) * out.grad
                out._backward = _backward
                return out

            def _until_tanh(op):
                if op.name != 'tanh':
                    return real.fget(op)
                kind.call = real
                return _tanh
            kind.call = property(_until_tanh)
        '''),
    # marshal.dumps, which freezes the runner's answer before the seal
    'transient_dumps': (None, '''
        found = _hidden()
        if found:
            import marshal
            _key = 'grads2' if found[0].f_locals.get('i') else 'grads'

            def _once(answer, *args, _real=marshal.dumps, _good=list(found[1])):
                marshal.dumps = _real
                if type(answer) is dict and len(answer.get(_key, ())) == len(_good):
                    answer = dict(answer, **{_key: _good})
                return _real(answer, *args)
            marshal.dumps = _once
        '''),
}
HONEST = hostile_engine()
#: The serve loop's reply() (at import, by f_back) and a dict whose ``in`` takes the hook's state
#: (``_seize``), then puts the engine's own backward() back and refuses to be sent.
SEND_CLONE = '''
        import functools, types
        _serve = _up(sys._getframe(0), 'reply')
        _reply = _serve.f_locals['reply'] if _serve is not None else None

        class _Trap(dict):
            def __contains__(self, key):
                _seize()
                Value.backward = _backward
                raise RuntimeError('seized')
        '''
#: Code of the submission's that passes for numpy's (its file name: linalg.py in numpy's folder):
#: its gc.get_objects() is a library's, let by, and finds the hook's state, whose output reader it
#: wraps (_take).  Each door below makes _payload's code claim numpy's file, then runs it.
LIBRARY_CODE = '''
        import gc, os, sys, types
        import numpy
        _linalg = os.path.join(os.path.dirname(numpy.__file__), 'linalg.py')

        def _payload():
            for g in gc.get_objects():
                if type(g) is types.SimpleNamespace and hasattr(g, 'taken') and hasattr(g, 'key'):
                    _take(g)
        '''
AS_LIBRARY = {
    # the guard's check of a route run out of depth: the recursion limit set just above the
    # caller's, the check's own nested audit event (its open of the file a code claims) raised
    # RecursionError, which the hook took for an odd argument and let the call through (now a
    # check that raises refuses the call, and the first limit it fits in sees the forged code)
    'recursion_check': ('''
        def _as_library(code, name):
            kept = sys.getrecursionlimit()
            for limit in range(2, 10 ** 5):
                try:
                    sys.setrecursionlimit(limit)
                except RecursionError:  # below the depth here
                    continue
                try:
                    return code.replace(co_filename=name)
                except RecursionError:  # the guard's check, out of depth: refused
                    continue
                finally:
                    sys.setrecursionlimit(kept)
        types.FunctionType(_as_library(_payload.__code__, _linalg), globals())()
        ''', 'made code that claims to come from'),
    # no code of its own: numpy's frame calls gc.get_objects for it (np.vectorize)
    'library_walks': ('''
        _all = numpy.vectorize(gc.get_objects, otypes=[object])(None).item()
        for g in _all:
            if type(g) is types.SimpleNamespace and hasattr(g, 'taken') and hasattr(g, 'key'):
                _take(g)
        ''', "walked the garbage collector's objects"),
    # _imp's own rename of a code object's file (importlib's, for a moved .pyc): no event at all
    'library_rename': ('''
        import _imp
        _imp._fix_co_filename(_payload.__code__, _linalg)
        _payload()
        ''', "walked the garbage collector's objects"),
    # marshal's bytes of _payload's code, its file name swapped (a short string: one byte of
    # length), loaded back: marshal.loads is no route
    'library_marshal': ('''
        import marshal
        _data, _own = marshal.dumps(_payload.__code__), _payload.__code__.co_filename.encode()
        _at = _data.index(_own)
        _name = bytes([len(_linalg)]) + _linalg.encode()
        _data = _data[:_at - 1] + _name + _data[_at + len(_own):]
        types.FunctionType(marshal.loads(_data), globals())()
        ''', "walked the garbage collector's objects"),
    # compile() under a path through numpy's folder and '..' to a file of its own with the same
    # text: the guard compared the source with the file at that path, which was the same
    'library_dotdot': ('''
        import inspect, tempfile
        _text, _mine = inspect.getsource(_payload), os.path.join(tempfile.mkdtemp(), 'mine.py')
        with open(_mine, 'w') as f:
            f.write(_text)
        _name = os.path.dirname(numpy.__file__) + '/..' * 40 + _mine
        exec(compile(_text, _name, 'exec'), globals())
        _payload()
        ''', "walked the garbage collector's objects"),
}

#: A check of the guard's hook run out of depth (the recursion limit set just above the caller's)
#: raises, refusing the call: the RecursionError the submission catches holds the hook's frames in
#: its traceback, their locals the hook's state.  Reading a traceback's frame is a route, but one
#: let by while a collection is under way (a learner's __del__ may print a stack): a __del__ the
#: submission's own gc.collect() ran took the hook's state from there (on main a wrong tanh passed,
#: 27/51).  Now a frame of the hook's handed out there ends the worker as tampering.
HOOK_TRACEBACK = '''
        import gc

        def _raised_in_hook():  # a RecursionError the guard's hook raised, its frames kept
            kept = sys.getrecursionlimit()
            for limit in range(2, 10 ** 5):
                try:
                    sys.setrecursionlimit(limit)
                except RecursionError:  # below the depth here
                    continue
                try:
                    open('/nonexistent-path')
                except RecursionError as e:
                    tb, depth = e.__traceback__, 0
                    while tb is not None:  # tb_next: no event
                        tb, depth = tb.tb_next, depth + 1
                    if depth >= 3:  # its own frame, the audit hook's, a check's
                        return e
                except OSError:
                    return None  # the hook ran whole: no limit stops it inside
                finally:
                    sys.setrecursionlimit(kept)
            return None

        class _Trap:  # its __del__ runs inside a collection: frame reads there are let by
            def __del__(self):
                tb = _caught.__traceback__ if _caught is not None else None
                while tb is not None:
                    f = tb.tb_frame
                    if 'g' in f.f_locals and hasattr(f.f_locals['g'], 'key'):
                        _take(f.f_locals['g'])
                        _found.append(True)
                        return
                    tb = tb.tb_next
        _found = []
        _caught = _raised_in_hook()
        _trap = _Trap()
        _trap.cycle = _trap
        del _trap
        gc.collect()
        '''

#: The same frames kept by the collector instead: the RecursionError the hook raised made cyclic
#: garbage while ``gc.DEBUG_SAVEALL`` is set (no audit event), so that the collection appends the
#: exception, its traceback and every frame the traceback holds to ``gc.garbage``, a plain list.
#: No ``tb_frame`` is read (the guard's ``_frame_of`` never asked), and a check's frame's
#: ``f_locals`` (no event either) hand out the hook's state and its key: on main the wrong tanh
#: passed (27/51, verdict "passed", nothing seen).
HOOK_GARBAGE = HOOK_TRACEBACK[:HOOK_TRACEBACK.index('        class _Trap')] + '''
        _caught = _raised_in_hook()
        if _caught is not None:
            gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection frees is kept in gc.garbage
            _caught.cycle = _caught  # the exception, its traceback and their frames: garbage
            del _caught
            gc.collect()
            gc.set_debug(0)
        for _f in [o for o in gc.garbage if type(o).__name__ == 'frame']:
            if 'g' in _f.f_locals and hasattr(_f.f_locals['g'], 'key'):
                _take(_f.f_locals['g'])
        del gc.garbage[:]
        '''

#: A subinterpreter (``_xxsubinterpreters``, of the standard library) runs no audit hook of this
#: one's: ctypes there raises no event the guard sees.  It reads the main interpreter's state
#: (every pointer in it that lands in a mapped page), finds the list of its audit hooks, and
#: hands the guard's gate to the submission by the address of a list of its own: the gate's
#: default holds the hook bound to its state, key and all (on main the wrong tanh passed, 27/51,
#: verdict "passed", nothing seen).
SUBINTERPRETER = '''
        import builtins
        _box = []
        _code = \'\'\'
        import ctypes
        box = ctypes.cast(BOX, ctypes.py_object).value
        main = ctypes.pythonapi.PyInterpreterState_Main
        main.restype = ctypes.c_void_p
        state = ctypes.string_at(main(), 1 << 14)
        spans = []
        for line in open('/proc/self/maps'):
            span, mode = line.split()[:2]
            if mode.startswith('rw'):
                spans.append([int(x, 16) for x in span.split('-')])
        for at in range(0, len(state) - 8, 8):
            p = int.from_bytes(state[at:at + 8], 'little')
            if not any(lo <= p and p + 16 <= hi for lo, hi in spans) or \\
                    ctypes.c_void_p.from_address(p + 8).value != id(list):
                continue
            for hook in ctypes.cast(p, ctypes.py_object).value:
                if getattr(hook, '__name__', '') == '_gate':
                    box.append(hook.__defaults__[0].__self__)
            if box:
                break
        \'\'\'.replace('BOX', str(builtins.id(_box)))  # an address: not the numbered id()
        MAKE
        if _box:
            _take(_box[0])
        '''
#: How SUBINTERPRETER makes its interpreter, and what the guard says of it.
MAKES = {
    'subinterpreters': ('import _xxsubinterpreters as _x; _x.run_string(_x.create(), _code)',
                        'started an interpreter'),
    # made with no thread state: no event of its making reaches this interpreter's hooks
    'testcapi': ('import _testcapi; _testcapi.run_in_subinterp(_code)',
                 "imported CPython's test module _testcapi"),
}

#: The serve loop's request channel replaced (os.dup2: no event) by a pipe of the submission's
#: holding one pickled request, whose load (by the serve loop) reads the grader's first request
#: and hands it on with its id a dict subclass, and puts the grader's channel back: the loop
#: answered with that id, which the guard's C encoder (an item's answer, its result frozen, was
#: not made plain) asked for items(): code of the submission's inside the hook, which seals a
#: forged answer itself and wraps the output reader for the rest (on main a wrong tanh passed,
#: 27/51).  Now an id that is no int is tampering, and an item's other fields are made plain.
REQUEST_ID = '''
        import hmac, os, pickle, struct
        _serving = _up(sys._getframe(0), 'hello')
        _rfd = _serving.f_locals['rfd']
        _real, _junk, _ids = os.dup(_rfd), os.open(os.devnull, os.O_WRONLY), []

        class _Id(dict):  # the first request's id: the guard's C encoder asks it for items()
            def items(self):
                emit = sys._getframe(1)
                g, fields = emit.f_locals['g'], emit.f_locals['fields']
                _take(g)
                good = dict(fields, id=_ids[0])
                _forge(good, emit)
                body = ''.join(g.encode(g.message(good), 0)).encode()
                seq = g.sent[0]
                sealed = hmac.digest(g.key, seq.to_bytes(8, 'big') + body, 'sha256') + body
                os.write(g.wfd, struct.pack('>I', len(sealed)) + sealed)
                g.real_wfd, g.wfd = g.wfd, _junk  # the worker's own (malformed) copy: nowhere
                return []

        _taken = _take

        def _take(g):  # every later answer: its id put back, the channel too
            _taken(g)
            inner = g.taken
            if getattr(inner, 'ids', False):
                return

            def taken(*args):
                hook = sys._getframe(1)
                fields = hook.f_locals.get('fields')
                if isinstance(fields, dict) and type(fields.get('id')) is _Id:
                    fields['id'] = _ids[0]
                g.wfd = getattr(g, 'real_wfd', g.wfd)
                return inner(*args)
            taken.ids = taken.forging = True
            g.taken = taken

        def _relay():  # unpickled by the serve loop: the grader's first request, its id ours
            head = os.read(_real, 4)
            (n,) = struct.unpack('>I', head)
            body = b''
            while len(body) < n:
                body += os.read(_real, n - len(body))
            request = pickle.loads(body)
            _ids.append(request['id'])
            request['id'] = _Id(x=1)
            os.dup2(_real, _rfd)
            return request
        _relay.__module__, _relay.__qualname__ = 'os', '_mg_relay'
        os._mg_relay = _relay

        class _Ask:
            def __reduce__(self):
                return _relay, ()
        _r, _w = os.pipe()
        os.dup2(_r, _rfd)
        _asked = pickle.dumps(_Ask())
        os.write(_w, struct.pack('>I', len(_asked)) + _asked)
        '''

#: attack -> (its source, words the report's tampered finding says; None: no route taken)
ATTACKS = {
    # the worker's graph and MLP runners replaced at import by ones that run a hidden engine:
    # the running worker is not in sys.modules to be found, and binds what it calls anyway
    'runner_replaced': (tampered('runner_replaced'), None),
    # the same through a copy the submission imports itself, and a transient patch
    'runner_reimported': (hostile_engine('''
        import mgworker.execute, mgworker.serve
        mgworker.serve.run_graph = lambda *a, **k: {'values': [], 'grads': []}
        mgworker.execute.Backend.grad = lambda self, v: 0.0
        '''), None),
    # torch's autograd as the answer key: kept out of reach, so the engine does not load
    'torch_oracle': (tampered('torch_oracle'), None),
    # a collection started inside the hook (any allocation may start one) runs the submission's
    # gc.callbacks: from there f_back reaches the hook's state (_seize); the hook turns the
    # collector off before it allocates anything (it runs while items do)
    'gc_callback': (hostile_engine(FORGE + '''
import gc
gc.callbacks.append(lambda phase, info: _seize())
gc.set_threshold(1)  # a collection at every allocation: inside the hook too
'''), None),
    # a fork: the thread that forked (the serve loop's) is the child's main thread, where the real
    # signal.signal works, and the child holds the grader's channel: the signal_handler door
    # again, but the child's key is not the grader's: its answers are tampering, or its parent,
    # asleep, is a worker lost; never a pass
    'fork_signal': (_forging('''
        import os, signal, _signal, time
        if os.fork():
            while True:
                time.sleep(3600)

        def _alarm(signum, frame):
            _seize()
        _signal.signal(signal.SIGALRM, _alarm)
        _signal.setitimer(signal.ITIMER_REAL, 0.0002, 0.0002)
        '''), ''),
    'gc_walk': (hostile_engine('''
        import gc
        secrets = [o for o in gc.get_objects() if isinstance(o, dict) and 'nonce' in o]
        '''), "garbage collector's objects"),
    'gc_referrers': (hostile_engine(in_backward='''
        import gc
        users = gc.get_referrers(self)  # the worker's lists of this graph's Values
        '''), "garbage collector's objects"),
    'ctypes_write': (hostile_engine('''
        import ctypes
        x = 1.5
        ctypes.c_double.from_address(id(x) + 16).value = 2.5
        '''), 'used ctypes'),
    'frame_walk': (hostile_engine(in_backward='''
        import sys
        grader = sys._getframe(2)  # the worker's run_graph: its vals, its result
        grader.f_locals['result']['grads'] = [1.0]
        '''), "grader's frames"),
    'frame_walk_inspect': (hostile_engine(in_backward='''
        import inspect
        stack = inspect.stack()
        '''), "grader's frames"),
    'traceback_walk': (hostile_engine(in_backward='''
        import sys
        try:
            raise ValueError
        except ValueError as e:
            frame = e.__traceback__.tb_frame
            while frame.f_code.co_name != 'run_graph':
                frame = frame.f_back
        '''), "grader's frames"),
    # the running worker reached through what it hands the submission: instrumented runs wrap
    # each node's _backward in a function of the worker's, whose globals are its module's
    'code_swap': (hostile_engine(in_backward='''
        grader = getattr(self._backward, '__globals__', {})
        if 'Backend' in grader:
            grader['Backend'].grad.__code__ = (lambda self, v: 0.0).__code__
        '''), 'replaced a function'),
    'globals_patch': (hostile_engine(in_backward='''
        grader = getattr(self._backward, '__globals__', {})
        if '_read' in grader:
            grader['_read'] = lambda reader, vals: [0.0] * len(vals)
        '''), "changed the grader's code (mgworker.execute._read)"),
    'proc_mem': (hostile_engine('''
        with open('/proc/self/mem', 'rb') as f:
            pass
        '''), "process's memory"),
    'fd_reopen': (hostile_engine('''
        import os
        for fd in range(3, 64):
            try:
                open(f'/proc/self/fd/{fd}', 'wb').close()
            except OSError:
                pass
        '''), "answer channel"),
    'own_answers': (hostile_engine(FORGED), 'answers of its own'),
    'audit_send': (hostile_engine('''
        import sys
        sys.audit('mgworker.send', {'type': 'loaded', 'warnings': [], 'classes': {}})
        '''), "submission's own code"),
    # the serve loop's own reply(), found by an f_back walk (no audit event), run on a thread of
    # the submission's: a stack of worker code alone, but not the serve loop's thread and root
    'thread_reply': (hostile_engine(in_backward='''
        import _thread, sys, time
        f = sys._getframe(0)
        while f is not None and 'reply' not in f.f_locals:
            f = f.f_back
        if f is not None:
            _thread.start_new_thread(f.f_locals['reply'], (), {'id': 0, 'done': True})
            time.sleep(0.5)
        '''), 'a thread it started'),
    # a runner's bound defaults replaced (reached through run_graph's module globals): setting
    # __defaults__ is a route the guard refuses
    'defaults_swap': (hostile_engine(in_backward='''
        import sys
        f = sys._getframe(0)
        while f is not None and 'graph' not in f.f_locals:
            f = f.f_back
        if f is not None:
            read = f.f_globals['_read']
            read.__defaults__ = read.__defaults__[:-1] + (lambda reader: reader,)
        '''), "replaced a function's __defaults__"),
    'settrace': (hostile_engine('''
        import sys
        sys.settrace(lambda frame, event, arg: None)
        '''), 'trace function'),
    # the serve loop's reply() (found by f_back) made again with defaults of its own, a C
    # partial of sys.audit handing the hook an answer of the submission's: as the learner's
    # backward() the worker calls it, a stack of worker code alone on the serve loop's thread,
    # and the hook read the answer's fields by their methods (on main a wrong tanh passed, 27/51)
    'send_clone': (_forging((SEND_CLONE, 'pass')) + '''
_backward = Value.backward
if _reply is not None:
    Value.backward = staticmethod(types.FunctionType(_reply.__code__, globals(), 'backward', (
        functools.partial(sys.audit, 'mgworker.send', _Trap()), 'mgworker.send')))
''', "sent an answer from the submission's own code"),
    # ... or no function at all: a C partial of sys.audit as the learner's backward(), the event
    # raised from the worker's own frame that calls it
    'send_partial': (_forging((SEND_CLONE, 'pass')) + '''
_backward = Value.backward
Value.backward = functools.partial(sys.audit, 'mgworker.send', _Trap())
''', "sent an answer from the submission's own code"),
    # (an exception the hook raised is raised again without its frames: the attack finds none)
    'hook_traceback': (_forging(HOOK_TRACEBACK), None),
    'request_id': (_forging(REQUEST_ID), 'answered a request the grader did not send'),
    # (on main each passed a wrong tanh, 27/51)
    **{name: (_forging(LIBRARY_CODE + door), words) for name, (door, words) in AS_LIBRARY.items()},
    **{name: (_forging(door), None) for name, door in DOORS.items()},
    **{name: (_forging((HIDDEN, door)), words) for name, (words, door) in READS.items()},
    # a tanh rule right whenever the grader watches it (on main a wrong tanh passed all, 51/51)
    **{f'watched_{how}': (hostile_engine(tanh=f'self.grad += ((1 - t ** 2) if {test} else '
                                              f'(1 - t)) * out.grad'), None)
       for how, test in WATCHED.items()},
}


#: Doors still open.  numpy reads and writes any address for whoever hands it an
#: ``__array_interface__`` (no audit event, no ctypes): the submission finds the hook's state in
#: the heap (the dict entry beside the serve loop's nonce, whose address is its id) and points
#: its output reader at a function of its own, which rewrites every answer before its seal.
#: Nothing in one process stops a raw memory write; see the README's sandbox section.
NUMPY_MEMORY = ('''
        import builtins
        import numpy as np

        id = builtins.id  # an address (the submission's own id() is numbered: worker/identity.py)

        class _Raw:  # numpy's view of any address
            def __init__(self, at, n):
                self.__array_interface__ = {'data': (at, False), 'shape': (n,),
                                            'typestr': '<u8', 'version': 3}

        def _regions():
            with open('/proc/self/maps') as f:
                for line in f:
                    span, mode, _, _, inode, *name = line.split()
                    if mode == 'rw-p' and inode == '0' and name[:1] != ['[vvar]']:
                        yield (int(x, 16) for x in span.split('-'))

        def _forging(*args):  # the hook's output reader, called inside the hook
            hook = sys._getframe(1)
            _forge(hook.f_locals.get('fields', {}), hook)
            return _forging.taken(*args)

        def _grab():
            serve = _up(sys._getframe(0), 'hello')
            nonce, _forging.taken = serve.f_locals['hello']['nonce'], \\
                serve.f_globals['protocol'].taken
            for lo, hi in _regions():
                words = np.asarray(_Raw(lo, (hi - lo) // 8))
                for i in np.flatnonzero(words == id(nonce)):
                    if i and words[i - 1] == id('nonce'):  # a dict entry: (key, value)
                        for j in range(i - 1, min(i + 80, len(words)), 2):
                            if words[j] == id('taken'):
                                np.asarray(_Raw(id(_forging), 1))[0] += 100  # its refcount
                                words[j + 1] = id(_forging)
                                return
        ''', '''
        if not hasattr(_grab, 'done'):
            _grab.done = _grab()
        ''')
OPEN = {'numpy_memory': _forging(NUMPY_MEMORY)}

#: A correct engine that does what learners do, and what libraries do for them: no tampering.
INNOCENT = tampered('innocent')

#: A correct engine whose Value.__del__ logs to a file (a learner's debugging).  Each node's rule
#: closes over the node (a cycle), so the collector frees them: the __del__ runs inside a
#: collection on the serve loop's thread, where the guard cannot check the open.  On main the
#: guard waited for that collection to end, which it never does, and the worker was lost (exit
#: 87: 14/51, failed); now the open is refused (it raises), and printing the refusal with its
#: traceback reads no frame of the guard's.
DEL_LOGGER = ENGINE.replace('TANH_RULE', GOOD_TANH).replace('IN_BACKWARD', 'pass') + '''

import os
import tempfile
import traceback

_LOG = os.path.join(tempfile.gettempdir(), 'values.log')


def _logged(self):
    try:
        with open(_LOG, 'a') as f:
            f.write('freed\\n')
    except OSError:
        traceback.print_exc()


Value.__del__ = _logged
'''


#: A learner's names past the 200 characters the grader keeps of one (``KEEP['name']``): the
#: lecture's correct engine with a class name of 301 characters (``__pow__``'s assertion, which
#: the ``a ** b`` probe raises, names it as the function's class), and one whose backward()
#: calls a helper of a 300-character name that raises.  On main the worker sent each name
#: whole, the grader cut it to no identifier, took that for an answer our worker never sends,
#: and failed every check: "the submission interfered with grading", 0/51 (passed and 37/51
#: as written).
LONG = 'check_every_node_of_the_graph_has_a_numeric_gradient_before_propagating_it_' * 4
LECTURE = (SUBMISSIONS / 'lecture_engine.py').read_text()
LONG_CLASS = LECTURE.replace('Value', 'V' + LONG)
_TOPO = '        build_topo(self)\n'
LONG_RAISE, SHORT_RAISE = (LECTURE.replace(_TOPO, f'{_TOPO}        {name}(self)\n') + f'''

def {name}(v):
    raise ValueError('not propagated yet')
''' for name in (LONG, 'check'))

#: ... and the helper made of its code without a line table (``co_linetable=b''``: the
#: traceback's ``tb_lineno`` is None).  On main reading its line raised inside the worker's own
#: handler of the learner's exception: the worker was lost on every graph, 0/51.
UNLINED = LECTURE.replace(_TOPO, f'{_TOPO}        _unlined(self)\n') + '''

import types


def _check(v):
    raise ValueError('not propagated yet')


_unlined = types.FunctionType(_check.__code__.replace(co_linetable=b''), globals(), '_check')
'''
#: ... and a network whose call raises a TypeError whose str() raises: on main reading that
#: message inside the worker's own handler of it ended the worker on every MLP task (43/51,
#: "WorkerLost"; 49/51 for a plain TypeError).
_CALL = '''    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x
'''
MLP_RAISE, MLP_STRLESS = (LECTURE.replace(_CALL, f'''    def __call__(self, x):
        raise {kind}('wrong shape')
''') + '''

class ShapeError(TypeError):
    def __str__(self):
        raise RuntimeError('no words')
''' for kind in ('TypeError', 'ShapeError'))
#: A correct engine whose leaves keep no rule (backward() runs only the rules its nodes hold)
#: and whose __getattr__ reads the instance's dict (``KeyError`` for what it lacks): the
#: worker's read of a leaf's rule raised that KeyError past its runner and ended the worker on
#: every graph (0/51; passed as written).
LAZY = LECTURE.replace('        self._backward = lambda: None\n', '').replace(
    '            node._backward()', "            if '_backward' in node.__dict__:\n"
                                   '                node._backward()').replace(
    '    def __repr__(self):', '    def __getattr__(self, name):\n        return self.__dict__[name]\n'
                              '\n    def __repr__(self):')
#: A correct engine whose metaclass freezes the class's attributes once it is made: the worker set
#: its numbered hash through the class (``identity.install``), the metaclass raised, and the
#: worker was lost at every request (0/51).
FROZEN = LECTURE.replace('class Value:\n', '''class Frozen(type):
    def __setattr__(cls, name, value):
        raise RuntimeError(f'{cls.__name__} is frozen')

    def __delattr__(cls, name):
        raise RuntimeError(f'{cls.__name__} is frozen')


class Value(metaclass=Frozen):
''', 1)
NAMES = {'lazy': LAZY, 'long_class': LONG_CLASS, 'long_raise': LONG_RAISE, 'short_raise': SHORT_RAISE,
         'unlined': UNLINED, 'mlp_raise': MLP_RAISE, 'mlp_strless': MLP_STRLESS, 'frozen': FROZEN}


#: Rows whose door finds nothing left to rewrite: graded as written, every check as HONEST's
#: (one graph forged changes a count in a check's message).
AS_WRITTEN = {'gc_window_read', 'del_window', 'thread_window', 'request_rewrite'}


def _as_written(report):
    """Each check's status and message, but the load's and where in its file the submission
    raised (the file and its lines are the attack's own)."""
    return {c['id']: (c['status'], re.sub(r' \(at [^)]*\)', '', c['message']))
            for c in report['checks'] if c['id'] != 'load'}


def _check(report, words, honest=()):
    """Never a pass it did not earn: failed, the wrong tanh or the nothing-doing backward() found
    out, and none of the checks in ``honest`` (those its engine without the attack does not
    pass) passed, or (a dict) each graded as HONEST's report is; a route into the worker
    scores nothing at all."""
    checks = {c['id']: c for c in report['checks']}
    passed = [(c['id'], c['status']) for c in report['checks'] if c['status'] == 'passed']
    assert report['verdict'] == 'failed', passed
    if isinstance(honest, dict):
        found, expected = _as_written(report), _as_written(honest)
        assert found == expected, {k: found.get(k) for k in found.keys() | expected.keys()
                                   if found.get(k) != expected.get(k)}
        honest = _unpassed(honest)
    assert not {c for c, _ in passed} & set(honest), passed
    if words is None:
        assert 'tampered' not in checks
        graded = [c for c in checks.values() if c['category'] in ('ops', 'backward', 'fuzz')
                  and c['max_score']]
        assert any(c['status'] != 'passed' for c in graded), passed
        return checks
    assert report['score'] == 0, passed
    if not words:  # '': nothing scored, the route seen or the worker lost to it (timing decides)
        return checks
    assert checks['tampered']['status'] == 'failed', checks.get('tampered')
    assert words in checks['tampered']['message'], checks['tampered']['message']
    assert report['checks'][0]['id'] == 'tampered'  # staff see it first
    return checks


def test_what_learners_and_libraries_do_is_not_tampering(run_cli, tmp_path):
    path = tmp_path / 'innocent.py'
    path.write_text(INNOCENT)
    out = tmp_path / 'out'
    result = run_cli('grade', path, '--profile', 'quick', '--out', out, '--no-color')
    report = json.loads((out / 'report.json').read_text())
    assert result.returncode == 0 and report['verdict'] == 'passed', \
        [(c['id'], c['message']) for c in report['checks'] if c['status'] == 'failed']
    assert 'tampered' not in {c['id'] for c in report['checks']}


def test_a_learners_del_that_opens_a_file_is_graded_as_without_it(run_cli, tmp_path):
    reports = {}
    for name, source in (('logger', DEL_LOGGER), ('plain', DEL_LOGGER.partition('\nimport os')[0])):
        path = tmp_path / f'{name}.py'
        path.write_text(source)
        out = tmp_path / name
        run_cli('grade', path, '--profile', 'quick', '--out', out, '--no-color')
        reports[name] = json.loads((out / 'report.json').read_text())
    assert reports['plain']['verdict'] == 'passed'
    assert _as_written(reports['logger']) == _as_written(reports['plain'])
    assert reports['logger']['score'] == reports['plain']['score']
    printed = ''.join(c.get('output') or '' for c in reports['logger']['checks'])
    assert 'Traceback' in printed and 'garbage collection' in printed  # the refusal, printed


def test_a_learners_long_names_and_unlined_code_are_graded_as_plain_ones(run_cli, tmp_path):
    reports = {}
    for name, source in NAMES.items():
        path = tmp_path / f'{name}.py'
        path.write_text(source)
        out = tmp_path / name
        run_cli('grade', path, '--profile', 'quick', '--out', out, '--no-color')
        reports[name] = json.loads((out / 'report.json').read_text())
    assert reports['long_class']['verdict'] == 'passed', _as_written(reports['long_class'])
    assert reports['lazy']['verdict'] == 'passed', _as_written(reports['lazy'])
    assert reports['frozen']['verdict'] == 'passed', _as_written(reports['frozen'])
    _long_raise_as_short(reports['long_raise'], reports['short_raise'])
    _long_raise_as_short(reports['unlined'], reports['short_raise'])
    _long_raise_as_short(reports['mlp_strless'], reports['mlp_raise'])


def _long_raise_as_short(long, short):
    """The long-named (or unlined) helper's exception graded as the short one's: every check's
    status, and the score (their messages quote each one's own line)."""
    assert long['score'] == short['score'] < long['max_score']
    assert {c['id']: c['status'] for c in long['checks']} == \
        {c['id']: c['status'] for c in short['checks']}
    assert not [c['id'] for c in long['checks'] if 'interfered' in c['message'] or
                'WorkerLost' in c['message']]


def _unpassed(report):
    return {c['id'] for c in report['checks'] if c['status'] != 'passed'}


def _honest(name, report):
    """What a door's attack is held to: the checks its engine without it does not pass, or that
    engine's report itself (``AS_WRITTEN``)."""
    return report if name in AS_WRITTEN else _unpassed(report) if name in DOORS or name in READS \
        or name.removeprefix('watched_') in WATCHED else ()


@pytest.fixture(scope='module')
def honest_grade(tmp_path_factory):
    """HONEST graded as the attacks are (``grade``): what its engine earns."""
    from conftest import in_process
    path = tmp_path_factory.mktemp('honest') / 'honest.py'
    path.write_text(HONEST)
    out = path.parent / 'out'
    in_process('grade', path, '--profile', 'quick', '--out', out, '--no-color')
    return json.loads((out / 'report.json').read_text())


@pytest.mark.parametrize('name', sorted(ATTACKS))
def test_attack_on_grade(name, run_cli, tmp_path, honest_grade):
    source, words = ATTACKS[name]
    path = tmp_path / f'{name}.py'
    path.write_text(source)
    out = tmp_path / 'out'
    result = run_cli('grade', path, '--profile', 'quick', '--out', out, '--no-color')
    assert result.returncode == 1 and 'Traceback' not in result.stdout + result.stderr
    checks = _check(json.loads((out / 'report.json').read_text()), words,
                    _honest(name, honest_grade))
    validate_junit(out / 'junit.xml')
    gradescope = json.loads((out / 'results.json').read_text())
    validate_json(gradescope, 'gradescope-results.schema.json')
    if words:  # every surface shows it
        assert words in (out / 'junit.xml').read_text(encoding='utf-8').replace('&#x27;', "'")
        assert any(t.get('name', '').startswith('tampered') or words in t.get('output', '')
                   for t in gradescope['tests'])
        assert 'tampered' in (out / 'report.html').read_text(encoding='utf-8')
        assert 'tampered with the grader' in result.stdout
    if name == 'torch_oracle':
        assert 'keeps out of reach' in checks['load']['message']


@pytest.mark.xfail(strict=True, reason='a raw memory write (numpy) reaches the hook\'s state: no '
                   'one process can stop it (README, sandbox section)')
@pytest.mark.parametrize('name', sorted(OPEN))
def test_an_open_door_forges_nothing(name, run_cli, tmp_path, honest_grade):
    path = tmp_path / f'{name}.py'
    path.write_text(OPEN[name])
    out = tmp_path / 'out'
    run_cli('grade', path, '--profile', 'quick', '--out', out, '--no-color')
    _check(json.loads((out / 'report.json').read_text()), None, _unpassed(honest_grade))


def test_the_hooks_frames_kept_by_the_collector_forge_nothing(run_cli, tmp_path, honest_grade):
    """HOOK_GARBAGE on grade and batch: an exception the guard's hook raised (out of depth) is
    raised again without the hook's frames, so no collection can keep one for the submission;
    the wrong tanh is graded as it is without the attack."""
    from micrograde.isolate import sandbox
    folder = tmp_path / 'class'
    folder.mkdir()
    (folder / 'hook_garbage.py').write_text(_forging(HOOK_GARBAGE))
    (folder / 'honest.py').write_text(HONEST)
    run_cli('grade', folder / 'hook_garbage.py', '--profile', 'quick', '--out', tmp_path / 'out',
            '--no-color')
    _check(json.loads((tmp_path / 'out' / 'report.json').read_text()), None,
           _unpassed(honest_grade))
    if not sandbox.templates_available():
        return
    run_cli('batch', folder, '--out', tmp_path / 'batched', '-j', '2', '--profile', 'quick')
    honest = json.loads((tmp_path / 'batched' / 'honest.py' / 'report.json').read_text())
    _check(json.loads((tmp_path / 'batched' / 'hook_garbage.py' / 'report.json').read_text()),
           None, _unpassed(honest))


@pytest.mark.parametrize('how', sorted(MAKES))
def test_a_subinterpreter_is_a_route_into_the_grader(run_cli, tmp_path, how):
    """SUBINTERPRETER on grade and batch: making an interpreter (or importing the test module
    that makes one unseen) is tampering, seen before the interpreter exists, and the grade is 0
    with the route named."""
    from micrograde.isolate import sandbox
    folder = tmp_path / 'class'
    folder.mkdir()
    make, words = MAKES[how]
    (folder / 'subinterpreter.py').write_text(_forging(SUBINTERPRETER.replace('MAKE', make)))
    run_cli('grade', folder / 'subinterpreter.py', '--profile', 'quick', '--out',
            tmp_path / 'out', '--no-color')
    _check(json.loads((tmp_path / 'out' / 'report.json').read_text()), words)
    if not sandbox.templates_available():
        return
    run_cli('batch', folder, '--out', tmp_path / 'batched', '-j', '2', '--profile', 'quick')
    _check(json.loads((tmp_path / 'batched' / 'subinterpreter.py' / 'report.json').read_text()),
           words)


@pytest.fixture(scope='module')
def batch(tmp_path_factory):
    """Every attack graded in one batch, two at a time, from the warm template."""
    from conftest import in_process
    folder = tmp_path_factory.mktemp('class')
    for name, (source, _) in ATTACKS.items():
        (folder / f'{name}.py').write_text(source)
    (folder / 'innocent.py').write_text(INNOCENT)
    (folder / 'del_logger.py').write_text(DEL_LOGGER)
    (folder / 'honest.py').write_text(HONEST)
    for name, source in NAMES.items():
        (folder / f'{name}.py').write_text(source)
    out = tmp_path_factory.mktemp('out')
    result = in_process('batch', folder, '--out', out, '-j', '2', '--profile', 'quick')
    assert 'Traceback' not in result.stdout + result.stderr, result.stderr
    with open(out / 'gradebook.csv', newline='') as f:
        book = {row['id']: row for row in csv.DictReader(f)}
    return out, book


def test_what_learners_and_libraries_do_is_not_tampering_in_a_batch(batch):
    out, book = batch
    assert book['innocent.py']['verdict'] == 'passed', book['innocent.py']
    assert book['del_logger.py']['verdict'] == 'passed', book['del_logger.py']
    assert book['long_class.py']['verdict'] == 'passed', book['long_class.py']
    assert book['lazy.py']['verdict'] == 'passed', book['lazy.py']
    assert book['frozen.py']['verdict'] == 'passed', book['frozen.py']
    short = json.loads((out / 'short_raise.py' / 'report.json').read_text())
    for name in ('long_raise', 'unlined'):
        _long_raise_as_short(json.loads((out / f'{name}.py' / 'report.json').read_text()), short)
    _long_raise_as_short(*(json.loads((out / f'{name}.py' / 'report.json').read_text())
                           for name in ('mlp_strless', 'mlp_raise')))


@needs_templates
@pytest.mark.parametrize('name', sorted(ATTACKS))
def test_attack_on_batch(name, batch):
    out, book = batch
    report = json.loads((out / f'{name}.py' / 'report.json').read_text())
    assert report['isolation'] == 'bubblewrap'
    words = ATTACKS[name][1]
    _check(report, words, _honest(name, json.loads((out / 'honest.py' / 'report.json').read_text())))
    row = book[f'{name}.py']
    assert row['verdict'] == 'failed'
    if words:  # staff see it in the gradebook too
        assert 'tampered' in row['failing_checks'].split() and float(row['score']) == 0


def test_no_example_trips_the_guard_in_a_batch(tmp_path):
    """numpy, matplotlib and graphviz take some of the watched routes themselves; every example
    (engines, notebooks, folders, installed packages) loads and is graded as before."""
    from conftest import in_process
    folder = tmp_path / 'class'
    shutil.copytree(SUBMISSIONS, folder, symlinks=True)
    out = tmp_path / 'out'
    result = in_process('batch', folder, '--out', out, '-j', '2', '--profile', 'quick')
    assert 'Traceback' not in result.stdout + result.stderr, result.stderr
    reports = [json.loads(p.read_text()) for p in out.glob('*/report.json')]
    assert len(reports) >= 30
    tampered = [(r['submission'], c['message']) for r in reports for c in r['checks']
                if 'tampered' in c['message'] or c['id'] == 'tampered']
    assert not tampered, tampered


@pytest.mark.service
def test_every_attack_through_the_service(graded_by_a_worker):
    """The same attacks uploaded to the grading service, graded by a real service worker."""
    served = graded_by_a_worker
    for name, (source, _) in ATTACKS.items():
        served.submit(name, source.encode())
    served.submit('honest', HONEST.encode())
    for name, source in NAMES.items():
        served.submit(name, source.encode())
    jobs = served.grade()
    assert all(job['status'] == 'done' for job in jobs.values()), jobs
    honest = served.get('honest').json()
    for name, (_, words) in ATTACKS.items():
        _check(served.get(name).json(), words, _honest(name, honest))
    named = {name: served.get(name).json() for name in NAMES}  # graded as plain ones, as above
    assert named['long_class']['verdict'] == named['lazy']['verdict'] == 'passed'
    assert named['frozen']['verdict'] == 'passed'
    for name in ('long_raise', 'unlined'):
        _long_raise_as_short(named[name], named['short_raise'])
    _long_raise_as_short(named['mlp_strless'], named['mlp_raise'])
    book = served.client.get('/v1/courses/c1/gradebook.csv', headers=served.staff()).text
    seen = book.count('tampered')  # '' rows: seen or lost, by timing
    assert sum(bool(words) for _, words in ATTACKS.values()) <= seen <= \
        sum(words is not None for _, words in ATTACKS.values())


#: Where the worker's runners start: each calls the submission's code, and all they call from then
#: on is reached from these through their bound defaults.
def _runners():
    from micrograde.worker import execute, mlp, serve, tasks
    return (tasks.received, tasks.run, execute.run_graph, execute.bound_backend, mlp.run_mlp,
            serve._frozen)


def _codes(code):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def _lookups(function, seen):
    """``(function, name)`` of each name looked up where the submission can write (a module's
    namespace or the builtins, or a module bound as a default) by ``function`` and the worker's
    functions it is bound to call (its defaults, and methods bound to immutable selves)."""
    if id(function) in seen:
        return
    seen.add(id(function))
    if isinstance(function, types.MethodType):
        assert type(function.__self__) in (str, tuple, type), function
        yield from _lookups(function.__func__, seen)
        return
    if not isinstance(function, types.FunctionType) or \
            not function.__module__.startswith('micrograde.worker'):
        return  # C, or the standard library's entry point itself
    for code in _codes(function.__code__):
        yield from ((function.__qualname__, step.argval) for step in dis.get_instructions(code)
                    if step.opname in ('LOAD_GLOBAL', 'LOAD_NAME', 'STORE_GLOBAL'))
    for value in function.__defaults__ or ():
        if isinstance(value, types.ModuleType):
            yield function.__qualname__, value.__name__
        yield from _lookups(value, seen)
    assert not function.__kwdefaults__, function  # a dict: rewritable in place


def test_the_runners_look_nothing_up():
    """What the runners call and read once the submission's code has run is bound where no frame
    walk can rebind it (positional defaults, taken as the worker is imported): a module global,
    a builtin or a module's attribute swapped for one call by the submission changes nothing
    they run (transient_read, transient_builtin, transient_op).  Fails on a name looked up."""
    seen, found = set(), []
    for runner in _runners():
        found += _lookups(runner, seen)
    assert not found, found
    assert len(seen) > 30  # the walk reached what they call


def test_the_audit_gate_looks_nothing_up():
    """The frame a refusal is raised from (``guard._gate``) is in the traceback the submission
    catches, its globals with it: it reads none (all it uses are its defaults), so nothing the
    submission writes there changes what it calls."""
    from micrograde.worker import guard
    code = guard._gate.__code__
    assert not code.co_freevars and not code.co_cellvars
    assert not [step.opname for step in dis.get_instructions(code)
                if step.opname in ('LOAD_GLOBAL', 'LOAD_NAME', 'STORE_GLOBAL', 'LOAD_DEREF')]


def test_the_audit_gate_raises_only_once_it_let_go_of_the_hook():
    """A ``_gate`` frame in a traceback is the hook's own (its local ``hook`` is bound to the
    hook's state) but where it stands at a raise (``guard._raises``, its ``f_lasti``): each raise
    comes after ``hook = None`` in its block."""
    from micrograde.worker import guard
    code = guard._gate.__code__
    steps = list(dis.get_instructions(code))
    raises = [i for i, s in enumerate(steps) if s.opname == 'RAISE_VARARGS']
    assert raises and {steps[i].offset for i in raises} <= guard._raises(code)
    for i in raises:
        block = []
        for step in reversed(steps[:i]):
            if step.is_jump_target or step.opname == 'PUSH_EXC_INFO':
                break
            block.append((step.opname, step.argval))
        assert ('STORE_FAST', 'hook') in block, steps[i]


def test_a_frame_read_inside_a_collection_is_checked_without_an_exception_made():
    """``guard._hooks_frame`` runs before the hook holds the collector: an event the submission
    raises itself with too few arguments (``sys.audit('object.__getattr__')``) is let by there,
    not an ``IndexError`` made (an object the collector tracks, which could start a collection
    inside the hook once another thread's ended)."""
    from micrograde.worker import guard
    for args in ((), (object(),), (1, 2, 3)):
        assert guard._hooks_frame(types.SimpleNamespace(), args, [1]) is False


def test_a_forked_child_s_new_key_takes_no_call():
    """``guard._forked`` (after a fork, the child's key) calls nothing, so it runs as deep as
    any code of the submission's in the child can: out of depth, a call of its failed while the
    submission's ``sys.unraisablehook`` (handed ``_forked`` bound to the hook's state) and a
    ``preexec_fn`` of ``_posixsubprocess.fork_exec`` (no audit event) still ran, and the latter
    could copy the grader's key into an ``mmap`` the worker shares."""
    from micrograde.worker import guard
    calls = [s.opname for s in dis.get_instructions(guard._forked) if s.opname in
             ('CALL', 'PRECALL', 'CALL_FUNCTION_EX', 'BINARY_SUBSCR', 'BINARY_OP')]
    assert not calls, calls


def test_the_serve_loop_holds_nothing_in_a_cell():
    """A closure's cells are rewritable (``reply.__closure__[0].cell_contents = ...``, no audit
    event): the serve loop holds what it calls as plain locals, which no frame walk rebinds."""
    from micrograde.worker import serve
    assert serve._serve.__code__.co_cellvars == ()


def test_the_serve_loop_calls_by_keyword_only_what_sends_and_the_loader():
    """The guard seals an answer only as the serve loop's frame stands at one of its calls by
    keyword (``guard.sent``): each must call what was bound before the submission loaded (its
    ``reply``, ``answer``, the loader), never an object the submission reaches (a function it
    made of ``reply``'s code would then send: ``send_clone``)."""
    import inspect
    from micrograde.worker import guard, serve
    code = serve._serve.__code__
    lines = inspect.getsource(serve).splitlines()
    calls = [step for step in dis.get_instructions(code)
             if step.opname == 'CALL' and step.offset in guard._keyword_calls(code)]
    called = {lines[c.positions.lineno - 1][c.positions.col_offset:].partition('(')[0].split()[-1]
              for c in calls}
    assert called == {'reply', 'answer', 'loader'}, called


class _Scalar:
    """A Value of ``+`` and ``*`` only, for the MLP tasks run in this process below."""

    def __init__(self, data):
        self.data, self.grad = data, 0.0

    def __add__(self, other):
        return type(self)(self.data + other.data)

    def __mul__(self, other):
        return type(self)(self.data * other.data)


def test_a_helper_swapped_while_an_mlp_runs_reads_nothing_else():
    """run_mlp's helpers swapped in its module's globals by the network's backward() (a frame walk:
    no event) for one call: the gradients read are the network's own."""
    from micrograde.worker import mlp

    class Value(_Scalar):
        def backward(self):
            frame = sys._getframe(1)
            while 'params' not in frame.f_locals:
                frame = frame.f_back
            names = frame.f_globals
            for name in ('_numbers', 'number', '_loss', '_backpropagate'):
                if callable(names.get(name)):
                    names[name] = lambda *args, _name=name: (99.0,) * 2

    class MLP:
        def __init__(self, nin, nouts):
            self.w = [Value(0.5), Value(-0.25)]

        def __call__(self, x):
            return self.w[0] * Value(x[0]) + self.w[1] * Value(x[1])

        def parameters(self):
            return self.w

    kept = dict(vars(mlp))
    try:
        got = mlp.run_mlp({'Value': Value, 'MLP': MLP},
                          {'action': 'grads', 'nin': 2, 'nouts': [1], 'xs': [[1.0, 2.0]],
                           'ys': [0.0]})
    finally:
        vars(mlp).update(kept)
    assert got['grads'] == [0.0, 0.0], got  # its backward() computes nothing: its own zeros


def test_an_mlp_task_is_read_before_the_network_runs():
    """The task is a dict the network's code reaches (f_back from its constructor): parameter
    sets rewritten there (a finite difference forged) change nothing the task computes."""
    from micrograde.worker import tasks
    from micrograde.worker.execute import Backend

    Value = _Scalar

    class MLP:
        def __init__(self, nin, nouts):
            frame = sys._getframe(1)
            while 'item' not in frame.f_locals:
                frame = frame.f_back
            item = frame.f_locals['item']
            if isinstance(item, dict):
                item['param_sets'] = [[0.0]] * len(item['param_sets'])
            self.w = Value(0.0)

        def __call__(self, x):
            return self.w * Value(x[0])

        def parameters(self):
            return [self.w]

    got = tasks.run('mlp', {'action': 'losses', 'nin': 1, 'nouts': [1], 'xs': [[1.0]],
                            'ys': [0.0], 'param_sets': [[1.0], [2.0]]}, {'Value': Value, 'MLP': MLP},
                    Backend(Value))
    assert got['losses'] == [1.0, 4.0], got


def test_a_request_is_read_whole_as_it_arrives():
    """The serve loop runs a request as ``tasks.received`` reads it: exact tuples all through, so
    an item not yet run cannot be rewritten by the code of one that ran (request_rewrite)."""
    from micrograde.worker import tasks
    request = {'id': 3, 'task': 'graph', 'items': [
        {'graph': {'inputs': [['a', 1.0]], 'nodes': [{'op': 'tanh', 'args': [0]}], 'output': 1},
         'instrument': True, 'order': 2}]}

    def exact(x):
        return type(x) in (str, int, float, bool, type(None)) or \
            type(x) is tuple and all(map(exact, x))
    assert exact(tasks.received(request))
    assert exact(tasks.received({**request, 'task': 'mlp', 'items': [
        {'action': 'losses', 'nin': 1, 'nouts': [1], 'xs': [[1.0]], 'ys': [0.0],
         'param_sets': [[1.0]], 'params': [0.5], 'lr': 0.1}]}))


def test_a_rubric_that_allows_torch_gives_up_the_answer_key_protection(run_cli, tmp_path):
    rubric = tmp_path / 'rubric.toml'
    rubric.write_text('allowed_imports = ["numpy", "matplotlib", "graphviz", "torch"]\n')
    out = tmp_path / 'out'
    path = tmp_path / 'torch_oracle.py'
    path.write_text(ATTACKS['torch_oracle'][0])
    run_cli('grade', path, '--profile', 'quick', '--out', out, '--no-color', '--rubric', rubric)
    report = json.loads((out / 'report.json').read_text())
    checks = {c['id']: c for c in report['checks']}
    assert checks['load']['status'] == 'passed' and 'tampered' not in checks
    assert 'answer-key' in report['protections']['unprotected']
    assert checks['backward.walk']['status'] == 'passed'  # torch did the work


def test_an_int_past_a_float_is_read_as_its_infinity():
    """A Value's number an int too large for a float (``2 ** 2000``) is read as the infinity of
    its sign, as the worker's reader says; on main the fallback ``copysign(inf, x)`` converted
    the int again and raised OverflowError, read as an error instead of a number."""
    import math
    from micrograde.worker.execute import number
    assert number(10 ** 400) == math.inf and number(-10 ** 400) == -math.inf
    assert number(2 ** 2000 - 1) == math.inf and number(7) == 7.0 and number(True) == 1.0
