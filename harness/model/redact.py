"""No report shows the grader's own paths: its virtual environment, Python's install, the
project, the home folder, its temporary and scratch folders, the sandbox's mount points, in any
way a submission can read them and print them (``ENCODINGS``).  A file under one of them is
shown by its bare name (``decoder.py``), the folders themselves as ``<folder>``; the learner's
own files are already shown relative to the submission (``cell 3``, ``engine.py, line 4``) by
the loader.

What redaction promises, and what it cannot: it finds the grader's paths as honest output and
the kernel's tables write them (a traceback through a library, ``/proc/self/mountinfo`` printed
as is), in ``ENCODINGS``.  A submission that means to show a path can always write it in a way
no pattern finds (hex, base64, reversed, one letter a line, a list of ``ord``s): such a report
holds a folder's *name*, never anything in it.  What keeps the grader's files, other learners'
files and root's files out of every report is that the submission cannot read them (bubblewrap
mounts none of them, Landlock grants none, a throwaway uid owns none: ``sandbox.protections``
lists where a level does not stop reads), not this module."""
import functools
import os
import re
import sys
import sysconfig
import tempfile
from pathlib import Path
from urllib.parse import quote, unquote

from micrograde.model.bounds import each_text

#: Where the sandbox shows the worker its package, scratch, submission and jobs.
SANDBOX_PATHS = ('/opt/micrograde', '/scratch', '/submission', '/jobs')
#: How a path may be written where a submission can read and print it (``/proc/1/cmdline``,
#: ``/proc/self/mountinfo``, its environment): as is, with the octal escapes of the kernel's
#: mount tables (``\040`` for a space), percent-encoded, or with JSON's escaped slashes (``\/``).
#: Each path is looked for in every one of them.
ENCODINGS = (
    lambda p: p,
    lambda p: re.sub(r'[ \t\n\\]', lambda m: f'\\{ord(m.group()):03o}', p),
    lambda p: quote(p, safe=''),
    lambda p: quote(p),
    lambda p: p.replace('/', '\\/'),
)
#: A path starts where no word or path goes on before it, or right after an escape sequence
#: (repr's ``\x00`` between the arguments of ``/proc/1/cmdline``, ``\n``, ``\040``, ``%00``).
_START = (r'(?:(?<![\w./%-])|(?<=\\x[0-9a-fA-F]{2})|(?<=\\[0-7]{3})|(?<=\\[nrtabfv0])'
          r'|(?<=\\u[0-9a-fA-F]{4})|(?<=%[0-9a-fA-F]{2}))')
#: The rest of a path, in any of the encodings: up to a space, a quote, a bracket or an escape,
#: a space or separator percent-encoded included (``%00`` between ``/proc/1/cmdline``'s arguments).
_REST = r"""(?:[^\s'"(),:;<>\[\]\\%]|%(?!00|09|0[aAdD]|20)|\\/|\\[0-7]{3})*"""


def grader_paths(*extra):
    """Folders of the grader's that must never appear in a report, longest first: its virtual
    environment, Python's install, every folder it imports from, the project, the home and
    working folders, its temporary and scratch folders, the sandbox's mount points."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, tempfile.gettempdir(),
             os.path.dirname(os.path.realpath(sys.executable)), str(Path(__file__).resolve().parents[2]),
             os.path.expanduser('~'), os.getcwd(), *_imported_from(),
             *sysconfig.get_paths().values(), *SANDBOX_PATHS, *filter(None, extra)}
    paths = {os.path.normpath(p) for p in paths if p and os.path.isabs(p)}
    return sorted((p for p in paths if p != '/'), key=len, reverse=True)


def _imported_from():
    """The folders this grader imports from, as given and as real paths: the allowed libraries
    are bound into the sandbox from them, and its mount table names each (a site folder a .pth
    file or PYTHONPATH adds lies outside every other folder here)."""
    for folder in sys.path:
        if folder and os.path.isabs(folder):
            yield folder
            yield os.path.realpath(folder)


def redact(text, paths):
    """``text`` with every path under one of ``paths``, in any of the ``ENCODINGS``, shown as
    its file's bare name; each of ``paths`` itself, the folders above it and the path cut
    short (``/work/proj`` of ``/work/project``, as a submission printing in slices cuts it) as
    ``<folder>``."""
    if not text or not paths:
        return text
    paths = tuple(paths)
    return _pattern(paths).sub(lambda m: _shown(m.group(), paths), text)


@functools.lru_cache(maxsize=8)
def _pattern(paths):
    written = sorted({encode(p) for p in (*paths, *_parents(paths)) for encode in ENCODINGS},
                     key=len, reverse=True)
    return re.compile(_START + '(?:' + '|'.join(map(re.escape, written)) + r')(?![\w.-])' + _REST,
                      re.IGNORECASE)


@functools.lru_cache(maxsize=8)
def _parents(paths):
    """The folders above the grader's (``/work`` of ``/work/project``): they say where the
    grader is, but only a path that is one of them, not one under it, is the grader's."""
    return frozenset(str(parent) for p in paths for parent in list(Path(p).parents)[:-1])


def _shown(found, paths):
    path = unquote(re.sub(r'\\([0-7]{3})', lambda m: chr(int(m.group(1), 8)), found)
                   .replace('\\/', '/')).rstrip('/')
    if any(path.startswith(p + '/') for p in paths):
        return os.path.basename(path)
    # one of them, above one, cut short, or with more after it (`\040(deleted)` in mountinfo)
    return '<folder>' if any(p.startswith(path) or path.startswith(p) for p in paths) else found


def report(rep, *extra):
    """Redact every text of ``rep`` a submission influences (``bounds.each_text``), in place."""
    paths = grader_paths(*extra)
    return each_text(rep, lambda text, kind: redact(text, paths))
