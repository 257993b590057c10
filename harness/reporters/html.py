"""The HTML report a learner reads (the class page of a batch is ``classpage``).

One self-contained page per report: no network, no script.  Every string
that may come from a submission (messages, output, exception text) goes through Jinja2's
autoescaping and is capped; the only markup inserted as is, is the allow-listed SVG of
``graphdraw``.  The same body renders inside a notebook (``fragment``).
"""
import re
import uuid
from dataclasses import dataclass

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from micrograde.model.results import Outcome
from micrograde.reporters.text import beside_score, clean
from micrograde.reporters.graphdraw import draw, render_all, undrawn

MESSAGE_LIMIT = 2000
CODE_LIMIT = 6000
OUTPUT_LIMIT = 4000

ENV = Environment(loader=PackageLoader('micrograde.reporters', 'templates'), autoescape=True,
                  undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


@dataclass
class CheckView:
    """A check as the page shows it."""
    id: str
    kind: Outcome
    message: str
    diagnosis: str
    code: str
    compare: list  # (what, expected, got)
    drawing: object
    svg: Markup | None
    output: str
    consequence_of: str = ''  # the root cause's check, when this failure is explained by it
    where: str = ''  # the learner's method (and line) holding the misconception

    @property
    def anchor(self):
        return 'check-' + re.sub(r'[^A-Za-z0-9_.-]', '-', self.id)

    @property
    def detailed(self):
        return self.kind.failure or self.kind is Outcome.ADVICE


@dataclass
class Category:
    name: str
    checks: list

    @property
    def counts(self):
        """``ok 3, failed 1``: how many checks of each kind, in a fixed order."""
        kinds = [c.kind for c in self.checks]
        return ', '.join(f'{"ok" if k is Outcome.PASSED else k} {kinds.count(k)}'
                         for k in Outcome if k in kinds)

    @property
    def open(self):
        return any(c.detailed for c in self.checks)


def view(check):
    ce = check.counterexample
    drawing = draw(ce) if check.outcome is not Outcome.PASSED else None
    compare = []
    if ce:
        for key in dict.fromkeys([*ce.expected, *ce.actual]):
            compare.append((clean(key, 200), clean(ce.expected.get(key, ''), MESSAGE_LIMIT),
                            clean(ce.actual.get(key, ''), MESSAGE_LIMIT)))
    return CheckView(check.id, check.outcome, clean(check.message, MESSAGE_LIMIT),
                     clean(check.diagnosis or check.message.split('\n')[0], MESSAGE_LIMIT),
                     clean(ce.code, CODE_LIMIT) if ce else '', compare, drawing,
                     Markup(drawing.svg) if drawing and drawing.svg else None,
                     clean(check.output, OUTPUT_LIMIT), check.consequence_of, _where(check))


def _where(check):
    """``Value.__add__, line 22``: where the misconception's wrong rule lives, if known."""
    m = check.misconception
    if not m or not m.method:
        return ''
    return clean(f'{m.method}' + (f', line {m.line}' if m.line else '') +
                 (f' ({m.file})' if m.file else ''), 300)


def context(report, selfcheck=False, inline_style=False, ids=''):
    """``ids``: what every id of the page, and every link to one, starts with."""
    _draw_at_once(report)
    groups = [Category(name, [view(c) for c in checks]) for name, checks in report.by_category().items()]
    views = [v for group in groups for v in group.checks]
    by_id = {v.id: v for v in views}
    causes = [(by_id[root.id], [c.id for c in found]) for root, found in report.causes()
              if root.outcome.failure]
    return {'report': report, 'categories': groups, 'selfcheck': selfcheck,
            'failures': [v for v in views if v.kind.failure], 'causes': causes,
            'advice': [v for v in views if v.kind is Outcome.ADVICE],
            'warnings': [clean(w, MESSAGE_LIMIT) for w in report.load_warnings],
            'output': clean(report.output, OUTPUT_LIMIT), 'submission': clean(report.submission, 300),
            'inline_style': inline_style, 'unpaid': beside_score(report), 'ids': ids}


def _draw_at_once(report):
    """Every new drawing of the report in one ``dot`` process (``render_all``), rather than one
    after another (a cold grade's report draws ~4, a failing engine's up to ~30; a class's
    later reports, none)."""
    render_all(undrawn(c.counterexample for c in report.checks
                       if c.counterexample and c.outcome is not Outcome.PASSED))


def fragment(report, selfcheck=False):
    """The report's body, styled on its own: what a notebook shows.  JupyterLab lays every
    output of every open notebook out in one document, so each fragment's ids are its own
    (a notebook that checks twice: the second output's links led to the first's findings)."""
    return ENV.get_template('report_body.html.j2').render(
        context(report, selfcheck, True, ids=f'mg{uuid.uuid4().hex[:12]}-'))


def render(report, selfcheck=False):
    return ENV.get_template('report.html.j2').render(context(report, selfcheck)).encode('utf-8')
