"""The worker's answers, checked and typed: parsed once where they arrive (the session, and the
oracles that run the same executor), so no check reads the wire format.

The submission runs inside the worker and can rewrite anything it sends, so an answer is data
for one total parser: a schema per kind of message (``LOADED``, ``ITEM``, ``DONE``, and the
results ``GRAPH``, ``MLP`` (one per action), ``FAILURE``) checks every type, count and size.
A text is cut to its ``bounds.KEEP`` (a long one is not wrong, only long); anything else that
is not what our worker sends (a wrong type, a count other than what was asked, a field missing
or unknown, answers out of turn) is a ``Violation``: the submission interfered with grading.
Numbers in ``values`` and ``grads`` stay raw: a float, or a dict saying what the submission
returned instead (``compare.classify`` reads them).

One policy for what a worker that gives no answer costs (``Strikes``) serves every session:
the sandboxed ``Session`` and the self-check's in-process one.
"""
import enum
import keyword
import math
from dataclasses import dataclass, field

from micrograde.model.bounds import KEEP, KEEP_COUNT, capped
from micrograde.model.errors import WorkerError
from micrograde.model.names import shown
from micrograde.worker import protocol
from micrograde.worker.load.loaded import CALLS

INTERFERED = 'the submission interfered with grading'
MOST = 1 << 20  # entries of any list an answer holds, when the request does not say fewer


class Violation(WorkerError):
    """An answer our worker never sends; ``str`` says what the worker did (``sent ...``), or
    which field of its answer was wrong (```answer.output` is ...``)."""

    def __str__(self):
        what = super().__str__()
        return 'the worker ' + (f'sent an answer in which {what}' if what.startswith('`') else what)


class Lost(enum.Enum):
    """Why an item has no answer of the submission's: the ``type`` of its ``Failure``."""
    TIMEOUT = 'Timeout'        # ran past its time limit
    WORKER = 'WorkerLost'      # the worker died or closed its pipe
    INTERFERED = 'Interfered'  # the worker broke the protocol: nothing it says is believed
    NOT_RUN = 'NotRun'         # not asked: after a strike, or once nothing more is run


#: The ``Failure.type`` of an item the submission's own code lost (its time ran out, or it ended
#: the worker), not one left unasked: where it alone is lost, the op it runs is the culprit.
HUNG = frozenset({Lost.TIMEOUT.value, Lost.WORKER.value})


# --- the schema's parts: each ``parse(raw, where)`` returns the value or raises Violation ------

def _kind(raw):
    return 'null' if raw is None else type(raw).__name__


def text(kind):
    def parse(raw, where):
        if type(raw) is not str:
            raise Violation(f'`{where}` is {_kind(raw)}, not text')
        return capped(raw, KEEP[kind])
    return parse


def line(kind):
    """One line of the worker's words (a load's error or warning, where a class is), as every
    report shows a name (``names.shown``): a control or bidi character of the submission's (a
    zip entry named with an escape code and a newline) is written as its escape, so it adds no
    line to the console and no code to a report."""
    plain = text(kind)

    def parse(raw, where):
        return shown(plain(raw, where))
    return parse


_NAME = text('name')


def name(raw, where):
    """An identifier: a role, a method (the grader's own words; they end up in code and
    patterns)."""
    value = _NAME(raw, where)
    if not value.isidentifier():
        raise Violation(f'`{where}` is not a name')
    return value


def in_code(text):
    """Whether the grader may write ``text`` into the code it shows (a counterexample's snippet,
    pasted under the learner's code: ``Value = Scalar``, ``out.backprop()``, ``.val``): an
    identifier no keyword spells, never the submission's text (a class's ``__name__`` or an
    attribute given by ``setattr``, which may be ``'V\\nimport os; os.system(...)\\nV'``)."""
    return text.isidentifier() and not keyword.iskeyword(text)


def learners_names(key, most):
    """``{key: the learner's name for it}`` (a method or attribute the grader calls or reads in
    the lecture's name's place), at most ``most``; an entry whose name is no identifier
    (``in_code``) is dropped: the grader cannot call through it in code, so it names nothing."""
    every = mapping(key, _NAME, most)

    def parse(raw, where):
        return {k: v for k, v in every(raw, where).items() if in_code(v)}
    return parse


def integer(low=0, high=MOST):
    def parse(raw, where):
        if type(raw) is not int or not low <= raw < high:
            raise Violation(f'`{where}` is not an integer in [{low}, {high})')
        return raw
    return parse


#: A line of the submission's: CPython numbers lines in a C int.  ``MOST`` bounds a list's
#: entries, not lines: a file that carries generated data may put its class past line 2**20,
#: and an honest worker then says so.
LINE = integer(1, 1 << 31)


def boolean(raw, where):
    if type(raw) is not bool:
        raise Violation(f'`{where}` is {_kind(raw)}, not true or false')
    return raw


def seconds(raw, where):
    """A finite count of seconds; JSON's integers have no bound, so one no float holds
    (``10**400``: a ``perf_counter`` of the submission's) is none either."""
    try:
        value = float(raw) if type(raw) in (int, float) else math.nan
    except OverflowError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise Violation(f'`{where}` is not a number of seconds')
    return value


def one_of(*values):
    def parse(raw, where):
        if raw not in values or type(raw) is not str:
            raise Violation(f'`{where}` is none of {", ".join(values)}')
        return raw
    return parse


def optional(spec):
    def parse(raw, where):
        return None if raw is None else spec(raw, where)
    return parse


def listed(spec, most=MOST, cut=None):
    """A list of at most ``most`` entries; with ``cut`` (what they are), a longer one is kept
    to ``most`` with a note instead (texts: long is not wrong)."""
    def parse(raw, where):
        if spec is number and type(raw) is dict and raw.keys() == {protocol.F64}:
            try:  # a list of floats, packed (``protocol.pack``)
                return protocol.unpack(raw[protocol.F64], most)
            except ValueError as e:
                raise Violation(f'`{where}` {e}') from None
        if type(raw) is not list:
            raise Violation(f'`{where}` is {_kind(raw)}, not a list')
        if len(raw) > most and cut is None:
            raise Violation(f'`{where}` has {len(raw)} entries, more than the {most} asked for')
        if spec is number and (not raw or set(map(type, raw)) == protocol.FLOATS):
            return raw  # nearly every answer: a list of floats (checked in C)
        kept = [spec(x, f'{where}[{k}]') for k, x in enumerate(raw[:most])]
        return kept if len(raw) <= most else kept + [f'[... {len(raw) - most} more {cut} not kept]']
    return parse


def mapping(key, value, most):
    """A JSON object of at most ``most`` entries (the first kept, the rest dropped)."""
    def parse(raw, where):
        if type(raw) is not dict:
            raise Violation(f'`{where}` is {_kind(raw)}, not an object')
        return {key(k, f'{where} key'): value(v, f'{where}[{k[:40]!r}]')
                for k, v in list(raw.items())[:most]}
    return parse


def record(fields, required=()):
    """A JSON object with only these fields (``{name: spec}``), ``required`` ones present."""
    def parse(raw, where):
        if type(raw) is not dict:
            raise Violation(f'`{where}` is {_kind(raw)}, not an object')
        unknown = raw.keys() - fields.keys()
        if unknown:
            raise Violation(f'`{where}` has a field {sorted(unknown)[0][:40]!r} no answer has')
        missing = [k for k in required if k not in raw]
        if missing:
            raise Violation(f'`{where}` lacks {missing[0]!r}')
        return {k: fields[k](v, f'{where}.{k}') for k, v in raw.items()}
    return parse


def rule(raw, where):
    """Where an entry's ``_backward`` was written: ``[method, line]`` (``worker/rules.py``); the
    method a name, or a class's and its method's (``Add.__call__``), since a misconception is
    keyed and shown by it."""
    if type(raw) not in (list, tuple) or len(raw) != 2:  # a tuple in process (run_graph's)
        raise Violation(f'`{where}` is not a [method, line] pair')
    method = _NAME(raw[0], where)
    parts = method.split('.')
    if len(parts) > 2 or not all(p.isidentifier() for p in parts):
        raise Violation(f'`{where}` is not a method')
    return (method, LINE(raw[1], where))


def number(raw, where):
    """A raw result: a float, or what the submission gave instead (``execute.number``)."""
    if isinstance(raw, float):
        return float(raw)  # in-process answers (the self-check) may hold numpy's float64
    return _NOT_A_FLOAT(raw, where)


def _complex(raw, where):
    if type(raw) is not list or len(raw) != 2 or not all(type(x) is float for x in raw):
        raise Violation(f'`{where}` is not a complex number\'s two parts')
    return raw


def true(raw, where):
    if raw is not True:
        raise Violation(f'`{where}` is not true')
    return raw


def later(raw, where):
    """Parsed once the request it answers is known (``answer``)."""
    return raw


_NOT_A_FLOAT = record({'complex': _complex, 'type': _NAME, 'error': _NAME})


# --- the schema: one table per kind of answer ------------------------------------------------

#: Where a worker says an item failed, per task: the executor's stages (``execute.py``) and the
#: MLP tasks' (``mlp.py``: building the network, then its action); a graph's answer naming an
#: MLP stage is none our worker sends, nor the other way round.
GRAPH_STAGES = ('leaf', 'forward', 'backward')


def _failure(stages):
    return record({'stage': one_of(*stages), 'type': text('name'), 'message': text('message'),
                   'node': optional(integer()), 'missing': boolean, 'where': text('where'),
                   'function': name, 'line': LINE, 'file': text('where'), 'owner': name},
                  required=('stage', 'type', 'message'))


GRAPH = record({'values': listed(number), 'grads': listed(number),
                'grads2': optional(listed(number)), 'order': optional(listed(integer())),
                'walks': optional(integer(0, 1 << 62)), 'shadowed': optional(one_of('op', 'init')),
                'rules': optional(listed(optional(rule))), 'merged': optional(listed(integer())),
                'starts': optional(listed(number)),
                'unheld': optional(listed(integer())), 'unrun': optional(listed(integer())),
                'error': optional(_failure(GRAPH_STAGES))})
#: What an MLP task's answer may hold: the network's facts, then its action's results.
MLP_FIELDS = {'count': integer(), 'distinct': integer(), 'own': boolean, 'scalar': boolean,
              'nested': boolean, 'batched': boolean,
              'misbuilt': optional(record({'method': text('name'), 'file': text('where'),
                                           'line': LINE, 'why': one_of('nested', 'listed', 'shape')},
                                          required=('method', 'file', 'line', 'why'))),
              'outputs': listed(listed(number)), 'losses': listed(number),
              'loss': number, 'grads': listed(number), 'loss_after': number,
              'grads_after': listed(number)}
_NETWORK = ('count', 'distinct', 'own', 'scalar', 'nested')
_GRADS = _NETWORK + ('loss', 'grads')
#: MLP action -> the fields its answer holds, every one of them (``worker/mlp.py``).
MLP_ACTIONS = {'build': _NETWORK + ('batched',), 'forward': _NETWORK + ('outputs',),
               'losses': _NETWORK + ('losses',), 'grads': _GRADS,
               'step': _GRADS + ('loss_after',), 'zero_grad': _GRADS + ('grads_after',)}
#: MLP action -> the fields its answer may hold besides (``misbuilt``: only where it is known).
MLP_MAY = {'build': ('misbuilt',)}
MLP = {action: record({k: MLP_FIELDS[k] for k in fields + MLP_MAY.get(action, ())},
                      required=fields)
       for action, fields in MLP_ACTIONS.items()}
#: A failed MLP task: the worker stops at the first error and sends only it.
MLP_FAILED = record({'error': _failure(('constructor', 'parameters', *MLP_ACTIONS))},
                    required=('error',))
CLASS_INFO = record({'name': text('name'), 'origin': line('where'),
                     'how': one_of('name', 'spelling', 'shape'),
                     'similar': learners_names(text('name'), KEEP_COUNT['similar']),
                     'attributes': learners_names(one_of('data', 'grad', 'backward', 'topo'), 4)},
                    required=('name', 'origin', 'how'))
LOADED = record({'nonce': text('name'), 'type': one_of('loaded'), 'output': text('output'),
                 'error': line('error'),
                 'warnings': listed(line('warning'), KEEP_COUNT['warnings'], cut='warnings'),
                 'seconds': optional(seconds),
                 'classes': mapping(name, line('where'), KEEP_COUNT['roles']),
                 'class_info': mapping(name, CLASS_INFO, KEEP_COUNT['roles']),
                 'methods': mapping(text('name'), record({'file': text('where'), 'line': LINE,
                                                          'rule': boolean,
                                                          'rule_on_self': LINE,
                                                          'indented': LINE,
                                                          'appended': LINE,
                                                          'resets': LINE,
                                                          'computes': LINE, 'wraps': LINE,
                                                          'calls_rules': LINE,
                                                          'stub': LINE,
                                                          'calls': listed(name, CALLS)},
                                                         ('file', 'line')),
                                    KEEP_COUNT['methods'])},
                required=('nonce', 'type', 'output'))
ITEM = record({'nonce': text('name'), 'id': integer(1, 1 << 62), 'item': integer(),
               'result': later, 'output': text('output')},
              required=('nonce', 'id', 'item', 'result', 'output'))
DONE = record({'nonce': text('name'), 'id': integer(1, 1 << 62), 'done': true,
               'output': text('output')}, required=('nonce', 'id', 'done', 'output'))


@dataclass(frozen=True)
class Failure:
    """Where and how an item failed: ``stage`` is ``leaf``, ``forward``, ``backward``, an MLP
    task's action, or ``worker`` when there is no answer (``type``: a ``Lost``)."""
    stage: str
    type: str
    message: str
    node: int | None = None  # the graph entry being computed
    missing: bool = False    # the op does not exist, rather than exists and broke
    where: str = ''          # the submission's line it was raised from: 'engine.py, line 4: ...'
    function: str = ''       # the learner's function (method) it was raised in, and its line
    line: int | None = None
    file: str = ''           # the submission's file that function is in ('nn.py', 'cell 4')
    owner: str = ''          # the class of that method when not the Value's ('Layer')

    @classmethod
    def parse(cls, raw):
        return None if raw is None else cls(**raw)

    @property
    def lost(self):
        return self.stage == 'worker'

    def __str__(self):
        return f'{self.type}: {self.message}' + (f' (at {self.where})' if self.where else '')


def _parse(cls, schema, raw, output, item):
    """``raw`` read by ``schema``; with ``item`` (the request it answers), its lists as long as
    what was asked (``fits``)."""
    fields = schema(raw, 'result')
    error = Failure.parse(fields.pop('error', None))
    result = cls(**fields, error=error, output=output)
    if item is not None:
        result.fits(item)
    return result


#: What an instrumented run adds to a plain one: how the rules ran, which explains a result.
EXPLAINING = ('order', 'walks', 'unheld', 'unrun', 'rules', 'starts')


def _same(xs, ys):
    """Whether two lists of a run's numbers are the same, a NaN the same as a NaN."""
    return len(xs) == len(ys) and all(x == y or x != x and y != y for x, y in zip(xs, ys))


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
    starts: list | None = None  # per entry, its grad before backward(), when instrumented
    # per entry, the first entry a set takes it for (itself, unless __hash__/__eq__ go by value)
    merged: list | None = None
    unheld: list | None = None  # nodes keeping no container of their operands, instrumented
    unrun: list | None = None   # nodes holding a computed node of their op's whose rule never ran
    error: Failure | None = None
    output: str = ''            # what the submission printed meanwhile

    @classmethod
    def parse(cls, raw, output='', item=None):
        return _parse(cls, GRAPH, raw, output, item)

    def explained_by(self, seen):
        """This run given how its rules ran (``EXPLAINING``), from ``seen``, an instrumented run
        of the same graph at the same seeds, where ``seen`` agrees with it: the same values,
        gradients and error.  A rule can tell it is wrapped, so only a plain run is judged and
        the wrapped one only explains it; one that differs explains nothing."""
        if self.same(seen):
            for name in EXPLAINING:
                setattr(self, name, getattr(seen, name))
        return self

    def same(self, other):
        """Whether ``other`` answered as this run did: the same values, gradients (a NaN the
        same as a NaN, an object read the same as it) and error."""
        return other.error == self.error and _same(other.values, self.values) and \
            _same(other.grads, self.grads)

    def fits(self, item):
        """``Violation`` unless this is the shape of an answer to ``item``: one value per entry
        (fewer only up to where the forward pass failed), gradients for all or none, and only
        where instrumented the call order and one rule origin per entry."""
        graph = item['graph']
        size = len(graph['inputs']) + len(graph['nodes'])
        passes = item.get('backward', 1)
        failed = self.error is not None and self.error.stage in ('leaf', 'forward')
        if len(self.values) != size and not (failed and len(self.values) < size):
            raise Violation(f'sent {len(self.values)} values for a graph of {size} entries')
        for name_, grads, asked in (('grads', self.grads, passes >= 1),
                                    ('grads2', self.grads2 or [], passes >= 2)):
            if len(grads) not in ((0, size) if asked else (0,)) or \
                    (asked and self.error is None and len(grads) != size):
                raise Violation(f'sent {len(grads)} {name_} for a graph of {size} entries')
        if not item.get('instrument') and \
                any(getattr(self, name) is not None for name in EXPLAINING):
            raise Violation('sent the order its rules ran in where it was not asked for')
        for name_, listed_ in (('rule origins', self.rules), ('starting gradients', self.starts)):
            if listed_ is not None and len(listed_) != size:
                raise Violation(f'sent {len(listed_)} {name_} for a graph of {size} entries')
        if self.merged is not None and (len(self.merged) != len(self.values) or
                                        any(not 0 <= m <= i for i, m in enumerate(self.merged))):
            raise Violation('sent merged entries that are not earlier entries of the graph')
        if any(i >= size for i in (self.order or []) + (self.unheld or []) + (self.unrun or [])) or \
                (self.error and self.error.node is not None and self.error.node >= size):
            raise Violation('named an entry the graph does not have')


@dataclass
class MlpResult:
    """One MLP task; which fields are set depends on its action."""
    count: int = 0
    distinct: int = 0
    own: bool = False
    batched: bool = False  # takes a batch of samples, not the lecture's one sample
    scalar: bool = True    # every parameter holds one number (not a matrix network's arrays)
    nested: bool = False   # parameters() listed some Values inside lists (read flat)
    misbuilt: dict | None = None  # where the network's parameters() went wrong: method, file, line, why
    outputs: list | None = None
    losses: list | None = None
    loss: object = None
    grads: list | None = None
    loss_after: object = None
    grads_after: list | None = None
    error: Failure | None = None
    output: str = ''

    @classmethod
    def parse(cls, raw, output, item):
        """``raw`` as the answer to ``item``: every field its action answers, or only an error."""
        failed = type(raw) is dict and 'error' in raw
        return _parse(cls, MLP_FAILED if failed else MLP[item['action']], raw, output, item)

    def fits(self, item):
        """``Violation`` unless each list is as long as ``item`` asked: one output per sample,
        one loss per parameter set, one gradient per parameter (the checks index them)."""
        asked = {'outputs': len(item['xs']), 'losses': len(item.get('param_sets', ())),
                 'grads': self.count, 'grads_after': self.count}
        for name_, n in asked.items():
            got = getattr(self, name_)
            if got is not None and len(got) != n:
                raise Violation(f'sent {len(got)} {name_} where {n} were asked for')
        if self.distinct > self.count:
            raise Violation(f'sent {self.distinct} distinct parameters of {self.count}')


#: Worker task -> how its answers read.
RESULTS: dict[str, type[GraphResult] | type[MlpResult]] = {'graph': GraphResult, 'mlp': MlpResult}


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
    def parse(cls, message):
        fields = LOADED(message, 'load answer')
        del fields['nonce'], fields['type']
        for role, info in fields.get('class_info', {}).items():
            if not in_code(info['name']):  # the class is called by its role (``in_code``)
                info['name'] = role
        return cls(**fields)


def answer(message, task, items, k, request):
    """The worker's next message on ``request``, ``k`` items of ``items`` answered so far: the
    result of item ``k`` (a ``GraphResult`` or ``MlpResult``), or ``None`` when it says the
    request is done, which it may only once every item is answered."""
    if type(message) is dict and message.get('done') is not None:
        fields = DONE(message, 'answer')
        if k < len(items):
            raise Violation(f'said it was done after {k} of {len(items)} answers')
    else:
        fields = ITEM(message, 'answer')
        if k >= len(items):
            raise Violation(f'sent more answers than the {len(items)} asked for')
        if fields['item'] != k:
            raise Violation(f"answered item {fields['item']} where item {k} was due")
    if fields['id'] != request:
        raise Violation(f"answered request {fields['id']}, not the one asked ({request})")
    if 'done' in fields:
        return None
    return RESULTS[task].parse(fields['result'], fields['output'], items[k])


class Strikes:
    """What a worker that gives no answer costs, in every session.

    An item that times out or runs out of memory ends its request (the items after it are
    not run: the same code would likely do it again) and is a strike; a worker that dies is
    replaced.  Out of memory is what the grader sees from outside (``Worker.exhausted``: the
    worker's processes really held memory), not a MemoryError the worker reports alone.  After ``MAX_STRIKES`` strikes or ``MAX_RESTARTS`` replacements nothing more is
    run, so a hostile submission costs a bounded time.  A worker that breaks the protocol
    ends it all: nothing more is asked, and the grade is void (``interfered``)."""
    MAX_STRIKES = 3
    MAX_RESTARTS = 6

    def __init__(self):
        self.strikes = self.restarts = 0
        self.interfered = ''  # what the worker did, once it broke the protocol

    def stopped(self):
        """Why nothing more is run, or ``''``."""
        if self.interfered:
            return f'{INTERFERED}: {self.interfered}'
        if self.strikes >= self.MAX_STRIKES:
            return (f'not run: the submission already timed out or ran out of memory '
                    f'{self.strikes} times')
        if self.restarts >= self.MAX_RESTARTS:
            return f'not run: the worker was lost {self.restarts} times'
        return ''


def lost(task, kind, reason):
    """A result with no answer in it: ``kind`` (a ``Lost``) says why, ``reason`` in words."""
    return RESULTS[task](error=Failure('worker', kind.value, reason))
