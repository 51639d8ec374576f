"""The standard SR evaluation protocol, so our numbers compare with published tables.

HR is cropped to a multiple of the scale and converted to BT.601 studio-range Y (grey images are used
as they are); LR is MATLAB-bicubic downscaled Y, rounded to 8 bits; results are rounded to 8 bits and
scored on Y with ``scale`` pixels shaved from each border.
"""
from dataclasses import dataclass, field
import logging
from pathlib import Path
from typing import Callable, Dict, List, Sequence

import numpy as np

from . import images
from .color import rgb_to_y, to_uint8
from .metrics import psnr, ssim
from .resize import imresize

log = logging.getLogger(__name__)

# Published numbers for the tables (Shi et al. 2016, Table 1/2; bicubic from the same papers).
PAPER = {
    "ESPCN (paper, ImageNet)": {
        3: {"Set5": 33.13, "Set14": 29.49, "BSD300": 28.54, "BSD500": 28.50},
        4: {"Set5": 30.90, "Set14": 27.73},
    },
    "ESPCN (paper, 91 images)": {3: {"Set5": 32.55, "Set14": 29.08, "BSD300": 28.26, "BSD500": 28.37}},
}


def luma(img: np.ndarray) -> np.ndarray:
    """uint8 Y of an RGB image (MATLAB ``rgb2ycbcr`` then rounding), or the grey image itself."""
    return img if img.ndim == 2 else to_uint8(rgb_to_y(img))


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


def degrade(hr_y: np.ndarray, scale: int) -> np.ndarray:
    """HR uint8 Y (already modcropped) -> LR uint8 Y, as the benchmark protocol makes it."""
    return to_uint8(imresize(hr_y, 1.0 / scale))


def bicubic(lr_y: np.ndarray, scale: int) -> np.ndarray:
    """The bicubic baseline of the tables: MATLAB ``imresize`` up, rounded."""
    return to_uint8(imresize(lr_y, float(scale)))


@dataclass
class SetResult:
    name: str
    images: List[str] = field(default_factory=list)
    psnr: Dict[str, List[float]] = field(default_factory=dict)
    ssim: Dict[str, List[float]] = field(default_factory=dict)

    def mean_psnr(self, method: str) -> float:
        return float(np.mean(self.psnr[method]))

    def mean_ssim(self, method: str) -> float:
        return float(np.mean(self.ssim[method]))


Method = Callable[[np.ndarray], np.ndarray]  # LR uint8 Y -> HR uint8 Y


def image_files(folder: Path) -> List[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and images.is_image_path(p))


def evaluate_set(folder: Path, scale: int, methods: Dict[str, Method], with_ssim: bool = True) -> SetResult:
    """Score each method on every image of ``folder`` under the protocol."""
    result = SetResult(folder.name)
    for path in image_files(folder):
        hr = modcrop(luma(images.read(path)), scale)
        lr = degrade(hr, scale)
        result.images.append(path.name)
        for name, method in methods.items():
            sr = method(lr)
            result.psnr.setdefault(name, []).append(psnr(sr, hr, border=scale))
            if with_ssim:
                result.ssim.setdefault(name, []).append(ssim(sr, hr, border=scale))
        log.debug("%s: %s", path.name, {k: v[-1] for k, v in result.psnr.items()})
    return result


def evaluate(folders: Sequence[Path], scale: int, methods: Dict[str, Method], with_ssim: bool = True) -> List[SetResult]:
    return [evaluate_set(Path(f), scale, methods, with_ssim) for f in folders]


_SET_ALIASES = {("BSDS500", "val"): "BSD100", ("BSDS500", "test"): "BSD500-test"}


def set_name(folder: Path) -> str:
    """How the literature names a folder's set: BSDS500/val is BSD100, BSDS500/test the BSD500 test set."""
    folder = Path(folder)
    return _SET_ALIASES.get((folder.parent.name, folder.name), folder.name)
