"""What goes wrong while loading, said in one sentence a learner can act on."""


class LoadError(Exception):
    """The submission cannot be graded; the message tells the learner what to fix."""


class CellTimeout(BaseException):
    """Raised inside a notebook cell that ran past its limit (not an ``Exception``, so a
    learner's ``except Exception`` cannot swallow it)."""


def explain(e, label, filename=None):
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
    return f'{type(e).__name__}: {text(e)} while loading{at}.'


def text(e):
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
