"""The attack tests' submissions, each built from one text so that no test keeps a copy: the
small "hostile engine" with an attack at import, in its backward() or as its tanh rule
(test_hostile, test_tamper, test_attacks), and the lecture engine with an attack written in by
exact edits (``tamper/tamper.toml``, as ``submissions/examples.toml`` writes its examples)."""
import textwrap
import tomllib
from pathlib import Path

from micrograde.surfaces import examples

HERE = Path(__file__).resolve().parent

ENGINE = '''
import math


class Value:
    def __init__(self, data, _children=(), _op=''):
        self.data = data
        self.grad = 0.0
        self._backward = lambda: None
        self._prev = set(_children)

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other))
        def _backward():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other))
        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def tanh(self):
        t = math.tanh(self.data)
        out = Value(t, (self,))
        def _backward():
            TANH_RULE
        out._backward = _backward
        return out

    def backward(self):
        IN_BACKWARD
        topo, seen = [], set()
        def build(v):
            if v not in seen:
                seen.add(v)
                for c in v._prev:
                    build(c)
                topo.append(v)
        build(self)
        self.grad = 1.0
        for v in reversed(topo):
            v._backward()
'''
GOOD_TANH = 'self.grad += (1 - t ** 2) * out.grad'

#: How a rule tells the grader watches it: an instrumented run (``execute._instrument``) replaces
#: each node's rule by a wrapper that records the order the rules run in, found by its name or
#: by identity.  So every graph is judged on a plain run; the instrumented one only explains.
WATCHED = {
    'by_name': "getattr(out._backward, '__name__', '') == 'recorded'",
    'by_identity': 'out._backward is not _backward',
}
BAD_TANH = 'self.grad += (1 - t) * out.grad'


def hostile_engine(at_import='', in_backward='pass', tanh=BAD_TANH):
    """The hostile engine's text: ``at_import`` run before it, ``in_backward`` first in its
    backward(), ``tanh`` its tanh's rule (by default a wrong one: a tanh check passed is forged)."""
    code = ENGINE.replace('TANH_RULE', tanh).replace(
        'IN_BACKWARD', textwrap.indent(textwrap.dedent(in_backward), ' ' * 8).strip())
    return textwrap.dedent(at_import) + code


#: The lecture engine plus an attack, by name: its doc and its edits (``tamper/tamper.toml``).
TAMPERED = tomllib.loads((HERE / 'tamper' / 'tamper.toml').read_text())


def tampered(name):
    """The text of ``name`` written from the lecture engine (``EditError`` where an edit no longer
    fits it)."""
    return examples.source(name, TAMPERED[name], HERE.parent / 'submissions')
