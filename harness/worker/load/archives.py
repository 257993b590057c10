"""Zip archives: unpacked safely into the scratch folder, then loaded like what they hold."""
import errno
import os
import zipfile

from .errors import LoadError
from .formats import holds

ZIP_LIMIT = 200 * 2**20
ZIP_FILES = 10_000
#: Folders a submission (a folder or a zip) may nest: what walks it recursively (os.walk,
#: shutil.rmtree, os.makedirs) then stays far from Python's recursion limit (a folder 1500 deep
#: was a grader's RecursionError); learners' projects nest a few.
MAX_DEPTH = 64


def opened(path, name):
    """The zip at ``path`` opened, once its end record says it lists at most ``ZIP_FILES``
    entries: ``zipfile`` reads every entry of the central directory into an object (~0.5 KB
    each), and 200 MB of entries would be 2 GB of the reader's memory before any count."""
    with open(path, 'rb') as f:
        end = zipfile._EndRecData(f)  # the end record, zip64's included (what ZipFile reads)
        if end is not None and (end[zipfile._ECD_ENTRIES_TOTAL] > ZIP_FILES or
                                _entries(f, end) > ZIP_FILES):
            raise _too_large(name)
    return zipfile.ZipFile(path)


def _entries(f, end):
    """How many entries the central directory holds, at most: its headers' signatures, counted
    in C a megabyte at a time.  ``ZipFile`` reads every entry there, whatever the end record's
    count says (a 50 MB zip whose end record says 1 held 1 000 000: 19 s and 360 MB of the
    grader's before any count)."""
    size, start = end[zipfile._ECD_SIZE], end[zipfile._ECD_LOCATION] - end[zipfile._ECD_SIZE]
    if end[zipfile._ECD_SIGNATURE] == zipfile.stringEndArchive64:
        start -= zipfile.sizeEndCentDir64 + zipfile.sizeEndCentDir64Locator
    f.seek(max(start, 0))
    count, tail = 0, b''
    while size > 0:
        chunk = f.read(min(size, 1 << 20))
        if not chunk:
            break
        size -= len(chunk)
        count += (tail + chunk).count(zipfile.stringCentralDir)
        tail = chunk[-3:]  # a signature across two chunks is counted once: 3 bytes hold none
    return count


def extract(path, target):
    """Unpack the zip at ``path`` into ``target`` safely: size and count limits, no paths that
    leave ``target``, no macOS/Jupyter junk.  Returns the top-level entries."""
    name = os.path.basename(path)
    try:
        with opened(path, name) as z:
            infos = unpacked(z, name)
            os.makedirs(target, exist_ok=True)
            for info in infos:
                parts = placed(info)
                if parts:
                    write(z, info, os.path.join(target, *parts))
    except LoadError:
        raise
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):  # the sandbox's bound on writes
            raise LoadError(f'{name} unpacks to more than a submission may write here: zip only '
                            f'the code and notebooks to grade.') from None
        raise LoadError(f'{name} is not a readable zip file ({_said(e)}).') from None
    except Exception as e:  # anything a hostile archive raises (encrypted: RuntimeError; an
        # unknown method: NotImplementedError; bad data: zlib.error) says it cannot be read
        raise LoadError(f'{name} is not a readable zip file ({_said(e)}).') from None
    return [e for e in sorted(os.listdir(target)) if not _junk(e)]


def placed(info):
    """The parts of an entry's path under the folder it is unpacked in, or ``None`` for one that
    names no path or leaves that folder (``..``)."""
    parts = [p for p in info.filename.replace('\\', '/').split('/') if p not in ('', '.')]
    return None if not parts or '..' in parts else parts


def write(z, info, dest):
    """Unpack one entry of ``z`` to ``dest``: a folder, or a file read up to its declared size
    (``unpacked`` checked it)."""
    if info.is_dir():
        os.makedirs(dest, exist_ok=True)
        return
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with z.open(info) as src, open(dest, 'wb') as out:
        out.write(src.read(info.file_size))


def _said(e):
    return str(e) if str(e).isprintable() else ascii(str(e))


def unpacked(z, name):
    """The entries of the zip ``z`` (named ``name``) that are unpacked, checked by their declared
    sizes before any is inflated (each is then read up to its own): the worker's unpacking and
    the grader's reading of a zip's notebooks (``load/cells.py``) are held to these limits."""
    infos = [i for i in z.infolist() if not _junk(i.filename)]
    if len(infos) > ZIP_FILES or sum(i.file_size for i in infos) > ZIP_LIMIT:
        raise _too_large(name)
    if any(i.filename.replace('\\', '/').strip('/').count('/') > MAX_DEPTH for i in infos):
        raise too_deep(name)
    return infos


def too_deep(name):
    return LoadError(f'{name} nests folders more than {MAX_DEPTH} deep: submit the folder that '
                     f'holds your code, its files at most {MAX_DEPTH} folders down.')


def _too_large(name):
    return LoadError(f'{name} is too large to grade (over {ZIP_FILES} files or '
                     f'{ZIP_LIMIT >> 20} MB unpacked).')


def unpack(path, scratch):
    """``(what to load, folder it was unpacked into)`` for the zip at ``path``."""
    name = os.path.basename(path)
    target = os.path.join(scratch, 'unzipped')
    top = extract(path, target)
    if not top:
        raise LoadError(f'{name} is empty: zip the file or folder that defines your Value class.')
    gradable = [f for _, _, files in os.walk(target) for f in files if holds(f)]
    if not gradable:
        raise LoadError(f'{name} holds no .py file, notebook or package to grade.')
    return (os.path.join(target, top[0]) if len(top) == 1 else target), target


def _junk(filename):
    return filename.startswith('__MACOSX') or os.path.basename(filename.rstrip('/')) in (
        '.DS_Store', '.ipynb_checkpoints', '__pycache__')
