"""The grading loop over the registry, with a session that runs the reference engine in this
process: every check reported once, in the registry's order, each with its own duration."""
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from micrograde import reference
from micrograde import Config, grade
from micrograde.isolate.answers import RESULTS, Loaded
from micrograde.checks import CHECKS, check_ids
from micrograde.checks.registry import Entry, ordered, passed
from micrograde.grader.config import Settings
from micrograde.reporters import write_reports
from micrograde.model.results import CATEGORIES
from micrograde.worker import tasks
from micrograde.worker.execute import Backend
from micrograde.worker.ops import CAPABILITIES, FORMS, OPS


class InProcess:
    """A ``Session`` whose worker is this process, running the given classes."""
    level = 'in-process'
    restarts = 0
    interfered = ''  # it follows the protocol: it is the protocol
    scratch = None  # no scratch folder of its own to redact
    tampered = ''  # no guard: nothing between it and the grader

    def __init__(self, classes):
        self.classes, self.settings = classes, Settings()
        self.backend = Backend(classes['Value'])
        self.sent = []

    def load(self, meanwhile=None):
        if meanwhile is not None:
            meanwhile(lambda: True)
        return Loaded(classes={role: 'reference' for role in self.classes})

    def run(self, task, items, timeout=None, meanwhile=None):
        self.sent.append(task)
        answers = [tasks.run(task, i, self.classes, self.backend) for i in items]
        return [RESULTS[task].parse(a, '', i) for a, i in zip(answers, items)]

    def close(self):
        return ''


ENGINE = {'Value': reference.Value, 'Neuron': reference.Neuron, 'Layer': reference.Layer,
          'MLP': reference.MLP}


def test_reference_engine_passes_every_registered_check_each_timed(tmp_path):
    report = grade(session=InProcess(ENGINE), config=Config(profile='quick'), name='reference')
    ids = [c.id for c in report.checks]
    assert report.verdict == 'passed', [(c.id, c.message) for c in report.failures]
    # everything applies to a complete engine: the same checks any submission is reported
    assert ids == ['load'] + check_ids()
    assert all(c.status == 'passed' for c in report.checks), report.failures
    assert all(c.duration > 0 for c in report.checks)
    order = [CATEGORIES.index(c.category) for c in report.checks]
    assert order == sorted(order)
    assert {'probe', *CATEGORIES} <= set(report.timings)
    written = write_reports(report, tmp_path)
    assert sorted(Path(p).name for p in written) == ['classroom.json', 'junit.xml', 'report.html',
                                                      'report.json', 'results.json']
    times = [float(case.get('time')) for case in ET.parse(tmp_path / 'junit.xml').iter('testcase')]
    assert len(times) == len(report.checks) and all(t > 0 for t in times)


def test_a_grader_bug_in_one_check_costs_that_check_only(monkeypatch):
    from micrograde.checks import registry
    broken = next(e for e in CHECKS if e.id == 'fuzz.dags')

    def crash(ctx):
        raise RecursionError('maximum recursion depth exceeded')
    import micrograde.grader.grading
    monkeypatch.setattr(micrograde.grader.grading, 'CHECKS', [
        registry.Entry(e.id, crash, e.default) if e is broken else e for e in CHECKS])
    report = grade(session=InProcess(ENGINE), config=Config(profile='quick'), name='reference')
    status = {c.id: c.status for c in report.checks}
    assert status.pop('fuzz.dags') == 'error'
    assert set(status.values()) == {'passed'} and list(status) == ['load'] + [
        c for c in check_ids() if c != 'fuzz.dags']
    message = {c.id: c.message for c in report.checks}['fuzz.dags']
    assert 'micrograde itself failed in this check' in message and 'RecursionError' in message
    assert ', at grader/grading.py:' in message and 'File "' not in message, message  # where in
    # the package, relative to it: no traceback, no folder of the grader's own


def test_without_an_mlp_the_mlp_checks_say_so_once():
    report = grade(session=InProcess({'Value': reference.Value}), config=Config(profile='quick'))
    mlp = [c for c in report.checks if c.category == 'mlp']
    assert [(c.id, c.status) for c in mlp][:1] == [('mlp.build', 'skipped')]
    # the others are listed once each as not run, worth their points, so the total stays the same
    assert all(c.status == 'skipped' and c.message.startswith('not run') for c in mlp[1:])
    assert report.verdict == 'passed' and report.max_score == Config().rubric.total()


def leaf_untouched(ctx):
    """A new check, as a learner of this code base would write it in its category's module."""
    return passed('a leaf nobody used keeps grad 0')


#: its row in the list, after the other backward checks
NEW = Entry('backward.leaf_untouched', leaf_untouched)


def _with_new():
    at = [e.id for e in CHECKS].index('backward.repeat') + 1
    return ordered((*CHECKS[:at], NEW, *CHECKS[at:]))


def test_adding_a_check_means_a_row_in_the_ordered_list():
    ids = check_ids(_with_new())
    assert ids[ids.index('backward.repeat') + 1] == 'backward.leaf_untouched'
    # listed out of its category's order, or twice, it is refused
    with pytest.raises(ValueError, match='order of results.CATEGORIES'):
        ordered((NEW, *CHECKS))
    with pytest.raises(ValueError, match='each check once'):
        ordered((*CHECKS, CHECKS[-1]))
    # a row naming no category, or no default, is refused where it is written
    for bad in ({'id': 'leaf.untouched'}, {'id': 'backward.leaf', 'default': 'optional'}):
        with pytest.raises(ValueError, match='category one of'):
            Entry(run=leaf_untouched, **bad)


def test_a_new_check_runs_in_grading_and_is_reported_in_its_place(monkeypatch):
    import micrograde.grader.grading
    monkeypatch.setattr(micrograde.grader.grading, 'CHECKS', _with_new())
    report = grade(session=InProcess(ENGINE), config=Config(profile='quick'), name='reference')
    ids = [c.id for c in report.checks]
    new = ids.index('backward.leaf_untouched')
    assert ids[new - 1] == 'backward.repeat' and ids[new + 1] == 'fuzz.dags'
    assert report.checks[new].status == 'passed' and report.checks[new].message == \
        'a leaf nobody used keeps grad 0'


def test_each_check_id_starts_with_its_category_and_is_unique():
    ids = check_ids()
    assert len(ids) == len(set(ids))
    assert {entry.category for entry in CHECKS} == set(CATEGORIES) - {'load'}
    assert all(i.partition('.')[0] in CATEGORIES for i in ids)


def test_every_op_has_a_reference_implementation_and_a_check():
    for op in OPS.values():
        assert op.method is (op.dunder is None)
        assert getattr(reference.Value, op.name if op.method else op.dunder, None), op.name
        assert op.reflected_dunder is None or getattr(reference.Value, op.reflected_dunder)
    assert {f'ops.{c}' for c in FORMS} <= set(check_ids())
    assert {f'capability.{c}' for c in CAPABILITIES} <= set(check_ids())


def test_the_report_schema_lists_the_categories():
    import json
    from conftest import ROOT
    schema = json.loads((ROOT / 'harness/schemas/report.schema.json').read_text())
    assert tuple(schema['properties']['checks']['items']['properties']['category']['enum']) == CATEGORIES


def test_a_new_report_format_is_a_function_of_the_report_and_a_row(tmp_path, monkeypatch):
    """A plain-text score for a course's own dashboard: a function that renders only the
    ``Report`` to bytes, its row in ``reporters.FORMATS`` and its file name for ``--out``
    folders (``write_reports`` writes it, with the one atomic writer)."""
    from micrograde import reporters

    def summary(report):
        return f'{report.verdict} {report.score:g}/{report.max_score:g}\n'.encode()
    monkeypatch.setitem(reporters.FORMATS, 'summary', summary)
    monkeypatch.setitem(reporters.FILENAMES, 'summary', 'summary.txt')
    report = grade(session=InProcess(ENGINE), config=Config(profile='quick'), name='reference')
    written = write_reports(report, tmp_path / 'out', summary=tmp_path / 'alone.txt')
    assert str(tmp_path / 'out' / 'summary.txt') in written
    total = f'{report.max_score:g}'
    assert (tmp_path / 'out' / 'summary.txt').read_text() == f'passed {total}/{total}\n'
    assert (tmp_path / 'alone.txt').read_text() == f'passed {total}/{total}\n'


def test_a_grader_bug_outside_the_checks_is_an_error_report_naming_no_folder(monkeypatch, capsys):
    """``safe_grade`` never raises, and its report says where in micrograde it failed, relative
    to the package: the learner's report shows no traceback, no folder of the grader's own;
    whoever runs the grader gets the traceback on stderr."""
    import micrograde.grader.grading as grading

    def broken(*args, **kwargs):
        raise KeyError('x')
    monkeypatch.setattr(grading, 'grade', broken)
    report = grading.safe_grade('engine.py', config=Config(profile='quick'))
    check = report.checks[0]
    assert (check.id, check.status, report.verdict) == ('grader', 'error', 'failed')
    assert check.message.startswith('micrograde itself failed while grading this submission '
                                    "(KeyError: 'x', at grader/grading.py:"), check.message
    assert 'Traceback' in capsys.readouterr().err
