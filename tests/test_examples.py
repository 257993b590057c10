"""The platform examples run end to end: Gradescope's run_autograder in a folder laid out like
/autograder, and what GitHub Classroom's grading reporter reads."""
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import EXPECTED, ROOT, SUBMISSIONS, in_process, unnamed, validate_json
from micrograde.grader.rubric import Rubric
from micrograde.surfaces import examples

RUN_AUTOGRADER = ROOT / 'examples' / 'gradescope' / 'run_autograder'
MICROGRADE = str(Path(sys.executable).with_name('micrograde'))


def autograder(tmp_path, files, program=MICROGRADE, args='--seed 0 --profile quick', source=()):
    """Lay out source/, submission/, results/ (``source``: more files of the autograder's, name ->
    text) and run run_autograder with the image's python."""
    root = tmp_path / 'autograder'
    for sub in ('source', 'submission', 'results'):
        (root / sub).mkdir(parents=True)
    (root / 'source' / 'micrograde').symlink_to(ROOT)  # the course's copy, as setup.sh installs it
    for name, content in files.items():
        path = root / 'submission' / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copy(content, path)
        else:
            path.write_text(content)
    for name, content in dict(source).items():
        (root / 'source' / name).write_text(content)
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), MICROGRADE=program, MICROGRADE_ARGS=args)
    done = subprocess.run(['python3', str(RUN_AUTOGRADER)], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((root / 'results' / 'results.json').read_text())
    validate_json(results, 'gradescope-results.schema.json')
    return results, done


def test_gradescope_grades_at_the_seed_the_course_secret_draws(tmp_path, run_cli, monkeypatch):
    """A course_secret file in the autograder's source/ is the course's secret: the submission is
    graded at the seed ``micrograde grade`` draws from it, not at the public seed 0, and the
    secret is in no output."""
    engine = SUBMISSIONS / 'bug_tanh_derivative.py'
    results, done = autograder(tmp_path, {'engine.py': engine}, args='--profile quick',
                               source={'course_secret': 'gs-secret-91\n'})
    monkeypatch.setenv('MICROGRADE_SECRET', 'gs-secret-91')
    out = tmp_path / 'graded'
    shutil.copy(engine, tmp_path / 'engine.py')
    run_cli('grade', tmp_path / 'engine.py', '--profile', 'quick', '--out', out)
    seed = json.loads((out / 'report.json').read_text())['seed']
    assert seed != 0 and results['extra_data']['seed'] == seed
    assert 'gs-secret-91' not in done.stdout + done.stderr + json.dumps(results)


def test_gradescope_picks_the_notebook_not_caches_or_helpers(tmp_path):
    results, done = autograder(tmp_path, {
        '__pycache__/engine.cpython-311.pyc': 'junk',
        '.ipynb_checkpoints/micrograd-checkpoint.ipynb': '{}',
        'helpers.py': 'def plot():\n    pass\n',
        'micrograd.ipynb': SUBMISSIONS / 'lecture_notebook.ipynb'})
    assert 'micrograd.ipynb' in done.stdout
    total = Rubric.load().total()
    assert results['score'] == total == sum(t['max_score'] for t in results['tests'])
    assert all(t['status'] == 'passed' for t in results['tests'])


def test_gradescope_grades_a_broken_upload_out_of_the_same_total(tmp_path):
    results, _ = autograder(tmp_path, {'engine.py': 'class Value(:\n'})
    assert results['score'] == 0
    assert sum(t['max_score'] for t in results['tests']) == Rubric.load().total()
    assert 'syntax error' in results['tests'][0]['output']


def test_gradescope_shows_the_learner_their_own_file_not_the_autograders_folders(tmp_path):
    """The learner's upload, named as they uploaded it (in a folder of theirs too): each
    failure's line is theirs, and no path of the autograder's machine (/autograder/submission/)
    is in what Gradescope shows; the same text as ``micrograde grade`` of that file."""
    results, _ = autograder(tmp_path, {'hw/engine.py': SUBMISSIONS / 'bug_overwrite_grad.py'})
    text = json.dumps(results)
    assert str(tmp_path) not in text and 'autograder' not in text.replace('the autograder', '')
    failing = [t for t in results['tests'] if t['status'] == 'failed']
    assert failing and all(re.search(r'\(hw/engine\.py:\d+\)$', t['output']) for t in failing
                           if t['name'] == 'backward.accumulate')


@pytest.mark.parametrize('files, says', [({'engine.py': SUBMISSIONS / 'lecture_engine.py'},
                                          'stopped without a result'),
                                         ({'notes.txt': 'hi'}, 'found: notes.txt')])
def test_gradescope_always_gets_a_results_json(tmp_path, files, says):
    results, _ = autograder(tmp_path, files, program='/bin/false')
    assert results['score'] == 0 and says in results['output']


def test_gradescope_names_two_uploads_that_could_each_be_graded_instead_of_guessing(tmp_path):
    results, done = autograder(tmp_path, {'engine.py': SUBMISSIONS / 'lecture_engine.py',
                                          'engine_old.py': SUBMISSIONS / 'bug_overwrite_grad.py'})
    assert results['score'] == 0 and results['tests'] == []
    assert 'engine.py, engine_old.py' in results['output'] and 'submission_name' in results['output']
    assert 'running:' not in done.stdout


def test_gradescope_readme_gives_the_rubrics_total_and_setup_installs_cpu_torch():
    readme = (ROOT / 'examples' / 'gradescope' / 'README.md').read_text()
    total = Rubric.load().total()
    assert f'{total:g} for the default rubric' in readme
    setup = (ROOT / 'examples' / 'gradescope' / 'setup.sh').read_text()
    installs = [line.split() for line in setup.splitlines() if line.startswith('"$VENV/bin/pip" install')]
    torch = next(k for k, words in enumerate(installs) if any(w.startswith('torch') for w in words))
    grader = next(k for k, words in enumerate(installs) if any('micrograde[grader]' in w for w in words))
    # the torch the suite grades with (the Makefile's pin), CPU-only, and before micrograde, whose
    # requirement it then meets: else pip pulls PyPI's multi-gigabyte CUDA build
    pin = re.search(r'pip install -q torch==(\S+)\n', (ROOT / 'Makefile').read_text())[1]
    assert f'torch=={pin}' in installs[torch] and torch < grader
    assert installs[torch][-2:] == ['--index-url', '"$TORCH_INDEX"']
    assert 'TORCH_INDEX=${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}' in setup
    extra = tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']['optional-dependencies']
    floor = next(re.fullmatch(r'torch>=([\d.]+)', r) for r in extra['grader'] if r.startswith('torch'))
    assert _version(pin) >= _version(floor[1])


def _version(text):
    return tuple(int(n) for n in text.split('.'))


def test_every_example_is_a_file_or_an_edit_that_applies_exactly_as_its_row_says(tmp_path):
    files = ROOT / 'submissions'
    made = {p.name for p in examples.write(tmp_path, files)}
    edited = {name for name, row in EXPECTED.items() if 'edits' in row}
    assert made == edited and len(made) >= 20
    for name, row in EXPECTED.items():
        if name in made:
            base = (files / row.get('base', examples.BASE)).read_text()
            assert (tmp_path / name).read_text() != base and not (files / name).exists()
            compile((tmp_path / name).read_text(), name, 'exec')
        elif name != 'does_not_exist.py':  # the one example of a path that is not there
            assert (files / name).exists(), name
    # and the suite grades them all: SUBMISSIONS holds both kinds
    assert {n for n in EXPECTED if (SUBMISSIONS / n).exists()} == set(EXPECTED) - {'does_not_exist.py'}


def test_an_edit_applies_exactly_as_often_as_it_says_or_is_refused():
    def made(old, **times):
        return examples.source('x.py', {'doc': 'x', 'edits': [{'old': old, 'new': 'NEW\n', **times}]},
                               ROOT / 'submissions')
    assert made('        self.grad = 1.0\n').count('NEW') == 1
    with pytest.raises(examples.EditError, match='found it 0 time'):
        made('        self.grad = 2.0\n')
    with pytest.raises(examples.EditError, match='found it 8 time'):
        made('        out._backward = _backward\n')
    assert made('        out._backward = _backward\n', times=8).count('NEW') == 8


def test_make_examples_writes_the_edited_examples_to_try_by_hand(tmp_path):
    """What ``make examples`` runs writes each edited example as its row says: the row's doc, each
    edit's new text; and what it writes grades as the table expects."""
    out = tmp_path / 'out'
    done = subprocess.run([sys.executable, '-m', 'micrograde.surfaces.examples', str(out)],
                          capture_output=True, text=True, timeout=60, check=True)
    edited = {n: row for n, row in EXPECTED.items() if 'edits' in row}
    assert sorted(done.stdout.split()) == sorted(str(out / n) for n in edited)
    for name, row in edited.items():
        text = (out / name).read_text()
        assert text.startswith(f'"""{row["doc"]}"""\n'), name
        assert all(edit['new'] in text for edit in row['edits'] if edit['new']), name
    want = EXPECTED['bug_rsub_swapped.py']
    graded = in_process('grade', out / 'bug_rsub_swapped.py', '--profile', 'quick', '--json',
                        tmp_path / 'report.json')
    checks = {c['id']: (c['status'], c['message'])
              for c in json.loads((tmp_path / 'report.json').read_text())['checks']}
    assert graded.returncode == want['exit'] and not unnamed(want, checks), checks


def test_a_missing_backward_is_one_finding_at_the_method_named_otherwise(tmp_path):
    """An engine whose backward is called backwards(): one finding that says so, located at
    backwards(), through which every check that calls backward() grades the real gradients
    (they pass); the other bug (`selff` in __neg__) stays a finding of its own."""
    out = in_process('grade', SUBMISSIONS / 'backwards_named_neg_raises.py', '--seed', '0',
                     '--json', tmp_path / 'report.json')
    assert out.returncode == 1, out.stdout + out.stderr
    report = json.loads((tmp_path / 'report.json').read_text())
    roots = [c for c in report['checks']
             if c['status'] in ('failed', 'error') and c['required'] and not c['consequence_of']]
    assert sorted(c['misconception']['code'] for c in roots) == ['backward_missing', 'exception']
    missing = next(c for c in roots if c['misconception']['code'] == 'backward_missing')
    assert missing['id'] == 'capability.backward'
    assert missing['misconception']['method'] == 'backwards'
    status = {c['id']: c['status'] for c in report['checks']}
    assert {status[i] for i in ('backward.walk', 'mlp.gradients', 'mlp.step', 'mlp.zero_grad')} == \
        {'passed'}
    assert '2 bug(s) found' in out.stdout
