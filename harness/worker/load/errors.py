"""What goes wrong while loading, said in one sentence a learner can act on."""
import os
import re
import sys


class LoadError(Exception):
    """The submission cannot be graded; the message tells the learner what to fix."""


class CellTimeout(BaseException):
    """Raised inside a notebook cell that ran past its limit (not an ``Exception``, so a
    learner's ``except Exception`` cannot swallow it)."""


def explain(e, label, filename=None, root=None, answer_keys=()):
    """One sentence about an exception raised while loading, with the learner's line it came
    from: in ``filename`` (shown as ``label``), else the deepest frame in a notebook cell or in a
    file under ``root`` (shown relative to it)."""
    where, line = _frame(e, label, filename, root)
    at = f' ({where}, line {line})' if line else f' ({label})'
    if isinstance(e, ModuleNotFoundError) and (e.name or '').partition('.')[0] in answer_keys:
        return (f'the submission imports {e.name!r}{at}, which grading keeps out of reach: a '
                f'library that computes gradients would be the answer key to what is graded.')
    sibling = _sibling(e, root) if isinstance(e, ModuleNotFoundError) else None
    if sibling is not None:
        package, module = sibling
        return (f'the submission imports {e.name!r} as a module of its own{at}, but it is '
                f'{module} of the package {package} (run from inside that folder, Python '
                f'finds it; imported as the package, it does not): import it relatively, '
                f'`from .{e.name} import ...`, or as `{package}.{e.name}`.')
    compiled = _compiled(e, root) if isinstance(e, ModuleNotFoundError) else None
    if compiled is not None:
        return (f'the submission imports {e.name!r}{at}, which is {compiled}: the source of an '
                f'extension module, which Python imports only once it is compiled (a setup.py '
                f'build); grading runs Python source and compiles nothing: write that module in '
                f'Python.')
    if isinstance(e, ModuleNotFoundError) and (e.name or '').partition('.')[0] == 'micrograde':
        return (f'the submission imports {e.name!r}, which is not installed for grading{at}: '
                f'the grader itself is never importable while grading; if that is the '
                f'self-check, which grading does not run, remove it from the file you hand in, '
                f"or call check() under `if __name__ == '__main__':`.")
    if isinstance(e, ModuleNotFoundError):
        return (f'the submission imports {e.name!r}, which is not installed for grading{at}; '
                f'remove the import or ask your course staff to add the module.')
    if isinstance(e, SyntaxError):
        return syntax_error(e, shown(e.filename, root) or label)
    said = _argparse_error(e) if isinstance(e, SystemExit) else None
    if said is not None:
        return (f"the submission's command-line parsing (argparse) exited with code {e.code!r} "
                f'while loading{at}: {said}. Grading runs it as Python runs a '
                f'script given no arguments: give each argument a default, or parse them under '
                f"`if __name__ == '__main__':`.")
    if isinstance(e, SystemExit):
        return f'the submission called exit({e.code!r}) while loading{at}; remove that call.'
    if isinstance(e, ConnectionError) or type(e).__module__ in _NETWORK:
        return (f'{type(e).__name__}: {text(e)} while loading{at}: grading has no network; ship '
                f'what the submission downloads (a data file it reads) beside it.')
    if isinstance(e, ValueError) and 'signal only works in main thread' in str(e):
        return (f'the submission sets a signal handler while loading{at}: grading runs it off '
                f"Python's main thread, where no handler can be set; remove the signal.signal "
                f'call (the grader limits time itself).')
    if isinstance(e, CellTimeout):
        return f'loading ran past its time limit{at}.'
    return f'{type(e).__name__}: {text(e)} while loading{at}.'


#: An f-string that reuses its own quote inside its braces (``f'{x or 'Value'}'``), or holds a
#: backslash there: valid from Python 3.12 (PEP 701), a syntax error before.
_PEP_701 = re.compile(r"""[fF][rR]?(['"])[^'"\n]*\{[^}\n]*\1.*\}""")
_BACKSLASH = 'f-string expression part cannot include a backslash'
#: A ``type`` statement or a function or class with type parameters: valid from 3.12 (PEP 695).
_PEP_695 = re.compile(r'^\s*(?:type\s+\w+\s*(?:\[[^\]]*\])?\s*=|(?:def|class)\s+\w+\s*\[)')


#: Modules whose exceptions say the network was asked for (``urlopen``, a name lookup).
_NETWORK = ('urllib.error', 'socket', 'http.client', 'requests.exceptions', 'urllib3.exceptions')


def syntax_error(e, where):
    """A ``SyntaxError`` in words: where, and Python's own message, one stop at its end
    ("Perhaps you forgot a comma?" is not followed by another)."""
    said = e.msg if e.msg.endswith(('.', '?', '!')) else f'{e.msg}.'
    return f'syntax error in {where} at line {e.lineno}: {said}{newer_python(e)}'


def newer_python(e, saved=None):
    """A sentence for a ``SyntaxError`` that is Python 3.12 syntax (an f-string of PEP 701, or
    PEP 695's ``type`` statement or type parameters; ``saved``: the Python version a notebook
    was saved by, said when it is 3.12 or later), else ``''``: the
    learner's code is right where they ran it, and what to change is the Python version it is
    written for.  Any other error (Python 2's ``print x``) is one on 3.12 too: no such word."""
    running = sys.version_info[:2]
    if running >= (3, 12):
        return ''
    grading = '.'.join(map(str, running))
    newer = _newer(saved)
    by = f' (the notebook was saved by Python {saved})' if newer else ''
    if _PEP_701.search(getattr(e, 'text', None) or '') or getattr(e, 'msg', '') == _BACKSLASH:
        return (f' This f-string is valid from Python 3.12{by}, which lets one reuse its quotes '
                f'and hold a backslash inside its braces, but grading runs Python {grading}: use '
                f'the other kind of quote inside the braces.')
    if _PEP_695.search(getattr(e, 'text', None) or ''):  # no other Python reads these lines
        return (f' A `type` statement and type parameters in brackets (PEP 695) are valid from '
                f'Python 3.12{by}, but grading runs Python {grading}: write `Name = ...` and '
                f'TypeVars, as Python {grading} reads them.')
    return ''


def _newer(version):
    """Whether a version string (``'3.12.12'``) is Python 3.12 or later."""
    try:
        return tuple(int(p) for p in str(version).split('.')[:2]) >= (3, 12)
    except ValueError:
        return False


def _argparse_error(e):
    """What argparse said (``the following arguments are required: --input``) when ``e`` is the
    exit of its ``parse_args()``, else ``None``: the learner called no exit of their own."""
    tb, said = e.__traceback__, None
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_globals.get('__name__') == 'argparse':
            said = said or 'it exited'
            if frame.f_code.co_name == 'error':  # ArgumentParser.error(message)
                said = text(frame.f_locals.get('message') or said)
        tb = tb.tb_next
    return said


def shown(filename, root=None):
    """A file as the learner knows it: ``cell 3``, a path relative to the submission's folder,
    or its bare name (never a path of the grader's)."""
    if not filename:
        return None
    if filename.startswith('<'):
        return filename.strip('<>')
    if root and filename.startswith(root + os.sep):
        return os.path.relpath(filename, root)
    return os.path.basename(filename)


def text(e):
    try:
        return str(e)[:300]
    except Exception:
        return '<unprintable>'


def _deepest(e, root):
    """The file of the deepest frame of ``e``'s traceback that is the submission's (under
    ``root``): the module whose import failed, or ``None``."""
    tb, found = e.__traceback__, None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.startswith(root + os.sep):
            found = filename
        tb = tb.tb_next
    return found


def _sibling(e, root):
    """``(package, module)`` where a module of a package imports another of the same folder by
    its bare name (``from engine import Value`` in smolgrad/nn.py, beside smolgrad/engine.py:
    tdizhere/smolgrad), found by the deepest frame of the submission's under ``root``, the
    package as dotted and the module as the learner's path; else ``None``."""
    name = e.name or ''
    if not root or not name.isidentifier():
        return None
    importer = _deepest(e, root)
    folder = os.path.dirname(importer) if importer else None
    if folder is None or not os.path.isfile(os.path.join(folder, '__init__.py')):
        return None
    found = next((p for p in (os.path.join(folder, f'{name}.py'),
                              os.path.join(folder, name, '__init__.py')) if os.path.isfile(p)),
                 None)
    if found is None or os.path.realpath(found) == os.path.realpath(importer):
        return None  # cupy.py saying `import cupy`: the library it is named after (avramdj)
    parts, top = [], folder  # the package's dotted name: its folders that are packages
    while os.path.isfile(os.path.join(top, '__init__.py')) and top.startswith(root + os.sep):
        parts.insert(0, os.path.basename(top))
        top = os.path.dirname(top)
    return '.'.join(parts), shown(found, root)


#: Sources of an extension module a missing module may be written in (C, C++, Cython).
_EXTENSIONS = ('.c', '.cpp', '.cc', '.pyx')


def _compiled(e, root):
    """The learner's path of the extension module's source (``minigrad/engine.c``) where the
    module ``e`` did not find is one of the submission's, written in C (goktug97/minigrad),
    beside the deepest frame of the submission's under ``root`` that imported it; else
    ``None``."""
    name = (e.name or '').rpartition('.')[2]
    if not root or not name.isidentifier():
        return None
    importer = _deepest(e, root)
    folder = os.path.dirname(importer) if importer else None
    found = next((p for p in (os.path.join(folder, name + x) for x in _EXTENSIONS)
                  if os.path.isfile(p)), None) if folder else None
    return shown(found, root) if found else None


def _frame(e, label, filename, root):
    """``(where, line)`` of the deepest frame of the learner's in ``e``'s traceback."""
    tb, found = e.__traceback__, (label, None)
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name == filename:
            found = (label, tb.tb_lineno)
        elif filename is None and (name.startswith('<cell ') or
                                   (root and name.startswith(root + os.sep))):
            found = (shown(name, root), tb.tb_lineno)
        tb = tb.tb_next
    return found
