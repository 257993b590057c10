"""The readable summary: checks grouped by category, each failure with its message and how to
reproduce it."""
import click

from .text import clean

MARK = {'passed': ('ok', 'green'), 'failed': ('FAIL', 'red'), 'error': ('ERROR', 'red'),
        'skipped': ('skip', 'yellow')}


def render(report, color=False, rerun=''):
    style = click.style if color else (lambda text, **_: text)
    lines = [style(f'micrograde {report.versions.get("micrograde", "")}: {report.submission}',
                   bold=True),
             f'seed {report.seed}, profile {report.profile}, isolation {report.isolation}']
    unprotected = report.protections.get('unprotected')
    if unprotected:
        lines.append(style(f'  not protected at this isolation level: {", ".join(unprotected)}',
                           fg='yellow'))
    for role, origin in report.classes.items():
        lines.append(f'  {role}: {origin}')
    for warning in report.load_warnings:
        lines.append(style(f'  warning: {clean(warning)}', fg='yellow'))
    for category, checks in report.by_category().items():
        counts = {s: sum(c.status == s for c in checks) for s in MARK}
        advisory = '' if any(c.required for c in checks) else ' (advisory)'
        lines.append('')
        lines.append(style(f'{category}{advisory}: {counts["passed"]} passed, '
                           f'{counts["failed"] + counts["error"]} failed, {counts["skipped"]} skipped',
                           bold=True))
        for check in checks:
            if check.status in ('failed', 'error') or category in ('load', 'fuzz', 'mlp'):
                word, colour = MARK[check.status]
                lines.append(f'  {style(word, fg=colour):>4} {check.id}: {clean(check.message)}')
            if check.status in ('failed', 'error') and check.counterexample and check.counterexample.code:
                code = clean(check.counterexample.code).rstrip().replace('\n', '\n         ')
                lines.append(f'         {code}')
    verdict = style(report.verdict.upper(), fg='green' if report.verdict == 'passed' else 'red',
                    bold=True)
    lines.append('')
    lines.append(f'{verdict}  score {report.score:g} / {report.max_score:g}')
    if rerun and report.verdict != 'passed':
        lines.append(f'reproduce: {rerun}')
    return '\n'.join(lines) + '\n'
