"""What GitHub Classroom's grading reporter reads: one runner's result, as its graders emit it.

classroom-resources/autograding-grading-reporter takes ``runners: micrograde`` and reads the
environment variable ``MICROGRADE_RESULTS``: base64 of this JSON (the shape of
autograding-command-grader's ``result`` output: ``version``, ``status``, ``max_score``,
``tests[]`` with ``name``, ``status``, ``score``, ``message``, ``test_code``, ``filename``,
``line_no``, ``duration``). It posts ``Points <sum of tests' score>/<max_score>`` to Classroom,
prints a test green only when its status is ``pass`` (``error`` as an error, anything else as a
red cross), and fails the run when the top-level status is ``fail``. So:

* ``max_score`` is the rubric's total, the same for every submission;
* an advisory finding is ``pass`` (0 points) with a message that says it is advice;
* the top-level status is ``fail`` exactly when micrograde's verdict is failed.

``write(report, path)`` writes the JSON; ``output_line`` is the ``result=<base64>`` line a
workflow step appends to ``$GITHUB_OUTPUT`` (``micrograde grade --classroom-output``).
"""
import base64
import json

from micrograde.reporters.text import clean, failure_text, location

LIMIT = 4000


def _test(report, check):
    place = location(report, check)
    if check.advisory:
        status, message = 'pass', 'Advisory, not graded: ' + failure_text(check, place)
    elif check.status in ('failed', 'error'):
        status, message = ('error' if check.status == 'error' else 'fail'), failure_text(check, place)
    else:
        status = 'pass' if check.status == 'passed' or check.max_score == 0 else 'fail'
        message = clean(check.message)
    ce = check.counterexample
    name = check.id + (' (advisory, not graded)' if check.advisory else '')
    return {'name': name, 'status': status, 'score': check.score, 'max_score': check.max_score,
            'message': clean(message, LIMIT), 'test_code': clean(ce.code) if ce else '',
            'filename': place['file'] if place and not place['cell'] else '',
            'line_no': place['line'] if place and not place['cell'] else 0,
            'duration': round(check.duration * 1000)}


def result(report):
    """The runner result as a dict."""
    return {'version': 1, 'status': 'pass' if report.verdict == 'passed' else 'fail',
            'max_score': report.max_score, 'tests': [_test(report, c) for c in report.checks]}


def render(report):
    return json.dumps(result(report), indent=2, allow_nan=False) + '\n'


def output_line(report):
    """``result=<base64 JSON>``, one line, for ``$GITHUB_OUTPUT``."""
    data = json.dumps(result(report), separators=(',', ':'), allow_nan=False)
    return 'result=' + base64.b64encode(data.encode('utf-8')).decode('ascii') + '\n'


def write(report, path):
    with open(path, 'w', encoding='utf-8') as f:
        f.write(render(report))
