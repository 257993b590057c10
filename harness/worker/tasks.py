"""The worker's tasks, one table: what a request's ``task`` names -> how one of its items runs.

The worker, the notebook self-check, the benchmark's replay and the tests' in-process session
all run items through ``run``, so a new task is one row here.  What ``run`` calls is bound as
``execute``'s runner is (its docstring): the table is an exact tuple, its runners defaults.
"""
from .execute import run_graph
from .mlp import run_mlp


def _graph(item, classes, backend, own, run_graph=run_graph):
    return run_graph(item['graph'], backend, item.get('backward', 1), item.get('instrument', False))


def _mlp(item, classes, backend, own, run_mlp=run_mlp):
    return run_mlp(classes, item, own, backend[7])  # the names the backend reads a Value by


TASKS = (('graph', _graph), ('mlp', _mlp))


def run(task, item, classes, backend, own=None, dict=dict, type=type, tuple=tuple, TASKS=TASKS):
    """The answer to one ``item`` of a ``task`` request, on the learner's ``classes`` (a dict,
    or its pairs) and ``backend`` (``execute.bound_backend``'s tuple, or a ``Backend``)."""
    if type(backend) is not tuple:
        backend = backend.bound()
    return dict(TASKS)[task](item, classes, backend, own)
