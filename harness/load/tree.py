"""A submission's files as the grader touches them (often as root): never through a link, only
regular files, never more than a submission may hold.

One walk serves every path: the copy each worker gets (``copy``, at every isolation level and in
the warm template) and the batch's fingerprint, so what is hashed is what is graded, and a link
to ``/etc/shadow``, ``/proc/self/mem`` or a fifo is refused before anything opens it.
"""
import enum
import hashlib
import os
import shutil
import stat
import subprocess
from typing import NamedTuple

from micrograde.model.names import shown  # a name as every report shows it (also cells.py's)
from micrograde.worker.load.archives import MAX_DEPTH, ZIP_FILES, ZIP_LIMIT, too_deep
from micrograde.worker.load.errors import LoadError

#: A folder may hold what a zip may unpack to: one limit for both.
MAX_FILES, MAX_BYTES = ZIP_FILES, ZIP_LIMIT
#: Where a link may never lead: the kernel's files and devices (``/proc/self/mem``, fifos' kin).
SYSTEM = ('/proc', '/sys', '/dev')


class Kind(enum.Enum):
    FOLDER = 'folder'
    FILE = 'file'
    LINK = 'link'


class Entry(NamedTuple):
    rel: str  # path under the submission; '' for the submission itself
    kind: Kind
    st: os.stat_result
    target: str = ''  # a link's text


def walk(path):
    """Every entry of the submission at ``path`` (itself first, folders before what they hold,
    names sorted), from ``lstat`` alone.  Raises ``LoadError`` for what a submission may not
    hold: a device, fifo or socket, a link to ``/proc``, ``/sys`` or ``/dev``, a hard link to a
    file only its owner may read, more than ``MAX_FILES`` entries or ``MAX_BYTES`` bytes, an
    entry more than ``MAX_DEPTH`` folders down; and
    for a submission that is itself a link (the grader would read what it points to)."""
    name = os.path.basename(os.path.abspath(path))
    entries, total, todo = [], 0, ['']
    while todo:
        rel = todo.pop()
        full = os.path.join(path, rel) if rel else path
        try:
            st = os.lstat(full)
            target = os.readlink(full) if stat.S_ISLNK(st.st_mode) else ''
        except OSError as e:
            raise LoadError(f'{shown(rel or name)} could not be read ({e.strerror}).') from None
        if rel.count(os.sep) >= MAX_DEPTH:
            raise too_deep(shown(name))
        entry = _entry(rel, name, full, st, target)
        entries.append(entry)
        total += st.st_size if entry.kind is Kind.FILE else 0
        if len(entries) > MAX_FILES or total > MAX_BYTES:
            raise LoadError(f'{shown(name)} is too large to grade (over {MAX_FILES} files or '
                            f'{MAX_BYTES >> 20} MB).')
        if entry.kind is Kind.FOLDER:
            try:
                names = sorted(os.listdir(full), reverse=True)
            except OSError as e:
                raise LoadError(f'{shown(rel or name)} could not be read ({e.strerror}).') from None
            todo += [os.path.join(rel, n) for n in names]
    return entries


def digest(path):
    """A hash of what the worker's copy of the submission at ``path`` would hold (``walk``:
    regular files' bytes and links' texts, never followed), or of why it is refused: the same
    content, wherever it lies and whatever it is named, gives the same digest."""
    h = hashlib.sha256()
    try:
        for entry in walk(path):
            h.update(os.fsencode(entry.rel) + b'\0' + entry.kind.value.encode() + b'\0')
            if entry.kind is Kind.FILE:
                data = read(os.path.join(path, entry.rel) if entry.rel else path, entry)
                h.update(b'%d\0' % len(data) + data)
            h.update(os.fsencode(entry.target) + b'\0')
    except LoadError as e:
        h.update(b'refused\0' + str(e).encode())
    return h.hexdigest()


def _entry(rel, name, full, st, target):
    mode, where = st.st_mode, shown(rel or name)
    if stat.S_ISDIR(mode):
        return Entry(rel, Kind.FOLDER, st)
    if stat.S_ISREG(mode):
        if st.st_nlink > 1 and not mode & stat.S_IROTH:
            raise LoadError(f'{where} is a hard link to a file only its owner may read: '
                            f'submit a copy of the file instead.')
        return Entry(rel, Kind.FILE, st)
    if stat.S_ISLNK(mode) and rel:
        leads = os.path.normpath(os.path.join(os.path.dirname(full), target))
        if any(leads == s or leads.startswith(s + '/') for s in SYSTEM):
            raise LoadError(f'{where} is a link to {shown(leads)}: a submission holds files, '
                            f'folders and links between them, nothing of the system.')
        return Entry(rel, Kind.LINK, st, target)
    what = ('a symbolic link: grade the file it points to' if stat.S_ISLNK(mode) else
            'a named pipe' if stat.S_ISFIFO(mode) else 'a socket' if stat.S_ISSOCK(mode) else
            'a device')
    raise LoadError(f'{where} is {what}, not a file or folder.')


def read(path, entry, limit=MAX_BYTES):
    """The bytes of the regular file ``entry`` of a walk, at most ``limit``: opened without
    following a link or blocking, and refused if it is no longer the file the walk saw."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise LoadError(f'{shown(entry.rel)} could not be read ({e.strerror}).') from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != (entry.st.st_dev, entry.st.st_ino):
            raise LoadError(f'{shown(entry.rel)} changed while it was read.')
        chunks, left = [], min(st.st_size, limit)
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b''.join(chunks)
    finally:
        os.close(fd)


def copy(src, target, group=None):
    """Copy the submission at ``src`` to ``target`` (which must not exist): its folders and
    regular files, and its links as links, except those that lead out of the copy (left out:
    they would show the grader's files, or another submission's).  With ``group`` the copy is
    the grader's, readable by that group only (a job reads it and writes nothing there), else
    readable by all."""
    entries = walk(src)
    modes = (0o750, 0o640) if group is not None else (0o755, 0o644)
    links = []
    for entry in entries:
        dest = os.path.join(target, entry.rel) if entry.rel else target
        if entry.kind is Kind.FOLDER:
            os.mkdir(dest, modes[0])
        elif entry.kind is Kind.FILE:
            data = read(os.path.join(src, entry.rel) if entry.rel else src, entry)
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, modes[1])
            with open(fd, 'wb') as f:
                f.write(data)
        elif not os.path.normpath(os.path.join(os.path.dirname(entry.rel), entry.target)).startswith(
                ('..', '/')):
            os.symlink(entry.target, dest)
            links.append(dest)
        if entry.kind is not Kind.LINK:
            os.chmod(dest, modes[entry.kind is Kind.FILE])  # whatever the umask
            if group is not None:
                os.chown(dest, -1, group)
    root = os.path.realpath(target)
    leaving = [link for link in links
               if not (os.path.realpath(link) + '/').startswith(root + '/')]
    for link in leaving:  # through another link (``b -> .``, ``c -> b/..``): out as well
        os.unlink(link)


def remove(path):
    """Delete a scratch folder and whatever a submission left in it, errors ignored.
    ``shutil.rmtree`` recurses once per folder level, and a worker may nest its scratch deeper
    than Python's recursion limit (``RecursionError``, which ``ignore_errors`` lets through):
    such a tree is left to ``rm``, which walks it by descriptors, never through a link."""
    try:
        shutil.rmtree(path, ignore_errors=True)
    except RecursionError:
        _run('rm', '-rf', '--one-file-system', '--', str(path))
    if os.path.lexists(path):  # a folder the worker made unreadable (mode 000): an unprivileged
        # grader may not list it; chmod -R makes each one ours to list, following no link
        _run('chmod', '-R', 'u+rwx', '--', str(path))
        _run('rm', '-rf', '--one-file-system', '--', str(path))


def _run(*argv):
    subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False, timeout=REMOVE_TIMEOUT)


REMOVE_TIMEOUT = 120.0  # seconds for rm: a scratch folder is bounded by the worker's disk limit
