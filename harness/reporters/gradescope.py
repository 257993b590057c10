"""Gradescope's ``results.json``: the total, each check as a test with its points, tags and visibility.

Every submission graded with one rubric has the same maximum (the rubric's total): an absent op
is a test worth its points that scored 0, an unloadable submission lists every check at 0.
Gradescope colours a test by ``status`` when given (else by score < max_score), so:

* an advisory finding is ``status: passed``, 0 / 0 points, tagged ``advisory``, its name and
  output saying "advisory": visible, never red;
* a skipped check that costs points (an op not written, a check not run) is red, as Gradescope
  colours any test scoring less than its maximum, and named ``(skipped)`` or ``(not run)``
  (``text.suffix``), so that the list tells it from a failure of its own; a skipped check that
  does not count is green, but named ``(not run)`` or ``(skipped)`` too, as in JUnit
  (``(advisory)`` read as ran, or as a finding of an op the learner did not write);
* every test is named as its JUnit testcase: a check that passed is named by its id alone,
  counted or not (a passed robustness check named ``(advisory)`` read as a finding); the
  ``advisory`` tag marks every check that does not count;
* a root cause that keeps its points (``charge = "cause"``) says which check its cost is charged
  at, and that check says whose cost it is (``charge``), as Classroom's test names do;
* outputs are plain ``text`` (a learner's printout can never render as markup or a link).
"""
import json

from micrograde.model.results import Outcome
from micrograde.reporters.text import (bugs, clean, continued, failure_text, location, skipped_points, suffix,
                                      unpaid, unrun)

LIMIT = 8000


def _test(report, check):
    outcome = check.outcome
    advisory = outcome is Outcome.ADVICE or (not check.required and check.max_score == 0)
    # named as JUnit names it: (advisory) only for a finding that is advice (a check that passed
    # or was skipped is not one, counted or not), (not run) or (skipped) for a skipped check
    named = suffix(check)
    if outcome is Outcome.ADVICE:
        output = 'Advisory, not graded: ' + failure_text(check, location(report, check))
        status = 'passed'
    elif outcome.failure:
        output, status = charge(report, check) + failure_text(check, location(report, check)), 'failed'
    else:  # passed, or skipped: red only when it costs points (an op not written)
        output = continued(check.message)
        status = 'passed' if outcome is Outcome.PASSED or check.max_score == 0 else 'failed'
    return {'name': check.id + named, 'score': check.score,
            'max_score': check.max_score, 'status': status, 'output': clean(output, LIMIT),
            'output_format': 'text', 'tags': [check.category] + (['advisory'] if advisory else []),
            'visibility': check.visibility}


def charge(report, check):
    """Where a failure's points went, said where Gradescope shows them beside it: a root cause
    that kept its points (``charge = "cause"``: the bug costs its most valuable check's) names
    the checks it is charged at, and a consequence that lost points names the bug they are the
    cost of, so the points lost are never only on a test that says it is not a bug of its own."""
    lost = check.max_score - check.score
    if check.consequence_of and lost > 0:
        return (f"The {lost:g} point(s) lost here are the cost of {check.consequence_of}'s bug: "
                f'fix {check.consequence_of}.\n\n')
    charged = [c for c in report.checks if c.consequence_of == check.id and c.outcome.failure
               and c.score < c.max_score]
    if check.consequence_of or lost > 0 or not charged:
        return ''
    cost = sum(c.max_score - c.score for c in charged)
    return (f'This bug costs {cost:g} point(s), charged at {", ".join(c.id for c in charged)} '
            f'(the most valuable check it fails); this test keeps its own.\n\n')


def render(report):
    advisories = sum(c.outcome is Outcome.ADVICE for c in report.checks)
    summary = (f'{report.verdict.upper()}: {report.score:g} / {report.max_score:g} points '
               f'(seed {report.seed}, profile {report.profile}).')
    # what is wrong, as the console counts it, above the tests it fails: a test the learner does
    # not see yet (``visibility``) is counted, not named
    def seen(check):
        return check.visibility == 'visible'
    found = bugs(report, seen=seen)
    if found:
        summary += f'\n{found}.'
    for why in filter(None, (unpaid(report), unrun(report) or skipped_points(report, seen))):
        summary += f'\n{why[0].upper()}{why[1:]}.'
    if advisories:
        summary += f'\n{advisories} advisory finding(s): advice, not counted in the score.'
    if report.load_warnings:
        summary += '\nWhile loading: ' + '; '.join(report.load_warnings)
    return json.dumps({
        'score': report.score,
        'execution_time': round(report.timings.get('total', 0.0), 3),
        'output': clean(summary, LIMIT), 'output_format': 'text', 'test_output_format': 'text',
        'visibility': 'visible', 'stdout_visibility': 'hidden',
        'extra_data': {'max_score': report.max_score, 'verdict': report.verdict,
                       'seed': report.seed, 'profile': report.profile},
        'tests': [_test(report, c) for c in report.checks]}, indent=2, allow_nan=False).encode() + b'\n'
