"""The learner's own network, ``MLP(3, [4, 4, 1])``: parameter count, architecture with the
reference weights copied in, gradients against finite differences of its own loss, one descent
step, ``zero_grad()``; and ``MLP(2, [3, 1, 1])`` (a one-neuron hidden layer).

An MLP with another interface than the lecture's (another constructor, no ``parameters()``, a
batched or matrix network) is not a wrong engine: ``mlp.build`` says which part differs, and
counts only when the rubric's ``required_ops`` lists ``mlp``."""
import functools
import math
import random

from micrograde import reference
from micrograde.reference.nn import ACTIVATIONS
from micrograde.model.compare import FD_ATOL, FD_RTOL, close, show
from micrograde.diagnose.diagnosis import (FLOAT32_RTOL, METHOD_OPS, SIGNATURE, called_with,
                                           float32, missing_form)
from micrograde.model.results import Code, Counterexample, Misconception
from micrograde.checks.registry import error, failed, passed, skipped
from micrograde.checks.fuzz import right_in_network

XS = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
YS = [1.0, -1.0, -1.0, 1.0]
SHAPE = (3, [4, 4, 1])
NIN, NOUTS = SHAPE
BASE = {'nin': NIN, 'nouts': NOUTS, 'xs': XS, 'ys': YS}
EXPECTED_COUNT = sum((a + 1) * b for a, b in zip([NIN] + NOUTS, NOUTS))
_KNOWN_AS = {('tanh', 'tanh'): ' (the lecture)', ('relu', 'linear'): ' (micrograd nn.py)'}
_LABEL = {'leaky_relu': 'leaky relu (slope 0.01)'}
#: Every (hidden layers, head) pair of the reference network's activations: name -> pair.
ARCHITECTURES = {
    (f'{_LABEL.get(hidden, hidden)} everywhere' if head == hidden else
     f'{_LABEL.get(hidden, hidden)} hidden layers, linear head') + _KNOWN_AS.get((hidden, head), ''):
    (hidden, head) for hidden in ACTIVATIONS if hidden != 'linear' for head in (hidden, 'linear')}


def _biases(nin, nouts):
    """Indices of the biases in ``parameters()`` order: each neuron's weights, then its bias."""
    found, k = [], 0
    for a, b in zip([nin] + nouts, nouts):
        for _ in range(b):
            k += a + 1
            found.append(k - 1)
    return found


def _input_to_every_layer(weights, hidden, head):
    """What the network computes when its ``__call__`` hands every layer the network's input
    (``out = layer(x)`` where ``x = layer(x)`` was meant): the last layer's output on the input
    alone, ``zip()`` pairing its first weights with the input's numbers."""
    last = weights[-(NOUTS[-2] + 1):]
    return _outputs(last[:NIN] + last[-1:], hidden, head, (NIN, NOUTS[-1:]))


#: Mistakes a forward pass can make that no architecture explains: what it is, and what the
#: mistaken network computes, from the reference weights and an architecture's activations.
MISTAKES = {
    'the neurons ignore their bias (act = Σ wi·xi must be Σ wi·xi + b)':
        lambda w, *arch: _outputs([0.0 if i in _biases(NIN, NOUTS) else x
                                   for i, x in enumerate(w)], *arch),
    'MLP.__call__ hands every layer the network\'s input, not the previous layer\'s output '
    '(`x = layer(x)` in the loop), so only the last layer counts':
        _input_to_every_layer,
    'no layer applies a nonlinearity: every layer is linear, so the network is one linear map '
    'whatever its depth (MLP(nin, nouts) must apply tanh, relu or another one, at least in its '
    'hidden layers)':
        lambda w, *arch: _outputs(w, 'linear', 'linear'),
}


#: The network class whose forward pass holds each of ``MISTAKES``.
MISTAKEN_IN = dict(zip(MISTAKES, ('Neuron', 'MLP', 'Neuron')))


def _forward_place(ctx, role):
    """The finding of a forward pass's mistake, at the method that runs the ``role`` class
    (``Neuron.__call__``, listed in the class report's ``methods``): ``{}`` where not listed."""
    name = (ctx.report.class_info.get(role) or {}).get('name')
    label = next((k for k in ctx.report.methods if name and k.startswith(f'{name}.')), None)
    if label is None:
        return {}
    where = ctx.report.methods[label]
    return {'misconception': Misconception(Code.NETWORK_FORWARD, method=label, file=where['file'],
                                           line=where['line'])}


def _bias_first(weights):
    """The weights in the order of a ``parameters()`` that lists each neuron's bias first."""
    out, start = [], 0
    for a, b in zip([NIN] + NOUTS, NOUTS):
        for _ in range(b):
            w = weights[start:start + a + 1]
            out += [w[-1]] + w[:-1]
            start += a + 1
    return out


def _outputs(weights, hidden, head, shape=SHAPE):
    model = reference.MLP(*shape, activation=hidden, head=head)
    for p, w in zip(model.parameters(), weights):
        p.data = w
    return [model(x).data for x in XS]


@functools.lru_cache(maxsize=16)
def reference_mlp(seed):
    """The reference weights for a seed, each known architecture's outputs with them, and each
    mistake's under each architecture: the same for every submission of a batch."""
    weights = [p.data for p in reference.MLP(*SHAPE, seed=seed).parameters()]
    outputs = {name: _outputs(weights, *arch) for name, arch in ARCHITECTURES.items()}
    mistaken = {(mistake, name): computes(weights, *arch)
                for mistake, computes in MISTAKES.items() for name, arch in ARCHITECTURES.items()}
    return weights, outputs, mistaken


def raised(failure):
    """An exception the learner's code raised, as a finding at the function and line the
    worker saw it raised in (as a graph's): every MLP check it breaks is that one bug, and an
    op's method raising is the op's; an operator the Value lacks (``sum()`` of Values with no
    ``__radd__``) is that missing form, where the network uses it.  A network's method is named
    with its class and file (``Layer.__init__`` in nn.py), never taken for the Value's."""
    walk = called_with(failure)
    if walk is not None:  # `def backward(self, nin)`: its def, as the op checks' finding
        return {'misconception': Misconception(Code.EXCEPTION, '', walk)}
    lacking = missing_form(failure)
    if not (failure.function or lacking):  # an operator the Value lacks is that op's, wherever
        return {}  # it is used (a generator expression inside sum() names no function)
    code, op = (Code.MISSING_OP, lacking[0].name) if lacking else \
        (Code.EXCEPTION, '' if failure.owner else METHOD_OPS.get(failure.function, ''))
    method = f'{failure.owner}.{failure.function}' if failure.owner else failure.function
    return {'misconception': Misconception(code, op, method, file=failure.file, line=failure.line)}


def _failure(failure):
    """The failure as a learner reads it, with the missing method named when an operator is."""
    lacking = missing_form(failure)
    hint = f' (the Value has no {lacking[1]}' + (
        ': sum() starts from the int 0, so `0 + value` needs it)' if lacking[1] == '__radd__'
        else ')') if lacking else ''
    return f'{failure}{hint}'


def _timeout(ctx):
    return ctx.session.settings.check_timeout * 3


def _base(ctx, **task):
    """A task on ``MLP(3, [4, 4, 1])``; samples as Values for an engine that takes no numbers."""
    return dict(BASE, values_in=ctx.capabilities.get('numbers') == 'absent', **task)


def _answers(ctx):
    """The worker's answers to the MLP tasks, asked for once, in one request."""
    def ask():
        weights = reference_mlp(ctx.config.seed)[0]
        narrow = dict(_base(ctx), nin=2, nouts=[3, 1, 1], xs=XS[:1], ys=YS[:1], action='grads')
        tasks = [_base(ctx, action='build'), _base(ctx, action='forward', params=weights),
                 _base(ctx, action='forward', params=_bias_first(weights)),
                 _base(ctx, action='grads', params=weights),
                 _base(ctx, action='zero_grad', params=weights), narrow]
        names = ('build', 'forward', 'forward_bias_first', 'grads', 'zero_grad', 'one_neuron')
        return dict(zip(names, ctx.session.run('mlp', tasks, _timeout(ctx))))
    return ctx.once('mlp', ask)


def _built(ctx):
    """The MLP answers, or ``None`` when there is no MLP, it cannot be built or has another
    interface (``mlp.build`` then says so, and the other MLP checks are not reported)."""
    if 'MLP' not in ctx.classes:
        return None
    answers = _answers(ctx)
    return None if answers['build'].error or _interface(answers['build'], answers['forward']) \
        else answers


def _answer(ctx, name):
    """One of the MLP answers (``'grads'``, ``'zero_grad'``...), or ``None`` as ``_built``."""
    answers = _built(ctx)
    return None if answers is None else answers[name]


def _interface(built, forward=None):
    """Which part of the lecture's interface this MLP does not have, or ``''``; ``forward``:
    the answer of ``model(x)``, refused by the signature of its ``__call__``
    (``MLP.__call__(self, x, example_num)``) where it takes other arguments than one sample."""
    found = forward is not None and forward.error and forward.error.type == 'TypeError' and \
        SIGNATURE.match(forward.error.message or '')
    refused = found and found['method'] == '__call__'
    if refused and not built.error:
        return (f'it is not called as the lecture\'s model(x), with one sample: '
                f'{forward.error.type}: {forward.error.message}')
    if built.error and built.error.stage == 'constructor':
        return (f'its constructor is not the lecture\'s MLP(nin, nouts): MLP({NIN}, {NOUTS}) '
                f'raised {built.error}')
    if built.error and built.error.stage == 'parameters':
        return f'it has no parameters() method listing its Values ({built.error})'
    if built.error:
        return ''
    if built.batched:
        return 'it takes a batch of samples, not the lecture\'s one sample model(x)'
    if built.count and not built.scalar:
        return 'its parameters hold arrays, not one number each (a matrix network)'
    if built.count and not built.own:
        return 'parameters() returns objects that are not the submission\'s Value (a matrix network?)'
    return ''


def build(ctx):
    if 'MLP' not in ctx.classes:
        required = 'mlp' in ctx.config.rubric.required_ops
        return (failed if required else skipped)(
            'no MLP class' + (": the rubric requires the lecture's MLP(nin, nouts)" if required
                              else ''), required=required)
    built = _answers(ctx)['build']
    other = _interface(built, _answers(ctx)['forward'])
    if other:
        required = 'mlp' in ctx.config.rubric.required_ops
        return (failed if required else skipped)(
            f'the MLP has another interface than the lecture\'s: {other}. The MLP checks need '
            f'MLP(nin, nouts), parameters() and model(x)' + ('' if required else
                                                             '; not required: the Value checks count'),
            required=required)
    if built.error:
        return failed(f'MLP{SHAPE[0], SHAPE[1]} failed: {_failure(built.error)}',
                      **raised(built.error), counterexample=Counterexample(f'model = MLP({NIN}, {NOUTS})\nmodel.parameters()\n'))
    expected_count = EXPECTED_COUNT
    if built.count == expected_count and built.distinct == built.count and built.own and \
            not built.nested:
        return passed(f'MLP({NIN}, {NOUTS}) has {expected_count} parameters',
                      output=built.output)
    why = (f'MLP({NIN}, {NOUTS}) has {built.count} parameters ({built.distinct} distinct), '
           f'expected {expected_count} = Σ(nin+1)·nout' if built.count != expected_count or
           built.distinct != built.count else
           'parameters() returns objects that are not the submission\'s Value' if not built.own
           else f'parameters() returns lists of Values, not the {built.count} Values themselves')
    found = built.misbuilt
    if found:
        why += MISBUILT[found['why']].format(method=found['method'])
    return failed(why, output=built.output, **_placed(found), counterexample=Counterexample(
        f'model = MLP({NIN}, {NOUTS})\nps = model.parameters()\nprint(len(ps), len(set(map(id, ps))))\n',
        {'parameters': str(expected_count), 'distinct': str(expected_count)},
        {'parameters': str(built.count), 'distinct': str(built.distinct)}))


#: Why a network's parameters() are not the lecture's (``worker/mlp.py``'s ``_misbuilt``).
MISBUILT = {
    'nested': ': {method}() returns lists inside its list (its parts\' parameters() as they '
              'are, or `[self.w, self.b]`), where it must list each Value on its own (`[p for n '
              'in self.neurons for p in n.parameters()]`, `self.w + [self.b]`)',
    'listed': ': {method}() lists other Values than its own and its parts\' parameters() (one '
              'left out, or listed twice?)',
    'shape': ': {method} builds it with other sizes than MLP(nin, nouts) asks for (each neuron '
             'nin weights and a bias; each layer as many neurons as its nout)',
}


def _placed(found):
    """The finding of a network whose parameters() went wrong at ``found`` (``misbuilt``)."""
    if not found:
        return {}
    code = Code.NETWORK_SHAPE if found['why'] == 'shape' else Code.PARAMETERS_LISTED
    return {'misconception': Misconception(code, method=found['method'], file=found['file'],
                                           line=found['line'])}


def architecture(ctx):
    """Which known architecture the outputs match, with the reference weights copied in; when
    none does, the mistake that explains them."""
    answers = _built(ctx)
    if answers is None or answers['build'].count != EXPECTED_COUNT:
        return None  # no weights to copy in: mlp.build says why
    forward = answers['forward']
    if forward.error:
        return failed(f'forward pass failed: {_failure(forward.error)}', **raised(forward.error))
    _, outputs, mistaken = reference_mlp(ctx.config.seed)
    outs = _first_outputs(forward)
    # the reference weights copied in parameters() order, each neuron's weights then its bias
    # (the lecture) or its bias first: the order is an interface, not a mistake
    for layout, answer in (('', forward), (' (parameters() lists each neuron\'s bias first)',
                                           answers['forward_bias_first'])):
        got = _first_outputs(answer)
        for name, expected in outputs.items():
            if all(close(o, e) for o, e in zip(got, expected)):
                return passed(f'with the reference weights the outputs match the architecture: '
                              f'{name}{layout}')
    example = Counterexample(
        _with_weights(ctx) + f'print([model(x).data for x in {XS}])  # expected: the lecture\'s '
                             f'network\n',
        {'outputs': ', '.join(map(show, outputs[next(iter(outputs))]))},
        {'outputs': ', '.join(map(show, outs))})
    if float32(outs):  # a float32 network matches nothing to float64 precision
        name = next((name for name, expected in outputs.items()
                     if all(close(o, e, rtol=FLOAT32_RTOL) for o, e in zip(outs, expected))), None)
        if name is not None:
            return failed(f'the outputs are those of the {name} network to about 7 digits only: '
                          f'the network computes in 32-bit floats', counterexample=example,
                          misconception=Misconception(Code.SINGLE_PRECISION, method='__init__'))
    for (mistake, name), expected in mistaken.items():
        if all(close(o, e) for o, e in zip(outs, expected)):
            return failed(f'{mistake}: with the reference weights copied in, the outputs are those '
                          f'of the {name} network with that mistake', diagnosis=mistake,
                          counterexample=example, **_forward_place(ctx, MISTAKEN_IN[mistake]))
    return failed('with the reference weights copied in parameters() order, the outputs match '
                  f'none of the known architectures ({"; ".join(ARCHITECTURES)})',
                  counterexample=example)


def _architecture_of(ctx, forward):
    """``(hidden, head)`` of the reference architecture whose outputs ``forward`` gave (the
    reference weights copied in the lecture's parameters() order), or ``None``."""
    if forward is None or forward.error or not forward.outputs:
        return None
    got = [o[0] if o else math.nan for o in forward.outputs]
    _, outputs, _ = reference_mlp(ctx.config.seed)
    return next((ARCHITECTURES[name] for name, expected in outputs.items()
                 if len(got) == len(expected) and all(close(o, e) for o, e in zip(got, expected))),
                None)


def _with_weights(ctx, weights=None):
    """Snippet lines that build the network with ``weights`` (the seed's reference weights)
    copied in."""
    weights = weights or reference_mlp(ctx.config.seed)[0]
    return (f'model = MLP({NIN}, {NOUTS})\nweights = [{", ".join(map(repr, weights))}]\n'
            f'for p, w in zip(model.parameters(), weights):\n    p.data = w\n')


def _first_outputs(answer):
    return [o[0] if o else math.nan for o in answer.outputs or []] or [math.nan] * len(XS)


#: The central differences' step, and the random directions the gradient is checked along
#: first: two forward passes each, where checking every parameter takes two per parameter (82
#: for ``MLP(3, [4, 4, 1])``, most of a notebook's grading).  Only a disagreement pays for
#: those, and they decide and name the parameter, as before.  Along a direction the learner's
#: gradient must agree to the differences' own rounding (a relative 1e-11 on correct engines;
#: ``ALONG_RTOL`` leaves 1000x), so a wrong gradient passes only if its error is orthogonal to
#: three seeded Gaussian directions at once.
H = 1e-6
DIRECTIONS = 3
ALONG_RTOL = 1e-8


def _directions(seed, n):
    """``DIRECTIONS`` Gaussian directions in weight space, the same for a seed on every surface."""
    rng = random.Random(f'mlp.gradients {seed}')
    return [[rng.gauss(0.0, 1.0) for _ in range(n)] for _ in range(DIRECTIONS)]


def _slopes(ctx, weights, directions):
    """Central differences of the network's own loss along each direction: ``(slopes, None)``,
    or ``(None, the failure)``.  A unit direction moves its one weight and leaves the others
    exactly as they are (``w + 0.0``)."""
    sets = [[w + sign * H * d for w, d in zip(weights, direction)]
            for direction in directions for sign in (1, -1)]
    fd = ctx.session.run('mlp', [_base(ctx, action='losses', param_sets=sets)], _timeout(ctx))[0]
    if fd.error:
        return None, fd.error
    losses = fd.losses
    return [_slope(losses[2 * i], losses[2 * i + 1]) for i in range(len(directions))], None


def _slope(ahead, behind):
    """The central difference of two losses; NaN where one is not a float (a network turned
    complex), which agrees with no gradient."""
    return (ahead - behind) / (2 * H) if type(ahead) is float and type(behind) is float else math.nan


def _agrees(grads, loss, directions, slopes):
    """Whether the gradient's slope along every direction is the differences' (NaN, a missing
    gradient or one that is not a number: not)."""
    try:
        for direction, slope in zip(directions, slopes, strict=True):
            terms = [g * d for g, d in zip(grads, direction, strict=True)]
            if not abs(math.fsum(terms) - slope) <= ALONG_RTOL * (math.fsum(map(abs, terms)) +
                                                                  abs(loss)):
                return False
    except (TypeError, ValueError, OverflowError):  # not numbers, lengths that differ, inf - inf
        return False
    return True


def gradients(ctx):
    """Every parameter's gradient against central finite differences of the network's own loss:
    along random directions, and per parameter where they disagree."""
    answers = _built(ctx)
    if answers is None:
        return None
    grads = answers['grads']
    if grads.error:
        return failed(f'loss.backward() failed: {_failure(grads.error)}', **ctx.without_backward(),
                      **raised(grads.error))
    weights, grads = _live_weights(ctx, answers)
    if float32([grads.loss, *_first_outputs(answers['forward'])]):  # a float32 loss's
        # differences are its rounding
        return failed('the loss and its gradients are 32-bit floats: central differences of a '
                      'float32 loss (a step of 1e-6) measure its rounding, not its slope, so the '
                      'gradients are not judged',
                      misconception=Misconception(Code.SINGLE_PRECISION, method='__init__'))
    n = len(weights)
    directions = _directions(ctx.config.seed, n)
    slopes, failure = _slopes(ctx, weights, directions)
    if failure is None and _agrees(grads.grads, grads.loss, directions, slopes):
        return passed(f'the gradient of all {n} parameters matches central finite differences of '
                      f'the submission\'s own loss along {DIRECTIONS} random directions')
    numeric, failure = _slopes(ctx, weights, [[float(k == i) for k in range(n)] for i in range(n)])
    if failure:
        return error(f'forward passes for finite differences failed: {failure.message}')
    bad = [i for i, (g, d) in enumerate(zip(grads.grads, numeric))
           if not close(g, d, rtol=FD_RTOL, atol=FD_ATOL)]
    if not bad:
        return passed(f'all {n} parameter gradients match central finite differences of the '
                      f'submission\'s own loss')
    i = bad[0]
    built = answers['build']
    # where an op fails its own check: whether its rules make this network's gradients wrong
    own = right_in_network(ctx, weights, _architecture_of(ctx, answers['forward']), XS, YS,
                           SHAPE) if ctx.failing_ops() else ''
    return failed(
        f'{len(bad)} of {n} parameter gradients disagree with finite differences of '
        f'the network\'s own loss; first: parameter {i} has grad {show(grads.grads[i])}, '
        f'finite differences give {numeric[i]:.6g}{own}',
        counterexample=Counterexample(
            _with_weights(ctx, weights) + f'loss = None\nfor x, y in zip({XS}, {YS}):\n'
            f'    d = model(x) + Value(-y)\n    loss = d * d if loss is None else loss + d * d\n'
            f'loss.backward()\nprint(model.parameters()[{i}].grad)\n',
            {f'parameters()[{i}].grad': f'{numeric[i]:.6g}'},
            {f'parameters()[{i}].grad': show(grads.grads[i])}),
        # a Value listed twice moves twice as each copy of the weights is set: mlp.build's
        **({'consequence_of': 'mlp.build'} if built.distinct != built.count else {}))


def _step_size(grads):
    """A learning rate whose first-order decrease is 1 % of the loss: small enough that a correct
    gradient always lowers it, whatever the architecture."""
    try:
        norm = sum(g * g for g in grads.grads)
        return min(0.05, 0.01 * grads.loss / norm) if norm > 0 else 0.01
    except TypeError:  # no gradients (backward failed), or not numbers
        return 0.01


#: Further weight draws the gradients and a step are judged at when every gradient is 0 at the
#: seed's: a network whose loss is flat there (relu on every unit, its head dead for all four
#: samples, as in a third of the draws) shows neither a wrong gradient nor a step.
REDRAWS = 4


def _flat(answer):
    """Whether every gradient of an MLP answer is exactly 0: nothing for a step to follow."""
    return not answer.error and bool(answer.grads) and all(g == 0 for g in answer.grads)


def _live_weights(ctx, answers):
    """``(weights, their gradients' answer)`` the gradients and a step are judged at: the
    seed's, or else the first further draw where some gradient is not 0 (asked for in one
    request, only then, once for both checks): at a flat point 0 = 0 observes nothing."""
    weights, grads = reference_mlp(ctx.config.seed)[0], answers['grads']
    if not _flat(grads):
        return weights, grads

    def redrawn():
        draws = [[p.data for p in reference.MLP(*SHAPE, seed=f'{ctx.config.seed}:{k}').parameters()]
                 for k in range(1, REDRAWS + 1)]
        found = ctx.session.run('mlp', [_base(ctx, action='grads', params=w) for w in draws],
                                _timeout(ctx))
        return next(((w, g) for w, g in zip(draws, found) if not g.error and not _flat(g)),
                    (weights, grads))
    return ctx.once('mlp-live', redrawn)


def descent_step(ctx):
    answers = _built(ctx)
    if answers is None:
        return None
    weights, grads = _live_weights(ctx, answers)
    step = ctx.session.run('mlp', [_base(ctx, action='step', params=weights,
                                        lr=_step_size(grads))], _timeout(ctx))[0]
    if step.error:
        return failed(f'a gradient-descent step failed: {_failure(step.error)}', **ctx.without_backward(),
                      **raised(step.error))
    before, after = step.loss, step.loss_after
    ok = isinstance(before, float) and isinstance(after, float) and after < before
    if not ok and _flat(step) and before == after:
        return skipped(f'every gradient is 0 at the reference weights and at {REDRAWS} further '
                       f'draws, so no step can move the loss ({show(before)}): its output is flat '
                       f'there (relu on every unit, dead for every sample?)')
    return (passed if ok else failed)(
        f'one gradient-descent step moved the loss {show(before)} -> {show(after)}'
        + ('' if ok else ': it must fall'))


def zero_grad(ctx):
    zero = _answer(ctx, 'zero_grad')
    if zero is None:
        return None
    err = zero.error
    if err and err.type == 'AttributeError' and 'zero_grad' in err.message:
        return skipped('no zero_grad() method')
    if err and _answers(ctx)['build'].nested and err.type == 'AttributeError' and \
            err.message.startswith(("'list' object", "'tuple' object")):
        return failed(f'zero_grad() failed: {_failure(err)}: it reads parameters(), which '
                      f'returns lists (mlp.build)', consequence_of='mlp.build')
    if err:
        return failed(f'zero_grad() failed: {_failure(err)}', **ctx.without_backward(), **raised(err))
    left = [g for g in zero.grads_after if not close(g, 0.0)]
    return passed('zero_grad() zeroes every parameter\'s grad') if not left else failed(
        f'after zero_grad(), {len(left)} parameters still have a nonzero grad')


def one_neuron_layer(ctx):
    one = _answer(ctx, 'one_neuron')
    if one is None:
        return None
    err = one.error
    if not err:
        return passed('a one-neuron hidden layer feeds the next layer')
    # the lecture's Layer returns a bare Value for one neuron: the next layer then iterates it
    hint = (' (does a one-neuron layer return a bare Value where the next layer expects a list?)'
            if err.type == 'TypeError' and 'iterable' in err.message else '')
    return failed(f'MLP(2, [3, 1, 1]) failed: {err}{hint}', **raised(err),
                  counterexample=Counterexample('model = MLP(2, [3, 1, 1])\nmodel([2.0, 3.0]).backward()\n'))
