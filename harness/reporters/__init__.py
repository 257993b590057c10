"""Reporters: each turns a ``Report`` into one format and reads nothing else (no torch here).

``FORMATS`` is the one table of report formats: name -> ``write(report, path)``. A new format is
a module with a ``write`` function, one row here and its file name for ``--out`` folders.
"""
import os
import tempfile
from pathlib import Path

from micrograde.reporters import classroom, gradescope, html, json_report, junit

FORMATS = {'junit': junit.write, 'json': json_report.write, 'gradescope': gradescope.write,
           'classroom': classroom.write, 'html': html.write}

#: The file each format gets in an ``--out`` folder.
FILENAMES = {'junit': 'junit.xml', 'json': 'report.json', 'gradescope': 'results.json',
             'classroom': 'classroom.json', 'html': 'report.html'}


def write_reports(report, out=None, **paths):
    """Write every asked-for report: all formats into the folder ``out``, and each format given
    as a keyword (``junit=PATH``, ``json=PATH`` …) to its own path. Returns the paths written."""
    unknown = set(paths) - set(FORMATS)
    if unknown:
        raise ValueError(f'unknown report format {", ".join(sorted(unknown))}; '
                         f'known: {", ".join(FORMATS)}')
    targets = [(name, Path(out, FILENAMES[name])) for name in FORMATS] if out else []
    targets += [(name, Path(path)) for name, path in paths.items() if path]
    for name, path in targets:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_fresh(FORMATS[name], report, path)
    return [str(path) for _, path in targets]


def _write_fresh(write, report, path):
    """Write into a new file of the grader's own (O_EXCL) beside ``path``, then rename it over
    ``path``: whatever a submission left there (a file, a symlink to elsewhere) is replaced,
    never written through."""
    fd, temp = tempfile.mkstemp(prefix=f'.{path.name}.', dir=path.parent)
    os.close(fd)
    try:
        write(report, Path(temp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise
