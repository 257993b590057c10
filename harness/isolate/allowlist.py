"""What a worker may import: the standard library and the rubric's course libraries, nothing else.

The grader's own package (``micrograde``, with ``micrograde.reference``) and every other installed distribution
(``micrograd`` and any other autograd engine) must be out of reach whatever the install method
(editable, wheel, PYTHONPATH, system site-packages).  So the worker starts Python without
``site`` (``-S``) and its only import folder besides the stdlib is a *view*: one entry per
top-level file or folder of an allowed distribution (and of the dependencies it needs, computed
from the installed metadata), plus the worker package as ``mgworker``.  The view is a folder of
symlinks for the process levels and a set of bind mounts under bubblewrap.  Reading the real
site-packages by path is then prevented by the isolation level (bubblewrap mounts an empty
folder over every site folder; Landlock grants reads only to ``readable()``); at the bare
process level it is not (the report says so).
"""
import atexit
import csv
import functools
import glob
import os
import re
import shutil
import site
import sys
import sysconfig
import tempfile
from importlib import metadata, util
from pathlib import Path

#: What a submission may import besides the standard library (with what those need); a rubric
#: may name others.
ALLOWED_IMPORTS = ('numpy', 'matplotlib', 'graphviz')
#: Libraries that compute gradients: the answer key to what is graded.  Never importable (not
#: even as what an allowed library needs) unless the rubric's ``allowed_imports`` names one; the
#: report then lists the ``answer-key`` protection as given up.
ANSWER_KEY_LIBRARIES = ('torch', 'jax', 'jaxlib', 'tensorflow', 'keras', 'autograd', 'micrograd',
                        'tinygrad', 'mxnet', 'paddle', 'mlx')
#: Never importable by a submission, whatever the rubric or ``--module`` says.
OWN_DISTRIBUTION = 'micrograde'
OWN_PACKAGES = ('micrograde', 'micrograde.reference')
WORKER_PACKAGE = Path(__file__).resolve().parents[1] / 'worker'
WORKER_NAME = 'mgworker'


def _key(name):
    return re.sub(r'[-_.]+', '-', name).lower()


def _requirement_names(dist):
    """Names of the distributions ``dist`` needs, its extras' left out.  Other markers (a Python
    version, a platform) are not evaluated: what one names is exposed only if it is installed,
    which changes no grade, while evaluating them (packaging's import and parser, ~40 ms) held
    up every cold grade's worker."""
    for req in dist.requires or ():
        name, _, marker = req.partition(';')
        if 'extra' not in marker:
            yield re.match(r'\s*([A-Za-z0-9._-]*)', name).group(1)


def closure(names):
    """The installed distributions named, and those they depend on, transitively; an
    answer-key library (``ANSWER_KEY_LIBRARIES``) only where it is named itself."""
    named = {_key(n) for n in names}
    refused = {_key(k) for k in ANSWER_KEY_LIBRARIES} - named
    found, todo = {}, list(names)
    while todo:
        key = _key(todo.pop())
        if key in found or key == OWN_DISTRIBUTION or key in refused:
            continue
        try:
            dist = metadata.distribution(key)
        except metadata.PackageNotFoundError:
            continue
        found[key] = dist
        todo.extend(_requirement_names(dist))
    return list(found.values())


def _dist_entries(dist):
    """The top-level files and folders a distribution installed into its site folder."""
    base = Path(dist.locate_file('')).resolve()
    tops = set(_tops(dist))
    tops = {t for t in tops if t not in ('..', '__pycache__', '') and not t.endswith('.pth')}
    info = getattr(dist, '_path', None)  # the .dist-info folder: version() works in the worker
    if info is not None:
        tops.add(Path(info).name)
    return {top: base / top for top in tops if (base / top).exists()}


def _tops(dist):
    """The first part of each path a distribution installed.  Read from its RECORD as text:
    ``dist.files`` makes a path object of each of torch's ~30,000 files, a quarter of a second
    on the way to every cold grade."""
    record = dist.read_text('RECORD')
    if record is None:
        return [Path(f).parts[0] for f in dist.files or () if Path(f).parts]
    return [row[0].split('/', 1)[0] for row in csv.reader(record.splitlines()) if row]


def _module_entries(name):
    """The top-level package or module ``name`` is imported from (``--module``), found as the
    grader itself would import it."""
    top = name.partition('.')[0]
    if top in OWN_PACKAGES:
        return {}
    try:
        spec = util.find_spec(top)
    except (ImportError, ValueError):
        return {}
    if spec is None:
        return {}
    if spec.submodule_search_locations:
        return {top: Path(next(iter(spec.submodule_search_locations))).resolve()}
    if spec.origin and os.path.isfile(spec.origin):
        return {os.path.basename(spec.origin): Path(spec.origin).resolve()}
    return {}


@functools.cache
def entries(allowed, modules=()):
    """``{name in the view: real path}`` of everything importable besides the stdlib."""
    out = {}
    dists = closure(allowed)
    providers = metadata.packages_distributions() if modules else {}
    for module in modules:
        dists += closure(providers.get(module.partition('.')[0], []))
    for dist in dists:
        out.update(_dist_entries(dist))
    for module in modules:
        out.update(_module_entries(module))
    for name in list(out):
        if name.split('.')[0] in OWN_PACKAGES or _key(name).startswith(OWN_DISTRIBUTION + '-'):
            del out[name]
    out[WORKER_NAME] = worker_sources()
    return out


def own_folder(kind):
    """A fresh folder of this process's in the temporary folder, ``micrograde-<kind>-<pid>-*``,
    removed at its exit by whoever made it (``atexit``, ``close``).  A process killed outright
    (the host's out-of-memory killer, a CI job's timeout, a service worker exiting as its run
    gives way) removes none: the first folder of a kind a process makes removes those of that
    kind its owner's processes left (``sweep``)."""
    if (os.getpid(), kind) not in _swept:
        _swept.add((os.getpid(), kind))
        sweep(kind)
    return Path(tempfile.mkdtemp(prefix=f'micrograde-{kind}-{os.getpid()}-'))


_swept = set()  # (pid, kind): a forked child sweeps again, as a fresh process would


def sweep(kind):
    """Remove the folders ``micrograde-<kind>-<pid>-*`` of the temporary folder that are this
    user's and whose process is gone (a pid taken again keeps its folder: never a live
    process's is removed)."""
    top, prefix = tempfile.gettempdir(), f'micrograde-{kind}-'
    try:
        names = os.listdir(top)
    except OSError:
        return
    for name in names:
        pid = name[len(prefix):].split('-', 1)[0]
        if not name.startswith(prefix) or not pid.isdigit():
            continue
        path = os.path.join(top, name)
        try:
            if os.lstat(path).st_uid != os.geteuid() or not os.path.isdir(path) or \
                    os.path.islink(path):
                continue
            os.kill(int(pid), 0)
            if not _zombie(pid):
                continue
        except ProcessLookupError:
            pass
        except (OSError, OverflowError):  # another user's live process, or gone meanwhile
            continue
        try:
            shutil.rmtree(path, ignore_errors=True)
        except RecursionError:  # nested past Python's depth: left as it is
            pass


def _zombie(pid):
    """Whether process ``pid`` has exited and waits to be reaped: a grader killed outright whose
    parent died with it is re-parented to the host's first process, which may take its time
    (a container's): it holds no folder any more."""
    try:
        with open(f'/proc/{pid}/stat', 'rb') as f:
            return f.read(4096).rpartition(b')')[2].split()[:1] == [b'Z']
    except OSError:
        return False


@functools.cache
def worker_sources():
    """A copy of the worker package with its sources only, made once per grading process.

    Whether ``__pycache__`` files exist in the grader's tree depends on what ran there before;
    a worker that reads them in one run and compiles the sources in another lays out its memory
    differently, which changes the set order of a learner's engine and so its report.  Compiled
    afresh every time (a few ms), a grade is the same in every checkout."""
    folder = own_folder('worker')
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    target = folder / WORKER_NAME
    shutil.copytree(WORKER_PACKAGE, target, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
    for path in (folder, *folder.rglob('*')):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return target


@functools.cache
def view(allowed, modules=()):
    """A folder of symlinks to ``entries()``: the worker's whole import path besides the stdlib.

    Owned by the grader and read-only to anyone else; one per grading process and allow-list."""
    folder = own_folder('view')
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    for name, target in entries(allowed, modules).items():
        (folder / name).symlink_to(target)
    os.chmod(folder, 0o755)
    return folder


def stdlib():
    """The standard library's folders (site folders inside them are hidden separately)."""
    paths = sysconfig.get_paths()
    found = {paths['stdlib'], paths['platstdlib'], os.path.join(paths['platstdlib'], 'lib-dynload')}
    found |= {p for p in sys.path if p.endswith(('.zip', 'lib-dynload'))}
    return sorted({os.path.realpath(p) for p in found if os.path.exists(p)})


@functools.cache
def hidden():
    """Folders the worker must not see: every site folder of every Python on this machine that
    we know of, and the grader's own packages wherever they live."""
    found = set(site.getsitepackages()) | {site.getusersitepackages()}
    found |= {p for p in sys.path if p and os.path.basename(p) in ('site-packages', 'dist-packages')}
    for root in ('/usr', '/usr/local', sys.prefix, sys.base_prefix, sys.exec_prefix):
        for pattern in ('lib*/python3*/site-packages', 'lib*/python3*/dist-packages',
                        'lib/python3/dist-packages'):
            found |= set(glob.glob(os.path.join(root, pattern)))
    for name in OWN_PACKAGES:
        spec = util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            found |= set(spec.submodule_search_locations)
    found = {os.path.realpath(p) for p in found if os.path.isdir(p)}
    return tuple(sorted(p for p in found if not any(within(p, q) for q in found if q != p)))


def readable(roots, hide=None):
    """``roots`` with every folder of ``hide`` carved out: the paths to grant under Landlock,
    which can only allow (the carved folders' siblings are granted one by one)."""
    hide = hidden() if hide is None else hide
    out = []
    for root in roots:
        root = os.path.realpath(root)
        if not os.path.exists(root) or any(within(root, h) for h in hide):
            continue
        if not any(within(h, root) for h in hide):
            out.append(root)
            continue
        try:
            children = sorted(os.listdir(root))
        except OSError:
            continue
        out += readable([os.path.join(root, c) for c in children], hide)
    return out


def within(path, folder):
    return path == folder or path.startswith(folder.rstrip('/') + '/')
