"""The reference micrograd engine: the ground truth a submission is graded against."""
from .draw import draw_dot
from .engine import Value
from .nn import MLP, Layer, Neuron

__all__ = ['Value', 'Neuron', 'Layer', 'MLP', 'draw_dot']
