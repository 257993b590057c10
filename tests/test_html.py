"""The HTML report and the class index: rendering from the result model, hostile strings, the
graph drawing, and the pages as a real browser (Debian's chromium, driven by Playwright) sees them."""
import json
import shutil
from html.parser import HTMLParser

import pytest

from conftest import SUBMISSIONS, screenshot
from micrograde.model.compare import show
from micrograde.model.graph import Graph
from micrograde.reporters import graphdraw, html, write
from micrograde.model.results import Check, Counterexample, Report



# --- reports made by hand: what the renderer does with any content --------------------------

def drawn_example(**marks):
    g = Graph.parse('b = a + a; out = b * k', a=1.5, k=2.0)
    nodes = [{'data': 1.5, 'grad': 2.0}, {'data': 2.0, 'grad': 3.0}, {'data': 3.0, 'grad': 2.0},
             {'data': 6.0, 'grad': 1.0}]
    return Counterexample(g.code(show=[0]), {'a.grad': '4.0'}, {'a.grad': '2.0'}, g.to_dict(), nodes,
                          **marks)


def report_with(*checks, verdict='failed'):
    return Report(submission='demo.py', verdict=verdict, score=3, max_score=5,
                  versions={'micrograde': '0.1.0'}, checks=list(checks))


class Tags(HTMLParser):
    """Every start tag and attribute name of a page."""

    def __init__(self, text):
        super().__init__()
        self.tags, self.attributes = set(), set()
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attributes |= {name for name, _ in attrs}


HOSTILE = ('<script>alert(1)</script></script><img src=x onerror=alert(2)>'
           '<svg onload=alert(3)>\x00\x1b[31m\x07 \ud800 &amp; {{ 7*7 }}')


def hostile_report():
    ce = drawn_example(wrong={'a': {'grad': 4.0}}, culprits=['b'])
    ce.nodes[1] = {'data': {'type': HOSTILE}, 'grad': 'nan'}
    ce.code = HOSTILE + '\n' + ce.code
    ce.actual = {HOSTILE: HOSTILE}
    return report_with(
        Check('load', 'load', 'passed', 'loaded', output=HOSTILE * 3),
        Check('ops.add', 'ops', 'failed', HOSTILE, diagnosis=HOSTILE, counterexample=ce,
              output=HOSTILE + 'x' * 5_000_000),
        Check('robustness.tanh_large', 'robustness', 'failed', HOSTILE, required=False,
              counterexample=Counterexample(HOSTILE, {}, {'error': HOSTILE})))


def test_hostile_strings_are_shown_as_text_and_capped():
    report = hostile_report()
    report.output = HOSTILE * 100_000
    report.load_warnings = [HOSTILE]
    page = html.render(report).decode()
    tags = Tags(page)
    assert tags.tags <= {'html', 'head', 'meta', 'title', 'style', 'body', 'div', 'header', 'h1',
                         'h2', 'h3', 'h4', 'p', 'code', 'pre', 'nav', 'ul', 'li', 'a', 'section',
                         'details', 'summary', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'span',
                         'article', 'figure', 'figcaption', 'svg', 'g', 'polygon',
                         'polyline', 'ellipse', 'path', 'text'}, tags.tags
    assert not {a for a in tags.attributes if a.startswith('on')}
    assert '&lt;script&gt;alert(1)&lt;/script&gt;' in page
    assert '\x00' not in page and '\x1b' not in page and '\\x00' in page
    assert '{{ 7*7 }}' in page  # Jinja does not evaluate data
    assert len(page) < 200_000  # 5 MB of output and 4 MB printed at load are capped
    page.encode('utf-8')  # no lone surrogate survives


def test_svg_is_rebuilt_from_an_allow_list():
    svg = b'''<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x "boom">]>
    <svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="10pt"
      onload="alert(1)"><script>alert(2)</script><style>*{}</style>
      <g class="node wrong" onclick="alert(3)"><title>e0</title><polygon points="0,0 1,1" fill="red"/>
      <text x="1" y="2">&lt;b&gt;a</text><foreignObject><div>x</div></foreignObject>
      <a xlink:href="javascript:alert(4)"><text>link</text></a><image href="http://example.com/x.png"/></g>
    </svg>'''
    clean = graphdraw.sanitise_svg(svg)
    assert clean.startswith('<svg') and 'polygon' in clean and 'class="node wrong"' in clean
    assert '&lt;b&gt;a' in clean
    for bad in ('alert', 'script', 'style', 'foreignObject', 'href', 'image', 'link', 'ENTITY'):
        assert bad not in clean, bad
    assert graphdraw.sanitise_svg(b'<svg><unclosed') is None
    assert graphdraw.sanitise_svg(b'<html>not svg</html>') is None


@pytest.mark.skipif(shutil.which('dot') is None, reason='Graphviz is not installed')
def test_drawing_marks_the_wrong_gradient_and_the_culprit_op():
    drawing = graphdraw.draw(drawn_example(wrong={'a': {'grad': 4.0}}, culprits=['b']))
    svg = drawing.svg
    wrong = svg.split('class="node wrong"')
    assert len(wrong) == 2 and '<title>e0</title>' in wrong[1][:40]
    assert 'grad got 2.0' in wrong[1] and 'grad expected 4.0' in wrong[1]
    culprit = svg.split('class="node culprit"')
    assert len(culprit) == 2 and '<title>e2op</title>' in culprit[1][:40] and 'culprit: +' in culprit[1]
    assert 'data 6.0000' in svg and 'grad 1.0000' in svg  # the lecture's format elsewhere
    assert [r.name for r in drawing.rows if r.expected] == ['a']
    assert [r.name for r in drawing.rows if r.culprit] == ['b']


@pytest.mark.skipif(shutil.which('dot') is None, reason='Graphviz is not installed')
def test_each_drawing_is_made_once_in_one_process_and_a_report_of_drawn_ones_draws_none(
        monkeypatch):
    """A class's reports repeat the same advice graphs: the first report draws each distinct one,
    all in one ``dot`` process (before: a process each, in threads; 31 drawings of a failing
    engine's report took 1.2 s, 0.12 s in one), each the SVG a process of its own draws; a
    later report of the same ones draws nothing, and its page holds the same drawings."""
    marks = [{'wrong': {'a': {'grad': x}}, 'culprits': ['b']} for x in (4.0, 5.0, 6.0)]
    report = report_with(*[Check(f'ops.{op}', 'ops', 'failed', 'wrong', counterexample=drawn_example(
        **m)) for op, m in zip(('add', 'mul', 'sub'), marks)])
    graphdraw._DRAWN.clear()
    drawn, sanitised = [], []
    real, svg = graphdraw.render, graphdraw.sanitise_svg
    monkeypatch.setattr(graphdraw, 'render', lambda dot, **kw: drawn.append(dot) or real(dot, **kw))
    monkeypatch.setattr(graphdraw, 'sanitise_svg', lambda data: sanitised.append(1) or svg(data))
    first = html.render(report)
    sources = [graphdraw._laid_out(c.counterexample)[1] for c in report.checks]
    assert len(drawn) == 1 and [drawn[0].count(s) for s in sources] == [1, 1, 1]
    assert len(sanitised) == 3
    alone = [graphdraw._drawn(dot) for dot in sources]
    assert [graphdraw._DRAWN[(shutil.which('dot'), dot)] for dot in sources] == alone
    assert all(a.startswith('<svg') for a in alone)
    del drawn[:], sanitised[:]
    assert html.render(report) == first
    assert (drawn, sanitised) == ([], [])
    assert first.count(b'<svg') == 3


def test_a_drawing_graphviz_cannot_split_out_is_drawn_alone(monkeypatch):
    """Where one ``dot`` process's output does not split into one SVG per graph, each is drawn
    by a process of its own, as before."""
    marks = [{'wrong': {'a': {'grad': x}}, 'culprits': ['b']} for x in (7.0, 8.0)]
    sources = [graphdraw._laid_out(drawn_example(**m))[1] for m in marks]
    graphdraw._DRAWN.clear()
    calls = []
    monkeypatch.setattr(graphdraw, 'render', lambda dot, **kw: calls.append(dot) or
                        (b'<svg xmlns="http://www.w3.org/2000/svg"></svg>' if len(calls) == 1
                         else b'<svg xmlns="http://www.w3.org/2000/svg"><title>alone</title></svg>'))
    monkeypatch.setattr(graphdraw.shutil, 'which', lambda name: '/usr/bin/dot')
    graphdraw.render_all(sources)
    assert len(calls) == 3 and calls[1:] == sources
    assert all('alone' in graphdraw._DRAWN[('/usr/bin/dot', dot)] for dot in sources)


def test_without_graphviz_the_page_lists_the_graph_and_says_so(monkeypatch):
    monkeypatch.setenv('PATH', '/nonexistent')
    report = report_with(Check('ops.add', 'ops', 'failed', 'a.grad wrong', diagnosis='a.grad wrong',
                               counterexample=drawn_example(wrong={'a': {'grad': 4.0}}, culprits=['b'])))
    page = html.render(report).decode()
    assert '<svg' not in page
    assert 'Graphviz (the dot program) is not installed' in page
    assert '<tr class="wrong">' in page and '<tr class=" culprit">' in page
    assert '<details open>' in page


def test_advice_is_shown_apart_and_never_as_a_failure():
    advisory = Check('robustness.tanh_large', 'robustness', 'failed', 'tanh(800) overflows',
                     required=False)
    page = html.render(report_with(advisory, Check('ops.add', 'ops', 'passed', 'ok'), verdict='passed')).decode()
    assert 'PASSED' in page and '0 required checks failed; 1 piece of advice' in page
    assert 'What to fix' not in page and 'FAILED' not in page
    assert '<article class="advice" id="check-robustness.tanh_large">' in page
    assert 'badge failed' not in page and 'class="failure"' not in page


def test_report_round_trips_with_its_marks():
    report = report_with(Check('ops.add', 'ops', 'failed', 'x', counterexample=drawn_example(
        wrong={'a': {'grad': float('nan')}}, culprits=['b'])))
    again = Report.from_dict(json.loads(json.dumps(report.to_dict(), allow_nan=False)))
    ce = again.checks[0].counterexample
    assert ce.wrong == {'a': {'grad': 'nan'}} and ce.culprits == ['b'] and len(ce.nodes) == 4
    assert html.render(again) == html.render(Report.from_dict(again.to_dict()))


# --- real grading, seen by a real browser ---------------------------------------------------

def test_make_grade_of_overwrite_grad_draws_the_wrong_gradient(run_cli, tmp_path, page_of):
    # what `make grade SUBMISSION=submissions/bug_overwrite_grad.py` runs
    result = run_cli('grade', SUBMISSIONS / 'bug_overwrite_grad.py', '--seed', 0, '--profile',
                     'standard', '--out', tmp_path, '--no-color')
    assert result.returncode == 1, result.stderr
    assert f'wrote {tmp_path / "report.html"}' in result.stdout
    report = json.loads((tmp_path / 'report.json').read_text())
    drawn = [c for c in report['checks'] if c['status'] == 'failed' and c['required']
             and (c['counterexample'] or {}).get('graph')]
    assert drawn
    page, _ = page_of(tmp_path / 'report.html')
    assert page.locator('.verdict').first.inner_text().startswith('FAILED')
    for check in drawn:
        ce = check['counterexample']
        article = page.locator(f'article[id="check-{check["id"]}"]')
        assert article.locator('svg').count() == 1
        wrong = article.locator('svg g.node.wrong')
        assert wrong.count() == len(ce['wrong']) >= 1
        names = Graph.from_dict(ce['graph'])
        for k in range(wrong.count()):
            text = wrong.nth(k).text_content()
            name = names.name(int(wrong.nth(k).locator('title').text_content()[1:]))
            assert name in ce['wrong']
            expected = ce['wrong'][name]['grad']
            assert f'grad expected {show(expected)}' in text and 'grad got' in text
        assert article.locator('svg g.node.culprit').count() == len(ce['culprits']) >= 1
        assert check['diagnosis'] in article.locator('.diagnosis').inner_text()
    accumulate = page.locator('article[id="check-backward.accumulate"]')
    assert 'assigned instead of accumulated' in accumulate.locator('.diagnosis').inner_text()
    assert page.locator('#advice article.failure').count() == 0
    # advice is never drawn in a failure's red (border, badge, legend, the graph's marks, tables)
    assert page.locator('article.advice svg g.node.wrong').count() >= 1
    assert page.evaluate('''() => {
        const red = ["rgb(176, 0, 32)", "rgb(255, 214, 214)"];
        return [...document.querySelectorAll("article.advice, article.advice *")].flatMap(el => {
            const s = getComputedStyle(el);
            return ["color", "backgroundColor", "borderLeftColor", "borderTopColor", "fill", "stroke"]
                .filter(k => red.includes(s[k])).map(k => `${el.tagName}.${el.className.baseVal ?? el.className} ${k}`);
        });
    }''') == []
    shot = screenshot(page, 'report-bug_overwrite_grad.png')
    assert shot.stat().st_size > 10_000
    for check in drawn:  # fuzz.dags among them when the fuzz sees the bug (issue 21: set order)
        screenshot(page, f'report-bug_overwrite_grad-{check["id"]}.png', f'article[id="check-{check["id"]}"]')


def test_passing_engine_page_shows_no_failure(run_cli, tmp_path, page_of):
    result = run_cli('grade', SUBMISSIONS / 'lecture_engine.py', '--profile', 'quick',
                     '--html', tmp_path / 'page.html', '--no-color')
    assert result.returncode == 0, result.stdout + result.stderr
    page, _ = page_of(tmp_path / 'page.html')
    assert page.locator('.verdict').first.inner_text().startswith('PASSED')
    assert page.locator('.summary').inner_text().startswith('0 required checks failed')
    assert page.locator('article.failure').count() == 0
    assert page.locator('.badge.failed, .badge.error').count() == 0
    screenshot(page, 'report-lecture_engine.png')


def test_hostile_page_runs_nothing_in_the_browser(tmp_path, page_of):
    write(tmp_path / 'hostile.html', html.render(hostile_report()))
    page, _ = page_of(tmp_path / 'hostile.html')
    assert page.locator('img, script, foreignObject').count() == 0
    assert '<script>alert(1)</script>' in page.locator('article[id="check-ops.add"] .diagnosis').inner_text()


def test_batch_index_sorts_and_links_every_report(run_cli, tmp_path, page_of):
    folder = tmp_path / 'class'
    folder.mkdir()
    for name in ('bug_overwrite_grad.py', 'lecture_engine.py', 'bug_exp_no_upstream.py'):
        shutil.copy(SUBMISSIONS / name, folder / name)
    out = tmp_path / 'out'
    result = run_cli('batch', folder, '--out', out, '--profile', 'quick')
    assert result.returncode == 0, result.stdout + result.stderr
    page, _ = page_of(out / 'index.html')
    rows = page.locator('#submissions tbody tr')
    assert rows.count() == 3
    for k in range(3):
        href = rows.nth(k).locator('a').get_attribute('href')
        assert (out / href).is_file()
    gradebook = {line.split(',')[0]: float(line.split(',')[1])
                 for line in (out / 'gradebook.csv').read_text().splitlines()[1:]}

    def scores():
        return [gradebook[rows.nth(k).locator('td').first.inner_text()] for k in range(3)]
    assert len(set(gradebook.values())) > 1
    page.locator('#submissions th button', has_text='score').click()
    assert scores() == sorted(gradebook.values())
    page.locator('#submissions th button', has_text='score').click()
    assert scores() == sorted(gradebook.values(), reverse=True)
    assert page.locator('#class-all tr.misconception').count() == 2  # assigned, no_upstream
    screenshot(page, 'index.png')
    page.locator('#submissions a', has_text='bug_overwrite_grad.py').click()
    page.wait_for_load_state('load')
    assert page.locator('svg g.node.wrong').count() >= 1


def test_wide_graphs_fit_reuse_is_drawn_and_headers_keep_their_words(run_cli, tmp_path, page_of):
    result = run_cli('grade', SUBMISSIONS / 'bug_not_topological.py', '--profile', 'quick',
                     '--out', tmp_path, '--no-color')
    assert result.returncode == 1, result.stderr
    page, _ = page_of(tmp_path / 'report.html')
    page.set_viewport_size({'width': 1200, 'height': 900})
    figures = page.locator('figure.graph')
    natural = [int(f.locator('svg').get_attribute('width')) for f in figures.all()]
    assert max(natural) > 1200, 'a graph wider than the page is needed'
    for figure in figures.all():  # the whole graph, its output node too, is in the figure's view
        box, svg = figure.bounding_box(), figure.locator('svg').bounding_box()
        assert svg['x'] >= box['x'] and svg['x'] + svg['width'] <= box['x'] + box['width'] + 1
        assert figure.evaluate('f => f.scrollWidth <= f.clientWidth')
    # each use of a value is its own edge: `u * c` uses u once, `a * a` uses a twice
    report, reused = json.loads((tmp_path / 'report.json').read_text()), 0
    for check in report['checks']:
        graph = (check['counterexample'] or {}).get('graph')
        titles = page.locator(f'article[id="check-{check["id"]}"] svg g.edge title').all_text_contents()
        if not graph or not titles:
            continue
        first = len(graph['inputs'])
        for k, node in enumerate(graph['nodes']):
            for a in set(node['args']):
                uses = node['args'].count(a)
                assert titles.count(f'e{a}->e{first + k}op') == uses, (check['id'], titles)
                reused += uses > 1
    assert reused, 'a drawn graph that uses a value twice in one op is needed'
    for th in page.locator('thead th').all():  # one line each: no word broken
        assert th.evaluate('''th => { const r = document.createRange(); r.selectNodeContents(th);
                                      return new Set([...r.getClientRects()].map(x => x.top)).size <= 1 }'''), \
            th.inner_text()
    screenshot(page, 'report-wide-graph.png', 'article[id="check-backward.topological"]')
