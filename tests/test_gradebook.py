"""Gradebooks as a spreadsheet and an LMS read them: no cell runs as a formula, one maximum on
every row, students from the roster, Canvas's and Moodle's import columns."""
import csv
import io

import pytest

from conftest import SUBMISSIONS
from micrograde.reporters import gradebook
from micrograde.model.results import Check, Report
from micrograde.grader.rubric import Rubric
from micrograde.checks import check_ids

HOSTILE_NAMES = ['=HYPERLINK("evil","click").py', '+1+2.py', '-3.py',
                 '@SUM(A1).py', '\tx.py', '\rcr.py']


def reports(names):
    rubric = Rubric.load()
    out = {}
    for k, name in enumerate(names):
        r = Report(submission=name)
        r.checks.append(Check('load', 'load', 'passed' if k % 2 == 0 else 'failed',
                              '=cmd|" /C calc"!A0' if k else 'loaded'))
        out[name] = rubric.apply(r)
    return out


def read(data):
    return list(csv.reader(io.StringIO(data.decode('utf-8'), newline='')))


def test_no_cell_starts_like_a_formula_and_every_row_has_one_maximum(tmp_path):
    graded = reports(HOSTILE_NAMES)
    rows = read(gradebook.render(graded))
    cells = [c for row in rows[1:] for c in row]
    assert not [c for c in cells if c.startswith(gradebook.FORMULA_START)]
    assert [row[0] for row in rows[1:]] == ["'" + n for n in HOSTILE_NAMES]
    header = rows[0]
    assert {row[header.index('max_score')] for row in rows[1:]} == {f'{Rubric.load().total():g}'}


#: Formulas behind what a spreadsheet's import may trim or fold before reading a cell.
HIDDEN_FORMULAS = [' =HYPERLINK("evil","click").py', '\n+1+2.py', '\x00=1+1', '\u200b@SUM(A1).py',
                   '\ufeff=cmd|" /C calc"!A0', '\u3000-3', '\uff1dcmd|" /C calc"!A0.py', '\xa0=1']


def test_no_cell_hides_a_formula_behind_what_an_import_trims_or_folds():
    """A submission named `` =HYPERLINK(...)`` (a space first) or `＝cmd|...` (a full-width
    equals sign), a roster name starting with NUL: a spreadsheet that trims spaces and controls
    on import, or folds full-width forms, ran it as a formula; each is text now. A plain name
    that only contains such characters keeps its cell as it is."""
    graded = reports(HIDDEN_FORMULAS + ['a =b.py', ' plain.py'])
    rows = read(gradebook.render(graded))
    assert [row[0] for row in rows[1:]] == ["'" + n for n in HIDDEN_FORMULAS] + ['a =b.py', ' plain.py']
    roster = {name: {'student_id': name, 'email': name} for name in HIDDEN_FORMULAS}
    moodle = read(gradebook.render(graded, 'moodle', roster))
    assert [row[:2] for row in moodle[1:]] == [["'" + n] * 2 for n in HIDDEN_FORMULAS]


def test_roster_maps_files_to_students_and_lms_formats_import_them(tmp_path):
    names = ['alice.ipynb', 'bob.py', 'stray.py']
    roster = tmp_path / 'roster.csv'
    roster.write_text('file,student_id,name,email,section,login_id\n'
                      'alice.ipynb,1001,"Liddell, Alice",alice@uni.example,A,aliddell\n'
                      'bob.py,=1002,Bob,bob@uni.example,B,bob\n')
    students = gradebook.read_roster(roster)
    graded = reports(names)
    assert gradebook.unrostered(graded, students) == ['stray.py']
    plain = read(gradebook.render(graded, 'plain', students))
    assert [row[:2] for row in plain[1:]] == [['alice.ipynb', '1001'], ['bob.py', "'=1002"],
                                               ['stray.py', '']]
    canvas = read(gradebook.render(graded, 'canvas', students, 'HW1 micrograd'))
    assert canvas[0] == ['Student', 'ID', 'SIS User ID', 'SIS Login ID', 'Section', 'HW1 micrograd']
    assert canvas[1][0] == 'Points Possible' and canvas[1][-1] == f'{Rubric.load().total():g}'
    assert canvas[2] == ['Liddell, Alice', '', '1001', 'aliddell', 'A', '0']
    assert len(canvas) == 4  # the stray submission names no student
    moodle = read(gradebook.render(graded, 'moodle', students, 'HW1 micrograd'))
    assert moodle[0] == ['ID number', 'Email address', 'HW1 micrograd', 'HW1 micrograd (feedback)']
    assert moodle[1][:3] == ['1001', 'alice@uni.example', '0']


def test_a_roster_an_lms_could_not_import_is_refused_naming_its_rows(tmp_path):
    """A roster row with no student id was written to Canvas as a row no student matches, a
    file named twice kept its last student silently, and one student id given two files wrote
    two rows for one student (the LMS keeps one of the grades): each is a usage error naming
    the rows, before anything is graded. A roster a spreadsheet saved with semicolons or tabs
    is read as it is; one without the columns says what its header reads."""
    def refused(text):
        path = tmp_path / 'roster.csv'
        path.write_text(text)
        with pytest.raises(ValueError) as e:
            gradebook.read_roster(path)
        return str(e.value)
    header = 'file,student_id,name\n'
    said = refused(header + 'alice.py,1001,Alice\nbob.py,,Bob\ncarol.py, ,Carol\n')
    assert 'no student_id' in said and 'line 3 (bob.py)' in said and 'line 4 (carol.py)' in said
    said = refused(header + 'alice.py,1001,Alice\nalice.py,1009,Alice Two\n')
    assert 'alice.py' in said and 'lines 2 and 3' in said
    said = refused(header + 'alice.py,1001,Alice\ncarol.ipynb,1001,Carol\n')
    assert 'student_id 1001' in said and 'alice.py' in said and 'carol.ipynb' in said
    said = refused('file|student_id|name\nalice.py|1001|Alice\n')
    assert "its header reads 'file|student_id|name'" in said
    path = tmp_path / 'folders.csv'  # a folder submission written as a path names the folder
    path.write_text('file,student_id\nfrank/,1006\n./grace.ipynb,1007\n')
    assert list(gradebook.read_roster(path)) == ['frank', 'grace.ipynb']
    for sep in (';', '\t', ', '):
        path = tmp_path / 'spreadsheet.csv'
        path.write_text(f'file{sep}student_id{sep}name{sep}section\nalice.py{sep}1001{sep}'
                        f'"Liddell, Alice"{sep}A\n')
        assert gradebook.read_roster(path) == {'alice.py': {
            'student_id': '1001', 'name': 'Liddell, Alice', 'email': '', 'section': 'A',
            'login_id': ''}}


def test_moodle_feedback_says_where_points_went_in_skipped_checks():
    """A learner with no MLP class read "failed: 40 / 51; failing: ops.log" in Moodle: ops.log
    is worth 1 point, and the 10 of the MLP checks (skipped: no MLP class, the rest not run
    for want of it) were nowhere in the feedback, the only text Moodle shows them. Now the
    feedback names the skipped checks that cost points and how many."""
    rubric = Rubric.load()
    r = Report(submission='leo.py')
    special = {'ops.log': Check('ops.log', 'ops', 'failed', 'wrong'),
               'ops.rpow': Check('ops.rpow', 'ops', 'skipped', 'rpow is not implemented'),
               'mlp.build': Check('mlp.build', 'mlp', 'skipped', 'no MLP class'),
               'mlp.forward': Check('mlp.forward', 'mlp', 'skipped',
                                    'not run: what it needs is missing', not_run='needs')}
    r.checks += [special.get(i) or Check(i, i.split('.')[0], 'passed', 'ok')
                 for i in ['load', *check_ids()]]
    graded = {'leo.py': rubric.apply(r)}
    lost = {c.id: c.max_score for c in graded['leo.py'].checks if c.status == 'skipped' and c.max_score}
    assert set(lost) == {'mlp.build', 'mlp.forward'}  # ops.rpow is worth none: not said
    feedback = read(gradebook.render(graded, 'moodle', {'leo.py': {'student_id': 's12', 'email': ''}}))[1][3]
    assert 'failing: ops.log' in feedback
    assert f'{sum(lost.values()):g} point(s) in 2 skipped check(s): mlp.build mlp.forward' in feedback
    assert 'ops.rpow' not in feedback


def test_moodle_feedback_names_the_bug_before_the_checks_it_fails():
    """Moodle's feedback, what a learner reads beside their grade, listed the failing checks
    alone ("failing: ops.add ops.add_const ops.sub_const ops.radd backward.accumulate ..." for
    one wrong rule); it now names the bug first, as the console and Classroom's verdict do."""
    import json
    from pathlib import Path
    from micrograde.reporters import json_report
    graded = Path(__file__).resolve().parent / 'graded' / 'misconception.json'
    report = json_report.read(graded)
    roster = {'hw': {'student_id': '1001', 'email': 'a@uni.example'}}
    feedback = read(gradebook.render({'hw': report}, 'moodle', roster))[1][3]
    assert feedback.startswith(f'failed: {report.score:g} / {report.max_score:g}; 1 bug: ops.add, '
                               'gradient assigned instead of accumulated (__add__); 7 more failing '
                               'checks are its consequences; failing: ops.add ops.add_const'), feedback
    assert json.loads(graded.read_text())['verdict'] == 'failed'


def test_batch_cli_writes_the_lms_gradebooks_from_a_roster(run_cli, tmp_path):
    folder = tmp_path / 'class'
    folder.mkdir()
    (folder / HOSTILE_NAMES[0]).write_text((SUBMISSIONS / 'lecture_engine.py').read_text())
    (folder / 'broken.py').write_text('def oops(:\n')
    roster = tmp_path / 'roster.csv'
    roster.write_text(f'file,student_id\n"{HOSTILE_NAMES[0].replace(chr(34), chr(34) * 2)}",s1\n')
    result = run_cli('batch', folder, '--out', tmp_path / 'out', '--profile', 'quick',
                     '--roster', roster, '--lms', 'canvas', '--lms', 'moodle', '-j', '1')
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'not in the roster' in result.stderr and 'broken.py' in result.stderr
    plain = read((tmp_path / 'out' / 'gradebook.csv').read_bytes())
    assert not [c for row in plain[1:] for c in row if c.startswith(gradebook.FORMULA_START)]
    assert read((tmp_path / 'out' / 'gradebook-canvas.csv').read_bytes())[2][2:3] == ['s1']
    assert run_cli('batch', folder, '--out', tmp_path / 'o2', '--lms', 'canvas').returncode == 2


def test_a_student_in_the_roster_with_nothing_handed_in_is_named(run_cli, tmp_path):
    """A roster's student whose file is not in the class was silently absent: from the summary,
    the LMS gradebooks and the class page (the Canvas import left their grade as it was). The
    summary now names them, with their student id, beside the submissions the roster lacks."""
    folder = tmp_path / 'class'
    folder.mkdir()
    (folder / 'ann.py').write_text((SUBMISSIONS / 'lecture_engine.py').read_text())
    roster = tmp_path / 'roster.csv'
    roster.write_text('file,student_id\nann.py,s1\nzed.py,s99\n')
    result = run_cli('batch', folder, '--out', tmp_path / 'out', '--profile', 'quick',
                     '--roster', roster, '--lms', 'canvas', '-j', '1')
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'in the roster, nothing handed in (no grade in the LMS gradebooks): zed.py (s99)' \
        in result.stderr, result.stderr
    assert 'ann.py' not in result.stderr


def test_a_student_whose_roster_row_names_no_file_is_named_as_handing_in_nothing(run_cli, tmp_path):
    """An LMS's class list with the file column filled for who handed in: a row with a
    student id and no file was dropped without a word (a row with a file not there was
    named), so such a student was absent from the summary and the class page. Now they are
    named, by their name and student id, in both; a row with no file for a student whose file
    is on another row names nothing."""
    folder = tmp_path / 'class'
    folder.mkdir()
    (folder / 'ann.py').write_text((SUBMISSIONS / 'lecture_engine.py').read_text())
    roster = tmp_path / 'roster.csv'
    roster.write_text('file,student_id,name,section\nann.py,s1,Ann,A\n,s5,Dan,B\n,s6,,A\n'
                      ',s1,Ann,A\n')
    result = run_cli('batch', folder, '--out', tmp_path / 'out', '--profile', 'quick',
                     '--roster', roster, '--lms', 'canvas', '-j', '1')
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'nothing handed in (no grade in the LMS gradebooks): Dan, no file (s5), no file (s6)' \
        in result.stderr, result.stderr
    assert set(gradebook.read_roster(roster)) == {'ann.py', gradebook.UNFILED + 's5',
                                                  gradebook.UNFILED + 's6'}
    page = (tmp_path / 'out' / 'index.html').read_text()
    assert 'Dan, no file (s5)' in page and '\0' not in page and '\\x00' not in page
    canvas = read((tmp_path / 'out' / 'gradebook-canvas.csv').read_bytes())
    assert [row[2] for row in canvas[2:]] == ['s1']



def test_a_run_without_an_lms_removes_the_earlier_runs_lms_gradebook(run_cli, tmp_path):
    """Re-running a batch without ``--lms canvas`` left the earlier run's gradebook-canvas.csv,
    its older grades, beside the new gradebook.csv; it is removed, and the summary says so.
    ``-j 0`` is a usage error (it was accepted without a word)."""
    folder = tmp_path / 'class'
    folder.mkdir()
    (folder / 'ann.py').write_text((SUBMISSIONS / 'lecture_engine.py').read_text())
    roster = tmp_path / 'roster.csv'
    roster.write_text('file,student_id\nann.py,s1\n')
    out = tmp_path / 'out'
    assert run_cli('batch', folder, '--out', out, '--profile', 'quick', '--roster', roster,
                   '--lms', 'canvas', '-j', '1').returncode == 0
    assert (out / 'gradebook-canvas.csv').is_file()
    again = run_cli('batch', folder, '--out', out, '--profile', 'quick', '-j', '1')
    assert again.returncode == 0, again.stdout + again.stderr
    assert not (out / 'gradebook-canvas.csv').exists()
    assert 'gradebook-canvas.csv' in again.stdout
    assert run_cli('batch', folder, '--out', out, '-j', '0').returncode == 2


def test_a_roster_names_a_renamed_submission_by_the_file_it_was_handed_in_as(run_cli, tmp_path):
    """``Alice.py`` and ``alice.py`` (two students; one name as a Mac compares names) are graded
    as ``Alice.py-1`` and ``alice.py-2``: the roster, which names the files handed in, matched
    neither, and both students read as "nothing handed in", their grades left out of the LMS
    gradebooks (the suffixes are known only once the batch ran). Each row is its file's now."""
    folder = tmp_path / 'class'
    folder.mkdir()
    (folder / 'alice.py').write_text((SUBMISSIONS / 'lecture_engine.py').read_text())
    (folder / 'Alice.py').write_text('def oops(:\n')
    roster = tmp_path / 'roster.csv'
    roster.write_text('file,student_id,section\nalice.py,s1,A\nAlice.py,s2,B\n')
    result = run_cli('batch', folder, '--out', tmp_path / 'out', '--profile', 'quick',
                     '--roster', roster, '--lms', 'moodle', '-j', '2')
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'nothing handed in' not in result.stderr and 'not in the roster' not in result.stderr, \
        result.stderr
    moodle = {row[0]: row[2] for row in read((tmp_path / 'out' / 'gradebook-moodle.csv').read_bytes())[1:]}
    plain = {row[0]: row[1] for row in read((tmp_path / 'out' / 'gradebook.csv').read_bytes())[1:]}
    assert moodle['s1'] == '51' and moodle['s2'] == '0', moodle
    assert plain == {'Alice.py-1': 's2', 'alice.py-2': 's1'}, plain
