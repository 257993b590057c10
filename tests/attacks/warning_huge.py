# ruff: noqa: F821  (a fragment: tests/attacks/_channel.py is prepended to it)
# Issue 20, class 6: a 1 MB load warning.  Before: kept whole, in every report.
def _loaded():
    frame = _sys._getframe(0)
    while frame is not None:
        if type(frame.f_locals.get('loaded')).__name__ == 'Loaded':
            return frame.f_locals['loaded']
        frame = frame.f_back


_loaded().warnings.append('W' * 2**20)
