"""Points, required ops, advisory checks and visibility from a TOML rubric: the only place a
score, and whether a check counts, is decided.

A rubric is validated when it is loaded: an unknown key, category, check id, op or visibility is
a ``RubricError`` that names it and the known ones, never a setting silently ignored.
"""
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .results import CATEGORIES
from .worker.ops import CAPABILITIES

DEFAULT = Path(__file__).with_name('rubric.toml')
#: What a submission may import besides the standard library (with what those need).
ALLOWED_IMPORTS = ('numpy', 'matplotlib', 'graphviz', 'torch')
VISIBILITIES = ('visible', 'hidden', 'after_due_date', 'after_published')
KEYS = ('required_ops', 'advisory', 'points', 'visibility', 'allowed_imports')


class RubricError(ValueError):
    """The rubric file is unreadable or says something impossible."""


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

    @classmethod
    def load(cls, path=None):
        """The rubric at ``path`` (default: the lecture's). Without an ``advisory`` list, the
        checks' own defaults apply (``harness/checks/registry.py``)."""
        path = Path(path) if path else DEFAULT
        try:
            text = path.read_text()
            data = tomllib.loads(text)
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise RubricError(f'cannot read rubric {path.name}: {e}') from None
        # the checks name what a rubric may name; imported here, as only loading needs them
        from .checks import advisory_by_default, check_ids
        ids = check_ids()
        _known('key', data, KEYS)
        points = _table(data, 'points')
        check_points = _table(points, 'checks', 'points.')
        points.pop('checks', None)
        _known('category in [points]', points, CATEGORIES)
        _known('check id in [points.checks]', check_points, ids)
        for key, worth in {**points, **check_points}.items():
            if isinstance(worth, bool) or not isinstance(worth, (int, float)):
                raise RubricError(f'points for {key!r} must be a number, not {worth!r}')
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
        return cls(frozenset(required), frozenset(advisory), points, check_points, default_vis,
                   check_vis, text, tuple(imports))

    def counts(self, check):
        """Whether a check's outcome decides the verdict."""
        listed = check.id in self.advisory or check.category in self.advisory
        return check.required and not listed

    def apply(self, report):
        """Set each check's weight, points and visibility, the report's score and its verdict."""
        for check in report.checks:
            check.required = self.counts(check)
            worth = float(self.check_points.get(check.id, self.points.get(check.category, 1)))
            graded = check.required and check.status != 'skipped'
            check.max_score = worth if graded else 0.0
            check.score = worth if graded and check.status == 'passed' else 0.0
            check.visibility = self.check_visibility.get(check.id, self.visibility)
        report.score = sum(c.score for c in report.checks)
        report.max_score = sum(c.max_score for c in report.checks)
        failed = any(c.required and c.status in ('failed', 'error') for c in report.checks)
        report.verdict = 'failed' if failed or not report.checks else 'passed'
        return report


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
