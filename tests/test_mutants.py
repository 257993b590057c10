"""Planted bugs: each op's rule in the lecture's engine broken one way at a time (its first
gradient assigned, its upstream gradient left out, its rule never set), graded end to end. One
bug is one finding, in the method that holds it, on every surface: the report's one root cause,
the console's one headline, every JUnit failure at that method, one "What to fix" item."""
import json
import re
import xml.etree.ElementTree as ET

import pytest

from conftest import SUBMISSIONS

ENGINE = (SUBMISSIONS / 'lecture_engine.py').read_text()
#: mutation -> (how a rule's lines change, the misconception it is)
MUTATIONS = {
    'assigned': (lambda rule: rule.replace('.grad +=', '.grad =', 1), ('assigned',)),
    'no_upstream': (lambda rule: re.sub(r' \* out\.grad$', '', rule, flags=re.M), ('no_upstream',)),
    'left_only': (lambda rule: re.sub(r' \* out\.grad$', '', rule, count=1, flags=re.M),
                  ('no_upstream', 'wrong_derivative')),  # one operand's: a wrong derivative too
    'no_rule': (lambda rule: rule.replace('        out._backward = _backward\n', ''), ('no_backward',)),
}
METHODS = ('__add__', '__mul__', '__pow__', 'tanh', 'exp', 'log', 'relu', 'sigmoid')


def mutant(method, mutation):
    """The engine with ``method``'s rule changed by ``mutation``."""
    start = ENGINE.index(f'    def {method}(')
    end = ENGINE.index('\n    def ', start + 1)
    body = ENGINE[start:end]
    changed = MUTATIONS[mutation][0](body)
    assert changed != body, (method, mutation)
    return ENGINE[:start] + changed + ENGINE[end:]


@pytest.mark.parametrize('mutation', MUTATIONS)
@pytest.mark.parametrize('method', METHODS)
def test_a_planted_bug_is_one_finding_at_its_method_on_every_surface(method, mutation, run_cli,
                                                                     tmp_path):
    path = tmp_path / 'engine.py'
    path.write_text(mutant(method, mutation))
    result = run_cli('grade', path, '--profile', 'quick', '--out', tmp_path / 'out', '--no-color')
    assert result.returncode == 1, result.stdout
    report = json.loads((tmp_path / 'out' / 'report.json').read_text())
    roots = [c for c in report['checks'] if c['required'] and c['status'] in ('failed', 'error')
             and not c['consequence_of']]
    found = [((c['misconception'] or {}).get('code'), (c['misconception'] or {}).get('method'))
             for c in roots]
    assert len(found) == 1 and found[0][0] in MUTATIONS[mutation][1] and found[0][1] == method, \
        [(c['id'], c['message'], c['misconception']) for c in roots]
    assert '1 bug(s) found' in result.stdout, result.stdout
    failures = ET.parse(tmp_path / 'out' / 'junit.xml').getroot().findall('.//failure')
    assert failures and all(f'at Value.{method} (' in f.text for f in failures), \
        [f.text[-120:] for f in failures]
    html = (tmp_path / 'out' / 'report.html').read_text()
    assert html.split('What to fix', 1)[1].split('</ul>', 1)[0].count('<li') == 1
