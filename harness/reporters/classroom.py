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
points: its tests pass, named and explained as that consequence. The consequence a root cause's
cost is taken from (its most valuable check) has red crosses named ``a consequence of CAUSE:
fix CAUSE`` (as has every failing consequence under ``charge = "check"``), and
the cause's own tests, its points kept, say ``charged at`` that check: the red cross names the
bug, never only a check that is 'not a bug of its own'. A check not run because the learner has not written what it
needs (an op not implemented) is ``error`` with the reason, not a red cross; advisory
findings, worth nothing, are in the JUnit, HTML and console reports. The top-level status is
``fail`` exactly when micrograde's verdict is failed.

A required check worth no points decides the verdict but cannot be one of these tests: a
failing test lowers the printed total, and a passing one would show a failure green. So it is
a test of a second runner, ``verdict``, whose ``max_score`` is 0: the reporter prints its red
cross and fails the run, but neither prints nor posts points for it (``max_score`` 0 skips
both). That runner opens with the verdict itself (never an empty runner, which prints
``NaN``), then lists every required check worth no points.

``render(report)`` is the points runner's JSON; ``output_line`` the ``result=<base64>`` and
``verdict=<base64>`` lines a workflow step appends to ``$GITHUB_OUTPUT`` (``micrograde grade
--github-output``), which the workflow hands to the reporter as ``runners: micrograde,verdict``.
"""
import base64
import json
import math
from fractions import Fraction

from micrograde.model.results import Outcome
from micrograde.reporters.places import place
from micrograde.reporters.text import bugs, clean, continued, failure_text

LIMIT = 4000


#: The most tests the points runner lists: the reporter prints a line for each.
MAX_TESTS = 1000

#: The most characters of one ``--github-output`` line's value. The shipped workflow hands it to
#: the reporter in an environment variable, and Linux starts no program given one of 128 KiB or
#: more (``MAX_ARG_STRLEN``, "Argument list too long"): Classroom got no points at all.
ENCODED_LIMIT = 100_000


def unit(worth):
    """The points one test stands for, of checks worth ``worth`` points each: their greatest
    common divisor; or ``None`` where that makes more than ``MAX_TESTS`` tests (a check worth
    1/3 of a point, or 0.001 beside 1000): then each check is one test worth its points, the
    posted score stays the true one and the printed total (passes / tests x max) is only near
    it. ``micrograde classroom-tests`` writes as many plain tests per check, for the same
    reason (the python grader gives every test an equal share)."""
    points = [Fraction(str(p)) for p in worth]
    if not points:
        return Fraction(1)
    size = Fraction(math.gcd(*(p.numerator for p in points)),
                    math.lcm(*(p.denominator for p in points)))
    return size if sum(points) / size <= MAX_TESTS else None


#: The reporter's status for each outcome: only a failure is a red cross (``error`` prints its
#: reason). A check that could not finish (``ERROR``: its graphs not answered, cut by a time
#: limit) is no finding of a line: a red cross at the line of the op it was running, with no
#: reason (the reporter prints none for ``fail``), read as a bug there ("❌ ops.mul - line 28"
#: for the grading's time limit); as ``error``, it prints why. Advice is worth no points
#: (``Rubric.graded``), so it is not listed; were it, not red.
STATUS = {Outcome.PASSED: 'pass', Outcome.FAILED: 'fail', Outcome.ERROR: 'error',
          Outcome.SKIPPED: 'error', Outcome.ADVICE: 'error'}


def _tests(report, check, size, unloaded):
    """The check as ``max_score / size`` tests of ``size`` points each (``None``: one test;
    ``unloaded``: why the submission did not load, which is why a check was not run)."""
    where = place(report, check)
    size = size or Fraction(str(check.max_score)) or Fraction(1)
    count = round(Fraction(str(check.max_score)) / size) or 1  # a check worth nothing: one test
    outcome = check.outcome
    kept = count if outcome is Outcome.PASSED else round(Fraction(str(check.score)) / size)
    name = check.id
    charged_at = [c.id for c in report.checks if c.consequence_of == check.id and c.outcome.failure
                  and c.score < c.max_score]
    if outcome.failure and kept:
        name += f' (fails, a consequence of {check.consequence_of}: its points kept)' \
            if check.consequence_of else \
            f' (fails: charged at {", ".join(charged_at)})' if charged_at else ' (fails, its points kept)'
    elif outcome.failure and check.consequence_of:  # its lost points are its root cause's cost
        name += f' (a consequence of {check.consequence_of}: fix {check.consequence_of})'
    if outcome is Outcome.PASSED:
        message = continued(check.message)
    elif outcome is Outcome.SKIPPED:
        why = continued(f'{check.message}: {unloaded}' if unloaded else check.message)
        message = f'{check.id}: {why}' + (f' (0 of its {check.max_score:g} points)'
                                          if check.max_score else '')
    elif outcome is Outcome.ERROR:  # printed alone (``Error: ...``): it names its check and,
        # as every other report's text of it does, the learner's line (a hang's rule)
        message = f'{check.id}: {failure_text(check, where)}'
    else:
        message = failure_text(check)
    ce = check.counterexample
    # the reporter prints a message only for an ``error`` test: a check's other point tests
    # need not repeat it
    return [{'name': name + (f' (point {k} of {count})' if count > 1 else ''),
             'status': 'pass' if k <= kept else STATUS[outcome],
             'score': check.score if k == 1 else 0.0,
             'max_score': float(size) if check.max_score else 0.0,
             'message': clean(message, LIMIT) if k == 1 or (k > kept and STATUS[outcome] == 'error')
             else '',
             'test_code': clean(ce.code) if ce and k == 1 else '',
             'filename': where['file'] if where else '',
             'line_no': where['line'] if where else 0,
             'duration': round(check.duration * 1000) if k == 1 else 0}
            for k in range(1, count + 1)]


def _unloaded(report):
    return ' '.join(c.message for c in report.checks if c.id == 'load' and c.status != 'passed')


def _status(report):
    return 'pass' if report.verdict == 'passed' else 'fail'


def _note(name, status='pass', message=''):
    """A test that is a statement, worth nothing (the verdict; a rubric without points)."""
    return {'name': clean(name, LIMIT), 'status': status, 'score': 0.0, 'max_score': 0.0,
            'message': clean(message, LIMIT), 'test_code': '', 'filename': '', 'line_no': 0,
            'duration': 0}


def result(report):
    """The points runner's result as a dict: never without a test (the reporter prints an empty
    runner's points as ``NaN``), so a rubric worth no points says so; within ``ENCODED_LIMIT``
    (``fitted``), where a test per point cannot be, a test per check (as ``unit`` makes for
    points no test can stand for)."""
    run = fitted(_result(report))
    return run if len(_encoded(run)) <= ENCODED_LIMIT else fitted(_result(report, per_check=True))


def _result(report, per_check=False):
    graded = [c for c in report.checks if c.max_score > 0]
    size = None if per_check else unit(c.max_score for c in graded)
    tests = [t for c in graded for t in _tests(report, c, size, _unloaded(report))]
    return {'version': 1, 'status': _status(report), 'max_score': report.max_score,
            'tests': tests or [_note('no check is worth points under this rubric')]}


def verdict(report):
    """The ``verdict`` runner's result: the verdict, then each required check worth no points."""
    free = [c for c in report.checks if c.required and not c.max_score]
    found = bugs(report)
    why = (f'failed by {found}' if found else 'failed: the submission could not be loaded') \
        if report.verdict != 'passed' else 'passed: every required check passed'
    head = _note(f'micrograde verdict: {why}', _status(report), why)
    return fitted({'version': 1, 'status': _status(report), 'max_score': 0.0,
                   'tests': [head, *(t for c in free for t in _tests(report, c, 1, _unloaded(report)))]})


#: The runners ``--github-output`` writes, by output name (the workflow's ``runners:``).
RUNNERS = {'result': result, 'verdict': verdict}


def render(report):
    return json.dumps(result(report), indent=2, allow_nan=False).encode() + b'\n'


def output_line(report):
    """``result=<base64 JSON>`` and ``verdict=<base64 JSON>``, a line each, for
    ``$GITHUB_OUTPUT``, each within ``ENCODED_LIMIT`` (``fitted``)."""
    return ''.join(f'{name}={_encoded(runner(report))}\n' for name, runner in RUNNERS.items())


def _encoded(run):
    return base64.b64encode(json.dumps(run, separators=(',', ':'), allow_nan=False).encode()).decode('ascii')


def fitted(run):
    """A runner's result whose base64 is within ``ENCODED_LIMIT`` where its texts can make it
    so: where it is longer, its tests' texts (messages, counterexample code) are cut shorter and
    shorter, to none; their names, statuses and points, all the reporter counts, kept whole."""
    limit = LIMIT
    while limit and len(_encoded(run)) > ENCODED_LIMIT:
        limit //= 4
        run = {**run, 'tests': [{**t, 'message': clean(t['message'], limit) if limit else '',
                                 'test_code': clean(t['test_code'], limit) if limit else ''}
                                for t in run['tests']]}
    return run

