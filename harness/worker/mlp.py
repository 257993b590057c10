"""MLP tasks on a submission's own network: build, copy weights in, forward, loss gradients.

The loss is built with ``Value + Value`` and ``Value * Value`` only (the required ops), so a
missing ``-`` or ``**`` cannot hide an MLP's own mistakes.
"""
from .execute import error, number


def run_mlp(classes, item):
    """One MLP task; ``item['action']`` is one of ``build forward losses grads step zero_grad``."""
    stage = 'build'
    try:
        value, mlp = classes['Value'], classes['MLP']
        model = mlp(item['nin'], list(item['nouts']))
        params = list(model.parameters())
        result = {'count': len(params), 'distinct': len({id(p) for p in params}),
                  'own': all(isinstance(p, value) for p in params)}
        if item['action'] == 'build':
            return result
        stage = item['action']
        action = item['action']
        if 'params' in item:
            _assign(params, item['params'])
        if action == 'forward':
            result['outputs'] = [_outputs(model(list(x))) for x in item['xs']]
        elif action == 'losses':
            result['losses'] = []
            for vector in item['param_sets']:
                _assign(params, vector)
                result['losses'].append(number(_loss(model, value, item).data))
        elif action in ('grads', 'step', 'zero_grad'):
            for p in params:
                p.grad = 0.0
            loss = _loss(model, value, item)
            loss.backward()
            result['loss'] = number(loss.data)
            result['grads'] = [number(p.grad) for p in params]
            if action == 'step':
                for p in params:
                    p.data -= item['lr'] * p.grad
                result['loss_after'] = number(_loss(model, value, item).data)
            if action == 'zero_grad':
                model.zero_grad()
                result['grads_after'] = [number(p.grad) for p in params]
        return result
    except BaseException as e:  # SystemExit included: a failed task, not a dead worker
        return {'error': error(e, stage)}


def _assign(params, vector):
    for p, x in zip(params, vector):
        p.data = x


def _outputs(out):
    out = out if isinstance(out, (list, tuple)) else [out]
    return [number(getattr(o, 'data', o)) for o in out]


def _loss(model, value, item):
    """Squared error over the samples, as a Value built from the model's outputs."""
    loss = None
    for x, y in zip(item['xs'], item['ys']):
        out = model(list(x)[:item['nin']])
        out = out[0] if isinstance(out, (list, tuple)) else out
        d = out + value(-y)
        term = d * d
        loss = term if loss is None else loss + term
    return loss
