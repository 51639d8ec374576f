"""PSNR and SSIM on 8-bit luma, as SR papers report them (border shaved by the scale)."""
import math
from typing import List

import cv2
import numpy as np
import torch


def shave(img: np.ndarray, border: int) -> np.ndarray:
    return img[border:-border, border:-border] if border > 0 else img


def psnr(a: np.ndarray, b: np.ndarray, border: int = 0, peak: float = 255.0) -> float:
    """PSNR in dB between two same-sized images; ``inf`` when identical."""
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {a.shape} vs {b.shape}")
    diff = shave(a.astype(np.float64), border) - shave(b.astype(np.float64), border)
    mse = float(np.mean(diff * diff))
    return float("inf") if mse == 0 else 10.0 * np.log10(peak * peak / mse)


def psnr_torch(a: torch.Tensor, b: torch.Tensor, border: int = 0, peak: float = 255.0) -> List[float]:
    """``psnr`` of each image in two (N, H, W) batches, on their device (``vsr bench`` scores on the GPU)."""
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {tuple(a.shape)} vs {tuple(b.shape)}")
    diff = a.double() - b.double()
    if border > 0:
        diff = diff[..., border:-border, border:-border]
    mse = diff.square().mean(dim=(-2, -1)).tolist()
    return [float("inf") if m == 0 else 10.0 * math.log10(peak * peak / m) for m in mse]


def ssim(a: np.ndarray, b: np.ndarray, border: int = 0, peak: float = 255.0) -> float:
    """Wang et al. 2004 SSIM (11x11 Gaussian, sigma 1.5, K1 0.01, K2 0.03), valid region, as MATLAB's."""
    x = shave(a.astype(np.float64), border)
    y = shave(b.astype(np.float64), border)
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    g = cv2.getGaussianKernel(11, 1.5)
    window = g @ g.T

    def filt(img: np.ndarray) -> np.ndarray:
        return cv2.filter2D(img, -1, window)[5:-5, 5:-5]

    mx, my = filt(x), filt(y)
    sxx = filt(x * x) - mx * mx
    syy = filt(y * y) - my * my
    sxy = filt(x * y) - mx * my
    num = (2 * mx * my + c1) * (2 * sxy + c2)
    den = (mx * mx + my * my + c1) * (sxx + syy + c2)
    return float(np.mean(num / den))
