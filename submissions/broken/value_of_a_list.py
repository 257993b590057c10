"""A Value that holds a list of numbers, not one number: `Value(1.5)` cannot be built, so no
op can be graded. One load failure at the learner's line, not a failure per op."""


class Value:

    def __init__(self, data, _children=()):
        self.data = [float(x) for x in data]
        self.grad = [0.0] * len(self.data)
        self._prev = set(_children)
        self._backward = lambda: None

    def __add__(self, other):
        out = Value([x + y for x, y in zip(self.data, other.data)], (self, other))

        def _backward():
            for i, g in enumerate(out.grad):
                self.grad[i] += g
                other.grad[i] += g
        out._backward = _backward
        return out

    def __mul__(self, other):
        out = Value([x * y for x, y in zip(self.data, other.data)], (self, other))

        def _backward():
            for i, g in enumerate(out.grad):
                self.grad[i] += other.data[i] * g
                other.grad[i] += self.data[i] * g
        out._backward = _backward
        return out

    def backward(self):
        order, seen = [], set()

        def visit(v):
            if v not in seen:
                seen.add(v)
                for child in v._prev:
                    visit(child)
                order.append(v)
        visit(self)
        self.grad = [1.0] * len(self.data)
        for v in reversed(order):
            v._backward()
