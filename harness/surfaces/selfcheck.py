"""``check(Value)``: the grader's checks run in a learner's own notebook, as a self-check.

The same registry and the same checks as ``micrograde grade``, on the classes the learner passes
in, in their own kernel: no sandbox (it is their code, in their process), each request under a
time limit.  Offline (``oracles.offline``): torch and Hypothesis are never imported; the fuzz
corpus is the grader's (``micrograde.fuzz.dags``), torch's answers come from the shipped store
(``micrograde.oracle.oracle_store``), the reference engine answers any graph not stored, and a failure is
shrunk as the grader shrinks it (``micrograde.fuzz.shrink``, judged by the reference).  The result
renders as the HTML report (graph included) in Jupyter and as the console summary in a terminal.
"""
import contextlib
import linecache
import os
import random
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any
import time
from dataclasses import dataclass

from micrograde.oracle import oracles
from micrograde.isolate.answers import RESULTS, Lost, Strikes, lost
from micrograde.grader.config import CLASS_NAMES, PROFILES, Config, Settings
from micrograde.grader.grading import build, run_checks
from micrograde.grader.rubric import Rubric
from micrograde.model.errors import RubricError
from micrograde.model.results import Category, Check, Report, Status
from micrograde.worker import identity, seeding, tasks
from micrograde.worker.execute import Backend
from micrograde.worker.load.classes import EXPECTED, WRITTEN, Found, find_roles, similar
from micrograde.worker.load.errors import LoadError
from micrograde.worker.load.loaded import backward_function, methods
from micrograde.worker.serve import Capture

NOTICE = ('Self-check, not your grade: the grader runs these checks and more (torch on every '
          'graph, a larger random search, a sandbox) on what you submit.')


class _Expired(BaseException):
    """Raised in the learner's code when a request's time is up (not an ``Exception``, so that
    ``except Exception`` in their code does not swallow it)."""


class LocalSession:
    """What ``Session`` is to a worker, in this process: ``run`` answers requests with the
    learner's classes, each item (a graph, an MLP task) under ``settings.check_timeout``
    seconds (where a timer can be set: in the main thread), under the same ``answers.Strikes``
    as a worker's."""

    def __init__(self, classes: dict[str, type], settings: Settings, seed: int,
                 attributes: dict[str, str] | None = None) -> None:
        self.classes, self.settings, self.seed = classes, settings, seed
        self.backend = Backend(classes['Value'], _cell, attributes)
        self.strikes = Strikes()
        self.restarts = 0  # no worker to lose: the learner's own process
        self.interfered = ''
        self.unrun = 0  # items refused since nothing more is run (``given_up``)
        self.sent: list[tuple[str, list[dict[str, Any]]]] = []  # as Session's: each request

    @property
    def given_up(self) -> str:
        """As ``Session.given_up``: why nothing more is run, or ``''``."""
        return self.strikes.stopped()

    def run(self, task: str, items: list[dict[str, Any]], timeout: float | None = None,
            meanwhile: Callable[[], object] | None = None) -> list[Any]:
        """As ``Session.run``; ``meanwhile`` is not run: with no worker to overlap, its caller
        does that work after."""
        timeout = timeout or self.settings.check_timeout
        parse = RESULTS[task].parse
        self.sent.append((task, items))
        stop = self.strikes.stopped()
        if stop:
            self.unrun += len(items)
            return [lost(task, Lost.NOT_RUN, stop) for _ in items]
        results: list[Any] = []
        for item in items:
            capture = Capture()
            seeding.seed(self.seed)  # random and numpy's generator, as the worker does
            identity.reset(self.seed, item.get('order', 0))
            # each item (a graph, an MLP task) its own limit, as the grader waits for each
            # answer (``Session._ask``): one on a request, 60 graphs of a slow but right
            # backward() ran past it, and the graphs it cut read as wrong
            with _time_limit(timeout) as limit:
                limit.inside = True
                try:
                    with contextlib.redirect_stdout(capture), contextlib.redirect_stderr(capture):
                        result = tasks.run(task, item, self.classes, self.backend, _cell)
                except _Expired:
                    pass
                finally:
                    limit.inside = False
            if limit.fired:
                self.strikes.strikes += 1
                results.append(lost(task, Lost.TIMEOUT, f'timed out after {timeout:g} s'))
                results += [lost(task, Lost.NOT_RUN, 'not run: an earlier graph of this '
                                                     'check timed out')
                            for _ in items[len(results):]]
                break
            results.append(parse(result, capture.take(), item))
        return results


@dataclass
class _Limit:
    fired: bool = False
    inside: bool = False  # the learner's code is running: the alarm may interrupt it


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[_Limit]:
    """Yields a ``_Limit``; after ``seconds`` it is ``fired``, and while the learner's code runs
    SIGALRM raises ``_Expired`` in it, again every 0.1 s until it leaves (code that swallows it
    cannot stay). Outside the main thread no timer can be set: no limit."""
    limit = _Limit()
    if threading.current_thread() is not threading.main_thread():
        yield limit
        return

    def alarm(signum: int, frame: FrameType | None) -> None:
        limit.fired = True
        if limit.inside:
            signal.setitimer(signal.ITIMER_REAL, 0.1)
            raise _Expired()
    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield limit
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class SelfCheck:
    """The outcome: ``passed``, the ``report`` (the grader's result model), and its rendering."""
    report: Report

    @property
    def passed(self) -> bool:
        return self.report.verdict == 'passed'

    def _repr_html_(self) -> str:
        from micrograde.reporters import html
        return html.fragment(self.report, selfcheck=True)

    def __str__(self) -> str:
        from micrograde.reporters import console
        return NOTICE + '\n\n' + console.render(self.report)

    __repr__ = __str__


def check(Value: type, MLP: type | None = None, *, Neuron: type | None = None,
          Layer: type | None = None, seed: int = 0, profile: str = 'quick',
          timeout: float = 3.0, rubric: str | os.PathLike[str] | None = None) -> SelfCheck:
    """Run the grader's checks on ``Value`` (and ``MLP``) here, in this kernel.

    ``timeout``: seconds one graph or MLP task may take (``micrograde grade --check-timeout``). ``rubric``: the
    course's rubric file (``micrograde grade --rubric``'s), else the lecture's: its points,
    advisory checks, required ops and charging. Returns a ``SelfCheck``: shown as the report in
    Jupyter, as text in a terminal."""
    _options(seed, profile, timeout)
    classes = {role: cls for role, cls in
               (('Value', Value), ('Neuron', Neuron), ('Layer', Layer), ('MLP', MLP)) if cls is not None}
    config = Config(seed=seed, profile=profile, settings=Settings(check_timeout=timeout),
                    rubric=_rubric(rubric))
    wrong = next((role for role in ('Value', *classes) if not isinstance(classes.get(role), type)), '')
    if wrong:  # a name, an instance, None: what the learner meant is not here to check
        said = _given(classes.get(wrong))
        return SelfCheck(build(f'{wrong} (self-check)', config, lambda report: report.checks.append(
            Check('load', Category.LOAD, Status.FAILED,
                  f'check() takes your {wrong} class itself, as in check(Value, MLP=MLP); '
                  f'it was given {said}'))))
    module = sys.modules.get(getattr(Value, '__module__', ''))  # the notebook's own namespace
    beside = _beside(Value, module, [role for role in ROLES if role not in classes])
    classes.update({role: f.cls for role, f in beside.items()})
    found = {role: _found(role, cls) for role, cls in classes.items()}
    try:
        warnings, error = found['Value'].locate(_cell), ''
    except LoadError as e:
        warnings, error = [], str(e)
    error = _installed(Value, config.rubric) or error
    warnings += [f'{role} was not given to check(): checked {f.cls.__name__} ({f.origin}), the '
                 f'one the grader finds beside your Value (check(Value, {role}={f.cls.__name__}) '
                 f'names it)' for role, f in beside.items() if role == 'MLP']
    if 'MLP' not in classes:  # its checks are skipped, 'no MLP class': say how to check one
        warnings.append('no MLP was given to check(), nor defined beside your Value: the MLP '
                        'checks are skipped (check(Value, MLP=MLP) checks yours)')
    walk = backward_function(Value, [vars(module)] if module else [], _cell)
    if walk is not None:
        warnings.append(walk[1])

    def fill(report: Report) -> None:
        with _method(Value, walk):  # where findings point, as a grade's (its worker lists the
            report.methods = methods(Value, None, own=_cell)  # learner's backward(v) a method)
        report.checks.append(Check('load', Category.LOAD, Status.FAILED if error else Status.PASSED,
                                   error or f'loaded; Value from {_defined(Value)}'))
        state, generator = random.getstate(), sys.modules.get(seeding.NUMPY)
        kept = generator.get_state() if generator is not None else None  # the learner's, kept
        started = time.perf_counter()
        try:
            if not error:
                with oracles.offline(), identity.numbered(Value), _method(Value, walk):
                    run_checks(LocalSession(classes, config.settings, seed, found['Value'].attributes),
                               config, report)  # set orders and the walk as the grader's
        finally:
            random.setstate(state)
            if generator is not None:
                generator.set_state(kept)
            report.timings['total'] = time.perf_counter() - started
    return SelfCheck(build(f'{_where(Value)} (self-check)', config, fill, load_warnings=warnings,
                           classes={role: _defined(cls) for role, cls in classes.items()},
                           class_info={role: f.info() for role, f in found.items()}))


#: The roles besides the Value: found beside it where ``check()`` is not given them.
ROLES = ('Neuron', 'Layer', 'MLP')


def _beside(Value: type, module: Any, roles: list[str]) -> dict[str, Found]:
    """``{role: Found}`` for each of ``roles`` that the Value's own namespace (the notebook's,
    or the module defining it) holds a class of, as the grader finds it there (by name, else
    spelled otherwise: ``find_roles``): only a class defined with the Value, never an import."""
    if module is None or not roles:
        return {}
    home = getattr(Value, '__module__', None)

    def ours(cls: type) -> bool:
        return getattr(cls, '__module__', None) == home
    candidates = [(name, obj) for name, obj in list(vars(module).items())
                  if isinstance(obj, type) and obj is not Value]
    found = find_roles(candidates, {role: CLASS_NAMES[role] for role in roles}, ours, _defined)
    return {role: f for role, f in found.items() if ours(f.cls)}


def _installed(Value: type, rubric: Rubric) -> str:
    """Why the grade of a submission with this Value fails its load, where the Value (or the
    class it takes its arithmetic or its backward from) is an installed package's, not code of
    the learner's: the grader grades only what is handed in, and keeps the answer-key libraries
    (micrograd ...) out of reach. The self-check passed ``from micrograd.engine import Value``
    and its MLP 47/51 where the grade of the same notebook fails its load: 0/51. ``''``
    otherwise (a notebook's class, the learner's files, an editable install of them)."""
    owners = [Value] + [next((k for k in Value.__mro__ if name in vars(k)), Value)
                        for name in WRITTEN]
    lent = next((k for k in owners if _package_installed(k)), None)
    if lent is None:
        return ''
    module = getattr(lent, '__module__', '') or ''
    top = module.split('.')[0]
    how = 'imported' if lent is Value else f'a subclass of {lent.__name__}, imported'
    said = f'Value is not written in your code: it is {how} from the module {module}'
    if top in rubric.refused:
        return (f'{said}, and the grader fails the load of a submission that imports {top!r}, '
                f'which grading keeps out of reach: a library that computes gradients would be '
                f'the answer key to what is graded. Write your own Value class.')
    return (f'{said}, an installed package, and the grader grades only the Value a submission '
            f'writes (it fails the load). Write your own Value class; if {top} is your own '
            f'package, install it editable (pip install -e) to check it, and hand in its folder.')


def _package_installed(cls: type) -> bool:
    """Whether ``cls`` is defined by an installed package (a site-packages folder's), not by the
    learner (a notebook, their own files or an editable install of them)."""
    module = sys.modules.get(getattr(cls, '__module__', '') or '')
    filename = getattr(module, '__file__', None)
    if not filename:
        return False
    import site
    import sysconfig
    paths = sysconfig.get_paths()
    folders = {paths.get('purelib'), paths.get('platlib'), *site.getsitepackages(),
               site.getusersitepackages()}
    where = os.path.realpath(filename)
    return any(where.startswith(os.path.realpath(f) + os.sep) for f in folders if f)


def _options(seed: object, profile: object, timeout: object) -> None:
    """``check()``'s options as ``micrograde grade`` takes them, else a ValueError naming one."""
    if profile not in PROFILES:
        raise ValueError(f'profile is one of {", ".join(PROFILES)}: got {profile!r}')
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f'seed is a whole number: got {seed!r}')
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < 1e6:
        raise ValueError(f'timeout is a number of seconds above 0: got {timeout!r}')


def _rubric(path: object) -> Rubric:
    """The rubric at ``path`` (the lecture's for ``None``), else a ValueError saying why."""
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise ValueError(f'rubric is the path of a rubric file: got {path!r}')
    try:
        return Rubric.load(path)
    except RubricError as e:
        raise ValueError(f'rubric: {e}') from None


def _given(thing: object) -> str:
    """What a learner passed where a class was due, as they would recognise it."""
    if thing is None:
        return 'None (has the cell that defines the class run?)'
    if isinstance(thing, str):
        return f'the text {thing[:40]!r}: pass the class, not its name'
    kind = type(thing).__name__[:40]
    return f'an instance of {kind}: pass the class ({kind}), not a value made from it' \
        if hasattr(thing, '__dict__') else f'an object of type {kind}'


@contextlib.contextmanager
def _method(cls: type, walk: tuple[Callable[..., Any], str] | None) -> Iterator[None]:
    """The learner's function ``backward(v)`` as the Value's method while it is checked, as the
    grader grades it (``backward_function``); their class is left as it was."""
    if walk is None:
        yield
        return
    cls.backward = walk[0]  # type: ignore[attr-defined]
    try:
        yield
    finally:
        delattr(cls, 'backward')


def _cell(filename: str) -> str:
    """How the learner knows the file a line of theirs is in: a notebook cell as IPython's own
    tracebacks name it (``Cell In[3]``, not the kernel's ``/tmp/ipykernel_81/851477247.py``),
    any other file by its name."""
    shell = getattr(sys.modules.get('IPython'), 'get_ipython', lambda: None)()
    try:
        label = shell.compile.format_code_name(filename)  # type: ignore[union-attr]
    except Exception:  # not in IPython, or an IPython without it (before 8.0)
        label = None
    return ' '.join(label) if label else os.path.basename(filename)


def _found(role: str, cls: type) -> Found:
    """The class as the loader reports it, with its methods named otherwise (``backprop``)."""
    found = Found(cls, _defined(cls), 'name')
    found.similar = similar(cls, EXPECTED.get(role, ()))
    return found


def _where(cls: object) -> str:
    return f'{getattr(cls, "__module__", "?")}.{getattr(cls, "__qualname__", "?")}'


def _defined(cls: type) -> str:
    """Where the class is defined, in a grade's words (``engine.py, line 5``; a notebook's cell
    as IPython names it): the ``class`` line above its first method, in that method's file (a
    kernel's class has no file ``inspect`` finds); its module and name where none says."""
    codes = sorted((f.__code__ for f in vars(cls).values() if hasattr(f, '__code__') and
                    getattr(f, '__qualname__', '').startswith(cls.__qualname__ + '.')),
                   key=lambda code: code.co_firstlineno)
    header = re.compile(rf'\s*class\s+{re.escape(cls.__name__)}\b')
    for code in codes:  # a generated method (a dataclass's __init__, in '<string>') has no file
        lines = linecache.getlines(code.co_filename)
        line = next((n for n in range(min(code.co_firstlineno, len(lines)), 0, -1)
                     if header.match(lines[n - 1])), None)
        while line and line > 1 and lines[line - 2].lstrip().startswith('@'):
            line -= 1  # a decorated class starts at its first decorator, as Python numbers it
        if line:
            return f'{_cell(code.co_filename)}, line {line}'
    return _where(cls)
