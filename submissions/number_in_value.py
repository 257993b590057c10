"""A correct scalar engine that names its parts its own way: the class is `Scalar`, the number
is kept in `.value` and the gradient in `.gradient`. Graded through them, and told so."""
import math


class Scalar:

    def __init__(self, value, parents=()):
        self.value = value
        self.gradient = 0.0
        self.parents = tuple(parents)
        self._backward = lambda: None

    @staticmethod
    def wrap(x):
        return x if isinstance(x, Scalar) else Scalar(x)

    def __add__(self, other):
        other = Scalar.wrap(other)
        out = Scalar(self.value + other.value, (self, other))

        def _backward():
            self.gradient += out.gradient
            other.gradient += out.gradient
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = Scalar.wrap(other)
        out = Scalar(self.value * other.value, (self, other))

        def _backward():
            self.gradient += other.value * out.gradient
            other.gradient += self.value * out.gradient
        out._backward = _backward
        return out

    def __pow__(self, k):
        out = Scalar(self.value ** k, (self,))

        def _backward():
            self.gradient += k * self.value ** (k - 1) * out.gradient
        out._backward = _backward
        return out

    def exp(self):
        out = Scalar(math.exp(self.value), (self,))

        def _backward():
            self.gradient += out.value * out.gradient
        out._backward = _backward
        return out

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-other)

    def __truediv__(self, other):
        return self * Scalar.wrap(other) ** -1

    def __radd__(self, other):
        return self + other

    def __rmul__(self, other):
        return self * other

    def __rsub__(self, other):
        return Scalar.wrap(other) - self

    def __rtruediv__(self, other):
        return Scalar.wrap(other) / self

    def backward(self):
        order, seen = [], set()

        def visit(node):
            if node not in seen:
                seen.add(node)
                for parent in node.parents:
                    visit(parent)
                order.append(node)
        visit(self)
        self.gradient = 1.0
        for node in reversed(order):
            node._backward()
