"""Which ops the submission has (the probe), and the capability checks that report it."""
from .. import cases
from ..worker.ops import CAPABILITIES
from .registry import check, failed, passed, skipped
from .trials import item


def probe(session):
    """``{capability: 'present' | 'absent' | 'broken'}``: which ops the submission has.

    Absent means observed missing (no such method, unsupported operand); an op that raises
    or whose worker was lost is present but broken, and its checks will say why.
    """
    names = list(cases.PROBES)
    results = session.run('graph', [item(cases.PROBES[n]) for n in names])
    found, backward = {}, set()
    for name, r in zip(names, results):
        err = r.error
        if err is None or err.stage == 'backward':
            found[name] = 'present'
        else:
            found[name] = 'absent' if err.missing else 'broken'
        if err is None:
            backward.add('present')
        elif err.stage in ('backward', 'worker'):
            backward.add('absent' if err.missing else 'broken')
    found['backward'] = next((s for s in ('present', 'broken', 'absent') if s in backward), 'broken')
    return found


@check('capability.{}', each=CAPABILITIES)
def capability(ctx, cap):
    """Present or not; only the rubric's required ops count."""
    required = cap in ctx.config.rubric.required_ops
    state = ctx.capabilities.get(cap, 'absent')
    if state == 'absent':
        return (failed if required else skipped)(
            f'{cap} is not implemented' + ctx.instead(cap) + (' (required)' if required else ''),
            required=required)
    return passed(f'{cap} is implemented' + (' but raises (see its ops check)' if state == 'broken'
                                             else ''), required=required)
