"""The checks: each runs graphs (or MLP tasks) in the submission's worker and judges the answers.

Every function here returns ``Check`` results; none decides the verdict or the score (the rubric
does) and none writes a report (the reporters do).
"""
import functools
import math
import random
from dataclasses import dataclass

from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import Flaky, NoSuchExample, Unsatisfiable

import reference
from . import cases, oracles
from .compare import FD_ATOL, FD_RTOL, close, show
from .diagnose import explain, first_mismatch, topological_violation
from .worker.ops import CAPABILITIES
from .results import Check, Counterexample
from .strategies import graphs




# --- shared: run graphs, judge them ------------------------------------------------------------

@dataclass
class Trial:
    """One graph run on the submission, with the oracle's answer and the first mismatch."""
    graph: object
    actual: dict
    expected: dict | None
    mismatch: object = None

    @property
    def failed(self):
        return self.expected is not None and self.mismatch is not None


@functools.lru_cache(maxsize=8192)
def _wire(graph):
    """A graph as the worker reads it; the same graphs go to every submission of a batch."""
    return graph.to_dict()


def item(graph, **options):
    """One worker request item: the graph, plus ``backward``/``instrument`` options."""
    return {'graph': _wire(graph), **options}


def run_graphs(session, graph_list, instrument=False, timeout=None):
    items = [item(g, instrument=instrument) for g in graph_list]
    trials = []
    for g, actual in zip(graph_list, session.run('graph', items, timeout)):
        expected = oracles.expected(g)
        mismatch = first_mismatch(g, actual, expected) if expected else None
        trials.append(Trial(g, actual, expected, mismatch))
    return trials


def counterexample(trial):
    """Runnable code with the expected and actual output value and every wrong gradient."""
    g, a, e = trial.graph, trial.actual, trial.expected
    out = g.output
    got_values, got_grads = a.get('values', []), a.get('grads', [])
    wrong = [i for i in g.live() if got_grads and not close(got_grads[i], e['grads'][i])]
    shown = [i for i in wrong if i < len(g.inputs)] or wrong or list(range(len(g.inputs)))
    expected = {f'{g.name(out)}.data': show(e['values'][out])}
    actual = {f'{g.name(out)}.data': _shown(got_values, out)}
    for i in shown:
        expected[f'{g.name(i)}.grad'] = show(e['grads'][i])
        actual[f'{g.name(i)}.grad'] = _shown(got_grads, i)
    if 'error' in a:
        actual['error'] = f"{a['error']['type']}: {a['error']['message']}"
    return Counterexample(g.code(show=shown), expected, actual, g.to_dict())


def _shown(results, i):
    return show(results[i]) if i < len(results) else 'not computed'


def judged(check_id, category, trials, passed_message):
    """A check from trials: passed when none failed, else the first failure explained."""
    graded = [t for t in trials if t.expected is not None]
    output = ''.join(t.actual.get('output', '') for t in trials)
    failing = [t for t in graded if t.failed]
    if not graded:
        return Check(check_id, category, 'skipped', 'no graph could be graded (the oracles disagree)')
    if not failing:
        return Check(check_id, category, 'passed', passed_message, output=output)
    t = failing[0]
    order = t.actual.get('order')
    diagnosis = explain(t.graph, t.actual, t.expected, t.mismatch, order)
    status = 'error' if t.mismatch.kind == 'error' and t.actual['error'].get('stage') == 'worker' else 'failed'
    return Check(check_id, category, status, f'{len(failing)} of {len(graded)} graphs wrong: {diagnosis}',
                 diagnosis=diagnosis, counterexample=counterexample(t), output=output)


# --- probe --------------------------------------------------------------------------------------

def probe(session):
    """``{capability: 'present' | 'absent' | 'broken'}``: which ops the submission has.

    Absent means observed missing (no such method, unsupported operand); an op that raises
    or whose worker was lost is present but broken, and its checks will say why.
    """
    names = list(cases.PROBES)
    results = session.run('graph', [item(cases.PROBES[n]) for n in names])
    found, backward = {}, set()
    for name, r in zip(names, results):
        err = r.get('error')
        if err is None or err['stage'] == 'backward':
            found[name] = 'present'
        else:
            found[name] = 'absent' if err['missing'] else 'broken'
        if err is None:
            backward.add('present')
        elif err['stage'] in ('backward', 'worker'):
            backward.add('absent' if err['missing'] else 'broken')
    found['backward'] = next((s for s in ('present', 'broken', 'absent') if s in backward), 'broken')
    return found


def capability_checks(found, required):
    checks = []
    for cap in CAPABILITIES:
        state = found.get(cap, 'absent')
        if state == 'absent':
            status = 'failed' if cap in required else 'skipped'
            msg = f'{cap} is not implemented' + (' (required)' if cap in required else '')
        else:
            status = 'passed'
            msg = f'{cap} is implemented' + (' but raises (see its ops check)' if state == 'broken' else '')
        checks.append(Check(f'capability.{cap}', 'capability', status, msg, required=cap in required))
    return checks


def usable(found):
    return {cap for cap, state in found.items() if state != 'absent'}


# --- ops ----------------------------------------------------------------------------------------

def op_checks(session, found, required):
    have = usable(found)
    checks = []
    for cap, gs in cases.OP_CASES.items():
        gs = [g for g in gs if g.capabilities <= have]
        if cap not in have:
            status = 'failed' if cap in required else 'skipped'
            checks.append(Check(f'ops.{cap}', 'ops', status, f'{cap} is not implemented',
                                required=cap in required))
        elif not gs:
            checks.append(Check(f'ops.{cap}', 'ops', 'skipped', 'needs an op the submission lacks'))
        else:
            trials = run_graphs(session, gs, instrument=True)
            checks.append(judged(f'ops.{cap}', 'ops', trials, f'{cap}: values and gradients match '
                                 f'torch on {len(trials)} graphs'))
    return checks


# --- backward -----------------------------------------------------------------------------------

def backward_checks(session, found):
    have = usable(found)
    if 'backward' not in have:
        return [Check('backward.walk', 'backward', 'failed', 'backward() is not implemented')]
    checks = []
    orders = []
    for name, what, gs in cases.BACKWARD:
        gs = [g for g in gs if g.capabilities <= have]
        trials = run_graphs(session, gs, instrument=True)
        orders += [(t.graph, t.actual['order']) for t in trials if t.actual.get('order')]
        checks.append(judged(f'backward.{name}', 'backward', trials, what) if trials else
                      Check(f'backward.{name}', 'backward', 'skipped', 'needs an op the submission lacks'))
    checks.append(_visits_check(orders))
    checks.append(_repeat_check(session, have))
    return checks


def _visits_check(orders):
    if not orders:
        return Check('backward.visits', 'backward', 'skipped',
                     'the engine does not call per-node _backward closures; visit order not observed')
    for g, order in orders:
        problem = topological_violation(g, order)
        if problem:
            return Check('backward.visits', 'backward', 'failed', problem, diagnosis=problem,
                         counterexample=Counterexample(g.code(), {'_backward calls': 'each node once, '
                                                       'consumers first'},
                                                       {'_backward calls': ' -> '.join(
                                                           g.name(i) for i in order)}))
    return Check('backward.visits', 'backward', 'passed',
                 f'every node propagated exactly once, consumers first ({len(orders)} graphs)')


REPEAT = cases.G('out = (a + b) * d', a=1.5, b=-0.5, d=3.0)


def _repeat_check(session, have):
    """A second backward() must add the same gradients again, as micrograd (or torch) does."""
    if not REPEAT.capabilities <= have:
        return Check('backward.repeat', 'backward', 'skipped', 'needs add and mul')
    actual = session.run('graph', [item(REPEAT, backward=2)])[0]
    ref = oracles.run_reference(REPEAT, backward=2)
    code = REPEAT.code(show=range(3)) + 'out.backward()\n' + 'print(a.grad, b.grad, d.grad)\n'
    if 'error' in actual or 'grads2' not in actual:
        return Check('backward.repeat', 'backward', 'failed',
                     f'calling backward() twice failed: {actual.get("error", {}).get("message", "")}',
                     counterexample=Counterexample(code))
    leaves = range(len(REPEAT.inputs))
    micrograd = all(close(actual['grads2'][i], ref['grads2'][i]) for i in leaves)
    doubled = all(close(actual['grads2'][i], 2 * actual['grads'][i]) for i in leaves)
    if micrograd or doubled:
        return Check('backward.repeat', 'backward', 'passed',
                     'a second backward() adds the gradients again (leaf gradients double)')
    same = all(close(actual['grads2'][i], actual['grads'][i]) for i in leaves)
    why = ('the second backward() changed nothing: is a "visited" flag kept on the nodes between '
           'calls?' if same else 'a second backward() must add the same gradients again')
    return Check('backward.repeat', 'backward', 'failed', why, diagnosis=why,
                 counterexample=Counterexample(
                     code, {f'{REPEAT.name(i)}.grad': show(ref['grads2'][i]) for i in leaves},
                     {f'{REPEAT.name(i)}.grad': show(actual['grads2'][i]) for i in leaves}))


# --- robustness (advisory) ---------------------------------------------------------------------

def robustness_checks(session, found, budget):
    have = usable(found)
    checks = []
    table = [(name, what, g, None, None) for name, what, g in cases.ROBUSTNESS]
    table.append(('deep_chain', f'backward through a {budget.chain}-node chain',
                  *cases.deep(cases.chain, budget.chain), session.settings.check_timeout * 3))
    table.append(('diamond_ladder', 'backward through 25 stacked diamonds (x = x*1 + x*1): '
                  'linear time, unless every path is walked', *cases.deep(cases.ladder, 25), None))
    for name, what, g, loop, timeout in table:
        if not g.capabilities <= have:
            checks.append(Check(f'robustness.{name}', 'robustness', 'skipped',
                                'needs an op the submission lacks', required=False))
            continue
        actual = session.run('graph', [item(g)], timeout)[0]
        expected = oracles.run_torch(g)
        mismatch = first_mismatch(g, actual, expected)
        if mismatch is None:
            checks.append(Check(f'robustness.{name}', 'robustness', 'passed', f'{what}: as torch',
                                required=False))
            continue
        if loop:  # too large to print node by node: the loop that builds it, and a's gradient
            got = {'a.grad': _shown(actual.get('grads', []), 0)}
            if 'error' in actual:
                got['error'] = f"{actual['error']['type']}: {actual['error']['message']}"
            example = Counterexample(loop, {'a.grad': show(expected['grads'][0])}, got)
        else:
            example = counterexample(Trial(g, actual, expected, mismatch))
        checks.append(Check(f'robustness.{name}', 'robustness', 'failed',
                            f'{what}: ' + explain(g, actual, expected, mismatch), required=False,
                            counterexample=example))
    return checks


# --- fuzz ---------------------------------------------------------------------------------------

def _fuzz_settings(n):
    return settings(max_examples=n, database=None, deadline=None, derandomize=False,
                    suppress_health_check=list(HealthCheck), phases=[Phase.generate])


@functools.lru_cache(maxsize=64)
def corpus(seed, ops, budget):
    """The fuzzed graphs for a seed: the same list for every submission with these ops, made
    once per process (a batch pays for it once)."""
    out, seen = [], set()

    @hypothesis_seed(seed)
    @_fuzz_settings(budget.examples)
    @given(graphs(ops=tuple(sorted(ops)), max_nodes=budget.max_nodes))
    def collect(g):
        key = g.to_json()
        if key not in seen:
            seen.add(key)
            out.append(g)
    collect()
    return out


def fuzz_check(session, found, seed, budget):
    ops = usable(found) - {'backward'}
    if not {'mul', 'add'} <= ops or 'backward' not in usable(found):
        return Check('fuzz.dags', 'fuzz', 'skipped', 'needs add, mul and backward')
    graphs_ = corpus(seed, frozenset(ops), budget)
    # instrumented, so that each failure carries the _backward order of its own run
    trials = run_graphs(session, graphs_, instrument=True)
    failing = [t for t in trials if t.failed]
    graded = sum(t.expected is not None for t in trials)
    if not failing:
        return Check('fuzz.dags', 'fuzz', 'passed',
                     f'{graded} random graphs over {len(ops)} ops match torch and the reference')
    minimal = shrink(session, ops, seed, budget) or failing[0]
    flaky = rerun_differs(session, minimal, budget.reruns)
    diagnosis = explain(minimal.graph, minimal.actual, minimal.expected, minimal.mismatch,
                        minimal.actual.get('order'))
    if flaky:
        diagnosis += (' The result changes from run to run on the same graph: iterating over a '
                      'set (e.g. of children) makes the order depend on memory addresses.')
    return Check('fuzz.dags', 'fuzz', 'failed',
                 f'{len(failing)} of {graded} random graphs wrong; smallest found '
                 f'({len(minimal.graph.nodes)} nodes): {diagnosis}', diagnosis=diagnosis,
                 counterexample=counterexample(minimal),
                 output=''.join(t.actual.get('output', '') for t in failing[:3]))


def shrink(session, ops, seed, budget):
    """A minimal failing graph, found and shrunk by Hypothesis, or ``None``."""
    def fails(g):
        return run_graphs(session, [g], instrument=True)[0].failed
    try:
        g = find(graphs(ops=tuple(sorted(ops)), max_nodes=budget.max_nodes), fails,
                 settings=settings(max_examples=budget.shrink_examples, database=None,
                                   deadline=None, suppress_health_check=list(HealthCheck)),
                 random=random.Random(seed))
    except (NoSuchExample, Unsatisfiable, Flaky):
        return None
    trial = run_graphs(session, [g], instrument=True)[0]
    return trial if trial.failed else None


def rerun_differs(session, trial, reruns):
    again = run_graphs(session, [trial.graph] * reruns)
    return any(first_mismatch(trial.graph, t.actual, trial.actual) is not None
               if 'error' not in trial.actual else 'error' not in t.actual for t in again)


# --- mlp ----------------------------------------------------------------------------------------

XS = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
YS = [1.0, -1.0, -1.0, 1.0]
SHAPE = (3, [4, 4, 1])
ARCHITECTURES = {'tanh everywhere (the lecture)': ('tanh', 'tanh'),
                 'tanh hidden layers, linear head': ('tanh', 'linear'),
                 'relu hidden layers, linear head (micrograd nn.py)': ('relu', 'linear'),
                 'relu everywhere': ('relu', 'relu')}


def mlp_checks(session, classes, seed):
    if 'MLP' not in classes:
        return [Check('mlp.build', 'mlp', 'skipped', 'no MLP class', required=False)]
    nin, nouts = SHAPE
    base = {'nin': nin, 'nouts': nouts, 'xs': XS, 'ys': YS}
    weights = reference_mlp(seed)[0]
    expected_count = sum((a + 1) * b for a, b in zip([nin] + nouts, nouts))
    narrow = {'nin': 2, 'nouts': [3, 1, 1], 'xs': XS[:1], 'ys': YS[:1], 'action': 'grads'}
    tasks = [dict(base, action='build'), dict(base, action='forward', params=weights),
             dict(base, action='grads', params=weights),
             dict(base, action='zero_grad', params=weights), narrow]
    timeout = session.settings.check_timeout * 3
    built, forward, grads, zero, one_neuron = session.run('mlp', tasks, timeout)
    step = session.run('mlp', [dict(base, action='step', params=weights, lr=_step_size(grads))],
                       timeout)[0]
    if 'error' in built:
        err = built['error']
        return [Check('mlp.build', 'mlp', 'failed', f'MLP{SHAPE[0], SHAPE[1]} failed: '
                      f'{err["type"]}: {err["message"]}',
                      counterexample=Counterexample(f'model = MLP({nin}, {nouts})\nmodel.parameters()\n'))]
    checks = []
    ok = built['count'] == expected_count and built['distinct'] == built['count'] and built['own']
    why = (f'MLP({nin}, {nouts}) has {built["count"]} parameters ({built["distinct"]} distinct), '
           f'expected {expected_count} = Σ(nin+1)·nout' if built['count'] != expected_count or
           built['distinct'] != built['count'] else
           'parameters() returns objects that are not the submission\'s Value')
    checks.append(Check('mlp.build', 'mlp', 'passed' if ok else 'failed',
                        f'MLP({nin}, {nouts}) has {expected_count} parameters' if ok else why,
                        output=built.get('output', ''), counterexample=None if ok else Counterexample(
                            f'model = MLP({nin}, {nouts})\nps = model.parameters()\n'
                            f'print(len(ps), len(set(map(id, ps))))\n',
                            {'parameters': str(expected_count), 'distinct': str(expected_count)},
                            {'parameters': str(built['count']), 'distinct': str(built['distinct'])})))
    checks.append(_architecture_check(forward, seed))
    checks.append(_gradient_check(session, grads, weights, base))
    checks.append(_step_check(step))
    checks.append(_zero_grad_check(zero))
    err = one_neuron.get('error')
    checks.append(Check('mlp.one_neuron_layer', 'mlp', 'failed' if err else 'passed',
                        f'MLP(2, [3, 1, 1]) failed: {err["type"]}: {err["message"]} (does a '
                        f'one-neuron layer return a bare Value where the next layer expects a '
                        f'list?)' if err else 'a one-neuron hidden layer feeds the next layer',
                        required=False,  # the lecture's own Layer has this flaw: advisory
                        counterexample=Counterexample('model = MLP(2, [3, 1, 1])\n'
                                                      'model([2.0, 3.0]).backward()\n') if err else None))
    return checks


@functools.lru_cache(maxsize=16)
def reference_mlp(seed):
    """The reference weights for a seed, and each known architecture's outputs with them: the
    same for every submission of a batch."""
    weights = [p.data for p in reference.MLP(*SHAPE, seed=seed).parameters()]
    outputs = {}
    for name, (hidden, head) in ARCHITECTURES.items():
        model = reference.MLP(*SHAPE, activation=hidden, head=head)
        for p, w in zip(model.parameters(), weights):
            p.data = w
        outputs[name] = [model(x).data for x in XS]
    return weights, outputs


def _architecture_check(forward, seed):
    if 'error' in forward:
        return Check('mlp.forward', 'mlp', 'failed', f'forward pass failed: {forward["error"]["type"]}: '
                     f'{forward["error"]["message"]}', required=False)
    outs = [o[0] if o else math.nan for o in forward['outputs']]
    for name, expected in reference_mlp(seed)[1].items():
        if all(close(o, e) for o, e in zip(outs, expected)):
            return Check('mlp.forward', 'mlp', 'passed', f'with the reference weights the outputs '
                         f'match the architecture: {name}', required=False)
    return Check('mlp.forward', 'mlp', 'failed', 'with the reference weights copied in '
                 'parameters() order, the outputs match none of the known architectures '
                 f'({"; ".join(ARCHITECTURES)})', required=False,
                 counterexample=Counterexample('', {}, {'outputs': ', '.join(map(show, outs))}))


def _gradient_check(session, grads, weights, base):
    if 'error' in grads:
        return Check('mlp.gradients', 'mlp', 'failed', f'loss.backward() failed: '
                     f'{grads["error"]["type"]}: {grads["error"]["message"]}')
    h = 1e-6
    sets = []
    for i in range(len(weights)):
        for sign in (1, -1):
            w = list(weights)
            w[i] += sign * h
            sets.append(w)
    fd = session.run('mlp', [dict(base, action='losses', param_sets=sets)], session.settings.check_timeout * 3)[0]
    if 'error' in fd:
        return Check('mlp.gradients', 'mlp', 'error', f'forward passes for finite differences failed: '
                     f'{fd["error"]["message"]}')
    losses = fd['losses']
    numeric = [(losses[2 * i] - losses[2 * i + 1]) / (2 * h) for i in range(len(weights))]
    bad = [i for i, (g, n) in enumerate(zip(grads['grads'], numeric))
           if not close(g, n, rtol=FD_RTOL, atol=FD_ATOL)]
    if not bad:
        return Check('mlp.gradients', 'mlp', 'passed', f'all {len(weights)} parameter gradients '
                     f'match central finite differences of the submission\'s own loss')
    i = bad[0]
    return Check('mlp.gradients', 'mlp', 'failed',
                 f'{len(bad)} of {len(weights)} parameter gradients disagree with finite '
                 f'differences of the network\'s own loss; first: parameter {i} has grad '
                 f'{show(grads["grads"][i])}, finite differences give {numeric[i]:.6g}',
                 counterexample=Counterexample(
                     f'model = MLP({SHAPE[0]}, {SHAPE[1]})\n# loss = sum of (model(x) - y)**2 over '
                     f'the lecture\'s four samples\nloss.backward()\nprint(model.parameters()[{i}].grad)\n',
                     {f'parameters()[{i}].grad': f'{numeric[i]:.6g}'},
                     {f'parameters()[{i}].grad': show(grads['grads'][i])}))


def _step_size(grads):
    """A learning rate whose first-order decrease is 1 % of the loss: small enough that a correct
    gradient always lowers it, whatever the architecture."""
    try:
        norm = sum(g * g for g in grads['grads'])
        return min(0.05, 0.01 * grads['loss'] / norm) if norm > 0 else 0.01
    except (KeyError, TypeError):
        return 0.01


def _step_check(step):
    if 'error' in step:
        return Check('mlp.step', 'mlp', 'failed', f'a gradient-descent step failed: '
                     f'{step["error"]["type"]}: {step["error"]["message"]}')
    before, after = step['loss'], step['loss_after']
    ok = isinstance(before, float) and isinstance(after, float) and after < before
    return Check('mlp.step', 'mlp', 'passed' if ok else 'failed',
                 f'one gradient-descent step moved the loss {show(before)} -> {show(after)}'
                 + ('' if ok else ': it must fall'))


def _zero_grad_check(zero):
    err = zero.get('error')
    if err and err['type'] == 'AttributeError' and 'zero_grad' in err['message']:
        return Check('mlp.zero_grad', 'mlp', 'skipped', 'no zero_grad() method', required=False)
    if err:
        return Check('mlp.zero_grad', 'mlp', 'failed', f'zero_grad() failed: {err["type"]}: {err["message"]}')
    left = [g for g in zero['grads_after'] if not close(g, 0.0)]
    return Check('mlp.zero_grad', 'mlp', 'passed' if not left else 'failed',
                 'zero_grad() zeroes every parameter\'s grad' if not left else
                 f'after zero_grad(), {len(left)} parameters still have a nonzero grad')
