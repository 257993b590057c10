"""The worker's answers, typed: parsed once where they arrive (the session, and the oracles that
run the same executor), so no check reads the wire format.

The worker itself speaks plain JSON (``worker/execute.py``, ``worker/mlp.py``,
``worker/serve.py``); these classes are the grader's reading of it. Numbers in ``values`` and
``grads`` stay raw: a float, or a dict saying what the submission returned instead
(``compare.classify`` reads them).
"""
import functools
from dataclasses import dataclass, field, fields


@dataclass(frozen=True)
class Failure:
    """Where and how an item failed: ``stage`` is ``leaf``, ``forward``, ``backward``, an MLP
    task's action, or ``worker`` when the worker was lost (timeout, crash)."""
    stage: str
    type: str
    message: str
    node: int | None = None  # the graph entry being computed
    missing: bool = False    # the op does not exist, rather than exists and broke
    where: str = ''          # the submission's line it was raised from: 'engine.py, line 4: ...'

    @classmethod
    def parse(cls, raw):
        return None if raw is None else cls(raw.get('stage', 'worker'), raw.get('type', ''),
                                            raw.get('message', ''), raw.get('node'),
                                            bool(raw.get('missing', False)),
                                            str(raw.get('where') or ''))

    @property
    def lost(self):
        return self.stage == 'worker'

    def __str__(self):
        return f'{self.type}: {self.message}' + (f' (at {self.where})' if self.where else '')


def _parse(cls, raw, output):
    known = _answered(cls)
    values = {k: v for k, v in raw.items() if k in known}
    return cls(**values, error=Failure.parse(raw.get('error')), output=output)


@functools.cache
def _answered(cls):
    """The fields of ``cls`` a worker's answer may set (a few hundred answers a grade)."""
    return frozenset(f.name for f in fields(cls)) - {'error', 'output'}


@dataclass
class GraphResult:
    """One graph run: every entry's data and grad, or where it failed."""
    values: list = field(default_factory=list)
    grads: list = field(default_factory=list)  # after the first backward(); empty if it failed
    grads2: list | None = None  # after a second backward(), when asked for
    order: list | None = None   # entries in the order their _backward ran, when instrumented
    walks: int | None = None    # times the nodes' operand containers were iterated, instrumented
    shadowed: str | None = None  # an attribute `backward` hides the method: 'op' or 'init'
    rules: list | None = None   # per entry, (method, line) its _backward was written in, or None
    error: Failure | None = None
    output: str = ''            # what the submission printed meanwhile

    @classmethod
    def parse(cls, raw, output=''):
        result = _parse(cls, raw, output)
        result.rules = _rules(result.rules)
        return result


def _rules(rules):
    """Rule origins kept only where each has the expected shape (the worker's answer is data)."""
    if not isinstance(rules, list):
        return None
    return [(r[0][:100], r[1]) if isinstance(r, list) and len(r) == 2 and isinstance(r[0], str)
            and type(r[1]) is int and r[1] >= 1 else None for r in rules[:100_000]]


@dataclass
class MlpResult:
    """One MLP task; which fields are set depends on its action."""
    count: int = 0
    distinct: int = 0
    own: bool = False
    batched: bool = False  # takes a batch of samples, not the lecture's one sample
    scalar: bool = True    # every parameter holds one number (not a matrix network's arrays)
    outputs: list | None = None
    losses: list | None = None
    loss: object = None
    grads: list | None = None
    loss_after: object = None
    grads_after: list | None = None
    error: Failure | None = None
    output: str = ''

    @classmethod
    def parse(cls, raw, output=''):
        return _parse(cls, raw, output)


#: Worker task -> how its answers read.
RESULTS = {'graph': GraphResult, 'mlp': MlpResult}


@dataclass
class Loaded:
    """The worker's answer to loading the submission."""
    error: str = ''
    warnings: list = field(default_factory=list)
    classes: dict = field(default_factory=dict)  # role -> where it was defined
    seconds: float | None = None  # spent loading, in the worker
    output: str = ''
    class_info: dict = field(default_factory=dict)  # role -> name, origin, how found, similar
    methods: dict = field(default_factory=dict)  # Value's method -> {'file', 'line'} of its def

    @classmethod
    def parse(cls, raw):
        return cls(raw.get('error') or '', list(raw.get('warnings', [])),
                   dict(raw.get('classes', {})), raw.get('seconds'), raw.get('output', ''),
                   dict(raw.get('class_info', {})), _locations(raw.get('methods')))


def _locations(methods):
    """Method locations kept only where they have the expected shape: the worker runs the
    submission's code, so what it sends is data to check, not to trust."""
    if not isinstance(methods, dict):
        return {}
    return {str(name)[:100]: {'file': loc['file'][:300], 'line': loc['line']}
            for name, loc in list(methods.items())[:200]
            if isinstance(loc, dict) and isinstance(loc.get('file'), str)
            and type(loc.get('line')) is int and loc['line'] >= 1}
