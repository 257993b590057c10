"""Hypothesis strategies for expression DAGs, and an adapter that runs them on a Value class.

``micrograde.fuzz.dags.build`` drawing from Hypothesis, so that failures shrink: the test
suite's property tests, the thorough profile's search (``micrograde.fuzz.search``) and a
course's own tests use them (as ``micrograde.strategies``).  A course repository checks a
learner's engine with pytest and Hypothesis::

    from hypothesis import given
    from micrograde.strategies import Engine, LECTURE, graphs, leaves
    from engine import Value  # the learner's

    @given(graphs(ops=LECTURE, leaves=leaves(boundary=True), edges=True))
    def test_values_and_gradients(graph):
        Engine(Value).check(graph)  # AssertionError: runnable code, what is wrong and where

Imports Hypothesis (about as slow as torch): the quick and standard grades never import this.
"""
import os

from hypothesis import strategies as st

from micrograde.diagnose.diagnosis import explain, first_mismatch
from micrograde.fuzz import shrink
from micrograde.fuzz.dags import ALL_OPS, build
from micrograde.isolate.answers import GraphResult
from micrograde.oracle import oracles
from micrograde.worker.execute import Backend, run_graph
from micrograde.worker.load.classes import EXPECTED, Found, similar

#: The largest input magnitude drawn: where the lecture's formulas still hold in floats, which the
#: course accepts (advice, not a failure: ``robustness.tanh_large``).  Its tanh as one op,
#: (e**2x - 1)/(e**2x + 1), overflows beyond 354; composed of Value ops, e = (2*x).exp() and
#: (e - 1) / (e + 1), its division's rule squares e (``** -1``), which underflows to 0 beyond 177:
#: a gradient of 4 at 300, not 0 (a lecture notebook graded thorough, 34/51).  Values computed
#: from inputs stay within ``dags.BOUND``.
LARGEST = 150.0
#: Where engines break: zero of both signs, the tiniest magnitudes, the largest drawn.
BOUNDARY = (0.0, -0.0, 5e-324, -5e-324, 1e-300, -1e-300, LARGEST, -LARGEST)


#: Decades of small magnitudes, 1e-22 (whose log is still within ``dags.BOUND``) to 1.
DECADES = range(-22, 1)


def leaves(boundary=False):
    """Input values: the corpus's (quarter integers in [-3, 3]), or with ``boundary`` also the
    boundary values, integers up to ``LARGEST``, any float within it (Hypothesis favours tiny
    and huge magnitudes itself) and every decade of small magnitudes (an engine's clamp or
    epsilon, e.g. ``log(max(x, 1e-3))``, is one of them)."""
    corpus = st.integers(-12, 12).map(lambda k: k / 4)
    if not boundary:
        return corpus
    return st.one_of(st.sampled_from(BOUNDARY), corpus,
                     st.integers(-int(LARGEST), int(LARGEST)).map(float),
                     st.floats(-LARGEST, LARGEST, allow_nan=False, allow_infinity=False),
                     st.builds(lambda sign, k: sign * 10.0 ** k, st.sampled_from((1.0, -1.0)),
                               st.integers(DECADES.start, DECADES.stop - 1)))


CORPUS_LEAVES = leaves()


class _Drawn:
    """Choices drawn from Hypothesis: integers shrink towards ``lo``, picks towards the first."""

    def __init__(self, draw, leaves):
        self.draw, self.leaves = draw, leaves

    def integer(self, lo, hi):
        return self.draw(st.integers(lo, hi))

    def pick(self, options):
        return self.draw(st.sampled_from(options))

    def leaf(self):
        return self.draw(self.leaves)


@st.composite
def graphs(draw, ops=ALL_OPS, max_inputs=3, max_nodes=8, scale_output=True, leaves=None,
           edges=False):
    """Random DAGs over the capabilities ``ops`` (``micrograde.worker.ops.FORMS``; ``LECTURE``:
    the lecture's), inputs from ``leaves`` (default: the corpus's), operands within the
    corpus's domains or, with ``edges``, up to the ops' own (``micrograde.fuzz.dags.EDGES``:
    log and fractional powers of tiny positives, relu next to 0); see ``micrograde.fuzz.dags.build``."""
    chooser = _Drawn(draw, CORPUS_LEAVES if leaves is None else leaves)
    return build(chooser, tuple(ops), max_inputs, max_nodes, scale_output, edges)


class Engine:
    """A Value class run on graphs as the grader's worker runs it, here in this process."""

    def __init__(self, cls, **names):
        """Where ``cls`` keeps its number and gradient and how it backpropagates are found as
        the grader finds them (``.value``, a zero-argument ``backprop()``); ``names`` says so
        where they are not: ``Engine(Scalar, data='val', grad='g', backward='backprop')``."""
        found = Found(cls, cls.__name__, 'name')
        found.similar = similar(cls, EXPECTED['Value'])
        found.locate(os.path.basename)  # LoadError: no leaf can be built, or it keeps no number
        self.backend = Backend(cls, attributes={**found.attributes, **names})

    def run(self, graph, instrument=False):
        """Every entry's data and grad (``micrograde.isolate.answers.GraphResult``), or where
        it failed; ``instrument``: also the order the ``_backward`` rules ran in."""
        return GraphResult.parse(run_graph(graph.wire(), self.backend, instrument=instrument))

    def check(self, graph):
        """Raise ``AssertionError`` (runnable code, what is wrong and where) unless the values
        and gradients match the grader's oracles: torch's answer where it ships, else the
        reference engine's (the grader's suite checks that the two agree); never imports torch.
        As the grader does, a node wrong by itself on the values it had is shown alone."""
        found = self._wrong(graph)
        if found is None:
            return
        alone = (self._wrong(g) for g in shrink.alone(graph, found[2].values).values())
        single = next((f for f in alone if f is not None), None)
        if single is None:
            raise AssertionError(f'{explain(*found)}\n{graph.code()}')
        raise AssertionError(f'{explain(*single)}\n{single[0].code()}\nwrong by itself on the '
                             f'values it had in:\n{graph.code()}')

    def _wrong(self, graph):
        """``explain``'s arguments where ``graph`` runs wrong, else ``None``."""
        with oracles.offline():
            expected = oracles.expected(graph)
        if expected is None:
            return None
        actual = self.run(graph)  # judged plain; the instrumented run only explains
        mismatch = first_mismatch(graph, actual, expected)
        if mismatch is None:
            return None
        actual.explained_by(self.run(graph, instrument=True))
        return graph, actual, expected, mismatch, actual.order
