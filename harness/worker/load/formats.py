"""The formats a submission may have: one table, read by the loader (``load.load``), by
``micrograde batch`` and the service (which files are submissions) and by the Gradescope script
(``examples/gradescope/run_autograder``: which upload to grade).

Standard library only, importing nothing of micrograde, Python 3.10 and later: the worker
imports it in the sandbox, and the Gradescope script, on the image's own Python, loads this
file by path. A new format is a row of ``FORMATS``; a new kind of format, a ``Kind`` here and
its loader in ``load/__init__.py``.
"""
import enum
import os
import zipfile
from typing import NamedTuple


class Kind(enum.Enum):
    """How the worker loads a submission."""
    NOTEBOOK = 'notebook'  # its cells, as Jupyter runs them (notebooks.py)
    MODULE = 'module'      # a Python source file (files.py)
    ARCHIVE = 'archive'    # unpacked, then loaded as what it holds (archives.py)
    FOLDER = 'folder'      # a package, or a folder of modules and packages (packages.py)


class Format(NamedTuple):
    suffix: str  # of the file's name, lower case
    kind: Kind
    name: str    # as a learner is told


#: The files a submission may be, in the order one upload is preferred when several could be it.
FORMATS = (
    Format('.ipynb', Kind.NOTEBOOK, 'notebook'),
    Format('.py', Kind.MODULE, '.py file'),
    Format('.zip', Kind.ARCHIVE, '.zip'),
)


def suffixes():
    """The suffixes of the files a submission may be, in the order of preference."""
    return tuple(f.suffix for f in FORMATS)


def named(name):
    """The format a file's name says (``None`` for a name no format has)."""
    return next((f for f in FORMATS if name.lower().endswith(f.suffix)), None)


def holds(name):
    """Whether a file of this name inside an archive or folder is something to grade."""
    found = named(name)
    return found is not None and found.kind in (Kind.NOTEBOOK, Kind.MODULE)


def kind(path, head):
    """How to load ``path``, whose first bytes are ``head``: a folder as one; a zip by its name
    or its content; a notebook by its name or its JSON; else as its name's format says, Python
    source when no format names it."""
    if os.path.isdir(path):
        return Kind.FOLDER
    found = named(os.path.basename(path))
    said = found.kind if found else Kind.MODULE
    if said is Kind.ARCHIVE or zipfile.is_zipfile(path):
        return Kind.ARCHIVE
    if said is Kind.NOTEBOOK or head.lstrip().startswith(b'{'):
        return Kind.NOTEBOOK
    return said
