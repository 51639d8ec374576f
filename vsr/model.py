"""ESPCN (Shi et al., CVPR 2016): three convolutions in low-resolution space, then a pixel shuffle.

The network's shape lives here alone: its widths, its kernels and what follows from them (the halo, the
ONNX graph, the optimizer's parameter groups, the description stored in weights files), so other channel
counts are a change to ``CHANNELS`` or an argument, nothing more.

The convolutions are unpadded ("valid"), as in the paper's training; ``forward`` pads the input by
``HALO`` pixels (edge replication) so a whole frame maps to exactly ``scale`` times its size. Because
every output pixel depends on at most ``HALO`` input pixels each side, tiles cut with that much overlap
reproduce the untiled result exactly.
"""
from typing import Any, Dict, List, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

SCALES = (2, 3, 4)
KERNELS = (5, 3, 3)  # the paper's f1, f2, f3
CHANNELS = (64, 32)  # the paper's n1, n2: the widths between the layers
HALO = sum(k // 2 for k in KERNELS)  # input pixels of context each side: 2 + 1 + 1
ONNX_OPSET = 17


class ESPCN(nn.Module):
    """conv 5x5 1->n1, tanh, conv 3x3 n1->n2, tanh, conv 3x3 n2->r^2, pixel shuffle, on luma in [0, 1]."""

    def __init__(self, scale: int, channels: Sequence[int] = CHANNELS):
        super().__init__()
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, not {scale}")
        if len(channels) != len(KERNELS) - 1 or min(channels) < 1:
            raise ValueError(f"channels must be {len(KERNELS) - 1} positive widths, not {tuple(channels)}")
        self.scale = scale
        self.channels = tuple(int(c) for c in channels)
        widths = (1, *self.channels, scale * scale)
        for i, k in enumerate(KERNELS):  # named conv1, conv2, conv3, as in every weights file
            self.add_module(f"conv{i + 1}", nn.Conv2d(widths[i], widths[i + 1], k))

    @classmethod
    def for_state_dict(cls, scale: int, state: Mapping[str, torch.Tensor]) -> "ESPCN":
        """An (untrained) model of the widths ``state`` holds, ready for ``load_state_dict(state)``."""
        return cls(scale, [state[f"conv{i}.weight"].shape[0] for i in range(1, len(KERNELS))])

    def convolutions(self) -> List[nn.Conv2d]:
        return list(self.children())

    def forward_valid(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) -> (N, 1, r(H-2 HALO), r(W-2 HALO)): no padding, used for training and for tiles."""
        *body, last = self.convolutions()
        for conv in body:
            x = torch.tanh(conv(x))
        return F.pixel_shuffle(last(x), self.scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) -> (N, 1, rH, rW), borders extended by edge replication."""
        return self.forward_valid(F.pad(x, (HALO, HALO, HALO, HALO), mode="replicate"))

    def param_groups(self, lr: float, last_layer_factor: float) -> List[Dict[str, Any]]:
        """Optimizer groups: the body at ``lr``, the last layer at ``lr * last_layer_factor`` (the paper: 0.1)."""
        *body, last = self.convolutions()
        body_params = [p for conv in body for p in conv.parameters()]
        return [{"params": body_params, "lr": lr},
                {"params": list(last.parameters()), "lr": lr * last_layer_factor}]

    def description(self) -> str:
        """The architecture in words, as weights files record it."""
        widths = (1, *self.channels, "r^2")
        layers = [f"conv{k}x{k} {widths[i]}-{widths[i + 1]}" + (" tanh" if i < len(KERNELS) - 1 else "")
                  for i, k in enumerate(KERNELS)]
        return f"ESPCN (Shi et al. 2016): {', '.join(layers)}, pixel shuffle"

    def onnx_bytes(self) -> bytes:
        """``forward_valid`` written directly as an ONNX graph: Conv, Tanh, Conv, Tanh, Conv, DepthToSpace.

        Building the graph from the weights (rather than tracing) needs only the ``onnx`` package and
        cannot drift from the model: the convolutions and ``pixel_shuffle`` (DepthToSpace, CRD order) are
        the whole network. ``onnx`` is imported here, not with this module, so training needs none;
        ``vsr.backends`` imports it at start-up (see there why).
        """
        import onnx
        from onnx import TensorProto, helper, numpy_helper

        inits, nodes = [], []
        x = "x"
        convs = self.convolutions()
        for i, conv in enumerate(convs, 1):
            w, b = f"w{i}", f"b{i}"
            inits += [numpy_helper.from_array(conv.weight.detach().float().cpu().numpy(), w),
                      numpy_helper.from_array(conv.bias.detach().float().cpu().numpy(), b)]
            nodes.append(helper.make_node("Conv", [x, w, b], [f"c{i}"]))
            x = f"c{i}"
            if i < len(convs):
                nodes.append(helper.make_node("Tanh", [x], [f"t{i}"]))
                x = f"t{i}"
        nodes.append(helper.make_node("DepthToSpace", [x], ["y"], blocksize=self.scale, mode="CRD"))
        graph = helper.make_graph(
            nodes, "espcn_valid",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, "h", "w"])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 1, "H", "W"])],
            inits,
        )
        proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)], producer_name="vsr")
        onnx.checker.check_model(proto)
        return proto.SerializeToString()
