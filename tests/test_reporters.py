"""Every reporter on checked-in Reports, in milliseconds, without grading anything.

``tests/graded/*.json`` are real grades (``micrograde grade --profile quick``), the submission
renamed ``hw/...``: ``passing`` (the reference engine: no failure), ``advisory`` (the lecture's
engine: it passes, with advisory findings), ``misconception`` (``bug_overwrite_grad.py``: one
misconception, its consequences), ``voided`` (a gc walk: tampered, every check failed) and
``load_error`` (a syntax error). Each format's bytes are checked against its consumer's schema
and for what each consumer must show; advice never looks like a failure to any of them.
"""
import csv
import io
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from conftest import SCHEMAS, validate_json
from micrograde.model.results import (Category, Check, Code, Counterexample, Isolation, Misconception, NotRun, Outcome, Report, Status,
                                      Verdict)
from micrograde.reporters import FORMATS, classpage, console, gradebook, json_report, write, write_reports
from micrograde.surfaces import pytest_plugin
from micrograde.surfaces.service import grader as service

REPORTS = Path(__file__).resolve().parent / 'graded'
NAMES = ('passing', 'advisory', 'misconception', 'voided', 'load_error')
REPORT_SCHEMA = json.loads((Path(__file__).resolve().parent.parent / 'harness' / 'schemas' /
                            'report.schema.json').read_text())


def read(name):
    return json_report.read(REPORTS / f'{name}.json')


@pytest.fixture(scope='module')
def junit_schemas():
    import xmlschema
    return [xmlschema.XMLSchema(str(xsd)) for xsd in sorted(SCHEMAS.glob('*.xsd'))]


def shown(report):
    """Every format's view of the report: {format: parsed output}."""
    out = {name: render(report) for name, render in FORMATS.items()}
    assert all(isinstance(data, bytes) for data in out.values())
    return {'junit': ET.fromstring(out['junit']), 'json': json.loads(out['json']),
            'gradescope': json.loads(out['gradescope']), 'classroom': json.loads(out['classroom']),
            'html': out['html'].decode('utf-8'), 'console': console.render(report),
            'gradebook': list(csv.DictReader(io.StringIO(gradebook.render({'hw': report}).decode(),
                                                         newline='')))[0],
            'marks': classpage.cohorts({'hw': report})[-1].entries[0].marks}


@pytest.mark.parametrize('name', NAMES)
def test_each_format_is_bytes_its_consumer_accepts_and_json_is_unchanged(name, junit_schemas):
    report = read(name)
    data = (REPORTS / f'{name}.json').read_bytes()
    assert json_report.render(report) == data  # enums read back and written as the same text
    jsonschema.validate(json.loads(data), REPORT_SCHEMA, cls=jsonschema.Draft202012Validator)
    for schema in junit_schemas:
        schema.validate(FORMATS['junit'](report).decode())
    validate_json(json.loads(FORMATS['gradescope'](report)), 'gradescope-results.schema.json')
    validate_json(json.loads(FORMATS['classroom'](report)), 'classroom-result.schema.json')
    assert FORMATS['html'](report).startswith(b'<!DOCTYPE html>')
    for url_name, fmt in service.FORMATS.items():  # the service serves the very same bytes
        body, media = service.render(data.decode(), url_name)
        assert body == FORMATS[fmt](report) or fmt == 'junit'  # junit: the hostname, timestamp
        assert media.startswith(('application/', 'text/'))


def test_the_outcome_is_decided_once_and_advice_is_never_a_failure():
    outcomes = {(status, required): Check('ops.add', 'ops', status, required=required).outcome
                for status in Status for required in (True, False)}
    assert outcomes == {(Status.PASSED, True): Outcome.PASSED, (Status.PASSED, False): Outcome.PASSED,
                        (Status.FAILED, True): Outcome.FAILED, (Status.FAILED, False): Outcome.ADVICE,
                        (Status.ERROR, True): Outcome.ERROR, (Status.ERROR, False): Outcome.ADVICE,
                        (Status.SKIPPED, True): Outcome.SKIPPED,
                        (Status.SKIPPED, False): Outcome.SKIPPED}
    assert [o for o in Outcome if o.failure] == [Outcome.FAILED, Outcome.ERROR]


def test_advice_looks_like_advice_to_every_consumer():
    report = read('advisory')
    advice = [c for c in report.checks if c.outcome is Outcome.ADVICE]
    assert report.verdict is Verdict.PASSED and len(advice) >= 3
    assert {c.status for c in advice} == {Status.FAILED}  # findings that failed, not counted
    view = shown(report)
    junit = view['junit']
    assert junit.findall('.//failure') == junit.findall('.//error') == []
    skipped = junit.findall(".//skipped[@type='micrograde.advisory']")
    assert len(skipped) == len(advice) and all(s.get('message').startswith('advisory: ') for s in skipped)
    tests = {t['name']: t for t in view['gradescope']['tests']}
    assert all(tests[f'{c.id} (advisory)']['status'] == 'passed' for c in advice)
    assert all('advisory' in tests[f'{c.id} (advisory)']['tags'] for c in advice)
    classroom = view['classroom']
    assert classroom['status'] == 'pass' and not [t for t in classroom['tests'] if t['status'] == 'fail']
    assert 'FAIL' not in view['console'] and f'{len(advice)} advisory warning(s)' in view['console']
    assert 'class="failure"' not in view['html']
    assert view['html'].count('<article class="advice"') == len(advice)
    assert view['gradebook']['failing_checks'] == ''
    assert view['gradebook']['advisory_findings'].split() == [c.id for c in advice]
    assert {view['marks'][c.id] for c in advice} == {classpage.Mark.ADVICE}
    for c in advice:
        with pytest.raises(pytest.xfail.Exception, match='advisory'):
            pytest_plugin.outcome(report, c.id)


def test_a_misconception_is_one_bug_with_its_consequences_everywhere():
    report = read('misconception')
    (root, consequences), = [(r, found) for r, found in report.causes() if r.outcome.failure]
    assert root.misconception.code == Code.ASSIGNED and consequences
    view = shown(report)
    failure = view['junit'].find(f".//testcase[@name='{root.id.split('.', 1)[1]}']/failure")
    assert failure.get('type') == 'gradient assigned instead of accumulated'
    assert 'at Value.__add__ (hw/bug_overwrite_grad.py:' in failure.text
    assert 'a consequence of ' + root.id in view['junit'].find(
        f".//testcase[@name='{consequences[0].id.split('.', 1)[1]}']/failure").text
    assert '1 bug(s) found' in view['console'] and 'FAIL  ' in view['console']
    assert view['gradescope']['score'] == report.score < report.max_score
    assert view['classroom']['status'] == 'fail'
    assert sum(t['score'] for t in view['classroom']['tests']) == report.score
    assert {view['marks'][root.id], view['marks'][consequences[0].id]} == {
        classpage.Mark.FAILED, classpage.Mark.EXPLAINED}
    ranked = classpage.cohorts({'hw': report})[-1].misconceptions
    assert [m.key for m in ranked] == [Code.ASSIGNED]
    with pytest.raises(pytest_plugin.CheckFailed, match='assigned instead of accumulated'):
        pytest_plugin.outcome(report, root.id)


def test_gradescope_says_where_a_root_cause_s_points_are_charged():
    """Under ``charge = "cause"`` a bug costs the points of its most valuable check: with the
    course's 5-point mlp.gradients, ``bug_overwrite_grad.py`` read on Gradescope ops.add red at
    1.0 / 1.0 with no word of its cost, and mlp.gradients 0.0 / 5.0 saying only "a consequence
    of ops.add: not a bug of its own", so a learner saw the only lost points on a check that
    said it was not their bug. Classroom said "charged at"; Gradescope, which shows each
    test's points beside its text, now says it on both tests."""
    root = failing_check('ops.add', 1.0, 1.0)
    checks = [root, failing_check('ops.radd', 1.0, 1.0, 'ops.add'),
              failing_check('mlp.gradients', 0.0, 5.0, 'ops.add'),
              failing_check('ops.tanh', 0.0, 1.0)]
    report = Report('hw.py', Verdict.FAILED, 8.0, 13.0, checks=checks)
    tests = {t['name']: t['output'] for t in json.loads(FORMATS['gradescope'](report))['tests']}
    assert 'costs 5 point(s), charged at mlp.gradients' in tests['ops.add']
    assert "the cost of ops.add's bug" in tests['mlp.gradients']
    assert 'charged' not in tests['ops.radd'] and 'cost of' not in tests['ops.radd']  # kept
    assert 'charged' not in tests['ops.tanh'] and 'cost of' not in tests['ops.tanh']  # its own
    every = read('misconception')  # charge = "check": each failing check costs its own points
    tests = {t['name']: t['output'] for t in json.loads(FORMATS['gradescope'](every))['tests']}
    assert 'charged at' not in tests['ops.add'] and "the cost of ops.add's bug" in tests['ops.radd']


def test_classroom_s_verdict_names_the_bugs_not_only_the_checks_they_fail():
    """Classroom's red verdict of ``bug_overwrite_grad.py`` read "failed by ops.add,
    ops.add_const, ops.sub_const, ops.radd, backward.accumulate and 3 more": eight checks where
    the console says "1 bug(s) found". It names each root cause by its misconception and counts
    the checks it explains."""
    from micrograde.reporters import classroom
    report = read('misconception')
    roots = [c for c in report.checks if c.outcome.failure and not c.consequence_of]
    explained = [c for c in report.checks if c.outcome.failure and c.consequence_of]
    assert len(roots) == 1 and len(explained) == 7
    head = classroom.verdict(report)['tests'][0]
    assert head['status'] == 'fail'
    assert head['name'] == ('micrograde verdict: failed by 1 bug: ops.add, gradient assigned '
                            'instead of accumulated (__add__); 7 more failing checks are its '
                            'consequences')
    load_error = classroom.verdict(read('load_error'))['tests'][0]['name']
    assert load_error.startswith('micrograde verdict: failed by 1 bug: load, ')


def test_gradescope_s_summary_names_the_bugs_as_the_console_counts_them():
    """Gradescope's summary (the text above the tests) said "FAILED: 31 / 51 points" and
    nothing of what was wrong, above 14 red and green tests; the console says "1 bug(s) found".
    It now names each bug and the checks it explains, as Classroom's verdict and Moodle do."""
    summary = json.loads(FORMATS['gradescope'](read('misconception')))['output']
    assert summary.splitlines()[1] == ('1 bug: ops.add, gradient assigned instead of accumulated '
                                       '(__add__); 7 more failing checks are its consequences.')
    assert 'bug' not in json.loads(FORMATS['gradescope'](read('passing')))['output']
    hidden = read('misconception')  # a course hides a check until the due date: not named above
    for c in hidden.checks:
        c.visibility = 'after_due_date' if c.id == 'ops.add' else c.visibility
    summary = json.loads(FORMATS['gradescope'](hidden))['output']
    assert summary.splitlines()[1] == ('1 bug: in a test not shown yet; 7 more failing checks are '
                                       'its consequences.'), summary


def test_a_bug_named_by_its_message_is_cut_where_a_word_ends_on_every_summary():
    """A check that could not finish (no misconception: named by its message's first line) read
    in Gradescope's summary "1 bug: ops.mul_const, 3 of 3 graphs not answered: the check could
    not finish: the grading's time limit (2 s for all the checks, --grade-timeou." (cut at the
    120th character, saying nothing): a word cut, read as the whole message.  Cut where a word
    ends, saying so, in the summary and Classroom's verdict alike."""
    from micrograde.reporters import classroom
    report = read('misconception')
    limit = ("3 of 3 graphs not answered: the check could not finish: the grading's time limit "
             "(2 s for all the checks, --grade-timeout) had passed")
    for c in report.checks:
        if c.id == 'ops.add':
            c.status, c.misconception, c.message = Status.ERROR, None, limit
    summary = json.loads(FORMATS['gradescope'](report))['output'].splitlines()[1]
    head = classroom.verdict(report)['tests'][0]['name']
    for said in (summary, head):
        named = said.split('1 bug: ops.add, ', 1)[1].split(';')[0]
        assert named.endswith('…') and limit.startswith(named[:-1]), said
        assert limit[len(named) - 1] in ' ,;:(', said  # a whole word before the cut
    assert 'timeou.' not in summary and '...' not in summary


#: A check the grading's time limit cut (``trials.judged``): its graphs not answered.
NOT_ANSWERED = ("3 of 3 graphs not answered: the check could not finish: the grading's time "
                "limit (2 s for all the checks, --grade-timeout) had passed")


def _cut(name, check_id):
    """The report ``name`` with ``check_id`` cut by the grading's time limit, as graded."""
    report = read(name)
    check = next(c for c in report.checks if c.id == check_id)
    check.status, check.message, check.score = Status.ERROR, NOT_ANSWERED, 0.0
    check.diagnosis = NOT_ANSWERED.split(': ', 1)[1]
    check.counterexample = Counterexample(
        'a = Value(-1.2)\nk = Value(2.08)\n_1 = a * 3.0\nout = _1 * k\nout.backward()\n',
        {'out.data': '-7.488', 'a.grad': '6.24'},
        {'out.data': 'not computed', 'a.grad': 'not computed',
         'error': "Timeout: the grading's time limit (2 s for all the checks, --grade-timeout) had "
                  'passed'})
    report.score -= check.max_score
    report.verdict = Verdict.FAILED
    return report


def test_a_check_that_could_not_finish_says_why_in_classroom_not_a_bare_red_cross(tmp_path):
    """Classroom's reporter prints no message for a ``fail`` test: a check the grading's time
    limit cut showed, in the learner's log, "❌ ops.mul - line 40" (the line of the op it was
    running) and the code of a graph their engine computes right, as a bug in ``__mul__``. It
    is an ``error`` test now, which the reporter prints with its reason; its points are still
    lost (the reporter's own code, under Node, where it is checked out)."""
    from micrograde.reporters import classroom
    report = _cut('passing', 'ops.mul')
    test = next(t for t in classroom.result(report)['tests'] if t['name'] == 'ops.mul')
    assert test['status'] == 'error' and test['score'] == 0, test
    assert test['message'].startswith(f'ops.mul: {NOT_ANSWERED}'), test['message']
    # the learner's line, as JUnit's and Gradescope's text of it say (a hang's rule is there)
    assert test['message'].endswith(f"at Value.__mul__ ({test['filename']}:{test['line_no']})")
    import actions
    if actions.missing(actions.CLASSROOM):
        pytest.skip(actions.missing(actions.CLASSROOM))
    outputs = dict(line.split('=', 1) for line in classroom.output_line(report).splitlines())
    out, _, _ = actions.run(actions.CLASSROOM, tmp_path, {'runners': 'micrograde,verdict'},
                            {'MICROGRADE_RESULTS': outputs['result'],
                             'VERDICT_RESULTS': outputs['verdict']})
    assert f'Error: ops.mul: {NOT_ANSWERED}' in out, out[-3000:]
    assert '❌ ops.mul' not in out, out[-3000:]
    assert f'Total points for micrograde: {report.score:.2f}/{report.max_score:g}' in out
    assert '::error::Some tests failed.' in out  # the verdict still fails the run


def test_gradescope_s_summary_counts_a_skipped_check_not_shown_yet_and_names_it_not():
    """A rubric hides ``mlp.build`` until the due date (``after_due_date``): Gradescope's
    summary, which every learner sees, still read "10 point(s) in 5 skipped check(s): mlp.build
    mlp.forward ...", naming the hidden test and its worth (``bugs`` counts, never names, a bug
    in a test not shown yet). It counts it now, as ``bugs`` does."""
    report = read('passing')
    for c in report.checks:
        c.visibility = 'after_due_date' if c.id == 'mlp.build' else c.visibility
    summary = json.loads(FORMATS['gradescope'](report))['output']
    line = next(s for s in summary.splitlines() if 'skipped check(s)' in s)
    assert line == ('10 point(s) in 5 skipped check(s): mlp.forward mlp.gradients mlp.step '
                    'mlp.zero_grad; 1 in a test not shown yet.'), summary
    assert 'mlp.build' not in summary
    assert 'mlp.build' in console.render(report)  # the grader's own console names every check


def failing_check(check_id, score, max_score, consequence_of=''):
    m = Misconception(Code.ASSIGNED, method='__add__')
    return Check(check_id, check_id.split('.')[0], Status.FAILED, 'wrong gradient', score=score,
                 max_score=max_score, misconception=m, consequence_of=consequence_of)


def test_a_voided_grade_fails_every_check_and_opens_with_the_finding():
    report = read('voided')
    assert report.checks[0].id == 'tampered' and report.score == 0
    assert all(c.status is Status.FAILED for c in report.checks if c.required)
    view = shown(report)
    first = next(view['junit'].iter('testcase'))
    assert first.get('name') == 'tampered' and first.find('failure') is not None
    assert view['gradescope']['score'] == 0
    assert not [t for t in view['classroom']['tests'] if t['status'] == 'pass']
    assert view['gradebook']['failing_checks'].split()[0] == 'tampered'
    assert 'tampered with the grader' in view['console']


def test_an_unloadable_submission_is_failed_once_and_the_rest_not_run():
    report = read('load_error')
    assert report.checks[0].id == 'load' and report.checks[0].status is Status.FAILED
    assert report.isolation in Isolation and report.isolation is not Isolation.NONE
    view = shown(report)
    junit = view['junit']
    assert [c.get('name') for c in junit.iter('testcase') if c.find('failure') is not None] == ['load']
    statuses = {t['status'] for t in view['classroom']['tests']}
    assert statuses == {'error'}  # not run: a reason, never a red cross of its own
    assert view['gradescope']['score'] == 0
    assert 'FAIL  syntax error in broken.py at line 1' in view['console']
    assert 'load: 0 passed, 1 failed' in view['console']


def _reworded(name, words):
    """The report ``name`` with every ``not run: `` of its checks' messages put in ``words``."""
    data = json.loads((REPORTS / f'{name}.json').read_text())
    data['checks'] = [{**c, 'message': c['message'].replace('not run: ', words)}
                      for c in data['checks']]
    return Report.from_dict(data)


def test_a_check_not_run_is_said_so_by_its_field_whatever_its_words():
    """Round nine told a check not run by its message's first words (``text.unrun``,
    ``text.suffix``, the console's absent ops): another wording read as skipped for a reason of
    its own, and its points were said nowhere. ``Check.not_run`` is the one thing every reporter
    reads: the same report worded otherwise is shown the same to every consumer."""
    report = _reworded('load_error', 'grading stopped before it: ')
    unrun = [c for c in report.checks if c.status is Status.SKIPPED]
    assert unrun and all(c.not_run is NotRun.STOPPED and 'not run' not in c.message for c in unrun)
    view = shown(report)
    names = {c.get('classname') + '/' + c.get('name') for c in view['junit'].iter('testcase')
             if c.find('skipped') is not None}
    assert names == {f'micrograde.{c.category}/{c.id.split(".", 1)[1]} (not run)' for c in unrun}
    tests = {t['name'] for t in view['gradescope']['tests']}
    assert {f'{c.id} (not run)' for c in unrun if c.required} <= tests  # else named (advisory)
    lost = [c.max_score for c in unrun if c.max_score]
    said = f'{sum(lost):g} point(s) in {len(lost)} check(s) not run: grading stopped before it'
    assert said in view['console'] and said in view['html']
    assert said[0].upper() + said[1:] in view['gradescope']['output']
    moodle = gradebook.render({'hw': report}, 'moodle', {'hw': {'student_id': 's1', 'email': ''}})
    assert said in moodle.decode()
    needs = _reworded('passing', 'wanting what a check before gives: ')
    missing = [c for c in needs.checks if c.not_run is NotRun.NEEDS]
    assert missing and all(c.message.startswith('wanting') for c in missing)
    assert {f'{c.id} (not run)' for c in missing if c.required} <= {
        t['name'] for t in shown(needs)['gradescope']['tests']}
    assert 'not run' not in console.render(needs).splitlines()[-1]  # needs: said where listed


def test_a_message_s_words_alone_make_no_check_not_run():
    """A check skipped for a reason of its own whose message happens to begin ``not run`` is
    not one grading stopped before: only ``Check.not_run`` says that."""
    check = Check('mlp.build', 'mlp', Status.SKIPPED, 'not run: no MLP class', max_score=2.0)
    assert check.not_run is NotRun.NO
    assert FORMATS['junit'](Report('hw.py', checks=[check])).count(b'build (skipped)') == 1


def test_a_check_not_run_is_named_so_by_gradescope_as_by_junit_advisory_or_not():
    """Gradescope named an advisory check not run (the submission not loaded: every robustness
    check) ``(advisory)``, green, as one that ran and passed; JUnit names it ``(not run)``. The
    class page drew it as skipped (a dash, an op not written), its legend's "not run" being
    for a check the report lacks. Each consumer now says it by ``Check.not_run``."""
    report = read('load_error')
    unrun = [c for c in report.checks if c.not_run]
    assert {c.required for c in unrun} == {True, False}
    view = shown(report)
    junit = {c.get('classname').removeprefix('micrograde.') + '.' + c.get('name')
             for c in view['junit'].iter('testcase')}
    tests = {t['name']: t for t in view['gradescope']['tests']}
    for c in unrun:
        assert f'{c.id} (not run)' in junit and f'{c.id} (not run)' in tests, c.id
        assert ('advisory' in tests[f'{c.id} (not run)']['tags']) == (not c.required), c.id
    assert {view['marks'][c.id] for c in unrun} == {classpage.Mark.ABSENT}  # the legend's 'not run'
    skipped = [c for c in read('passing').checks if c.status is Status.SKIPPED and not c.not_run]
    assert skipped and {shown(read('passing'))['marks'][c.id] for c in skipped} == {classpage.Mark.SKIPPED}


def test_an_op_not_written_is_named_skipped_by_gradescope_as_by_junit():
    """An op the learner did not write, worth no points (the lecture's `a ** b`, `2 ** a`), was
    ``ops.pow_value (advisory)`` on Gradescope, an advisory finding, where JUnit, the pytest
    plugin and the console say skipped (the README: "(not run)" or "(skipped)" in JUnit and
    Gradescope). Each skipped check is named as JUnit names it."""
    for name in NAMES:
        report = read(name)
        view = shown(report)
        junit = {c.get('classname').removeprefix('micrograde.') + '.' + c.get('name')
                 for c in view['junit'].iter('testcase')}
        tests = {t['name'] for t in view['gradescope']['tests']}
        skipped = [c for c in report.checks if c.status is Status.SKIPPED]
        for c in skipped:
            named = c.id + (' (not run)' if c.not_run else ' (skipped)')
            assert named in junit and named in tests, (name, c.id)
    report = read('advisory')
    absent = [c for c in report.checks if c.status is Status.SKIPPED and not c.max_score]
    assert absent, 'the lecture engine has ops it does not write, worth no points'


def test_every_check_is_named_by_gradescope_as_by_junit():
    """A robustness check that ran and passed (not required, worth no points) was
    ``robustness.tanh_large (advisory)`` on Gradescope, named as a finding that failed and is
    advice, where JUnit, the console and the class page show it passed: only a finding is
    advisory. Every test Gradescope lists is named as its JUnit testcase, and ``(advisory)``
    only where the check's outcome is advice."""
    for name in NAMES:
        report = read(name)
        view = shown(report)
        junit = sorted(c.get('name') for c in view['junit'].iter('testcase'))
        tests = view['gradescope']['tests']  # `ops.add` is JUnit's `add` of `micrograde.ops`
        assert sorted(t['name'].split('.', 1)[-1] for t in tests) == junit, name
        for check, test in zip(report.checks, tests, strict=True):
            assert test['name'].endswith(' (advisory)') == (check.outcome is Outcome.ADVICE), \
                (name, test['name'])
    passed = [c for c in read('advisory').checks if c.outcome is Outcome.PASSED and not c.required]
    assert passed, 'the lecture engine passes robustness checks that do not count'


def test_points_of_skipped_checks_are_said_beside_the_score_by_every_consumer():
    """An engine with no MLP class read "FAILED  score 40 / 51" and "1 required check failed"
    (ops.log, 1 point): the 10 points of the MLP checks (skipped: no MLP class; the rest not
    run for want of it) were said nowhere beside the score, where a stop's points are. Now the
    console, the HTML, Gradescope's summary, Moodle's feedback and the plugin say them alike."""
    from micrograde.checks import check_ids
    from micrograde.grader.rubric import Rubric
    special = {'ops.log': Check('ops.log', 'ops', 'failed', 'wrong'),
               'ops.rpow': Check('ops.rpow', 'ops', 'skipped', 'rpow is not implemented'),
               'mlp.build': Check('mlp.build', 'mlp', 'skipped', 'no MLP class'),
               'mlp.forward': Check('mlp.forward', 'mlp', 'skipped',
                                    'not run: what it needs is missing', not_run='needs')}
    report = Report('hw/leo.py', checks=[special.get(i) or Check(i, i.split('.')[0], 'passed', 'ok')
                                         for i in ['load', *check_ids()]])
    report = Rubric.load().apply(report)
    lost = [c for c in report.checks if c.status is Status.SKIPPED and c.max_score]
    assert [c.id for c in lost] == ['mlp.build', 'mlp.forward']
    said = (f'{sum(c.max_score for c in lost):g} point(s) in {len(lost)} skipped check(s): '
            f'{" ".join(c.id for c in lost)}')
    view = shown(report)
    assert view['console'].rstrip().endswith(f'score {report.score:g} / {report.max_score:g} ({said})')
    assert f'({said})' in view['html'] and said[0].upper() + said[1:] in view['gradescope']['output']
    moodle = gradebook.render({'hw': report}, 'moodle', {'hw': {'student_id': 's1', 'email': ''}})
    assert said in moodle.decode() and 'ops.rpow' not in said
    assert 'skipped check' not in console.render(read('advisory'))  # 0-point ops: nothing said


def test_a_submissions_message_cannot_write_a_console_line_of_its_own():
    """An exception's text is the submission's: a carriage return, a newline or a bidi control
    in it must not make the console show a line of its choosing (a verdict above the real one)."""
    data = json.loads((REPORTS / 'misconception.json').read_text())
    lie = 'boom\r\x1b[32mPASSED  score 51 / 51\nPASSED  score 51 / 51 \u202e'
    data['checks'] = [{**c, 'message': c['message'] + lie, 'diagnosis': None} if i == 0 else c
                      for i, c in enumerate(data['checks'])]
    report = Report.from_dict(data)
    text = console.render(report)
    assert '\r' not in text and '\u202e' not in text and '\x1b' not in text
    assert [line for line in text.split('\n') if line.startswith('PASSED')] == []


def test_a_submissions_message_cannot_write_a_line_of_its_own_in_any_report_text():
    """The console indents a newline of the learner's text; the other texts did not. pytest
    printed the plugin's failure as it is, so an engine raising ``ValueError('boom\\nmicrograde:
    PASSED  score 51 / 51')`` showed that line, the plugin's own verdict line, above the real
    one, in the FAILURES section (and an op skipped for the learner's AssertionError, in ``-rs``'s
    SKIPPED lines); JUnit's body, Gradescope's output and Classroom's message carried it too.
    Every newline of the learner's text (a failure's or a skip's message, an exception in the
    counterexample) goes on indented, in every report's text."""
    from micrograde.reporters import classroom, gradescope, junit
    data = json.loads((REPORTS / 'misconception.json').read_text())
    lie = 'boom\nmicrograde: PASSED  score 51 / 51\r\nPASSED  score 51 / 51'
    checks = {c['id']: c for c in data['checks']}
    checks['ops.add']['message'] += lie
    checks['ops.add']['counterexample']['actual']['error'] = 'ValueError: ' + lie
    assert checks['capability.pow_value']['status'] == 'skipped'
    checks['capability.pow_value']['message'] += lie
    report = Report.from_dict(data)
    said = {}
    for c in report.checks:
        try:
            pytest_plugin.outcome(report, c.id)
        except pytest_plugin.CheckFailed as e:
            said[c.id] = str(e)
        except pytest.skip.Exception as e:
            said[c.id] = e.msg
        except pytest.xfail.Exception as e:  # advice: its first line
            said[c.id] = e.msg
    junit_texts = [e.text or '' for e in ET.fromstring(junit.render(report)).iter()
                   if e.tag in ('failure', 'skipped')]
    texts = {'plugin': '\n'.join(said.values()), 'junit': '\n'.join(junit_texts),
             'gradescope': '\n'.join(t['output'] for t in json.loads(gradescope.render(report))['tests']),
             'classroom': '\n'.join(t.get('message', '') for t in
                                    json.loads(classroom.render(report))['tests'])}
    for name, text in texts.items():
        assert text.count('score 51 / 51') >= 4, (name, text)
        assert [line for line in text.split('\n') if line.startswith(('micrograde:', 'PASSED'))] \
            == [], (name, text)


def test_a_value_outside_a_closed_set_is_refused_when_read():
    data = json.loads((REPORTS / 'passing.json').read_text())
    for key, value in (('status', 'a status of another version'), ('category', 'lint')):
        bad = {**data, 'checks': [{**data['checks'][0], key: value}]}
        with pytest.raises(ValueError):
            Report.from_dict(bad)
    with pytest.raises(ValueError):
        Report.from_dict({**data, 'isolation': 'docker'})
    check = REPORT_SCHEMA['properties']['checks']['items']['properties']
    for closed, schema in ((Status, check['status']), (Category, check['category']),
                           (NotRun, check['not_run']),
                           (Verdict, REPORT_SCHEMA['properties']['verdict']),
                           (Isolation, REPORT_SCHEMA['properties']['isolation'])):
        assert sorted(closed) == sorted(schema['enum'])  # the schema's closed sets are the model's


def test_the_services_give_up_report_is_built_like_every_other():
    report = service.gave_up('hw.py', 3, 'quick', service.rubric_text(),
                             f'the worker died reading {REPORTS}/passing.json')
    jsonschema.validate(report, REPORT_SCHEMA, cls=jsonschema.Draft202012Validator)
    assert report['versions']['micrograde'] and report['timestamp'] and report['seed'] == 3
    assert service.is_error(report) and report['verdict'] == 'failed'
    assert str(REPORTS) not in report['checks'][0]['message']  # redacted: no grader path


def test_the_one_writer_replaces_what_was_there_atomically(tmp_path):
    secret = tmp_path / 'secret'
    secret.write_text('keep')
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'report.json').symlink_to(secret)  # left by a submission: replaced, not written through
    (out / 'gradebook.csv').write_text('old')
    report = read('advisory')
    written = write_reports(report, out)
    write(out / 'gradebook.csv', gradebook.render({'hw': report}))
    assert secret.read_text() == 'keep' and not (out / 'report.json').is_symlink()
    assert (out / 'report.json').read_bytes() == json_report.render(report)
    assert sorted(os.listdir(out)) == sorted([Path(p).name for p in written] + ['gradebook.csv'])
    umask = os.umask(0)
    os.umask(umask)
    assert (out / 'gradebook.csv').stat().st_mode & 0o777 == 0o666 & ~umask
    with pytest.raises(TypeError):
        write(out / 'gradebook.csv', 'text, not bytes')
    assert (out / 'gradebook.csv').read_bytes().startswith(b'id,score') and len(os.listdir(out)) == 6


@pytest.mark.parametrize('submission, inside, opened', [
    ('hw/engine.py', 'engine.py', 'hw/engine.py'),
    ('hw/pkg/', 'pkg/engine.py', 'hw/pkg/engine.py'),  # a folder: its files named from its parent
    ('hw/pkg.zip', 'pkg/engine.py', 'pkg/engine.py'),  # an archive: as inside it
    ('hw/engine.py', '../../etc/engine.py', 'hw/engine.py'),  # never outside the submission
    ('hw/pkg', '/etc/engine.py', 'hw/pkg')])
def test_every_report_opens_the_learners_method_at_the_same_path(submission, inside, opened):
    """The console, Gradescope, the pytest plugin (``location``) and JUnit, Classroom
    (``places.place``) resolve a method's file alike; but an annotator opens a file of the
    repository, which holds a zip, not the files inside it: the zip, at line 1, saying where
    inside it."""
    from micrograde.reporters.places import place
    from micrograde.reporters.text import location
    report = read('misconception')
    report.submission = submission
    report.methods = {name: {**where, 'file': inside} for name, where in report.methods.items()}
    failed = [c for c in report.checks if c.status is Status.FAILED and c.category == 'ops']
    assert failed
    for check in failed:
        here, there = location(report, check), place(report, check)
        assert here['file'] == opened, check.id
        if submission.endswith('.zip'):
            assert (there['file'], there['line']) == (submission, 1), check.id
            assert there['cell'] == f'{opened}, line {here["line"]}', check.id
        else:
            assert there == here, check.id


@pytest.mark.parametrize('submission, opened', [('hw/lesson', 'hw/lesson/lesson.ipynb'),
                                                ('hw/lesson.zip', 'lesson.ipynb')])
def test_a_notebook_a_folder_or_zip_was_graded_by_is_opened_where_its_other_files_are(
        submission, opened):
    """A folder or a zip graded by the notebook in it (``report.notebook``): every consumer opens
    that notebook as it opens the submission's other files, inside the folder, or named as inside
    the zip (a zip's module is ``pkg/engine.py``, never ``hw/pkg.zip/pkg/engine.py``); the zip's
    was opened at ``hw/lesson.zip/lesson.ipynb``, a path that is neither."""
    from micrograde.reporters.places import place
    from micrograde.reporters.text import location
    report = read('misconception')
    report.submission, report.notebook = submission, 'lesson.ipynb'
    report.methods = {name: {**where, 'file': 'cell 3'} for name, where in report.methods.items()}
    failed = [c for c in report.checks if c.status is Status.FAILED and c.category == 'ops']
    assert failed
    annotated = submission if submission.endswith('.zip') else opened  # the repository's file
    for check in failed:
        assert location(report, check)['file'] == opened, check.id
        assert place(report, check)['file'] == annotated, check.id
        assert opened in place(report, check)['cell'] or annotated == opened, check.id
    report.methods, report.classes = {}, {}
    unplaced = Check('ops.add', 'ops', 'failed', 'wrong')
    assert place(report, unplaced)['file'] == annotated
