# ruff: noqa: F821  (a fragment: tests/attacks/_channel.py is prepended to it)
# A new attack: the network, once a backward() ran, walks up by `f_back` (no audit event) from
# its own forward pass to the MLP task computing losses and cuts the parameter sets it loops
# over: the answer then carried one loss where the grader asked for one per set, with no
# error (mlp.gradients indexed past it: "micrograde itself failed"; then the grade was void).
# The task is now read whole as it arrives (worker/tasks.received): nothing left to cut.
def _attack(self):
    network = globals()['MLP']
    if '_forward' in vars(network):
        return
    network._forward = network.__call__

    def cut(model, x):
        frame = _sys._getframe(0).f_back
        while frame is not None:
            held = frame.f_locals
            if 'vector' in held and 'item' in held:
                del held['item']['param_sets'][1:]
                break
            frame = frame.f_back
        return network._forward(model, x)
    network.__call__ = cut
