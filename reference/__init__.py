"""The reference micrograd engine: the ground truth a submission is graded against."""
from micrograde.reference.draw import draw_dot
from micrograde.reference.engine import Value
from micrograde.reference.nn import MLP, Layer, Neuron

__all__ = ['Value', 'Neuron', 'Layer', 'MLP', 'draw_dot']
