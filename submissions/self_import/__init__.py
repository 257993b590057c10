"""A course package whose modules import each other by their own names, as scripts in one folder do."""
from .autograd import Value
from .nn import MLP, Layer, Neuron
