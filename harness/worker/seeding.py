"""The generators a submission draws from, seeded from the grade's seed before it loads and
before every item: Python's ``random`` and numpy's global generator (a learner's
``np.random.uniform`` weights, the training loss a notebook prints as it loads).

numpy is seeded where it is imported already (a warm template preloads it), else as soon as
the submission imports it (``on_import``): importing it only to seed it would cost every worker
that never uses it ~80 ms.  Both paths leave its generator in the same state before the
submission's first draw, so ``grade`` and ``batch`` print and grade alike.
"""
import random
import sys
from importlib.machinery import PathFinder

NUMPY = 'numpy.random'
#: numpy takes a seed in 0 .. 2**32 - 1; a course secret's seed may be larger.
NUMPY_SEEDS = 2**32


def seed(value, _seed_random=random.seed, _modules=sys.modules):
    """Seed ``random`` and, if imported, numpy's global generator.  What it calls is bound as
    it is defined, as the serve loop binds what it calls: rebinding ``random.seed`` or
    ``sys.modules`` later changes nothing here."""
    _seed_random(value)
    module = _modules.get(NUMPY)
    if module is not None:
        _seed_numpy(module, value)


def _seed_numpy(module, value):
    try:
        module.seed(value % NUMPY_SEEDS)
    except Exception:  # a numpy without the legacy generator, or one the submission replaced
        pass


class OnImport:
    """A ``sys.meta_path`` finder that seeds numpy's generator as ``numpy.random`` is first
    imported, once its module has run, before the importer's next line; then it is gone."""

    def __init__(self, value):
        self.value = value

    def find_spec(self, name, path, target=None):
        if name != NUMPY:
            return None
        sys.meta_path[:] = [f for f in sys.meta_path if f is not self]  # by identity: no __eq__
        spec = PathFinder.find_spec(name, path, target)
        if spec is None or spec.loader is None or not hasattr(spec.loader, 'exec_module'):
            return spec
        run, value = spec.loader.exec_module, self.value

        def exec_module(module):
            run(module)
            _seed_numpy(module, value)
        spec.loader.exec_module = exec_module
        return spec


def on_import(value):
    """Seed numpy when the submission imports it, if it is not imported yet."""
    if NUMPY not in sys.modules:
        sys.meta_path.insert(0, OnImport(value))
