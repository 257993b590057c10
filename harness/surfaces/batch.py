"""Grade a whole class: many submissions in parallel, resumable, with a gradebook CSV.

Each grading process works out the fixed graphs' oracle answers once (``grading.prepare``, from
the shipped store: ``micrograde.oracle.oracles``), then grades submission after submission.  A submission whose content, rubric, seed, profile and grader
version are unchanged since the last run keeps its report.
"""
import dataclasses
import enum
import errno
import hashlib
import itertools
import os
import shutil
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing import get_context
from multiprocessing.connection import wait
from pathlib import Path

from micrograde import __version__
from micrograde.isolate import allowlist, sandbox
from micrograde.grader.grading import not_graded, safe_grade
from micrograde.load import tree
from micrograde.model import names
from micrograde.reporters import (FILENAMES, classpage, gradebook, json_report, write,
                                  write_reports)
from micrograde.isolate.warm import WarmTemplate
from micrograde.worker.load import LoadError
from micrograde.worker.load import formats
from micrograde.worker.load import archives
from micrograde.worker.load.archives import opened, unpacked

GRADABLE = formats.suffixes()
#: What a batch writes beside the submissions' report folders: no report folder takes one of
#: these names.
CLASS_PAGE = 'index.html'
RESERVED = (*(name for name, *_ in gradebook.FORMATS.values()), CLASS_PAGE)
#: The longest name a folder may have, in bytes (NAME_MAX of Linux's and macOS's file systems).
NAME_MAX = 255
#: Folders tools leave beside submissions: Python's bytecode cache, macOS's zip metadata.
LEFTOVERS = frozenset({'__pycache__', '__MACOSX'})


class Skip(enum.StrEnum):
    """Why an entry of a class folder is not a submission (the batch's summary lists each)."""
    HIDDEN = 'hidden (the name starts with ".")'
    LEFTOVER = "a tool's leftovers (Python's cache, macOS's zip metadata)"
    OUTPUT = "holds this batch's own reports (--out)"
    FORMAT = f'not a file micrograde grades ({", ".join(GRADABLE)} or a folder)'


class Rename(enum.StrEnum):
    """Why a submission's reports are not in a folder of its own name."""
    SHARED = 'another submission has that name'
    RESERVED = 'a class-level output has that name'
    LONG = 'the name is too long for a folder'


@dataclass
class Found:
    """What ``discover`` found: ``submissions`` ``[(id, path)]`` (``id``: the name of its report
    folder, unique), ``renamed`` ``[(where, id, Rename)]`` and ``skipped`` ``[(where, Skip)]``,
    ``where`` an entry's folder and name as reports show them."""
    submissions: list = field(default_factory=list)
    renamed: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    refused: dict = field(default_factory=dict)  # id -> why a class zip's entry is not graded


def discover(paths, unpack_to, out=None):
    """``Found``: one submission per file or sub-folder of each folder or zip given, or the file
    given; an entry is skipped only for a ``Skip`` reason, and said.  A class zip's entry that
    cannot be unpacked here (``unpack_class``) is a submission all the same, ``refused``."""
    entries, found, refused, paths = [], Found(), {}, list(paths)
    out = None if out is None else Path(out).resolve()
    for k, root in enumerate(map(Path, paths)):
        try:
            named, lost = formats.named(root.name), []
            if root.is_file() and named and named.kind is formats.Kind.ARCHIVE:
                # two zips of one name each their own folder
                root, lost = _class_zip(root, Path(unpack_to, str(k), root.stem), found, refused)
            if out is not None and root.is_dir() and root.resolve() == out:
                raise ValueError(f'{names.shown(root)} is both graded and the --out folder: give '
                                 f'--out another folder')
            if root.is_dir():
                for entry in sorted([*root.iterdir(), *lost]):
                    why = None if entry in refused else skipped(entry, out)
                    if why is None:
                        entries.append(entry)
                    else:
                        found.skipped.append((where(entry), why))
            elif root.exists():
                entries.append(root)
            else:
                raise ValueError(f'{names.shown(root)}: no such file or folder')
        except OSError as e:  # a folder or zip this grader may not read: said, no traceback
            raise ValueError(f'{names.shown(paths[k])} could not be read '
                             f'({e.strerror or type(e).__name__})') from None
    for entry, (sub_id, why) in zip(entries, allocate([names.shown(e.name) for e in entries])):
        found.submissions.append((sub_id, entry))
        if entry in refused:
            found.refused[sub_id] = refused[entry]
        if why is not None:
            found.renamed.append((where(entry), sub_id, why))
    return found


def _class_zip(path, target, found, refused):
    """``(target, its entries that could not be unpacked)``: the class zip at ``path`` unpacked
    into ``target`` (``unpack_class``); each entry it could not unpack gets why in ``refused``,
    or is skipped in ``found`` (hidden, a tool's leftovers) as an unpacked one would be."""
    try:
        failed = unpack_class(str(path), str(target))
    except LoadError as e:
        raise ValueError(str(e)) from None
    lost = []
    for top, why in failed.items():
        refused[Path(target, top)] = (f'not graded: {names.shown(top)} could not be unpacked '
                                      f'from {names.shown(path.name)} here ({why}); unpack the '
                                      f'class elsewhere, or grade this submission alone.')
        if top.startswith('.'):
            found.skipped.append((where(Path(target, top)), Skip.HIDDEN))
        elif top in LEFTOVERS:
            found.skipped.append((where(Path(target, top)), Skip.LEFTOVER))
        else:
            lost.append(Path(target, top))
    return target, lost


#: What a disk too full raises: then no entry of a class zip could be unpacked.
FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def unpack_class(path, target):
    """Unpack the class zip at ``path`` into ``target`` as the worker unpacks a zip
    (``archives.extract``: its limits, no path out of ``target``, no junk), but one submission
    (a top-level entry) at a time: an entry this file system cannot hold (a name over 255 bytes,
    a file where another entry needs a folder) costs its own submission, never the class.
    Returns ``{top-level name: why it could not be unpacked}``; ``LoadError`` for a zip that
    cannot be read at all, or a disk too full to hold it, in words that name no folder of the
    grader's."""
    name = names.shown(os.path.basename(path))
    failed = {}
    try:
        with opened(path, name) as z:
            infos = unpacked(z, name)
            os.makedirs(target, exist_ok=True)
            for info in infos:
                parts = archives.placed(info)
                if not parts or parts[0] in failed:
                    continue
                try:
                    archives.write(z, info, os.path.join(target, *parts))
                except OSError as e:
                    if e.errno in FULL:
                        raise
                    failed[parts[0]] = e.strerror or type(e).__name__
                    tree.remove(os.path.join(target, parts[0]))
    except LoadError:
        raise
    except OSError as e:  # the batch's own disk: said without its folder's name
        raise LoadError(f'{name} could not be unpacked here ({e.strerror or type(e).__name__}).') \
            from None
    except Exception as e:  # anything a hostile archive raises (encrypted: RuntimeError; an
        # unknown method: NotImplementedError; bad data: zlib.error) says it cannot be read
        said = str(e) if str(e).isprintable() else ascii(str(e))
        raise LoadError(f'{name} is not a readable zip file ({said}).') from None
    return failed


def skipped(entry, out=None):
    """Why ``entry`` of a class folder is no submission (a ``Skip``), or ``None``: a folder, a
    file to grade and a link each get a report (a link or a fifo refused in it, never followed,
    never opened).  ``out``: the reports' folder, resolved."""
    if entry.name.startswith('.'):
        return Skip.HIDDEN
    if entry.name in LEFTOVERS:
        return Skip.LEFTOVER
    if entry.is_symlink():
        return None
    if entry.is_dir():
        holds_out = out is not None and out.is_relative_to(entry.resolve())
        return Skip.OUTPUT if holds_out else None
    return None if formats.named(entry.name) else Skip.FORMAT


def where(entry):
    """An entry as the batch's summary names it: its folder's name and its own, shown."""
    return names.shown(f'{entry.parent.name}/{entry.name}')


def allocate(wanted, reserved=RESERVED):
    """``[(id, Rename or None)]``: a report folder name for each of the names ``wanted``, in
    order, no two alike and none ``reserved``, compared as a case-insensitive file system
    (a Mac's) does.  A name no other shares, not reserved and short enough is kept; each other
    gets the first free ``-1``, ``-2`` … suffix, the name cut to fit."""
    count, barred = Counter(map(key, wanted)), set(map(key, reserved))

    def why(name):
        if key(name) in barred:
            return Rename.RESERVED
        if count[key(name)] > 1:
            return Rename.SHARED
        return Rename.LONG if len(name.encode()) > NAME_MAX else None

    reasons = [why(name) for name in wanted]
    taken = barred | {key(name) for name, r in zip(wanted, reasons) if r is None}
    ids = []
    for name, reason in zip(wanted, reasons):
        if reason is not None:
            name = next(n for n in (_fit(name, f'-{k}') for k in itertools.count(1))
                        if key(n) not in taken)
            taken.add(key(name))
        ids.append((name, reason))
    return ids


def make_room(path):
    """Before any grading, make sure a class-level output can be written at ``path``: a report
    folder an earlier micrograde gave a submission of that name is removed (the submission gets
    a folder of its own now); any other folder there is a ``ValueError``, said at once."""
    if path.is_symlink() or not path.is_dir():
        return  # nothing, or a file or link ``write`` replaces
    if {p.name for p in path.iterdir()} <= set(FILENAMES.values()):
        shutil.rmtree(path)
    else:
        raise ValueError(f'{names.shown(path)} is a folder: the batch writes its '
                         f'{path.name} there; move it or give --out another folder')


def placed(path):
    """Before any grading, make sure a submission's report folder can be made at ``path``: a
    file or a link there (``batch hw1/*.py --out hw1`` puts ``alice.py``'s reports where the
    file ``alice.py`` is) is a ``ValueError``, said at once, never followed nor written over."""
    if path.is_symlink() or path.exists() and not path.is_dir():
        kind = 'a link' if path.is_symlink() else 'a file'
        raise ValueError(f'{names.shown(path)} is {kind}: the batch writes the reports of '
                         f'{names.shown(path.name)} in a folder there; give --out another folder')


def key(name):
    """How a file system that ignores case and Unicode normalization (macOS's) compares names:
    Unicode's canonical caseless match, ``NFD(casefold(NFD(name)))``."""
    return unicodedata.normalize('NFD', unicodedata.normalize('NFD', name).casefold())


def _fit(name, suffix):
    """``name + suffix`` in at most ``NAME_MAX`` bytes: the name cut, never the suffix."""
    room = NAME_MAX - len(suffix.encode())
    return name.encode()[:room].decode('utf-8', 'ignore') + suffix


def fingerprint(path, config):
    """Hash of everything that decides a grade: what the worker's copy of the submission would
    hold (``tree.digest``), its name, the rubric, seed, course secret (``Config.course``),
    profile, version and the worker's settings (the class names, the time limits, the
    isolation level asked for, the resource limits): a class graded again with a longer
    ``--load-timeout`` or at another ``--isolation`` is graded, not kept."""
    h = hashlib.sha256()
    settings = dataclasses.replace(config.settings, classes=dict(sorted(config.settings.classes.items())))
    for part in (__version__, config.rubric.source, str(config.seed), config.course, config.profile,
                 repr(settings)):
        h.update(part.encode() + b'\0')
    h.update(os.fsencode(Path(path).name) + b'\0' + tree.digest(path).encode())
    return h.hexdigest()


class Warm:
    """The warm template of one grading process, passed to every grade it makes: started on
    first use where bubblewrap runs as root (only then can it hand every job a uid of its own;
    elsewhere ``template`` gives ``None``), started again if it died, ended by ``close``."""

    def __init__(self):
        self._template, self._tried = None, False

    def template(self, config):
        if self._template is not None and (self._template.proc.poll() is not None or
                                           self._template.broken):
            self.close()  # it died (memory, a bug) or no longer answers: start a fresh one
        if not self._tried:
            self._tried = True
            if sandbox.isolation(config.settings.isolation) == 'bubblewrap' and \
                    sandbox.templates_available():
                self._template = WarmTemplate(config.rubric.imports, config.settings.limits.memory)
        return self._template

    @property
    def running(self):
        """The template if one runs, never starting one (the service stops a run with it)."""
        return self._template

    def close(self):
        if self._template is not None:
            self._template.close()
        self._template, self._tried = None, False


def _grade_one(job, warm):
    """Grade one submission and write its reports (never raises)."""
    sub_id, path, print_, out, config = job
    report = safe_grade(str(path), None, config, sub_id, warm.template(config))
    report.fingerprint = print_
    t_report = time.perf_counter()
    try:
        write_reports(report, out=Path(out, sub_id))
    except OSError:  # a disk full: the batch, writing its gradebook next, says so
        pass
    report.timings['report'] = time.perf_counter() - t_report
    return sub_id, report


def _serve(conn, batch=None):
    """A grading process of the batch: grades each job it is sent, all with one warm template,
    until it is sent ``None``; it dies with the ``batch`` process (``sandbox.die_with``)."""
    if batch is not None:
        sandbox.die_with(batch)
    warm = Warm()
    try:
        for job in iter(conn.recv, None):
            conn.send(_grade_one(job, warm))
    except (EOFError, BrokenPipeError):
        pass  # the batch stopped (interrupted): nothing to send the report to
    finally:
        warm.close()


def _graded(todo, jobs):
    """``(id, Report)`` of each job of ``todo`` as ``jobs`` fresh processes grade them.  A
    process that dies (killed by a submission where signals are not protected, by the host's
    out-of-memory killer, a crash) costs its job alone: that job gets an error report
    (``_died``) and a fresh process takes the rest."""
    spawn, pending = get_context('spawn'), list(reversed(todo))
    workers, holding = {}, {}  # conn -> its process; conn -> the job it grades

    def started():
        conn, theirs = spawn.Pipe()
        workers[conn] = spawn.Process(target=_serve, args=(theirs, os.getpid()))
        workers[conn].start()
        theirs.close()
        return conn

    def handed(conn):
        """Whether ``conn`` was handed the next job (else it is told to stop, or it is gone and
        the job goes back to the others)."""
        holding[conn] = pending.pop() if pending else None
        try:
            conn.send(holding[conn])
        except OSError:  # it died after its last report, before this one was handed
            if holding[conn] is not None:
                pending.append(holding[conn])
            holding[conn] = None
            return False
        return holding[conn] is not None

    try:
        busy = {conn for conn in (started() for _ in range(min(max(1, jobs), len(todo))))
                if handed(conn)}
        while busy:
            for conn in wait(busy):
                try:
                    yield conn.recv()
                except (EOFError, OSError):  # it died grading, its report cut short or not begun
                    yield _died(holding[conn])
                    holding[conn] = None
                else:
                    if handed(conn):
                        continue
                busy.discard(conn)
                if pending:
                    fresh = started()
                    if handed(fresh):
                        busy.add(fresh)
        for job in reversed(pending):  # no process could be handed them: a report each still
            yield _died(job)
    finally:
        for conn, process in workers.items():
            conn.close()
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()


def _died(job):
    """``(id, Report)`` of a job whose grading process died: an error report, written, with no
    fingerprint (the next run grades it again)."""
    sub_id, _, _, out, config = job
    report = not_graded(sub_id, config, 'not graded: the grading process died while it graded '
                        'this submission (killed from outside, or a crash); grade it again.')
    write_reports(report, out=Path(out, sub_id))
    return sub_id, report


def previous(out, sub_id, print_):
    """The stored report of an unchanged submission, or ``None``: also where what is stored is
    no report this grader reads (JSON of another shape, ``[]``, ``null``, arrays nested past
    Python's depth: a folder of another tool's, or cut short), which is graded again."""
    try:
        report = json_report.read(Path(out, sub_id, 'report.json'))
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return None
    return report if report.fingerprint == print_ else None


class Batch:
    """The submissions under some folders or zips, discovered once; ``with`` cleans up."""

    def __init__(self, paths, out, config, gradebooks=('plain',), roster=None,
                 assignment='micrograd'):
        self.out, self.config = out, config
        self.gradebooks, self.roster, self.assignment = gradebooks, roster, assignment
        self.stale = []  # gradebooks of an earlier run this one did not write: removed
        self.unrostered = []  # submissions the roster does not name, after ``run``
        self.unpacked = str(allowlist.own_folder('batch'))  # a class zip's submissions
        try:
            self.found = discover(paths, self.unpacked, out)
            for name in RESERVED:
                make_room(Path(out, name))
            for sub_id, _ in self.found.submissions:
                placed(Path(out, sub_id))
        except ValueError:
            self.close()
            raise

    @property
    def submissions(self):
        return self.found.submissions

    def notes(self):
        """What the batch's summary says besides the grades: each renamed submission and, by
        reason, each entry skipped."""
        lines = [f'{place}: its reports are in {sub_id}/ ({why})'
                 for place, sub_id, why in self.found.renamed]
        for why in Skip:
            places = [place for place, reason in self.found.skipped if reason is why]
            if places:
                lines.append(f'skipped, {why}: {", ".join(places)}')
        if self.stale:
            lines.append(f'removed, an earlier run\'s and not asked for this time (its grades '
                         f'would be stale): {", ".join(self.stale)}')
        return lines

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        shutil.rmtree(self.unpacked, ignore_errors=True)

    def run(self, jobs=2, progress=None):
        """Grade what changed since the last run; returns ``{id: Report}`` in order."""
        reports, todo = {}, []
        for sub_id, path in self.submissions:
            if sub_id in self.found.refused:  # no fingerprint: the next run tries it again
                reports[sub_id] = not_graded(sub_id, self.config, self.found.refused[sub_id])
                write_reports(reports[sub_id], out=Path(self.out, sub_id))
                if progress:
                    progress(sub_id, reports[sub_id], False)
                continue
            print_ = fingerprint(path, self.config)
            old = previous(self.out, sub_id, print_)
            if old is None:
                todo.append((sub_id, path, print_, self.out, self.config))
                continue
            reports[sub_id] = old
            if progress:
                progress(sub_id, old, True)
        if todo:
            for sub_id, report in _graded(todo, jobs):
                reports[sub_id] = report
                if progress:
                    progress(sub_id, report, False)
        ordered = {sub_id: reports[sub_id] for sub_id, _ in self.submissions}
        for name in self.gradebooks:
            write(Path(self.out, gradebook.FORMATS[name][0]),
                  gradebook.render(ordered, name, self.roster, self.assignment))
        for name, (file, *_) in gradebook.FORMATS.items():  # an earlier run's: grades no longer
            if name not in self.gradebooks and Path(self.out, file).is_file():  # these
                Path(self.out, file).unlink()
                self.stale.append(file)
        self.unrostered = gradebook.unrostered(ordered, self.roster)
        write(Path(self.out, CLASS_PAGE), classpage.render(ordered, self.roster))
        return ordered
