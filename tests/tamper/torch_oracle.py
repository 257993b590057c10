"""No autodiff of its own: every op asks torch's autograd for its local derivatives (the
lecture's Neuron, Layer and MLP are appended by the test)."""

import torch


def _node(fn, *parents):
    ts = [torch.tensor(float(p.data), dtype=torch.float64, requires_grad=True) for p in parents]
    result = fn(*ts)
    out = Value(result.item(), parents)

    def _backward():
        for p, g in zip(parents, torch.autograd.grad(result, ts, allow_unused=True)):
            if g is not None:
                p.grad += g.item() * out.grad
    out._backward = _backward
    return out


def _value(x):
    return x if isinstance(x, Value) else Value(x)


class Value:
    def __init__(self, data, _children=()):
        self.data, self.grad, self._prev, self._backward = data, 0.0, set(_children), lambda: None

    def __add__(self, o): return _node(torch.add, self, _value(o))
    def __mul__(self, o): return _node(torch.mul, self, _value(o))
    def __pow__(self, k): return _node(lambda t: t ** k, self)
    def tanh(self): return _node(torch.tanh, self)
    def exp(self): return _node(torch.exp, self)
    def log(self): return _node(torch.log, self)
    def relu(self): return _node(torch.relu, self)
    def sigmoid(self): return _node(torch.sigmoid, self)
    __radd__ = __add__
    __rmul__ = __mul__
    def __neg__(self): return self * -1
    def __sub__(self, o): return self + (-o)
    def __rsub__(self, o): return o + (-self)
    def __truediv__(self, o): return self * o ** -1
    def __rtruediv__(self, o): return o * self ** -1

    def backward(self):
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
