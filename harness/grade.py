"""Grade one submission: load it in a worker, run every check, score it. No reporting here."""
import platform
import time
from dataclasses import dataclass, field

import hypothesis
import torch

from . import __version__, checks
from .results import Check, Report
from .rubric import Rubric
from .session import Session, Settings


@dataclass
class Config:
    """Everything that decides a grade besides the submission itself."""
    seed: int = 0
    profile: str = 'standard'
    rubric: Rubric = field(default_factory=Rubric.load)
    settings: Settings = field(default_factory=Settings)


def versions():
    return {'micrograde': __version__, 'python': platform.python_version(),
            'torch': torch.__version__, 'hypothesis': hypothesis.__version__}


def grade(path=None, module=None, config=None, name=None, template=None, session=None):
    """The report for the submission at ``path`` (or the installed ``module``).

    ``template``: a warm ``Template`` to fork the worker from; ``session``: a ``Session`` of the
    caller's, to look at afterwards (what was sent, restarts)."""
    config = config or Config()
    budget = checks.PROFILES[config.profile]
    report = Report(submission=name or str(module or path), seed=config.seed,
                    profile=config.profile, versions=versions(), budgets=budget.to_dict())
    session = session or Session(config.settings, path, module, template, config.seed)
    report.isolation = session.level
    timings = report.timings
    started = time.perf_counter()
    try:
        t = time.perf_counter()
        loaded = session.load()
        timings['load'] = time.perf_counter() - t
        timings['load_in_worker'] = loaded.get('seconds', timings['load'])
        report.load_warnings = loaded.get('warnings', [])
        report.classes = loaded.get('classes', {})
        error = loaded.get('error') or ('' if 'Value' in report.classes else
                                        f"no class named {config.settings.classes['Value']!r} was "
                                        f"found in the submission")
        report.checks.append(Check('load', 'load', 'failed' if error else 'passed',
                                   error or f"loaded; Value from {report.classes['Value']}",
                                   output=loaded.get('output', '')))
        if not error:
            _run_checks(session, config, budget, report)
    finally:
        report.output = session.close()
        timings['total'] = time.perf_counter() - started
    return config.rubric.apply(report)


def _run_checks(session, config, budget, report):
    required = config.rubric.required_ops
    steps = [
        ('probe', lambda: _probe(session, report, required)),
        ('ops', lambda: checks.op_checks(session, report.capabilities, required)),
        ('backward', lambda: checks.backward_checks(session, report.capabilities)),
        ('fuzz', lambda: [checks.fuzz_check(session, report.capabilities, config.seed, budget)]),
        ('mlp', lambda: checks.mlp_checks(session, report.classes, config.seed)),
        ('robustness', lambda: checks.robustness_checks(session, report.capabilities, budget)),
    ]
    for name, step in steps:
        t = time.perf_counter()
        report.checks.extend(step())
        report.timings[name] = time.perf_counter() - t
    report.restarts = session.restarts


def _probe(session, report, required):
    report.capabilities = checks.probe(session)
    return checks.capability_checks(report.capabilities, required)
