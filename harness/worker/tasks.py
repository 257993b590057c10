"""The worker's tasks, one table: what a request's ``task`` names -> how one of its items is read
and run.

The worker, the notebook self-check, the benchmark's replay and the tests' in-process session
all run items through ``run``, so a new task is one row here.  What ``run`` calls is bound as
``execute``'s runner is (its docstring): the table is an exact tuple, its runners defaults.
The worker reads each request whole as it arrives (``received``), before any code of the
submission's runs: a request is a dict that code can reach, and rewriting an item not yet
run (the parameter sets of a finite difference) would forge its answer.
"""
from . import execute, mlp
from .execute import run_graph
from .mlp import run_mlp


def _graph_item(item, prepared=execute.prepared):
    return prepared(item['graph']), item.get('backward', 1), item.get('instrument', False)


def _graph(item, classes, backend, own, run_graph=run_graph):
    graph, backward, instrument = item
    return run_graph(graph, backend, backward, instrument)


def _mlp(item, classes, backend, own, run_mlp=run_mlp):
    return run_mlp(classes, item, own, backend[7])  # the names the backend reads a Value by


#: task -> (how an item is read: an exact tuple, how it is run)
TASKS = (('graph', (_graph_item, _graph)), ('mlp', (mlp.prepared, _mlp)))


def received(request, dict=dict, tuple=tuple, TASKS=TASKS):
    """A request as the worker runs it: ``(task, id, ((order, prepared item), ...))``, every item
    read into exact tuples (``None`` for ``None``: the grader hung up)."""
    if request is None:
        return None
    prepare = dict(TASKS)[request['task']][0]
    return request['task'], request['id'], tuple(
        (item.get('order', 0), prepare(item)) for item in request['items'])


def run(task, item, classes, backend, own=None, dict=dict, type=type, tuple=tuple, TASKS=TASKS):
    """The answer to one ``item`` of a ``task`` request (its dict, or as ``received`` reads it),
    on the learner's ``classes`` (a dict, or its pairs) and ``backend``
    (``execute.bound_backend``'s tuple, or a ``Backend``)."""
    prepare, runner = dict(TASKS)[task]
    if type(backend) is not tuple:
        backend = backend.bound()
    return runner(item if type(item) is tuple else prepare(item), classes, backend, own)
