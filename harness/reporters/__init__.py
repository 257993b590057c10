"""Reporters: each turns a ``Report`` into the bytes of one format and reads nothing else (no
torch here); none writes a file. ``write`` is the one way a report reaches disk.

``FORMATS`` is the one table of report formats: name -> ``render(report) -> bytes``. A new format
is a module with a ``render`` function, one row here and its file name for ``--out`` folders.
The gradebook and the class page render a whole batch (``gradebook.render``,
``classpage.render``) and are written by the same ``write``.
"""
import errno
import os
import tempfile
from pathlib import Path

from micrograde.reporters import classroom, gradescope, html, json_report, junit

FORMATS = {'junit': junit.render, 'json': json_report.render, 'gradescope': gradescope.render,
           'classroom': classroom.render, 'html': html.render}

#: The file each format gets in an ``--out`` folder.
FILENAMES = {'junit': 'junit.xml', 'json': 'report.json', 'gradescope': 'results.json',
             'classroom': 'classroom.json', 'html': 'report.html'}


def write_reports(report, out=None, unwritten=None, **paths):
    """Write every asked-for report: all formats into the folder ``out``, and each format given
    as a keyword (``junit=PATH``, ``json=PATH`` …) to its own path. Returns the paths written.
    With a list ``unwritten``, a path that cannot be written (no such folder, no permission, a
    file where a folder must be) adds ``cannot write PATH: why`` to it and the others are
    written all the same; without it, its ``OSError`` is raised."""
    unknown = set(paths) - set(FORMATS)
    if unknown:
        raise ValueError(f'unknown report format {", ".join(sorted(unknown))}; '
                         f'known: {", ".join(FORMATS)}')
    targets = [(name, Path(out, FILENAMES[name])) for name in FORMATS] if out else []
    targets += [(name, Path(path)) for name, path in paths.items() if path]
    written = []
    for name, path in targets:
        try:
            write(path, FORMATS[name](report))
        except OSError as e:
            if unwritten is None:
                raise
            unwritten.append(cannot_write(path, e))
            continue
        written.append(str(path))
    return written


def unwritable(folder):
    """Why no report can be written in ``folder`` (``cannot write FOLDER: why``), made if
    missing; ``None`` where one can. Asked before grading, so that nothing is graded for reports
    that could not be kept."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as e:
        return cannot_write(folder, e)
    return None


def cannot_write(path, error):
    """What a path given to write a report at, and the ``OSError`` writing it raised, tell the
    user: that path as they gave it and why, never a file of the writer's own (its temporary
    name) or a traceback. The one ``FileExistsError`` writing can meet is its folder's being a
    file (``mkdir`` finds it there): said as what it is."""
    why = os.strerror(errno.ENOTDIR) if isinstance(error, FileExistsError) else error.strerror
    return f'cannot write {path}: {why or type(error).__name__}'


def write(path, data):
    """Write ``data`` (bytes) to ``path`` atomically: into a new file of the grader's own
    (O_EXCL) in the same folder, then renamed over ``path``. A reader sees the old file or the
    whole new one, never part of it, and whatever a submission left at ``path`` (a file, a
    symlink to elsewhere) is replaced, never written through."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f'.{path.name}.', dir=path.parent)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise
