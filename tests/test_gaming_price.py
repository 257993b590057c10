"""The price of a bug: a learner must never lose fewer points by writing a wrong rule otherwise.
Each engine here is graded by ``micrograde grade`` and by ``micrograde batch -j 2`` (workers
forked from the warm template), which must agree."""
import json

import pytest

from test_gaming_fuzz import LECTURE

#: Four ops' right rules, each with a wrong one and one that calls a helper of a name no scope
#: defines (the learner who does not know the derivative leaves it to ``d``).
RULES = {
    'self.grad += (1 - t**2) * out.grad': ('self.grad += (1 - t) * out.grad',
                                          'self.grad += d.tanh(t) * out.grad'),
    'self.grad += out.data * out.grad': ('self.grad += x * out.grad',
                                        'self.grad += d.exp(x) * out.grad'),
    'self.grad += (1 / self.data) * out.grad': ('self.grad += self.data * out.grad',
                                               'self.grad += d.log(self.data) * out.grad'),
    'self.grad += s * (1 - s) * out.grad': ('self.grad += s * out.grad',
                                           'self.grad += d.sigmoid(s) * out.grad'),
}


def _with(which):
    source = LECTURE
    for right, rules in RULES.items():
        assert source.count(right) == 1, right
        source = source.replace(right, rules[which])
    return source


def _scores(run_cli, tmp_path, sources):
    """``{name: score}`` of ``sources`` (name -> source) by grade, checked equal to batch's."""
    folder = tmp_path / 'class'
    folder.mkdir()
    graded = {}
    for name, source in sources.items():
        path = folder / f'{name}.py'
        path.write_text(source)
        run_cli('grade', path, '--out', tmp_path / name, '--no-color')
        graded[name] = json.loads((tmp_path / name / 'report.json').read_text())['score']
    run_cli('batch', folder, '--out', tmp_path / 'batched', '-j', '2')
    batched = {name: json.loads((tmp_path / 'batched' / f'{name}.py' / 'report.json').read_text())[
        'score'] for name in sources}
    assert batched == graded, (batched, graded)
    return graded


@pytest.mark.xfail(strict=True, reason=(
    'not closed: causes._undefined merges the NameErrors of any one undefined name read as a '
    'module into one root, whatever the name (checks/causes.py, the coordinator\'s: see '
    'attacker14\'s report)'))
def test_rules_left_to_an_undefined_name_cost_as_the_wrong_rules_they_are(run_cli, tmp_path):
    """Four wrong rules (tanh, exp, log, sigmoid) score 46/51: four findings. The same four rules
    written as calls of ``d.tanh(t)``, ``d.exp(x)`` ... with ``d`` defined nowhere scored 49/51:
    one finding, "NameError: name 'd' is not defined", priced once (one undefined module read in
    several methods is one missing ``import``, round eight's QingZhou-YangHY/Micrograd), though
    no line defines a ``d`` that knows the four derivatives."""
    scores = _scores(run_cli, tmp_path, {'wrong': _with(0), 'undefined': _with(1)})
    assert scores['undefined'] <= scores['wrong'] < 51, scores
