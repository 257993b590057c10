"""torch in float64 as an oracle backend: imported only where an answer is not stored yet
(``micrograde.oracle.oracle_store``) and by the store's build and its tests."""
import torch

from micrograde.worker.execute import Backend, run_graph

torch.set_num_threads(1)  # scalar graphs: threads only add overhead


class TorchBackend(Backend):
    """Leaves are float64 tensors built from a Python float (never via float32)."""

    def __init__(self):
        super().__init__(None)

    def leaf(self, x):
        return torch.tensor(float(x), dtype=torch.float64, requires_grad=True)

    def created(self, v):
        v.retain_grad()

    def data(self, v):
        return v.item()

    def grad(self, v):
        return 0.0 if v.grad is None else v.grad.item()


TORCH = TorchBackend()


def run(graph_dict):
    """torch's result for a graph in its wire form."""
    return run_graph(graph_dict, TORCH)

