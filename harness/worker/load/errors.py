"""What goes wrong while loading, said in one sentence a learner can act on."""
import os


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
    if isinstance(e, ModuleNotFoundError):
        return (f'the submission imports {e.name!r}, which is not installed for grading{at}; '
                f'remove the import or ask your course staff to add the module.')
    if isinstance(e, SyntaxError):
        return f'syntax error in {shown(e.filename, root) or label} at line {e.lineno}: {e.msg}.'
    if isinstance(e, SystemExit):
        return f'the submission called exit({e.code!r}) while loading{at}; remove that call.'
    if isinstance(e, CellTimeout):
        return f'loading ran past its time limit{at}.'
    return f'{type(e).__name__}: {text(e)} while loading{at}.'


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
