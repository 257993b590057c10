"""``micrograde.strategies``, for a course's own property tests: Hypothesis strategies for
expression DAGs over a chosen op set, their input values, and an adapter that checks a learner's
Value on them (``micrograde.fuzz.strategies``; the README has a course repository's test)."""
from micrograde.fuzz.dags import ALL_OPS, LECTURE
from micrograde.fuzz.strategies import Engine, graphs, leaves

__all__ = ['ALL_OPS', 'LECTURE', 'Engine', 'graphs', 'leaves']
