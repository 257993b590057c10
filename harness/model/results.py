"""The one result model: what grading found, and what every reporter reads.

Plain dataclasses that round-trip through JSON (``to_dict``/``from_dict``), so a report can be
written by a CLI run, a batch, a pytest plugin or a service, and read back by any of them.
Numbers are stored as JSON-safe values: nan and infinities as the strings ``"nan"``, ``"inf"``,
``"-inf"``.
"""
import enum
import functools
import math
from dataclasses import dataclass, field, fields

CATEGORIES = ('load', 'capability', 'ops', 'backward', 'fuzz', 'mlp', 'robustness')


class Code(enum.StrEnum):
    """The closed set of misconceptions a finding names: what every surface groups, counts and
    charges by (a sentence is rendered from a code, never parsed back into one)."""
    ASSIGNED = 'assigned'                  # a rule assigns an operand's grad: `=` for `+=`
    NO_UPSTREAM = 'no_upstream'            # a rule leaves out out.grad (the chain rule)
    NO_BACKWARD = 'no_backward'            # an op sets no rule, so nothing flows past it
    RULE_ON_OPERAND = 'rule_on_operand'    # `self._backward = ...` where `out._backward` was meant
    WRONG_DERIVATIVE = 'wrong_derivative'  # an op's local derivative is wrong
    WRONG_VALUE = 'wrong_value'            # an op's forward value is wrong
    REFLECTED_SWAPPED = 'reflected_swapped'  # `__rsub__` computes self - other
    SINGLE_PRECISION = 'single_precision'  # values held as float32
    INPUT_CHANGED = 'input_changed'        # an op changed its input's value
    EXCEPTION = 'exception'                # the learner's code raised
    MISSING_OP = 'missing_op'              # an op's method uses an operator the Value lacks
    NOT_SEEDED = 'not_seeded'              # backward() does not set the root's grad to 1
    NOT_TOPOLOGICAL = 'not_topological'    # backward() calls the rules in a wrong order
    REPEATED = 'repeated'                  # backward() runs a rule more than once
    SHADOWED = 'shadowed'                  # an attribute `backward` hides the method
    VISITED_FLAG = 'visited_flag'          # a second backward() changes nothing or only part
    ORDER_DEPENDENT = 'order_dependent'    # the result follows the order a set iterates
    GRADIENTS_DISAGREE = 'gradients_disagree'  # wrong gradients no model explains


#: What each misconception is, in the words a class page and a CI summary show.
TITLES = {
    Code.ASSIGNED: 'gradient assigned instead of accumulated',
    Code.NO_UPSTREAM: 'local derivative not multiplied by the upstream gradient',
    Code.NO_BACKWARD: 'op without a backward rule',
    Code.RULE_ON_OPERAND: 'backward rule stored on the operand',
    Code.WRONG_DERIVATIVE: 'wrong local derivative',
    Code.WRONG_VALUE: 'wrong forward value',
    Code.REFLECTED_SWAPPED: 'reflected op with its operands swapped',
    Code.SINGLE_PRECISION: 'values stored as 32-bit floats',
    Code.INPUT_CHANGED: 'an op changes its input',
    Code.EXCEPTION: 'exception in the learner\'s code',
    Code.MISSING_OP: 'an op uses an operator the Value does not define',
    Code.NOT_SEEDED: 'root gradient not seeded with 1',
    Code.NOT_TOPOLOGICAL: 'backward order not topological',
    Code.REPEATED: 'gradients propagated more than once',
    Code.SHADOWED: 'an attribute shadows backward()',
    Code.VISITED_FLAG: 'a second backward() does not add the gradients again',
    Code.ORDER_DEPENDENT: 'result depends on the order a set iterates',
    Code.GRADIENTS_DISAGREE: 'gradients disagree (not localised)',
}


@dataclass
class Misconception:
    """A misconception as data: its code, the op whose rule it is in (``''`` for backward()
    itself), the learner's method and line where the wrong rule lives, and the evidence."""
    code: str
    op: str = ''
    method: str = ''    # '__add__', 'backward'; '' when no method is known
    file: str = ''      # as in ``Report.methods`` (the submission's file, or 'cell 3')
    line: int | None = None  # the rule's own line when observed, else the method's def
    evidence: list = field(default_factory=list)  # the checks whose graphs show it, in order

    @property
    def key(self):
        """What makes two findings one root cause: where the wrong rule lives (one method, one
        line: one bug, whatever each graph showed of it), else its code and op.  An operator
        the Value lacks is one bug of the op that uses it, in each of its forms (``a / b`` and
        ``2.0 / a`` both reach for ``**``)."""
        if self.method and self.code != Code.MISSING_OP:
            return f'{self.method}:{self.line}'
        return f'{self.code}:{self.op}'

    @property
    def title(self):
        return TITLES[Code(self.code)]


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
    misconception: Misconception | None = None
    consequence_of: str = ''  # the check whose misconception explains this failure: not a bug of its own

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
                                  if c.get('counterexample') else None,
                                  'misconception': Misconception(**c['misconception'])
                                  if c.get('misconception') else None}) for c in d.get('checks', [])]
        return report

    def causes(self):
        """``[(root check, [its consequences])]`` for the failures, in order: one per bug."""
        roots = {c.id: [] for c in self.failures if not c.consequence_of}
        for c in self.failures:
            if c.consequence_of in roots:
                roots[c.consequence_of].append(c)
        by_id = {c.id: c for c in self.checks}
        return [(by_id[i], found) for i, found in roots.items()]


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
