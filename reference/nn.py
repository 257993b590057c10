"""Neuron, Layer and MLP as in the lecture, with the activation conventions seen in the wild.

``activation="tanh"`` is the lecture's network (tanh on every neuron, the last layer too);
``activation="relu"`` is karpathy/micrograd's ``nn.py`` (relu hidden layers, linear head);
``ACTIVATIONS`` lists the others.
``parameters()`` lists each neuron's weights, then its bias, layer by layer: the order the
grader uses to copy weights into a submission's network.
"""
import random

from micrograde.reference.engine import Value


class Module:

    def zero_grad(self):
        for p in self.parameters():
            p.grad = 0.0

    def parameters(self):
        return []


class Neuron(Module):

    def __init__(self, nin, nonlin='tanh', rng=random):
        self.w = [Value(rng.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(rng.uniform(-1, 1))
        self.nonlin = nonlin

    def __call__(self, x):
        act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)
        return ACTIVATIONS[self.nonlin](act)

    def parameters(self):
        return self.w + [self.b]


class Layer(Module):

    def __init__(self, nin, nout, nonlin='tanh', rng=random):
        self.neurons = [Neuron(nin, nonlin, rng) for _ in range(nout)]

    def __call__(self, x):
        outs = [n(x) for n in self.neurons]
        return outs[0] if len(outs) == 1 else outs

    def parameters(self):
        return [p for n in self.neurons for p in n.parameters()]


#: A neuron's nonlinearity by name: the lecture's tanh, micrograd's relu, and the others
#: learners' networks use (leaky relu with torch's default slope, built from relu).
ACTIVATIONS = {
    'tanh': Value.tanh,
    'relu': Value.relu,
    'sigmoid': Value.sigmoid,
    'leaky_relu': lambda act: act.relu() - 0.01 * (-act).relu(),
    'linear': lambda act: act,
}


class MLP(Module):
    """``MLP(nin, nouts, activation, head, seed)``: ``activation`` of the hidden layers,
    ``head`` of the last one (default: tanh's network is tanh throughout, relu's has a linear
    head); ``seed`` makes the init reproducible."""

    def __init__(self, nin, nouts, activation='tanh', head=None, seed=None):
        assert activation in ACTIVATIONS, f"activation must be one of {list(ACTIVATIONS)}"
        head = head or ('tanh' if activation == 'tanh' else 'linear')
        rng = random.Random(seed)
        sizes = [nin] + list(nouts)
        last = len(nouts) - 1
        self.layers = [Layer(sizes[i], sizes[i + 1], activation if i < last else head, rng)
                       for i in range(len(nouts))]

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
            x = x if isinstance(x, list) else [x]
        return x[0] if len(x) == 1 else x

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]
