"""The numbered identity hash (worker/identity.py): a set of the learner's Values iterates in an
order set by the numbering, not by memory addresses, whatever the class keeps its attributes in;
the order changes with the order seed on purpose."""
import pytest

from micrograde.worker import identity


class Plain:
    def __init__(self, data):
        self.data = data


class Slotted:
    __slots__ = ('data',)

    def __init__(self, data):
        self.data = data


class Watched(Plain):
    """A class that reads its own attributes (the hash cannot go through a C property)."""

    def __getattribute__(self, name):
        return object.__getattribute__(self, name)


def _set_order(cls, padding, order=0):
    """The order a set of six new instances iterates in, after ``padding`` other instances
    took addresses first (as a forked worker's heap differs from a fresh one's)."""
    identity.reset(0, order)
    taken = [cls(-1) for _ in range(padding)]
    values = [cls(k) for k in range(6)]
    hashes = [hash(v) for v in values]
    assert hashes == [hash(v) for v in values]  # stable
    del taken
    return [v.data for v in set(values)]


@pytest.mark.parametrize('cls', [Plain, Slotted, Watched])
def test_a_sets_order_follows_the_numbering_not_the_addresses(cls):
    with identity.numbered(cls):
        orders = {tuple(_set_order(cls, padding)) for padding in (0, 1, 3, 7, 13, 29)}
        assert len(orders) == 1
        assert len({tuple(_set_order(cls, 0, order)) for order in range(8)}) > 1


@pytest.mark.parametrize('cls', [Plain, Slotted, Watched])
def test_numbered_leaves_the_class_hashing_as_before(cls):
    with identity.numbered(cls):
        hash(cls(1))
    assert cls.__hash__ is object.__hash__
    assert identity.KEY not in vars(cls)


NOTEBOOK = {'cells': [{'cell_type': 'code', 'metadata': {}, 'execution_count': None, 'outputs': [],
                       'source': source} for source in (
    'class Node:\n    def __init__(self, label):\n        self.label = label\n',
    'nodes = {Node(k) for k in range(8)}\nprint([n.label for n in nodes])\n',
    'from dataclasses import dataclass\n@dataclass\nclass Point:\n    x: int = 0\n')],
            'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}


def test_what_a_notebook_prints_as_it_loads_follows_the_numbering(tmp_path):
    """A training run's loss, summed in a set's order, printed at load: the same whatever
    addresses the worker's heap gives (a fresh worker, one forked from the template)."""
    import contextlib
    import io
    import json
    from micrograde.load.cells import notebook_cells
    from micrograde.worker.load import load
    path = tmp_path / 'nb.ipynb'
    path.write_text(json.dumps(NOTEBOOK))
    printed = set()
    for padding in (0, 1, 3, 7, 13, 29):
        taken = [Plain(-1) for _ in range(padding)]  # the addresses the notebook's Nodes get
        identity.reset(0)
        out = io.StringIO()
        with identity.numbering() as number, contextlib.redirect_stdout(out):
            loaded = load(str(path), cells=notebook_cells(str(path)), scratch=str(tmp_path),
                          number=number)
        printed.add(out.getvalue())
        node = loaded.namespaces[0][1]['Node']
        assert node.__hash__ is object.__hash__ and identity.KEY not in vars(node)
        assert loaded.namespaces[0][1]['Point'].__hash__ is None  # @dataclass(eq=True): unhashable
        del taken
    assert len(printed) == 1, printed
