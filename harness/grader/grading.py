"""Grade one submission: load it in a worker, run every check, score it. No reporting here."""
from __future__ import annotations

import dataclasses
import datetime
import functools
import hmac
import platform
import re
from importlib import metadata
import time
import traceback
from collections.abc import Callable
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from micrograde import __version__
from micrograde.model import cases, redact
from micrograde.model.bounds import bounded
from micrograde.oracle import oracles
from micrograde.isolate import sandbox
from micrograde.load import tree
from micrograde.isolate.answers import INTERFERED
from micrograde.checks import CHECKS, Context
from micrograde.checks.registry import error, skipped
from micrograde.checks.causes import link
from micrograde.checks.probe import backward_through, probe
from micrograde.grader import lines
from micrograde.grader.config import Config
from micrograde.grader.rubric import unreported
from micrograde.model.results import Category, Check, NotRun, Report, Status
from micrograde.isolate.session import TAMPERED, Session

if TYPE_CHECKING:
    from micrograde.isolate.warm import WarmTemplate

#: A submission's path, as ``grade`` takes it.
Where = str | PathLike[str] | None


def versions() -> dict[str, str]:
    """From the installed packages' metadata: grading imports neither torch nor Hypothesis."""
    return {'micrograde': __version__, 'python': platform.python_version(),
            **{name: _installed(name) for name in ('torch', 'hypothesis')}}


@functools.cache
def _installed(name: str) -> str:
    """Read once per process: a batch asks for every submission."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return 'not installed'


def build(submission: str, config: Config, fill: Callable[[Report], None] | None = None,
          **fields: Any) -> Report:
    """Every report is made here: a grade, a grader bug's, the notebook self-check's and the
    service's when it gives up. It starts with the versions, the budgets and when it started;
    ``fill(report)`` adds what was found; it ends with no grader path in any text
    (``redact``), every text bounded and the rubric's points and verdict."""
    report = Report(submission=submission, seed=config.seed, profile=config.profile,
                    versions=versions(), budgets=config.budget.to_dict(), timestamp=_now(), **fields)
    if fill is not None:
        fill(report)
    return config.rubric.apply(bounded(redact.report(report)))


def grade(path: Where = None, module: str | None = None, config: Config | None = None,
          name: str | None = None, template: WarmTemplate | None = None,
          session: Session | None = None) -> Report:
    """The report for the submission at ``path`` (or the installed ``module``).

    ``template``: a ``WarmTemplate`` to fork the worker from; ``session``: a ``Session`` of the
    caller's, to look at afterwards (what was sent, restarts)."""
    config = seeded(config or Config(), path, module)
    session = session or Session(config.settings, path, module, template, config.seed,
                                 config.rubric.imports, config.rubric.refused)

    def fill(report: Report) -> None:
        _grade(report, session, config)
        report.notebook = lines.notebook(path, report)
        report.notebook_lines = lines.recorded(path, report)
    return build(name or str(module or path), config, fill)


def _grade(report: Report, session: Session, config: Config) -> None:
    """Load the submission in ``session``'s worker and run every check; a run that broke the
    protocol or tampered is voided."""
    report.isolation = session.level
    report.protections = sandbox.protections(session.level,
                                             answer_key=config.rubric.answer_key_allowed)
    timings = report.timings
    started = time.perf_counter()
    try:
        t = time.perf_counter()
        loaded = session.load(meanwhile=lambda waiting: prepare(config, waiting))
        timings['load'] = time.perf_counter() - t
        timings['load_in_worker'] = timings['load'] if loaded.seconds is None else loaded.seconds
        report.load_warnings = loaded.warnings
        report.classes = loaded.classes
        report.class_info = loaded.class_info
        report.methods = loaded.methods
        error = loaded.error or ('' if 'Value' in report.classes else
                                 f"no class named {config.settings.classes['Value']!r} was "
                                 f"found in the submission")
        report.checks.append(Check('load', Category.LOAD, Status.FAILED if error else Status.PASSED,
                                   error or _found(report, config.settings.classes['Value']),
                                   output=loaded.output, duration=timings['load']))
        if not error:
            run_checks(session, config, report)
    finally:
        report.output = session.close()
        timings['total'] = time.perf_counter() - started
    if session.tampered:
        void(report, f'{TAMPERED}: {session.tampered}', first=Check(
            'tampered', Category.LOAD, Status.FAILED, f'{TAMPERED}: {session.tampered}. Staff: this '
            "run took a route into the grading worker (see the sandbox section of micrograde's "
            "README); its answers are not trusted."))
    elif session.interfered:
        void(report, f'{INTERFERED}: {session.interfered}')


def void(report: Report, message: str, first: Check | None = None) -> None:
    """A worker that broke the protocol, or a submission that tampered with it, may have forged
    any answer: no check stands, and none it never reached is merely skipped.  Every check
    fails with ``message`` at its own cost (no finding explains it, so none keeps points);
    ``first``, a finding for staff, heads the report."""
    report.checks += unreported(report, Status.FAILED)
    for check in report.checks:
        check.status, check.message, check.diagnosis = Status.FAILED, message, message
        check.counterexample, check.misconception, check.consequence_of = None, None, ''
        check.not_run = NotRun.NO  # reached or not, it fails (a report that said both was unreadable)
    if first is not None:
        report.checks.insert(0, first)


def _found(report: Report, name: str) -> str:
    """The load check's message: where the Value is, and how it was found if not by its name."""
    info, where = report.class_info.get('Value', {}), report.classes['Value']
    how = info.get('how', 'name')
    if how == 'name':
        return f'loaded; Value from {where}'
    why = ('its name, spelled otherwise' if how == 'spelling' else
           'its shape: data, grad, a backward and arithmetic, like a Value')
    return (f"no class named {name!r}; graded `{info['name']}` ({where}) as the Value, found by "
            f"{why} (say so with --class Value={info['name']})")


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S')


def safe_grade(path: Where = None, module: str | None = None, config: Config | None = None,
               name: str | None = None, template: WarmTemplate | None = None) -> Report:
    """``grade`` that never raises: a grader bug becomes a failed report, not a traceback."""
    config = seeded(config or Config(), path, module)
    started = time.perf_counter()
    try:
        return grade(path, module, config, name, template)
    except Exception as e:
        traceback.print_exc(limit=5)  # for whoever runs the grader; the report names no path
        return not_graded(name or str(module or path), config, 'micrograde itself failed while '
                          f'grading this submission ({_said(e)}); please report it',
                          time.perf_counter() - started)


def seeded(config: Config, path: Where = None, module: str | None = None) -> Config:
    """The config a submission is graded with: with a course secret (``Config.secret``),
    its seed is drawn from the secret, the seed given and the submission's content
    (``tree.digest``: the same on every surface), and the report shows that seed, which grades it
    again as given; other content, another seed, unknowable without the secret."""
    if config.secret is None:
        return config
    content = tree.digest(path) if path is not None else f'module {module}'
    mac = hmac.digest(config.secret, f'micrograde-seed\0{config.seed}\0{content}'.encode(), 'sha256')
    return dataclasses.replace(config, seed=int.from_bytes(mac[:4], 'big'), secret=None)


def not_graded(submission: str, config: Config, message: str, seconds: float = 0.0) -> Report:
    """The report of a submission the grader did not grade, and why: one error check,
    ``grader``, by which a batch and the service tell it from a grade."""
    return build(submission, config, checks=[Check('grader', Category.LOAD, Status.ERROR, message,
                                                   duration=seconds)])


def _said(error: BaseException) -> str:
    """A grader bug in one line, and where in micrograde it was raised, relative to the package
    (``KeyError: 'x', at grader/grading.py:83``): no traceback in a learner's report."""
    return f'{traceback.format_exception_only(error)[-1].strip()}, at {_inside(error)}'


def _inside(error: BaseException) -> str:
    """Where in micrograde an error was raised, relative to the package: never the grader's own
    folders."""
    package = Path(__file__).resolve().parents[1]
    found = '?'
    for frame in traceback.extract_tb(error.__traceback__):
        path = Path(frame.filename).resolve()
        if path.is_relative_to(package):
            found = f'{path.relative_to(package)}:{frame.lineno}'
    return found


def prepare(config: Config, waiting: Callable[[], bool]) -> None:
    """The oracle answers of the fixed graphs, in the order the checks ask for them, worked out
    while the worker starts (``waiting()``), never importing torch on speculation; what is left
    is worked out while the worker runs the graphs (``checks.trials.run_graphs``), as is a fuzz
    corpus, which depends on the ops the engine turns out to have."""
    for graph in _fixed(config.budget.chain):
        if not waiting():
            return
        if oracles.STORE.shipped(graph) is not None:
            oracles.expected(graph)  # cached: a batch works each out once


@functools.cache
def _fixed(chain: int) -> tuple[Any, ...]:
    return tuple(cases.fixed([chain]))


def run_checks(session: Any, config: Config, report: Report) -> None:
    """Probe the ops, then walk the registry: every check timed, each category's total kept.
    ``session``: a worker's, or the notebook self-check's in-process one."""
    t = time.perf_counter()
    report.capabilities = probe(session, report.methods, backward_through(report))
    report.timings['probe'] = time.perf_counter() - t
    ctx = Context(session, config, report)
    for entry in CHECKS:
        for check_id, run in entry.instances():
            t = time.perf_counter()
            unrun, asked = getattr(session, 'unrun', 0), len(getattr(session, 'sent', ()))
            struck = _strikes(session)
            try:
                outcome = run(ctx)
            except Exception as e:  # a grader bug costs this check, never the others' findings
                traceback.print_exc(limit=-3)
                outcome = error(f'micrograde itself failed in this check ({_said(e)}); please '
                                'report it')
            duration = time.perf_counter() - t
            report.timings[entry.category] = report.timings.get(entry.category, 0.0) + duration
            given_up, refused = getattr(session, 'given_up', ''), getattr(session, 'unrun', 0) - unrun
            if given_up and outcome is not None and refused:
                # the grading's own limit is no finding of the submission's (a worker lost or
                # hung again and again is: ``_not_run`` keeps one such failure to say so)
                overtime = bool(getattr(session, 'overtime', str)())
                if refused == sum(len(items) for _, items in getattr(session, 'sent', ())[asked:]):
                    outcome = _not_run(outcome, given_up, report, config, overtime)
                elif overtime and outcome.status == 'error' and _strikes(session) == struck:
                    # cut short by the grading's limit, with no finding of its own before it:
                    # no hang of the submission's in it, and none of its graphs wrong
                    outcome = _not_run(outcome, f'{given_up} (cut short: {outcome.message})',
                                       report, config, overtime)
            if outcome is not None:
                report.checks.append(outcome.check(check_id, duration))
    report.restarts = session.restarts
    link(report, config.rubric.counts)
    _as_written(report)


def _not_run(outcome: Any, why: str, report: Report, config: Config, overtime: bool) -> Any:
    """A check that began once nothing more was run, or was cut short by the grading's limit:
    its graphs that did not run show nothing, so its failure is no finding of its own (a
    hanging ``tanh`` read as six bugs, the random graphs "54 of 60 wrong" that never ran, the
    check the grading's limit cut read as a bug at its op's method on every consumer).  Not
    run, 0 points: a grade with a check so stopped is never a pass (``Rubric.apply``).  Where
    the submission stopped the grading (its worker lost or hung again and again) and no
    counted failure says so yet, it stays a failure: the one that names why."""
    if outcome.status not in ('failed', 'error') or not overtime and not any(
            c.status in ('failed', 'error') and config.rubric.counts(c) for c in report.checks):
        return outcome
    return skipped(why, required=outcome.required, not_run=NotRun.STOPPED)


def _strikes(session: Any) -> int:
    """The submission's timeouts and exhausted memory so far (``answers.Strikes``)."""
    strikes = getattr(session, 'strikes', None)
    return getattr(strikes, 'strikes', 0)


def _as_written(report: Report) -> None:
    """Counterexamples call the classes by their roles (``Value(1.5)``, ``MLP(3, [4, 4, 1])``)
    and read ``.data`` and ``.grad``; where the learner named a class or those attributes
    otherwise, each snippet says so, so that it runs pasted under their code."""
    names = {role: info['name'] for role, info in report.class_info.items()
             if info.get('name') and info['name'] != role}
    attributes = {k: v for k, v in report.class_info.get('Value', {}).get('attributes', {}).items()
                  if k != v}
    topo = attributes.pop('topo', None)  # backprop(topo): the order their own method builds
    for check in report.checks:
        ce = check.counterexample
        if not ce or not ce.code:
            continue
        if topo:
            ce.code = re.sub(r'(\w+)\.backward\(\)', lambda m: f'{m[1]}.backward({m[1]}.{topo}())',
                             ce.code)
        for usual, theirs in attributes.items():
            ce.code = re.sub(rf'\.{re.escape(usual)}\b', '.' + theirs.replace('\\', r'\\'), ce.code)
        used = [role for role in names if re.search(rf'\b{re.escape(role)}\(', ce.code)]
        if used:
            ce.code = ''.join(f'{role} = {names[role]}  # your class, graded as the {role}\n'
                              for role in used) + ce.code
