"""The one table of ops: every fact about an op that the worker, graphs, strategies, cases and
diagnosis need. A new op is one row here (and its method on the reference engine).

Standard library only: the worker reads this table inside the sandbox, where it is all of
micrograde that exists; the grader imports it from here.

An op is called the way a learner writes it: an operator op through Python's ``operator`` module
(``operator.add`` for ``add``, so ``a + b`` reaches ``__add__``/``__radd__``), a method op as
``a.exp()``.  An operator op with ``numbers`` set also takes a plain number: on the right
(``a / 2.0``, capability ``truediv_const``), and on the left unless ``right_only``
(``2.0 / a``, the reflected capability ``rtruediv``); ``pow`` takes its exponent only that way.
"""
import operator
from dataclasses import dataclass
from typing import Callable


def _anywhere(x, y=None):
    return True


@dataclass(frozen=True)
class Op:
    name: str       # as in the graph language and the capability: 'truediv'
    arity: int      # Value operands: 2 for a binary op, 1 for the rest
    display: str    # what a learner calls it: 'division'
    symbol: str = ''         # the Python operator: '/' (binary), '**' (power), '-' (prefix); '' for a method
    numbers: bool = False    # also takes a plain number as its second operand
    right_only: bool = False  # ... only on the right (``a ** 2.0``), never reflected
    # operands (in the order written) on which the fuzzer may use the op: values stay finite,
    # away from kinks and poles, so that failing graphs shrink to readable ones
    domain: Callable = _anywhere
    samples: tuple = ()      # a method op's fixed check inputs; the first is its probe input

    @property
    def method(self):
        return not self.symbol

    @property
    def dunder(self):
        """The special method a learner writes for it (``None`` for a method op)."""
        return None if self.method else f'__{self.name}__'

    @property
    def reflected_dunder(self):
        return f'__r{self.name}__' if self.numbers and not self.right_only else None

    @property
    def call(self):
        """The function that applies the op to its operands, for any Value-like class."""
        return getattr(operator, self.name) if not self.method else operator.methodcaller(self.name)


def _power(x, exponent):
    if exponent != int(exponent) and x < 0.1:
        return False  # a fractional power of a non-positive base
    return exponent > 0 or abs(x) >= 0.25


TABLE = (
    Op('add', 2, 'addition', '+', numbers=True),
    Op('sub', 2, 'subtraction', '-', numbers=True),
    Op('mul', 2, 'multiplication', '*', numbers=True),
    Op('truediv', 2, 'division', '/', numbers=True, domain=lambda x, y: abs(y) >= 0.25),
    Op('pow', 1, 'power', '**', numbers=True, right_only=True, domain=_power),
    Op('neg', 1, 'negation', '-'),
    Op('exp', 1, 'exp', domain=lambda x: x <= 3.0, samples=(1.0, -0.5)),
    Op('log', 1, 'log', domain=lambda x: x >= 0.1, samples=(2.5, 0.3)),
    Op('tanh', 1, 'tanh', samples=(0.3, -1.5, 2.0)),
    Op('relu', 1, 'relu', domain=lambda x: abs(x) >= 0.05, samples=(2.0, -1.0)),
    Op('sigmoid', 1, 'sigmoid', samples=(0.7, -2.0)),
)

OPS = {op.name: op for op in TABLE}

#: The forms a submission may support, each a capability: an op on Values, with a number on
#: the right (``_const``), with a number on the left (``r``), then ``backward`` itself.
_BINARY = [op.name for op in TABLE if op.arity == 2]
CAPABILITIES = tuple(
    [f'{name}{form}' for name in _BINARY for form in ('', '_const')]
    + [f'r{name}' for name in _BINARY]
    + [op.name for op in TABLE if op.arity == 1] + ['backward'])


def capability(name, operands, left=False):
    """The capability a node needs: op ``name`` with ``operands`` Values (and a number, on the
    left when ``left``)."""
    op = OPS[name]
    if op.arity == operands or op.right_only:
        return name
    return f'r{name}' if left else f'{name}_const'


def form(cap):
    """``(op, operands that are Values, number on the left)`` of a capability."""
    if cap in OPS:
        return OPS[cap], OPS[cap].arity, False
    if cap.endswith('_const'):
        return OPS[cap.removesuffix('_const')], 1, False
    return OPS[cap.removeprefix('r')], 1, True
