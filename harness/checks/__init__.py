"""The checks, one module per category, each check registered in ``registry.REGISTRY``.

Importing this package registers them all, in the order of ``results.CATEGORIES`` (the order
they run in); a new check is a decorated function in its category's module (see
``registry.py``).
"""
from micrograde.checks import probe, ops, backward, fuzz, mlp, robustness  # noqa: F401  (registers, in order)
from micrograde.checks.registry import REGISTRY, Context, advisory_by_default, check_ids

__all__ = ['REGISTRY', 'Context', 'advisory_by_default', 'check_ids']
