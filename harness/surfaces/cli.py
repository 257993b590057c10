"""The ``micrograde`` command: plain functions behind click; every option documented in --help.

The top of the stack: it imports the rest, nothing imports it. Grading (and so torch) is imported
only by the commands that grade, so ``--help`` answers at once.
"""
import atexit
import os
import sys
import threading
from fractions import Fraction
from pathlib import Path

import click
from click.core import ParameterSource

from micrograde import __version__
from micrograde.isolate import sandbox
from micrograde.grader.config import (CLASS_NAMES, ISOLATION_LEVELS, PROFILES, SECRET, Config, Limits,
                                      Settings, seeding)
from micrograde.grader.rubric import Rubric
from micrograde.model.errors import RubricError, UsageError
from micrograde.model.names import shell
from micrograde.surfaces.service.cli import serve, token, worker

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: The least ``--memory-limit``: a worker (Python, its serve thread's stack) needs ~36 MB under
#: bubblewrap before the submission loads, and below that every grade failed, a correct engine's
#: too, as the submission's ("loading failed: the worker exited with code 1").
MIN_MEMORY_MB = 64

#: ``grade`` options that say where reports go and how they look, not how to grade.
REPORT_OPTIONS = ('path', 'module', 'out', 'junit', 'json_path', 'gradescope', 'classroom',
                  'github_output', 'color')


def _classes(pairs):
    names = dict(CLASS_NAMES)
    for pair in pairs:
        role, equals, name = pair.partition('=')
        if not equals or not role or not name:
            raise click.BadParameter(f'{pair!r}: expected ROLE=NAME with ROLE one of '
                                     f'{", ".join(names)}', param_hint='--class')
        if role not in names:
            raise click.BadParameter(f'{pair!r}: {role!r} is not a role: the roles are '
                                     f'{", ".join(names)}', param_hint='--class')
        if not name.isidentifier():
            raise click.BadParameter(f'{pair!r}: {name!r} is not a Python class name',
                                     param_hint='--class')
        names[role] = name
    return names


class Seconds(click.ParamType):
    """A time limit: a number of seconds above 0 and finite. 0, a negative number, nan or inf
    would fail every submission (a correct one 'timed out after -1 s') or overflow the clock."""
    name = 'seconds'

    def convert(self, value, param, ctx):
        seconds = click.FLOAT.convert(value, param, ctx)
        if not 0 < seconds < float('inf'):  # nan is not above 0 either
            self.fail(f'{value!r} is not a number of seconds above 0', param, ctx)
        return seconds


def grade_options(f):
    """Options shared by ``grade`` and ``batch``; their defaults are ``micrograde.grader.config``'s."""
    for option in reversed([
        click.option('--seed', type=int, default=None, help='Seed of the fuzzed graphs, op '
                     'inputs and MLP weights; the same seed, submission and version give the same '
                     f'report. Default: {Config.seed}, or, with ${SECRET} set (a course\'s '
                     'secret), a seed drawn from the secret and each submission\'s content, which '
                     'no learner can know beforehand; each report shows its seed.'),
        click.option('--profile', type=click.Choice(list(PROFILES)), default=Config.profile,
                     show_default=True, help='How hard to look. ' + '; '.join(
                         f'{name}: {budget.summary()}' for name, budget in PROFILES.items()) + '.'),
        click.option('--rubric', type=click.Path(dir_okay=False), default=None,
                     help='TOML rubric: points, required ops, advisory checks, visibility '
                     '(default: the lecture).'),
        click.option('--class', 'class_names', multiple=True, metavar='ROLE=NAME',
                     help='Class name to look for, e.g. --class Value=Scalar (roles: '
                     f'{", ".join(CLASS_NAMES)}).'),
        click.option('--load-timeout', type=Seconds(), default=Settings.load_timeout, show_default=True,
                     help='Seconds a submission may take to load.'),
        click.option('--cell-timeout', type=Seconds(), default=Settings.cell_timeout, show_default=True,
                     help='Seconds each notebook cell may run before the rest of it is skipped.'),
        click.option('--check-timeout', type=Seconds(), default=Settings.check_timeout, show_default=True,
                     help='Seconds of a whole CPU one graph or MLP task may take (a busy host '
                     'gives it more, at most 4x): past it, that graph is not answered and its '
                     'check could not finish; after three such, no more checks run.'),
        click.option('--grade-timeout', type=Seconds(), default=Settings.grade_timeout, show_default=True,
                     help='Seconds of a whole CPU all the checks together may take (a busy '
                     'host gives them more, at most 4x); the check then running could not '
                     'finish, and the checks left are not run (0 points; the grade fails).'),
        click.option('--memory-limit', type=click.IntRange(min=MIN_MEMORY_MB), default=Limits.memory >> 20,
                     show_default=True, help='Megabytes of address space a worker may use (at least '
                     f'{MIN_MEMORY_MB}: a worker needs ~40 before the submission loads).'),
        click.option('--isolation', type=click.Choice(ISOLATION_LEVELS), default=Settings.isolation,
                     show_default=True, help='Worker sandbox: bubblewrap where it runs (auto), '
                     'bubblewrap or nothing, or a plain process.'),
    ]):
        f = option(f)
    return f


def make_config(seed, profile, rubric, class_names, load_timeout, cell_timeout, check_timeout,
                grade_timeout, memory_limit, isolation):
    """The ``Config`` the options describe; anything impossible is a usage error (exit 2)."""
    try:
        loaded_rubric = Rubric.load(rubric)
        sandbox.isolation(isolation)
    except UsageError as e:  # click's BadParameter exits 2, as UsageError.exit_code says
        hint = '--rubric' if isinstance(e, RubricError) else '--isolation'
        raise click.BadParameter(str(e), param_hint=hint) from None
    settings = Settings(classes=_classes(class_names), load_timeout=load_timeout,
                        cell_timeout=cell_timeout, check_timeout=check_timeout,
                        grade_timeout=grade_timeout, isolation=isolation, limits=Limits(memory=memory_limit * 2**20))
    return Config(profile=profile, rubric=loaded_rubric, settings=settings, **seeding(seed))


@click.group()
@click.version_option(__version__, prog_name='micrograde')
def main():
    """Grade micrograd-style autograd engines against torch and a reference engine."""


@main.command()
@click.argument('path', required=False)
@click.option('--module', help='Grade an installed module (e.g. micrograd) instead of a PATH.')
@click.option('--out', type=click.Path(file_okay=False), help='Folder for every report: '
              'junit.xml, report.json, results.json (Gradescope), classroom.json, report.html.')
@click.option('--junit', type=click.Path(dir_okay=False), help='Write JUnit XML here.')
@click.option('--json', 'json_path', type=click.Path(dir_okay=False), help='Write the JSON report here.')
@click.option('--gradescope', type=click.Path(dir_okay=False), help="Write Gradescope's "
              'results.json here.')
@click.option('--classroom', type=click.Path(dir_okay=False), help="Write GitHub Classroom's "
              'runner result (the JSON its grading reporter reads) here.')
@click.option('--github-output', type=click.Path(dir_okay=False), help='Append '
              '`result=<base64 runner result>` and `verdict=<base64 runner result>` to this '
              'file: pass "$GITHUB_OUTPUT" in a workflow step with id micrograde, and give '
              'autograding-grading-reporter `runners: micrograde,verdict` with MICROGRADE_RESULTS '
              'and VERDICT_RESULTS set to those outputs (examples/github-classroom).')
@click.option('--html', type=click.Path(dir_okay=False), help='Write the HTML report (one page, '
              'the failing graphs drawn) here.')
@click.option('--color/--no-color', default=None, help='Colour the summary (default: on a TTY).')
@grade_options
def grade(path, module, out, junit, json_path, gradescope, classroom, github_output, html, color,
          **options):
    """Grade one submission: a .py file, a notebook, a package folder, a .zip or --module NAME.

    Exit status: 0 when every required check passed, 1 when one failed or the submission could
    not be loaded, 2 on a usage error (also a report path that cannot be written: the grade is
    shown and every other report written first).
    """
    if bool(path) == bool(module):
        raise click.UsageError('give exactly one of PATH or --module NAME')
    from micrograde.grader.grading import safe_grade
    from micrograde.reporters import write_reports
    config = make_config(**options)
    reports = {'--junit': junit, '--json': json_path, '--gradescope': gradescope,
               '--classroom': classroom, '--html': html, '--github-output': github_output}
    _not_the_submission(path, reports)
    _one_report_per_file(out, reports)
    report = safe_grade(path, module, config, module or path)
    rerun = _rerun(click.get_current_context(), path, module, report.seed)
    unwritten = []
    written = write_reports(report, out, unwritten, junit=junit, json=json_path,
                            gradescope=gradescope, classroom=classroom, html=html)
    if github_output:
        from micrograde.reporters import cannot_write
        from micrograde.reporters.classroom import output_line
        try:
            with open(github_output, 'a', encoding='utf-8') as f:
                f.write(output_line(report))
        except OSError as e:
            unwritten.append(cannot_write(github_output, e))
    colour = bool(sys.stdout and sys.stdout.isatty()) if color is None else color  # closed: None
    click.echo(_console(report, colour, rerun), nl=False)
    for p in written:
        click.echo(f'wrote {p}')
    for problem in unwritten:  # the grade is shown and every other report written; then a usage error
        click.echo(f'Error: {problem}', err=True)
    sys.exit(EXIT_USAGE if unwritten else EXIT_PASSED if report.verdict == 'passed' else EXIT_FAILED)


def _not_the_submission(path, reports):
    """A usage error (exit 2), before grading, where a report's path is the submission's own
    file (``--json engine.py``): writing the report replaced the learner's code with it."""
    if not path or not os.path.isfile(path):
        return
    for option, target in reports.items():
        if target and os.path.exists(target) and os.path.samefile(target, path):
            raise click.BadParameter(f'{target} is the submission: the report would replace it',
                                     param_hint=option)


def _one_report_per_file(out, reports):
    """A usage error (exit 2), before grading, where two options name one file for different
    reports (``--json r --junit r``, ``--out DIR --json DIR/results.json``): the last written
    replaced the other, and ``--github-output`` appended its lines to a report."""
    from micrograde.reporters import FILENAMES
    option = {'junit': '--junit', 'json': '--json', 'gradescope': '--gradescope',
              'classroom': '--classroom', 'html': '--html'}
    targets = [('--out', option.get(name, name), Path(out, filename))
               for name, filename in FILENAMES.items()] if out else []
    targets += [(flag, flag, Path(target)) for flag, target in reports.items() if target]
    seen = {}
    for flag, kind, target in targets:
        key = os.path.normcase(os.path.realpath(target))
        if key in seen and seen[key][1] != kind:
            raise click.BadParameter(f'{seen[key][0]} and {flag} both name {target}: one would '
                                     f'replace the other', param_hint=flag)
        seen.setdefault(key, (flag, kind))


def _rerun(ctx, path, module, seed):
    """The command that grades the same way: the submission, the ``seed`` it was graded at and
    the profile, and every grading option given (where the reports go is left out)."""
    words = ['micrograde', 'grade', shell(path) if path else f'--module {shell(module)}']
    for param in ctx.command.params:
        if param.name not in ctx.params or param.name in REPORT_OPTIONS:
            continue
        if param.name not in ('seed', 'profile') and \
                ctx.get_parameter_source(param.name) is ParameterSource.DEFAULT:
            continue
        value = seed if param.name == 'seed' else ctx.params[param.name]
        for v in (value if param.multiple else [value]):
            words += [param.opts[0], shell(str(v))]
    return ' '.join(words)


def _console(report, colour, rerun):
    from micrograde.reporters import console
    return console.render(report, colour, rerun)


@main.command()
@click.argument('paths', nargs=-1, required=True)
@click.option('--out', type=click.Path(file_okay=False), required=True,
              help='Folder for each submission\'s reports and gradebook.csv.')
@click.option('-j', '--jobs', default=2, show_default=True, type=click.IntRange(min=1),
              help='Submissions graded at once.')
@click.option('--roster', type=click.Path(dir_okay=False, exists=True),
              help='CSV mapping each submission to a student: columns file (the file or folder '
              'name) and student_id; optional name, email, section, login_id.')
@click.option('--lms', type=click.Choice(['canvas', 'moodle']), multiple=True,
              help='Also write the gradebook in this LMS\'s import format '
              '(gradebook-canvas.csv, gradebook-moodle.csv); needs --roster.')
@click.option('--assignment', default='micrograd', show_default=True,
              help='The assignment\'s column name in the LMS gradebooks.')
@grade_options
def batch(paths, out, jobs, roster, lms, assignment, **options):
    """Grade every submission in the given folders or zips (one per file or sub-folder).

    Writes OUT/<id>/{junit.xml,report.json,results.json,classroom.json,report.html} (<id>: the
    file or folder's name, suffixed -1, -2 ... where another submission or a class-level output
    has it, as the summary says), OUT/gradebook.csv (every cell safe to open in a spreadsheet) and OUT/index.html (sortable,
    the most common problems on top). Submissions whose content, rubric, seed, profile and
    grader version are unchanged keep their reports.
    Exit status: 0 when the batch ran (whatever the grades), 2 on a usage error (also when
    the paths hold nothing to grade).
    """
    from micrograde.surfaces.batch import Batch, CLASS_PAGE
    from micrograde.reporters.gradebook import read_roster, roster_label
    config = make_config(**options)
    if lms and not roster:
        raise click.BadParameter('an LMS gradebook needs --roster (its student ids)',
                                 param_hint='--lms')
    _writable(out)
    try:
        names = read_roster(roster) if roster else None
        work = Batch(paths, out, config, ('plain', *lms), names, assignment)
        work.roster = names = _by_id(names, work.submissions)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    if not work.submissions:  # a wrong folder, most likely: said, not '0 graded' and exit 0
        with work:
            skipped = ''.join(f'; {line}' for line in work.notes())
        raise click.UsageError(f'nothing to grade in {", ".join(paths)}: no .py file, notebook, '
                               f'.zip or folder{skipped}')
    state = {'failed': 0, 'reused': 0}
    with work, click.progressbar(length=len(work.submissions), label='grading', show_eta=True,
                                 show_pos=True, file=sys.stderr) as bar:
        def progress(sub_id, report, reused):
            state['failed'] += report.verdict != 'passed'
            state['reused'] += reused
            bar.label = f'grading ({state["failed"]} failing, {state["reused"]} unchanged)'
            bar.update(1)
        try:
            reports = work.run(jobs, progress)
        except OSError as e:  # the disk under --out is full: those written are kept
            raise click.ClickException(f'the reports could not be written in {out}: '
                                       f'{e.strerror or e}; those written are kept: run the batch '
                                       f'again once there is room') from None
    passed = sum(r.verdict == 'passed' for r in reports.values())
    click.echo(f'{len(reports)} graded: {passed} passed, {len(reports) - passed} failed; '
               f'{state["reused"]} unchanged since the last run. Gradebook: '
               f'{Path(out, "gradebook.csv")}; class page: {Path(out, CLASS_PAGE)}')
    for line in work.notes():
        click.echo(line)
    if work.unrostered:
        click.echo(f'not in the roster (left out of the LMS gradebooks): '
                   f'{", ".join(work.unrostered)}', err=True)
    absent = [roster_label(name, row) for name, row in (names or {}).items() if name not in reports]
    if absent:  # the roster names them by the file they were to hand in: none was there
        click.echo(f'in the roster, nothing handed in (no grade in the LMS gradebooks): '
                   f'{", ".join(absent)}', err=True)


def _by_id(roster, submissions):
    """The roster keyed by each submission's id: a row naming the file a submission was handed
    in as, which the batch renamed (another has its name as a Mac compares names, ``Alice.py``
    and ``alice.py``: ``alice.py-2``), is that submission's. Keyed by the file alone, both
    students read as having handed in nothing and both grades were left out of the LMS
    gradebooks, the suffixes being known only once the batch ran."""
    if not roster:
        return roster
    ids = {sub_id for sub_id, _ in submissions}
    named = [(sub_id, Path(path).name) for sub_id, path in submissions]
    handed = [name for _, name in named]
    keyed = dict(roster)
    for sub_id, name in named:
        if sub_id != name and name in keyed and sub_id not in keyed and name not in ids \
                and handed.count(name) == 1:
            keyed[sub_id] = keyed.pop(name)
    return keyed


def _writable(folder):
    """A usage error (exit 2) before anything is graded where the folder for the reports cannot
    be made or written in (a file in its path, no permission), naming it as given."""
    from micrograde.reporters import unwritable
    problem = unwritable(folder)
    if problem:
        raise click.BadParameter(problem, param_hint='--out')


@main.command('classroom-tests')
@click.option('--out', type=click.Path(dir_okay=False), required=True,
              help='The test file to write; GitHub Classroom\'s python grader runs files named '
              '*_test.py, e.g. tests/micrograde_test.py.')
@click.option('--submission', required=True, help='The file or folder learners hand in, as a '
              'path from the repository root (e.g. micrograd.ipynb).')
@click.option('--profile', type=click.Choice(list(PROFILES)), default=Config.profile, show_default=True,
              help='How hard to fuzz when the tests run (as `micrograde grade`: the same grade).')
@click.option('--rubric', type=click.Path(dir_okay=False), default=None,
              help='The course\'s TOML rubric, as a path from the repository root (e.g. '
              'grading/rubric.toml; default: the lecture): the tests are its points and grade '
              'with it, as `micrograde grade --rubric`.')
def classroom_tests(out, submission, profile, rubric):
    """Write a plain pytest file with one `def test_*` per point of the rubric, for GitHub
    Classroom's python grader (it reads test functions from source, runs only *_test.py files
    and gives every test an equal share of its max-score, a whole number: give it the rubric's
    total; a total that is not whole is a usage error). Each test passes where the grade kept
    its point; the submission is graded once per run."""
    from micrograde.checks import check_ids
    if not Path(out).name.endswith('_test.py'):
        raise click.BadParameter('the python grader only runs files named *_test.py',
                                 param_hint='--out')
    try:
        loaded = Rubric.load(rubric)
    except RubricError as e:
        raise click.BadParameter(str(e), param_hint='--rubric') from None
    worth = [(i, loaded.worth(i, i.partition('.')[0]) if loaded.graded(i) else 0.0)
             for i in ['load', *check_ids()]]
    unposted = _python_grader_cannot_post(worth)
    if unposted:
        raise click.BadParameter(unposted, param_hint='--rubric')
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    here = Path(out).resolve().parent
    target = os.path.relpath(Path(submission).resolve(), here)
    text = classroom_test_module(worth, target, profile, submission,
                                 rubric and os.path.relpath(Path(rubric).resolve(), here))
    Path(out).write_text(text)
    click.echo(f'wrote {out}: {text.count(chr(10) + "def test_")} tests of {submission} '
               f'(give the python grader max-score {loaded.total():g})')


def _python_grader_cannot_post(worth):
    """Why Classroom's python grader cannot post the grade's points for checks worth ``worth``
    (``[(check id, points)]``), or ``''``. It reads its max-score as a whole number (its
    ``bin/run.py``: ``type=int``; "invalid int value: '29.5'" and no result at all) and gives
    every test ``max-score / tests``, so the tests must be one per point unit."""
    from micrograde.reporters.classroom import MAX_TESTS, unit
    points = [p for _, p in worth if p > 0]
    total = sum(points)
    if abs(total - round(total)) > 1e-9 * max(1.0, total):  # thirds as floats add up to 1.0
        return (f"this rubric's total, {total:g} points, is not a whole number: GitHub "
                f"Classroom's python grader takes a whole max-score (and refuses to run with "
                f"another). Make the total whole, or grade with the workflow that hands "
                f"`micrograde grade --github-output` to Classroom's grading reporter "
                f"(examples/github-classroom/classroom.yml), which posts any points.")
    if points and unit(points) is None:
        return (f"this rubric's points would make more than {MAX_TESTS} tests of one point unit "
                f"each (the python grader gives every test the same share of its max-score): "
                f"give every check a multiple of a larger unit, or grade with the workflow that "
                f"hands `micrograde grade --github-output` to Classroom's grading reporter "
                f"(examples/github-classroom/classroom.yml).")
    return ''


def classroom_test_module(worth, submission, profile, name, rubric=None):
    """A plain test module, ``submission`` relative to it and ``name`` (the path from the
    repository's root) naming it in the reports, as ``micrograde grade`` names it (it imports
    pytest's side of micrograde when it runs; writing it needs neither). ``worth`` is
    ``[(check id, points)]``: the python grader gives each test the same share and counts a
    skipped one as passed, so each check worth points is as many tests as its points (in
    ``classroom.unit``s, as Classroom's runner result), each passing where the grade kept it;
    the points posted are the grade's. A check worth none is no test (a passing test would
    add to the total, a failing one take from it), unless none is worth points: then one test
    per check says the verdict. ``rubric``, relative to the module as ``submission``, is the
    one the tests grade with (default: the lecture's)."""
    from micrograde.reporters.classroom import unit
    head = (f'"""micrograde\'s checks as plain tests, for GitHub Classroom\'s python grader.\n\n'
            f'Written by `micrograde classroom-tests`: regenerate it rather than edit it. The\n'
            f'submission is graded once per run; see each failure for what to fix.\n"""\n'
            f'from pathlib import Path\n\nfrom micrograde.surfaces.pytest_plugin import Submission\n\n'
            f'SUBMISSION = Submission(Path(__file__).resolve().parent / {submission!r}, {name!r}, '
            f'{profile!r}' + (f',\n                        rubric=Path(__file__).resolve().parent '
                              f'/ {rubric!r}' if rubric else '') + ')\n')
    graded = [(i, points) for i, points in worth if points > 0]
    size = unit(points for _, points in graded)
    tests = []
    for i, points in graded:
        count = round(Fraction(str(points)) / size) if size else 1
        tests += [f'\n\ndef test_{i.replace(".", "_")}{f"_point_{k}" if count > 1 else ""}():\n'
                  f'    SUBMISSION.point({i!r}, {k}, {count})\n' for k in range(1, count + 1)]
    if not graded:
        tests = [f'\n\ndef test_{i.replace(".", "_")}():\n    SUBMISSION.check({i!r})\n'
                 for i, _ in worth]
    return head + ''.join(tests)


for _command in (serve, worker, token):  # the grading service's commands
    main.add_command(_command)


def run():
    """The ``micrograde`` program: ``main``, then an exit that skips the interpreter's teardown,
    which freed every object a grade made (~30-60 ms of each cold grade) after everything was
    written.  What ``atexit`` holds (the import view's folders) is done first, and a program
    that leaves threads running (the service) exits as Python does."""
    _standard_descriptors()
    try:
        main()
        code = 0
    except SystemExit as e:
        if not isinstance(e.code, (int, type(None))) or threading.active_count() > 1:
            raise
        code = e.code or 0
    atexit._run_exitfuncs()
    for stream in filter(None, (sys.stdout, sys.stderr)):  # a stream closed at start: None
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(code)


def _standard_descriptors():
    """Descriptors 0-2 open, on /dev/null where one was closed at start (``>&-``): else the
    first pipe the grader makes for its worker is one of them, which the worker's own standard
    streams then take over (its load failed: 'the worker closed its pipe')."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)  # the lowest free descriptor: this one


if __name__ == '__main__':
    run()
