"""Points, required ops, advisory checks and visibility from a TOML rubric: the only place a
score, and whether a check counts, is decided.

A rubric is validated when it is loaded: an unknown key, category, check id, op or visibility is
a ``RubricError`` that names it and the known ones, never a setting silently ignored.
"""
import functools
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from micrograde.checks import advisory_by_default, check_ids
from micrograde.model.errors import RubricError
from micrograde.model.results import CATEGORIES, Check, NotRun, Status, Verdict
from micrograde.isolate.allowlist import ALLOWED_IMPORTS, ANSWER_KEY_LIBRARIES
from micrograde.worker.ops import CAPABILITIES

DEFAULT = Path(__file__).with_name('rubric.toml')
VISIBILITIES = ('visible', 'hidden', 'after_due_date', 'after_published')
KEYS = ('required_ops', 'advisory', 'points', 'visibility', 'allowed_imports',
        'answer_key_libraries', 'charge')
#: How failures cost points: once per root cause (its most valuable check), or every check.
CHARGES = ('cause', 'check')


@dataclass(frozen=True)
class Rubric:
    required_ops: frozenset = frozenset({'add', 'mul', 'backward'})
    advisory: frozenset = frozenset()  # check ids and whole categories that never fail a grade
    points: dict = field(default_factory=dict)
    check_points: dict = field(default_factory=dict)
    visibility: str = 'visible'
    check_visibility: dict = field(default_factory=dict)
    source: str = ''
    imports: tuple = ALLOWED_IMPORTS
    answer_keys: tuple = ANSWER_KEY_LIBRARIES
    charge: str = 'cause'

    @classmethod
    def load(cls, path=None):
        """The rubric at ``path`` (default: the lecture's). Without an ``advisory`` list, the
        checks' own defaults apply (their rows in ``checks.CHECKS``)."""
        path = Path(path) if path else DEFAULT
        try:
            text = path.read_text()
            data = tomllib.loads(text)
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise RubricError(f'cannot read rubric {path.name}: {e}') from None
        ids = check_ids()
        _known('key', data, KEYS)
        points = _table(data, 'points')
        check_points = _table(points, 'checks', 'points.')
        points.pop('checks', None)
        for key, worth in points.items():  # `"ops.add" = 2`, or `ops.add = 2`: a table ops
            if key in ids or isinstance(worth, dict) and key in CATEGORIES:
                raise RubricError(f'{key!r} in [points] names a check: write its points under '
                                  f'[points.checks], its id quoted ("ops.add" = 2)')
        _known('category in [points]', points, CATEGORIES)
        _known('check id in [points.checks]', check_points, ids)
        for key, worth in {**points, **check_points}.items():
            if isinstance(worth, bool) or not isinstance(worth, (int, float)) or \
                    not 0 <= worth < math.inf:  # TOML has nan and inf: no report can hold them
                raise RubricError(f'points for {key!r} must be a finite number >= 0, not {worth!r}')
        vis = _table(data, 'visibility')
        check_vis = _table(vis, 'checks', 'visibility.')
        vis.pop('checks', None)
        _known('key in [visibility]', vis, ('default',))
        _known('check id in [visibility.checks]', check_vis, ids)
        default_vis = vis.get('default', 'visible')
        _known('visibility', [default_vis, *check_vis.values()], VISIBILITIES)
        required = _list(data, 'required_ops', ['add', 'mul', 'backward'])
        _known('op in required_ops', required, (*CAPABILITIES, 'mlp'))  # mlp: the interface
        advisory = _list(data, 'advisory', None)
        if advisory is None:
            advisory = advisory_by_default()
        _known('check id or category in advisory', advisory, [*CATEGORIES, *ids])
        imports = _list(data, 'allowed_imports', list(ALLOWED_IMPORTS))
        answer_keys = _list(data, 'answer_key_libraries', list(ANSWER_KEY_LIBRARIES))
        charge = data.get('charge', 'cause')
        _known('charge', [charge], CHARGES)
        rubric = cls(frozenset(required), frozenset(advisory), points, check_points, default_vis,
                     check_vis, text, tuple(imports), tuple(answer_keys), charge)
        if not math.isfinite(rubric.total()):
            raise RubricError('the points add up to more than a number can hold')
        return rubric

    @property
    def refused(self):
        """The answer-key libraries a submission may not import: all the rubric does not allow."""
        return tuple(k for k in self.answer_keys if k not in self.imports)

    @property
    def answer_key_allowed(self):
        """Whether the rubric lets a submission import an answer-key library."""
        return any(k in self.imports for k in self.answer_keys)

    def counts(self, check):
        """Whether a check's outcome decides the verdict."""
        listed = check.id in self.advisory or check.category in self.advisory
        return check.required and not listed

    def worth(self, check_id, category):
        """The points a check is worth when it passes."""
        return float(self.check_points.get(check_id, self.points.get(category, 1)))

    def graded(self, check_id):
        """Whether a check is worth points: every check the registry has (and loading) that the
        rubric does not make advisory, whatever the submission has."""
        return check_id in gradable() and not (
            check_id in self.advisory or check_id.partition('.')[0] in self.advisory)

    def total(self):
        """The maximum score: the same for every submission graded with this rubric."""
        return sum(self.worth(i, i.partition('.')[0]) for i in gradable() if self.graded(i))

    def apply(self, report):
        """Complete the report with every registered check it lacks (not run: 0 points), then
        set each check's points and visibility, the report's score and its verdict.

        Points do not depend on what a submission has: an absent optional op is 0 of its points,
        an unloadable submission 0 of ``total()``. Whether a failure decides the verdict does."""
        loaded = any(c.id == 'load' and c.status is Status.PASSED for c in report.checks)
        report.checks += unreported(report, Status.SKIPPED, 'not run: what it needs is missing '
                                    '(see the checks before it)' if loaded else
                                    'not run: the submission could not be loaded',
                                    NotRun.NEEDS if loaded else NotRun.STOPPED)
        for check in report.checks:
            if check.not_run and check.category == 'capability':  # an op not probed: only a
                check.required = check.id.partition('.')[2] in self.required_ops  # required one
            check.required = self.counts(check)
            worth = self.worth(check.id, check.category)
            check.max_score = worth if self.graded(check.id) else 0.0
            check.score = check.max_score if check.status is Status.PASSED else 0.0
            check.visibility = self.check_visibility.get(check.id, self.visibility)
        if self.charge == 'cause':
            _charge_once(report)
        report.score = sum(c.score for c in report.checks)
        report.max_score = self.total()
        failed = any(c.outcome.failure for c in report.checks)
        # checks grading stopped before (``grading._not_run``) were not observed to pass
        stopped = any(c.not_run is NotRun.STOPPED and c.required for c in report.checks)
        report.verdict = Verdict.FAILED if failed or stopped or not loaded else Verdict.PASSED
        return report


#: Categories whose graphs the seed draws: a cause another check found is priced without them
#: where they saw it as that check did (the same misconception).  Their corpus reaches such a
#: cause at one seed and not at another (through an op whose own check passed, ``-`` calling
#: ``+``), so counting them would make one bug's cost follow the seed, and under a course secret
#: every submission has its own.  As a root (a bug only they found) they cost; so does what they
#: saw otherwise at the same line (a second bug there, not hidden behind a cheap first one).
DRAWN = ('fuzz',)


def _charge_once(report):
    """A root cause costs once: the points of its most valuable check (a ``DRAWN`` one only where
    it is the root or saw another misconception); the other checks it explains (its
    consequences, ``checks/causes.py``) keep theirs."""
    for root, consequences in report.causes():
        group = [c for c in (root, *consequences) if c.required]
        priced = [c for c in group if c is root or c.category not in DRAWN or not _seen_alike(c, root)]
        charged = max(priced, key=lambda c: c.max_score, default=None)
        for check in group:
            check.score = 0.0 if check is charged else check.max_score


def _seen_alike(check, root):
    """Whether ``check`` saw its root's misconception: the same code (the key already says the
    same method and line)."""
    return check.misconception is not None and root.misconception is not None and \
        check.misconception.code == root.misconception.code


@functools.cache
def gradable():
    """Every check id a fully loaded submission is reported, in order: loading, then the
    registry's."""
    return ('load', *check_ids())


def unreported(report, status, message='', not_run=NotRun.NO):
    """A check of ``status`` for each gradable one ``report`` lacks, in order."""
    ran = {c.id for c in report.checks}
    return [Check(i, i.partition('.')[0], status, message, not_run=not_run)
            for i in gradable() if i not in ran]


def _known(what, given, known):
    """A ``RubricError`` naming the first of ``given`` that is not in ``known``."""
    for key in given:
        if key not in known:
            raise RubricError(f'unknown {what}: {key!r}; known: {", ".join(map(str, known))}')


def _table(data, key, prefix=''):
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise RubricError(f'[{prefix}{key}] must be a table, not {value!r}')
    return dict(value)


def _list(data, key, default):
    value = data.get(key, default)
    if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise RubricError(f'{key} must be a list of names, not {value!r}')
    return value
