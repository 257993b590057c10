"""The class page (reporters/classpage.py): one renderer for the batch's index.html and the
service's class page, drawn as inline SVG; checked as Chromium draws it, on the examples' class
graded by a real ``micrograde batch`` with a roster of two sections."""
import csv
import html
import io
import json
import re
import shutil
from collections import defaultdict
from urllib.parse import unquote

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from conftest import ARTEFACTS, SUBMISSIONS, screenshot
from micrograde import __version__
from micrograde.reporters import classpage
from micrograde.model.results import Check, Code, Misconception, Report
from micrograde.surfaces.service.api import ServiceConfig, create_app
from micrograde.surfaces.service.jobs import Jobs
from micrograde.surfaces.service.tokens import Tokens

SECTIONS = ('Monday', 'Thursday "B" <i>')
HOSTILE = ('<script>.py', '"><svg onload=alert(1)>.py', "it's \"quoted\" & <b>.py")


# --- what the page must show, worked out from the reports alone ------------------------------

def bins(reports):
    """The histogram's nonzero bins: score as a percent of the maximum, tens, full marks in 90s."""
    counts = defaultdict(int)
    for r in reports.values():
        counts[min(int(100 * r['score'] / r['max_score'] // 10), 9)] += 1
    return dict(counts)


def misconceptions(reports):
    """``{code: {submission}}``: the required root causes' codes, symptoms left out."""
    who = defaultdict(set)
    for name, r in reports.items():
        for c in r['checks']:
            m = c['misconception']
            if (c['status'] in ('failed', 'error') and c['required'] and not c['consequence_of']
                    and m and m['code'] != Code.GRADIENTS_DISAGREE):
                who[m['code']].add(name)
    return dict(who)


def marks(reports):
    """``{mark: count}`` of the check x submission matrix."""
    checks = list(dict.fromkeys(c['id'] for r in reports.values() for c in r['checks']))
    counts = defaultdict(int)
    for r in reports.values():
        by_id = {c['id']: c for c in r['checks']}
        for check in checks:
            c = by_id.get(check)
            if c is None or c['not_run']:  # not run: drawn as a check the report lacks
                counts['absent'] += 1
            elif c['status'] in ('failed', 'error'):
                counts['advice' if not c['required'] else
                       'explained' if c['consequence_of'] else 'failed'] += 1
            else:
                counts[c['status']] += 1
    return dict(counts), len(checks)


# --- the examples' class, graded once --------------------------------------------------------

@pytest.fixture(scope='module')
def graded(tmp_path_factory):
    """``micrograde batch submissions/ --roster`` (two sections, every other submission)."""
    from conftest import in_process
    tmp = tmp_path_factory.mktemp('class')
    names = sorted(p.name for p in SUBMISSIONS.iterdir()
                   if not p.name.startswith(('.', '_')) and (p.is_dir() or p.suffix in ('.py', '.ipynb')))
    roster = tmp / 'roster.csv'
    with open(roster, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['file', 'student_id', 'section'])
        for k, name in enumerate(names):
            w.writerow([name, f's{k}', SECTIONS[k % 2]])
    out = tmp / 'out'
    result = in_process('batch', SUBMISSIONS, '--out', out, '--roster', roster, '-j', 2)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    reports = {name: json.loads((out / name / 'report.json').read_text()) for name in names}
    sections = {s: {n: reports[n] for k, n in enumerate(names) if SECTIONS[k % 2] == s}
                for s in SECTIONS}
    return out, reports, sections


def shot(locator, name):
    """A screenshot of one picture as an RGB array, kept with the other artefacts."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    locator.screenshot(path=str(ARTEFACTS / name))
    return np.asarray(Image.open(ARTEFACTS / name).convert('RGB')).astype(int)


def red(px):
    return (px[..., 0] > 140) & (px[..., 1] < 90) & (px[..., 2] < 100)


def blue(px):
    return (px[..., 2] > 120) & (px[..., 0] < 90) & (px[..., 2] - px[..., 1] > 40)


def green(px):
    return (px[..., 1] > 90) & (px[..., 0] < 80) & (px[..., 1] - px[..., 2] > 30)


def dark(px):
    """Pixels dark in grey: what a reader without colour sees."""
    return px.mean(axis=-1) < 170


def bar_runs(pixels, row):
    """How many separate bars cross one row of pixels (runs of the histogram's bar colour)."""
    line = np.all(np.abs(pixels[row] - (0x4a, 0x66, 0x90)) < 24, axis=-1).astype(int)
    return int(np.sum(np.diff(np.concatenate([[0], line])) == 1))


def test_examples_class_draws_histogram_misconceptions_and_matrix(graded, page_of):
    out, reports, _ = graded
    page, _ = page_of(out / 'index.html')
    whole = page.locator('#class-all')
    assert whole.is_visible()
    screenshot(page, 'classpage.png')

    # the histogram: one bar per nonzero bin, as tall as its count, and as many bars drawn
    want = bins(reports)
    bars = whole.locator('svg.histogram rect.histogram-bar')
    assert bars.count() == len(want)
    heights = sorted(bars.nth(k).bounding_box()['height'] for k in range(bars.count()))
    tallest = max(want.values())
    for count, height in zip(sorted(want.values()), heights):
        assert abs(height - 150 * count / tallest) < 1.5
    pixels = shot(whole.locator('svg.histogram'), 'classpage-histogram.png')
    box = whole.locator('svg.histogram').bounding_box()
    base = round(bars.first.bounding_box()['y'] + bars.first.bounding_box()['height'] - box['y'])
    assert bar_runs(pixels, base - 2) == len(want)  # the drawn bars, counted in the picture

    # misconceptions: one row per root code in the class, most common first, with who shows it
    want = misconceptions(reports)
    rows = whole.locator('tr.misconception')
    assert rows.count() == len(want) >= 8
    seen = [rows.nth(k).get_attribute('data-code') for k in range(rows.count())]
    assert set(seen) == set(want) and Code.GRADIENTS_DISAGREE not in seen
    assert [len(want[c]) for c in seen] == sorted((len(v) for v in want.values()), reverse=True)
    for k, code in enumerate(seen):
        names = {a.inner_text() for a in rows.nth(k).locator('a').all()}
        assert names == want[code]
        for a in rows.nth(k).locator('a').all():
            assert (out / unquote(a.get_attribute('href'))).is_file()
    assert rows.first.locator('rect.misconception-bar').bounding_box()['width'] > \
        rows.last.locator('rect.misconception-bar').bounding_box()['width']
    shot(whole.locator('table.misconceptions'), 'classpage-misconceptions.png')

    # the matrix: checks x submissions cells, each mark drawn as its own shape
    counts, checks = marks(reports)
    matrix = whole.locator('svg.matrix')
    assert matrix.locator('use.cell').count() == checks * len(reports)
    for mark, n in counts.items():
        assert matrix.locator(f'use.cell.{mark}').count() == n, mark
    assert {'passed', 'failed', 'explained', 'advice', 'skipped'} <= set(counts)
    assert_marks_drawn(matrix, shot(matrix, 'classpage-matrix.png'))


def assert_marks_drawn(matrix, pixels):
    """Sample every cell of the matrix's screenshot: a failure is red, advice is a blue ring and
    never red, and in grey alone the marks still differ (filled, outlined, ring, dot, dash)."""
    origin = matrix.bounding_box()
    cells = matrix.locator('use.cell')
    boxes = cells.evaluate_all('(cells) => cells.map(c => { const b = c.getBoundingClientRect(); '
                               'return [c.classList[1], b.x, b.y, b.width, b.height]; })')
    ink = defaultdict(list)  # mark -> share of dark pixels of each cell, in grey
    for mark, x, y, w, h in boxes:
        x0, y0 = round(x - origin['x']) + 1, round(y - origin['y']) + 1
        px = pixels[y0:y0 + round(h) - 2, x0:x0 + round(w) - 2]
        is_red = red(px).any()
        assert is_red == (mark in ('failed', 'explained')), (mark, x, y)
        assert blue(px).any() == (mark == 'advice'), (mark, x, y)
        if mark == 'passed':
            assert green(px).any()
        ink[mark].append(dark(px).mean())
    ranges = {mark: (min(v), max(v)) for mark, v in ink.items()}
    order = sorted(ranges, key=lambda m: ranges[m][0])
    for lower, upper in zip(order, order[1:]):
        assert ranges[lower][1] < ranges[upper][0], ranges  # no overlap: shape alone tells


# --- what is counted: codes, never sentences; roots, never their consequences ----------------

def failing(check_id, code=None, method='', consequence_of='', required=True):
    m = Misconception(code, method=method) if code else None
    return Check(check_id, check_id.split('.')[0], 'failed', 'the gradients disagree', required,
                 misconception=m, consequence_of=consequence_of)


def class_of(**checks):
    return {name: Report(name, 'failed', 10.0 * k, 50.0, checks=list(found))
            for k, (name, found) in enumerate(checks.items())}


def test_misconceptions_are_codes_of_root_causes_and_symptoms_are_not_ranked():
    reports = class_of(
        ann=[failing('ops.add', Code.ASSIGNED, '__add__'),
             failing('backward.accumulate', Code.ASSIGNED, '__add__', consequence_of='ops.add'),
             failing('ops.mul', Code.ASSIGNED, '__mul__')],
        bob=[failing('fuzz.dags', Code.GRADIENTS_DISAGREE, 'backward'),
             failing('mlp.gradients', consequence_of='fuzz.dags')],
        eve=[failing('ops.tanh', Code.WRONG_DERIVATIVE, 'tanh'),
             failing('robustness.tanh_large', required=False)],
        zed=[Check('ops.add', 'ops', 'passed'),
             failing('ops.mul', 'a_code_of_another_version', '__mul__'),
             Check('ops.tanh', 'ops', 'skipped')])
    whole = classpage.cohorts(reports)[-1]
    ranked = {r.key: r for r in whole.misconceptions}
    assert list(ranked) == [Code.ASSIGNED, Code.WRONG_DERIVATIVE]  # never gradients_disagree
    assert [m.name for m in ranked[Code.ASSIGNED].members] == ['ann']  # once per submission
    assert ranked[Code.ASSIGNED].places == [('__add__', 1), ('__mul__', 1)]
    assert [r.key for r in whole.unexplained] == ['fuzz.dags', 'ops.mul']  # listed apart
    assert [r.key for r in whole.advice] == ['robustness.tanh_large']
    row = {e.member.name: e.marks for e in whole.entries}
    assert row['ann'] == {'ops.add': 'failed', 'backward.accumulate': 'explained', 'ops.mul': 'failed'}
    assert row['eve']['robustness.tanh_large'] == 'advice' and 'ops.add' not in row['eve']
    assert row['zed']['ops.tanh'] == 'skipped'
    with pytest.raises(ValueError, match='not a valid Status'):  # another version's is never a pass
        Report.from_dict({**reports['zed'].to_dict(), 'checks': [
            {'id': 'ops.tanh', 'category': 'ops', 'status': 'a status of another version'}]})
    assert [len(b.members) for b in whole.histogram.bins if b.members] == [1, 1, 1, 1]
    assert whole.histogram.bins[6].members[0].name == 'zed'  # 30 of 50 points
    page = classpage.render(reports).decode()
    assert page.count('class="misconception"') == 2 and 'data-code="gradients_disagree"' not in page
    assert page.count('<use class="cell ') == 7 * 4  # the class's seven checks, four rows
    empty = classpage.render({}).decode()
    assert '<rect class="histogram-bar"' not in empty and 'No failure here' in empty  # none graded yet


def test_every_name_is_escaped_and_every_link_quoted():
    names = [*HOSTILE, 'l\udcffatin.py']
    reports = class_of(**{n: [failing('ops.add', Code.ASSIGNED, '__add__')] for n in names})
    roster = {n: {'section': '</style><script>alert(1)</script>'} for n in names}
    page = classpage.render(reports, roster).decode()
    assert '<script>.py' not in page and '&lt;script&gt;.py' in page
    assert '<svg onload' not in page and '<b>' not in page and '<script>alert' not in page
    assert '&#34;&gt;&lt;svg onload=alert(1)&gt;.py' in page
    assert 'href="%3Cscript%3E.py/report.html"' in page
    assert 'href="l%FFatin.py/report.html"' in page  # a zip's non-UTF-8 name keeps its bytes
    assert page.count('<script>') == 1  # the page's own sorting script, nothing else
    page.encode('utf-8')


def test_sections_are_offered_in_the_roster_s_order_and_the_unrostered_last():
    """The filter listed the sections backwards, in the order their first submission sorts
    (a class whose first file is in section B and the roster's first row in A read "Show: the
    whole class, (no section in the roster), B, A"). Now the whole class, then the roster's
    sections in its order, then the submissions it does not name; the parts below follow it."""
    reports = class_of(**{n: [failing('ops.add', Code.ASSIGNED, '__add__')]
                          for n in ('amy.py', 'bo.py', 'cy.py', 'di.py')})
    roster = {'di.py': {'section': 'A'}, 'cy.py': {'section': 'B'}, 'amy.py': {'section': 'B'}}
    page = classpage.render(reports, roster).decode()
    nav = re.search(r'<nav class="sections".*?</nav>', page, re.S)[0]
    assert re.findall(r'>([^<>]*) \(\d+\)</a>', nav) == [
        'the whole class', 'A', 'B', classpage.NO_SECTION]
    parts = re.findall(r'<section class="cohort[^"]*" id="[^"]*" data-section="([^"]*)"', page)
    assert parts == ['A', 'B', html.escape(classpage.NO_SECTION), 'the whole class']
    service = classpage.cohorts(reports, {'cy.py': {'section': 'B'}, 'di.py': {'section': 'A'}})
    assert [c.name for c in service] == ['B', 'A', classpage.NO_SECTION, 'the whole class']


def test_the_roster_s_students_with_no_graded_submission_are_named_in_their_section():
    """A roster's student who handed nothing in was named only in the batch's console summary:
    the class page (the staff's view of a section) read "Section A: 1 submission" with no trace
    of them, and a section where nobody handed anything in had no part at all. Each part now
    names them, with their student id, and the whole class lists every one of them."""
    reports = class_of(**{n: [failing('ops.add', Code.ASSIGNED, '__add__')] for n in ('amy.py', 'bo.py')})
    roster = {'amy.py': {'section': 'A', 'student_id': '1'}, 'bo.py': {'section': 'B'},
              'cy.py': {'section': 'A', 'student_id': '7'}, '<i>dee</i>.py': {'section': 'C'},
              'eve.ipynb': {}}
    parts = {c.name: c for c in classpage.cohorts(reports, roster)}
    assert list(parts) == ['A', 'B', 'C', classpage.NO_SECTION, 'the whole class']
    assert [m.name for m in parts['A'].missing] == ['cy.py (7)'] and parts['B'].missing == []
    assert [m.name for m in parts['C'].missing] == ['<i>dee</i>.py'] and parts['C'].entries == []
    assert [m.name for m in parts['the whole class'].missing] == [
        'cy.py (7)', '<i>dee</i>.py', 'eve.ipynb']
    page = classpage.render(reports, roster).decode()
    said = re.findall(r'<p class="missing[^"]*">(.*?)</p>', page, re.S)
    assert len(said) == 5 - 1 and all('no graded submission' in s for s in said)  # none in B
    assert 'cy.py (7)' in said[0] and '&lt;i&gt;dee&lt;/i&gt;.py' in said[1] and '<i>' not in page
    assert 'eve.ipynb' in said[2] and 'cy.py (7)' in said[-1]
    assert not classpage.cohorts(reports)[-1].missing  # no roster: nobody is missing


# --- filters by section, without scripts ------------------------------------------------------

def test_sections_filter_by_link_with_scripts_off(graded, browser):
    out, reports, sections = graded
    context = browser.new_context(java_script_enabled=False, viewport={'width': 1280, 'height': 900})
    page = context.new_page()
    try:
        page.goto((out / 'index.html').as_uri())
        nav = page.locator('nav.sections a')
        assert nav.count() == 1 + len(SECTIONS)
        for k, (section, members) in enumerate(sections.items(), 1):
            page.locator('nav.sections a', has_text=section).click()
            shown = page.locator('section.cohort:visible')
            assert shown.count() == 1 and shown.get_attribute('data-section') == section
            assert page.locator('#class-all').is_hidden()
            assert shown.locator('rect.histogram-bar').count() == len(bins(members))
            assert shown.locator('tr.misconception').count() == len(misconceptions(members))
            assert shown.locator('svg.matrix g.row').count() == len(members)
            names = {t.inner_text() for t in shown.locator('tr.misconception a').all()}
            assert names <= set(members)
            pixels = shot(shown.locator('svg.histogram'), f'classpage-section-{k}.png')
            bar = shown.locator('rect.histogram-bar').first.bounding_box()
            top = shown.locator('svg.histogram').bounding_box()['y']
            assert bar_runs(pixels, round(bar['y'] + bar['height'] - top) - 2) == len(bins(members))
        page.locator('nav.sections a', has_text='the whole class').click()
        assert page.locator('#class-all').is_visible()
        assert page.locator('section.cohort:visible').count() == 1
    finally:
        context.close()


# --- the service draws the same pictures ------------------------------------------------------

def service_page(tmp_path, reports, sections=None, fetched=None):
    """The service's /class page over ``{learner: report dict}`` stored as graded jobs (no
    worker or Redis needed to read the job table), with the roster ``{learner: section}``
    uploaded by staff; ``fetched``, if given, gets ``{path: response}`` of what it links."""
    config = ServiceConfig(tmp_path / 'state', 'redis://127.0.0.1:9/0', 'k' * 64)
    client = TestClient(create_app(config))  # not entered: no lifespan, no broker
    jobs, tokens = Jobs(config.database), Tokens(config.database)
    for learner, report in reports.items():
        job, _ = jobs.submit('c1', learner, 'engine.py', learner, 0, 'standard', '', b'',
                             __version__)
        jobs.finished(job['id'], job['retry'], 'done', 1, json.dumps(report), report['verdict'],
                      report['score'], report['max_score'], 0.0)
    staff = {'Authorization': 'Bearer ' + tokens.create('c1', 'staff')[0]}
    if sections is not None:
        roster = io.StringIO()
        csv.writer(roster).writerows([('learner', 'section'), *sections.items()])
        put = client.put('/v1/courses/c1/roster', headers=staff,
                         files={'file': ('roster.csv', roster.getvalue())})
        assert put.status_code == 200 and put.json()['learners'] == len(sections)
    response = client.get('/v1/courses/c1/class', headers=staff)
    assert response.status_code == 200
    if fetched is not None:
        for href in set(re.findall(r'href="(/v1/[^"]+)"', response.text)):
            fetched[href] = client.get(href, headers=staff)
    path = tmp_path / 'class.html'
    path.write_text(response.text, encoding='utf-8')
    return response.text, path


def test_service_class_page_filters_by_roster_section_and_links_each_report(graded, tmp_path, browser):
    """The service's roster (uploaded by staff: learner, section) filters its pictures as the
    batch's does, with scripts off; every learner named links their latest report."""
    out, reports, sections = graded
    roster = {name: section for section, members in sections.items() for name in members}
    fetched = {}
    _, path = service_page(tmp_path, reports, roster, fetched)
    context = browser.new_context(java_script_enabled=False, viewport={'width': 1280, 'height': 900})
    page = context.new_page()
    try:
        page.goto(path.as_uri())
        assert page.locator('nav.sections a').count() == 1 + len(SECTIONS)
        for k, (section, members) in enumerate(sections.items(), 1):
            page.locator('nav.sections a', has_text=section).click()
            shown = page.locator('section.cohort:visible')
            assert shown.count() == 1 and shown.get_attribute('data-section') == section
            assert shown.locator('rect.histogram-bar').count() == len(bins(members))
            assert shown.locator('tr.misconception').count() == len(misconceptions(members))
            assert shown.locator('svg.matrix g.row').count() == len(members)
            pixels = shot(shown.locator('svg.histogram'), f'classpage-service-section-{k}.png')
            bar = shown.locator('rect.histogram-bar').first.bounding_box()
            top = shown.locator('svg.histogram').bounding_box()['y']
            assert bar_runs(pixels, round(bar['y'] + bar['height'] - top) - 2) == len(bins(members))
            assert set(page.locator('table.learners td:nth-child(2)').all_inner_texts()) == set(SECTIONS)
        whole = page.locator('#class-all')
        linked = {a.inner_text(): a.get_attribute('href')
                  for a in whole.locator('tr.misconception a').all()}
        assert set(linked) == set().union(*misconceptions(reports).values())
        for name, href in linked.items():  # each the report of that learner's submission
            assert re.fullmatch(r'/v1/courses/c1/submissions/[0-9a-f]{32}/report\.html', href)
            assert fetched[href].status_code == 200 and 'text/html' in fetched[href].headers['content-type']
            assert html.escape(reports[name]['submission']) in fetched[href].text
        rows = page.locator('table.learners tbody tr')
        assert rows.count() == len(reports) == len(page.locator('table.learners a').all())
    finally:
        context.close()
    assert fetched and all(r.status_code == 200 for r in fetched.values())


def test_service_class_page_is_the_same_picture(graded, tmp_path, page_of):
    out, reports, _ = graded
    text, path = service_page(tmp_path, reports)
    ids = Jobs(tmp_path / 'state' / 'service.sqlite3').latest_ids('c1')
    same = classpage.fragment({k: Report.from_dict(r) for k, r in reports.items()}, None,
                              lambda k: f'/v1/courses/c1/submissions/{ids[k]}/report.html')
    assert same in text  # one renderer: the batch's pictures, linked to the service's reports
    page, _ = page_of(path)
    whole = page.locator('#class-all')
    assert whole.locator('rect.histogram-bar').count() == len(bins(reports))
    assert whole.locator('tr.misconception').count() == len(misconceptions(reports))
    counts, checks = marks(reports)
    assert whole.locator('svg.matrix use.cell').count() == checks * len(reports)
    assert_marks_drawn(whole.locator('svg.matrix'), shot(whole.locator('svg.matrix'),
                                                         'classpage-service-matrix.png'))
    screenshot(page, 'classpage-service.png')


# --- hostile names, on every path: a real batch and the service -------------------------------

def test_service_learners_table_lists_each_learner_s_advice(tmp_path):
    """The service's class page has an "advice" column per learner; it was empty for every
    learner, as if none had an advisory finding, while gradebook.csv lists them."""
    reports = class_of(ann=[failing('robustness.tanh_large', required=False),
                            failing('robustness.deep_chain', required=False)])
    text, _ = service_page(tmp_path, {k: r.to_dict() for k, r in reports.items()})
    table = text[text.index('<table class="learners">'):]
    row = re.search(r'<tr><td>.*?</tr>', table[:table.index('</table>')], re.S)[0]
    assert 'robustness.tanh_large robustness.deep_chain' in row, row


def test_hostile_names_are_text_in_the_batch_and_the_service(run_cli, tmp_path, page_of):
    folder = tmp_path / 'class'
    folder.mkdir()
    for name in HOSTILE:
        shutil.copy(SUBMISSIONS / 'bug_overwrite_grad.py', folder / name)
    out = tmp_path / 'out'
    result = run_cli('batch', folder, '--out', out, '--profile', 'quick')
    assert result.returncode == 0, result.stdout + result.stderr
    reports = {n: json.loads((out / n / 'report.json').read_text()) for n in HOSTILE}
    text, service = service_page(tmp_path, reports)
    for path in (out / 'index.html', service):
        page, _ = page_of(path)  # fails on any dialog, console error or request
        whole = page.locator('#class-all')
        assert page.locator('script').count() == (0 if path == service else 1)  # its own only
        assert page.locator('[onload], [onerror], b, svg svg').count() == 0
        titles = whole.locator('svg.matrix g.row text title').all_text_contents()
        assert sorted(t.rsplit(': ', 1)[0] for t in titles) == sorted(HOSTILE)
        rows = whole.locator('tr.misconception')
        assert rows.count() == 1 and rows.get_attribute('data-code') == Code.ASSIGNED
        shown = rows.locator('td').last.inner_text()
        assert all(name in shown for name in HOSTILE)
        if path != service:
            for a in rows.locator('a').all():
                assert (out / unquote(a.get_attribute('href'))).is_file()
