"""Jupyter notebooks, run cell by cell as the learner ran them.

Three separate steps: ``code_cells`` reads the notebook, ``neutralise`` turns one cell's IPython
syntax into plain Python (the step to replace with IPython's own input transformer), and
``run_cells`` runs the cells: a failing cell is a warning, a failing import does not stop the
statements after it, each cell has a time limit and all of them a budget.
"""
import ast
import json
import linecache
import os
import re
import signal
import time

from .errors import CellTimeout, LoadError, explain, text
from .files import source as read_source

_RUN_CELL_MAGICS = {'time', 'timeit', 'capture', 'prun'}


def load_notebook(path, loaded, cell_timeout):
    cells = [(number, neutralise(cell)) for number, cell in code_cells(path)]
    loaded.namespaces.append((os.path.basename(path), run_cells(cells, loaded, cell_timeout)))


def code_cells(path):
    """``[(cell number, source)]`` of the notebook's code cells, numbered among all its cells."""
    name = os.path.basename(path)
    try:
        nb = json.loads(read_source(path))
    except json.JSONDecodeError as e:
        raise LoadError(f'{name} is not a valid notebook: it is not JSON ({e.msg} at line '
                        f'{e.lineno}, column {e.colno}). Re-download it from Jupyter.') from None
    if not isinstance(nb, dict) or not isinstance(nb.get('cells'), list):
        raise LoadError(f'{name} is not a Jupyter notebook (no list of cells).')
    if nb.get('nbformat') != 4:
        raise LoadError(f'{name} is notebook format {nb.get("nbformat")!r}; only format 4 is '
                        f'supported. Open and save it in a current Jupyter.')
    cells = []
    for number, cell in enumerate(nb['cells'], 1):
        if not isinstance(cell, dict) or cell.get('cell_type') != 'code':
            continue
        source = cell.get('source', '')
        cells.append((number, ''.join(source) if isinstance(source, list) else str(source)))
    return cells


def neutralise(source):
    """Cell source with IPython syntax made inert: magics and ``!shell`` lines become ``pass``."""
    lines = source.split('\n')
    first = lines[0].strip() if lines else ''
    if first.startswith('%%'):
        if first[2:].split(' ')[0] not in _RUN_CELL_MAGICS:
            return ''
        lines = lines[1:]
    out = []
    for line in lines:
        stripped = line.lstrip()
        indent = line[:len(line) - len(stripped)]
        if stripped.startswith(('%', '!')) or (stripped.endswith('?') and not stripped.startswith('#')):
            out.append(indent + 'pass')
        elif re.match(r'^[\w\s,]+=\s*[%!]', stripped):
            out.append(indent + stripped.split('=')[0].strip() + ' = None')
        else:
            out.append(line)
    return '\n'.join(out)


class _FakeIPython:
    """Stands in for ``get_ipython()``: every magic call does nothing."""

    def __getattr__(self, name):
        return lambda *a, **k: None


def run_cells(cells, loaded, cell_timeout):
    """Run ``[(number, python source)]`` in one namespace, as a kernel would; returns it."""
    ns = {'__name__': '__main__', '__builtins__': __builtins__,
          'display': lambda *a, **k: None, 'get_ipython': lambda: _FakeIPython()}
    for number, source in cells:
        limit = cell_timeout
        if loaded.deadline is not None:
            limit = min(limit, loaded.deadline - time.monotonic())
            if limit <= 0:
                loaded.warnings.append(f'cells from {number} on were not run: the notebook used '
                                       f'its whole load time.')
                break
        _run_cell(number, source, ns, loaded, limit)
    return ns


def _run_cell(number, source, ns, loaded, cell_timeout):
    filename = f'<cell {number}>'
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    try:
        tree = ast.parse(source, filename)
    except SyntaxError as e:
        loaded.warnings.append(f'cell {number}: syntax error at line {e.lineno}: {e.msg}; '
                               f'cell skipped.')
        return
    before = {k: id(v) for k, v in ns.items() if isinstance(v, type)}
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, cell_timeout)
    try:
        for stmt in tree.body:
            code = compile(ast.Module([stmt], []), filename, 'exec', dont_inherit=True)
            try:
                exec(code, ns)
            except (ImportError, ModuleNotFoundError) as e:
                if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                    loaded.warnings.append(f'cell {number}, line {stmt.lineno}: import failed '
                                           f'({text(e)}); the rest of the cell still ran.')
                    continue
                raise
    except CellTimeout:
        loaded.warnings.append(f'cell {number} ran past its {cell_timeout:.3g} s limit; the rest '
                               f'of the cell was skipped.')
    except BaseException as e:
        if isinstance(e, SystemExit):
            raise LoadError(explain(e, f'cell {number}', filename)) from None
        loaded.warnings.append(f'cell {number}: {explain(e, f"cell {number}", filename)}')
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    for name, obj in ns.items():
        if isinstance(obj, type) and before.get(name) != id(obj):
            loaded.origins[id(obj)] = f'cell {number}, line {_class_line(tree, name)}'


def _alarm(signum, frame):
    raise CellTimeout()


def _class_line(tree, name):
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node.lineno
    return 1
