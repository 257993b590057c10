"""What a check is: an id whose prefix is its category, a default (required or advisory, which
the rubric may override) and a function of one ``Context``.

A check is a plain function in its category's module; its row in ``checks.CHECKS``, the one
ordered list of checks, declares it (``Entry``: id, function, default, a family's members) and
is where it runs::

    def random_graphs(ctx):
        ...
        return passed('200 random graphs match torch')

    def op_values_and_gradients(ctx, cap):      # a family: ops.add, ops.mul, ...
        ...

    CHECKS = ordered((
        Entry('ops.{}', ops.op_values_and_gradients, each=OP_CAPABILITIES),
        Entry('fuzz.dags', fuzz.random_graphs),
    ))

The function returns an ``Outcome`` (``passed``, ``failed``, ``error``, ``skipped``), or ``None``
when the check does not apply to this submission (it is then not reported). The grading loop
walks ``checks.CHECKS`` in order, times every check and turns each outcome into a ``Check``; no
check decides the score or the verdict (the rubric does) or writes a report (the reporters do).
"""
from dataclasses import dataclass, field

from micrograde.model import cases
from micrograde.model.results import CATEGORIES, Check
from micrograde.oracle import oracles
from micrograde.worker.ops import FORMS

DEFAULTS = ('required', 'advisory')


@dataclass
class Outcome:
    """What a check found; the loop adds its id, category, duration and weight."""
    status: str
    message: str
    diagnosis: str = ''
    counterexample: object = None  # ``results.Counterexample``
    output: str = ''
    required: bool = True  # False: informational whatever the rubric says (an op not required)
    misconception: object = None  # ``results.Misconception``: what ``diagnosis`` says, as data
    consequence_of: str = ''  # the check whose finding explains this one (``checks/causes.py``)
    not_run: str = ''  # ``results.NotRun``: why it was not run (``grading._not_run``)

    def check(self, check_id, duration):
        return Check(check_id, check_id.partition('.')[0], self.status, self.message,
                     required=self.required, diagnosis=self.diagnosis,
                     counterexample=self.counterexample, output=self.output, duration=duration,
                     misconception=self.misconception, consequence_of=self.consequence_of,
                     not_run=self.not_run)


def passed(message, **kw):
    return Outcome('passed', message, **kw)


def failed(message, **kw):
    return Outcome('failed', message, **kw)


def error(message, **kw):
    return Outcome('error', message, **kw)


def skipped(message, **kw):
    return Outcome('skipped', message, **kw)


@dataclass
class Context:
    """Everything a check may look at: the worker session, the grading's config and the report
    so far (its classes and probed capabilities); ``once`` shares work between checks."""
    session: object
    config: object
    report: object
    memo: dict = field(default_factory=dict)

    budget = property(lambda self: self.config.budget)
    classes = property(lambda self: self.report.classes)
    capabilities = property(lambda self: self.report.capabilities)

    @property
    def usable(self):
        """Capabilities present, working or not (a broken op is checked, an absent one not)."""
        return {cap for cap, state in self.capabilities.items() if state != 'absent'}

    def failing_ops(self, statuses=('failed', 'error')):
        """The capabilities whose own ``ops`` check failed: findings in graphs that use them are
        theirs to report (one bug, one finding).  ``('error',)``: those whose check could not
        finish (an item timed out or ended the worker), whose hang elsewhere is theirs too."""
        return {c.id.removeprefix('ops.') for c in self.report.checks
                if c.category == 'ops' and c.status in statuses}

    def trusted(self, strictly=False):
        """The ops (graph names) whose every form checked so far passed its own check, or
        failed only by a wrong rule seen in another op's method (`a + b` then `* k` with a wrong
        `*`): a wrong gradient elsewhere is never blamed on their rules (one bug, at the op that
        holds it).  ``strictly``: passed, every form."""
        from micrograde.diagnose.diagnosis import METHOD_OPS
        ops = {}
        for c in self.report.checks:
            cap = c.id.removeprefix('ops.')
            if c.category == 'ops' and cap in FORMS and c.status != 'skipped':
                name = FORMS[cap][0].name
                m = c.misconception
                elsewhere = not strictly and m is not None and m.line and \
                    METHOD_OPS.get(m.method, name) != name
                ops[name] = ops.get(name, True) and (c.status == 'passed' or bool(elsewhere))
        return frozenset(op for op, ok in ops.items() if ok)

    def suspects(self):
        """The ops whose rules earlier findings named: where two models explain a graph alike,
        the known bug is the likelier."""
        return frozenset(c.misconception.op for c in self.report.checks
                         if c.misconception is not None and c.misconception.op)

    def overtime(self):
        """Why the checks are stopped, where the grading's time limit (``--grade-timeout``) has
        passed: a check cut short says so, and how far it got; else ``''``."""
        overtime = getattr(self.session, 'overtime', None)  # the self-check keeps no limit
        if overtime is None or not overtime():
            return ''
        return (f"stopped by the grading's time limit ({self.config.settings.grade_timeout:g} s "
                f"for all the checks, --grade-timeout)")

    def without_backward(self):
        """For a failure of a check that calls backward(): with no backward() at all, it is a
        consequence of the one finding that says so (``capability.backward``), not a bug of its
        own."""
        return {} if 'backward' in self.usable else {'consequence_of': 'capability.backward'}

    def similar(self, name):
        """The Value's method named like the absent ``name`` (``backprop`` for ``backward``), from
        the loader's class report, or ``''``."""
        return self.report.class_info.get('Value', {}).get('similar', {}).get(name, '')

    def instead(self, name):
        """`` (there is X(): the grader calls name())`` where ``similar`` finds one; for an op
        whose dunder the Value lacks, the method meant as it (``causes.misnamed_note``); else
        ``''``."""
        from micrograde.checks.causes import misnamed_note
        from micrograde.diagnose.diagnosis import learner_method
        other = self.similar(name)
        if other:
            return f' (there is {other}(): the grader calls {name}())'
        note = misnamed_note(self.report, learner_method(name)) if name in FORMS else ''
        return f' ({note})' if note else ''

    def at_seed(self, graphs):
        """The fixed ``graphs`` at this grading's seed (``cases.moved``); judge them with
        ``self.expected``."""
        return [cases.moved(g, self.config.seed) for g in graphs]

    @staticmethod
    def expected(graph):
        """The oracles' answer for a graph the seed drew or moved (a corpus's, a fixed graph at
        the seed's inputs): shipped where it is, else the reference engine's where shipped
        cross-checks vouch for its ops, else torch's."""
        return oracles.expected(graph, drawn=True)

    def once(self, key, compute):
        """``compute()``, run once per grading for every check that asks by ``key``."""
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]


@dataclass(frozen=True)
class Entry:
    """One row of ``checks.CHECKS``: a check, or a family of them."""
    id: str         # 'fuzz.dags'; for a family the pattern 'ops.{}'
    run: object     # run(ctx) or, in a family, run(ctx, member)
    default: str = 'required'
    each: tuple = None  # a family's members

    def __post_init__(self):
        if self.category not in CATEGORIES or self.default not in DEFAULTS:
            raise ValueError(f'check {self.id!r}: category one of {CATEGORIES}, default one of '
                             f'{DEFAULTS}')
        if self.each is not None:
            object.__setattr__(self, 'each', tuple(self.each))

    @property
    def category(self):
        return self.id.partition('.')[0]

    def instances(self):
        """``[(check id, function of the context)]``: one per member of a family."""
        if self.each is None:
            return [(self.id, self.run)]
        return [(self.id.format(m), lambda ctx, m=m: self.run(ctx, m)) for m in self.each]


def ordered(entries):
    """``entries`` as the registry, refused (a ``ValueError`` at import) if a check is listed
    twice or out of ``results.CATEGORIES``' order: it would run before those it builds on."""
    entries = tuple(entries)
    ranks = [CATEGORIES.index(e.category) for e in entries]
    if ranks != sorted(ranks) or len({e.id for e in entries}) != len(entries):
        raise ValueError('checks.CHECKS lists each check once, in the order of results.CATEGORIES')
    return entries
