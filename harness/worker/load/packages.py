"""Folders and installed modules: a package importable by its own name, or a folder of modules
(and notebooks, where a folder holds nothing else)."""
import ast
import collections
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import pkgutil
import re
import sys

from .errors import LoadError, explain
from .files import source
from .notebooks import load_notebook

_SKIP_FILES = re.compile(r'^(setup|conftest|test_.*|.*_test)\.py$')


def _import(name, label, root=None, answer_keys=()):
    try:
        return importlib.import_module(name)
    except BaseException as e:
        raise LoadError(explain(e, label, root=root, answer_keys=answer_keys)) from None


def _add_package(pkg, loaded):
    loaded.namespaces.append((pkg.__name__, vars(pkg)))
    _add_modules(pkg, loaded, set())


def _add_modules(pkg, loaded, seen):
    """Every module under ``pkg``, in the order of their names, as Python imports them: pkgutil
    lists modules and packages with an ``__init__.py``, and a subfolder of modules without one
    (``lib/backend/value.py``) is a namespace package Python imports as well.  A folder already
    searched (``seen``, by its real path: a link ``here -> .``) is not searched again."""
    folders = [f for f in getattr(pkg, '__path__', []) if os.path.realpath(f) not in seen]
    seen.update(map(os.path.realpath, folders))
    listed = {info.name: info for info in pkgutil.iter_modules(folders, pkg.__name__ + '.')}
    spaces = {f'{pkg.__name__}.{os.path.basename(p)}': None for folder in folders
              for p in _entries(folder) if _is_namespace(p)}
    for name, info in sorted({**spaces, **listed}.items()):
        try:
            sub = importlib.import_module(name)
        except BaseException as e:
            loaded.fail(f'module {name}', explain(e, name, root=loaded.root,
                                                  answer_keys=loaded.answer_keys),
                        _source(info) if info else '')
            continue
        loaded.namespaces.append((name, vars(sub)))
        if info is None or info.ispkg:
            _add_modules(sub, loaded, seen)


def _entries(folder):
    try:
        return [os.path.join(folder, e) for e in os.listdir(folder)]
    except OSError:  # not a folder (a zip import)
        return []


def _source(info):
    """The source of a module that failed to import, for naming it as a cause (or ``''``)."""
    try:
        return _text(info.module_finder.find_spec(info.name).origin)
    except Exception:
        return ''


def _text(path):
    try:
        return source(path)
    except (OSError, LoadError):
        return ''


def _self_name(path, name):
    """The name a package folder imports itself by: a folder renamed from ``micrograd`` still
    says ``from micrograd.engine import Value`` (and an installed micrograd must not answer)."""
    return _imported_as(path) or (name if name.isidentifier() else 'submission')


def _imported_as(path):
    """The package name the folder's own modules import it by (``from autograd.engine import``
    inside ``autograd/``); ``''`` when they import each other only relatively (``from .engine
    import``, which only a package's modules can: a folder without ``__init__.py`` is then a
    namespace package); ``None`` when they do neither."""
    own = {os.path.splitext(e)[0] for e in os.listdir(path)
           if e.endswith('.py') or os.path.isdir(os.path.join(path, e))}
    votes, relative = collections.Counter(), False
    for folder, _, files in os.walk(path):
        # a relative import reaches this folder from as deep as its dots go: `from .nn import`
        # in src/nanograd/ makes src/nanograd a package, not the folder holding src/
        depth = 0 if folder == path else os.path.relpath(folder, path).count(os.sep) + 1
        for f in files:
            if not f.endswith('.py'):
                continue
            try:
                tree = ast.parse(source(os.path.join(folder, f)))
            except (SyntaxError, ValueError, LoadError):
                continue
            for node in ast.walk(tree):
                relative = relative or isinstance(node, ast.ImportFrom) and node.level > depth
                names = [node.module] if isinstance(node, ast.ImportFrom) and not node.level else (
                    [a.name for a in node.names] if isinstance(node, ast.Import) else [])
                for dotted in filter(None, names):
                    root, _, rest = dotted.partition('.')
                    first = rest.split('.')[0]
                    # `from util.util import` beside a subpackage util/ holding util.py imports
                    # that subpackage, as run from the folder: not the folder by its own name
                    if rest and first in own and not _holds(os.path.join(path, root), first):
                        votes[root] += 1
    return votes.most_common(1)[0][0] if votes else '' if relative else None


def _holds(folder, name):
    """Whether ``folder`` (a subfolder of the one graded) holds a module or package ``name``."""
    return os.path.isfile(os.path.join(folder, f'{name}.py')) or \
        os.path.isdir(os.path.join(folder, name))


class _Siblings(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Lets a package's modules import each other by their own names (``from autograd import
    Value`` inside a package holding ``autograd.py``), as they did when run from its folder: the
    name is the package's own module (``pkg.autograd``), not a second copy with its own classes.
    The package's own name stays the package's (a module named as its folder, micrograd/
    micrograd.py, is ``micrograd.micrograd``): taking it for that module imported it without end."""

    def __init__(self, package, path):
        self.package = package
        self.names = {os.path.splitext(e)[0] for e in os.listdir(path)
                      if (e.endswith('.py') or os.path.isfile(os.path.join(path, e, '__init__.py')))
                      and e != '__init__.py'}

    def find_spec(self, name, path=None, target=None):
        top = name.split('.')[0]
        if top in self.names and top != self.package and top not in sys.stdlib_module_names:
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(f'{self.package}.{spec.name}')

    def exec_module(self, module):
        pass  # already run, as the package's own


def _import_as(alias, path, root, answer_keys=()):
    """Import the package folder ``path`` under the name ``alias`` (a namespace package when it
    has no ``__init__.py``)."""
    init = os.path.join(path, '__init__.py')
    if os.path.exists(init):
        spec = importlib.util.spec_from_file_location(alias, init,
                                                      submodule_search_locations=[path])
    else:
        spec = importlib.machinery.ModuleSpec(alias, None, is_package=True)
        spec.submodule_search_locations = [path]
    module = importlib.util.module_from_spec(spec)
    sys.modules[alias] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as e:
        raise LoadError(explain(e, alias, root=root, answer_keys=answer_keys)) from None
    return module


def load_module(name, loaded):
    """An installed module (``--module``), with its submodules."""
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise LoadError(f'no installed module named {name!r}.')
    if spec.origin and os.path.isabs(spec.origin):  # its files shown as a folder's: engine.py
        top = os.path.dirname(spec.origin) if spec.submodule_search_locations else spec.origin
        loaded.root = os.path.dirname(top)
        loaded.submission = top
    _add_package(_import(name, name), loaded)


def load_folder(path, loaded, cell_timeout):
    path = os.path.abspath(path)
    name = os.path.basename(path)
    package = os.path.exists(os.path.join(path, '__init__.py'))
    if package or _imported_as(path) is not None:  # its modules import it: a (namespace) package
        alias = _self_name(path, name)
        sys.meta_path.insert(0, _Siblings(alias, path))
        if package and alias == name:
            sys.path.insert(0, os.path.dirname(path))
            return _add_package(_import(name, name, loaded.root, loaded.answer_keys), loaded)
        return _add_package(_import_as(alias, path, loaded.root, loaded.answer_keys), loaded)
    entries = sorted(os.listdir(path))
    modules = [e[:-3] for e in entries if e.endswith('.py') and not _SKIP_FILES.match(e)
               and e[:-3].isidentifier()]
    packages = [e for e in entries if _is_package(os.path.join(path, e))]
    notebook = folder_notebook(entries)
    notebooks = [e for e in entries if e.endswith('.ipynb')]
    if not modules and not packages:
        if notebook:
            if len(notebooks) > 1:
                others = ', '.join(e for e in notebooks if e != notebook)
                loaded.warnings.append(
                    f'{len(notebooks)} notebooks found; graded {notebook}, the last by name, not '
                    f'{others}: hand in only the notebook to grade, or grade it by its path.')
            return load_notebook(os.path.join(path, notebook), loaded, cell_timeout)
        raise LoadError(f'{name} holds no .py file, notebook or package to grade.')
    if notebooks:  # a folder of modules is graded by its modules: say the notebooks were not run
        shown = ', '.join(notebooks[:3]) + (f' and {len(notebooks) - 3} more' if len(notebooks) > 3 else '')
        loaded.warnings.append(
            f'{shown} not run: a folder that holds .py modules is graded by its modules '
            f'({", ".join(packages + [m + ".py" for m in modules][:3])}'
            f'{"…" if len(packages) + len(modules) > 3 else ""}); to grade a notebook, grade '
            f'it by its path.')
    sys.path.insert(0, path)
    for mod in packages + modules:
        label = mod + ('' if mod in packages else '.py')
        try:
            imported = _import(mod, label, loaded.root, loaded.answer_keys)
        except LoadError as e:
            file = os.path.join(path, mod, '__init__.py') if mod in packages else os.path.join(path, label)
            loaded.fail(label, str(e), _text(file))
            continue
        if mod in packages:
            _add_package(imported, loaded)
        else:
            loaded.namespaces.append((label, vars(imported)))


def folder_notebook(names):
    """The notebook, of a folder's entry ``names``, that grades a folder holding no module or
    package: the last by name (the grader names it in the report, ``grader/lines.py``)."""
    return max((n for n in names if n.endswith('.ipynb')), default=None)


def _is_package(path):
    """A folder of modules importable by its name: with an ``__init__.py``, or without one (a
    namespace package, as learners' repositories often have) holding ``.py`` files itself."""
    return os.path.isfile(os.path.join(path, '__init__.py')) and _importable(path) or \
        _is_namespace(path)


def _is_namespace(path, depth=3):
    """A folder without ``__init__.py`` that holds modules, or a package of its own (``src/``
    holding ``src/nanograd/``, imported as ``src.nanograd``): a namespace package.  Looked into
    ``depth`` folders deep at most."""
    if not _importable(path) or os.path.isfile(os.path.join(path, '__init__.py')):
        return False
    entries = os.listdir(path)
    return any(e.endswith('.py') and not _SKIP_FILES.match(e) for e in entries) or depth > 1 and \
        any(os.path.isfile(os.path.join(path, e, '__init__.py')) and _importable(os.path.join(path, e))
            or _is_namespace(os.path.join(path, e), depth - 1) for e in entries
            if os.path.isdir(os.path.join(path, e)))


def _importable(path):
    name = os.path.basename(path)
    return os.path.isdir(path) and name.isidentifier() and not name.startswith('_')
