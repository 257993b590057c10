"""A rule that does nothing must cost the same however it is written.  Round eight priced every
op whose rules are all stubs (``def _backward(): pass``, the worker's ``stub`` in its class
report) as its own finding: the lecture engine with every rule a stub went from 33/51 (one
finding, mul's: every op check's graphs end in ``* k``, and a ``*`` that passes no gradient hides
every other op's rule, each check then mul's consequence, its point kept) to 25/51.  The stub is
read from the rule's bytecode, so a rule that does nothing in any other words was still mul's."""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LECTURE = (ROOT / 'submissions' / 'lecture_engine.py').read_text()
RULES = re.compile(r'(def _backward\(\):\n)((?:            .*\n)+)')


def _every_rule(body):
    """The lecture engine with every op's rule replaced by ``body``."""
    source, count = RULES.subn(lambda m: m.group(1) + f'            {body}\n', LECTURE)
    assert count >= 8, count  # the lecture engine's rules, written as this test reads them
    return source


def _grade(run_cli, tmp_path, name, source):
    path = tmp_path / f'{name}.py'
    path.write_text(source)
    out = tmp_path / name
    run_cli('grade', path, '--profile', 'quick', '--seed', '7', '--out', out, '--no-color')
    return json.loads((out / 'report.json').read_text())


@pytest.mark.parametrize('body', ['self.grad += 0.0', 'self.grad = self.grad'])
def test_a_rule_that_does_nothing_costs_as_a_stub(run_cli, tmp_path, body):
    """Before: every rule ``pass`` scored 25/51 at seed 7, every rule ``self.grad += 0.0`` (or
    ``self.grad = self.grad``) 33/51, each op check but mul's a consequence of mul's.  An op
    check blamed on another op's rule is judged again on its graphs without their ``* k``,
    which backward() seeds itself: there the op's own rule is seen."""
    stub = _grade(run_cli, tmp_path, 'stub', _every_rule('pass'))
    written = _grade(run_cli, tmp_path, 'written', _every_rule(body))
    checks = {c['id']: c for c in written['checks']}
    assert (checks['ops.tanh'].get('misconception') or {}).get('op') == 'tanh', checks['ops.tanh']
    assert written['score'] <= stub['score'] < 51, (written['score'], stub['score'])
