"""Gradescope's ``results.json``: the total, each check as a test with its points and visibility."""
import json

from .text import clean, failure_text

STATUS = {'passed': 'passed', 'failed': 'failed', 'error': 'failed', 'skipped': 'passed'}


def render(report):
    tests = []
    for check in report.checks:
        if check.max_score == 0 and check.status == 'skipped':
            continue
        tests.append({'name': check.id, 'score': check.score, 'max_score': check.max_score,
                      'status': STATUS[check.status], 'visibility': check.visibility,
                      'output': clean(check.message if check.status in ('passed', 'skipped')
                                      else failure_text(check), 8000)})
    summary = (f'{report.verdict.upper()}: {report.score:g} / {report.max_score:g} points '
               f'(seed {report.seed}, profile {report.profile}).')
    if report.load_warnings:
        summary += '\nWhile loading: ' + '; '.join(report.load_warnings)
    return json.dumps({'score': report.score,
        'execution_time': round(report.timings.get('total', 0.0), 3),
        'output': clean(summary, 8000), 'visibility': 'visible', 'stdout_visibility': 'hidden',
        'tests': tests}, indent=2, allow_nan=False) + '\n'


def write(report, path):
    with open(path, 'w', encoding='utf-8') as f:
        f.write(render(report))
