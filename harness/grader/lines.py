"""Where a notebook's cells are written in its file, recorded when it is graded.

A report names a notebook's code by cell and line (``cell 7, line 3``), as the learner sees it;
a CI annotator needs the line of the ``.ipynb`` file (nbformat keeps one source line per JSON
string, one per line of the file). The file is read here, once, while it is at hand, and the
report keeps ``notebook_lines`` for the cells it names, so every reporter, on every surface
(a batch, the service rendering a stored report), shows the same line.
"""
import json
import os
import re

from micrograde.load import tree
from micrograde.model.results import Report
from micrograde.worker.load.archives import opened, unpacked
from micrograde.worker.load.errors import LoadError
from micrograde.worker.load.notebooks import MAX_FILE, MAX_SOURCE
from micrograde.worker.load.packages import folder_notebook

#: How a report names a notebook's cell (``cell 7, line 3``, ``cell 3, which defines it``).
_CELL = re.compile(r'\bcell (\d+)\b')
#: Runs of lines kept at most: a report stays small whatever the notebook's layout.
MAX_RUNS = 2000


def notebook(path, report: Report) -> str:
    """The notebook, inside the folder at ``path``, whose cells ``report`` names: a folder that
    holds no module is graded by one of its notebooks (``packages.folder_notebook``), and an
    annotation must open that file, not the folder; in a zip, the notebook the worker graded
    of what it unpacked (``archives.unpack``), named as inside it; ``''`` for any other
    submission."""
    ran = [*report.classes.values(), *report.load_warnings]  # a cell's, only if a notebook ran
    if not path or not any(w.startswith('cell ') for w in ran):
        return ''
    if _zip(path):
        return _zipped_notebook(path)
    if not os.path.isdir(path):
        return ''
    try:
        with os.scandir(path) as entries:
            names = [e.name for e in entries if e.is_file(follow_symlinks=False)]
    except OSError:
        return ''
    return folder_notebook(names) or ''


def recorded(path, report: Report) -> dict[str, list[list[int]]]:
    """``{cell: [[its line, the file's line], ...]}`` for the cells ``report`` names, each a run
    of consecutive lines from there; ``{}`` when ``path`` (or the ``report.notebook`` inside
    it) is not a notebook that can be read."""
    inside = report.notebook if report.notebook and path and _zip(path) else ''
    path = os.path.join(path, report.notebook) if report.notebook and not inside else path
    if not str(inside or path or '').lower().endswith('.ipynb'):
        return {}
    named = set(_CELL.findall(json.dumps(report.to_dict())))
    if not named:
        return {}
    runs, kept = {}, 0
    found = _zipped_lines(path, inside) if inside else _file_lines(os.fspath(path))
    for cell, lines in found.items():
        if str(cell) not in named:
            continue
        cell_runs = []
        for line, row in sorted(lines.items()):
            if not cell_runs or row - cell_runs[-1][1] != line - cell_runs[-1][0]:
                cell_runs.append([line, row])
        kept += len(cell_runs)
        if kept > MAX_RUNS:
            break
        runs[str(cell)] = cell_runs
    return runs


def file_line(report: Report, cell: int, line: int) -> int:
    """The line of the notebook's file holding line ``line`` of cell ``cell``, from the
    report's ``notebook_lines``; 1 where it was not recorded."""
    runs = [r for r in report.notebook_lines.get(str(cell), []) if r[0] <= line]
    return runs[-1][1] + line - runs[-1][0] if runs else 1


def _file_lines(path):
    """``source_lines`` of the notebook at ``path``: a regular file of at most ``MAX_FILE``
    bytes, never through a link or a fifo."""
    try:
        st = os.lstat(path)
        if st.st_size > MAX_FILE:
            return {}
        text = tree.read(path, tree.Entry(os.path.basename(path), tree.Kind.FILE, st),
                         MAX_FILE).decode('utf-8-sig')
        return source_lines(text)
    except (OSError, LoadError, UnicodeDecodeError, ValueError, IndexError, RecursionError):
        return {}  # not a notebook's JSON (a hostile or truncated file)


def _zip(path):
    return str(path).lower().endswith('.zip') and os.path.isfile(path)


def _zipped_entries(path):
    """The files of the zip at ``path`` as the worker unpacks them (``archives``: its limits,
    no junk), by their names inside it; ``[]`` where it would refuse it."""
    try:
        with opened(path, os.path.basename(path)) as z:
            names = [_inner(i) for i in unpacked(z, os.path.basename(path)) if not i.is_dir()]
    except Exception:  # anything a hostile archive raises: the worker says why
        return []
    return [n for n in names if n and '..' not in n.split('/')]


def _inner(info):
    """An entry's name inside its zip as ``archives.extract`` writes it: ``/``, no ``.``."""
    return '/'.join(p for p in info.filename.replace('\\', '/').split('/') if p not in ('', '.'))


def _zipped_notebook(path):
    """The notebook the worker grades of the zip at ``path`` (``archives.unpack``: the one entry
    it holds at its top, else its top; a folder by ``folder_notebook``), as named inside it."""
    names = _zipped_entries(path)  # no junk: ``unpacked`` leaves it out
    tops = sorted({n.split('/')[0] for n in names})
    if len(tops) == 1 and tops[0] in names:  # one file: the notebook itself
        return tops[0] if tops[0].lower().endswith('.ipynb') else ''
    top = tops[0] if len(tops) == 1 else ''
    within = [n[len(top) + 1:] if top else n for n in names]
    found = folder_notebook([n for n in within if n and '/' not in n])
    return (f'{top}/{found}' if top else found) if found else ''


def _zipped_lines(path, inside):
    """``source_lines`` of the notebook ``inside`` the zip at ``path``, read up to its declared
    size of at most ``MAX_FILE`` bytes."""
    try:
        with opened(path, os.path.basename(path)) as z:
            info = next(i for i in unpacked(z, os.path.basename(path)) if _inner(i) == inside)
            if info.file_size > MAX_FILE:
                return {}
            with z.open(info) as f:
                data = f.read(info.file_size + 1)
        if len(data) != info.file_size:
            return {}
        return source_lines(data.decode('utf-8-sig'))
    except Exception:  # a hostile or truncated archive, not a notebook's JSON
        return {}


def source_lines(text):
    """``{cell number: {source line: line of the file}}`` for a notebook's code cells, numbered
    among all cells (formats 4 and 3: ``cells`` lists, ``source`` or ``input``), as far as
    ``MAX_SOURCE`` characters of code: what a notebook graded may hold."""
    found = {}
    try:
        _walk(text, _ws(text, 0), (), found, [0, 0])
    except _Enough:
        pass
    out, row, at = {}, 1, 0
    for cell, strings in found.items():  # in the file's order
        lines, current = {}, 1
        for offset, string in strings:
            row, at = row + text.count('\n', at, offset), offset
            for k in range(string.count('\n') + 1 - string.endswith('\n')):
                lines.setdefault(current + k, row)
            current += string.count('\n')
        out[cell] = lines
    return out


class _Enough(Exception):
    """More code than a notebook graded may hold: the lines found so far are all there is."""


_DECODER = json.JSONDecoder()
#: The keys whose values lead to a cell's source: only these are walked here, token by token;
#: any other value (outputs, metadata, a cell not of code: most of a notebook's bytes) is
#: passed over by the JSON decoder at C speed.
_LEADS = ('cells', 'worksheets', 'source', 'input')


def _ws(text, pos):
    while text[pos] in ' \t\r\n':
        pos += 1
    return pos


def _leads(text, pos, path):
    """Whether the value at ``pos`` (``path`` leads to it) may hold a code cell's source: the
    notebook, its ``cells`` (or ``worksheets``), each worksheet, a code cell, its source."""
    if path[-2:-1] == ('cells',):
        cell = _DECODER.raw_decode(text, pos)[0]
        return isinstance(cell, dict) and cell.get('cell_type') == 'code'
    return not path or path[-1] in _LEADS or path[-2:-1] == ('worksheets',)


def _walk(text, pos, path, found, seen):
    """Walk the JSON value at ``pos`` (``path`` leads to it); return where it ends. Each code
    cell's source strings go into ``found[cell number]`` with their offsets; ``seen`` counts
    the cells and the characters of code found."""
    c = text[pos]
    if c in '{[' and _leads(text, pos, path):
        close, index = '}' if c == '{' else ']', 0
        pos = _ws(text, pos + 1)
        while text[pos] != close:
            if c == '{':
                key, pos = _DECODER.raw_decode(text, pos)
                pos = _ws(text, _ws(text, pos) + 1)  # past the colon
            else:
                key, index = index, index + 1
                if path[-1:] == ('cells',):
                    seen[0] += 1
                    key = ('cell', seen[0])
                    found.setdefault(seen[0], [])
            pos = _ws(text, _walk(text, pos, path + (key,), found, seen))
            if text[pos] == ',':
                pos = _ws(text, pos + 1)
        return pos + 1
    value, end = _DECODER.raw_decode(text, pos)
    *head, key = path
    if isinstance(key, int):  # one string of a source list
        *head, key = head
    if isinstance(value, str) and key in ('source', 'input') and head and isinstance(head[-1], tuple):
        seen[1] += len(value)
        if seen[1] > MAX_SOURCE:
            raise _Enough
        found[head[-1][1]].append((pos, value))
    return end
