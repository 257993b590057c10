"""MLP tasks on a submission's own network: build, copy weights in, forward, loss gradients.

The loss is built with ``Value + Value`` and ``Value * Value`` only (the required ops), so a
missing ``-`` or ``**`` cannot hide an MLP's own mistakes; with ``values_in`` the samples are
Values too (an engine that takes no plain numbers).

A failure while building says which part of the lecture's interface it met: ``constructor``
(``MLP(nin, nouts)`` refused by Python itself), ``parameters`` (no such method), or ``build``
(the learner's own code raised).

The submission's code runs inside ``run_mlp``, so what it calls is bound as ``execute``'s
runner is (its docstring): positional defaults, helpers defined before it.
"""
import inspect
from itertools import repeat

from .execute import (_backpropagate, _names, _text, error, frame_of, holds_number,
                      learner_frame, number, own_attributes)
from .load.classes import runner
from .load.loaded import self_stores


def _numbers(params, attribute, tuple=tuple, map=map, getattr=getattr, repeat=repeat,
             number=number):
    """Each parameter's ``attribute`` as a number, in a tuple built in C."""
    return tuple(map(number, map(getattr, params, repeat(attribute))))


def _replaced(model, exc, own, isinstance=isinstance, str=str, set=set, id=id, len=len,
              dict=dict, list=list, tuple=tuple, int=int, float=float, type=type, callable=callable,
              getattr=getattr, vars=vars, next=next, TypeError=TypeError,
              isfunction=inspect.isfunction, own_attributes=own_attributes,
              self_stores=self_stores, frame_of=frame_of, _text=_text):
    """Where the network replaced one of its methods with data (``self.parameters = [...]``
    inside ``parameters()``), when calling that method failed (``'list' object is not
    callable``): ``(the learner's Frame of that assignment, the method's name)``; else
    ``None``.  The network's modules are searched through their lists
    (MLP, layers, neurons)."""
    # _text: the learner's exception's str() may raise (the worker was lost on every MLP task)
    if not isinstance(exc, TypeError) or 'not callable' not in _text(exc) or own is None:
        return None
    seen, todo = set(), [model]
    while todo and len(seen) < 1000:
        obj = todo.pop()
        if id(obj) in seen or obj is None:
            continue
        seen.add(id(obj))
        for name, value in dict(own_attributes(obj)).items():
            if isinstance(value, (list, tuple)):
                todo += [v for v in value[:100] if not isinstance(v, (int, float, str))]
            method = getattr(type(obj), name, None)
            if callable(value) or not isfunction(method):
                continue
            for klass in type(obj).__mro__:
                code = getattr(vars(klass).get(name), '__code__', None)
                line = code and next((at for _, attribute, at in self_stores(code)
                                      if attribute == name and at), None)
                label = code and own(code.co_filename)
                if line and label:
                    return frame_of(code, label, line), name
    return None


#: Objects the walk over a network's parts reads at most (``_parts``).
PARTS = 1000


def _flat(params, value, isinstance=isinstance, list=list, tuple=tuple, PARTS=PARTS):
    """``(the Values parameters() listed, whether it listed some inside lists)``: a Layer's
    ``[n.parameters() for n in self.neurons]`` is the network's Values one list deep, which the
    other MLP tasks then read flat, so that one missing flattening is one finding.  Lists in
    lists are read too, ``PARTS`` items of each at most."""
    flat, nested, todo = [], False, list(params)[::-1]
    while todo:
        p = todo.pop()
        if isinstance(p, (list, tuple)) and not isinstance(p, value):
            nested = True
            todo += list(p[:PARTS])[::-1]
        else:
            flat.append(p)
    return flat, nested


def _parts(model, value, isinstance=isinstance, callable=callable, getattr=getattr, type=type,
           id=id, list=list, tuple=tuple, dict=dict, len=len, own_attributes=own_attributes,
           PARTS=PARTS):
    """The network's parts as the learner built them, the model first: each object of a class
    with a ``parameters()`` method reached from the model through attributes (one by one, or in
    lists, tuples and dicts), with ``(its parts, the Values it holds itself)`` in the order its
    attributes hold them."""
    found, order, todo = {}, [], [model]
    while todo and len(found) < PARTS:
        part = todo.pop(0)
        if id(part) in found:
            continue
        parts, held = [], []
        for attribute in list(own_attributes(part).values())[:PARTS]:
            items = list(attribute.values()) if type(attribute) is dict else \
                attribute if isinstance(attribute, (list, tuple)) else [attribute]
            for item in items[:PARTS]:
                if isinstance(item, value):
                    held.append(item)
                elif callable(getattr(type(item), 'parameters', None)) and \
                        not isinstance(item, type):
                    parts.append(item)
        found[id(part)] = (part, parts, held)
        order.append(id(part))
        todo += parts
    return [found[k] for k in order]


def _defined(cls, name, own, vars=vars, getattr=getattr, frame_of=frame_of, tuple=tuple):
    """The learner's ``Frame`` of method ``name`` of ``cls`` (at its ``def``), or ``None``."""
    for klass in getattr(cls, '__mro__', ())[:-1]:
        code = getattr(vars(klass).get(name), '__code__', None)
        label = code and own(code.co_filename)
        if label:
            return frame_of(code, label, code.co_firstlineno)
    return None


def _misbuilt(model, value, nin, nouts, own, len=len, type=type, id=id, set=set, all=all,
              any=any, map=map, enumerate=enumerate, list=list, BaseException=BaseException,
              reversed=reversed, _parts=_parts, _flat=_flat, _defined=_defined):
    """Where a network whose ``parameters()`` are not the lecture's ``Σ(nin+1)·nout`` Values went
    wrong, as ``{'method', 'file', 'line', 'why'}`` (``why``: ``nested``, ``listed`` or
    ``shape``), or ``None`` where that is not known.  The part deepest in the network whose
    ``parameters()`` lists otherwise than what it holds and its parts' ``parameters()`` (in
    lists: ``nested``; leaving out or repeating some: ``listed``); else, every part listing
    what it holds, the constructor that built the wrong shape (``shape``): with each layer the
    lecture's number of neurons and each neuron the same few more or fewer Values than its
    inputs and a bias, the Neuron's; with each layer the same few more or fewer neurons, the
    Layer's; else the MLP's."""
    try:
        parts = _parts(model, value)
        listed, nested = {}, {}
        for part, children, held in reversed(parts):  # the deepest first
            flat, nested[id(part)] = _flat(list(part.parameters()), value)
            listed[id(part)] = flat
            want = held + [p for child in children for p in listed[id(child)]]
            wrong = 'nested' if nested[id(part)] else '' if len(flat) == len(want) and \
                set(map(id, flat)) == set(map(id, want)) else 'listed'
            if wrong and not any(nested[id(child)] for child in children):
                at = _defined(type(part), 'parameters', own)
                return at and {'method': f'{type(part).__name__}.parameters', 'file': at.file,
                               'line': at.line, 'why': wrong}
        found = {id(part): (children, held) for part, children, held in parts}
        layers, cls = found[id(model)][0], type(model)
        rows = [found[id(layer)][0] for layer in layers]  # each layer's neurons
        if len(layers) == len(nouts) and all(rows):
            sizes = [nin, *nouts]
            extra = {len(found[id(n)][1]) - sizes[k] - 1 for k, row in enumerate(rows) for n in row}
            counts = {len(row) - nouts[k] for k, row in enumerate(rows)}
            if counts == {0} and len(extra) == 1 and extra != {0}:
                cls = type(rows[0][0])
            elif len(counts) == 1 and counts != {0}:
                cls = type(layers[0])
        at = _defined(cls, '__init__', own)
        return at and {'method': f'{cls.__name__}.__init__', 'file': at.file, 'line': at.line,
                       'why': 'shape'}
    except BaseException:  # the learner's parameters() raising here: nothing more to say
        return None


def _lecture_constructor(mlp, sum=sum, TypeError=TypeError, ValueError=ValueError,
                         any=any, signature=inspect.signature):
    """Whether the constructor takes the lecture's two required arguments, ``(nin, nouts)``:
    one that takes ``(structure, final_layer_softmax=True)`` may accept ``MLP(3, [4, 4, 1])`` and
    then raise in the learner's code, which is another interface, not a broken network.  A
    signature that cannot be read counts as the lecture's."""
    try:
        params = signature(mlp).parameters.values()
    except (TypeError, ValueError):
        return True
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return True
    return sum(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
               for p in params) == 2


def _sample(value, samples, x, list=list):
    """A sample as the network takes it: its first ``nin`` numbers, as Values with ``values_in``
    (``samples``: ``(xs, ys, nin, values_in)``)."""
    x = list(x)[:samples[2]]
    return [value(v) for v in x] if samples[3] else x


def _batched(run, x, Exception=Exception):
    """Whether the model (``run``: how it is called) takes a batch of samples rather than the
    lecture's one sample: one sample raises, a batch of one does not."""
    try:
        run(x)
        return False
    except Exception:
        try:
            run([x])
            return True
        except Exception:
            return False


def _assign(params, vector, data, zip=zip, setattr=setattr):
    for p, x in zip(params, vector):
        setattr(p, data, x)


def _outputs(out, data, isinstance=isinstance, list=list, tuple=tuple, number=number,
             getattr=getattr):
    out = out if isinstance(out, (list, tuple)) else [out]
    return [number(getattr(o, data, o)) for o in out]


def _loss(run, value, samples, zip=zip, isinstance=isinstance, list=list, tuple=tuple,
          _sample=_sample):
    """Squared error over the samples, as a Value built from the model's outputs (``run``:
    how the model is called)."""
    loss = None
    for x, y in zip(samples[0], samples[1]):
        out = run(_sample(value, samples, x))
        out = out[0] if isinstance(out, (list, tuple)) else out
        d = out + value(-y)
        term = d * d
        loss = term if loss is None else loss + term
    return loss


def prepared(item, tuple=tuple, map=map, bool=bool):
    """An MLP task as ``run_mlp`` reads it, read at once (the task is a dict the submission's
    code can reach and rewrite: new parameter sets for the finite differences would forge
    them): ``(action, nin, nouts, (xs, ys, nin, values_in), params, param_sets, lr)``, each
    list an exact tuple; a field the task does not have is ``None``."""
    def rows(key):
        return None if item.get(key) is None else tuple(map(tuple, item[key]))
    samples = (rows('xs'), tuple(item.get('ys') or ()), item.get('nin'),
               bool(item.get('values_in')))
    return (item.get('action'), item.get('nin'), tuple(item.get('nouts') or ()), samples,
            None if item.get('params') is None else tuple(item['params']), rows('param_sets'),
            item.get('lr'))


def run_mlp(classes, item, own=None, names=None, dict=dict, list=list, tuple=tuple, len=len,
            map=map, all=all, id=id, getattr=getattr, setattr=setattr, type=type,
            isinstance=isinstance, BaseException=BaseException, KeyError=KeyError, runner=runner,
            _names=_names, number=number, holds_number=holds_number, error=error,
            learner_frame=learner_frame, _backpropagate=_backpropagate, _numbers=_numbers,
            _replaced=_replaced, _lecture_constructor=_lecture_constructor, _sample=_sample,
            _batched=_batched, _assign=_assign, _outputs=_outputs, _loss=_loss,
            prepared=prepared, _flat=_flat, _misbuilt=_misbuilt, sum=sum, zip=zip):
    """One MLP task; ``item['action']`` is one of ``build forward losses grads step zero_grad``.
    ``item``: the task, or its ``prepared`` tuple; ``classes``: role -> class (a dict, or its
    pairs); ``names``: where the Value keeps its
    number and gradient and how it backpropagates (``execute.ROLES``' names, or a dict of
    those that are not the lecture's).

    What is read is kept in tuples of exact builtins and the answer made of them in one
    expression as this returns (``execute.run_graph`` says why): the network's facts, read
    before its action runs the submission's code again, cannot be changed by that code.  The
    task, classes and names are read before the submission's first call."""
    action, nin, nouts, samples, weights, param_sets, lr = \
        item if type(item) is tuple else prepared(item)
    classes = dict(classes)
    value, mlp = classes.get('Value'), classes.get('MLP')
    data, grad, backward, topo = names if type(names) is tuple else _names(names)
    order = (backward, topo)
    stage, model = 'constructor', None
    try:
        if value is None or mlp is None:
            raise KeyError('Value' if value is None else 'MLP')
        method = runner(mlp) or '__call__'
        model = mlp(nin, list(nouts))
        run = getattr(model, method)  # model(x), or model.forward(x)
        stage = 'parameters'
        params, nested = _flat(list(model.parameters()), value)
        stage = 'build'
        facts = (('count', len(params)), ('distinct', len({id(p) for p in params})),
                 ('own', all(isinstance(p, value) for p in params)),
                 ('scalar', all(holds_number(getattr(p, data, None)) for p in params)),
                 ('nested', nested))
        if action == 'build':
            lecture = sum((a + 1) * b for a, b in zip((nin, *nouts), nouts))
            misbuilt = _misbuilt(model, value, nin, nouts, own) if own and (
                nested or facts[0][1] != lecture or facts[1][1] != facts[0][1]) else None
            return dict(facts + (('batched', _batched(run, _sample(value, samples,
                                                                   samples[0][0]))),)
                        + ((('misbuilt', misbuilt),) if misbuilt else ()))
        stage = action
        if weights is not None:
            _assign(params, weights, data)
        if action == 'forward':
            def output_at(x):
                return _outputs(run(_sample(value, samples, x)), data)
            return dict(facts + (('outputs', list(map(output_at, samples[0]))),))
        if action == 'losses':
            def loss_at(vector):
                _assign(params, vector, data)
                return number(getattr(_loss(run, value, samples), data))
            return dict(facts + (('losses', list(map(loss_at, param_sets))),))
        for p in params:
            setattr(p, grad, 0.0)
        loss = _loss(run, value, samples)
        _backpropagate(order, loss)  # loss.backward(), or the learner's backprop()
        facts += (('loss', number(getattr(loss, data))), ('grads', _numbers(params, grad)))
        if action == 'step':
            for p in params:
                setattr(p, data, getattr(p, data) - lr * getattr(p, grad))
            facts += (('loss_after', number(getattr(_loss(run, value, samples), data))),)
        if action == 'zero_grad':
            model.zero_grad()
            facts += (('grads_after', _numbers(params, grad)),)
        return dict((k, list(v) if type(v) is tuple else v) for k, v in facts)
    except BaseException as e:  # SystemExit included: a failed task, not a dead worker
        frame = learner_frame(e, own) if own else None
        if frame and (stage == 'parameters' or
                      stage == 'constructor' and _lecture_constructor(mlp)):
            stage = 'build'  # the interface is there; the learner's code broke
        replaced = _replaced(model, e, own)
        frame = replaced[0] if replaced else frame
        if frame and frame.owner in {k.__name__ for k in getattr(value, '__mro__', ())}:
            frame = frame._replace(owner='')  # the Value's own method: named as the graphs name it
        found = error(e, stage, frame=frame)
        if replaced:
            found['message'] += (f' (`self.{replaced[1]} = ...` replaces the method '
                                 f'{replaced[1]}() with data: name the attribute otherwise)')
        return {'error': found}
