"""JUnit XML that Jenkins' xunit plugin accepts and every CI shows right, with the standard library.

Valid against xunit's ``junit-10.xsd`` (the schema Jenkins validates JUnit files against, and
pytest's ``junit_family=xunit2`` targets); junit-xml is not used because it always writes a
``disabled`` attribute that schema rejects, so xunit skipped every micrograde report.

* One ``testsuite`` per category and file of the learner's code, with ``file`` (the only place
  junit-10.xsd allows one), ``time`` (three decimals at most, its SUREFIRE_TIME), ``timestamp``
  and ``hostname``, and the grading's properties; one ``testcase`` per check, named without its
  category (the classname carries it), with the check's measured duration.
* A failure's ``type`` is the kind of bug (dorny/test-reporter shows ``type: message``); its body
  has the counterexample, expected vs actual and, last, the learner's line (``places.place``:
  for a notebook, the line of the ``.ipynb`` file) in the two forms the GitHub annotators read
  (``frames``), so every failure, of every category, is annotated at the learner's code.
* Advisory findings are ``<skipped type="micrograde.advisory">`` with the finding in the body,
  as pytest writes an xfail (``<skipped type="pytest.xfail">``): Jenkins counts it skipped and
  keeps the build stable (a failure makes it UNSTABLE), GitLab lists it as skipped and shows the
  body as its details, dorny/test-reporter shows it skipped (failure or error mean failed),
  action-junit-report makes it a notice (with ``include_passed`` and ``annotate_notice``) and never
  fails the check run; its name ends ``(advisory)``, so dorny's list tells it from an op that is
  not implemented. A failure element, whatever its attributes, is red in all four.
* A skipped check (``<skipped type="micrograde.skipped">``, the reason in its message and body)
  is named ``(not run)`` or ``(skipped)`` (``text.suffix``): action-junit-report's notice for it was
  a passed test's, word for word. Like ``(advisory)``, the suffix changes the test's name when
  the outcome changes (a CI's history of that test starts again): a name must say what a
  consumer shows by name only.
"""
import math
import os
import socket
import xml.etree.ElementTree as ET

from micrograde.model.results import Outcome
from micrograde.reporters.places import place
from micrograde.reporters.text import clean, continued, failure_text, kind, suffix

OUTPUT_LIMIT = 4096


def _seconds(x):
    """``12.345``: junit-10.xsd's SUREFIRE_TIME allows no exponent and at most three decimals;
    rounded up, so a check that took any time shows it (``0.001``, not ``0.000``)."""
    return f'{math.ceil(max(0.0, float(x)) * 1000 - 1e-6) / 1000:.3f}'


def frames(where):
    """The last lines of a failure's body, one per annotator's rule, both at the learner's line:

    * action-junit-report (``resolveFileAndLine``, src/testParser.ts): with the suite's ``file``
      and no ``line`` it takes the last match of `` [^ ]*<file>.*?:(\\d+)`` in the body;
    * dorny/test-reporter's java-junit parser (``exceptionThrowSource``/``getFilePath``,
      src/parsers/java-junit/java-junit-parser.ts) reads the first line matching
      ``at <package>.<Class>...(<file name>:<line>)`` whose file name is a file git tracks
      and whose package names that file's last folders (lowercase parts, up to the first
      capital), the first such file git lists: so a line per package ``_packages`` finds, the
      most precise first (``hw2.micrograd`` before ``micrograd``, which ``hw1/micrograd`` also
      ends in), and a file at the top of a repository, having no folder, is never resolved by
      it (and gets no such line: the folders are the path's as the report names it, never the
      renderer's working folder)."""
    spot = f'{where["file"]}:{where["line"]}' + (f'; {where["cell"]}' if where['cell'] else '')
    return '\n'.join([clean(f'at {where["method"]} ({spot})'), *java_frames(where)])


def java_frames(where):
    """The lines of ``frames`` that dorny/test-reporter's java-junit parser reads (pytest's own
    JUnit of the plugin's checks carries them too)."""
    label = where['method'] if where['method'][:1].isupper() else 'Submission.' + where['method']
    return [clean(f'at {package}.{label}({os.path.basename(where["file"])}:{where["line"]})')
            for package in _packages(where['file'])]


def _packages(file):
    """The packages dorny can read as the folders of ``file``, the most precise first: each
    run of its last folders whose names dorny keeps whole (a first character above ``Z``, no
    ``.``), the longest first; none for a file with no such folder."""
    kept = []
    for folder in reversed(os.path.dirname(os.path.normpath(file)).split('/')):
        if not folder or folder[0] <= 'Z' or '.' in folder:
            break
        kept.insert(0, folder)
    return ['.'.join(kept[k:]) for k in range(len(kept))]


def _body(report, check):
    where = place(report, check)
    return failure_text(check) + ('\n\n' + frames(where) if where else '')


#: Failures first, then advice, then the rest, in each suite and across suites: with
#: ``include_passed`` action-junit-report annotates every test, and a check run takes only the
#: first 50 annotations (``annotations.slice(0, 50)``, src/annotator.ts).
def _rank(check):
    outcome = check.outcome
    return 0 if outcome.failure else 1 if outcome is Outcome.ADVICE else 2


#: The element each outcome gets in its testcase: (tag, type, message prefix); a pass gets none.
ELEMENTS = {Outcome.FAILED: ('failure', None, ''), Outcome.ERROR: ('error', None, ''),
            Outcome.ADVICE: ('skipped', 'micrograde.advisory', 'advisory: '),
            Outcome.SKIPPED: ('skipped', 'micrograde.skipped', '')}


def _case(report, check):
    outcome = check.outcome
    name = clean(check.id.split('.', 1)[-1]) + suffix(check)
    case = ET.Element('testcase', classname=f'micrograde.{check.category}', name=name,
                      time=_seconds(check.duration))
    if outcome in ELEMENTS:
        tag, type_, prefix = ELEMENTS[outcome]
        ET.SubElement(case, tag, type=type_ or kind(check),
                      message=prefix + clean(check.message.split('\n')[0])).text = \
            continued(check.message) if outcome is Outcome.SKIPPED else _body(report, check)
    if check.output:
        ET.SubElement(case, 'system-out').text = clean(check.output, OUTPUT_LIMIT)
    return case


def _properties(report):
    """The grading's facts, on the first suite."""
    props = ET.Element('properties')
    for name, value in (('submission', report.submission), ('verdict', report.verdict),
                        ('score', f'{report.score:g}'), ('max_score', f'{report.max_score:g}'),
                        ('seed', report.seed), ('profile', report.profile),
                        ('isolation', report.isolation),
                        ('unprotected', ' '.join(report.protections.get('unprotected', []))),
                        ('micrograde', report.versions.get('micrograde', ''))):
        ET.SubElement(props, 'property', name=name, value=clean(value))
    return props


def _suites(report):
    """``[(category, file, checks)]``: a suite per category and file of the learner's code, so
    the suite's ``file`` (the only place junit-10.xsd allows one) is each case's file."""
    groups = {}
    for check in report.checks:
        where = place(report, check)
        groups.setdefault((check.category, where['file'] if where else report.submission),
                          []).append(check)
    suites = [(category, file, sorted(checks, key=_rank)) for (category, file), checks in
              groups.items()]
    return sorted(suites, key=lambda suite: _rank(suite[2][0]))


def render(report):
    host = socket.gethostname()
    root = ET.Element('testsuites', name='micrograde')
    for category, file, checks in _suites(report):
        cases = [_case(report, c) for c in checks]
        suite = ET.SubElement(root, 'testsuite', name=f'micrograde.{category}',
                              tests=str(len(cases)),
                              failures=str(sum(c.find('failure') is not None for c in cases)),
                              errors=str(sum(c.find('error') is not None for c in cases)),
                              skipped=str(sum(c.find('skipped') is not None for c in cases)),
                              time=_seconds(sum(c.duration for c in checks)),
                              timestamp=report.timestamp or '1970-01-01T00:00:00', hostname=host,
                              file=clean(file))
        if len(root) == 1:
            suite.append(_properties(report))
        suite.extend(cases)
        if category == 'load' and report.output:
            ET.SubElement(suite, 'system-out').text = clean(report.output, OUTPUT_LIMIT)
    for total in ('tests', 'failures', 'errors'):
        root.set(total, str(sum(int(suite.get(total)) for suite in root)))
    root.set('time', _seconds(report.timings.get('total', sum(c.duration for c in report.checks))))
    ET.indent(root)
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding='unicode')
            + '\n').encode('utf-8')
