"""Notebook cells as a Jupyter kernel runs them, transformed here and sent to the worker.

IPython's own input transformer turns magics, ``!shell`` lines and ``?`` help into calls to
``get_ipython()`` (which the worker provides, ``worker/load/kernel.py``) and leaves everything
else alone: comments ending in ``?`` and ``%`` inside strings are Python, as in Jupyter.  It runs
in the grader, so the worker needs no IPython.  Notebooks are found by content (a SHA-256 of the
file), so one inside a folder or a zip is matched however the worker sees its path.

All of it is the submission's, read by the grader itself: every notebook is read with a cap, a
zip's only once its declared sizes are within what the worker would unpack, and IPython's work
is bounded (``WORK``): it tokenizes a whole cell again for each piece of IPython syntax it
rewrites, so a cell costs its size times its escapes.
"""
import functools
import hashlib
import json
import os
import posixpath
import re
from typing import NamedTuple

from micrograde.load import tree
from micrograde.worker.load.archives import opened, unpacked
from micrograde.worker.load.errors import LoadError
from micrograde.worker.load.formats import Kind, kind, named
from micrograde.worker.load.kernel import RUN_CELL
from micrograde.worker.load.notebooks import MAX_FILE, MAX_NOTEBOOKS, MAX_SENT, cells_of, check_size

#: Characters IPython may tokenize for one cell, and for all the cells of a submission: a few
#: seconds at most (a real cell of 20 KB with three magics costs 80 KB).
CELL_WORK, WORK = 2**19, 2**21
#: Characters of the largest cell remembered once transformed (1024 of them at most).
REMEMBERED = 2**15
#: What IPython's token transforms look for (``IPython.core.inputtransformer2``): an escape
#: (``!ls``, ``%time``, ``x?``, ``a = !ls``) or an autocall (``/f x``, ``,f a``, ``;f a``) at a
#: line's start.  A cell with none of these is not tokenized at all.
_ESCAPE = re.compile(r'[!%?]|^[ \t\f]*[,;/]', re.M)


class Transformed(NamedTuple):
    python: str | None  # None: IPython would have to tokenize more than ``CELL_WORK``
    work: int           # characters IPython tokenized


def notebook_cells(path):
    """``{sha256 of a notebook: {cell number: python source}}`` for each notebook of the
    submission at ``path`` (a notebook, a folder, a zip); unreadable ones are left to the worker
    to report, as are notebooks past the limits (``worker/load/notebooks.py``): their outputs
    count only towards the generous limit on a file.  Raises ``LoadError``, naming the cell, for
    a cell IPython cannot transform within ``CELL_WORK``, or past ``WORK`` in all."""
    out, sent, work = {}, 0, 0
    for name, data in _notebooks(path):
        try:
            cells = cells_of(data.decode('utf-8-sig'), 'notebook')
            check_size('notebook', len(data), cells)
        except (LoadError, UnicodeDecodeError, RecursionError):
            continue
        transformed = {}
        for number, source in cells:
            cell = transform(source)
            work += cell.work
            if cell.python is None or work > WORK:
                raise LoadError(_too_costly(name, number, source, cell.python is None))
            transformed[str(number)] = cell.python
        sent += len(json.dumps(transformed))
        if sent > MAX_SENT:
            break
        out[hashlib.sha256(data).hexdigest()] = transformed
    return out


def _too_costly(name, number, source, alone):
    much = (f'its {len(source):,} characters are more than the grader transforms' if alone else
            "with the notebooks' cells before it, more than the grader transforms for a submission")
    return (f'{tree.shown(name)}, cell {number}: IPython reads a cell again for each line of '
            f'IPython syntax in it (!, %, ?), and for this cell, {much}. Split it into smaller '
            f'cells, or write those lines as plain Python.')


def transform(source):
    """One cell's source as the plain Python Jupyter would run (the source itself if IPython
    cannot make sense of it: the worker then reports its syntax error), each line where the
    learner sees it: IPython drops leading blank lines, which are kept here.  Remembered (with
    the work it took) unless large: a class's notebooks share most of their cells, and what a
    long-lived grader keeps stays small."""
    return _remembered(source) if len(source) <= REMEMBERED else _transform(source)


@functools.lru_cache(maxsize=1024)
def _remembered(source):
    return _transform(source)


def _transform(source):
    lines = source.split('\n')
    blank = next((i for i, line in enumerate(lines) if line.strip()), 0)
    if blank:
        return _after('\n' * blank, transform('\n'.join(lines[blank:])))
    first = lines[0].strip()
    if first.startswith('%%') and first[2:].split(' ')[0] in RUN_CELL:
        return _after('\n', transform('\n'.join(lines[1:])))  # the body, on its own lines
    ipython = _bounded()()
    try:
        return Transformed(ipython.transform_cell(source), ipython.work)
    except _Overrun:
        return Transformed(None, ipython.work)
    except Exception:
        return Transformed(source, ipython.work)


def _after(lines, cell):
    return cell._replace(python=lines + cell.python) if cell.python is not None else cell


class _Overrun(Exception):
    """IPython would tokenize more of a cell than ``CELL_WORK``."""


@functools.cache
def _bounded():
    """IPython's transformer, bounded (made when first needed: only notebooks import IPython)."""
    from IPython.core.inputtransformer2 import TransformerManager

    class Bounded(TransformerManager):
        """IPython's transformer, which tokenizes a cell only if it holds an escape, and stops
        before it would tokenize more than ``CELL_WORK`` characters in all."""

        def __init__(self):
            super().__init__()
            self.work = 0

        def do_token_transforms(self, lines):
            return super().do_token_transforms(lines) if _ESCAPE.search(''.join(lines)) else lines

        def do_one_token_transform(self, lines):
            size = sum(map(len, lines))
            if self.work + size > CELL_WORK:
                raise _Overrun
            self.work += size
            return super().do_one_token_transform(lines)

    return Bounded


def _notebooks(path):
    """``(name, bytes)`` of each notebook of the submission at ``path``, its files found as
    every path touches them (``tree.walk``: never through a link, never a fifo or device) and
    told apart by the formats' table: at most ``MAX_NOTEBOOKS`` of at most ``MAX_FILE`` bytes
    each."""
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
            yield os.path.basename(entry.rel), _read(os.path.join(path, entry.rel), entry)
    elif files:
        how = kind(path, _read(path, files[0], 4096))
        if how is Kind.ARCHIVE:
            yield from _zipped(path)
        elif how is Kind.NOTEBOOK:
            yield os.path.basename(path), _read(path, files[0])


def _zipped(path):
    """The notebooks of the zip at ``path``, none if the worker would not unpack it (its
    declared sizes, checked before anything is inflated), each read up to its declared size:
    a header that understates one ends the reading."""
    try:
        with opened(path, os.path.basename(path)) as z:
            infos = [i for i in unpacked(z, os.path.basename(path)) if _notebook(i.filename)
                     and '.ipynb_checkpoints' not in i.filename and i.file_size <= MAX_FILE]
            for info in infos[:MAX_NOTEBOOKS]:
                with z.open(info) as f:
                    data = f.read(info.file_size + 1)
                if len(data) != info.file_size:
                    return
                yield posixpath.basename(info.filename), data
    except Exception:  # anything a hostile archive raises (as archives.extract): the worker's
        return         # unpacking refuses it and says why


def _notebook(name):
    return getattr(named(name), 'kind', None) is Kind.NOTEBOOK


def _read(path, entry, limit=MAX_FILE):
    """The bytes of a file of the walk, ``b''`` (not a notebook) if it cannot be read."""
    try:
        return tree.read(path, entry, limit)
    except LoadError:
        return b''
