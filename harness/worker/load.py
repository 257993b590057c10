"""Load a submission in the worker and find its classes, tolerating notebook noise.

Forms: a ``.py`` file, a Jupyter notebook, a folder (a package, or a folder of modules), a
``.zip`` of any of these, or an installed module.  A notebook runs cell by cell as the learner ran
it: magics and shell lines are neutralised, a failing cell is a warning, a failing import does not
stop the statements after it, and each cell has a time limit.
"""
import ast
import collections
import importlib
import importlib.util
import io
import json
import linecache
import os
import pkgutil
import re
import signal
import sys
import time
import tokenize
import types
import zipfile

ZIP_LIMIT = 200 * 2**20
ZIP_FILES = 10_000
_SKIP_FILES = re.compile(r'^(setup|conftest|test_.*|.*_test)\.py$')
_RUN_CELL_MAGICS = {'time', 'timeit', 'capture', 'prun'}


class LoadError(Exception):
    """The submission cannot be graded; the message tells the learner what to fix."""


class CellTimeout(BaseException):
    """Raised inside a notebook cell that ran past its limit (not an ``Exception``, so a
    learner's ``except Exception`` cannot swallow it)."""


class Loaded:
    """Namespaces to search for classes, in priority order, and what went wrong on the way."""

    def __init__(self, budget=None):
        self.deadline = time.monotonic() + budget if budget else None  # for notebook cells
        self.namespaces = []  # (where, dict)
        self.warnings = []
        self.origins = {}  # class object id -> 'cell 7, line 3'
        self.root = None  # folder the submission's files are shown relative to

    def find(self, names):
        """``{role: (class, origin)}`` for each role whose class name is bound somewhere."""
        found = {}
        for role, name in names.items():
            for where, ns in self.namespaces:
                obj = ns.get(name)
                if isinstance(obj, type):
                    found[role] = (obj, self.origins.get(id(obj)) or _origin(obj, where, self.root))
                    break
        for role, (cls, origin) in found.items():
            if self.root and origin.startswith(f'{cls.__module__} ('):
                self.warnings.append(f'{role} is not defined in the submission: it is imported '
                                     f'from the installed module {cls.__module__}.')
        return found


def load(path=None, module=None, cell_timeout=10.0, scratch='.', budget=None):
    """Load the submission at ``path`` (or the installed ``module``).

    ``budget`` seconds bound a notebook's cells all together: past it the remaining cells are
    skipped with a warning, so slow training cells cannot cost the whole load."""
    loaded = Loaded(budget)
    if module:
        _load_module(module, loaded)
        return loaded
    if not os.path.exists(path):
        raise LoadError(f'{os.path.basename(path)}: no such file or folder.')
    loaded.root = os.path.dirname(os.path.abspath(path))
    _load_path(path, loaded, cell_timeout, scratch)
    return loaded


def _load_path(path, loaded, cell_timeout, scratch):
    name = os.path.basename(path.rstrip('/'))
    if os.path.isdir(path):
        return _load_folder(path, loaded, cell_timeout, scratch)
    with open(path, 'rb') as f:
        head = f.read(4096)
    if not head.strip():
        raise LoadError(f'{name} is empty: submit the file that defines your Value class.')
    if name.lower().endswith('.zip') or zipfile.is_zipfile(path):
        return _load_zip(path, loaded, cell_timeout, scratch)
    if name.lower().endswith('.ipynb') or head.lstrip().startswith(b'{'):
        return _load_notebook(path, loaded, cell_timeout)
    if b'\0' in head:
        raise LoadError(f'{name} is a binary file, not Python source or a notebook.')
    return _load_file(path, loaded)


def _source(path):
    name = os.path.basename(path)
    with open(path, 'rb') as f:
        data = f.read()
    if b'\0' in data:
        raise LoadError(f'{name} is a binary file, not Python source.')
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding)
    except (SyntaxError, UnicodeDecodeError, LookupError) as e:
        raise LoadError(f'{name} is not readable text ({e}); save it as UTF-8.') from None


def _compile(source, filename, label):
    try:
        return compile(source, filename, 'exec', dont_inherit=True)
    except SyntaxError as e:
        raise LoadError(f'syntax error in {label} at line {e.lineno}: {e.msg}.') from None
    except ValueError as e:  # e.g. NUL bytes
        raise LoadError(f'{label} cannot be compiled: {e}.') from None


def _load_file(path, loaded):
    name = os.path.splitext(os.path.basename(path))[0]
    code = _compile(_source(path), path, os.path.basename(path))
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    mod = types.ModuleType(name)
    mod.__file__ = path
    sys.modules[name] = mod
    try:
        exec(code, mod.__dict__)
    except BaseException as e:
        raise LoadError(_explain(e, os.path.basename(path), path)) from None
    loaded.namespaces.append((os.path.basename(path), mod.__dict__))


def _explain(e, label, filename=None):
    """One sentence about an exception raised while loading, with the line it came from."""
    line = _line(e, filename)
    at = f' ({label}, line {line})' if line else f' ({label})'
    if isinstance(e, ModuleNotFoundError):
        return (f'the submission imports {e.name!r}, which is not installed for grading{at}; '
                f'remove the import or ask your course staff to add the module.')
    if isinstance(e, SyntaxError):
        return f'syntax error in {e.filename or label} at line {e.lineno}: {e.msg}.'
    if isinstance(e, SystemExit):
        return f'the submission called exit({e.code!r}) while loading{at}; remove that call.'
    if isinstance(e, CellTimeout):
        return f'loading ran past its time limit{at}.'
    return f'{type(e).__name__}: {_text(e)} while loading{at}.'


def _text(e):
    try:
        return str(e)[:300]
    except Exception:
        return '<unprintable>'


def _line(e, filename):
    tb, line = e.__traceback__, None
    while tb is not None:
        if filename is None or tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _import(name, label):
    try:
        return importlib.import_module(name)
    except BaseException as e:
        raise LoadError(_explain(e, label, getattr(e, 'filename', None))) from None


def _add_package(pkg, loaded):
    loaded.namespaces.append((pkg.__name__, vars(pkg)))
    for info in sorted(pkgutil.walk_packages(getattr(pkg, '__path__', []), pkg.__name__ + '.',
                                             onerror=lambda n: None), key=lambda i: i.name):
        try:
            sub = importlib.import_module(info.name)
        except BaseException as e:
            loaded.warnings.append(f'module {info.name}: {_explain(e, info.name)}')
            continue
        loaded.namespaces.append((info.name, vars(sub)))


def _self_name(path, name):
    """The name a package folder imports itself by: a folder renamed from ``micrograd`` still
    says ``from micrograd.engine import Value`` (and an installed micrograd must not answer)."""
    own = {os.path.splitext(e)[0] for e in os.listdir(path)
           if e.endswith('.py') or os.path.isdir(os.path.join(path, e))}
    votes = collections.Counter()
    for folder, _, files in os.walk(path):
        for f in files:
            if not f.endswith('.py'):
                continue
            try:
                tree = ast.parse(_source(os.path.join(folder, f)))
            except (SyntaxError, ValueError, LoadError):
                continue
            for node in ast.walk(tree):
                names = [node.module] if isinstance(node, ast.ImportFrom) and not node.level else (
                    [a.name for a in node.names] if isinstance(node, ast.Import) else [])
                for dotted in filter(None, names):
                    root, _, rest = dotted.partition('.')
                    if rest and rest.split('.')[0] in own:
                        votes[root] += 1
    if votes:
        return votes.most_common(1)[0][0]
    return name if name.isidentifier() else 'submission'


def _import_as(alias, path):
    """Import the package folder ``path`` under the name ``alias``."""
    spec = importlib.util.spec_from_file_location(alias, os.path.join(path, '__init__.py'),
                                                  submodule_search_locations=[path])
    module = importlib.util.module_from_spec(spec)
    sys.modules[alias] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as e:
        raise LoadError(_explain(e, alias)) from None
    return module


def _load_module(name, loaded):
    if importlib.util.find_spec(name) is None:
        raise LoadError(f'no installed module named {name!r}.')
    _add_package(_import(name, name), loaded)


def _load_folder(path, loaded, cell_timeout, scratch):
    path = os.path.abspath(path)
    name = os.path.basename(path)
    if os.path.exists(os.path.join(path, '__init__.py')):
        alias = _self_name(path, name)
        if alias == name:
            sys.path.insert(0, os.path.dirname(path))
            return _add_package(_import(name, name), loaded)
        return _add_package(_import_as(alias, path), loaded)
    entries = sorted(os.listdir(path))
    modules = [e[:-3] for e in entries if e.endswith('.py') and not _SKIP_FILES.match(e)
               and e[:-3].isidentifier()]
    packages = [e for e in entries if os.path.isfile(os.path.join(path, e, '__init__.py'))
                and e.isidentifier()]
    notebooks = [e for e in entries if e.endswith('.ipynb')]
    if not modules and not packages:
        if notebooks:
            if len(notebooks) > 1:
                loaded.warnings.append(f'{len(notebooks)} notebooks found; graded {notebooks[-1]}.')
            return _load_notebook(os.path.join(path, notebooks[-1]), loaded, cell_timeout)
        raise LoadError(f'{name} holds no .py file, notebook or package to grade.')
    sys.path.insert(0, path)
    errors = []
    for mod in packages + modules:
        try:
            imported = _import(mod, mod + ('' if mod in packages else '.py'))
        except LoadError as e:
            errors.append(str(e))
            continue
        if mod in packages:
            _add_package(imported, loaded)
        else:
            loaded.namespaces.append((mod + '.py', vars(imported)))
    if not loaded.namespaces:
        raise LoadError(errors[0])
    loaded.warnings.extend(errors)


def extract(path, target):
    """Unpack the zip at ``path`` into ``target`` safely: size and count limits, no paths that
    leave ``target``, no macOS/Jupyter junk.  Returns the top-level entries."""
    name = os.path.basename(path)
    try:
        with zipfile.ZipFile(path) as z:
            infos = [i for i in z.infolist() if not _junk(i.filename)]
            if len(infos) > ZIP_FILES or sum(i.file_size for i in infos) > ZIP_LIMIT:
                raise LoadError(f'{name} is too large to grade (over {ZIP_FILES} files or '
                                f'{ZIP_LIMIT >> 20} MB unpacked).')
            os.makedirs(target, exist_ok=True)
            for info in infos:
                parts = [p for p in info.filename.replace('\\', '/').split('/') if p not in ('', '.')]
                if not parts or '..' in parts:
                    continue
                dest = os.path.join(target, *parts)
                if info.is_dir():
                    os.makedirs(dest, exist_ok=True)
                    continue
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                with z.open(info) as src, open(dest, 'wb') as out:
                    out.write(src.read(ZIP_LIMIT))
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise LoadError(f'{name} is not a readable zip file ({e}).') from None
    return [e for e in sorted(os.listdir(target)) if not _junk(e)]


def _load_zip(path, loaded, cell_timeout, scratch):
    name = os.path.basename(path)
    target = os.path.join(scratch, 'unzipped')
    top = extract(path, target)
    loaded.root = target
    if not top:
        raise LoadError(f'{name} is empty: zip the file or folder that defines your Value class.')
    inner = os.path.join(target, top[0]) if len(top) == 1 else target
    gradable = [f for _, _, files in os.walk(target) for f in files if f.endswith(('.py', '.ipynb'))]
    if not gradable:
        raise LoadError(f'{name} holds no .py file, notebook or package to grade.')
    try:
        _load_path(inner, loaded, cell_timeout, scratch)
    except LoadError as e:
        raise LoadError(f'in {name}: {e}') from None


def _junk(filename):
    return filename.startswith('__MACOSX') or os.path.basename(filename.rstrip('/')) in (
        '.DS_Store', '.ipynb_checkpoints', '__pycache__')


# --- notebooks --------------------------------------------------------------------------------

def _load_notebook(path, loaded, cell_timeout):
    name = os.path.basename(path)
    try:
        nb = json.loads(_source(path))
    except json.JSONDecodeError as e:
        raise LoadError(f'{name} is not a valid notebook: it is not JSON ({e.msg} at line '
                        f'{e.lineno}, column {e.colno}). Re-download it from Jupyter.') from None
    if not isinstance(nb, dict) or not isinstance(nb.get('cells'), list):
        raise LoadError(f'{name} is not a Jupyter notebook (no list of cells).')
    if nb.get('nbformat') != 4:
        raise LoadError(f'{name} is notebook format {nb.get("nbformat")!r}; only format 4 is '
                        f'supported. Open and save it in a current Jupyter.')
    ns = {'__name__': '__main__', '__builtins__': __builtins__,
          'display': lambda *a, **k: None, 'get_ipython': lambda: _FakeIPython()}
    loaded.namespaces.append((name, ns))
    for number, cell in enumerate(nb['cells'], 1):
        if not isinstance(cell, dict) or cell.get('cell_type') != 'code':
            continue
        source = cell.get('source', '')
        source = ''.join(source) if isinstance(source, list) else str(source)
        limit = cell_timeout
        if loaded.deadline is not None:
            limit = min(limit, loaded.deadline - time.monotonic())
            if limit <= 0:
                loaded.warnings.append(f'cells from {number} on were not run: the notebook used '
                                       f'its whole load time.')
                return
        _run_cell(number, neutralise(source), ns, loaded, limit)


class _FakeIPython:
    """Stands in for ``get_ipython()``: every magic call does nothing."""

    def __getattr__(self, name):
        return lambda *a, **k: None


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
                                           f'({_text(e)}); the rest of the cell still ran.')
                    continue
                raise
    except CellTimeout:
        loaded.warnings.append(f'cell {number} ran past its {cell_timeout:.3g} s limit; the rest '
                               f'of the cell was skipped.')
    except BaseException as e:
        if isinstance(e, SystemExit):
            raise LoadError(_explain(e, f'cell {number}', filename)) from None
        loaded.warnings.append(f'cell {number}: {_explain(e, f"cell {number}", filename)}')
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


def _origin(cls, where, root):
    """``file, line N`` of a class, the file relative to the submission where it lies there."""
    import inspect
    try:
        filename = os.path.abspath(inspect.getsourcefile(cls))
        line = inspect.getsourcelines(cls)[1]
    except (TypeError, OSError):
        return where
    if root and filename.startswith(root + os.sep):
        return f'{os.path.relpath(filename, root)}, line {line}'
    return f'{cls.__module__} ({os.path.basename(filename)}), line {line}'
