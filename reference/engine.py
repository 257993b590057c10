"""The reference scalar autograd engine every submission is compared with.

It keeps the lecture's shape (``data``, ``grad``, ``_prev``, ``_op``, ``label``, ``_backward``) so
that grading and drawing code treat a learner's ``Value`` and this one alike, and fixes what the
lecture leaves fragile: overflow in ``tanh``/``sigmoid``/``exp``, ``relu'(0)``, ``0 ** 0``, and
the recursion limit in ``backward``.

Repeated ``backward()`` follows micrograd exactly: each call seeds the root with 1 and runs every
node's local rule once, *adding* into the ``.grad`` already stored.  For a graph of depth one
(``a*b``) a second call doubles the leaf gradients; deeper graphs compound, because inner nodes
carry their first-call gradient into the second pass.  Call ``zero_grad`` between passes for
fresh gradients.
"""
import math


class Value:
    """A scalar and its gradient."""

    def __init__(self, data, _children=(), _op='', label=''):
        self.data = data
        self.grad = 0.0
        self._backward = lambda: None
        # a tuple, not the lecture's set: the order of gradient accumulation is then fixed,
        # so reference results are reproducible to the last bit
        self._prev = tuple(dict.fromkeys(_children))
        self._op = _op
        self.label = label

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), '+')

        def _backward():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), '*')

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def __pow__(self, other):
        if isinstance(other, Value):  # a Value exponent gets a gradient too
            out = Value(_pow(self.data, other.data), (self, other), '**')

            def _backward():
                self.grad += _power_rule(self.data, other.data) * out.grad
                other.grad += out.data * _log(self.data) * out.grad
            out._backward = _backward
            return out
        assert isinstance(other, (int, float)), "only int/float/Value exponents are supported"
        out = Value(_pow(self.data, other), (self,), f'**{other}')

        def _backward():
            self.grad += _power_rule(self.data, other) * out.grad
        out._backward = _backward
        return out

    def __rpow__(self, other):  # other ** self
        return Value(other) ** self

    def exp(self):
        out = Value(_exp(self.data), (self,), 'exp')

        def _backward():
            self.grad += out.data * out.grad
        out._backward = _backward
        return out

    def log(self):
        x = self.data
        out = Value(_log(x), (self,), 'log')

        def _backward():
            self.grad += (1 / x if x != 0 else math.inf) * out.grad
        out._backward = _backward
        return out

    def tanh(self):
        t = math.tanh(self.data)
        out = Value(t, (self,), 'tanh')

        def _backward():
            self.grad += (1 - t * t) * out.grad
        out._backward = _backward
        return out

    def relu(self):
        out = Value(self.data if self.data > 0 else 0.0, (self,), 'ReLU')

        def _backward():
            # relu'(0) = 0, torch's convention
            self.grad += (1.0 if self.data > 0 else 0.0) * out.grad
        out._backward = _backward
        return out

    def sigmoid(self):
        x = self.data
        s = 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))
        out = Value(s, (self,), 'sigmoid')

        def _backward():
            self.grad += s * (1 - s) * out.grad
        out._backward = _backward
        return out

    def backward(self):
        """Seed this value with 1 and apply the chain rule in reverse topological order."""
        topo = self._topological_order()
        self.grad = 1.0
        for v in reversed(topo):
            v._backward()

    def _topological_order(self):
        # iterative post-order DFS: a 100 000-node chain needs no recursion
        topo, seen = [], set()
        stack = [(self, False)]
        while stack:
            v, children_done = stack.pop()
            if children_done:
                topo.append(v)
            elif v not in seen:
                seen.add(v)
                stack.append((v, True))
                stack.extend((c, False) for c in reversed(v._prev) if c not in seen)
        return topo

    def __neg__(self):
        return self * -1

    def __radd__(self, other):
        return self + other

    def __sub__(self, other):
        return self + (-other)

    def __rsub__(self, other):
        return other + (-self)

    def __rmul__(self, other):
        return self * other

    def __truediv__(self, other):
        return self * other**-1

    def __rtruediv__(self, other):
        return other * self**-1

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"


def _exp(x):
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _pow(x, n):
    try:
        return x ** n if not (x < 0 and n != int(n)) else math.nan  # torch gives nan, not complex
    except ZeroDivisionError:
        return math.inf
    except OverflowError:
        return math.inf


def _power_rule(x, n):
    """d/dx x**n; 0 for n = 0 everywhere, also at x = 0 where the general rule divides by zero."""
    return 0.0 if n == 0 else n * _pow(x, n - 1)


def _log(x):
    return math.log(x) if x > 0 else (-math.inf if x == 0 else math.nan)
