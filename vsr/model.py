"""ESPCN (Shi et al., CVPR 2016): three convolutions in low-resolution space, then a pixel shuffle.

The convolutions are unpadded ("valid"), as in the paper's training; ``forward`` pads the input by
``HALO`` pixels (edge replication) so a whole frame maps to exactly ``scale`` times its size. Because
every output pixel depends on at most ``HALO`` input pixels each side, tiles cut with that much overlap
reproduce the untiled result exactly.
"""
import torch
import torch.nn.functional as F
from torch import nn

SCALES = (2, 3, 4)
HALO = 4  # 5x5 + 3x3 + 3x3 kernels: 2 + 1 + 1 pixels of context each side


class ESPCN(nn.Module):
    """conv 5x5 1->64, tanh, conv 3x3 64->32, tanh, conv 3x3 32->r^2, pixel shuffle, on luma in [0, 1]."""

    def __init__(self, scale: int):
        super().__init__()
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, not {scale}")
        self.scale = scale
        self.conv1 = nn.Conv2d(1, 64, 5)
        self.conv2 = nn.Conv2d(64, 32, 3)
        self.conv3 = nn.Conv2d(32, scale * scale, 3)

    def forward_valid(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) -> (N, 1, r(H-8), r(W-8)): no padding, used for training and for tiles."""
        x = torch.tanh(self.conv1(x))
        x = torch.tanh(self.conv2(x))
        return F.pixel_shuffle(self.conv3(x), self.scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) -> (N, 1, rH, rW), borders extended by edge replication."""
        return self.forward_valid(F.pad(x, (HALO, HALO, HALO, HALO), mode="replicate"))
