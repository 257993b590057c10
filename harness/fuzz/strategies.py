"""Hypothesis strategies for expression DAGs: ``micrograde.fuzz.dags.build`` drawing from Hypothesis,
so that failures shrink (the test suite's property tests use them)."""
from hypothesis import strategies as st

from micrograde.fuzz.dags import ALL_OPS, build


class _Drawn:
    """Choices drawn from Hypothesis: integers shrink towards ``lo``, picks towards the first."""

    def __init__(self, draw):
        self.draw = draw

    def integer(self, lo, hi):
        return self.draw(st.integers(lo, hi))

    def pick(self, options):
        return self.draw(st.sampled_from(options))


@st.composite
def graphs(draw, ops=ALL_OPS, max_inputs=3, max_nodes=8, scale_output=True):
    """Random DAGs over the capabilities ``ops``; see ``micrograde.fuzz.dags.build``."""
    return build(_Drawn(draw), ops, max_inputs, max_nodes, scale_output)
