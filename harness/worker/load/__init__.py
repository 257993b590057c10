"""Load a submission in the worker and find its classes, tolerating notebook noise.

Forms (``formats``, the table of them): a ``.py`` file (``files``), a Jupyter notebook
(``notebooks``), a folder (a package, or a folder of modules) or an installed module
(``packages``), a ``.zip`` of any of these (``archives``). Every failure is a ``LoadError``
whose message tells the learner what to fix (``errors``).
"""
import os
import sys

from .archives import unpack
from .errors import LoadError
from .files import load_file
from .formats import Kind, kind
from .fstrings import path_hook
from .loaded import Loaded, methods
from .notebooks import load_notebook
from .packages import load_folder, load_module

__all__ = ['load', 'LoadError', 'Loaded', 'methods']


def load(path=None, module=None, cell_timeout=10.0, scratch='.', budget=None, cells=None,
         answer_keys=(), beside=False, number=None):
    """Load the submission at ``path`` (or the installed ``module``).

    ``budget`` seconds bound a notebook's cells all together: past it the remaining cells are
    skipped with a warning, so slow training cells cannot cost the whole load.  ``cells``: the
    notebooks' cells as Jupyter runs them (``harness/cells.py``); ``answer_keys``: libraries
    kept out of reach, whose cells are skipped with a warning; ``beside``: run from a folder of
    ``scratch`` that shows the submission's files (the worker; ``_run_beside``); ``number``:
    called with each class a notebook's statement defines or imports from the submission, once
    the statement ran (``identity.numbering``)."""
    loaded = Loaded(budget, cells, module, answer_keys, number)
    sys.argv = [module or os.path.basename(path.rstrip('/'))]  # as `python engine.py` gives it
    if module:
        load_module(module, loaded)
        return loaded
    if not os.path.exists(path):
        raise LoadError(f'{os.path.basename(path)}: no such file or folder.')
    loaded.root = os.path.dirname(os.path.abspath(path))
    loaded.submission = os.path.abspath(path)
    hook = path_hook(loaded)
    for entry in [e for e in sys.path_importer_cache if e and loaded.own(os.path.join(e, '_'))]:
        del sys.path_importer_cache[entry]  # a finder of an earlier load in this process
    sys.path_hooks.insert(0, hook)
    try:
        _load_path(path, loaded, cell_timeout, scratch, beside)
    finally:
        sys.path_hooks.remove(hook)  # the finders it made stay, for what imports later
    return loaded


def _load_path(path, loaded, cell_timeout, scratch, beside):
    name = os.path.basename(path.rstrip('/'))
    if os.path.isdir(path):
        _run_beside(path, scratch, beside)
        return load_folder(path, loaded, cell_timeout)
    with open(path, 'rb') as f:
        head = f.read(4096)
        blank = not head.strip()
        while blank and (more := f.read(1 << 16)):  # blank lines before the code: not empty
            blank = not more.strip()
    if blank:
        raise LoadError(f'{name} is empty: submit the file that defines your Value class.')
    how = kind(path, head)
    if how is Kind.ARCHIVE:
        inner, loaded.root = unpack(path, scratch)
        loaded.submission = os.path.abspath(loaded.root)
        try:
            return _load_path(inner, loaded, cell_timeout, scratch, beside)
        except LoadError as e:
            raise LoadError(f'in {name}: {e}') from None
    _run_beside(os.path.dirname(os.path.abspath(path)), scratch, beside)
    if how is Kind.NOTEBOOK:
        return load_notebook(path, loaded, cell_timeout)
    if b'\0' in head:
        raise LoadError(f'{name} is a binary file, not Python source or a notebook.')
    return load_file(path, loaded)


def _run_beside(folder, scratch, beside):
    """Work from a folder of ``scratch`` that shows the submission's files, each a link to its
    copy: Jupyter and ``python engine.py`` run from the submission's folder, so a data file
    shipped beside it (``open('input.txt')``) is found there, and what the submission writes
    still lands in its scratch, never in its copy's folder.  Only ``beside`` (in the worker):
    elsewhere the caller's working folder stays."""
    if not beside:
        return
    work = os.path.join(scratch, 'work')
    os.makedirs(work, exist_ok=True)
    for entry in os.listdir(folder):
        try:
            os.symlink(os.path.join(folder, entry), os.path.join(work, entry))
        except OSError:  # a name already there: the first folder's entry stays
            pass
    os.chdir(work)
