"""Jupyter notebooks, run cell by cell as the learner ran them.

``cells_of`` reads a notebook's code cells; the grader transforms them with IPython's own input
transformer (``harness/cells.py``) and sends them in its hello, matched by the notebook's
SHA-256; ``load_notebook`` runs them in a ``Kernel``.
"""
import hashlib
import json
import os
import time

from .errors import LoadError
from .files import source as read_source
from .kernel import Kernel


def load_notebook(path, loaded, cell_timeout):
    name = os.path.basename(path)
    with open(path, 'rb') as f:
        transformed = loaded.cells.get(hashlib.sha256(f.read()).hexdigest())
    cells = cells_of(read_source(path), name)
    if transformed is None and cells:
        loaded.warnings.append(f'{name}: cells run as written (IPython syntax such as %magics '
                               f'is not understood).')
    kernel = Kernel(loaded)
    for number, source in cells:
        limit = cell_timeout
        if loaded.deadline is not None:
            limit = min(limit, loaded.deadline - time.monotonic())
            if limit <= 0:
                loaded.warnings.append(f'cells from {number} on were not run: the notebook used '
                                       f'its whole load time.')
                break
        kernel.run(number, (transformed or {}).get(str(number), source), limit)
    loaded.namespaces.append((name, kernel.ns))


def cells_of(text, name):
    """``[(cell number, source)]`` of a notebook's code cells, numbered among all its cells."""
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as e:
        raise LoadError(f'{name} is not a valid notebook: it is not JSON ({e.msg} at line '
                        f'{e.lineno}, column {e.colno}). Re-download it from Jupyter.') from None
    if not isinstance(nb, dict) or not isinstance(nb.get('cells'), list):
        raise LoadError(f'{name} is not a Jupyter notebook (no list of cells).')
    if nb.get('nbformat') != 4:
        raise LoadError(f'{name} is notebook format {nb.get("nbformat")!r}; only format 4 is '
                        f'supported. Open and save it in a current Jupyter.')
    cells = []
    for number, cell in enumerate(nb['cells'], 1):
        if not isinstance(cell, dict) or cell.get('cell_type') != 'code':
            continue
        source = cell.get('source', '')
        cells.append((number, ''.join(map(str, source)) if isinstance(source, list) else str(source)))
    return cells
