"""The lecture engine as a package, as karpathy/micrograd lays it out."""
from micrograd.engine import Value
from .nn import MLP, Layer, Neuron
