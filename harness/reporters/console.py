"""The readable summary: counts per category, then each bug once with the checks that saw it, its
counterexample, expected vs actual and the learner's method; advisory findings as warnings."""
import click

from micrograde.model.names import shown
from micrograde.model.results import Category, Outcome
from micrograde.reporters.text import at, beside_score, clean, comparison, location

INDENT = ' ' * 7
#: Categories whose passing checks are worth a line (what was loaded, the corpus, the MLP).
SAID_WHEN_PASSED = (Category.LOAD, Category.FUZZ, Category.MLP)
def _said(text):
    """A message as the line it is on: a newline in it (a submission's exception text) goes on
    indented, so it cannot start a line of its own, a verdict above the real one (``clean``
    shows a carriage return and the bidi controls, which rewrite what a line shows, and makes a
    CI log command inert)."""
    return clean(text).replace('\n', '\n' + INDENT)


def _counts(checks):
    outcomes = [c.outcome for c in checks]
    parts = [f'{outcomes.count(Outcome.PASSED)} passed',
             f'{sum(o.failure for o in outcomes)} failed']
    if Outcome.ADVICE in outcomes:
        parts.append(f'{outcomes.count(Outcome.ADVICE)} advisory')
    parts.append(f'{outcomes.count(Outcome.SKIPPED)} skipped')
    return ', '.join(parts)


def _bug(report, checks, style):
    """One root cause: its headline, the checks that saw it, and the root's evidence."""
    first = checks[0]
    headline = _said(first.diagnosis or first.message)
    word = 'ERROR' if all(c.outcome is Outcome.ERROR for c in checks) else 'FAIL'
    lines = [f'{style(word, fg="red", bold=True)}  {headline}']
    seen = ', '.join(c.id for c in checks)
    lines.append(f'{INDENT}seen by {seen}' if first.diagnosis else f'{INDENT}check {seen}')
    if first.diagnosis and first.message != first.diagnosis:
        lines.append(f'{INDENT}{first.id}: {_said(first.message.split(":")[0])}')
    place = next((p for p in (location(report, c) for c in checks) if p), None)
    if place:
        lines.append(f'{INDENT}{_said(at(place))}')
    if first.counterexample and first.counterexample.code:
        lines.append(f'{INDENT}reproduce:')
        lines += [f'{INDENT}    {line}' for line in clean(first.counterexample.code).rstrip().split('\n')]
    lines += [f'{INDENT}{_said(line)}' for line in comparison(first)]
    return lines


def render(report, color=False, rerun=''):
    style = click.style if color else (lambda text, **_: text)
    lines = [style(f'micrograde {report.versions.get("micrograde", "")}: {shown(report.submission)}',
                   bold=True),
             f'seed {report.seed}, profile {report.profile}'
             + (f', isolation {report.isolation}' if report.isolation else '')]  # self-check: none
    unprotected = report.protections.get('unprotected')
    if unprotected:
        lines.append(style(f'  not protected at this isolation level: {", ".join(unprotected)}',
                           fg='yellow'))
    lines += [f'  {role}: {shown(origin)}' for role, origin in report.classes.items()]
    lines += [style(f'  warning: {_said(w)}', fg='yellow') for w in report.load_warnings]
    lines.append('')
    for category, checks in report.by_category().items():
        advisory = '' if any(c.required for c in checks) else ' (advisory)'
        lines.append(f'{category}{advisory}: {_counts(checks)}')
        lines += [f'  {style("ok", fg="green")}  {c.id}: {_said(c.message)}' for c in checks
                  if c.outcome is Outcome.PASSED and category in SAID_WHEN_PASSED]
        absent = [c.id.partition('.')[2] for c in checks  # probed and absent, not "not run"
                  if category is Category.CAPABILITY and c.outcome is Outcome.SKIPPED
                  and not c.not_run]
        if absent:
            lines.append(f'  not implemented (or refusing such operands), so not checked: '
                         f'{", ".join(absent)}')
    causes = [[root, *consequences] for root, consequences in report.causes()
              if root.outcome.failure]
    if causes:
        lines += ['', style(f'{len(causes)} bug(s) found:', bold=True)]
        for checks in causes:
            lines += ['', *_bug(report, checks, style)]
    advice = [c for c in report.checks if c.outcome is Outcome.ADVICE]
    if advice:
        lines += ['', style(f'{len(advice)} advisory warning(s), not counted:', bold=True)]
        lines += [style(f'  warning  {c.id}: {clean(c.message.split(chr(10))[0])}', fg='yellow')
                  for c in advice]
    verdict = style(report.verdict.upper(), fg='green' if report.verdict == 'passed' else 'red',
                    bold=True)
    why = beside_score(report)
    lines += ['', f'{verdict}  score {report.score:g} / {report.max_score:g}' + (f' ({why})' if why else '')]
    if rerun and report.verdict != 'passed':
        lines.append(f'reproduce: {rerun}')
    return '\n'.join(lines) + '\n'
