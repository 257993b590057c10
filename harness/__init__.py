"""micrograde: grade micrograd-style autograd engines against torch and a reference engine.

Public API: ``grade(path, config=Config(...)) -> Report`` (each ``Check`` in ``Report.checks``);
``check(Value, MLP=MLP)``: the same checks in a learner's own notebook, as a self-check.
Names resolve on first use, so ``import micrograde`` stays light: the worker and ``micrograde
--help`` never import torch.
"""
import importlib
from typing import Any

__version__ = '0.1.0'
__all__ = ['grade', 'Config', 'Report', 'Check', 'check']

_HOME = {'grade': 'grader.grading', 'Config': 'grader.config', 'Report': 'model.results',
         'Check': 'model.results', 'check': 'surfaces.selfcheck'}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    return getattr(importlib.import_module(f'.{_HOME[name]}', __name__), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
