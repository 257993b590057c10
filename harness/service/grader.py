"""The only module of the service that imports the grader: grading, reports, formats, limits.

Everything else in ``harness.service`` speaks in bytes, dicts and JSON text, so the grader's
internals can move without the service noticing anything but this file.
"""
import csv
import io
import json
import shutil
import tempfile
from pathlib import Path

from ..batch import GRADABLE, fingerprint as _fingerprint, write_gradebook
from ..reporters import gradescope, json_report, junit
from ..results import Check, Report
from ..rubric import Rubric, RubricError

SUFFIXES = GRADABLE  # what a submission may be: .py, .ipynb, .zip
# report name -> (reporter module, media type); 'html' only once a reporter for it exists
FORMATS = {'report.json': (json_report, 'application/json'),
           'report.xml': (junit, 'application/xml'),
           'results.json': (gradescope, 'application/json')}
try:
    from ..reporters import html as _html
    FORMATS['report.html'] = (_html, 'text/html; charset=utf-8')
except ImportError:
    pass


class BadRubric(ValueError):
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
    from ..grade import Config
    return Config(seed=seed, profile=profile, rubric=_rubric(rubric))


def fingerprint(filename, data, seed, profile, rubric):
    """The grader's fingerprint of a submission: its content, rubric, seed, profile, version."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, filename)
        path.write_bytes(data)
        return _fingerprint(path, _config(seed, profile, rubric))


def grade(filename, data, seed, profile, rubric):
    """The report (a dict) of a submission, graded as ``micrograde grade FILENAME`` would.

    Uses this process's warm template, kept between jobs."""
    from ..batch import _template
    from ..cli import safe_grade
    config = _config(seed, profile, rubric)
    scratch = tempfile.mkdtemp(prefix='micrograde-job-')
    try:
        path = Path(scratch, filename)
        path.write_bytes(data)
        return safe_grade(str(path), None, config, filename,
                          _template(config.settings.isolation)).to_dict()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def gave_up(filename, seed, profile, rubric, message):
    """An error report: the grader did not grade the submission, and says why."""
    report = Report(submission=filename, seed=seed, profile=profile)
    report.checks.append(Check('grader', 'load', 'error', message))
    return _rubric(rubric).apply(report).to_dict()


def is_error(report):
    """Whether a report says the grader could not grade (rather than a grade)."""
    return any(c['id'] == 'grader' and c['status'] == 'error' for c in report['checks'])


def render(report_json, name):
    """``(bytes, media type)`` of one report format, ``None`` when no reporter writes it."""
    if name not in FORMATS:
        return None
    module, media = FORMATS[name]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, name)
        module.write(Report.from_dict(json.loads(report_json)), path)
        return path.read_bytes(), media


def gradebook(reports):
    """The gradebook CSV text for ``{row id: report JSON}``."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, 'gradebook.csv')
        write_gradebook({k: Report.from_dict(json.loads(v)) for k, v in reports.items()}, path)
        return path.read_text(encoding='utf-8')


def table(reports):
    """Rows of the gradebook as dicts (for the staff page)."""
    return list(csv.DictReader(io.StringIO(gradebook(reports))))
