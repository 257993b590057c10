"""Which ops the submission has (the probe), and the capability checks that report it."""
from micrograde.model import cases
from micrograde.model.results import Code, Misconception
from micrograde.diagnose.diagnosis import describe_error, learner_method, signature_of
from micrograde.worker.ops import FORMS, NUMBER_FORMS, form
from micrograde.checks.registry import failed, passed, skipped
from micrograde.checks.trials import item

STATES = ('present', 'broken', 'absent')


def probe(session, methods=None, through=''):
    """``{capability: 'present' | 'absent' | 'broken'}``: which ops the submission has.

    Absent means the submission does not have it (no such method, operands refused); an op
    that raises from the learner's own code, or whose worker was lost, is present but broken,
    and its checks will say why.  A probe whose inputs cannot be built (``Value(x)`` raises)
    says nothing of its op: present unless the class has no method for it.  Plain-number
    operands are a capability of their own: absent when every form with a number is absent.
    ``backward`` is judged from the probes that reached it; when none did (no op works), from
    ``methods``, the Value's methods as the worker listed them, if given.  With ``methods``, a
    class that has no backward() (nor one named otherwise that grading calls, ``through``) has
    none, though ``out.backward()`` ran: what ran is an attribute of the output's own, the rule
    each op sets (``out.backward = backward``), not a walk of the graph.
    """
    names = list(cases.PROBES)
    results = session.run('graph', [item(cases.PROBES[n]) for n in names])
    found, backward = {}, set()
    for name, r in zip(names, results):
        err = r.error
        if err is not None and err.stage == 'leaf':
            found[name] = 'absent' if err.missing else 'present'
        elif err is None or err.stage == 'backward':
            found[name] = 'present'
        else:  # a method Python calls with operands its def refuses is there, and broken
            found[name] = 'absent' if err.missing and not signature_of(err) and \
                not unread(err, methods) else 'broken'
        if err is None:
            backward.add('present')
        elif err.stage in ('backward', 'worker'):
            backward.add('absent' if err.missing or stub(err) else 'broken')
    found['numbers'] = _first_of({found[cap] for cap in NUMBER_FORMS})
    found['backward'] = _first_of(backward) if backward else \
        'broken' if methods is None or 'backward' in methods else 'absent'
    if methods and 'backward' not in methods and not through:
        found['backward'] = 'absent'
    return found


def unread(err, methods):
    """Whether a plain number failed to be read as a Value (``'float' object has no attribute
    'data'``) in a method that makes Values of its operands (``Value(other)``, itself or through
    a helper: the class report's ``wraps``): it means to take numbers, so its conversion is a bug
    (``isinstance(self, Value)`` for ``isinstance(other, Value)``), not an operand it refuses."""
    return err.type == 'AttributeError' and bool((methods or {}).get(err.function, {}).get('wraps'))


def stub(err):
    """Whether a backward pass failed for a backward() not written yet: the Value's own method
    raised ``NotImplementedError`` with a ``raise`` of its own, as a course template hands it out.
    That is backward() absent, as an op's stub is that op absent (``execute.missing``): not one
    bug every check forgives, keeping the points of every check of gradients it never computed.
    A stub reached through a call (``node._backward()`` of a rule not written, a helper) is no
    ``raise`` of backward()'s own: the rule's, told as an exception where it was called."""
    return err.stage == 'backward' and err.type == 'NotImplementedError' and bool(err.function) \
        and err.where.partition(': ')[2].startswith('raise ')


def _first_of(states):
    return next(s for s in STATES if s in states)


def _with_values(cap):
    """The form of the same op on Values only: ``mul`` for ``mul_const`` and ``rmul``."""
    op = form(cap)[0]
    return next(c for c, (operands, _) in op.forms.items() if operands == 2)


def capability(ctx, cap):
    """Present or not; only the rubric's required ops count."""
    required = cap in ctx.config.rubric.required_ops
    state = ctx.capabilities.get(cap, 'absent')
    if cap == 'numbers':
        return numbers(ctx, state, required)
    if cap in NUMBER_FORMS and ctx.capabilities.get('numbers') == 'absent' and not required:
        return None  # said once, by capability.numbers
    if cap == 'backward' and backward_through(ctx.report):
        state = 'absent'  # graded through the learner's backprop(), but backward() is not there
    if state == 'absent':
        return (failed if required else skipped)(
            f'{cap} is not implemented' + (_stubbed(ctx, cap) or _attribute(ctx, cap) or
                                           ctx.instead(cap)) +
            (' (required)' if required else ''),
            required=required, misconception=_absent(ctx, cap) if required else None)
    return passed(f'{cap} is implemented' + (' but raises (see its ops check)' if state == 'broken'
                                             else ''), required=required)


def _stubbed(ctx, cap):
    """`` (backward() raises NotImplementedError: a stub)`` where the Value has the method
    the probe found absent (``stub``), else ``''``. An op's method that raised something else
    is no stub: a form with a number the method never wraps (`a / 2.0` reading ``other.data``)
    says what it raised; one that answers when probed again raised only at its first call
    (``fuzz.answered_anyway`` grades it in the random graphs)."""
    method = learner_method(cap)
    if method not in ctx.report.methods:
        return ''
    graph = cases.PROBES.get(cap)
    err = ctx.session.run('graph', [item(graph)])[0].error if graph is not None else None
    if graph is not None and err is None:  # a stub raises again: this one answered (attacker15)
        return f' ({method}() raised NotImplementedError when first probed, then answered)'
    if err is not None and err.type != 'NotImplementedError' and not err.lost:
        return f' (`{graph.expression(graph.output)}` raised {describe_error(graph, err)})'
    return f' ({method}() raises NotImplementedError: a stub)'


def _attribute(ctx, cap):
    """`` (the Value has no backward() method: ...)`` where ``out.backward()`` runs anyway (an
    attribute each op sets, its node's rule: ``probe``), else ``''``."""
    if cap != 'backward' or cap in ctx.report.methods or backward_through(ctx.report):
        return ''
    err = ctx.session.run('graph', [item(cases.PROBES['add'])])[0].error
    return '' if err is not None and err.stage != 'backward' or err is not None and err.missing \
        else ' (the Value has no backward() method: `out.backward()` calls an attribute of the ' \
        'output\'s own, the rule its op set for that one node, and nothing walks the graph)'


def _absent(ctx, cap):
    """A required capability the submission lacks, as the one finding its ops check (failing
    for the same reason) is listed under."""
    if cap == 'backward':
        return Misconception(Code.BACKWARD_MISSING, method=ctx.similar(cap) or cap)
    if cap in FORMS:
        return Misconception(Code.MISSING_OP, FORMS[cap][0].name, learner_method(cap))
    return None


def backward_through(report):
    """The Value's method named like ``backward()`` that grading calls instead (``backprop``:
    the worker's class report, ``attributes``), or ``''``."""
    return report.class_info.get('Value', {}).get('attributes', {}).get('backward', '')


def numbers(ctx, state, required):
    """Told once: an engine that takes no plain numbers has its ops checked on Values only."""
    if state != 'absent':
        return passed('ops take plain numbers as operands (`a * 2.0`, `2.0 - a`)',
                      required=required)
    example = next((cap for cap in NUMBER_FORMS if ctx.capabilities.get(_with_values(cap)) ==
                    'present'), NUMBER_FORMS[0])
    graph = cases.PROBES[example]
    err = ctx.session.run('graph', [item(graph)])[0].error
    why = f' (`{graph.expression(graph.output)}` raised {describe_error(graph, err)})' if err else ''
    return (failed if required else skipped)(
        f'the engine supports Value with Value only: plain-number operands are not supported{why}. '
        f'The op checks and random graphs use Value operands only; to take numbers, wrap them: '
        f'`other = other if isinstance(other, Value) else Value(other)`.', required=required)
