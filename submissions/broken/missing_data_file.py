"""An engine, then the training data read from a file beside it (not submitted): loading stops
at the file, and the load check must say so rather than grade a half-run module."""
import os

HERE = os.path.dirname(os.path.abspath(__file__))


class Value:

    def __init__(self, data, _children=()):
        self.data, self.grad, self._prev = data, 0.0, _children
        self._backward = lambda: None

    def __add__(self, other):
        out = Value(self.data + other.data, (self, other))

        def _backward():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def backward(self):
        self.grad = 1.0
        self._backward()


with open(os.path.join(HERE, 'moons.csv')) as f:
    data = [[float(x) for x in line.split(',')] for line in f]
