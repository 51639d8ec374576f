"""``Upscaler``: the one object every command uses to super-resolve luma and upscale chroma.

The network stays resident on its device. ``upscale_planes`` is the one path from integer planes to
integer planes (normalise, ESPCN luma, bicubic chroma, round): the video pipeline, the benchmark and the
live preview run it on batches already on the device (``vsr.video.sr``), and the numpy methods
``upscale_y``, ``upscale_yuv420`` and ``upscale_rgb`` are thin wrappers around it.
"""
from dataclasses import dataclass
import logging
import math
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

from . import backends
from . import devices
from . import weight_files
from .color import rgb_to_ycbcr, to_samples_torch, to_uint8, ycbcr_to_rgb
from .errors import VsrError
from .model import HALO, SCALES

log = logging.getLogger(__name__)

OOM_TILE = 256  # LR tile edge used when a whole frame does not fit on the device


@dataclass(frozen=True)
class UpscalerSpec:
    """Which network and how to run it, as one value: every command builds it from the same flags, and
    ``vsr upscale --ray`` hands it to each worker, which builds its own ``Upscaler`` from it."""

    scale: int = 3
    device: str = "auto"
    weights: Optional[Path] = None  # a file from ``vsr train``; None: the weights shipped for ``scale``
    tile: Optional[int] = None
    precision: str = "auto"
    backend: str = "auto"

    def build(self, scale: Optional[int] = None) -> "Upscaler":
        """The ``Upscaler``; at another ``scale`` than the spec's, with the shipped weights of that scale."""
        scale = self.scale if scale is None else scale
        return Upscaler(scale, device=self.device, weights=self.weights if scale == self.scale else None,
                        tile=self.tile, precision=self.precision, backend=self.backend)


class Upscaler:
    """ESPCN luma super-resolution plus bicubic chroma, at one scale, on one device.

    ``tile`` (LR pixels) splits frames into overlapping tiles whose result equals the untiled one;
    by default frames run whole and fall back to tiles only if the device runs out of memory.
    ``backend`` (see ``vsr.backends``): ``auto`` runs fp32 CPU work on ONNX Runtime when it is
    installed, everything else on PyTorch.
    """

    def __init__(
        self,
        scale: int = 3,
        device: str = "auto",
        weights: Optional[Union[str, Path]] = None,
        tile: Optional[int] = None,
        precision: str = "auto",
        backend: str = "auto",
    ):
        if scale not in SCALES:
            raise VsrError(f"scale must be one of {', '.join(map(str, SCALES))}, not {scale}", exit_code=2)
        if tile is not None and tile < 1:
            raise VsrError(f"tile must be a positive number of pixels, not {tile}", exit_code=2)
        self.scale = scale
        self.tile = tile
        self.device = devices.resolve(device)
        path = Path(weights) if weights is not None else weight_files.shipped_path(scale)
        model, self.meta = weight_files.load(path, scale=scale)
        self.weights_path = path
        self.dtype = _dtype(precision, self.device)  # what the network computes in
        self.backend = backends.choose(backend, self.device, self.dtype)
        self._input_dtype = backends.weights_dtype(self.backend, self.dtype)
        memory_format = torch.channels_last if self.device.type == "cuda" else torch.contiguous_format
        self.model = model.to(self.device, self._input_dtype, memory_format=memory_format).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self._net = backends.create(self.backend, self.model, self.dtype)
        log.debug("x%d on %s, %s, backend %s", scale, self.device, self.dtype, self.backend)

    @property
    def default_batch(self) -> int:
        """Frames per network call when none is asked for: several keep a GPU busy; on a CPU one frame at
        a time keeps latency low."""
        return 8 if self.device.type == "cuda" else 1

    # ---- tensors on the device -------------------------------------------------------------
    @torch.inference_mode()
    def upscale_luma_tensor(self, y: torch.Tensor) -> torch.Tensor:
        """float (N, 1, H, W) luma in [0, 1] on ``self.device`` -> float32 (N, 1, rH, rW), clamped."""
        y = y.to(self._input_dtype)
        if self.tile is None:
            try:
                return self._net(F.pad(y, (HALO, HALO, HALO, HALO), mode="replicate")).float().clamp_(0, 1)
            except (torch.OutOfMemoryError, MemoryError):
                log.warning("out of device memory for a %dx%d batch of %d; tiling at %d px",
                            y.shape[-1], y.shape[-2], y.shape[0], OOM_TILE)
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                return self._tiled(y, OOM_TILE).float().clamp_(0, 1)
        return self._tiled(y, self.tile).float().clamp_(0, 1)

    def _tiled(self, y: torch.Tensor, tile: int) -> torch.Tensor:
        n, _, h, w = y.shape
        r = self.scale
        padded = F.pad(y, (HALO, HALO, HALO, HALO), mode="replicate")
        out = y.new_empty((n, 1, r * h, r * w))
        for top in range(0, h, tile):
            bottom = min(top + tile, h)
            for left in range(0, w, tile):
                right = min(left + tile, w)
                piece = padded[..., top : bottom + 2 * HALO, left : right + 2 * HALO]
                out[..., r * top : r * bottom, r * left : r * right] = self._net(piece)
        return out

    @torch.inference_mode()
    def upscale_chroma_tensor(self, c: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
        """Bicubic chroma: float (N, C, h, w) -> (N, C, *size), on the tensor's device, clamped to [0, 1]."""
        return F.interpolate(c, size=size, mode="bicubic", align_corners=False).clamp_(0, 1)

    @torch.inference_mode()
    def upscale_planes(self, y: torch.Tensor, chroma: Optional[torch.Tensor], chroma_size: Tuple[int, int],
                       bits: int = 8, out_bits: int = 8, bicubic: bool = False,
                       ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Integer planes on ``self.device`` -> integer planes ``scale`` times larger, on the device.

        ``y`` (N, 1, H, W) goes through ESPCN (or bicubic too, with ``bicubic``: the realtime fallback and
        the benchmarks' baseline), ``chroma`` (N, 2, h, w) or None is resized bicubically to
        ``chroma_size``. Samples of ``bits`` are normalised by their peak (255 << (bits - 8)), so 10-bit
        video reaches the network with 8-bit video's black and white levels; results are rounded to
        ``out_bits`` by ``to_samples_torch``, the one rounding rule.
        """
        y = y.float().div_(_peak(bits))
        if bicubic:
            y = F.interpolate(y, scale_factor=self.scale, mode="bicubic", align_corners=False).clamp_(0, 1)
        else:
            y = self.upscale_luma_tensor(y)
        y = to_samples_torch(y.mul_(_peak(out_bits)), out_bits, inplace=True)
        if chroma is not None:
            c = self.upscale_chroma_tensor(chroma.float().div_(_peak(bits)), chroma_size)
            chroma = to_samples_torch(c.mul_(_peak(out_bits)), out_bits, inplace=True)
        return y, chroma

    # ---- numpy in, numpy out ---------------------------------------------------------------
    def upscale_y(self, y: np.ndarray) -> np.ndarray:
        """uint8 luma (H, W) or (N, H, W) -> uint8 (rH, rW) or (N, rH, rW)."""
        y = _check_uint8(y, "y", (2, 3))
        batch = torch.from_numpy(np.ascontiguousarray(y)).to(self.device).reshape(-1, 1, *y.shape[-2:])
        out, _ = self.upscale_planes(batch, None, (0, 0))
        out = out.cpu().numpy()
        return out.reshape(*y.shape[:-2], *out.shape[-2:])

    def upscale_yuv420(self, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """uint8 planes -> uint8 planes r times larger: Y through ESPCN, U and V bicubic.

        Any chroma subsampling works (4:2:0, 4:2:2, 4:4:4): each chroma plane keeps its ratio to luma,
        rounded up for odd sizes as video formats do.
        """
        y = _check_uint8(y, "y", (2,))
        u = _check_uint8(u, "u", (2,))
        v = _check_uint8(v, "v", (2,))
        if u.shape != v.shape:
            raise VsrError(f"u and v planes differ in shape: {u.shape} vs {v.shape}")
        luma = torch.from_numpy(np.ascontiguousarray(y)).to(self.device)[None, None]
        uv = torch.from_numpy(np.stack([u, v])).to(self.device)[None]
        y_hr, uv_hr = self.upscale_planes(luma, uv, chroma_size(y.shape, u.shape, self.scale))
        uv_hr = uv_hr[0].cpu().numpy()
        return y_hr[0, 0].cpu().numpy(), uv_hr[0], uv_hr[1]

    def upscale_rgb(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 RGB (H, W, 3) -> uint8 RGB (rH, rW, 3), through 8-bit BT.601 studio-range YCbCr 4:4:4
        planes, as video reaches ``upscale_planes``."""
        rgb = _check_uint8(rgb, "rgb", (3,))
        if rgb.shape[2] != 3:
            raise VsrError(f"rgb must have 3 channels, not {rgb.shape[2]}")
        ycc = torch.from_numpy(to_uint8(rgb_to_ycbcr(rgb))).to(self.device).permute(2, 0, 1)[None]
        h, w = rgb.shape[:2]
        y_hr, cc_hr = self.upscale_planes(ycc[:, :1], ycc[:, 1:], (self.scale * h, self.scale * w))
        return to_uint8(ycbcr_to_rgb(torch.cat([y_hr, cc_hr], dim=1)[0].permute(1, 2, 0).cpu().numpy()))


def _peak(bits: int) -> int:
    """Code value of full-scale white at ``bits`` (255 at 8, 1020 at 10): samples / peak lie in [0, 1]."""
    return 255 << (bits - 8)


def _dtype(precision: str, device: torch.device) -> torch.dtype:
    """``auto`` is fp16 on CUDA (tensor cores, output within rounding of fp32) and fp32 on the CPU."""
    if precision == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    choices = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    if precision not in choices:
        raise VsrError(f"precision must be auto, fp32, fp16 or bf16, not {precision!r}", exit_code=2)
    return choices[precision]


def chroma_size(luma_shape: Tuple[int, int], chroma_shape: Tuple[int, int], scale: int) -> Tuple[int, int]:
    """Output chroma size: the input's subsampling ratio applied to the upscaled luma, rounded up."""
    return tuple(
        math.ceil(scale * luma / max(1, round(luma / chroma)))
        for luma, chroma in zip(luma_shape[-2:], chroma_shape[-2:])
    )


def _check_uint8(a: np.ndarray, name: str, ndims: Tuple[int, ...]) -> np.ndarray:
    if not isinstance(a, np.ndarray) or a.dtype != np.uint8:
        raise VsrError(f"{name} must be a uint8 numpy array, not {getattr(a, 'dtype', type(a).__name__)}")
    if a.ndim not in ndims:
        raise VsrError(f"{name} must have {' or '.join(map(str, ndims))} dimensions, not {a.ndim}")
    if min(a.shape[:2] if a.ndim == 3 and name == "rgb" else a.shape[-2:]) < 1:
        raise VsrError(f"{name} is empty: shape {a.shape}")
    return a
