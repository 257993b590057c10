"""Where the learner's code behind any check is, as a file and a line a CI annotator opens.

``place(report, check)`` is ``{'method', 'file', 'line', 'cell'}`` for every check of a loaded
submission, most precise first (a consequence of another check's root cause: that cause's
method): the learner's line an exception came from (``(at engine.py, line
31: ...)`` in the message), the method an op or backward check exercises, the op a fuzzed graph
blames, the class an MLP check builds, the line a load error names; else the ``Value`` class.

In a notebook, ``line`` is the line of the ``.ipynb`` file where that cell's source line is
written (nbformat keeps one source line per JSON string, one per line of the file), so an
annotation opens at the code; ``cell`` keeps the cell and its own line for people.
"""
import functools
import json
import os
import re

from micrograde.load import tree
from micrograde.model.graph import Graph
from micrograde.reporters.text import method, resolved, spot, value_class
from micrograde.worker.load.errors import LoadError
from micrograde.worker.load.notebooks import MAX_FILE, MAX_SOURCE

#: ``(at engine.py, line 31: ...``, ``(cell 4, line 1)``, ``syntax error in x.py at line 2``,
#: ``cell 3, which defines it, did not run: syntax error at line 108``: where, then its line.
_WHERE = re.compile(r'(?P<where>cell \d+|[^\s(),:]+\.py)\b\D{0,60}?\bline (?P<line>\d+)')
_AT = re.compile(r'\(at (?P<where>cell \d+|[^\s(),:]+\.py), line (?P<line>\d+)')
_CLASS = re.compile(r'(?P<where>.+), line (?P<line>\d+)$')
#: the class an MLP check builds (``forward`` computes what a Neuron computes)
_MLP_CLASS = {'mlp.forward': 'Neuron'}


def place(report, check):
    """``{'method', 'file', 'line', 'cell'}`` of the learner's code behind ``check``, or ``None``
    when nothing of the submission could be located (it did not load and names no line)."""
    # a consequence is at its root cause's method (one bug, one place), not where it surfaced
    found = (check.consequence_of and spot(report, check) or _raised(report, check)
             or spot(report, check) or _blamed(report, check)
             or _class(report, _MLP_CLASS.get(check.id, 'MLP') if check.category == 'mlp' else '')
             or (_named(report, check.message, 'load') if check.category == 'load' else None)
             or _class(report, 'Value'))
    if not found:
        return None
    label, where, line = found
    at = resolved(report, label, where, line)
    if at['cell']:  # the notebook's own line, the cell's for people
        at.update(cell=f'{where}, line {line}',
                  line=notebook_line(at['file'], int(where.split()[1]), line))
    return at


def _raised(report, check):
    m = _AT.search(check.message)
    return m and (_label(report, check), m['where'], int(m['line']))


def _blamed(report, check):
    """The op of the node a fuzzed graph's diagnosis blames, at its method's ``def``."""
    ce = check.counterexample
    if check.category != 'fuzz' or not ce or not ce.culprits or not ce.graph:
        return None
    graph = Graph.from_dict(ce.graph)
    index = next((i for i in range(len(graph.inputs), graph.size)
                  if graph.name(i) == ce.culprits[0]), None)
    name = method('ops.' + graph.node(index).capability) if index is not None else 'backward'
    where = report.methods.get(name or 'backward')
    return where and (f'{value_class(report)}.{name}', where['file'], where['line'])


def _class(report, role):
    m = _CLASS.match(report.classes.get(role, '')) if role else None
    return m and (report.class_info.get(role, {}).get('name') or role, m['where'], int(m['line']))


def _named(report, message, label):
    m = _WHERE.search(message)
    return m and (label, m['where'], int(m['line']))


def _label(report, check):
    name = method(check.id)
    return f'{value_class(report)}.{name}' if name else check.id


def notebook_line(path, cell, line):
    """The line of the notebook file at ``path`` holding line ``line`` of cell ``cell``
    (numbered among all cells, as the loader numbers them); 1 if the file cannot be read."""
    try:
        st = os.lstat(path)
    except OSError:
        return 1
    return _file_lines(path, (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)).get(
        cell, {}).get(line, 1)


@functools.lru_cache(maxsize=8)
def _file_lines(path, version):
    """``source_lines`` of the notebook at ``path``, read once for each ``version`` of the file
    (every check of every report placed in it): a regular file of at most ``MAX_FILE`` bytes,
    never through a link or a fifo."""
    try:
        st = os.lstat(path)
        if st.st_size > MAX_FILE:
            return {}
        text = tree.read(path, tree.Entry(os.path.basename(path), tree.Kind.FILE, st),
                         MAX_FILE).decode('utf-8-sig')
        return source_lines(text)
    except (OSError, LoadError, UnicodeDecodeError, ValueError, IndexError, RecursionError):
        return {}  # not a notebook's JSON (a hostile or truncated file)


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
