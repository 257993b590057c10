"""Rubric files: validated when loaded, and the rubric alone decides what counts."""
import pytest

from micrograde.model.results import Check, Report
from micrograde.grader.rubric import Rubric, RubricError


def load(tmp_path, text):
    path = tmp_path / 'rubric.toml'
    path.write_text(text)
    return Rubric.load(path)


@pytest.mark.parametrize('text, named, known', [
    ('robustnes_counts = true\n', "'robustnes_counts'", 'required_ops'),
    ('[points]\nfuzzz = 3\n', "'fuzzz'", 'fuzz'),
    ('[points.checks]\n"ops.tanhh" = 3\n', "'ops.tanhh'", 'ops.tanh'),
    ('required_ops = ["add", "tanhh"]\n', "'tanhh'", 'tanh'),
    ('advisory = ["robustnes"]\n', "'robustnes'", 'robustness'),
    ('[visibility]\ndefault = "secret"\n', "'secret'", 'after_due_date'),
    ('[visibility.checks]\n"fuzz.dag" = "hidden"\n', "'fuzz.dag'", 'fuzz.dags'),
    ('[visibility]\ndefualt = "hidden"\n', "'defualt'", 'default'),
])
def test_unknown_names_are_errors_that_name_them_and_the_known_ones(tmp_path, text, named, known):
    with pytest.raises(RubricError) as e:
        load(tmp_path, text)
    assert named in str(e.value) and known in str(e.value)


@pytest.mark.parametrize('text', ['[points]\n"backward.accumulate" = 2\n',
                                  '[points]\nbackward.accumulate = 2\n'])
def test_a_check_id_among_the_categories_is_told_where_it_goes(tmp_path, text):
    """staff13: a check's points written under [points] read 'unknown category'."""
    with pytest.raises(RubricError, match=r'\[points\.checks\]'):
        load(tmp_path, text)


@pytest.mark.parametrize('text', ['[points]\nops = "many"\n', 'required_ops = "add"\n',
                                  'points = 3\n', 'not toml ==\n'])
def test_malformed_values_are_errors(tmp_path, text):
    with pytest.raises(RubricError):
        load(tmp_path, text)


def _report(*checks):
    return Report('x', checks=list(checks))


def test_the_rubric_decides_what_is_advisory(tmp_path):
    def verdict(rubric):
        return rubric.apply(_report(Check('load', 'load', 'passed'),
                                    Check('robustness.tanh_large', 'robustness', 'failed'))).verdict
    assert verdict(Rubric.load()) == 'passed'  # the lecture's rubric: robustness is advice
    assert verdict(load(tmp_path, 'advisory = []\n')) == 'failed'
    assert verdict(load(tmp_path, 'advisory = ["robustness.tanh_large"]\n')) == 'passed'
    # without the list, each check's own default: robustness is advisory by default
    assert verdict(load(tmp_path, 'required_ops = ["add"]\n')) == 'passed'


def test_an_absent_optional_op_never_fails_but_scores_0_of_its_points():
    rubric = Rubric.load()
    report = rubric.apply(_report(Check('load', 'load', 'passed'),
                                  Check('capability.exp', 'capability', 'skipped', required=False),
                                  Check('ops.exp', 'ops', 'skipped', required=False),
                                  Check('ops.add', 'ops', 'passed')))
    checks = {c.id: c for c in report.checks}
    assert report.verdict == 'passed' and report.score == 1
    assert (checks['ops.exp'].score, checks['ops.exp'].max_score) == (0, 1)
    assert report.max_score == rubric.total() == sum(c.max_score for c in report.checks)


def test_points_per_category_and_per_check(tmp_path):
    rubric = load(tmp_path, '[points]\nload = 0\nops = 2\n[points.checks]\n"ops.mul" = 5\n')
    report = rubric.apply(_report(Check('load', 'load', 'passed'), Check('ops.add', 'ops', 'passed'),
                                  Check('ops.mul', 'ops', 'failed')))
    checks = {c.id: c for c in report.checks}
    assert (checks['ops.add'].max_score, checks['ops.mul'].max_score) == (2, 5)
    assert (report.score, report.verdict) == (2, 'failed')
    assert report.max_score == rubric.total()


def test_every_submission_is_out_of_the_same_total():
    rubric = Rubric.load()
    unloadable = rubric.apply(_report(Check('load', 'load', 'failed', 'syntax error')))
    assert unloadable.verdict == 'failed' and unloadable.score == 0
    assert unloadable.max_score == rubric.total() > 0
    assert {c.message for c in unloadable.checks[1:]} == {'not run: the submission could not be loaded'}
    advisory = [c for c in unloadable.checks if c.category == 'robustness']
    assert advisory and all(c.max_score == 0 for c in advisory)


def test_a_bad_rubric_is_a_usage_error_on_the_command_line(run_cli, tmp_path):
    bad = tmp_path / 'rubric.toml'
    bad.write_text('[points]\nfuzzz = 3\n')
    result = run_cli('grade', 'submissions/lecture_engine.py', '--rubric', bad)
    assert result.returncode == 2 and "'fuzzz'" in result.stderr
    assert 'Traceback' not in result.stderr


def test_a_network_the_rubric_requires_fails_where_there_is_none(run_cli, tmp_path):
    """``mlp`` in ``required_ops`` and no MLP class: the submission fails (before, mlp.build was
    skipped and value_only.py PASSED 24/58, exit 0); without it, skipped as before."""
    import json
    rubric = tmp_path / 'rubric.toml'
    rubric.write_text('required_ops = ["add", "mul", "backward", "mlp"]\n')
    for given, code in ((('--rubric', rubric), 1), ((), 0)):
        out = tmp_path / f'out{code}'
        result = run_cli('grade', 'submissions/value_only.py', *given, '--profile', 'quick',
                         '--out', out, '--no-color')
        checks = {c['id']: c for c in json.loads((out / 'report.json').read_text())['checks']}
        build = checks['mlp.build']
        assert (result.returncode, build['status']) == \
            (code, 'failed' if code else 'skipped'), (result.returncode, build)
        assert build['required'] == bool(code)


def test_an_unloaded_submission_requires_only_the_required_ops(run_cli, tmp_path):
    """A file that cannot be loaded probes no op: its capability checks are not run, and only
    those of the rubric's required ops are required (before, all 26 were, and Classroom listed
    26 errors for one syntax error)."""
    import json
    path = tmp_path / 'broken.py'
    path.write_text('class Value:\n    def __init__(self, data)\n')
    out = tmp_path / 'out'
    run_cli('grade', path, '--profile', 'quick', '--out', out, '--no-color')
    report = json.loads((out / 'report.json').read_text())
    required = {c['id'] for c in report['checks'] if c['category'] == 'capability' and c['required']}
    assert required == {'capability.add', 'capability.mul', 'capability.backward'}, required
    assert report['verdict'] == 'failed'
