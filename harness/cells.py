"""Notebook cells as a Jupyter kernel runs them, transformed here and sent to the worker.

IPython's own input transformer turns magics, ``!shell`` lines and ``?`` help into calls to
``get_ipython()`` (which the worker provides, ``worker/load/kernel.py``) and leaves everything
else alone: comments ending in ``?`` and ``%`` inside strings are Python, as in Jupyter.  It runs
in the grader, so the worker needs no IPython.  Notebooks are found by content (a SHA-256 of the
file), so one inside a folder or a zip is matched however the worker sees its path.
"""
import functools
import hashlib
import os
import zipfile

from .worker.load.errors import LoadError
from .worker.load.kernel import RUN_CELL
from .worker.load.notebooks import cells_of

MAX_NOTEBOOK = 20 * 2**20
MAX_NOTEBOOKS = 20


def notebook_cells(path):
    """``{sha256 of a notebook: {cell number: python source}}`` for each notebook of the
    submission at ``path`` (a notebook, a folder, a zip); unreadable ones are left to the worker
    to report."""
    out = {}
    for data in _notebooks(path):
        try:
            cells = cells_of(data.decode('utf-8-sig'), 'notebook')
        except (LoadError, UnicodeDecodeError, RecursionError):
            continue
        out[hashlib.sha256(data).hexdigest()] = {str(n): transform(src) for n, src in cells}
    return out


@functools.lru_cache(maxsize=4096)
def transform(source):
    """One cell's source as the plain Python Jupyter would run (the source itself if IPython
    cannot make sense of it: the worker then reports its syntax error).  Remembered: a class's
    notebooks share most of their cells."""
    from IPython.core.inputtransformer2 import TransformerManager
    lines = source.split('\n')
    first = lines[0].strip()
    if first.startswith('%%') and first[2:].split(' ')[0] in RUN_CELL:
        return '\n' + transform('\n'.join(lines[1:]))  # the body, on its own lines
    try:
        return TransformerManager().transform_cell(source)
    except Exception:
        return source


def _notebooks(path):
    """The bytes of each notebook at ``path``: at most ``MAX_NOTEBOOKS`` of at most
    ``MAX_NOTEBOOK`` bytes each, and no file a symbolic link leads to (a submission must not get
    the grader to read its files for it)."""
    if path is None:
        return
    if os.path.isdir(path):
        found = []
        for folder, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
            found += [os.path.join(folder, f) for f in sorted(files) if f.endswith('.ipynb')]
        for f in found[:MAX_NOTEBOOKS]:
            yield from _read(f)
        return
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                infos = [i for i in z.infolist() if i.filename.endswith('.ipynb')
                         and '.ipynb_checkpoints' not in i.filename and i.file_size <= MAX_NOTEBOOK]
                for info in infos[:MAX_NOTEBOOKS]:
                    yield z.read(info)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError):
            pass
        return
    yield from _read(path)


def _read(path):
    try:
        if not os.path.islink(path) and os.path.getsize(path) <= MAX_NOTEBOOK:
            with open(path, 'rb') as f:
                data = f.read(MAX_NOTEBOOK + 1)
            if data.lstrip().startswith(b'{'):
                yield data
    except OSError:
        pass
