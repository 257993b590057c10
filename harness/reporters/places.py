"""Where the learner's code behind any check is, as a file and a line a CI annotator opens.

``place(report, check)`` is ``{'method', 'file', 'line', 'cell'}`` for every check of a loaded
submission, most precise first (a consequence of another check's root cause: that cause's
method): the learner's line an exception came from (``(at engine.py, line
31: ...)`` in the message), the method an op or backward check exercises, the op a fuzzed graph
blames, the class an MLP check builds, the line a load error names; else the ``Value`` class.

In a notebook, ``line`` is the line of the ``.ipynb`` file where that cell's source line is
written (nbformat keeps one source line per JSON string, one per line of the file), so an
annotation opens at the code; ``cell`` keeps the cell and its own line for people. That line is
the report's (``notebook_lines``, recorded when it was graded: ``grader/lines.py``): nothing here
reads a file, so a report renders the same wherever it is rendered. In a .zip, ``file`` is the
zip, at line 1, and ``cell`` the file and line inside it (``_in_archive``).
"""
import re

from micrograde.grader.lines import file_line
from micrograde.model.graph import Graph
from micrograde.reporters.text import method, notebook_file, resolved, spot, value_class
from micrograde.worker.load import formats

#: ``(at engine.py, line 31: ...``, ``(cell 4, line 1)``, ``syntax error in x.py at line 2``,
#: ``cell 3, which defines it, did not run: syntax error at line 108``: where, then its line.
_WHERE = re.compile(r'(?P<where>cell \d+|[^\s(),:]+\.py)\b\D{0,60}?\bline (?P<line>\d+)')
_AT = re.compile(r'\(at (?P<where>cell \d+|[^\s(),:]+\.py), line (?P<line>\d+)')
_CLASS = re.compile(r'(?P<where>.+), line (?P<line>\d+)$')
#: the class an MLP check builds (``forward`` computes what a Neuron computes)
_MLP_CLASS = {'mlp.forward': 'Neuron'}


def place(report, check):
    """``{'method', 'file', 'line', 'cell'}`` of the learner's code behind ``check``: where it
    did not load and names no line, the submission's file itself, at its first line (an
    annotator then opens the learner's file, not the report); ``None`` for a folder."""
    # a consequence is at its root cause's method (one bug, one place), not where it surfaced
    found = (check.consequence_of and spot(report, check) or _raised(report, check)
             or spot(report, check) or _blamed(report, check)
             or _class(report, _MLP_CLASS.get(check.id, 'MLP') if check.category == 'mlp' else '')
             or (_named(report, check.message, 'load') if check.category == 'load' else None)
             or _class(report, 'Value'))
    if not found:
        file = notebook_file(report) if report.notebook else \
            report.submission  # a folder or zip graded by its notebook: that notebook
        at = {'method': check.id, 'file': file, 'line': 1, 'cell': None} \
            if formats.named(file) else None
        return at and _in_archive(report, at)
    label, where, line = found
    at = resolved(report, label, where, line)
    if at['cell']:  # the notebook's own line, the cell's for people
        at.update(cell=f'{where}, line {line}', line=file_line(report, int(where.split()[1]), line))
    return _in_archive(report, at)


def _in_archive(report, at):
    """A file inside a .zip is no file of the repository, which holds the zip: annotated there,
    an annotator opened a path that is not there (action-junit-report) or another file of that
    name (dorny/test-reporter: the first tracked ``micrograd/engine.py``, a course's template).
    The zip is opened, at line 1, and ``cell`` says where inside it, for people."""
    archive = report.submission.rstrip('/')
    if not archive.lower().endswith('.zip') or at['file'] == archive:
        return at
    inside = f'{at["file"]}, {at["cell"]}' if at['cell'] else f'{at["file"]}, line {at["line"]}'
    return {**at, 'file': archive, 'line': 1, 'cell': inside}


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
