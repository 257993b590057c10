"""What GitHub Classroom's grading reporter reads: one runner's result, as its graders emit it.

classroom-resources/autograding-grading-reporter (v1) takes ``runners: micrograde`` and reads
``MICROGRADE_RESULTS``: base64 of this JSON (the shape of autograding-command-grader's
``result``: ``version``, ``status``, ``max_score``, ``tests[]`` with ``name``, ``status``,
``score``, ``message``, ``test_code``, ``filename``, ``line_no``, ``duration``). What it does
with it (src/):

* notify-classroom.js posts ``Points <sum of tests' score>/<max_score>`` to Classroom;
* helpers/test-helpers.js ``getTestScore`` prints ``Total points: <tests with status pass> /
  <tests> x max_score``, whatever each test's score;
* console-results.js prints a ``pass`` test green, an ``error`` test as ``Error: <message>``
  and any other as a red cross; main.js fails the run when the top-level status is ``fail``.

So the tests are the rubric's points, one test per point (per ``unit``, the points' greatest
common divisor): only checks worth points are listed (a 0-point test would change the ratio),
each as many times as its points, as many of them passing as the points it kept; the first
holds the check's score, so both figures are the true score. A failure that costs nothing (a
consequence of another check's root cause, under the rubric's ``charge = "cause"``) keeps its
points: its tests pass, named and explained as that consequence. A check not run because the learner has not written what it
needs (an op not implemented) is ``error`` with the reason, not a red cross; advisory
findings, worth nothing, are in the JUnit, HTML and console reports. The top-level status is
``fail`` exactly when micrograde's verdict is failed.

``render(report)`` is the JSON; ``output_line`` is the ``result=<base64>`` line a
workflow step appends to ``$GITHUB_OUTPUT`` (``micrograde grade --github-output``).
"""
import base64
import json
import math
from fractions import Fraction

from micrograde.model.results import Outcome
from micrograde.reporters.places import place
from micrograde.reporters.text import clean, failure_text

LIMIT = 4000


def unit(checks):
    """The points one test stands for: the greatest common divisor of the checks' points."""
    points = [Fraction(str(c.max_score)) for c in checks]
    return Fraction(math.gcd(*(p.numerator for p in points)),
                    math.lcm(*(p.denominator for p in points))) if points else Fraction(1)


#: The reporter's status for each outcome: only a failure is a red cross (``error`` prints its
#: reason). Advice is worth no points (``Rubric.graded``), so it is not listed; were it, not red.
STATUS = {Outcome.PASSED: 'pass', Outcome.FAILED: 'fail', Outcome.ERROR: 'fail',
          Outcome.SKIPPED: 'error', Outcome.ADVICE: 'error'}


def _tests(report, check, size, unloaded):
    """The check as ``max_score / size`` tests of ``size`` points each (``unloaded``: why the
    submission did not load, which is why a check was not run)."""
    where = place(report, check)
    count = round(Fraction(str(check.max_score)) / size)
    outcome = check.outcome
    kept = round(Fraction(str(check.score)) / size)  # tests that pass: the points it kept
    name = check.id
    if outcome.failure and kept:
        name += f' (fails, a consequence of {check.consequence_of}: its points kept)' \
            if check.consequence_of else ' (fails, its points kept)'
    if outcome is Outcome.PASSED:
        message = clean(check.message)
    elif outcome is Outcome.SKIPPED:
        why = f'{check.message}: {unloaded}' if unloaded else check.message
        message = f'{check.id}: {why} (0 of its {check.max_score:g} points)'
    else:
        message = failure_text(check)
    ce = check.counterexample
    return [{'name': name + (f' (point {k} of {count})' if count > 1 else ''),
             'status': 'pass' if k <= kept else STATUS[outcome],
             'score': check.score if k == 1 else 0.0,
             'max_score': float(size), 'message': clean(message, LIMIT),
             'test_code': clean(ce.code) if ce and k == 1 else '',
             'filename': where['file'] if where else '',
             'line_no': where['line'] if where else 0,
             'duration': round(check.duration * 1000) if k == 1 else 0}
            for k in range(1, count + 1)]


def result(report):
    """The runner result as a dict."""
    graded = [c for c in report.checks if c.max_score > 0]
    size = unit(graded)
    unloaded = ' '.join(c.message for c in report.checks if c.id == 'load' and c.status != 'passed')
    return {'version': 1, 'status': 'pass' if report.verdict == 'passed' else 'fail',
            'max_score': report.max_score,
            'tests': [t for c in graded for t in _tests(report, c, size, unloaded)]}


def render(report):
    return json.dumps(result(report), indent=2, allow_nan=False).encode() + b'\n'


def output_line(report):
    """``result=<base64 JSON>``, one line, for ``$GITHUB_OUTPUT``."""
    data = json.dumps(result(report), separators=(',', ':'), allow_nan=False)
    return 'result=' + base64.b64encode(data.encode('utf-8')).decode('ascii') + '\n'

