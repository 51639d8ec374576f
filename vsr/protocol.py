"""The standard SR evaluation protocol, written once, so ``vsr eval``, ``vsr bench`` and ``vsr train``
make and score images exactly as the published tables do.

HR is cropped to a multiple of the scale and converted to BT.601 studio-range Y (grey images are used as
they are, deeper video samples rounded to 8 bits); LR is MATLAB-bicubic downscaled Y, rounded to 8 bits;
results are rounded to 8 bits and scored on Y with ``scale`` pixels shaved from each border. Rounding is
vsr's one rule, +0.5 then floor, clipped (``color.to_uint8`` and ``color.to_uint8_torch``).

Each step that runs on both sides has a torch twin named ``<step>_torch``: it takes (N, H, W) batches on
any device (``vsr bench`` degrades and scores on the GPU, training prepares its data there) and gives
exactly the numpy step's result, image by image.
"""
from dataclasses import dataclass, field
from typing import Callable, Dict, List, TypeVar

import numpy as np
import torch

from .color import rgb_to_y, to_uint8, to_uint8_torch
from .metrics import psnr, psnr_torch, ssim
from .resize import imresize, imresize_torch

Method = Callable[[np.ndarray], np.ndarray]  # LR uint8 Y -> HR uint8 Y
Image = TypeVar("Image", np.ndarray, torch.Tensor)


def luma(img: np.ndarray) -> np.ndarray:
    """uint8 Y of an RGB image (MATLAB ``rgb2ycbcr`` then rounding), or the grey image itself."""
    return img if img.ndim == 2 else to_uint8(rgb_to_y(img))


def eight_bit(plane: np.ndarray, bits: int) -> np.ndarray:
    """A video plane of ``bits``-bit samples as 8-bit ones (the protocol scores 8-bit luma)."""
    if bits == 8:
        return plane
    shift = bits - 8
    return np.clip((plane.astype(np.uint32) + (1 << (shift - 1))) >> shift, 0, 255).astype(np.uint8)


def modcrop(img: Image, scale: int) -> Image:
    """The top-left part whose height and width are multiples of ``scale``: (H, W[, C]) arrays, (H, W) tensors."""
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


def degrade(hr_y: np.ndarray, scale: int) -> np.ndarray:
    """HR uint8 Y (already modcropped) -> LR uint8 Y: MATLAB ``imresize`` down, rounded."""
    return to_uint8(imresize(hr_y, 1.0 / scale))


def degrade_torch(hr_y: torch.Tensor, scale: int) -> torch.Tensor:
    """``degrade`` of (N, H, W) or (H, W) uint8 or float luma, in float64 on its device; uint8 out."""
    return to_uint8_torch(imresize_torch(hr_y.double(), 1.0 / scale))


def matlab_bicubic(lr_y: np.ndarray, scale: int) -> np.ndarray:
    """The tables' bicubic baseline: MATLAB ``imresize`` up (a = -0.5), rounded. Not OpenCV's kernel."""
    return to_uint8(imresize(lr_y, float(scale)))


def matlab_bicubic_torch(lr_y: torch.Tensor, scale: int) -> torch.Tensor:
    """``matlab_bicubic`` of (N, H, W) uint8 luma, in float64 on its device; uint8 out."""
    return to_uint8_torch(imresize_torch(lr_y.double(), float(scale)))


def psnr_y(sr: np.ndarray, hr: np.ndarray, scale: int) -> float:
    """PSNR of one 8-bit Y result against its HR, ``scale`` pixels shaved from each border."""
    return psnr(sr, hr, border=scale)


def psnr_y_torch(sr: torch.Tensor, hr: torch.Tensor, scale: int) -> List[float]:
    """``psnr_y`` of each image of two (N, H, W) batches, on their device."""
    return psnr_torch(sr, hr, border=scale)


def ssim_y(sr: np.ndarray, hr: np.ndarray, scale: int) -> float:
    """SSIM of one 8-bit Y result against its HR, ``scale`` pixels shaved from each border."""
    return ssim(sr, hr, border=scale)


@dataclass(kw_only=True)
class Scores:
    """Protocol scores by method: one PSNR (and SSIM, when taken) per image or frame."""

    psnr: Dict[str, List[float]] = field(default_factory=dict)
    ssim: Dict[str, List[float]] = field(default_factory=dict)

    def mean(self, metric: str, method: str) -> float:
        """Mean of ``metric`` ("psnr" or "ssim") over the images scored for ``method``."""
        return float(np.mean(getattr(self, metric)[method]))

    def min(self, metric: str, method: str) -> float:
        """The worst image's ``metric`` for ``method``."""
        return float(np.min(getattr(self, metric)[method]))

    def mean_psnr(self, method: str) -> float:
        return self.mean("psnr", method)

    def mean_ssim(self, method: str) -> float:
        return self.mean("ssim", method)
