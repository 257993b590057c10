"""Per op: values and gradients on fixed graphs (``cases.OP_CASES``, at the seed's inputs) against
the oracles; without a ``backward()``, values only (a forward value needs no backward)."""
from micrograde.model import cases
from micrograde.diagnose.diagnosis import METHOD_OPS, explain, first_mismatch, misconception
from micrograde.model.results import Counterexample
from micrograde.worker.ops import FORMS, OPS
from micrograde.checks.registry import failed, skipped
from micrograde.checks.trials import against, item, judged, needs, run_graphs


def op_values_and_gradients(ctx, cap):
    have = ctx.usable
    written = ctx.at_seed(cases.OP_CASES[cap])
    required = cap in ctx.config.rubric.required_ops
    if cap not in have:
        return failed(f'{cap} is not implemented', consequence_of=f'capability.{cap}') \
            if required else skipped(f'{cap} is not implemented', required=False)
    if 'backward' not in have:
        return values_only(ctx, [g for g in written if g.capabilities - {'backward'} <= have])
    graphs = [g for g in written if g.capabilities <= have]
    unchecked = ''
    if not graphs and 'mul' not in have:  # the op on its own: all but the upstream gradient
        graphs = [u for g in written if (u := g.unscaled()) and u.capabilities <= have]
        unchecked = (' (without the usual `* k`: the submission has no `*`, so a rule that '
                     'ignores out.grad is not checked)')
    if not graphs:
        return skipped(needs(ctx, written))
    # a graph that also uses another op failing its own check is left to that check (one bug,
    # one finding: `a ** 2.0 + a` with a wrong `+` is addition's)
    op = FORMS[cap][0].name
    broken = {FORMS[c][0].name for c in ctx.failing_ops() if c in FORMS} - {op}
    # (all of them used it, as every graph's `* k` does: judged on them all, the finding is then
    # located by the rule that ran)
    mine = [g for g in graphs if not {node.op for node in g.nodes} & broken] or graphs
    left = f'; {len(graphs) - len(mine)} left to the checks of {", ".join(sorted(broken))}' \
        if len(mine) < len(graphs) else ''
    trials = run_graphs(ctx.session, mine, explain=True, oracle=ctx.expected)
    # the op's other forms passing says nothing of this one
    trusted = ctx.trusted() - {op}
    outcome = judged(trials, f'{cap}: values and gradients match torch on {len(trials)} '
                             f'graphs{against(mine)}{unchecked}{left}', trusted, ctx.suspects())
    return unscaled(ctx, op, graphs, broken, outcome, trusted) or outcome


def unscaled(ctx, op, graphs, broken, outcome, trusted):
    """Where ``op``'s graphs failed by another op's rule (the ``* k`` they end with), the same
    graphs without it and without ops failing their own checks (``broken``), judged: wrong there
    by a rule in ``op``'s own method, that is the finding (``+`` written with ``*``'s derivatives
    and ``*`` with ``+``'s are two bugs, not one at ``*``); right there, or wrong by anything
    else, the outcome stands (``None``)."""
    named = outcome.misconception
    if outcome.status != 'failed' or named is None or not named.op or named.op == op:
        return None
    bare = [u for g in graphs if (u := g.unscaled()) and u.capabilities <= ctx.usable
            and not {node.op for node in u.nodes} & broken]
    if not bare:
        return None
    trials = run_graphs(ctx.session, bare, explain=True, oracle=ctx.expected)
    own = judged(trials, '', trusted, ctx.suspects())
    # the wrong rule seen in this op's own method (`a - b` as `self + (-other)` runs `+`'s and a
    # hidden `*`'s rules: its finding there is theirs, not subtraction's)
    if own.status != 'failed' or own.misconception is None or \
            METHOD_OPS.get(own.misconception.method) != op:
        return None
    own.message += (f' (on the graphs without their final `* k`; with it, the rule of '
                    f'{named.method or OPS[named.op].display} read as the culprit)')
    return own


def values_only(ctx, graphs):
    """Forward only, for an engine without ``backward()``: a wrong value or an exception in the
    op fails the check; right values leave it skipped (its gradients are not observed, so it
    earns no points)."""
    answers = ctx.session.run('graph', [item(g, backward=0) for g in graphs]) if graphs else []
    for g, actual in zip(graphs, answers):
        expected = ctx.expected(g)
        if expected is None:
            continue
        actual.grads = list(expected.grads)  # not computed: only values and errors are judged
        mismatch = first_mismatch(g, actual, expected)
        if mismatch is not None:
            found = explain(g, actual, expected, mismatch)
            got = str(actual.error) if actual.error else str(actual.values[mismatch.entry])
            return failed(f'{found} (values only: there is no backward())', diagnosis=found.text,
                          counterexample=Counterexample(g.code(backward=False), {}, {'error' if
                                                        actual.error else 'value': got}),
                          misconception=misconception(found, g, actual))
    return skipped(f'values match torch on {len(answers)} graphs; gradients not checked: there is '
                   f'no backward(){ctx.instead("backward")}')
