"""Per op: values and gradients at fixed inputs (``cases.OP_CASES``) against the oracles."""
from micrograde.model import cases
from micrograde.checks.registry import check, failed, skipped
from micrograde.checks.trials import judged, needs, run_graphs


@check('ops.{}', each=cases.OP_CAPABILITIES)
def op_values_and_gradients(ctx, cap):
    have = ctx.usable
    required = cap in ctx.config.rubric.required_ops
    if cap not in have:
        return (failed if required else skipped)(f'{cap} is not implemented', required=required)
    graphs = [g for g in cases.OP_CASES[cap] if g.capabilities <= have]
    unchecked = ''
    if not graphs and 'mul' not in have:  # the op on its own: all but the upstream gradient
        graphs = [u for g in cases.OP_CASES[cap] if (u := g.unscaled()) and u.capabilities <= have]
        unchecked = (' (without the usual `* k`: the submission has no `*`, so a rule that '
                     'ignores out.grad is not checked)')
    if not graphs:
        return skipped(needs(ctx, cases.OP_CASES[cap]))
    trials = run_graphs(ctx.session, graphs, instrument=True)
    return judged(trials, f'{cap}: values and gradients match torch on {len(trials)} '
                          f'graphs{unchecked}')
