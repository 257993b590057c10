"""A course's secret (``$MICROGRADE_SECRET``): each submission graded at a seed drawn from the
secret and its content, so that an engine that memorised the answers at the inputs of a seed a
learner can read (the default, or one a report showed) is graded as its rules are, on every
path: ``grade``, ``batch`` (the warm template) and the service."""
import csv
import json
import math
import shutil
from pathlib import Path

import pytest

from micrograde.grader.config import SECRET, Config
from micrograde.grader.grading import seeded

ROOT = Path(__file__).resolve().parent.parent
LECTURE = (ROOT / 'submissions' / 'lecture_engine.py').read_text()
RIGHT_TANH = 'self.grad += (1 - t**2) * out.grad'
SECRET_TEXT = 'course-secret-7f3a'


@pytest.fixture(scope='module')
def memorised():
    """The lecture's engine with a wrong tanh rule (``1 - t``) that answers right at every tanh
    input the self-check (the grader's own checks, in-process) asks at the public seed 0: what a
    learner collects by running ``check()`` on a correct engine that records them."""
    from micrograde import check
    recording = LECTURE.replace('t = (math.exp(2*x) - 1)', 'SEEN.add(x); t = (math.exp(2*x) - 1)')
    seen = set()
    space = {'SEEN': seen, '__name__': 'recording'}
    exec(compile(recording, 'recording.py', 'exec'), space)
    check(space['Value'], MLP=space['MLP'], seed=0, profile='quick', timeout=30)
    table = {x: 1 - math.tanh(x) ** 2 for x in seen if type(x) is float}
    assert RIGHT_TANH in LECTURE and len(table) > 50
    return f'MEMO = {table!r}\n' + LECTURE.replace(RIGHT_TANH,
                                                   'self.grad += MEMO.get(x, 1 - t) * out.grad')


def _report(out):
    return json.loads((out / 'report.json').read_text())


def test_the_seed_follows_the_secret_and_the_content_not_the_place(tmp_path):
    """The same bytes under another name and folder get the same seed (one grade on every
    surface); a byte more, another secret or another base seed, another; no secret, the seed
    given."""
    a, b, c = tmp_path / 'a.py', tmp_path / 'sub' / 'other.py', tmp_path / 'c.py'
    b.parent.mkdir()
    a.write_text(LECTURE)
    b.write_text(LECTURE)
    c.write_text(LECTURE + '\n')
    config = Config(secret=b'one')
    assert seeded(config, a).seed == seeded(config, b).seed
    assert seeded(config, a).secret is None  # the report's seed grades it again as given
    others = {seeded(config, c).seed, seeded(Config(secret=b'two'), a).seed,
              seeded(Config(seed=1, secret=b'one'), a).seed}
    assert seeded(config, a).seed not in others and len(others) == 3
    assert seeded(Config(seed=5), a).seed == 5


def test_a_seed_given_is_graded_as_given_and_reproduces_the_report(run_cli, tmp_path, monkeypatch):
    """With the secret set, ``--seed`` still decides, so the report's reproduce line (its seed)
    grades the same, with the secret or without it."""
    path = tmp_path / 'engine.py'
    path.write_text(LECTURE.replace(RIGHT_TANH, 'self.grad += (1 - t) * out.grad'))
    monkeypatch.setenv(SECRET, SECRET_TEXT)
    first = run_cli('grade', path, '--profile', 'quick', '--out', tmp_path / 'one', '--no-color')
    seed = _report(tmp_path / 'one')['seed']
    assert seed != 0 and f'--seed {seed} --profile quick' in first.stdout
    run_cli('grade', path, '--profile', 'quick', '--seed', seed, '--out', tmp_path / 'two')
    monkeypatch.delenv(SECRET)
    run_cli('grade', path, '--profile', 'quick', '--seed', seed, '--out', tmp_path / 'three')
    reports = [_report(tmp_path / d) for d in ('one', 'two', 'three')]
    for r in reports:
        r.pop('timestamp'), r.pop('duration', None), r.pop('timings', None)
        for check in r['checks']:
            check.pop('duration', None)
    assert reports[0]['seed'] == reports[1]['seed'] == reports[2]['seed'] == seed
    assert reports[0]['score'] == reports[1]['score'] == reports[2]['score']
    assert [(c['id'], c['status'], c['message']) for c in reports[0]['checks']] == \
        [(c['id'], c['status'], c['message']) for c in reports[2]['checks']]


def test_a_memorised_engine_passes_at_the_public_seed(memorised, run_cli, tmp_path):
    """The attack is real: without a secret, the wrong tanh passes where the table holds."""
    path = tmp_path / 'memorised.py'
    path.write_text(memorised)
    run_cli('grade', path, '--profile', 'quick', '--out', tmp_path / 'out', '--no-color')
    assert _report(tmp_path / 'out')['verdict'] == 'passed'


def _failed_as_its_rule(report):
    checks = {c['id']: c for c in report['checks']}
    assert report['verdict'] == 'failed' and report['seed'] != 0
    assert checks['mlp.gradients']['status'] == 'failed'
    # the op checks' own graphs are at the seed's inputs too: the table holds none of them
    assert checks['ops.tanh']['status'] == 'failed', checks['ops.tanh']['message']
    assert any(c['status'] == 'failed' and 'tanh' in (c['message'] + json.dumps(c.get('diagnosis')))
               for c in report['checks']), report['checks']


def test_a_memorised_engine_fails_under_a_course_secret_on_grade_and_batch(
        memorised, run_cli, tmp_path, monkeypatch):
    """``grade`` and ``batch -j 2`` draw the same seed for the same content, and the engine fails
    at it as its rule does; the secret itself is in no report."""
    monkeypatch.setenv(SECRET, SECRET_TEXT)
    folder = tmp_path / 'class'
    folder.mkdir()
    (folder / 'memorised.py').write_text(memorised)
    (folder / 'lecture.py').write_text(LECTURE)
    run_cli('grade', folder / 'memorised.py', '--profile', 'quick', '--out', tmp_path / 'graded')
    graded = _report(tmp_path / 'graded')
    _failed_as_its_rule(graded)
    result = run_cli('batch', folder, '--out', tmp_path / 'batch', '-j', '2', '--profile', 'quick')
    assert 'Traceback' not in result.stdout + result.stderr, result.stderr
    batched = _report(tmp_path / 'batch' / 'memorised.py')
    assert batched['seed'] == graded['seed'] and batched['score'] == graded['score']
    _failed_as_its_rule(batched)
    with open(tmp_path / 'batch' / 'gradebook.csv', newline='') as f:
        book = {row['id']: row for row in csv.DictReader(f)}
    assert book['lecture.py']['verdict'] == 'passed'
    for report in (tmp_path / 'graded').iterdir():
        assert SECRET_TEXT not in report.read_text(encoding='utf-8', errors='replace')
    for report in (tmp_path / 'batch').rglob('*'):
        if report.is_file():
            assert SECRET_TEXT not in report.read_text(encoding='utf-8', errors='replace')


def test_a_batch_grades_again_when_the_secret_changes(run_cli, tmp_path, monkeypatch):
    """A batch keeps a report only while its seed would be the same: a new secret grades anew."""
    folder = tmp_path / 'class'
    folder.mkdir()
    shutil.copy(ROOT / 'submissions' / 'bug_tanh_derivative.py', folder)
    seeds = []
    for secret in ('first', 'first', 'second'):
        monkeypatch.setenv(SECRET, secret)
        result = run_cli('batch', folder, '--out', tmp_path / 'out', '--profile', 'quick')
        seeds.append((_report(tmp_path / 'out' / 'bug_tanh_derivative.py')['seed'],
                      'unchanged' in result.stdout and '1 unchanged' in result.stdout))
    assert seeds[0][0] == seeds[1][0] != seeds[2][0]
    assert seeds[1][1] and not seeds[2][1]


def test_an_engine_cannot_read_the_secret(run_cli, tmp_path, monkeypatch):
    """The worker's environment is its own: what the engine prints of its environment (and of
    its parent's, where it can read it) holds no secret."""
    monkeypatch.setenv(SECRET, SECRET_TEXT)
    path = tmp_path / 'nosy.py'
    path.write_text('import os\nprint("ENV", dict(os.environ))\n'
                    'try:\n    print("PARENT", open(f"/proc/{os.getppid()}/environ", "rb").read())\n'
                    'except OSError as e:\n    print("PARENT", e)\n' + LECTURE)
    out = tmp_path / 'out'
    run_cli('grade', path, '--profile', 'quick', '--out', out)
    assert 'ENV' in (out / 'report.json').read_text()
    for report in out.iterdir():
        assert SECRET_TEXT not in report.read_text(encoding='utf-8', errors='replace')


@pytest.mark.service
def test_a_memorised_engine_fails_under_a_course_secret_through_the_service(
        memorised, tmp_path, monkeypatch, redis_url_):
    """The service (its API in this process, a real worker process) draws the seed as
    ``micrograde grade`` does, from the secret in its environment."""
    from conftest import in_process
    from served import Served
    monkeypatch.setenv(SECRET, SECRET_TEXT)
    served = Served(tmp_path, redis_url_)
    with served.client:
        served.submit('memorised', memorised.encode())
        jobs = served.grade()
        assert jobs['memorised']['status'] == 'done', jobs
        report = served.get('memorised').json()
    _failed_as_its_rule(report)
    path = tmp_path / 'memorised.py'
    path.write_text(memorised)
    in_process('grade', path, '--profile', 'quick', '--out', tmp_path / 'graded')
    graded = _report(tmp_path / 'graded')
    assert report['seed'] == graded['seed'] and report['score'] == graded['score']


def _dead_seed():
    """A seed whose reference weights leave a relu-everywhere network's output 0 for every
    sample (a third of all seeds are such): what a course secret's seeds reach."""
    from micrograde.checks import mlp
    return next(s for s in range(1, 100) if not any(mlp._outputs(mlp.reference_mlp(s)[0], 'relu', 'relu')))


def test_a_relu_network_is_stepped_where_its_loss_is_not_flat(run_cli, tmp_path):
    """A correct engine whose network has relu on every unit (a known architecture) passes
    ``mlp.step`` at a seed where the reference weights leave it dead (every gradient 0, so no
    step can move the loss): the step is judged at a further draw of weights. Before, it failed,
    'moved the loss 4.0 -> 4.0: it must fall', at about a third of all seeds."""
    path = tmp_path / 'relu_net.py'
    path.write_text(LECTURE.replace('out = act.tanh()', 'out = act.relu()'))
    seed = _dead_seed()
    out = tmp_path / 'out'
    run_cli('grade', path, '--profile', 'quick', '--seed', seed, '--out', out, '--no-color')
    checks = {c['id']: c for c in _report(out)['checks']}
    assert 'relu everywhere' in checks['mlp.forward']['message']
    assert checks['mlp.step']['status'] == 'passed', checks['mlp.step']['message']
    assert _report(out)['verdict'] == 'passed'


def test_a_relu_network_s_gradients_are_checked_where_its_loss_is_not_flat(run_cli, tmp_path):
    """At such a seed the network's gradients were 'checked' at a flat point, 0 against 0: a
    neuron that takes its weights' numbers (``wi.data * xi``, so no weight gets a gradient)
    passed ``mlp.gradients``. They are judged at the further draw too, and it fails."""
    path = tmp_path / 'detached.py'
    path.write_text(LECTURE.replace('out = act.tanh()', 'out = act.relu()').replace(
        'act = sum((wi*xi for wi, xi in zip(self.w, x)), self.b)',
        'act = sum((wi.data*xi for wi, xi in zip(self.w, x)), self.b)'))
    out = tmp_path / 'out'
    run_cli('grade', path, '--profile', 'quick', '--seed', _dead_seed(), '--out', out, '--no-color')
    checks = {c['id']: c for c in _report(out)['checks']}
    assert checks['mlp.forward']['status'] == 'passed', checks['mlp.forward']['message']
    assert checks['mlp.gradients']['status'] == 'failed', checks['mlp.gradients']['message']


def test_the_fixed_graphs_move_with_the_seed_and_keep_their_domains():
    """Seed 0 keeps the written inputs (whose answers ship); another seed moves every one of
    them, keeping each sign, each equality and each distinction, and none lands near 1 (where a
    wrong power rule agrees with the right one); the same seed, the same points."""
    from micrograde.model import cases
    graphs = [g for gs in cases.OP_CASES.values() for g in gs] + \
        [g for _, _, gs in cases.BACKWARD for g in gs] + [cases.REPEAT]
    for seed in (1, 7, 2 ** 63 + 12345):
        for g in graphs:
            assert cases.moved(g, 0) is g
            m = cases.moved(g, seed)
            assert m == cases.moved(g, seed) and m.nodes == g.nodes
            pairs = list(zip(g.inputs, m.inputs))
            assert all(x != y and math.copysign(1, x) == math.copysign(1, y)
                       for (_, x), (_, y) in pairs), (g.code(), m.inputs)
            assert all(abs(abs(y) - 1) > 0.05 for (_, x), (_, y) in pairs if abs(abs(x) - 1) > 0.05)
            for (_, x1), (_, y1) in pairs:
                for (_, x2), (_, y2) in pairs:
                    assert (abs(x1) == abs(x2)) == (abs(y1) == abs(y2))


def test_one_bug_costs_the_same_whether_the_random_graphs_show_it_or_not(run_cli, tmp_path):
    """An ``=`` for ``+=`` in ``__add__`` (``__sub__`` calls ``+``, and its own check's graphs
    happen to run the rule first): at seed 0 a random graph reaches it through ``-`` and fails
    the fuzz check as that cause's consequence, at seed 99 every wrong graph uses a failing op
    and the fuzz check leaves them to it.  The bug costs the same at both: under a course secret
    two learners with it must not score apart by their seeds.  Before, 41 and 49 of 51."""
    path = tmp_path / 'overwrite.py'
    shutil.copy(ROOT / 'submissions' / 'bug_overwrite_grad.py', path)
    reports = []
    for seed in (0, 99):
        run_cli('grade', path, '--seed', seed, '--out', tmp_path / str(seed), '--no-color')
        reports.append(_report(tmp_path / str(seed)))
    fuzz = [next(c for c in r['checks'] if c['id'] == 'fuzz.dags') for r in reports]
    assert [f['status'] for f in fuzz] == ['failed', 'passed'], [f['message'] for f in fuzz]
    assert fuzz[0]['consequence_of'] == 'ops.add'
    assert reports[0]['score'] == reports[1]['score'] == reports[0]['max_score'] - 2
