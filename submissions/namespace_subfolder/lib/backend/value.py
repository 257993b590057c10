"""A Value that records each op's local derivatives (microgpt's style), in a folder without
__init__.py: Python imports it as lib.backend.value all the same."""
from lib import rules


class Value:

    def __init__(self, data, children=(), local_grads=()):
        self.data, self.grad = data, 0.0
        self._children, self._local_grads = children, local_grads

    def _op(self, rule, *others):
        operands = [self] + [o if isinstance(o, Value) else Value(o) for o in others]
        data, local = rule(*(o.data for o in operands))
        return Value(data, tuple(operands), local)

    def __add__(self, other):
        return self._op(rules.add, other)

    def __mul__(self, other):
        return self._op(rules.mul, other)

    def __pow__(self, n):
        data, local = rules.power(self.data, n)
        return Value(data, (self,), local)

    def tanh(self):
        return self._op(rules.tanh)

    def __radd__(self, other):
        return self + other

    def __rmul__(self, other):
        return self * other

    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + -other

    def __truediv__(self, other):
        return self * other ** -1

    def backward(self):
        topo, seen = [], set()

        def build(v):
            if id(v) not in seen:
                seen.add(id(v))
                for child in v._children:
                    build(child)
                topo.append(v)
        build(self)
        self.grad = 1.0
        for v in reversed(topo):
            for child, local in zip(v._children, v._local_grads):
                child.grad += local * v.grad
