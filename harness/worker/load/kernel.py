"""What a Jupyter kernel gives a notebook's cells: one namespace, compiler flags that carry over
(``from __future__ import annotations`` in one cell applies to the next ones), ``display`` and a
minimal ``get_ipython()`` for the calls IPython's input transformer writes (and that a notebook
exported as a script still holds).

A failing cell is a warning (its name and source are kept, so a missing class can be traced to
the cell that should have defined it); a failing import does not stop the statements after it;
each cell has a time limit.
"""
import __future__
import _thread
import ast
import ctypes
import linecache
import re
import signal
import sys
import threading
import time
from collections import namedtuple

from .. import clock
from .errors import CellTimeout, LoadError, explain, newer_python, text
from .fstrings import compiled

#: Every ``from __future__`` feature's compiler flag: what carries over, as in ``codeop``.
FUTURE_FLAGS = 0
for _feature in __future__.all_feature_names:
    FUTURE_FLAGS |= getattr(__future__, _feature).compiler_flag

#: Line magics whose argument is a statement to run (``%time x = f()``).
RUN_LINE = ('time', 'timeit', 'prun')
#: Cell magics whose body runs as the cell (the grader unwraps these before sending a cell).
RUN_CELL = ('time', 'timeit', 'capture', 'prun')
#: Magics that change nothing a grade depends on: ignored without a warning.
QUIET = ('matplotlib', 'pinfo', 'pinfo2', 'config', 'load_ext', 'reload_ext', 'autoreload',
         'aimport', 'who', 'whos', 'lsmagic', 'precision')
#: The grader's own package: a notebook's self-check (``from micrograde import check``) and its
#: install (``%pip install micrograde``), neither run nor said when grading.
SELF_CHECK = 'micrograde'
_OPTIONS = re.compile(r'^(\s*-[A-Za-z](\s*\d+)?)+\s+')  # %timeit -n 10 -r 3 stmt


class Kernel:
    """Runs cells in one namespace, as a kernel would."""

    def __init__(self, loaded, ns=None, where=None, filename=None):
        self.loaded, self.flags = loaded, 0
        self.saved = None  # the Python version a notebook was saved by (its metadata), if known
        self.where, self.filename = where, filename  # the cell (or script) running, for messages
        self.shell = Shell(self)
        self.blocked, self.said_keys = {}, set()  # name -> answer-key library it would be bound to
        self.classes = {}  # name -> [(class, its methods)] of each cell that defined it, in order
        self.unrun = {}  # name -> the skipped statement that would have bound it, and why
        self.causes = {}  # name in unrun -> what first went wrong, whatever cells it went through
        self.echoes = {}  # such a cause -> its echoes' warning: [index, cells, names, first, kinds]
        self.running = 0  # the index in its cell of the statement running
        self.self_check = set()  # names the self-check's import would have bound, and their uses
        self.ns = {'__name__': '__main__', '__builtins__': __builtins__} if ns is None else ns
        self.ns.update(display=lambda *a, **k: None, get_ipython=lambda: self.shell)

    def redefined(self):
        """A warning for each class the notebook ends with that an earlier cell defined with
        methods it no longer has: the last definition is graded, and its missing ops would
        otherwise read as never written."""
        for name, defined in self.classes.items():
            (last, has), earlier = defined[-1], defined[:-1]
            lost = {}
            for cls, methods in earlier:
                for method in methods:
                    if method not in has:
                        lost.setdefault(method, cls)
            if lost and self.ns.get(name) is last:
                shown = list(lost)[:6] + ([f'{len(lost) - 6} more'] if len(lost) > 6 else [])
                listed = ', '.join(shown[:-1]) + ' and ' + shown[-1] if len(shown) > 1 else shown[0]
                where = dict.fromkeys(self.loaded.origins[id(cls)] for cls in lost.values())
                self.loaded.warnings.append(
                    f'{self.loaded.origins[id(last)]} defines {name} again, without {listed} '
                    f'(which {" and ".join(where)} defined): the notebook ends with this {name}, '
                    f'and it is the one graded.')

    def compile(self, source, filename, flags=0):
        """Compile with the flags earlier statements set, and keep the ones this one sets."""
        code = compile(source, filename, 'exec', flags=flags | self.flags, dont_inherit=True)
        self.flags |= getattr(code, 'co_flags', 0) & FUTURE_FLAGS
        return code

    def run(self, number, source, cell_timeout):
        self.where, self.filename = f'cell {number}', f'<cell {number}>'
        filename = self.filename
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        try:
            tree = self._parse(number, source, filename)
        except (SyntaxError, ValueError) as e:
            self.loaded.fail(f'cell {number}', f'syntax error at line {getattr(e, "lineno", "?")}: '
                             f'{getattr(e, "msg", e)}; cell skipped.{newer_python(e, self.saved)}',
                             source)
            self._unrun({name: f'cell {number}, line {line}, which would have bound `{name}`, '
                               f'was skipped with its cell (a syntax error at line '
                               f'{getattr(e, "lineno", "?")})'
                         for line, name in _top_level_binds(source)},
                        f'cell {number} was skipped (a syntax error at line '
                        f'{getattr(e, "lineno", "?")})')
            return
        before = {k: id(v) for k, v in self.ns.items() if isinstance(v, type)}
        self.running = 0
        limit = _arm(cell_timeout, self.loaded.latest)
        try:
            try:
                self._statements(number, tree, source, filename)
            finally:
                _disarm(limit)
        except CellTimeout:
            _disarm(limit)  # again: the limit may have been raised as the first call began
            budget = self.loaded.budget  # which limit: the cell's own, or all the cells'
            which = f"the notebook's load time ({budget.seconds:.3g} s for all its cells)" \
                if budget is not None and budget.out() else f"the cell's {cell_timeout:.3g} s limit"
            self.loaded.fail(f'cell {number}', f'ran past {which}; the rest of the cell was '
                             f'skipped.', source)
            self._stopped(number, tree.body[self.running:], f'was stopped at {which}')
        except BaseException as e:
            if isinstance(e, SystemExit):
                raise LoadError(explain(e, f'cell {number}', filename)) from None
            said = explain(e, f'cell {number}', filename)
            name = getattr(e, 'name', None) if isinstance(e, NameError) else \
                self._stale(tree.body[self.running]) if tree.body and \
                isinstance(e, (AttributeError, TypeError)) else None
            why = self.unrun.get(name)
            if why and not isinstance(e, NameError):
                why = f'`{name}` still holds what it held before: {why}'
            cause = self.causes.get(name) if why else None
            if cause in self.echoes:  # one more echo of a cause already told: said once
                self._echo(cause, number, name, source, type(e).__name__)
            else:
                self.loaded.fail(f'cell {number}', f'{said.rstrip(".")}: {why}.' if why else said,
                                 source)
                if cause:
                    self.echoes[cause] = [len(self.loaded.warnings) - 1, [number], [name],
                                          said.rstrip('.'), [type(e).__name__]]
            self._stopped(number, tree.body[self.running:], f'raised {type(e).__name__}', cause)
        for name, obj in self.ns.items():  # classes the cell defined (not imported)
            if isinstance(obj, type) and before.get(name) != id(obj) and obj.__module__ == '__main__':
                self.loaded.origins[id(obj)] = f'cell {number}, line {_class_line(tree, name)}'
                self.classes.setdefault(name, []).append((obj, _methods(obj)))

    def _parse(self, number, source, filename):
        """The cell's syntax tree; one whose f-strings only Python 3.12 reads as they are is read
        re-quoted (``fstrings``), and the load says so."""
        def parse(text):
            return compile(text, filename, 'exec', flags=ast.PyCF_ONLY_AST | self.flags,
                           dont_inherit=True)
        return compiled(parse, source, filename, f'cell {number}', self.loaded.warnings)

    def _statements(self, number, tree, source, filename):
        for at, stmt in enumerate(tree.body):
            if self._self_check(stmt):
                continue
            key = self._answer_key(number, stmt, source)
            if key:
                if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                    continue
                for rest in tree.body[at:]:  # what the skipped statements would have bound
                    how = (f' as it uses {key}' if rest is stmt else
                           f' with the rest of its cell after a use of {key}')
                    self._unrun({name: f'cell {number}, line {rest.lineno}, which would have '
                                       f'bound `{name}`, was skipped{how}'
                                 for name in _binds(rest)},
                                f'cell {number}, line {stmt.lineno} was skipped as it uses {key}')
                break
            code = self.compile(ast.Module([stmt], []), filename)
            self.running = at
            try:
                exec(code, self.ns)
                self._defined(stmt)
                for name in _binds(stmt) if self.unrun else ():
                    self.unrun.pop(name, None)
                    self.causes.pop(name, None)
            except ImportError as e:
                if isinstance(stmt, (ast.Import, ast.ImportFrom)) and \
                        (getattr(e, 'name', None) or '').partition('.')[0] == SELF_CHECK:
                    self.self_check.update(_binds(stmt))  # the self-check: quietly not run
                    continue
                if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                    self._import_failed(f'cell {number}, line {stmt.lineno}', stmt, e)
                    continue
                raise

    def _self_check(self, stmt):
        """Whether ``stmt`` reads a name the README's self-check bound (``check`` of
        ``from micrograde import check``, which failed to import: the grader's own package is
        never importable while grading), as ``check(Value, MLP=MLP)`` does: it is not run, nor
        said (it previews this very grade), and what it binds is the self-check's too."""
        if self.self_check and self.self_check.intersection(_reads(stmt)):
            self.self_check.update(_binds(stmt))
            return True
        for name in _binds(stmt) if self.self_check else ():  # the notebook's own again
            self.self_check.discard(name)
        return False

    def _stopped(self, number, rest, why, cause=None):
        """Keep, for each name the statements of a cell that stopped at ``rest[0]`` (``why``:
        it raised, or the time limit) would have bound, that they did not run: a later cell's
        NameError then names its cause, not only its symptom. ``cause``: what the cell stopped
        for, when it was an earlier cell's failure (a NameError of a name it left unbound)."""
        cause = cause or (rest and f'cell {number}, line {rest[0].lineno} {why}')
        for stmt in rest:
            how = why if stmt is rest[0] else f'did not run after line {rest[0].lineno} {why}'
            self._unrun({name: f'cell {number}, line {stmt.lineno}, which would have bound '
                               f'`{name}`, {how}' for name in _binds(stmt)}, cause)

    def _unrun(self, why, cause):
        """Keep ``why`` (name -> the statement that would have bound it, and why it did not
        run), each name traced to ``cause``: what first went wrong."""
        self.unrun.update(why)
        self.causes.update(dict.fromkeys(why, cause))

    def _stale(self, stmt):
        """A name ``stmt`` reads that an earlier statement which did not run would have bound
        again, and that still holds what it held before (`c`, a float of the notebook's first
        cells, where a skipped `c = Value(10.0)` was meant): an AttributeError or TypeError
        on it is that statement's echo; else ``None``."""
        return next((n for n in _reads(stmt) if n in self.unrun and n in self.ns), None)

    def _echo(self, cause, number, name, source, kind='NameError'):
        """An error in cell ``number`` over a name that ``cause`` left unbound (``kind``: a
        NameError, or an AttributeError of a name left as it was), after another one of the same
        cause was told: the one warning says both (a notebook whose first cell's import failed
        had twenty NameErrors, each said at length, of one cause). The cell still counts as
        failed, so a class it defines can be traced to it."""
        self.loaded.failures.append((f'cell {number}', f'{kind}: {cause}', source))
        at, cells, names, first, kinds = self.echoes[cause]
        cells.append(number)
        for have, new in ((names, name), (kinds, kind)):
            if new not in have:
                have.append(new)
        shown = [f'`{n}`' for n in names[:4]] + ([f'{len(names) - 4} more'] if len(names) > 4 else [])
        listed = ', '.join(shown[:-1]) + ' and ' + shown[-1] if len(shown) > 1 else shown[0]
        self.loaded.warnings[at] = (
            f'cells {_numbers(cells)}: {" or ".join(kinds)} while loading ({listed} left unbound), '
            f'all of one cause: {cause} (directly, or through a cell that stopped for it); the '
            f'first: {first}.')

    def _defined(self, stmt):
        """Hand the loader's ``number`` each class ``stmt`` defined, or imported from the
        submission's own modules."""
        number = self.loaded.number
        if number is None:
            return
        if isinstance(stmt, ast.ClassDef):
            number(self.ns.get(stmt.name))
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for alias in stmt.names:
                obj = self.ns.get(alias.asname or alias.name.partition('.')[0])
                module = sys.modules.get(getattr(obj, '__module__', None) or '')
                if isinstance(obj, type) and self.loaded.own(getattr(module, '__file__', None) or ''):
                    number(obj)

    def _answer_key(self, number, stmt, source):
        """Whether ``stmt`` imports or uses a library kept out of reach as the answer key (the
        rubric's ``answer_key_libraries`` it does not allow): it is skipped, an import alone,
        a use with the rest of its cell, and the cell says why (once)."""
        keys = self.loaded.answer_keys
        if not keys:
            return None
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            modules = [stmt.module or ''] if isinstance(stmt, ast.ImportFrom) else \
                [a.name for a in stmt.names]
            key = next((m.partition('.')[0] for m in modules if m.partition('.')[0] in keys), None)
            if key:
                self.blocked.update({(a.asname or a.name.partition('.')[0]): key
                                     for a in stmt.names if a.name != '*'})
                self._unimported(f'cell {number}, line {stmt.lineno}', stmt,
                                 f'{key} is kept out of reach: a library that computes gradients '
                                 f'would be the answer key', skipped=True)
        elif not self.blocked:  # nothing kept out of reach was imported: nothing to read for
            return None
        else:
            key = next((self.blocked[name] for name in _reads(stmt) if name in self.blocked), None)
            if not key:  # what it binds is the notebook's own from here on (its `class Value`)
                for name in _binds(stmt):
                    self.blocked.pop(name, None)
        if key and number not in self.said_keys:
            self.said_keys.add(number)
            imports = isinstance(stmt, (ast.Import, ast.ImportFrom))
            skipped = ('the import is skipped, and each cell from its first statement that uses '
                       'it' if imports else 'the rest of the cell was skipped')
            self.loaded.fail(f'cell {number}, line {stmt.lineno}',
                             f'{"imports" if imports else "uses"} {key}, which grading keeps out '
                             f'of reach (a library that computes gradients would be the answer key '
                             f'to what is graded): {skipped}.', source)
        return key

    def _import_failed(self, where, stmt, e):
        """A warning, and for each name the import would have bound, what is bound instead: a
        class graded under that name is one the notebook meant to replace."""
        self.loaded.fail(where, f'import failed ({text(e)}); the rest of the cell still ran.', '')
        self._unimported(where, stmt, text(e))
        self._unrun({name: f'{where}, which would have bound `{name}`, failed to import '
                           f'({text(e)})' for name in _binds(stmt)},
                    f'{where} failed to import ({text(e)})')

    def _unimported(self, where, stmt, error, skipped=False):
        """Keep, for each name an import that did not run would have bound, what is bound
        instead."""
        for alias in stmt.names:
            if alias.name != '*':
                name = alias.asname or alias.name.split('.')[0]
                module = (stmt.module or '.') if isinstance(stmt, ast.ImportFrom) else alias.name
                self.loaded.unimported[name] = FailedImport(where, ast.unparse(stmt), error,
                                                            module.split('.')[0] or module,
                                                            self.ns.get(name), skipped)


def _numbers(cells):
    """``3, 5-8 and 11``: cell numbers in order, a run of three or more as a range."""
    runs = []
    for n in sorted(set(cells)):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    said = []
    for a, b in runs:
        said += [f'{a}-{b}'] if b > a + 1 else [str(n) for n in range(a, b + 1)]
    return ', '.join(said[:-1]) + ' and ' + said[-1] if len(said) > 1 else said[0]


class FailedImport(namedtuple('FailedImport', 'where statement error module before skipped',
                              defaults=(False,))):
    """An import that failed in a cell (or was skipped: an answer key), and what its name was
    bound to at that point."""

    def hint(self):
        if self.skipped:  # the learner's own package, or the published one: say both
            return (f'{self.where} imports it (`{self.statement}`), which grading skips '
                    f'({self.error}). If {self.module} is your own package, grade the folder that '
                    f'holds it instead of the notebook; if it is the published one, what it brings '
                    f'is not your own work.')
        return (f'{self.where} imports it (`{self.statement}`), and that import failed '
                f'({self.error}). Grade the folder that holds the module {self.module} instead '
                f'of the notebook.')


class Shell:
    """``get_ipython()``: magics that run code run it; the others, and shell commands, are not
    run and say so once."""

    def __init__(self, kernel):
        self.kernel, self.said = kernel, set()

    @property
    def user_ns(self):
        return self.kernel.ns

    def run_line_magic(self, name, line, _stack_depth=1):
        if name in RUN_LINE:
            return self._run(_OPTIONS.sub('', line))
        self._skipped(f'%{name}', name in QUIET or _installs_self_check(name, line))

    def run_cell_magic(self, name, line, cell):
        if name in RUN_CELL:
            return self._run(cell)
        self._skipped(f'%%{name}')

    def magic(self, line):
        name, _, rest = line.lstrip('%').partition(' ')
        return self.run_line_magic(name, rest)

    def system(self, cmd):
        self._skipped(f'!{cmd.split(" ")[0]}', _installs_self_check(*cmd.partition(' ')[::2]))

    def getoutput(self, cmd, split=True, depth=0):
        self._skipped(f'!{cmd.split(" ")[0]}')
        return Output()

    def __getattr__(self, name):  # anything else a notebook asks of its shell does nothing
        return lambda *a, **k: None

    def _run(self, source):
        exec(self.kernel.compile(source, self.kernel.filename), self.kernel.ns)

    def _skipped(self, what, quiet=False):
        if not quiet and what not in self.said:
            self.said.add(what)
            self.kernel.loaded.warnings.append(f'{self.kernel.where}: {what} is not run when '
                                               f'grading.')


def _installs_self_check(command, line):
    """Whether ``%pip``/``!pip`` ``line`` installs micrograde alone (the README's self-check)."""
    words = line.split()
    wanted = [w.strip('\'"') for w in words[1:] if not w.startswith('-')]
    return command.lstrip('%!').split('/')[-1] in ('pip', 'pip3') and words[:1] == ['install'] \
        and bool(wanted) and all(re.match(rf'{SELF_CHECK}\b', w) or w in ('@',) or '://' in w
                                 for w in wanted)


class Output(list):
    """What ``x = !cmd`` gives when the command is not run: IPython's empty ``SList``."""
    s = n = p = ''

    @property
    def l(self):  # noqa: E743
        return []


def _arm(seconds, latest=None):
    """Start a cell's time limit: ``CellTimeout`` raised in the cell.  On the main thread by
    SIGALRM and a handler of its own.  The worker runs the submission on another thread, and
    its main thread runs no Python (``serve``): there a watchdog thread raises it in this one
    (``PyThreadState_SetAsyncExc``, between two bytecodes: a cell blocked in one long C call,
    a ``time.sleep(600)``, is stopped by the load's own limit instead), once the cell has used
    ``seconds`` of a whole CPU (``clock.due``), never past ``latest()`` (the load's budget, a
    ``time.monotonic()``, or ``None``; asked again whenever reached).  Returns what
    ``_disarm`` takes."""
    if _thread.get_ident() == threading.main_thread().ident:
        previous = signal.signal(signal.SIGALRM, _alarm) or signal.SIG_DFL
        until = latest and latest()
        signal.setitimer(signal.ITIMER_REAL, max(min(seconds, until - time.monotonic()), 1e-3)
                         if until is not None else seconds)
        return previous
    ended = _thread.allocate_lock()
    ended.acquire()
    _ARMED[0] = _thread.get_ident()
    _thread.start_new_thread(_watch, (ended, _ARMED[0], seconds, latest))
    return ended


def _watch(ended, thread, seconds, latest, monotonic=time.monotonic, cpu=clock.usage):
    """The watchdog: ``CellTimeout`` in ``thread`` unless the cell ends in time (``clock.due``:
    later where a busy host gives the worker part of a CPU, as the grader's own wait for the
    load is)."""
    started = monotonic()
    until = latest and latest()
    deadline, first = started + seconds if until is None else min(started + seconds, until), None
    while not ended.acquire(timeout=max(deadline - monotonic(), 0)):
        first = first or (monotonic(), cpu())
        deadline = clock.due(started, seconds, first, monotonic(), cpu, latest and latest())
        if deadline is None:
            with _ARMING:
                if _ARMED[0] == thread:
                    _SEND(thread, CellTimeout)
            return


def _disarm(limit):
    """End a cell's time limit (twice is as once).  A limit raised in this thread as the cell
    ended is raised as this is called, or in it: its caller takes it as the cell's."""
    with _ARMING:
        _ARMED[0] = None
    if isinstance(limit, _LockType):
        if limit.locked():
            limit.release()
        return
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, limit)


#: The thread a cell's time limit interrupts now (``None``: none), and the lock that keeps the
#: watchdog from raising it once the cell has ended.  A list: the worker's guard takes a
#: module's dicts for tables that must not change.
_ARMED, _ARMING, _LockType = [None], threading.Lock(), _thread.LockType
_SEND = ctypes.pythonapi.PyThreadState_SetAsyncExc
_SEND.argtypes = (ctypes.c_ulong, ctypes.py_object)


def _alarm(signum, frame):
    raise CellTimeout()


#: Nodes whose body is a scope of its own: the names bound there are not the notebook's.
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.GeneratorExp,
           ast.ListComp, ast.SetComp, ast.DictComp)


def _binds(stmt):
    """The names a statement binds in the notebook's namespace (a class, a function, an
    assignment's targets, an import's names), not those of the scopes nested in it."""
    names, todo = set(), [stmt]
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update(a.asname or a.name.partition('.')[0] for a in node.names if a.name != '*')
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        if not isinstance(node, _SCOPES):
            todo.extend(ast.iter_child_nodes(node))
    return names


#: A line that starts a statement of a cell's top level (not a comment, nor a clause or a
#: bracket continuing the one before).
_TOP = re.compile(r'(?!(else|elif|except|finally|case)\b)[A-Za-z_@]')


def _top_level_binds(source):
    """``(line, name)`` for each name a cell that does not parse would have bound: each
    top-level statement that parses on its own, and the ``class``/``def`` name of one that
    does not (its body holds the error)."""
    lines = source.split('\n')
    starts = [i for i, line in enumerate(lines) if _TOP.match(line)
              and not (i and lines[i - 1].startswith('@'))] + [len(lines)]
    for start, end in zip(starts, starts[1:]):
        chunk = '\n'.join(lines[start:end])
        try:
            body = ast.parse(chunk).body
        except (SyntaxError, ValueError):
            named = re.match(r'(?:@.*\n)*\s*(?:async\s+)?(?:class|def)\s+(\w+)', chunk)
            yield from [(start + 1, named.group(1))] if named else []
            continue
        for stmt in body:
            yield from ((start + stmt.lineno, name) for name in sorted(_binds(stmt)))


def _reads(stmt):
    """The names a statement reads as it runs: every name loaded (an augmented assignment's
    target too), except a name it binds read in the body of a function it defines, which runs
    later and finds the new binding (``Value(...)`` in the methods of ``class Value``)."""
    bound, late = _binds(stmt), set()
    for node in ast.walk(stmt):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            body = node.body if isinstance(node.body, list) else [node.body]
            late.update(id(n) for part in body for n in ast.walk(part))
    augmented = {id(n.target) for n in ast.walk(stmt) if isinstance(n, ast.AugAssign)}
    return [n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)
            and (isinstance(n.ctx, ast.Load) or id(n) in augmented)
            and not (n.id in bound and id(n) in late)]


def _methods(cls):
    """The names of the functions a class body defines, in order."""
    return [name for name, value in vars(cls).items() if callable(value) or isinstance(
        value, (staticmethod, classmethod, property))]


def _class_line(tree, name):
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node.lineno
    return 1
