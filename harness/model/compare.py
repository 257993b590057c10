"""The one comparison rule every check uses.

A result is first classified (finite, nan, inf, -inf, complex, not a number, exception) and only
results of the same class are compared as numbers, with ``|actual - expected| <= ATOL + RTOL *
|expected|``.

Why these constants: float64 evaluations of the same formula in another order (``a / b`` as
``a * b**-1``, tanh as ``(e^2x - 1)/(e^2x + 1)``, gradients summed in another order) differ by a
few ulp relative, and by ~1e-16 absolute where a result cancels to near 0; ``RTOL = 1e-9`` and
``ATOL = 1e-10`` leave orders of magnitude of room for that.  Finite differences imitating autodiff
(error ~1e-7 relative for ``a*b`` at a = 1234.5) or a derivative a fraction of a percent off
fail by orders of magnitude.  The finite-difference check of an MLP compares two approximations
and uses its own, looser pair (``FD_RTOL``, ``FD_ATOL``).
"""
import math

RTOL = 1e-9
ATOL = 1e-10
FD_RTOL = 1e-5
FD_ATOL = 1e-6


def classify(x):
    """The class of a raw result: ``finite nan inf -inf complex`` or ``not a number (T)``."""
    if isinstance(x, float):
        if math.isnan(x):
            return 'nan'
        if math.isinf(x):
            return 'inf' if x > 0 else '-inf'
        return 'finite'
    if isinstance(x, dict) and 'complex' in x:
        return 'complex'
    if isinstance(x, dict) and 'error' in x:
        return f"exception ({x['error']})"
    kind = x.get('type') if isinstance(x, dict) else type(x).__name__
    return f'not a number ({kind})'


def close(actual, expected, rtol=RTOL, atol=ATOL):
    """Whether ``actual`` matches ``expected`` under the rule above."""
    if type(actual) is float and type(expected) is float and actual == expected:
        return True  # most comparisons, without classifying
    ka, ke = classify(actual), classify(expected)
    if ka != ke:
        return False
    if ka != 'finite':
        return ka in ('nan', 'inf', '-inf')
    return abs(actual - expected) <= atol + rtol * abs(expected)


def show(x):
    """A result as a learner reads it: 12 significant digits, so that the last-ulp noise of an
    engine whose summation order depends on memory addresses (children kept in a set) does not
    change the report from run to run."""
    kind = classify(x)
    if kind == 'finite':
        return repr(float(f'{x:.12g}'))
    if kind == 'complex':
        re, im = x['complex']
        return f'{complex(re, im)!r} (complex)'
    return kind if kind in ('nan', 'inf', '-inf') else kind
