"""``check(Value)``: the grader's checks in the learner's own process, torch-free, and in a real
Jupyter kernel (nbclient + ipykernel)."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXPECTED, ROOT, SUBMISSIONS, unnamed
from micrograde import check
from micrograde.surfaces.selfcheck import NOTICE

# every example engine the grader loads (a .py file): check() on the classes the grader finds
ENGINES = sorted(name for name, want in EXPECTED.items() if name.endswith('.py') and '/' not in name
                 and (SUBMISSIONS / name).is_file() and want.get('check') != 'load')

SELF_CHECK_ALL = '''
import json, sys, tempfile
from micrograde import check
from micrograde.grader.config import CLASS_NAMES
from micrograde.worker.load import load
out = {}
for path in sys.argv[1:]:
    with tempfile.TemporaryDirectory() as scratch:
        found = load(path, None, 10.0, scratch).find(CLASS_NAMES)
    classes = {role: f.cls for role, f in found.items()}
    r = check(classes.pop('Value'), **classes).report
    out[path] = {'verdict': r.verdict, 'checks': {c.id: [c.status, c.message] for c in r.checks}}
sys.__stdout__.write('\\n' + json.dumps(out) + '\\n')  # the last line: engines print too
'''


@pytest.fixture(scope='module')
def self_checked():
    """Every example engine self-checked in one fresh interpreter: an engine that rewires
    ``sys.stdout`` at import (as learners do) must not disturb this test process."""
    paths = [str(SUBMISSIONS / name) for name in ENGINES]
    out = subprocess.run([sys.executable, '-c', SELF_CHECK_ALL, *paths], cwd=ROOT,
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return {Path(p).name: r for p, r in json.loads(out.stdout.splitlines()[-1]).items()}


def module(path):
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


@pytest.mark.parametrize('name', ENGINES)
def test_self_check_agrees_with_the_grader_on_every_example(name, self_checked):
    want, got = EXPECTED[name], self_checked[name]
    assert got['verdict'] == ('passed' if want['exit'] == 0 else 'failed'), got
    assert not unnamed(want, got['checks']), got['checks']  # every bug named, under its check
    for check_id, status in want.get('status', {}).items():
        assert got['checks'][check_id][0] == status, (check_id, got['checks'].get(check_id))


def test_a_value_driven_by_the_learners_backward_function_is_checked_as_the_grader_grades_it():
    """As a notebook defines it (the classes and ``def backward(v)`` in one namespace, its
    module): the grader grades ``v.backward()`` as ``backward(v)``; so does the self-check, and
    the learner's class is left as it was."""
    import types
    m = types.ModuleType('learner_notebook')
    sys.modules[m.__name__] = m
    try:
        exec(compile((SUBMISSIONS / 'backward_function.py').read_text(), 'cell', 'exec'), vars(m))
        report = check(m.Value, MLP=m.MLP).report
    finally:
        del sys.modules[m.__name__]
    statuses = {c.id: c.status for c in report.checks}
    assert report.verdict == ('passed' if EXPECTED['backward_function.py']['exit'] == 0 else 'failed')
    assert statuses['capability.backward'] == 'passed' and statuses['ops.add'] == 'passed', statuses
    assert any('the function backward(v)' in w for w in report.load_warnings)
    assert 'backward' not in vars(m.Value)


def test_check_of_the_value_alone_checks_the_network_the_grader_finds_beside_it():
    """``check(Value)`` (the README's first form) in a notebook that defines MLP skipped every
    MLP check, "no MLP class": 41 / 51 where the grade of that notebook is 51 / 51. The self-check
    finds the roles it is not given in the Value's own namespace, by the grader's rules, and says
    so; a class given, or one imported from elsewhere, is left as it is."""
    import types
    m = types.ModuleType('learner_notebook')
    sys.modules[m.__name__] = m
    try:
        exec(compile((SUBMISSIONS / 'lecture_engine.py').read_text(), 'cell', 'exec'), vars(m))
        alone, given = check(m.Value).report, check(m.Value, MLP=m.MLP).report
        m.MLP.__module__ = 'somewhere_else'  # imported, not the learner's: not checked
        elsewhere = check(m.Value).report
    finally:
        del sys.modules[m.__name__]
    assert alone.score == given.score == alone.max_score
    assert [(c.id, c.status) for c in alone.checks] == [(c.id, c.status) for c in given.checks]
    assert alone.classes['MLP'] == given.classes['MLP']
    assert any(w.startswith(f"MLP was not given to check(): checked MLP ({given.classes['MLP']})")
               for w in alone.load_warnings), alone.load_warnings
    assert not any('not given' in w for w in given.load_warnings)
    assert 'MLP' not in elsewhere.classes and elsewhere.score < elsewhere.max_score
    assert any(w.startswith('no MLP was given to check(), nor defined beside your Value: the MLP '
                            'checks are skipped') for w in elsewhere.load_warnings), elsewhere.load_warnings


@pytest.mark.parametrize('engine, seed, passed', [('lecture_engine.py', 0, True),
                                                   ('bug_set_order.py', 0, False),
                                                   ('lecture_engine.py', 7, True)])
def test_self_check_in_a_fresh_process_imports_neither_torch_nor_hypothesis(engine, seed, passed,
                                                                             tmp_path):
    """Also where random graphs fail (shrunk as the grader shrinks them), and for a seed whose
    answers are not shipped (the reference engine answers them); with an empty cache: only what
    ships counts."""
    code = (f'import sys, importlib.util\n'
            f'spec = importlib.util.spec_from_file_location("engine", {str(SUBMISSIONS / engine)!r})\n'
            'm = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n'
            'from micrograde import check\n'
            f'r = check(m.Value, MLP=m.MLP, seed={seed})\n'
            'fuzz = {c.id: c for c in r.report.checks}["fuzz.dags"]\n'
            'shrunk = "shrunk in" in fuzz.message or "shrinking stopped" in fuzz.message\n'
            'print(r.passed, "torch" in sys.modules, "hypothesis" in sys.modules, fuzz.status, shrunk)\n')
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, env={**os.environ, 'MICROGRADE_CACHE': str(tmp_path)})
    fuzz = ['passed', 'False'] if passed else ['failed', 'True']
    assert out.stdout.split()[-5:] == [str(passed), 'False', 'False', *fuzz], out.stdout + out.stderr
    assert not any(tmp_path.iterdir())  # nothing computed to cache: no torch


def test_result_renders_as_text_and_as_the_html_report():
    m = module(SUBMISSIONS / 'bug_overwrite_grad.py')
    result = check(m.Value, MLP=m.MLP)
    text = str(result)
    assert text.startswith(NOTICE) and 'FAIL' in text and 'backward.accumulate' in text
    html = result._repr_html_()
    assert 'it is not your grade' in html and '<html' not in html and '<style>' in html
    article = html[html.index('-check-backward.accumulate"'):]
    article = article[:article.index('</article>')]
    assert 'assigned instead of accumulated' in article
    ce = {c.id: c for c in result.report.failures}['backward.accumulate'].counterexample
    assert ce.wrong and ce.culprits
    if '<svg' in article:  # Graphviz installed: drawn, the wrong gradient marked
        assert 'class="node wrong"' in article and 'grad expected' in article
        assert 'class="node culprit"' in article


def test_each_notebook_output_links_to_its_own_findings():
    """JupyterLab lays every output of every open notebook out in one document: a notebook that
    checks twice (after each part of the exercise, or once more after a fix) had two articles
    ``id="check-ops.add"``, and the second output's "What to fix" links scrolled to the first
    one's findings, of the code as it was then. Each output's links lead inside it, and no two
    outputs share an id, also the same result shown twice."""
    import re
    m = module(SUBMISSIONS / 'bug_overwrite_grad.py')
    result = check(m.Value, MLP=m.MLP)
    outputs = [check(m.Value, MLP=m.MLP)._repr_html_(), result._repr_html_(), result._repr_html_()]
    seen = set()
    for html in outputs:
        ids = re.findall(r' id="([^"]+)"', html)
        links = re.findall(r' href="#([^"]*)"', html)
        assert len(ids) == len(set(ids)) and links and set(links) <= set(ids), (ids, links)
        assert not seen & set(ids), seen & set(ids)
        seen |= set(ids)


COURSE_RUBRIC = """charge = "check"
required_ops = ["add", "mul", "backward", "mlp"]
advisory = ["robustness", "mlp.one_neuron_layer", "ops.add_const"]
[points]
load = 0
capability = 0
ops = 2
backward = 3
fuzz = 7
mlp = 2
robustness = 0
"""


def test_with_the_course_rubric_the_self_check_says_what_the_grade_says(tmp_path):
    """A course grading with its own rubric (points, advisory checks, required ops, charging):
    the self-check knew only the lecture's, so a learner read "FAILED  score 49 / 51" where
    their grade was 60 / 78, and an op the course counts as advice as a failure.
    ``check(..., rubric=PATH)`` grades by the course's rubric: the score, the maximum, the
    verdict and each check's status and points are ``grade --rubric``'s at the same profile and
    seed; an unusable rubric is refused as check()'s other options are."""
    from conftest import micrograde
    rubric = tmp_path / 'rubric.toml'
    rubric.write_text(COURSE_RUBRIC)
    done = micrograde('grade', SUBMISSIONS / 'bug_overwrite_grad.py', '--profile', 'quick', '--rubric',
                      rubric, '--json', tmp_path / 'r.json')
    assert done.returncode == 1, done.stderr[-2000:]
    graded = json.loads((tmp_path / 'r.json').read_text())
    m = module(SUBMISSIONS / 'bug_overwrite_grad.py')
    mine = check(m.Value, MLP=m.MLP, rubric=rubric).report.to_dict()
    said = ('id', 'status', 'required', 'score', 'max_score', 'consequence_of')
    assert [[c[k] for k in said] for c in mine['checks']] == [[c[k] for k in said] for c in graded['checks']]
    assert (mine['score'], mine['max_score'], mine['verdict']) == \
        (graded['score'], graded['max_score'], graded['verdict'])
    assert graded['max_score'] != check(m.Value, MLP=m.MLP).report.max_score  # the course's, not the lecture's
    (tmp_path / 'bad.toml').write_text('[points]\nops = -1\n')
    with pytest.raises(ValueError, match='rubric'):
        check(m.Value, MLP=m.MLP, rubric=tmp_path / 'bad.toml')


def test_the_text_names_no_isolation_where_there_is_none():
    """The self-check runs in the learner's own process (no isolation level: ``''``); its text
    said ``seed 0, profile quick, isolation `` with nothing after it, as if a word were lost. It
    says what the HTML report says: the seed and the profile."""
    m = module(SUBMISSIONS / 'lecture_engine.py')
    result = check(m.Value, MLP=m.MLP)
    assert result.report.isolation == ''
    header = [line for line in str(result).splitlines() if line.startswith('seed ')]
    assert header == ['seed 0, profile quick'], header


@pytest.mark.parametrize('given', [None, 'Value', 3, 'an instance'])
def test_check_given_something_else_than_a_class_fails_load_saying_so(given):
    """``check(None)`` raised ``KeyError: 'Value'`` and ``check('Value')`` ``TypeError: vars()
    argument must have __dict__ attribute`` (a learner passing a name, an instance or a
    variable the cell meant to define): a traceback from the grader's insides. It is a report
    whose load check fails saying what check() takes, as any unloadable engine's."""
    m = module(SUBMISSIONS / 'lecture_engine.py')
    value = m.Value(1.0) if given == 'an instance' else given
    for args, kwargs, role in (((value,), {}, 'Value'), ((m.Value,), {'MLP': value}, 'MLP')):
        if value is None and role == 'MLP':
            continue  # MLP=None: no MLP, as the default
        result = check(*args, **kwargs)
        load = result.report.checks[0]
        assert load.id == 'load' and load.status == 'failed' and not result.passed
        assert f'{role} class itself' in load.message and 'check(Value, MLP=MLP)' in load.message
        assert [c.id for c in result.report.checks if c.status != 'skipped'] == ['load']
        assert 'FAIL' in str(result) and 'load' in result._repr_html_()


@pytest.mark.parametrize('options, says', [
    ({'profile': 'Standard'}, "profile is one of quick, standard, thorough: got 'Standard'"),
    ({'seed': '7'}, "seed is a whole number: got '7'"),
    ({'timeout': -1}, 'timeout is a number of seconds above 0: got -1'),
    ({'timeout': 0}, 'timeout is a number of seconds above 0: got 0')])
def test_check_s_options_are_refused_saying_what_they_take(options, says):
    """``check(Value, profile='Standard')`` raised ``KeyError: 'Standard'``, ``seed='7'`` a
    TypeError about concatenating str and int, ``timeout=-1`` an ``itimer_error``; ``timeout=0``
    ran with no limit at all. Each is a ValueError naming the option and what it takes, as
    ``micrograde grade`` refuses them."""
    m = module(SUBMISSIONS / 'lecture_engine.py')
    with pytest.raises(ValueError) as refused:
        check(m.Value, **options)
    assert str(refused.value) == says


def test_a_value_that_cannot_hold_a_number_fails_load_once_as_the_grader_does():
    m = module(SUBMISSIONS / 'broken' / 'value_of_a_list.py')
    report = check(m.Value).report
    assert [c.id for c in report.checks if c.status != 'skipped'] == ['load']
    assert report.checks[0].status == 'failed' and EXPECTED['broken/value_of_a_list.py']['says'] in report.checks[0].message


def test_a_hanging_engine_is_cut_off_and_the_rest_still_reported():
    source = (SUBMISSIONS / 'lecture_engine.py').read_text() + '''

def _hang(self, other):
    while True:
        pass

Value.__mul__ = _hang
'''
    namespace = {}
    exec(compile(source, '<hanging engine>', 'exec'), namespace)
    result = check(namespace['Value'], timeout=0.5)
    assert not result.passed
    messages = ' '.join(c.message for c in result.report.checks)
    assert 'timed out after 0.5 s' in messages
    assert 'already timed out or ran out of memory 3 times' in messages  # one policy (answers.Strikes)
    assert all(c.status == 'skipped' for c in result.report.checks if 'already timed out' in c.message)
    assert result.report.by_category()['robustness']  # the remaining checks are still reported


def test_a_slow_right_engine_is_not_cut_where_the_grader_answers_every_graph():
    """``timeout`` was a request's: the 60 random graphs of a right engine whose backward()
    takes 50 ms ran past 3 s together, the graph then running "timed out", the rest "not run",
    and fuzz.dags failed, 10 points, "34 of 60 random graphs wrong ... The same graph gives
    another result when run again" (order_dependent, at backward): 41/51, where the grade
    (each graph its own limit) is 51/51.  Each graph has its own limit now, as in the grader."""
    source = (SUBMISSIONS / 'lecture_engine.py').read_text().replace(
        '    def backward(self):\n', '    def backward(self):\n        import time\n'
        '        time.sleep(0.02)\n', 1)
    namespace = {}
    exec(compile(source, '<slow engine>', 'exec'), namespace)
    # 60 graphs of 20 ms each: 1.2 s together, each far within 1 s
    result = check(namespace['Value'], MLP=namespace['MLP'], timeout=1.0)
    cut = [(c.id, c.message) for c in result.report.checks
           if 'timed out' in c.message or c.status in ('failed', 'error') and c.required]
    assert not cut and result.passed, cut
    fuzz = next(c for c in result.report.checks if c.id == 'fuzz.dags')
    assert fuzz.status == 'passed' and '60 random graphs' in fuzz.message, fuzz.message


def test_the_self_check_report_is_built_as_the_graders_with_no_grader_path():
    source = (SUBMISSIONS / 'lecture_engine.py').read_text() + '''

import os, micrograde

def _leak(self, other):
    raise ValueError('micrograde is installed at ' + os.path.dirname(micrograde.__file__))

Value.__add__ = _leak
'''
    namespace = {}
    exec(compile(source, '<leaking engine>', 'exec'), namespace)
    report = check(namespace['Value']).report
    add = next(c for c in report.checks if c.id == 'ops.add')
    assert add.status == 'error' or add.status == 'failed'
    text = json.dumps(report.to_dict())
    assert 'micrograde is installed at' in text and str(ROOT) not in text
    assert report.versions['micrograde'] and report.timestamp  # as every report (grading.build)


def test_an_engine_of_values_only_is_fuzzed_on_its_own_corpus_for_any_seed():
    """The grader's corpus for the engine's own ops (no Hypothesis), whether or not its answers
    are shipped: the reference engine answers the rest."""
    class Value:  # + and * between Values only
        def __init__(self, data, children=()):
            self.data, self.grad, self._prev, self._backward = data, 0.0, children, lambda: None

        def __add__(self, other):
            out = Value(self.data + other.data, (self, other))
            out._backward = lambda: (setattr(self, 'grad', self.grad + out.grad),
                                     setattr(other, 'grad', other.grad + out.grad))
            return out

        def __mul__(self, other):
            out = Value(self.data * other.data, (self, other))
            out._backward = lambda: (setattr(self, 'grad', self.grad + other.data * out.grad),
                                     setattr(other, 'grad', other.grad + self.data * out.grad))
            return out

        def backward(self):
            order, seen, stack = [], set(), [(self, False)]
            while stack:
                v, done = stack.pop()
                if done:
                    order.append(v)
                elif v not in seen:
                    seen.add(v)
                    stack += [(v, True)] + [(c, False) for c in v._prev]
            self.grad = 1.0
            for v in reversed(order):
                v._backward()

    for seed in (0, 1):
        fuzz = {c.id: c for c in check(Value, seed=seed).report.checks}['fuzz.dags']
        assert fuzz.status == 'passed' and 'random graphs over 2 ops' in fuzz.message, fuzz


# --- a real Jupyter kernel ---------------------------------------------------------------------

def notebook(engine):
    import nbformat
    cells = [nbformat.v4.new_code_cell((SUBMISSIONS / engine).read_text()),
             nbformat.v4.new_code_cell('from micrograde import check\ncheck(Value, MLP=MLP)'),
             nbformat.v4.new_code_cell('import sys\nprint("torch" in sys.modules, "hypothesis" in sys.modules)')]
    return nbformat.v4.new_notebook(cells=cells)


def execute(engine):
    from nbclient import NotebookClient
    nb = notebook(engine)
    NotebookClient(nb, timeout=120, kernel_name='python3', resources={'metadata': {'path': str(ROOT)}}).execute()
    html = [o['data']['text/html'] for o in nb.cells[1].outputs if 'text/html' in o.get('data', {})]
    text = [o['data']['text/plain'] for o in nb.cells[1].outputs if 'text/plain' in o.get('data', {})]
    return html[0], text[0], nb.cells[2].outputs[0]['text'].split()


def test_notebook_check_of_a_buggy_engine_shows_the_wrong_gradient(tmp_path):
    html, text, imported = execute('bug_overwrite_grad.py')
    assert imported == ['False', 'False']  # neither torch nor Hypothesis in the learner's kernel
    assert 'FAILED' in html and 'not your grade' in html and NOTICE in text
    article = html[html.index('-check-backward.accumulate"'):]
    article = article[:article.index('</article>')]
    assert '<svg' in article
    wrong = article.split('class="node wrong"')
    assert len(wrong) == 2 and 'grad got' in wrong[1] and 'grad expected 6.0' in wrong[1]
    assert 'class="node culprit"' in article
    # the learner's lines as IPython's tracebacks name them, not the kernel's temporary file
    assert 'Cell In[1], line ' in html and '.py, line' not in html
    page = tmp_path / 'notebook-output.html'
    page.write_text(f'<!DOCTYPE html><meta charset="utf-8"><body>{html}</body>', encoding='utf-8')
    _screenshot(page, 'notebook-check-bug_overwrite_grad.png', 'article[id$="-check-backward.accumulate"]')


def test_notebook_check_of_a_correct_engine_passes():
    html, _, imported = execute('lecture_engine.py')
    assert imported == ['False', 'False']
    assert 'PASSED' in html and '0 required checks failed' in html
    assert 'class="failure"' not in html
    failures_part = html.split('-advice"')[0]
    assert 'class="node wrong"' not in failures_part  # drawings only under advice, if at all


def _screenshot(page, name, selector):
    """The notebook's HTML output as Chromium renders it, kept beside the report's screenshots."""
    chromium = Path('/usr/bin/chromium')
    if not chromium.exists():
        return
    from playwright.sync_api import sync_playwright
    target = ROOT / 'reports' / 'screenshots'
    target.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=[
            '--no-sandbox', '--disable-gpu', '--disable-background-networking',
            '--disable-component-update', '--disable-sync', '--no-first-run'])
        view = browser.new_page(viewport={'width': 1280, 'height': 800})
        view.goto(page.as_uri())
        view.locator(selector).screenshot(path=str(target / name))
        browser.close()


def test_numpy_weights_are_seeded_as_the_worker_seeds_them_and_the_learners_generator_kept(
        tmp_path):
    """A network drawing its weights from numpy's generator reads the same in every check() (as
    in the worker, which seeds numpy's generator before each item), and the learner's own
    generator is where it was (before, each check() drew on, and moved, the learner's)."""
    import numpy as np
    path = tmp_path / 'np_engine.py'
    path.write_text((SUBMISSIONS / 'lecture_engine.py').read_text().replace(
        'random.uniform(-1, 1)', 'float(np.random.uniform(-1, 1))').replace(
        'import random', 'import random\nimport numpy as np'))
    spec = importlib.util.spec_from_file_location('np_engine', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    np.random.seed(123)
    state = np.random.get_state()[1].copy()
    reports = [check(module.Value, Neuron=module.Neuron, Layer=module.Layer, MLP=module.MLP).report
               for _ in range(2)]
    assert (np.random.get_state()[1] == state).all()
    first, second = ({c.id: (c.status, c.message) for c in r.checks} for r in reports)
    assert first == second


IMPORTED = '''
import json, runpy, sys
from micrograde import check
space = runpy.run_path(sys.argv[1], run_name='__main__')
import micrograd.engine
class Value(micrograd.engine.Value):  # written, but its arithmetic and backward are micrograd's
    pass
out = {}
for name, cls, rubric in (('imported', space['Value'], None), ('subclass', Value, None),
                          ('allowed', space['Value'], sys.argv[2])):
    r = check(cls, MLP=space['MLP'], rubric=rubric).report
    out[name] = {'verdict': r.verdict, 'score': r.score, 'load': r.checks[0].message}
sys.__stdout__.write('\\n' + json.dumps(out) + '\\n')
'''


def test_a_value_imported_from_an_installed_package_fails_load_as_the_grader_does(tmp_path):
    """A learner who writes their MLP on micrograd's Value (``from micrograd.engine import
    Value``, submissions/imported_value.py) was self-checked 45/51 (micrograd's own Value and
    MLP: PASSED, 47/51), where the grade of the same code fails its load: 0/51. Now the
    self-check fails the load too, saying why, for the Value itself and for a class taking its
    arithmetic from micrograd."""
    allowed = tmp_path / 'allowed.toml'  # micrograd importable: the Value still is not written
    allowed.write_text('allowed_imports = ["numpy", "matplotlib", "graphviz", "micrograd"]\n')
    out = subprocess.run([sys.executable, '-c', IMPORTED, str(SUBMISSIONS / 'imported_value.py'),
                          str(allowed)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.splitlines()[-1])
    graded = subprocess.run([sys.executable, '-m', 'micrograde.surfaces.cli', 'grade',
                             str(SUBMISSIONS / 'imported_value.py'), '--profile', 'quick', '--json',
                             str(tmp_path / 'r.json')], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    report = json.loads((tmp_path / 'r.json').read_text())
    assert graded.returncode == 1 and report['checks'][0]['status'] == 'failed'
    assert 'micrograd' in report['checks'][0]['message']
    for name, said in (('imported', 'it is imported from the module micrograd.engine'),
                       ('subclass', 'it is a subclass of Value, imported from the module '
                                    'micrograd.engine')):
        assert (got[name]['verdict'], got[name]['score']) == (report['verdict'], report['score'])
        assert said in got[name]['load'] and 'answer key' in got[name]['load'], got[name]
    graded = subprocess.run([sys.executable, '-m', 'micrograde.surfaces.cli', 'grade',
                             str(SUBMISSIONS / 'imported_value.py'), '--profile', 'quick', '--json',
                             str(tmp_path / 'a.json'), '--rubric', str(allowed)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    report = json.loads((tmp_path / 'a.json').read_text())
    assert 'it is imported from the module micrograd.engine' in report['checks'][0]['message']
    assert (got['allowed']['verdict'], got['allowed']['score']) == (report['verdict'], report['score'])
    assert 'an installed package, and the grader grades only the Value a submission writes' \
        in got['allowed']['load'], got['allowed']
