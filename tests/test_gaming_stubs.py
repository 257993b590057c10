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


#: tanh's rule wrong only at inputs its own check never reaches (only the random graphs find it).
TANH = 'self.grad += (1 - t**2) * out.grad'
SUBTLE = TANH + ' * (1.0 if abs(x) < 3.5 else 0.5)'
#: tanh raising NotImplementedError at its first call only: the probe's.
FIRST_CALL = ('    def tanh(self):\n',
              '    def tanh(self):\n        if not _CALLED:\n            _CALLED.append(1)\n'
              "            raise NotImplementedError('tanh')\n")


def _graded_and_batched(run_cli, tmp_path, sources, seed='7'):
    """``{name: score}`` of ``sources`` by ``grade``, checked equal to ``batch -j 2``'s."""
    folder = tmp_path / 'class'
    folder.mkdir()
    graded = {}
    for name, source in sources.items():
        (folder / f'{name}.py').write_text(source)
        run_cli('grade', folder / f'{name}.py', '--profile', 'quick', '--seed', seed,
                '--out', tmp_path / name, '--no-color')
        graded[name] = json.loads((tmp_path / name / 'report.json').read_text())
    run_cli('batch', folder, '--out', tmp_path / 'batched', '-j', '2', '--profile', 'quick',
            '--seed', seed)
    batched = {name: json.loads((tmp_path / 'batched' / f'{name}.py' / 'report.json').read_text())
               for name in sources}
    assert {n: r['score'] for n, r in batched.items()} == {n: r['score'] for n, r in graded.items()}
    return graded


def test_an_op_raising_not_implemented_at_its_first_call_only_is_not_absent(run_cli, tmp_path):
    """At seed 7 the subtle tanh bug alone scores 41/51 (fuzz.dags). The same engine whose tanh
    raises NotImplementedError at its first call only (the probe's) scored 48/51 on grade and
    batch: tanh 'is not implemented (a stub)', its ops check skipped (1 point) and the random
    graphs drawn without it, though it answered every later call (the network's). An op the
    probe called absent is tried again in the random graphs that use it: one that answers
    there is checked as present."""
    subtle = LECTURE.replace(TANH, SUBTLE)
    dodging = subtle.replace(*FIRST_CALL).replace('import math\n', 'import math\n_CALLED = []\n', 1)
    assert dodging.count('_CALLED') == 3
    graded = _graded_and_batched(run_cli, tmp_path, {'subtle': subtle, 'dodging': dodging})
    fuzz = {c['id']: c for c in graded['dodging']['checks']}['fuzz.dags']
    assert fuzz['status'] == 'failed' and 'tanh' in fuzz['message'], fuzz['message']
    assert graded['dodging']['score'] <= graded['subtle']['score'] < 51, \
        (graded['dodging']['score'], graded['subtle']['score'])
    # and its capability check says what happened, not 'a stub' (attacker15's proposal)
    said = {c['id']: c for c in graded['dodging']['checks']}['capability.tanh']['message']
    assert 'then answered' in said and 'a stub' not in said, said
