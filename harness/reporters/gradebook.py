"""Gradebooks of a whole batch: the plain CSV, and Canvas's and Moodle's grade import formats.

Every cell is written safe for spreadsheets (OWASP "CSV Injection"): a cell that starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``, so a submission named
``=HYPERLINK(...)`` is text, not a live formula. Every row has the rubric's one maximum.

* Canvas (Grades > Import): ``Student, ID, SIS User ID, SIS Login ID, Section`` then one column
  per assignment; a ``Points Possible`` row under the header gives its maximum.
* Moodle (Grades > Import > CSV file): a user column mapped at import ("ID number" to
  ``useridnumber`` or "Email address" to ``useremail``) and the grade item's column, with its
  feedback beside it (Moodle's docs: import grade and feedback together, or lose the grades):
  the verdict, the score, the bugs (``text.bugs``), the failing checks and the points in checks
  not run (``text.unrun``) or, where grading did not stop, in checks skipped
  (``text.skipped_points``: an op not written).
"""
import csv
import io
import unicodedata

from micrograde.model import names
from micrograde.model.results import CATEGORIES, Outcome
from micrograde.reporters.text import bugs, skipped_points, unrun

ROSTER_COLUMNS = ('file', 'student_id')  # required; optional: name, email, section, login_id
FORMULA_START = ('=', '+', '-', '@', '\t', '\r')


def cell(value):
    """A CSV cell a spreadsheet shows as text, never runs as a formula: one that starts like one
    (``FORMULA_START``), also after what an import may trim first (spaces, controls such as
    NUL, invisible format characters: ``' =cmd|...'``, a submission's file name) or fold (a
    full-width ``＝``, NFKC's ``=``)."""
    text = str(value)
    shown = next((c for c in text if c.isprintable() and not c.isspace()), '')  # its first seen
    return "'" + text if text.startswith(FORMULA_START) or \
        unicodedata.normalize('NFKC', shown).startswith(FORMULA_START) else text


#: The start of a roster's key for a student whose row names no file (an LMS's class list, the
#: file column left empty for who handed in nothing): no submission's id holds a NUL, as no
#: file name does, so it names them as absent and never matches a submission.
UNFILED = '\0'


def roster_label(key, row):
    """How the batch's summary and the class page name a roster's student: by their file
    (``zed.py (s99)``), or where their row names none, by their name (``Dan, no file (s5)``)."""
    sid = (row or {}).get('student_id')
    if key.startswith(UNFILED):
        who = (row or {}).get('name')
        return f'{who}, no file ({sid})' if who else f'no file ({sid})'
    return f'{key} ({sid})' if sid else key


def read_roster(path):
    """``{submission file or folder name: {'student_id', 'name', 'email', 'section', 'login_id'}}``
    from a CSV with at least the columns ``file`` and ``student_id`` (separated by commas, or as
    a spreadsheet may save it, semicolons or tabs). A roster an LMS could not import as meant is
    a ``ValueError`` naming its rows: a row with no student id (no LMS row matches it), a file
    named twice (which student?), a student id given two files (two grades for one student)."""
    try:
        with open(path, newline='', encoding='utf-8-sig') as f:
            text = f.read()
        header = text.split('\n', 1)[0].rstrip('\r')
        delimiter = max(',;\t', key=header.count) if any(map(header.count, ',;\t')) else ','
        reader = csv.DictReader(io.StringIO(text, newline=''), delimiter=delimiter,
                                skipinitialspace=True)  # 'file, student_id', ', "Liddell, Alice"'
        reader.fieldnames = [(f or '').strip() for f in reader.fieldnames or []]
        rows = [(reader.line_num, r) for r in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ValueError(f'cannot read the roster {path}: {e}') from None
    missing = [c for c in ROSTER_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f'the roster {path} needs the columns {", ".join(ROSTER_COLUMNS)} '
                         f'(missing: {", ".join(missing)}; its header reads {header[:200]!r})')
    students, lines, ids, problems, unfiled = {}, {}, {}, [], {}
    for line, r in rows:
        name = (r['file'] or '').strip().rstrip('/\\')  # 'frank/': the folder frank
        name = name[2:] if name.startswith(('./', '.\\')) else name  # './alice.py'
        student = {k: (r.get(k) or '').strip() for k in ('student_id', 'name', 'email', 'section',
                                                         'login_id')}
        if not name:  # a student with no file to their name: nothing handed in
            if student['student_id']:
                unfiled.setdefault(UNFILED + student['student_id'], student)
            continue
        lines.setdefault(name, []).append(line)
        if student['student_id']:
            ids.setdefault(student['student_id'], []).append(name)
        students[name] = student
    students.update({key: s for key, s in unfiled.items() if s['student_id'] not in ids})
    unnamed = [f'line {lines[n][-1]} ({n})' for n, s in students.items() if not s['student_id']]
    if unnamed:
        problems.append(f'no student_id on {_listed(unnamed)}')
    problems += [f'{name} is on lines {_listed([str(n) for n in at])}'
                 for name, at in lines.items() if len(at) > 1]
    problems += [f'student_id {sid} is given {_listed(names)}'
                 for sid, names in ids.items() if len(set(names)) > 1]
    if problems:
        raise ValueError(f'the roster {path} does not map each submission to one student: '
                         f'{"; ".join(problems[:10])}{"; …" if len(problems) > 10 else ""} (one row '
                         f'per submission, each with its own student_id, as an LMS imports them).')
    return students


def _listed(items):
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    return ', '.join(items[:-1]) + ' and ' + items[-1] if len(items) > 1 else items[0]


def _plain(reports, roster, assignment):
    """id (and, with a roster, student_id), score, max_score, verdict, per category, findings."""
    student = ['student_id'] if roster else []
    yield ['id', *student, 'score', 'max_score', 'verdict', *CATEGORIES, 'failing_checks',
           'advisory_findings']
    for sub_id, r in reports.items():
        per = {c: sum(ch.score for ch in r.checks if ch.category == c) for c in CATEGORIES}
        yield [sub_id, *([roster.get(sub_id, {}).get('student_id', '')] if roster else []),
               f'{r.score:g}', f'{r.max_score:g}', r.verdict, *(f'{per[c]:g}' for c in CATEGORIES),
               _ids(r, lambda o: o.failure), _ids(r, lambda o: o is Outcome.ADVICE)]


def _canvas(reports, roster, assignment):
    yield ['Student', 'ID', 'SIS User ID', 'SIS Login ID', 'Section', assignment]
    yield ['Points Possible', '', '', '', '', f'{_maximum(reports):g}']
    for sub_id, r in reports.items():
        s = roster[sub_id]
        yield [s['name'], '', s['student_id'], s['login_id'], s['section'], f'{r.score:g}']


def _moodle(reports, roster, assignment):
    yield ['ID number', 'Email address', assignment, f'{assignment} (feedback)']
    for sub_id, r in reports.items():
        s = roster[sub_id]
        failing, found = _ids(r, lambda o: o.failure), bugs(r)
        yield [s['student_id'], s['email'], f'{r.score:g}',
               f'{r.verdict}: {r.score:g} / {r.max_score:g}' + (f'; {found}' if found else '')
               + (f'; failing: {failing}' if failing else '')
               + (f'; {unrun(r) or skipped_points(r)}' if unrun(r) or skipped_points(r) else '')]


def _ids(report, shown):
    """The ids of the checks whose outcome is ``shown``, space-separated."""
    return ' '.join(c.id for c in report.checks if shown(c.outcome))


def _maximum(reports):
    return max((r.max_score for r in reports.values()), default=0.0)


#: gradebook format -> (file name, rows; ``needs_roster``: an LMS matches rows by student id)
FORMATS = {'plain': ('gradebook.csv', _plain, False),
           'canvas': ('gradebook-canvas.csv', _canvas, True),
           'moodle': ('gradebook-moodle.csv', _moodle, True)}


def render(reports, name='plain', roster=None, assignment='micrograd'):
    """The CSV bytes of one gradebook format (``FORMATS``); LMS formats list the roster's
    students only."""
    roster = roster or {}
    _, rows, needs_roster = FORMATS[name]
    chosen = {k: r for k, r in reports.items() if k in roster} if needs_roster else reports
    text = io.StringIO(newline='')
    csv.writer(text).writerows([cell(v) for v in row] for row in rows(chosen, roster, assignment))
    return names.decodable(text.getvalue()).encode('utf-8')


def unrostered(reports, roster):
    """The ids of submissions a roster does not name (none without a roster)."""
    return [k for k in reports if k not in roster] if roster else []
