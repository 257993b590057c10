"""Jupyter notebooks, run cell by cell as the learner ran them.

``cells_of`` reads a notebook's code cells (format 4, or format 3 as Jupyter upgrades it); the
grader transforms them with IPython's own input transformer (``harness/cells.py``) and sends them
in its hello, matched by the notebook's SHA-256; ``load_notebook`` runs them in a ``Kernel``.
The limits below are shared by both sides, so the worker can say why cells were not transformed.
"""
import hashlib
import json
import os
import re
import sys
import time

from .errors import LoadError
from .files import source as read_source
from .kernel import Kernel

#: Bytes of a notebook file, outputs included: inline plots and training logs make real
#: notebooks large, so this only keeps hostile files out.
MAX_FILE = 100 * 2**20
#: Characters of code in one notebook's cells, all together: what the grader transforms.
MAX_SOURCE = 4 * 2**20
#: Notebooks of a submission the grader transforms, and bytes of their cells it sends in all.
MAX_NOTEBOOKS = 20
MAX_SENT = 32 * 2**20
#: JSON values a notebook may hold (its commas, lists and objects, counted before it is decoded):
#: decoding builds an object per value, ~60 bytes each, so 100 MiB of `[],` would take ~2.5 GB
#: of the grader's memory; a real notebook holds ~2 % of its bytes in them (images are strings).
MAX_VALUES = 4_000_000


def load_notebook(path, loaded, cell_timeout):
    name = os.path.basename(path)
    check_size(name, os.path.getsize(path))
    with open(path, 'rb') as f:
        transformed = loaded.cells.get(hashlib.sha256(f.read()).hexdigest())
    nb = _parsed(read_source(path), name)
    cells = _code_cells(nb)
    check_size(name, 0, cells)
    if transformed is None and cells:
        loaded.warnings.append(
            f'{name}: cells run as written (IPython syntax such as %magics is not understood): '
            f'the grader transforms at most {MAX_NOTEBOOKS} notebooks, with {MAX_SENT >> 20} MiB '
            f'of code in all, of a submission.')
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))  # as Jupyter: the notebook's folder
    kernel = Kernel(loaded)
    kernel.saved = saved_by(nb)
    for number, source in cells:
        latest = loaded.latest()
        if latest is not None and latest <= time.monotonic():
            loaded.warnings.append(f'cells from {number} on were not run: the notebook used '
                                   f'its whole load time.')
            break
        kernel.run(number, (transformed or {}).get(str(number), source), cell_timeout)
    kernel.redefined()
    loaded.namespaces.append((name, kernel.ns))


def check_size(name, size, cells=()):
    """A ``LoadError`` for a notebook past what the grader reads (``size`` bytes of file, the
    source of ``cells``): hostile input, which is refused rather than run untransformed."""
    if size > MAX_FILE:
        raise LoadError(f'{name} is {size / 2**20:.0f} MiB, over the {MAX_FILE >> 20} MiB a '
                        f'notebook may be: clear its outputs in Jupyter and save it again.')
    code = sum(len(source) for _, source in cells)
    if code > MAX_SOURCE:
        raise LoadError(f'{name} holds {code / 2**20:.1f} MiB of code in its cells, over the '
                        f'{MAX_SOURCE >> 20} MiB the grader reads.')


def cells_of(text, name):
    """``[(cell number, source)]`` of a notebook's code cells, numbered among all its cells."""
    return _code_cells(_parsed(text, name))


def saved_by(nb):
    """The Python version the notebook's kernel ran (``metadata.language_info.version``), or
    ``None``."""
    info = nb.get('metadata')
    info = info.get('language_info') if isinstance(info, dict) else None
    version = info.get('version') if isinstance(info, dict) else None
    found = re.match(r'\d{1,3}\.\d{1,3}(\.\d{1,3})?', version) if isinstance(version, str) else None
    return found and found.group()


def _parsed(text, name):
    """The notebook as JSON, checked to hold cells in a format this reads."""
    values = text.count(',') + text.count('[') + text.count('{')
    if values > MAX_VALUES:
        raise LoadError(f'{name} holds {values:,} JSON values, more than a notebook graded may '
                        f'({MAX_VALUES:,}): clear its outputs (Edit > Clear Outputs of All Cells) '
                        f'and save it again.')
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as e:
        raise LoadError(f'{name} is not a valid notebook: it is not JSON ({e.msg} at line '
                        f'{e.lineno}, column {e.colno}). Re-download it from Jupyter.') from None
    except RecursionError:  # arrays or objects nested deeper than Python's recursion limit
        raise LoadError(f'{name} is not a valid notebook: its JSON nests lists or objects '
                        f'deeper than a notebook does. Re-download it from Jupyter.') from None
    except ValueError:  # an integer past Python's 4300 digits: no JSONDecodeError
        raise LoadError(f'{name} is not a valid notebook: it holds an integer of more than 4300 '
                        f'digits, which no notebook does. Re-download it from Jupyter.') from None
    if not isinstance(nb, dict) or not {'cells', 'worksheets'} & nb.keys():
        raise LoadError(f'{name} is not a Jupyter notebook (no list of cells).')
    if nb.get('nbformat') not in (3, 4):
        raise LoadError(f'{name} is notebook format {nb.get("nbformat")!r}; only formats 3 and 4 '
                        f'are supported. Open and save it in a current Jupyter.')
    if not isinstance(_cells(nb)[0], list):
        raise LoadError(f'{name} is not a Jupyter notebook (no list of cells).')
    return nb


def _code_cells(nb):
    found, key = _cells(nb)
    cells = []
    for number, cell in enumerate(found, 1):
        if not isinstance(cell, dict) or cell.get('cell_type') != 'code':
            continue
        source = cell.get(key, '')
        cells.append((number, ''.join(map(str, source)) if isinstance(source, list) else str(source)))
    return cells


def _cells(nb):
    """A notebook's cells and the key of a code cell's source: format 3 keeps them in
    worksheets, which Jupyter runs one after another, and the source in ``input``."""
    if nb['nbformat'] == 3 and isinstance(nb.get('worksheets'), list):
        sheets = [sheet.get('cells') for sheet in nb['worksheets'] if isinstance(sheet, dict)]
        return [cell for sheet in sheets if isinstance(sheet, list) for cell in sheet], 'input'
    return nb.get('cells'), 'source'
