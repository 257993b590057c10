"""The numbered identity hash (worker/identity.py): a set of the learner's Values iterates in an
order set by the numbering, not by memory addresses, whatever the class keeps its attributes in;
the order changes with the order seed on purpose."""
import json
import re

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


# --- id() and object.__repr__: addresses too ---------------------------------------------------

def _ids(cls, padding, order=0):
    """The numbered ids of six new instances, after ``padding`` others took addresses first."""
    identity.reset(0, order)
    ns = {}
    identity.give_id([ns])
    taken = [cls(-1) for _ in range(padding)]
    values = [cls(k) for k in range(6)]
    ids = [ns['id'](v) for v in values]
    assert ids == [ns['id'](v) for v in values]  # stable
    del taken
    return ids, values, ns['id']


@pytest.mark.parametrize('cls', [Plain, Slotted, Watched])
def test_the_submissions_id_follows_the_numbering_not_the_addresses(cls):
    """``id()`` as the learner's code finds it: the same whatever addresses the heap gives, each
    alive object's its own (a copy's too), another order under another order seed, and what
    ``object.__repr__`` would print as the address."""
    import copy
    with identity.numbered(cls):
        orders = {tuple(sorted(range(6), key=_ids(cls, padding)[0].__getitem__))
                  for padding in (0, 1, 3, 7, 13, 29)}
        assert len(orders) == 1
        assert len({tuple(sorted(range(6), key=_ids(cls, 0, order)[0].__getitem__))
                    for order in range(8)}) > 1
        ids, values, numbered_id = _ids(cls, 0)
        assert len(set(ids)) == 6 and all(i > 0 for i in ids)
        twin = copy.copy(values[0])
        assert numbered_id(twin) not in ids and numbered_id(values[0]) == ids[0]
        assert repr(values[1]) == f'<{__name__}.{cls.__qualname__} object at {ids[1]:#x}>'
        assert str(values[1]) == repr(values[1])
        kept = [1.5, (), 'x', Plain]  # objects that keep no number of their own
        assert [numbered_id(x) for x in kept] == [numbered_id(x) for x in kept]
        assert len({numbered_id(x) for x in kept} | set(ids)) == 10
        identity.reset(0)  # the next graph: an instance alive keeps its id
        assert numbered_id(values[2]) == ids[2] and numbered_id(cls(0)) not in ids
    assert cls.__repr__ is object.__repr__ and '__repr__' not in vars(cls)


@pytest.mark.parametrize('order', [0, 1])
def test_an_object_alive_from_an_earlier_graph_keeps_its_hash_and_id(order):
    """A network's parameter made at load (here of a class with slots, whose numbers are kept
    beside it): a set of them built then still finds it, an optimizer's state keyed by its
    ``id()`` still holds it, whatever graph comes next; what only the tables held is let go
    once a table is read (when it has doubled since it was last read: here past 64 entries)."""
    with identity.numbered(Slotted):
        identity.reset(0)
        ns = {}
        identity.give_id([ns])
        kept = [Slotted(k) for k in range(3)]
        members, state = set(kept), {ns['id'](p): p.data for p in kept}
        for k in range(100):
            ns['id'](Slotted(k)), hash(Slotted(k))
        identity.reset(0, order)
        assert all(p in members for p in kept) and [state[ns['id'](p)] for p in kept] == [0, 1, 2]
        assert len(identity._state[1]) == len(identity._ids[4]) == 3


def test_id_is_given_only_where_the_submission_does_not_bind_it():
    mine = {'id': len}
    given = identity.give_id([mine, {}, {'__name__': 'x'}])
    assert mine['id'] is len and len(given) == 2
    assert all(ns['id'] is identity.numbered_id for ns in given)


def test_numbered_gives_the_classes_namespace_id_for_a_while_only():
    """The notebook self-check numbers the learner's class in their kernel: their ``id`` is
    Python's again afterwards."""
    ns = {}
    exec('class Node:\n    def key(self):\n        return id(self)\n', ns)
    with identity.numbered(ns['Node']):
        assert ns['id'] is identity.numbered_id
        node = ns['Node']()
        assert node.key() == identity.numbered_id(node)
    assert 'id' not in ns


#: The lecture engine's ways of ordering or naming by address (tests/test_batch.py has BY_ID).
BFS = '''    def backward(self):
        self.grad = 1.0
        queue, seen = [self], {id(self)}
        while queue:
            v = queue.pop(0)
            v._backward()
            for c in ORDER:
                if id(c) not in seen:
                    seen.add(id(c))
                    queue.append(c)


'''
REPR = '''    def __repr__(self):
        return f"Value(data={self.data})"
'''
LOG = "        out = Value(math.log(self.data), (self,), 'log')"
RAISE = '        raise ValueError(f"no log for {self!r} yet")'


def _by_address():
    """``{name: source}``: engines whose grade depended on memory addresses."""
    from conftest import SUBMISSIONS
    source = (SUBMISSIONS / 'lecture_engine.py').read_text()
    walk = source[source.index('    def backward(self):'):source.index('import random')]
    return {
        # children sorted by their default repr: `<by_repr.Value object at 0x7f...>`
        'by_repr': source.replace(REPR, '').replace(
            walk, BFS.replace('ORDER', 'sorted(v._prev, key=repr)')),
        'by_str': source.replace(REPR, '').replace(
            walk, BFS.replace('ORDER', 'sorted(v._prev, key=lambda c: f"{c}")')),
        # an error's message quoting the default repr, or a label made of id()
        'repr_in_message': source.replace(REPR, '').replace(LOG, RAISE),
        'id_in_message': source.replace('self.label = label', 'self.label = label or hex(id(self))')
        .replace(REPR, '    def __repr__(self):\n        return f"Value({self.label})"\n')
        .replace(LOG, RAISE),
        # a __del__ that counts (a collection runs it): what backward() prints of the count
        'del_count': 'FREED = [0]\n' + source.replace(
            '    def __repr__(self):', '    def __del__(self):\n        FREED[0] += 1\n\n'
                                      '    def __repr__(self):').replace(
            '        self.grad = 1.0\n', '        self.grad = 1.0\n        print("freed", FREED[0])\n'),
        # Python's own objects' addresses (a closure), and a network's part of default repr
        'closure_in_message': source.replace(LOG, RAISE.replace('{self!r}', '{self._backward}')),
        'layer_in_message': source.replace(
            '            x = layer(x)\n',
            '            try:\n                x = layer(x)\n            except TypeError as e:\n'
            '                raise TypeError(f"{layer} took {x}: {e}") from None\n'),
    }


def _one_grade(path):
    from conftest import one_grade
    report = one_grade(json.loads(path.read_text()))
    report.pop('submission')
    return report


def test_an_engine_ordering_or_naming_by_address_gets_one_report_from_grade_and_batch(
        run_cli, tmp_path):
    """Before the numbered id() and repr, each of these got another report from ``batch`` (a
    worker forked from the warm template) than from ``grade`` (a fresh one): 18 of 200 random
    graphs wrong against 16, ``backward.accumulate`` failed against passed, or the address
    in ``ops.log``'s message; and before the collector was reset once the load is done
    (``serve._collections``), another count of freed Values printed in 20 checks' output."""
    from micrograde.isolate import sandbox
    if not sandbox.templates_available():
        pytest.skip('warm templates need bubblewrap as root')
    folder = tmp_path / 'class'
    folder.mkdir()
    for name, source in _by_address().items():
        (folder / f'{name}.py').write_text(source)
    for name in _by_address():
        run_cli('grade', folder / f'{name}.py', '--out', tmp_path / name, '--no-color')
    assert run_cli('batch', folder, '--out', tmp_path / 'out', '-j', '2').returncode == 0
    for name in _by_address():
        alone = _one_grade(tmp_path / name / 'report.json')
        assert alone == _one_grade(tmp_path / 'out' / f'{name}.py' / 'report.json'), name
        said = [c['message'] for c in alone['checks']]
        assert not [m for m in said if re.search(r' at 0x[0-9a-f]{4}', m)], name
        assert name.startswith(('by_', 'del_')) or [m for m in said if 'no log for' in m or
                                                     ' took ' in m]


@pytest.mark.service
def test_an_engine_ordering_or_naming_by_address_gets_one_report_from_the_service(
        graded_by_a_worker, run_cli, tmp_path):
    served = graded_by_a_worker
    for name, source in _by_address().items():
        served.submit(name, source.encode())
    jobs = served.grade()
    assert all(job['status'] == 'done' for job in jobs.values()), jobs
    for name, source in _by_address().items():
        path = tmp_path / f'{name}.py'
        path.write_text(source)
        run_cli('grade', path, '--out', tmp_path / name, '--no-color', '--profile', 'quick')
        alone = _one_grade(tmp_path / name / 'report.json')  # the service's profile
        served_report = served.get(name).json()
        served_report.pop('submission')
        from conftest import one_grade
        assert one_grade(served_report) == alone, name


def test_the_load_numbers_no_repr_of_its_own():
    """While loading, the loader lists the methods each cell's class defines: a ``__repr__`` of
    the numbering's hid one a notebook's later class lost ("defines Value again, without
    __repr__", submissions/examples.toml); the serve loop gives it once the load is done."""
    class Node:
        pass
    with identity.numbering() as number:
        number(Node)
        assert '__repr__' not in vars(Node)
    identity.install(Node)
    assert vars(Node)['__repr__'] is identity._numbered_repr


def test_a_table_of_values_in_cycles_is_read_once_it_has_doubled(monkeypatch):
    """An op's result and its rule's closure hold each other, so a table keeps every such slots
    Value of a grade, and reading it at every graph (to let go what it alone holds) cost a scan
    of all of them per graph: alt_engine's worker spent as long there as in its graphs. A table
    is read once it has doubled since it was last read: a few reads over 300 graphs."""
    reads, read = [], identity._survivors

    def counted(kept, *how):
        found = read(kept, *how)
        reads.append(found is not kept)
        return found
    monkeypatch.setattr(identity, '_survivors', counted)
    with identity.numbered(Slotted):
        ns = {}
        identity.give_id([ns])
        for k in range(300):
            identity.reset(0)
            v = Slotted(k)
            v.data = v  # a cycle, as out and its _backward closure are
            ns['id'](v)
    assert 0 < sum(reads) <= 12, sum(reads)
