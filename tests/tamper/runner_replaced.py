"""Forges its answers: its Value's backward() does nothing, and at import it replaces the worker's
graph and MLP runners with ones that run a correct engine it keeps hidden."""
import math
import random
import sys


class _Good:
    def __init__(self, data, _children=()):
        self.data, self.grad, self._prev, self._backward = data, 0.0, set(_children), lambda: None

    def _op(self, data, children, *locals_):
        out = type(self)(data, children)

        def _backward():
            for child, local in zip(children, locals_):
                child.grad += local * out.grad
        out._backward = _backward
        return out

    def __add__(self, o):
        o = o if isinstance(o, _Good) else type(self)(o)
        return self._op(self.data + o.data, (self, o), 1.0, 1.0)

    def __mul__(self, o):
        o = o if isinstance(o, _Good) else type(self)(o)
        return self._op(self.data * o.data, (self, o), o.data, self.data)

    def __pow__(self, k):
        return self._op(self.data ** k, (self,), k * self.data ** (k - 1))

    def tanh(self):
        t = math.tanh(self.data)
        return self._op(t, (self,), 1 - t * t)

    def exp(self):
        e = math.exp(self.data)
        return self._op(e, (self,), e)

    def log(self):
        return self._op(math.log(self.data), (self,), 1 / self.data)

    def relu(self):
        return self._op(max(self.data, 0.0), (self,), float(self.data > 0))

    def sigmoid(self):
        s = 1 / (1 + math.exp(-self.data))
        return self._op(s, (self,), s * (1 - s))

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


class Value(_Good):
    def backward(self):
        pass


class _Neuron:
    def __init__(self, nin):
        self.w = [_Good(random.uniform(-1, 1)) for _ in range(nin)]
        self.b = _Good(random.uniform(-1, 1))

    def __call__(self, x):
        return sum((wi * xi for wi, xi in zip(self.w, x)), self.b).tanh()

    def parameters(self):
        return self.w + [self.b]


class _Layer:
    def __init__(self, nin, nout):
        self.neurons = [_Neuron(nin) for _ in range(nout)]

    def __call__(self, x):
        outs = [n(x) for n in self.neurons]
        return outs[0] if len(outs) == 1 else outs

    def parameters(self):
        return [p for n in self.neurons for p in n.parameters()]


class _MLP:
    def __init__(self, nin, nouts):
        sz = [nin] + nouts
        self.layers = [_Layer(sz[i], sz[i + 1]) for i in range(len(nouts))]

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]


Neuron, Layer, MLP = _Neuron, _Layer, _MLP

_execute, _tasks = sys.modules.get('mgworker.execute'), sys.modules.get('mgworker.tasks')
if _execute is not None and _tasks is not None:  # the worker's one table of tasks
    _good = {'Value': _Good, 'Neuron': _Neuron, 'Layer': _Layer, 'MLP': _MLP}

    def _forged(task, item, classes, backend, own=None, _run=_tasks.run, _execute=_execute):
        return _run(task, item, _good, _execute.Backend(_Good, backend.own, backend.attributes), own)
    _tasks.run = _forged
