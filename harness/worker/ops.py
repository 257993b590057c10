"""The one table of ops: every fact about an op that the worker, graphs, strategies, cases and
diagnosis need. A new op is one row here (and its method on the reference engine).

Standard library only: the worker reads this table inside the sandbox, where it is all of
micrograde that exists; the grader imports it from here.

An op is called the way a learner writes it: an operator op through Python's ``operator`` module
(``operator.add`` for ``add``, so ``a + b`` reaches ``__add__``/``__radd__``), a method op as
``a.exp()``.  An operator op with ``numbers`` set also takes a plain number: on the right
(``a / 2.0``, capability ``truediv_const``) and on the left (``2.0 / a``, the reflected
capability ``rtruediv``).  Power's usual form is the lecture's number exponent, so its
capabilities are ``pow`` (``a ** 2.0``), ``rpow`` (``2.0 ** a``) and ``pow_value`` (``a ** b``).
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
    numbers: bool = False    # also takes a plain number as either operand
    value_form: str = ''     # the capability of Value∘Value when the op's own name is taken by
    #                          its form with a number on the right (pow: ``a ** 2.0``)
    # operands (in the order written) on which the fuzzer may use the op: values stay finite,
    # away from kinks and poles, so that failing graphs shrink to readable ones
    domain: Callable = _anywhere
    form_domains: tuple = ()  # ((capability, domain), ...): a form's own domain, where it differs
    right_numbers: tuple = ()  # the numbers the fuzzer puts on the right, if not its constants
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
        return f'__r{self.name}__' if self.numbers else None

    @property
    def forms(self):
        """``{capability: (operands that are Values, number on the left)}``."""
        if not self.numbers:
            return {self.name: (self.arity, False)}
        right = self.name if self.value_form else f'{self.name}_const'
        return {self.value_form or self.name: (2, False), right: (1, False),
                f'r{self.name}': (1, True)}

    def domain_of(self, cap):
        return dict(self.form_domains).get(cap, self.domain)

    @property
    def call(self):
        """The function that applies the op to its operands, for any Value-like class."""
        return getattr(operator, self.name) if not self.method else operator.methodcaller(self.name)


def _power(x, exponent):
    if exponent != int(exponent) and x < 0.1:
        return False  # a fractional power of a non-positive base
    return exponent > 0 or abs(x) >= 0.25


def _varying_exponent(base, exponent):
    """The exponent gets a gradient, base ** exponent · log(base): a positive base only."""
    return base >= 0.25 and abs(exponent) <= 4.0


TABLE = (
    Op('add', 2, 'addition', '+', numbers=True),
    Op('sub', 2, 'subtraction', '-', numbers=True),
    Op('mul', 2, 'multiplication', '*', numbers=True),
    Op('truediv', 2, 'division', '/', numbers=True, domain=lambda x, y: abs(y) >= 0.25),
    Op('pow', 2, 'power', '**', numbers=True, value_form='pow_value', domain=_power,
       form_domains=(('pow_value', _varying_exponent), ('rpow', _varying_exponent)),
       right_numbers=(2.0, 3.0, -1.0, 0.5, -2.0, 1.5, -0.5)),
    Op('neg', 1, 'negation', '-'),
    Op('exp', 1, 'exp', domain=lambda x: x <= 3.0, samples=(1.0, -0.5)),
    Op('log', 1, 'log', domain=lambda x: x >= 0.1, samples=(2.5, 0.3)),
    Op('tanh', 1, 'tanh', samples=(0.3, -1.5, 2.0)),
    Op('relu', 1, 'relu', domain=lambda x: abs(x) >= 0.05, samples=(2.0, -1.0, 0.5)),
    Op('sigmoid', 1, 'sigmoid', samples=(0.7, -2.0)),
)

OPS = {op.name: op for op in TABLE}
#: The methods a learner writes ops as (``__add__``, ``__radd__``, ``exp``); any other function of
#: theirs an op calls is a helper (a stub raised there is the caller's, a rule made there each op's).
OP_METHODS = frozenset(m for op in OPS.values() for m in (op.name, op.dunder, op.reflected_dunder)
                       if m)

#: Every form of every op, ``{capability: (op, operands that are Values, number on the left)}``:
#: the Value∘Value forms and those with a number on the right first, then the reflected ones,
#: then the unary ops.
FORMS = dict(sorted(((cap, (op, operands, left)) for op in TABLE
                     for cap, (operands, left) in op.forms.items()),
                    key=lambda item: 2 if not item[1][0].numbers else int(item[1][2])))

#: Operands that are plain numbers, as a capability of their own: an engine at the lecture's
#: first stage supports ``Value ∘ Value`` only. Every ``_const`` and reflected form needs it.
NUMBER_FORMS = tuple(cap for cap, (op, operands, _) in FORMS.items()
                     if op.numbers and operands == 1 and not op.value_form)

#: What a submission may support: each form of each op, plain-number operands, ``backward``.
CAPABILITIES = tuple(FORMS) + ('numbers', 'backward')


#: ``(op, operands that are Values, number on the left)`` -> its capability: one lookup (the
#: grader asks it of every node of a corpus's pool and of a deep chain, ~26 000 times a grade).
CAPABILITY = {(name, *form): cap for name, op in OPS.items() for cap, form in op.forms.items()}


def capability(name, operands, left=False):
    """The capability a node needs: op ``name`` with ``operands`` Values (and a number, on the
    left when ``left``)."""
    return CAPABILITY[name, operands, bool(left)]


def form(cap):
    """``(op, operands that are Values, number on the left)`` of a capability."""
    return FORMS[cap]
