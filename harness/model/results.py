"""The one result model: what grading found, and what every reporter reads.

Plain dataclasses that round-trip through JSON (``to_dict``/``from_dict``), so a report can be
written by a CLI run, a batch, a pytest plugin or a service, and read back by any of them.
Numbers are stored as JSON-safe values: nan and infinities as the strings ``"nan"``, ``"inf"``,
``"-inf"``. Closed sets are ``str`` enums, so the JSON is their text; a value outside one (a
report of another grader version) is refused when read (``ValueError``), never guessed.
"""
from __future__ import annotations

import enum
import functools
import math
from dataclasses import dataclass, field, fields
from typing import Any

from micrograde.model.names import decodable
from micrograde.worker.ops import OP_METHODS


class Status(enum.StrEnum):
    """What a check found."""
    PASSED = 'passed'
    FAILED = 'failed'
    ERROR = 'error'      # the check could not finish (the learner's code or the grader broke)
    SKIPPED = 'skipped'  # not run: what it needs is missing


class NotRun(enum.StrEnum):
    """Why a check was not run (``Check.not_run``), which a reporter reads instead of its message's
    wording: every consumer says ``not run`` for it and tells a stop from a missing need."""
    NO = ''              # it ran, or was skipped for a reason of its own (an op not written)
    NEEDS = 'needs'      # a check before it did not give what it needs (``Rubric.apply``)
    STOPPED = 'stopped'  # grading stopped before it: the submission not loaded, the worker given
    # up on (timeouts, lost workers, the time limit: ``grading._not_run``)


class Category(enum.StrEnum):
    """The kinds of check, in the order a report lists them."""
    LOAD = 'load'
    CAPABILITY = 'capability'
    OPS = 'ops'
    BACKWARD = 'backward'
    FUZZ = 'fuzz'
    MLP = 'mlp'
    ROBUSTNESS = 'robustness'


CATEGORIES = tuple(Category)


class Outcome(enum.StrEnum):
    """How every consumer shows a check (``Check.outcome``, decided there once): a failure of a
    check that does not count is ``ADVICE``, never a failure. In the order reports count them."""
    PASSED = 'passed'
    FAILED = 'failed'
    ERROR = 'error'
    ADVICE = 'advice'
    SKIPPED = 'skipped'

    @property
    def failure(self) -> bool:
        """Shown as a failure: it decides the verdict."""
        return self in (Outcome.FAILED, Outcome.ERROR)


class Verdict(enum.StrEnum):
    PASSED = 'passed'  # every required check passed
    FAILED = 'failed'


class Isolation(enum.StrEnum):
    """Where the submission ran (``isolate/sandbox.py``), strongest first."""
    BUBBLEWRAP = 'bubblewrap'
    LANDLOCK = 'landlock'
    PROCESS = 'process'
    NONE = ''  # in no worker: the notebook self-check, or a report the grader gave up on


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
    OPERANDS_SWAPPED = 'operands_swapped'  # `__truediv__` computes other / self
    SINGLE_PRECISION = 'single_precision'  # values held as float32
    INPUT_CHANGED = 'input_changed'        # an op changed its input's value
    EXCEPTION = 'exception'                # the learner's code raised
    MISSING_OP = 'missing_op'              # an op's method uses an operator the Value lacks
    NOT_SEEDED = 'not_seeded'              # backward() does not set the root's grad to 1
    BODY_INDENTED = 'body_indented'        # backward()'s body indented into a function of its own
    NOT_TOPOLOGICAL = 'not_topological'    # backward() calls the rules in a wrong order
    REPEATED = 'repeated'                  # backward() runs a rule more than once
    SHADOWED = 'shadowed'                  # an attribute `backward` hides the method
    VISITED_FLAG = 'visited_flag'          # a second backward() changes nothing or only part
    ORDER_DEPENDENT = 'order_dependent'    # the result follows the order a set iterates
    MERGED = 'merged'                      # __hash__/__eq__ by value merge equal nodes in a set
    NONZERO_START = 'nonzero_start'        # a new Value's grad is not 0 (`self.grad = 1`)
    GRADIENTS_DISAGREE = 'gradients_disagree'  # wrong gradients no model explains
    BACKWARD_MISSING = 'backward_missing'  # no backward() method (often one named otherwise)
    PARAMETERS_LISTED = 'parameters_listed'  # a network's parameters() lists other than what it holds
    NETWORK_SHAPE = 'network_shape'        # a network of other sizes than MLP(nin, nouts) asks for
    NETWORK_FORWARD = 'network_forward'    # a network's forward pass computes another function


#: What each misconception is, in the words a class page and a CI summary show.
TITLES: dict[str, str] = {
    Code.ASSIGNED: 'gradient assigned instead of accumulated',
    Code.NO_UPSTREAM: 'local derivative not multiplied by the upstream gradient',
    Code.NO_BACKWARD: 'op without a backward rule',
    Code.RULE_ON_OPERAND: 'backward rule stored on the operand',
    Code.WRONG_DERIVATIVE: 'wrong local derivative',
    Code.WRONG_VALUE: 'wrong forward value',
    Code.REFLECTED_SWAPPED: 'reflected op with its operands swapped',
    Code.OPERANDS_SWAPPED: 'op with its operands swapped',
    Code.SINGLE_PRECISION: 'values stored as 32-bit floats',
    Code.INPUT_CHANGED: 'an op changes its input',
    Code.EXCEPTION: 'exception in the learner\'s code',
    Code.MISSING_OP: 'an op uses an operator the Value does not define',
    Code.NOT_SEEDED: 'root gradient not seeded with 1',
    Code.BODY_INDENTED: 'backward()\'s body indented into a function it never calls',
    Code.NOT_TOPOLOGICAL: 'backward order not topological',
    Code.REPEATED: 'gradients propagated more than once',
    Code.SHADOWED: 'an attribute shadows backward()',
    Code.VISITED_FLAG: 'a second backward() does not add the gradients again',
    Code.ORDER_DEPENDENT: 'result depends on the order a set iterates',
    Code.MERGED: 'equal-valued nodes merged by a value-based __hash__/__eq__',
    Code.NONZERO_START: 'gradient not starting at 0',
    Code.GRADIENTS_DISAGREE: 'gradients disagree (not localised)',
    Code.BACKWARD_MISSING: 'no backward() method',
    Code.PARAMETERS_LISTED: 'parameters() lists other than the Values the network holds',
    Code.NETWORK_SHAPE: 'network built with other sizes than MLP(nin, nouts) asks for',
    Code.NETWORK_FORWARD: 'the network\'s forward pass computes another function than the lecture\'s',
}


@dataclass
class Misconception:
    """A misconception as data: its code, the op whose rule it is in (``''`` for backward()
    itself), the learner's method and line where the wrong rule lives, and the evidence."""
    code: str  # a ``Code``; kept as text: a stored report may name another version's
    op: str = ''
    method: str = ''    # '__add__', 'backward'; '' when no method is known
    file: str = ''      # as in ``Report.methods`` (the submission's file, or 'cell 3')
    line: int | None = None  # the rule's own line when observed, else the method's def
    evidence: list[str] = field(default_factory=list)  # the checks whose graphs show it, in order

    def key(self, observed: bool = True) -> str:
        """What makes two findings one root cause: where the wrong rule lives (one method, one
        line: one bug, whatever each graph showed of it), else its code and op.  A location
        not ``observed`` (a rule missing, a wrong value: the method the op is called through,
        a guess) is one bug of its op in all its forms (``a * b`` and ``2.0 * a`` both reach
        ``__mul__``, whatever ``__rmul__`` says); so is an operator the Value lacks (``a / b``
        and ``2.0 / a`` both reach for ``**``).  backward() itself (no op) is its method."""
        if (observed or not self.op) and self.method and self.code != Code.MISSING_OP:
            if self.code == Code.WRONG_DERIVATIVE and self.method not in OP_METHODS:
                # a helper that applies every op's rule: each op passes it its own derivative
                return f'{self.method}:{self.line}:{self.op}'
            return f'{self.method}:{self.line}'
        return f'{self.code}:{self.op}'

    @property
    def title(self) -> str:
        """The code's words; a code of another grader version (a stored report) in its own."""
        return TITLES.get(self.code, self.code.replace('_', ' '))


@dataclass
class Counterexample:
    """A runnable reproduction: ``code`` a learner can paste, and what should and did happen."""
    code: str
    expected: dict[str, Any] = field(default_factory=dict)  # name -> shown value
    actual: dict[str, Any] = field(default_factory=dict)
    graph: dict[str, Any] | None = None  # the graph as plain data (``Graph.to_dict``), for drawing it
    # what the submission computed for each graph entry (``{'data', 'grad'}``, in graph order)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    wrong: dict[str, Any] = field(default_factory=dict)  # entry name -> the expected {'data'} / {'grad'}
    culprits: list[str] = field(default_factory=list)  # names of the nodes whose op is blamed


FAILING = frozenset({Status.FAILED, Status.ERROR})


@dataclass
class Check:
    id: str
    category: Category
    status: Status
    message: str = ''
    required: bool = True  # False: its failure is advice (the rubric's ``advisory``), not the verdict's
    diagnosis: str = ''
    counterexample: Counterexample | None = None
    output: str = ''  # what the submission printed during this check (capped)
    score: float = 0.0
    max_score: float = 0.0
    visibility: str = 'visible'
    duration: float = 0.0
    misconception: Misconception | None = None
    consequence_of: str = ''  # the check whose misconception explains this failure: not a bug of its own
    not_run: NotRun = NotRun.NO  # why it was not run (skipped only)

    def __post_init__(self) -> None:
        self.category, self.status = Category(self.category), Status(self.status)
        self.not_run = NotRun(self.not_run)
        if self.not_run and self.status is not Status.SKIPPED:
            raise ValueError(f'{self.id}: {self.status} but not run ({self.not_run})')

    @property
    def failing(self) -> bool:
        """It failed or could not finish, whether or not that counts (see ``outcome``)."""
        return self.status in FAILING

    @property
    def outcome(self) -> Outcome:
        """How it is shown, by every consumer: a failure that does not count is advice."""
        if self.status in FAILING and not self.required:
            return Outcome.ADVICE
        return Outcome(self.status.value)


@dataclass
class Report:
    submission: str
    verdict: Verdict = Verdict.FAILED
    score: float = 0.0
    max_score: float = 0.0
    seed: int = 0
    profile: str = 'standard'
    versions: dict[str, str] = field(default_factory=dict)
    isolation: Isolation = Isolation.NONE
    protections: dict[str, list[str]] = field(default_factory=dict)  # 'protected'/'unprotected' -> names
    load_warnings: list[str] = field(default_factory=list)
    classes: dict[str, str] = field(default_factory=dict)  # role -> where it was defined
    # role -> {name, origin, how (name|spelling|shape), similar: {expected method: learner's}}
    class_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)  # Value's method -> {'file', 'line'}
    capabilities: dict[str, str] = field(default_factory=dict)  # op -> present | absent | broken
    budgets: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    output: str = ''  # what the worker printed outside any check (capped)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step, and 'total'
    timestamp: str = ''  # when grading started, UTC, ISO 8601 to the second
    restarts: int = 0  # workers lost and replaced (timeouts, crashes)
    fingerprint: str = ''  # submission content + rubric + grader version + seed + profile
    # a notebook's cell named in the report -> [[its line, the .ipynb file's line], ...] (grader/lines.py)
    notebook_lines: dict[str, list[list[int]]] = field(default_factory=dict)
    notebook: str = ''  # the notebook inside a folder submission that named cells are of

    def __post_init__(self) -> None:
        self.verdict, self.isolation = Verdict(self.verdict), Isolation(self.isolation)

    def by_category(self) -> dict[Category, list[Check]]:
        groups: dict[Category, list[Check]] = {c: [] for c in Category}
        for check in self.checks:
            groups[check.category].append(check)
        return {c: checks for c, checks in groups.items() if checks}

    @property
    def failures(self) -> list[Check]:
        """The checks that failed or could not finish, advice included."""
        return [c for c in self.checks if c.failing]

    def to_dict(self) -> dict[str, Any]:
        return _safe(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Report:
        """The report ``to_dict`` gave; ``ValueError`` for a value outside a closed set."""
        known = {f.name for f in fields(cls)}
        report = cls(**{k: v for k, v in d.items() if k in known and k != 'checks'})
        report.checks = [Check(**{**c, 'counterexample': Counterexample(**c['counterexample'])
                                  if c.get('counterexample') else None,
                                  'misconception': Misconception(**c['misconception'])
                                  if c.get('misconception') else None}) for c in d.get('checks', [])]
        return report

    def causes(self) -> list[tuple[Check, list[Check]]]:
        """``[(root check, [its consequences])]`` for the failures, in order: one per bug."""
        roots: dict[str, list[Check]] = {c.id: [] for c in self.failures if not c.consequence_of}
        for c in self.failures:
            if c.consequence_of in roots:
                roots[c.consequence_of].append(c)
        by_id = {c.id: c for c in self.checks}
        return [(by_id[i], found) for i, found in roots.items()]


def _safe(x: Any) -> Any:
    """JSON-safe copy, dataclasses as dicts, enums as their text: no NaN/Infinity literals, a lone
    surrogate escaped (``\\xff``: a file name's byte that is not UTF-8 reads as in every report)."""
    kind: type = type(x)
    if hasattr(kind, '__dataclass_fields__'):
        return {name: _safe(getattr(x, name)) for name in _names(kind)}
    if isinstance(x, float) and not math.isfinite(x):
        return 'nan' if math.isnan(x) else ('inf' if x > 0 else '-inf')
    if isinstance(x, str):
        if isinstance(x, enum.Enum):
            return x.value
        return decodable(x)
    if isinstance(x, dict):
        return {str(k): _safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_safe(v) for v in x]
    return x


@functools.cache
def _names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))
