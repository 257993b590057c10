# ruff: noqa: F821  (a fragment: tests/attacks/_channel.py is prepended to it)
# Issue 20, class 3: a load warning that is None (the loader's list, edited at import).
# Before: it passed Loaded.parse and crashed the Gradescope writer after JSON and JUnit.
def _loaded():
    frame = _sys._getframe(0)
    while frame is not None:
        if type(frame.f_locals.get('loaded')).__name__ == 'Loaded':
            return frame.f_locals['loaded']
        frame = frame.f_back


_loaded().warnings.append(None)
