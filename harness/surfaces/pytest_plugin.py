"""pytest plugin for course repositories: ``pytest --micrograde=path/to/engine.py``.

Every check micrograde has becomes one pytest item (``micrograde::ops.add``), so pytest's own
reports (terminal, ``--junitxml``, IDEs, CI) list each one: a failure shows the diagnosis, the
counterexample, expected vs actual and the learner's method; an advisory finding is an xfail
(pytest's own "known, not counted"); a check that does not apply is skipped.

The submission is graded once per test session, on first use, never at collection (collection
imports neither torch nor grading): the first process to need it grades under a file lock and
leaves the report as JSON in a folder named after the session, which every xdist worker of the
same run reads. Options: ``--micrograde PATH`` (or the ini option ``micrograde``),
``--micrograde-profile`` (default ``standard``, as ``micrograde grade``; ini ``micrograde_profile``),
``--micrograde-seed``, ``--micrograde-rubric`` (ini ``micrograde_rubric``: a path from the root, as
``micrograde``'s), ``--micrograde-out DIR`` (micrograde's own reports as well). The fixture ``micrograde_report`` is the ``Report``.

``Submission(path).point(check_id, k, count)`` is a plain test function's: the ``k``-th of the
``count`` points of a check, passing where the grade kept it, what ``micrograde classroom-tests``
writes for GitHub Classroom's python grader (``check(check_id)``: a whole check).
"""
import os
import tempfile
import uuid
from pathlib import Path

import pytest

from micrograde.grader.config import PROFILES, SECRET, Config, course_secret, seeding
from micrograde.model.results import Outcome

ITEM_PREFIX = 'micrograde'


class CheckFailed(Exception):
    """A required check failed; ``str`` is the readable explanation."""


def _cache_dir(run_id):
    return Path(tempfile.gettempdir(), f'micrograde-pytest-{os.getuid()}', run_id)


def graded(path, run_id, profile=Config.profile, seed=None, rubric=None, out=None, name=None):
    """The report for ``path`` (named ``name`` in it: the path as the repository names it, as
    ``micrograde grade`` run there names it): graded by the first caller of this run, read by
    the others."""
    from filelock import FileLock

    from micrograde.reporters import json_report, write, write_reports
    folder = _cache_dir(run_id)
    folder.mkdir(parents=True, exist_ok=True)
    cached = folder / 'report.json'
    with FileLock(str(folder / 'grading.lock')):
        if cached.exists():
            return json_report.read(cached)
        from micrograde.grader.grading import safe_grade
        from micrograde.grader.rubric import Rubric
        config = Config(profile=profile, rubric=Rubric.load(rubric), **seeding(seed))
        report = safe_grade(str(path), config=config, name=name or str(path))
        write(cached, json_report.render(report))  # first: every item reads it, none grades again
        if out:
            write_reports(report, out)
        return report


def outcome(report, check_id):
    """Turn one check of a report into pytest's outcome: return, skip, xfail or ``CheckFailed``."""
    from micrograde.reporters.text import clean, continued
    found = [c for c in report.checks if c.id == check_id]
    if not found:
        raise CheckFailed(f'{check_id} was not reported for {report.submission}')
    c = found[0]
    if c.outcome is Outcome.ADVICE:
        pytest.xfail(f'advisory: {clean(c.message.splitlines()[0])}')
    if c.outcome is Outcome.SKIPPED:  # shown at the submission, not at this file of the grader's
        raise pytest.skip.Exception(continued(c.message), _use_item_location=True)
    if c.outcome.failure:
        raise CheckFailed(_failure(report, c))


def _failure(report, c):
    """A failed check's text, ending, as micrograde's JUnit does, in the frame dorny/test-reporter
    reads from pytest's --junitxml: the learner's file and line."""
    from micrograde.reporters.junit import java_frames
    from micrograde.reporters.places import place
    from micrograde.reporters.text import failure_text, location
    where = place(report, c)
    return '\n'.join([failure_text(c, location(report, c)), *(java_frames(where) if where else [])])


def withheld(report, check_id, k=1, count=1):
    """Why the grade did not keep point ``k`` of the ``count`` points of ``check_id`` (a check
    keeps its points passed, or failing as another's consequence under ``charge = "cause"``),
    or ``None`` where it did. A check not run that was worth points lost them: the python grader
    counts a skipped test as passed, its share of the points given, so it says why instead."""
    from micrograde.reporters.text import clean
    c = next((c for c in report.checks if c.id == check_id), None)
    if c is None:
        return f'{check_id} was not reported for {report.submission}'
    kept = count if c.outcome is Outcome.PASSED or not c.max_score else \
        round(c.score / c.max_score * count)
    if k <= kept:
        return None
    if c.outcome.failure:
        return _failure(report, c)
    return f'{c.id}: {clean(c.message)} (0 of its {c.max_score:g} points)'


class Submission:
    """A submission for plain test functions (GitHub Classroom's python grader reads ``def
    test_*`` from source): graded on the first ``check``, once per process, then each check
    runs from that report. A test module holds one; ``micrograde classroom-tests`` writes it."""

    def __init__(self, path, name=None, profile=Config.profile, seed=None, rubric=None):
        self.path, self.name, self.profile, self.seed, self.rubric = path, name, profile, seed, rubric
        self.report = None

    def _graded(self):
        if self.report is None:
            self.report = graded(self.path, uuid.uuid4().hex, self.profile, self.seed, self.rubric,
                                 name=self.name)
        return self.report

    def check(self, check_id):
        """The whole check, as the plugin's item, but a skipped check worth points fails
        saying why (a skip is a pass to the python grader)."""
        report = self._graded()
        c = next((c for c in report.checks if c.id == check_id), None)
        if c is not None and c.outcome is Outcome.SKIPPED and c.max_score:
            raise CheckFailed(withheld(report, check_id))
        outcome(report, check_id)

    def point(self, check_id, k, count):
        """Point ``k`` of the ``count`` the check is worth (``micrograde classroom-tests``)."""
        why = withheld(self._graded(), check_id, k, count)
        if why:
            raise CheckFailed(why)


# --- the plugin -------------------------------------------------------------------------------

def pytest_addoption(parser):
    group = parser.getgroup('micrograde', 'grade a micrograd-style engine, one test per check')
    group.addoption('--micrograde', metavar='PATH', help='The submission to grade: a .py file, '
                    'a notebook, a package folder or a .zip.')
    group.addoption('--micrograde-profile', default=None, choices=list(PROFILES),
                    help=f'How hard to fuzz (default: {Config.profile}, as `micrograde grade`).')
    group.addoption('--micrograde-seed', type=int, default=None, help=f'Seed (default {Config.seed}, or with ${SECRET} set, one drawn from it and the '
                    'submission, as `micrograde grade`).')
    group.addoption('--micrograde-rubric', metavar='FILE', default=None,
                    help='TOML rubric (default: the lecture).')
    group.addoption('--micrograde-out', metavar='DIR', default=None,
                    help="Also write micrograde's own reports (report.json, junit.xml ...) here.")
    parser.addini('micrograde', 'The submission to grade, like --micrograde.')
    parser.addini('micrograde_profile', 'quick, standard or thorough, like --micrograde-profile.')
    parser.addini('micrograde_rubric', 'The course\'s TOML rubric, like --micrograde-rubric.')


#: the options that only mean something with a submission to grade
WITH_SUBMISSION = ('micrograde_profile', 'micrograde_seed', 'micrograde_rubric', 'micrograde_out')


def pytest_configure(config):
    path = config.getoption('micrograde') or config.getini('micrograde')
    given = [o for o in WITH_SUBMISSION if config.getoption(o) is not None]
    if not path and given:
        # pytest puts a path argument's folder into its rootdir (``--micrograde-rubric FILE``
        # too), and looks for the ini file that names the submission from there
        option = '--' + given[0].replace('_', '-')
        ini = config.inipath or 'none'
        raise pytest.UsageError(
            f'{option} needs a submission: --micrograde PATH or `micrograde = PATH` in the ini '
            f'file (pytest\'s rootdir is {config.rootpath}, its ini file {ini}). A path given as '
            f'`{option} FILE` takes part in choosing that folder; write `{option}=FILE`.')
    if path:
        workerinput = getattr(config, 'workerinput', None)  # an xdist worker: the run's id
        run_id = workerinput['testrunuid'] if workerinput else \
            getattr(config.option, 'testrunuid', None) or uuid.uuid4().hex
        if not workerinput and hasattr(config.option, 'testrunuid'):
            # xdist's controller hands its workers this id (else one of its own): the summary
            # it prints reads the grading they share by it
            config.option.testrunuid = run_id
        config.pluginmanager.register(Session(config, path, run_id), 'micrograde-session')


@pytest.fixture(scope='session')
def micrograde_report(pytestconfig):
    """micrograde's ``Report`` of the submission (graded once per session)."""
    session = pytestconfig.pluginmanager.get_plugin('micrograde-session')
    if session is None:
        raise pytest.UsageError('micrograde_report needs a submission: pytest --micrograde PATH '
                                '(or the ini option micrograde)')
    return session.report()


class Session:
    """The submission of this test session, its items and its one grading."""

    def __init__(self, config, path, run_id):
        root = Path(config.rootpath)
        self.path = Path(path) if Path(path).is_absolute() else root / path
        # named as the repository names it (every report's file paths follow), as `micrograde
        # grade PATH` run from its root names it: GitHub's annotators open that path
        self.name = os.path.relpath(self.path, root) if self.path.is_relative_to(root) else path
        self.run_id = run_id
        self.plain = []  # the modules holding its checks as plain tests (classroom-tests)
        self.profile = config.getoption('micrograde_profile') or \
            config.getini('micrograde_profile') or Config.profile
        self.seed = config.getoption('micrograde_seed')
        ini = config.getini('micrograde_rubric')  # a path from the root, as the submission's
        self.rubric = config.getoption('micrograde_rubric') or (str(root / ini) if ini else None)
        self.out = config.getoption('micrograde_out')
        _usable(self.rubric, self.out)

    def report(self):
        return graded(self.path, self.run_id, self.profile, self.seed, self.rubric, self.out, self.name)

    def pytest_report_header(self, config):
        return f'micrograde: {self.name} (profile {self.profile}, seed {_seed(self.seed)}; graded once, ' \
               f'on first use)'

    def pytest_terminal_summary(self, terminalreporter):
        """The score, as every other surface shows it (the rubric's, not a count of items:
        a failure explained by another keeps its points), once the submission was graded."""
        if self.plain:
            terminalreporter.write_line(f'micrograde: its checks ran as the tests of '
                                        f'{", ".join(self.plain)} (micrograde classroom-tests), '
                                        f'not as items of their own')
        cached = _cache_dir(self.run_id) / 'report.json'
        if cached.exists():
            from micrograde.reporters import json_report
            from micrograde.reporters.text import beside_score, bugs
            r = json_report.read(cached)
            found = bugs(r)  # what is wrong, as the console counts it, not one item per check
            if found:
                terminalreporter.write_line(f'micrograde: {found}')
            why = beside_score(r)  # as the console says it: a verdict failed with every point
            terminalreporter.write_line(f'micrograde: {r.verdict.upper()}  score {r.score:g} / '
                                        f'{r.max_score:g}' + (f' ({why})' if why else ''))

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session, config, items):
        """The checks, as items, reported collected like any (the terminal's ``collected N
        items`` counts collect reports). Not where the run holds the same checks as plain tests
        (a module of ``micrograde classroom-tests``, its ``Submission``): each check would be
        there twice, graded twice, and GitHub Classroom's python grader, which runs those
        modules, reads every test's source by its node id's file (``micrograde``: none) and
        stopped at the first item with an internal error, the tests after it unrun."""
        from micrograde.checks import check_ids  # the registry: no torch, no grading
        self.plain = sorted({item.nodeid.split('::')[0] for item in items
                             if _holds_submission(getattr(item, 'module', None))})
        if self.plain:
            return
        parent = Checks.from_parent(session, name=ITEM_PREFIX, nodeid=ITEM_PREFIX, submission=self)
        made = [CheckItem.from_parent(parent, name=i, check_id=i) for i in ['load', *check_ids()]]
        config.hook.pytest_collectreport(report=pytest.CollectReport(parent.nodeid, 'passed', None,
                                                                     made))
        items.extend(made)


class Checks(pytest.Collector):
    """The parent of the check items (they are made at collection, not collected from files)."""

    def __init__(self, *, submission, **kw):
        super().__init__(**kw)
        self.submission = submission

    def collect(self):
        return []


class CheckItem(pytest.Item):
    def __init__(self, *, check_id, **kw):
        super().__init__(**kw)
        self.check_id = check_id

    def runtest(self):
        outcome(self.parent.submission.report(), self.check_id)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, CheckFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        """At the submission as the repository names it (a skip is shown there, at its first
        line, in the terminal and in pytest's JUnit), never a file of ours."""
        return self.parent.submission.name, 0, f'micrograde {self.check_id}'


def _holds_submission(module):
    """Whether a test ``module`` grades through a ``Submission`` of its own (as the module
    ``micrograde classroom-tests`` writes does)."""
    return module is not None and any(isinstance(v, Submission) for v in vars(module).values())


def _usable(rubric, out):
    """A rubric that cannot be read or an out folder that cannot be written is a usage error of
    the run, said once, before anything is graded: else every item, advisory ones too, failed
    with the grader's traceback, and each graded the submission again (the report was not kept)."""
    problem = None
    if rubric:
        from micrograde.grader.rubric import Rubric
        from micrograde.model.errors import RubricError
        try:
            Rubric.load(rubric)
        except RubricError as e:
            problem = f'--micrograde-rubric: {e}'
    if out and not problem:
        from micrograde.reporters import unwritable
        why = unwritable(out)
        problem = why and f'--micrograde-out: {why}'
    if problem:
        raise pytest.UsageError(problem)


def _seed(seed):
    return seed if seed is not None else (f'drawn from ${SECRET}' if course_secret() else Config.seed)
