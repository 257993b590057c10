"""The only module of the service that imports the grader: grading, reports, formats, limits.

Everything else in ``micrograde.surfaces.service`` speaks in bytes, dicts and JSON text, so the grader's
internals can move without the service noticing anything but this file.  What needs torch
(grading, fingerprints, the gradebook) is imported on first use: ``micrograde --help`` and
``micrograde token`` stay light.
"""
import csv
import io
import json
import mimetypes
import shutil
import tempfile
from pathlib import Path

from micrograde import __version__
from micrograde.grader.config import PROFILES, Config, course_secret
from micrograde.reporters import FILENAMES, FORMATS as _RENDER
from micrograde.model.results import Report
from micrograde.grader.rubric import Rubric, RubricError

PROFILE_NAMES = tuple(PROFILES)
#: The grader version every job carries: a worker of another version does not grade it.
VERSION = __version__
#: URL name -> report format, for every format the grader can write ('report.html' once an HTML
#: reporter is in the table); JUnit is served as report.xml, beside report.json.
FORMATS = {{'junit': 'report.xml'}.get(f, FILENAMES.get(f, f)): f for f in _RENDER}


class BadRubric(RubricError):
    """A rubric the grader cannot use; ``str`` says why."""


def _rubric(text):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, 'rubric.toml')
        path.write_text(text)
        try:
            return Rubric.load(path)
        except RubricError as e:
            raise BadRubric(str(e).replace(str(path), 'the rubric')) from None


def rubric_text(path=None):
    """The text of a rubric file (the default one without ``path``), validated."""
    try:
        return Rubric.load(path).source
    except RubricError as e:
        raise BadRubric(str(e)) from None


def _config(seed, profile, rubric):
    """The service's seed is its base: with a course secret set (``$MICROGRADE_SECRET``, in the
    API's and the workers' environment alike) each job is graded at a seed drawn from it and the
    submission's content (``grading.seeded``), as ``micrograde grade`` without ``--seed``."""
    return Config(seed=seed, profile=profile, rubric=_rubric(rubric), secret=course_secret())


def suffixes():
    """What a submission may be: .py, .ipynb, .zip."""
    from micrograde.surfaces.batch import GRADABLE
    return GRADABLE


def fingerprint(filename, data, seed, profile, rubric):
    """The grader's fingerprint of a submission: its content, rubric, seed, profile, version."""
    from micrograde.surfaces.batch import fingerprint as _fingerprint
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, filename)
        path.write_bytes(data)
        return _fingerprint(path, _config(seed, profile, rubric))


def warm():
    """A holder of this worker's warm template (``batch.Warm``), to pass to every ``grade``.
    A worker's first call: the job folders of workers gone are removed (``sweep``)."""
    from micrograde.surfaces.batch import Warm
    sweep()
    return Warm()


#: A job's folder (``grade``): the upload, under its worker's pid (``allowlist.own_folder``).
JOB_PREFIX = 'micrograde-job-'


def sweep():
    """Remove the job folders of workers that died mid-job (killed outright, out of memory, or
    exiting as their run gave way with no template to stop it): each held a learner's upload
    in the temporary folder for good (``allowlist.sweep``)."""
    from micrograde.isolate import allowlist
    allowlist.sweep('job')


def grade(filename, data, seed, profile, rubric, warm=None):
    """The report (a dict) of a submission, graded as ``micrograde grade FILENAME`` would.

    With ``warm`` (``warm()``), the job is forked from its template, kept between jobs."""
    from micrograde.grader.grading import safe_grade
    config = _config(seed, profile, rubric)
    from micrograde.isolate import allowlist
    scratch = allowlist.own_folder('job')
    try:
        path = Path(scratch, filename)
        path.write_bytes(data)
        return safe_grade(str(path), None, config, filename,
                          warm and warm.template(config)).to_dict()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def abort(warm):
    """Stop the run in progress: kill every process of the ``warm`` template's jobs, as its own
    timeouts do (its session then finds its worker gone, cannot load the submission again, and
    ends at once).  Whether there is a template to do it with (else the caller must stop its
    process)."""
    from micrograde.isolate.sandbox import kill_uid
    template = warm.running if warm is not None else None
    if template is None:
        return False
    for uid in list(template.uids.values()):
        kill_uid(uid)
    return True


def warm_up(warm):
    """Before the first job: import the grader (torch), start the ``warm`` template and
    fill the caches of the default seed and profile (the fuzz corpus and the oracles' answers)
    by grading the reference engine, so that no learner waits for them.  Returns the isolation
    level jobs get here."""
    from micrograde import reference

    from micrograde.grader.grading import safe_grade
    config = Config()
    engine = Path(reference.__file__).with_name('engine.py')
    return safe_grade(str(engine), None, config, 'warm-up', warm.template(config)).isolation


def gave_up(filename, seed, profile, rubric, message):
    """An error report: the grader did not grade the submission, and says why."""
    from micrograde.grader.grading import not_graded
    return not_graded(filename, _config(seed, profile, rubric), message).to_dict()


def dumps(report):
    """A report dict as the JSON text the job table keeps."""
    return json.dumps(report)


def loads(report_json):
    """A report dict from a worker's JSON text, or ``None`` when it is not one (the API keeps an
    error report instead of a report it cannot read)."""
    try:
        report = json.loads(report_json)
        Report.from_dict(report)
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    ok = isinstance(report.get('score'), (int, float)) and isinstance(report.get('max_score'), (int, float))
    return report if ok and report.get('verdict') in ('passed', 'failed') else None


def is_error(report):
    """Whether a report says the grader could not grade (rather than a grade)."""
    return any(c['id'] == 'grader' and c['status'] == 'error' for c in report['checks'])


def render(report_json, name):
    """``(bytes, media type)`` of one report format, ``None`` when no reporter writes it."""
    if name not in FORMATS:
        return None
    media = mimetypes.guess_type(name)[0] or 'application/octet-stream'
    return (_RENDER[FORMATS[name]](Report.from_dict(json.loads(report_json))),
            media + ('; charset=utf-8' if media.startswith('text/') else ''))


def gradebook(reports):
    """The gradebook CSV text for ``{row id: report JSON}``."""
    from micrograde.reporters import gradebook as book
    return book.render({k: Report.from_dict(json.loads(v)) for k, v in reports.items()}).decode('utf-8')


def class_page(reports, sections=None, href=None):
    """The class pictures (``reporters.classpage``, as the batch's index.html draws them) for
    ``{learner: report JSON}``: filtered by ``{learner: section}``, each learner linked to
    ``href(learner)``."""
    from micrograde.reporters import classpage
    roster = {learner: {'section': section} for learner, section in (sections or {}).items()}
    return classpage.fragment({k: Report.from_dict(json.loads(v)) for k, v in reports.items()},
                              roster, href)


def table(reports):
    """Rows of the gradebook as dicts (for the staff page)."""
    return list(csv.DictReader(io.StringIO(gradebook(reports))))
