"""The fixed graphs (``model/cases.py``) reach what other ops ask of an op: a rule wrong only
where another op uses it is found at that op's own check, named where it lives, at every seed."""
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LECTURE = (ROOT / 'submissions' / 'lecture_engine.py').read_text()
POW = 'self.grad += other * (self.data ** (other - 1)) * out.grad'


@pytest.mark.parametrize('seed', [1, 2])
def test_a_pow_rule_wrong_only_at_the_exponent_division_uses_is_named_at_pow(
        run_cli, tmp_path, seed):
    """The lecture's ``/`` is ``self * other**-1``.  Before, no pow graph had the exponent -1:
    ops.pow passed, ops.truediv failed as its own root ('the local derivative of division ... is
    wrong', no method named), and at seed 1 fuzz.dags too, by a one-node ``a ** -1``."""
    source = LECTURE.replace(POW, POW + ' * (1.01 if other == -1 else 1.0)')
    assert source != LECTURE
    path = tmp_path / 'pow.py'
    path.write_text(source)
    run_cli('grade', path, '--profile', 'quick', '--seed', seed, '--out', tmp_path / 'out',
            '--no-color')
    checks = {c['id']: c for c in
              json.loads((tmp_path / 'out' / 'report.json').read_text())['checks']}
    assert checks['ops.pow']['status'] == 'failed', checks['ops.pow']['message']
    assert checks['ops.pow']['misconception']['method'] == '__pow__'
    assert checks['ops.truediv']['consequence_of'] == 'ops.pow'
    assert [c for c, check in checks.items() if check['status'] == 'failed' and
            not check['consequence_of'] and check['required']] == ['ops.pow']
