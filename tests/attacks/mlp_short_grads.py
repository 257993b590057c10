# ruff: noqa: F821  (a fragment: tests/attacks/_channel.py is prepended to it)
# A new attack: a walk up from the submission's own frame by `f_back` (no audit event) to the
# MLP task running it, whose list of parameters it cuts: the answer then carries one gradient
# for a network of `count` parameters, with no error (the MLP checks indexed past it, or
# compared only the first).
def _attack(self):
    frame = _sys._getframe(0).f_back
    while frame is not None:
        held = frame.f_locals
        if 'params' in held and 'facts' in held:
            del held['params'][1:]
            return
        frame = frame.f_back
