"""Points, required ops and visibility from a TOML rubric; the only place a score is decided."""
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT = Path(__file__).with_name('rubric.toml')
VISIBILITIES = ('visible', 'hidden', 'after_due_date', 'after_published')


class RubricError(ValueError):
    """The rubric file is unreadable or says something impossible."""


@dataclass(frozen=True)
class Rubric:
    required_ops: frozenset = frozenset({'add', 'mul', 'backward'})
    robustness_counts: bool = False
    points: dict = field(default_factory=dict)
    check_points: dict = field(default_factory=dict)
    visibility: str = 'visible'
    check_visibility: dict = field(default_factory=dict)
    source: str = ''

    @classmethod
    def load(cls, path=None):
        path = Path(path) if path else DEFAULT
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise RubricError(f'cannot read rubric {path}: {e}') from None
        points = dict(data.get('points', {}))
        check_points = points.pop('checks', {})
        vis = dict(data.get('visibility', {}))
        check_vis = vis.pop('checks', {})
        default_vis = vis.get('default', 'visible')
        for v in [default_vis, *check_vis.values()]:
            if v not in VISIBILITIES:
                raise RubricError(f'visibility {v!r} is not one of {", ".join(VISIBILITIES)}')
        return cls(frozenset(data.get('required_ops', ['add', 'mul', 'backward'])),
                   bool(data.get('robustness_counts', False)), points, check_points,
                   default_vis, check_vis, path.read_text())

    def counts(self, check):
        """Whether a check's outcome decides the verdict."""
        if check.category == 'robustness':
            return self.robustness_counts
        return check.required

    def apply(self, report):
        """Set each check's points and visibility, the report's score and its verdict."""
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
