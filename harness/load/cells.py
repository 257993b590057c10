"""Notebook cells as a Jupyter kernel runs them, transformed here and sent to the worker.

IPython's own input transformer turns magics, ``!shell`` lines and ``?`` help into calls to
``get_ipython()`` (which the worker provides, ``worker/load/kernel.py``) and leaves everything
else alone: comments ending in ``?`` and ``%`` inside strings are Python, as in Jupyter.  It runs
in the grader, so the worker needs no IPython.  Notebooks are found by content (a SHA-256 of the
file), so one inside a folder or a zip is matched however the worker sees its path.
"""
import functools
import hashlib
import json
import os
import zipfile

from micrograde.load import tree
from micrograde.worker.load.errors import LoadError
from micrograde.worker.load.formats import Kind, kind, named
from micrograde.worker.load.kernel import RUN_CELL
from micrograde.worker.load.notebooks import MAX_FILE, MAX_NOTEBOOKS, MAX_SENT, cells_of, check_size


def notebook_cells(path):
    """``{sha256 of a notebook: {cell number: python source}}`` for each notebook of the
    submission at ``path`` (a notebook, a folder, a zip); unreadable ones are left to the worker
    to report, as are notebooks past the limits (``worker/load/notebooks.py``): their outputs
    count only towards the generous limit on a file."""
    out, sent = {}, 0
    for data in _notebooks(path):
        try:
            cells = cells_of(data.decode('utf-8-sig'), 'notebook')
            check_size('notebook', len(data), cells)
        except (LoadError, UnicodeDecodeError, RecursionError):
            continue
        transformed = {str(n): transform(src) for n, src in cells}
        sent += len(json.dumps(transformed))
        if sent > MAX_SENT:
            break
        out[hashlib.sha256(data).hexdigest()] = transformed
    return out


@functools.lru_cache(maxsize=4096)
def transform(source):
    """One cell's source as the plain Python Jupyter would run (the source itself if IPython
    cannot make sense of it: the worker then reports its syntax error), each line where the
    learner sees it: IPython drops leading blank lines, which are kept here.  Remembered: a
    class's notebooks share most of their cells."""
    from IPython.core.inputtransformer2 import TransformerManager
    lines = source.split('\n')
    blank = next((i for i, line in enumerate(lines) if line.strip()), 0)
    if blank:
        return '\n' * blank + transform('\n'.join(lines[blank:]))
    first = lines[0].strip()
    if first.startswith('%%') and first[2:].split(' ')[0] in RUN_CELL:
        return '\n' + transform('\n'.join(lines[1:]))  # the body, on its own lines
    try:
        return TransformerManager().transform_cell(source)
    except Exception:
        return source


def _notebooks(path):
    """The bytes of each notebook of the submission at ``path``, its files found as every path
    touches them (``tree.walk``: never through a link, never a fifo or device) and told apart by
    the formats' table: at most ``MAX_NOTEBOOKS`` of at most ``MAX_FILE`` bytes each."""
    if path is None:
        return
    try:
        entries = tree.walk(path)
    except LoadError:
        return  # what no submission may hold: the worker's copy refuses it and says why
    files = [e for e in entries if e.kind is tree.Kind.FILE and e.st.st_size <= MAX_FILE]
    if entries[0].kind is tree.Kind.FOLDER:
        # a folder's own notebooks before its subfolders' (as the worker looks); none hidden
        found = sorted((e for e in files if _notebook(e.rel) and not any(
            part.startswith('.') for part in e.rel.split(os.sep)[:-1])),
            key=lambda e: (os.path.dirname(e.rel).split(os.sep), os.path.basename(e.rel)))
        for entry in found[:MAX_NOTEBOOKS]:
            yield _read(os.path.join(path, entry.rel), entry)
    elif files:
        how = kind(path, _read(path, files[0], 4096))
        if how is Kind.ARCHIVE:
            yield from _zipped(path)
        elif how is Kind.NOTEBOOK:
            yield _read(path, files[0])


def _zipped(path):
    try:
        with zipfile.ZipFile(path) as z:
            infos = [i for i in z.infolist() if _notebook(i.filename)
                     and '.ipynb_checkpoints' not in i.filename and i.file_size <= MAX_FILE]
            for info in infos[:MAX_NOTEBOOKS]:
                yield z.read(info)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        pass


def _notebook(name):
    return getattr(named(name), 'kind', None) is Kind.NOTEBOOK


def _read(path, entry, limit=MAX_FILE):
    """The bytes of a file of the walk, ``b''`` (not a notebook) if it cannot be read."""
    try:
        return tree.read(path, entry, limit)
    except LoadError:
        return b''
