"""BT.601 studio-range YCbCr, the convention of the SR literature (MATLAB ``rgb2ycbcr``) and of most video."""
import numpy as np
import torch

# Rows give Y, Cb, Cr from R, G, B in [0, 1]; offsets are in 8-bit code values.
_RGB_TO_YCBCR = np.array(
    [[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]]
)
_OFFSET = np.array([16.0, 128.0, 128.0])
_YCBCR_TO_RGB = np.linalg.inv(_RGB_TO_YCBCR)


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """uint8 or float RGB (H, W, 3) in 0..255 -> float64 YCbCr (H, W, 3) in 8-bit code values."""
    return rgb.astype(np.float64) / 255.0 @ _RGB_TO_YCBCR.T + _OFFSET


def ycbcr_to_rgb(ycbcr: np.ndarray) -> np.ndarray:
    """float YCbCr (H, W, 3) in 8-bit code values -> float64 RGB in 0..255 (not clipped)."""
    return (ycbcr.astype(np.float64) - _OFFSET) @ _YCBCR_TO_RGB.T * 255.0


def rgb_to_y(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB (H, W, 3) -> float64 luma in 8-bit code values (16..235)."""
    return rgb.astype(np.float64) / 255.0 @ _RGB_TO_YCBCR[0] + _OFFSET[0]


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Round half away from zero and clip, as MATLAB does when it stores a double into uint8."""
    return np.clip(np.sign(x) * np.floor(np.abs(x) + 0.5), 0, 255).astype(np.uint8)


def to_samples_torch(x: torch.Tensor, bits: int = 8, *, inplace: bool = False) -> torch.Tensor:
    """Float code values -> integer samples of ``bits`` (uint8, or uint16 above 8), on the tensor's device.

    vsr's one rounding rule: add 0.5 and floor, then clip; that is ``to_uint8``'s (MATLAB's) rounding for
    the non-negative values samples are. ``torch.round`` would round halves to even instead. (Clipped
    first, the values are non-negative, so the integer conversion's truncation is the floor.) ``inplace``
    works in ``x`` itself, which the caller then no longer needs: a copy of a 1080p plane costs more
    than the rounding (the upscaler's hot path).
    """
    shifted = x.add_(0.5) if inplace else x + 0.5
    return shifted.clamp_(0, (1 << bits) - 1).to(torch.uint8 if bits == 8 else torch.uint16)


def to_uint8_torch(x: torch.Tensor) -> torch.Tensor:
    """``to_uint8`` on any device: 8-bit ``to_samples_torch``."""
    return to_samples_torch(x, 8)
