"""The protocol's grader side against a worker that writes anything on its pipe: every read and
write ends by its deadline, and every answer is parsed totally (``answers``): what our worker
never sends is a ``Violation``, a long text is cut, never kept whole.  Real pipes, real
threads writing; ``tests/test_protocol_attacks.py`` runs the same attacks as submissions."""
import base64
import json
import math
import os
import struct
import threading
import time

import pytest

from micrograde.isolate import answers
from micrograde.isolate.answers import GraphResult, Loaded, Violation, answer
from micrograde.model.bounds import KEEP
from micrograde.worker import protocol

GRAPH = {'graph': {'inputs': [['a', 1.0], ['b', 2.0]], 'nodes': [{'op': 'add', 'args': [0, 1]}],
                   'output': 2}}
GOOD = {'values': [1.0, 2.0, 3.0], 'grads': [1.0, 1.0, 1.0]}
INSTRUMENTED = dict(GRAPH, instrument=True)


@pytest.fixture
def pipe():
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        try:
            os.close(fd)
        except OSError:
            pass


KEY = b'k' * 32  # the key the grader gives the worker's guard


def frame(body, key=KEY):
    """``body`` as the worker's guard sends it: length, seal, bytes."""
    sealed = protocol.seal(key, 0, body) + body
    return struct.pack('>I', len(sealed)) + sealed


def test_nothing_sent_is_a_timeout(pipe):
    with pytest.raises(TimeoutError):
        protocol.recv(pipe[0], time.monotonic() + 0.2, KEY, 0)


def test_half_a_message_then_nothing_is_broken_not_a_hang(pipe, monkeypatch):
    monkeypatch.setattr(protocol, 'GRACE', 0.2)
    os.write(pipe[1], struct.pack('>I', 1000) + b'{"non')
    with pytest.raises(protocol.Broken, match='part of a message'):
        protocol.recv(pipe[0], time.monotonic() + 0.2, KEY, 0)


def test_half_a_header_then_nothing_is_broken(pipe, monkeypatch):
    monkeypatch.setattr(protocol, 'GRACE', 0.2)
    os.write(pipe[1], b'\0\0')
    with pytest.raises(protocol.Broken):
        protocol.recv(pipe[0], time.monotonic() + 0.2, KEY, 0)


def test_a_message_written_slowly_within_its_grace_is_read(pipe):
    body = json.dumps({'x': 'y' * 100_000}).encode()

    def dribble():
        data = frame(body)
        for i in range(0, len(data), 30_000):
            os.write(pipe[1], data[i:i + 30_000])
            time.sleep(0.05)
    writer = threading.Thread(target=dribble)
    writer.start()
    assert protocol.recv(pipe[0], time.monotonic() + 5, KEY, 0) == {'x': 'y' * 100_000}
    writer.join()


@pytest.mark.parametrize('data, why', [
    (struct.pack('>I', protocol.MAX_ANSWER + protocol.SEAL + 1), 'announced a message'),
    (frame(b'[' * 200_000 + b']' * 200_000), 'not JSON'),
    (frame(b'{"a": 1'), 'not JSON'),
    (frame(b'\xff\xfe'), 'not JSON'),
    (frame(b'1' * 5000), 'not JSON'),  # past Python's digits limit for int()
])
def test_what_is_not_a_message_is_broken(pipe, data, why):
    def write():
        view = memoryview(data)
        while view:
            view = view[os.write(pipe[1], view):]
    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    with pytest.raises(protocol.Broken, match=why):
        protocol.recv(pipe[0], time.monotonic() + 2, KEY, 0)


def test_an_answer_the_guard_did_not_seal_is_told_apart(pipe):
    os.write(pipe[1], frame(json.dumps({'type': 'loaded'}).encode(), key=b'x' * 32))
    with pytest.raises(protocol.Unsealed):
        protocol.recv(pipe[0], time.monotonic() + 2, KEY, 0)


def test_an_end_mid_message_is_a_death_not_a_forgery(pipe):
    os.write(pipe[1], struct.pack('>I', 100) + b'{"a"')
    os.close(pipe[1])
    assert protocol.recv(pipe[0], time.monotonic() + 2, KEY, 0) is None


def test_a_request_the_worker_never_reads_ends_by_its_deadline(pipe):
    with pytest.raises(TimeoutError):
        protocol.ask(pipe[1], {'items': [os.urandom(1000) for _ in range(1000)]}, time.monotonic() + 0.3)


def item(result, k=0, request=1, **fields):
    return {'nonce': 'n', 'id': request, 'item': k, 'result': result, 'output': '', **fields}


def packed(*floats):
    return {'f64': base64.b64encode(struct.pack(f'<{len(floats)}d', *floats)).decode()}


def test_answers_of_the_right_shape_are_read():
    assert answer(item(GOOD), 'graph', [GRAPH], 0, 1).values == GOOD['values']
    both = answer(item(protocol.pack(GOOD)), 'graph', [GRAPH], 0, 1)  # lists of floats, packed
    assert (both.values, both.grads) == (GOOD['values'], GOOD['grads'])
    odd = answer(item({'values': packed(math.nan, -math.inf, -0.0), 'grads': GOOD['grads']}),
                 'graph', [GRAPH], 0, 1).values
    assert math.isnan(odd[0]) and odd[1] == -math.inf and math.copysign(1, odd[2]) == -1


def test_the_worker_packs_long_lists_of_floats_only():
    result = {'values': [0.5] * 8, 'grads': [1.0] * 7, 'order': list(range(8)),
              'rules': [None] * 8, 'mixed': [1.0] * 7 + [{'error': 'E'}]}
    assert protocol.pack(result) == dict(result, values=packed(*[0.5] * 8))
    assert answer({'nonce': 'n', 'id': 1, 'done': True, 'output': ''}, 'graph', [GRAPH], 1, 1) is None


def test_an_answer_is_made_plain_data_without_asking_the_submissions_objects_anything():
    """What the guard seals (``protocol.message``, in its hook): a subclass of a number or a
    string is its builtin, read in C; any other object is null; none of their methods runs
    (run there, the submission's code would reach the hook's state)."""
    class Loud(type):
        def __hash__(cls):
            raise AssertionError('hashed')

        def __eq__(cls, other):
            raise AssertionError('compared')

    class Number(float, metaclass=Loud):
        def __float__(self):
            raise AssertionError('__float__')

    class Text(str):
        def __str__(self):
            raise AssertionError('__str__')

    class Table(dict):
        def items(self):
            raise AssertionError('items')

    sent = protocol.message({'id': 1, 'result': {'values': [Number(0.5)] * 8, 'grads': [Number(1)],
                                                  'name': Text('x'), 'odd': Table(a=1)}})
    assert sent == {'id': 1, 'result': {'values': packed(*[0.5] * 8), 'grads': [1.0], 'name': 'x',
                                        'odd': None}}
    assert type(sent['result']['name']) is str and type(sent['result']['grads'][0]) is float


@pytest.mark.parametrize('message, k', [
    ({'nonce': 'n', 'id': 1, 'done': True, 'output': ''}, 0),  # done before the answer
    (item(GOOD), 1),                                            # more answers than asked
    (item(GOOD, k=3), 0),                                       # an item never asked
    (item(GOOD, request=2), 0),                                 # another request
    (item(GOOD, request=True), 0),                              # a bool is no id
    (item(dict(GOOD, values=[1.0] * 10**5)), 0),                # a count past the graph
    (item(dict(GOOD, values=[1.0, 2.0])), 0),                   # fewer, with no error
    (item(dict(GOOD, grads=[1.0])), 0),
    (item(dict(GOOD, values=['1', '2', '3'])), 0),              # wrong types
    (item(dict(GOOD, values=[1, 2, 3])), 0),
    (item(dict(GOOD, order=[0, 1, 7])), 0),                     # an entry not in the graph
    (item(dict(GOOD, rules=[['__add__', 3]] * 4)), 0),          # more rule origins than entries
    (item(dict(GOOD, rules=[['__add__', 0], None, None])), 0),  # no line 0
    (item(dict(GOOD, rules=[['__add__', 3]])), 0),              # fewer rule origins than entries
    (item(dict(GOOD, rules=[['<lambda>', 3], None, None])), 0),  # a method is a name
    (item(dict(GOOD, rules=[['__add__ (at line 3)', 3], None, None])), 0),
    (item(dict(GOOD, rules=[['__add__', True], None, None])), 0),
    (item(dict(GOOD, rules=[['__add__', 3, 4], None, None])), 0),
    (item(dict(GOOD, walks=-1)), 0),
    (item(dict(GOOD, starts=[0.0] * 4)), 0),                    # more starting grads than entries
    (item(dict(GOOD, starts=[0.0])), 0),                        # fewer
    (item(dict(GOOD, starts=['0', '0', '0'])), 0),              # not numbers
    (item(dict(GOOD, shadowed='everything')), 0),
    (item(dict(GOOD, verdict='passed')), 0),                    # a field no answer has
    (item(dict(GOOD, error={'stage': 'worker', 'type': 'x', 'message': 'lost'})), 0),
    (item(dict(GOOD, error={'stage': 'forward', 'type': None, 'message': 'm'})), 0),
    (item(dict(GOOD, error={'stage': 'zero_grad', 'type': 'E', 'message': 'm'})), 0),  # an MLP's
    (item(dict(GOOD, values=[{'complex': [1.0]}, 2.0, 3.0])), 0),
    (item(dict(GOOD, values=packed(1.0, 2.0, 3.0, 4.0))), 0),   # packed: a count past the graph
    (item(dict(GOOD, values={'f64': packed(1.0, 2.0, 3.0)['f64'][:-2]})), 0),  # cut short
    (item(dict(GOOD, values={'f64': 'not base64!'})), 0),
    (item(dict(GOOD, values={'f64': base64.b64encode(b'x' * 20).decode()})), 0),  # 2.5 doubles
    (item(dict(GOOD, values={'f64': 3.0})), 0),
    (item(dict(GOOD, values={'f64': 'A' * 12_000_000})), 0),   # past any list's limit: unread
    (item(dict(GOOD, values=dict(packed(1.0, 2.0, 3.0), more=1))), 0),
    (item(GOOD, output=None), 0),
    (item([GOOD]), 0),
    ([item(GOOD)], 0),
    (None, 0),
])
def test_answers_our_worker_never_sends_are_violations(message, k):
    with pytest.raises(Violation):
        answer(message, 'graph', [INSTRUMENTED], k, 1)


def test_only_an_instrumented_graph_answers_the_order_its_rules_ran_in():
    ran = dict(GOOD, rules=[None, None, ['__add__', 3]], order=[2], walks=0)
    assert answer(item(ran), 'graph', [INSTRUMENTED], 0, 1).rules[2] == ('__add__', 3)
    for extra in ({'rules': ran['rules']}, {'order': [2]}, {'walks': 0}, {'starts': [0.0] * 3}):
        with pytest.raises(Violation, match='not asked'):
            answer(item(dict(GOOD, **extra)), 'graph', [GRAPH], 0, 1)


NET = {'count': 3, 'distinct': 3, 'own': True, 'scalar': True, 'nested': False}
TASK = {'nin': 1, 'nouts': [1], 'xs': [[1.0], [2.0]], 'ys': [1.0, -1.0]}
GRADS = dict(NET, loss=1.0, grads=[0.5, 0.25, 0.125])
#: MLP action -> (its item, an answer of the worker's to it: ``worker/mlp.py``)
MLP_ANSWERS = {
    'build': (dict(TASK, action='build'), dict(NET, batched=False)),
    'forward': (dict(TASK, action='forward', params=[0.1] * 3),
                dict(NET, outputs=[[0.5], [math.nan, {'type': 'str'}]])),
    'losses': (dict(TASK, action='losses', param_sets=[[0.1] * 3] * 4),
               dict(NET, losses=[1.0, 2.0, 3.0, {'complex': [1.0, 0.0]}])),
    'grads': (dict(TASK, action='grads'), GRADS),
    'step': (dict(TASK, action='step', lr=0.1), dict(GRADS, loss_after=0.5)),
    'zero_grad': (dict(TASK, action='zero_grad'), dict(GRADS, grads_after=[0.0] * 3)),
}
FAILED = {'error': {'stage': 'build', 'type': 'NameError', 'message': "name 'selff' is not defined",
                    'where': 'engine.py, line 9: selff.b', 'function': '__call__', 'line': 9}}


def _mlp_violations():
    """Each action's answer with a field missing, a list one short or one long, another
    action's field, or an error beside its results."""
    for action, (_, good) in MLP_ANSWERS.items():
        for k, v in good.items():
            yield action, {f: x for f, x in good.items() if f != k}
            if type(v) is list:
                yield action, dict(good, **{k: v[:-1]})
                yield action, dict(good, **{k: v + v[:1]})
        yield action, dict(good, grads_after=[0.0] * 3) if action != 'zero_grad' else \
            dict(good, outputs=[[0.5], [0.5]])
        yield action, dict(good, **FAILED)
        yield action, dict(good, distinct=4)
        yield action, dict(FAILED, count=3)
        yield action, {'error': None}
        yield action, {'error': dict(FAILED['error'], stage='leaf')}  # a graph's stage


@pytest.mark.parametrize('action, result', list(_mlp_violations()))
def test_mlp_answers_our_worker_never_sends_are_violations(action, result):
    """A short list would make the MLP checks index past it: a Violation, not the grader
    failing."""
    with pytest.raises(Violation):
        answer(item(result), 'mlp', [MLP_ANSWERS[action][0]], 0, 1)


@pytest.mark.parametrize('action', sorted(MLP_ANSWERS))
def test_mlp_answers_of_the_right_shape_are_read(action):
    task, good = MLP_ANSWERS[action]
    read = answer(item(good), 'mlp', [task], 0, 1)
    assert (read.count, read.error) == (3, None) and len(read.grads or [0] * 3) == 3
    failed = answer(item(FAILED), 'mlp', [task], 0, 1)
    assert (failed.error.function, failed.error.line, failed.count) == ('__call__', 9, 0)


MISBUILT = {'method': 'Neuron.parameters', 'file': 'engine.py', 'line': 3, 'why': 'listed'}


def test_where_a_network_went_wrong_is_read_from_its_build_answer_only():
    """``misbuilt`` (``worker/mlp.py``: the method whose parameters() or sizes went wrong) may
    come with a build's answer; anywhere else, of another kind, or without its line, it is no
    answer of our worker's."""
    task, good = MLP_ANSWERS['build']
    read = answer(item(dict(good, misbuilt=MISBUILT)), 'mlp', [task], 0, 1)
    assert read.misbuilt == MISBUILT and answer(item(good), 'mlp', [task], 0, 1).misbuilt is None
    grads_task, grads = MLP_ANSWERS['grads']
    for action_task, result in ((grads_task, dict(grads, misbuilt=MISBUILT)),
                                (task, dict(good, misbuilt=dict(MISBUILT, why='anything'))),
                                (task, dict(good, misbuilt={k: v for k, v in MISBUILT.items()
                                                            if k != 'line'})),
                                (task, dict(good, misbuilt=dict(MISBUILT, line='3')))):
        with pytest.raises(Violation):
            answer(item(result), 'mlp', [action_task], 0, 1)


def test_long_texts_are_cut_not_refused():
    failure = {'stage': 'backward', 'type': 'E' * 10**6, 'message': 'm' * 10**6, 'where': 'w' * 10**6}
    got = answer(item({'values': GOOD['values'], 'error': failure}, output='o' * 10**6),
                 'graph', [GRAPH], 0, 1)
    assert len(got.output) < KEEP['output'] + 100 and len(got.error.message) < KEEP['message'] + 100
    assert len(got.error.type) < KEEP['name'] + 100 and len(got.error.where) < KEEP['where'] + 100


def test_a_load_answer_is_checked_and_capped():
    ok = {'nonce': 'n', 'type': 'loaded', 'output': '', 'warnings': ['w' * 2**20] * 500,
          'classes': {'Value': 'engine.py'}, 'seconds': 0.5,
          'class_info': {'Value': {'name': 'V' * 10**5, 'origin': 'engine.py', 'how': 'name',
                                   'similar': {}, 'attributes': {'data': 'a\\1'}}},
          'methods': {'__add__': {'file': 'engine.py', 'line': 3}}}
    loaded = Loaded.parse(ok)
    assert len(loaded.warnings) == answers.KEEP_COUNT['warnings'] + 1
    assert sum(map(len, loaded.warnings)) < 200_000
    for bad in ({'warnings': [None]}, {'classes': {'Value': 3}}, {'seconds': 'soon'},
                {'class_info': {'Value (': {}}}, {'class_info': {'Value': {'how': 'shape'}}},
                {'methods': {'f': {'file': 'x', 'line': 0}}},
                {'type': 'item'}, {'error': ['x']}):
        with pytest.raises(Violation):
            Loaded.parse({**ok, **bad})


def test_in_process_results_parse_as_the_worker_s():
    """The self-check and the oracles parse results that never went through JSON."""
    import numpy
    got = GraphResult.parse({'values': [numpy.float64(1.0), 2.0, 3.0], 'grads': GOOD['grads']},
                            '', GRAPH)
    assert got.values == [1.0, 2.0, 3.0] and all(type(x) is float for x in got.values)


def _engine(source, filename):
    """``source`` run as the learner's module ``filename``: its classes, and ``own`` as the
    worker's loader gives it (the learner's file by the name it knows it by)."""
    namespace = {'__name__': 'engine'}
    exec(compile(source, filename, 'exec'), namespace)
    return namespace, lambda f: 'engine.py' if f == filename else None


ODD_RULES = '''
rule = lambda: None  # a rule written outside any method


class Value:
    def __init__(self, data, _children=()):
        self.data, self.grad, self._prev = data, 0.0, _children
        self._backward = rule

    def __add__(self, other):
        out = Value(self.data + other.data, (self, other))

        def _backward():
            self.grad += out.grad
            other.grad += out.grad
        _backward.__qualname__ = 'Value.__add__ (at line 11)'
        out._backward = _backward
        return out

    def backward(self):
        self.grad = 1.0
        self._backward()
'''


def test_the_worker_names_a_rule_s_method_only_by_a_name():
    """A rule outside a method, or a ``__qualname__`` the learner rewrote, has no origin: the
    grader reads a rule origin only as a name and a line."""
    from micrograde.worker.execute import Backend, run_graph
    classes, own = _engine(ODD_RULES, '/sub/engine.py')
    sent = run_graph(GRAPH['graph'], Backend(classes['Value'], own), instrument=True)
    assert sent['rules'] == [None, None, None]
    assert answer(item(sent), 'graph', [INSTRUMENTED], 0, 1).grads == [1.0, 1.0, 1.0]


def test_an_mlp_failure_is_located_at_the_learner_s_line(tmp_path):
    """The lecture's Layer returns a bare Value for one neuron, which the next layer's neurons
    then iterate: the answer names that line, as a graph's does."""
    from micrograde.worker.mlp import run_mlp
    from conftest import SUBMISSIONS
    path = tmp_path / 'engine.py'
    path.write_text(source := (SUBMISSIONS / 'lecture_engine.py').read_text())
    classes, own = _engine(source, str(path))
    task = {'nin': 2, 'nouts': [3, 1, 1], 'xs': [[2.0, 3.0]], 'ys': [1.0], 'action': 'grads'}
    failed = answer(item(run_mlp(classes, task, own)), 'mlp', [task], 0, 1).error
    line = source.splitlines().index('        act = sum((wi*xi for wi, xi in zip(self.w, x)), self.b)') + 1
    assert (failed.stage, failed.function, failed.line) == ('grads', '__call__', line)
    assert failed.where.startswith(f'engine.py, line {line}: act = sum(')


def test_the_worker_cuts_a_name_to_what_the_grader_keeps():
    """The worker cannot import the grader's bounds: its own cut (``execute.NAME``) must stay
    within ``KEEP['name']``, or a long class name is cut by the grader to no identifier and the
    answer read as one our worker never sends (a correct engine 'interfered with grading')."""
    from micrograde.worker import execute
    assert execute.NAME <= KEEP['name']
