"""No report shows the grader's own paths: its virtual environment, Python's install, its
temporary and scratch folders, the sandbox's mount points.  A file under one of them is shown by
its bare name (``decoder.py``); the learner's own files are already shown relative to the
submission (``cell 3``, ``engine.py, line 4``) by the loader."""
import os
import re
import sys
import sysconfig
import tempfile
from pathlib import Path

from micrograde.model.bounds import each_text

#: Where the sandbox shows the worker its package, scratch, submission and jobs.
SANDBOX_PATHS = ('/opt/micrograde', '/scratch', '/submission', '/jobs')
_END = r'(?:/[^\s\'"(),:;<>\[\]]*)?'


def grader_paths(*extra):
    """Folders of the grader's that must never appear in a report, longest first."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, tempfile.gettempdir(),
             os.path.dirname(os.path.realpath(sys.executable)), str(Path(__file__).resolve().parents[2]),
             *sysconfig.get_paths().values(), *SANDBOX_PATHS, *filter(None, extra)}
    paths = {os.path.normpath(p) for p in paths if p and os.path.isabs(p)}
    return sorted((p for p in paths if p != '/'), key=len, reverse=True)


def redact(text, paths):
    """``text`` with every path under one of ``paths`` shown as its file's bare name."""
    if not text or not paths:
        return text
    pattern = re.compile(r'(?<![\w./-])(?:' + '|'.join(map(re.escape, paths)) + r')(?![\w.-])' + _END)
    return pattern.sub(lambda m: os.path.basename(m.group().rstrip('/')) or '<folder>', text)


def report(rep, *extra):
    """Redact every text of ``rep`` a submission influences (``bounds.each_text``), in place."""
    paths = grader_paths(*extra)
    return each_text(rep, lambda text, kind: redact(text, paths))
