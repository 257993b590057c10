"""Build expression graphs (plain dicts, see ``harness.graph``) on any Value-like class.

One executor serves the submission (in the worker), the reference engine and torch (in the
grader, through a different ``Backend``), so all three are driven by the very same code.
"""
import math

from .ops import OPS


def number(x):
    """A result as JSON-able data: a float (maybe nan/inf), or a dict saying what it was instead."""
    if isinstance(x, float):
        return x
    if isinstance(x, (bool, int)):
        try:
            return float(x)
        except OverflowError:
            return math.copysign(math.inf, x)
    if isinstance(x, complex):
        return {'complex': [x.real, x.imag]}
    item = getattr(x, 'item', None)
    if callable(item):
        try:
            return number(item())
        except Exception:
            pass
    try:
        return float(x)
    except Exception:
        return {'type': type(x).__name__}


def error(exc, stage, node=None, missing=False):
    return {'stage': stage, 'node': node, 'type': type(exc).__name__,
            'message': _text(exc), 'missing': missing}


def _text(exc):
    try:
        return str(exc)[:500]
    except Exception:
        return '<unprintable>'


class Backend:
    """How to make leaves of, and read numbers from, a micrograd-style ``Value`` class."""

    def __init__(self, cls):
        self.cls = cls

    def leaf(self, x):
        return self.cls(x)

    def created(self, v):
        """Called on every node as it is built (torch needs ``retain_grad`` here)."""

    def data(self, v):
        return number(v.data)

    def grad(self, v):
        return number(v.grad)

    def backward(self, v):
        v.backward()


def apply(node, vals):
    """Compute one node from the values of the entries before it."""
    call = OPS[node['op']].call
    operands = [vals[i] for i in node['args']]
    if node.get('const') is not None:
        operands.insert(0 if node.get('left') else 1, node['const'])
    return call(*operands)


def missing(node, x, exc):
    """Whether ``exc`` means the op does not exist, rather than that it exists and broke."""
    op = OPS[node['op']]
    if op.method:
        return isinstance(exc, AttributeError) and getattr(type(x), op.name, None) is None
    if isinstance(exc, NotImplementedError):
        return True
    if not isinstance(exc, TypeError):
        return False
    if 'unsupported operand' in str(exc) or 'bad operand type' in str(exc):
        return True
    name = op.reflected_dunder if node.get('left') else op.dunder
    return name is not None and getattr(type(x), name, None) is None


def run_graph(graph, backend, backward=1, instrument=False):
    """Forward, ``backward`` backward passes, then every entry's data and grad.

    Anything the submission raises, ``SystemExit`` included, fails this graph only.

    Returns ``{'values', 'grads'}`` (``grads`` after the first pass; with two passes also
    ``grads2``), ``'order'`` when instrumented (entry indices in the order their ``_backward``
    ran), or ``'error'`` saying where it failed.
    """
    vals = []
    try:
        for _, x in graph['inputs']:
            vals.append(backend.leaf(x))
    except BaseException as e:
        return {'error': error(e, 'leaf')}
    n_inputs = len(vals)
    for k, node in enumerate(graph['nodes']):
        try:
            v = apply(node, vals)
            backend.created(v)
        except BaseException as e:
            x = vals[node['args'][0]]
            return {'error': error(e, 'forward', n_inputs + k, missing(node, x, e)),
                    'values': _read(backend.data, vals)}
        vals.append(v)
    out = vals[graph['output']]
    order = _instrument(vals) if instrument else None
    result = {'values': _read(backend.data, vals)}
    for i in range(backward):
        try:
            backend.backward(out)
        except BaseException as e:
            gone = isinstance(e, AttributeError) and getattr(type(out), 'backward', None) is None
            result['error'] = error(e, 'backward', graph['output'], gone)
            break
        result['grads' if i == 0 else 'grads2'] = _read(backend.grad, vals)
        if order is not None and i == 0:
            result['order'] = list(order)
    return result


def _read(reader, vals):
    out = []
    for v in vals:
        try:
            out.append(reader(v))
        except BaseException as e:
            out.append({'error': type(e).__name__})
    return out


def _instrument(vals):
    """Wrap each node's ``_backward`` so that the order of the calls is recorded."""
    order = []
    for i, v in enumerate(vals):
        original = getattr(v, '_backward', None)
        if not callable(original):
            continue

        def recorded(*args, _i=i, _f=original, **kwargs):
            order.append(_i)
            return _f(*args, **kwargs)
        try:
            v._backward = recorded
        except Exception:
            pass
    return order
