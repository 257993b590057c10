"""The one result model: what grading found, and what every reporter reads.

Plain dataclasses that round-trip through JSON (``to_dict``/``from_dict``), so a report can be
written by a CLI run, a batch, a pytest plugin or a service, and read back by any of them.
Numbers are stored as JSON-safe values: nan and infinities as the strings ``"nan"``, ``"inf"``,
``"-inf"``.
"""
import functools
import math
from dataclasses import dataclass, field, fields

CATEGORIES = ('load', 'capability', 'ops', 'backward', 'fuzz', 'mlp', 'robustness')
STATUSES = ('passed', 'failed', 'error', 'skipped')


@dataclass
class Counterexample:
    """A runnable reproduction: ``code`` a learner can paste, and what should and did happen."""
    code: str
    expected: dict = field(default_factory=dict)  # name -> shown value
    actual: dict = field(default_factory=dict)
    graph: dict | None = None  # the graph as plain data (``Graph.to_dict``), for drawing it
    # what the submission computed for each graph entry (``{'data', 'grad'}``, in graph order)
    nodes: list = field(default_factory=list)
    wrong: dict = field(default_factory=dict)  # entry name -> the expected {'data'} / {'grad'}
    culprits: list = field(default_factory=list)  # names of the nodes whose op is blamed


@dataclass
class Check:
    id: str
    category: str
    status: str
    message: str = ''
    required: bool = True
    diagnosis: str = ''
    counterexample: Counterexample | None = None
    output: str = ''  # what the submission printed during this check (capped)
    score: float = 0.0
    max_score: float = 0.0
    visibility: str = 'visible'
    duration: float = 0.0

    @property
    def ok(self):
        return self.status in ('passed', 'skipped')

    @property
    def advisory(self):
        """A finding that is advice: it failed, but it does not decide the verdict."""
        return not self.required and self.status in ('failed', 'error')


@dataclass
class Report:
    submission: str
    verdict: str = 'failed'  # 'passed' when every required check passed
    score: float = 0.0
    max_score: float = 0.0
    seed: int = 0
    profile: str = 'standard'
    versions: dict = field(default_factory=dict)
    isolation: str = ''
    protections: dict = field(default_factory=dict)  # 'protected'/'unprotected' -> names (sandbox.py)
    load_warnings: list = field(default_factory=list)
    classes: dict = field(default_factory=dict)  # role -> where it was defined
    # role -> {name, origin, how (name|spelling|shape), similar: {expected method: learner's}}
    class_info: dict = field(default_factory=dict)
    methods: dict = field(default_factory=dict)  # Value's method -> {'file', 'line'} of its def
    capabilities: dict = field(default_factory=dict)  # op -> present | absent | broken
    budgets: dict = field(default_factory=dict)
    checks: list = field(default_factory=list)
    output: str = ''  # what the worker printed outside any check (capped)
    timings: dict = field(default_factory=dict)  # seconds per step, and 'total'
    timestamp: str = ''  # when grading started, UTC, ISO 8601 to the second
    restarts: int = 0  # workers lost and replaced (timeouts, crashes)
    fingerprint: str = ''  # submission content + rubric + grader version + seed + profile

    def by_category(self):
        groups = {c: [] for c in CATEGORIES}
        for check in self.checks:
            groups.setdefault(check.category, []).append(check)
        return {c: checks for c, checks in groups.items() if checks}

    @property
    def failures(self):
        return [c for c in self.checks if c.status in ('failed', 'error')]

    def to_dict(self):
        return _safe(self)

    @classmethod
    def from_dict(cls, d):
        known = {f.name for f in fields(cls)}
        report = cls(**{k: v for k, v in d.items() if k in known and k != 'checks'})
        report.checks = [Check(**{**c, 'counterexample': Counterexample(**c['counterexample'])
                                  if c.get('counterexample') else None}) for c in d.get('checks', [])]
        return report


def _safe(x):
    """JSON-safe copy, dataclasses as dicts: no NaN/Infinity literals, no lone surrogates."""
    if hasattr(type(x), '__dataclass_fields__'):
        return {name: _safe(getattr(x, name)) for name in _names(type(x))}
    if isinstance(x, float) and not math.isfinite(x):
        return 'nan' if math.isnan(x) else ('inf' if x > 0 else '-inf')
    if isinstance(x, str):
        return x.encode('utf-8', 'replace').decode('utf-8') if _has_surrogates(x) else x
    if isinstance(x, dict):
        return {str(k): _safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_safe(v) for v in x]
    return x


@functools.cache
def _names(cls):
    return tuple(f.name for f in fields(cls))


def _has_surrogates(s):
    try:
        s.encode('utf-8')
        return False
    except UnicodeEncodeError:
        return True
