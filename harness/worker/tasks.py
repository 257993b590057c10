"""The worker's tasks, one table: what a request's ``task`` names -> how one of its items runs.

The worker, the notebook self-check, the benchmark's replay and the tests' in-process session
all run items through ``run``, so a new task is one row here.
"""
from .execute import run_graph
from .mlp import run_mlp


def _graph(item, classes, backend, own):
    return run_graph(item['graph'], backend, item.get('backward', 1), item.get('instrument', False))


def _mlp(item, classes, backend, own):
    return run_mlp(classes, item, own, backend.attributes)


TASKS = {'graph': _graph, 'mlp': _mlp}


def run(task, item, classes, backend, own=None):
    """The answer to one ``item`` of a ``task`` request, on the learner's ``classes``."""
    return TASKS[task](item, classes, backend, own)
