"""Grade a whole class: many submissions in parallel, resumable, with a gradebook CSV.

Each grading process builds the fuzz corpus and reads its stored oracle answers once (see
``micrograde.oracle.oracles``), then grades submission after submission.  A submission whose content, rubric, seed, profile and grader
version are unchanged since the last run keeps its report.
"""
import hashlib
import os
import shutil
import tempfile
import time
from multiprocessing import get_context
from multiprocessing.connection import wait
from pathlib import Path

from micrograde import __version__
from micrograde.isolate import sandbox
from micrograde.grader.grading import safe_grade
from micrograde.load import tree
from micrograde.reporters import classpage, gradebook, json_report, write, write_reports
from micrograde.isolate.warm import WarmTemplate
from micrograde.worker.load import LoadError
from micrograde.worker.load import formats
from micrograde.worker.load.archives import extract

SKIP = ('.', '_', 'reports')
GRADABLE = formats.suffixes()


def discover(paths, unpack_to):
    """``[(id, path)]``: one submission per file or sub-folder of each folder or zip given."""
    found = []
    for root in map(Path, paths):
        named = formats.named(root.name)
        if root.is_file() and named and named.kind is formats.Kind.ARCHIVE:
            target = Path(unpack_to, root.stem)
            try:
                extract(str(root), str(target))
            except LoadError as e:
                raise ValueError(str(e)) from None
            root = target
        if root.is_dir():
            for entry in sorted(root.iterdir()):
                # a folder, a file to grade, a link: each gets a report (a link or a fifo
                # refused in it, never followed, never opened)
                if entry.name.startswith(SKIP) or not (entry.is_symlink() or entry.is_dir() or
                                                       formats.named(entry.name)):
                    continue
                found.append((entry.name, entry))
        elif root.exists():
            found.append((root.name, root))
        else:
            raise ValueError(f'{root}: no such file or folder')
    ids = [i for i, _ in found]
    return [(i if ids.count(i) == 1 else f'{i}-{n}', p) for n, (i, p) in enumerate(found)]


def fingerprint(path, config):
    """Hash of everything that decides a grade: what the worker's copy of the submission would
    hold (``tree.walk``: regular files and links' texts, never followed; a refusal by its
    reason), with the rubric, seed, profile and version."""
    h = hashlib.sha256()
    for part in (__version__, config.rubric.source, str(config.seed), config.profile,
                 repr(sorted(config.settings.classes.items()))):
        h.update(part.encode() + b'\0')
    h.update(os.fsencode(Path(path).name) + b'\0')
    try:
        for entry in tree.walk(path):
            h.update(os.fsencode(entry.rel) + b'\0' + entry.kind.value.encode() + b'\0')
            if entry.kind is tree.Kind.FILE:
                data = tree.read(os.path.join(path, entry.rel) if entry.rel else path, entry)
                h.update(b'%d\0' % len(data) + data)
            h.update(os.fsencode(entry.target) + b'\0')
    except LoadError as e:
        h.update(b'refused\0' + str(e).encode())
    return h.hexdigest()


class Warm:
    """The warm template of one grading process, passed to every grade it makes: started on
    first use where bubblewrap runs as root (only then can it hand every job a uid of its own;
    elsewhere ``template`` gives ``None``), started again if it died, ended by ``close``."""

    def __init__(self):
        self._template, self._tried = None, False

    def template(self, config):
        if self._template is not None and self._template.proc.poll() is not None:
            self.close()  # it died (memory, a bug): start a fresh one
        if not self._tried:
            self._tried = True
            if sandbox.isolation(config.settings.isolation) == 'bubblewrap' and \
                    sandbox.templates_available():
                self._template = WarmTemplate(config.rubric.imports)
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
    write_reports(report, out=Path(out, sub_id))
    report.timings['report'] = time.perf_counter() - t_report
    return sub_id, report


def _serve(conn):
    """A grading process of the batch: grades each job it is sent, all with one warm template,
    until it is sent ``None``."""
    warm = Warm()
    try:
        for job in iter(conn.recv, None):
            conn.send(_grade_one(job, warm))
    except (EOFError, BrokenPipeError):
        pass  # the batch stopped (interrupted): nothing to send the report to
    finally:
        warm.close()


def _graded(todo, jobs):
    """``(id, Report)`` of each job of ``todo`` as ``jobs`` fresh processes grade them."""
    spawn, pending = get_context('spawn'), list(reversed(todo))
    workers = {}
    try:
        for _ in range(min(max(1, jobs), len(todo))):
            conn, theirs = spawn.Pipe()
            workers[conn] = spawn.Process(target=_serve, args=(theirs,))
            workers[conn].start()
            theirs.close()
            conn.send(pending.pop())
        busy = set(workers)
        while busy:
            for conn in wait(busy):
                try:
                    yield conn.recv()
                except EOFError:
                    raise RuntimeError('a grading process of the batch died') from None
                if pending:
                    conn.send(pending.pop())
                else:
                    conn.send(None)
                    busy.discard(conn)
    finally:
        for conn, process in workers.items():
            conn.close()
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()


def previous(out, sub_id, print_):
    """The stored report of an unchanged submission, or ``None``."""
    try:
        report = json_report.read(Path(out, sub_id, 'report.json'))
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return report if report.fingerprint == print_ else None


class Batch:
    """The submissions under some folders or zips, discovered once; ``with`` cleans up."""

    def __init__(self, paths, out, config, gradebooks=('plain',), roster=None,
                 assignment='micrograd'):
        self.out, self.config = out, config
        self.gradebooks, self.roster, self.assignment = gradebooks, roster, assignment
        self.unrostered = []  # submissions the roster does not name, after ``run``
        self.unpacked = tempfile.mkdtemp(prefix='micrograde-batch-')
        try:
            self.submissions = discover(paths, self.unpacked)
        except ValueError:
            self.close()
            raise

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
        self.unrostered = gradebook.unrostered(ordered, self.roster)
        write(Path(self.out, 'index.html'), classpage.render(ordered, self.roster))
        return ordered
