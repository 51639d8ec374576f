"""``vsr eval``'s engine: image folders scored under the standard protocol (``vsr.protocol``), beside
the published numbers, so ours compare with the tables.
"""
from dataclasses import dataclass, field
import logging
from pathlib import Path
from typing import Dict, List, Sequence

from . import images
from .protocol import Method, Scores, degrade, luma, modcrop, psnr_y, ssim_y

log = logging.getLogger(__name__)

# Published numbers for the tables (Shi et al. 2016, Table 1/2; bicubic from the same papers).
PAPER = {
    "ESPCN (paper, ImageNet)": {
        3: {"Set5": 33.13, "Set14": 29.49, "BSD300": 28.54, "BSD500": 28.50},
        4: {"Set5": 30.90, "Set14": 27.73},
    },
    "ESPCN (paper, 91 images)": {3: {"Set5": 32.55, "Set14": 29.08, "BSD300": 28.26, "BSD500": 28.37}},
}


@dataclass
class SetResult(Scores):
    """Scores of each method on one image set, in the order of ``images``."""

    name: str
    images: List[str] = field(default_factory=list)


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
            result.psnr.setdefault(name, []).append(psnr_y(sr, hr, scale))
            if with_ssim:
                result.ssim.setdefault(name, []).append(ssim_y(sr, hr, scale))
        log.debug("%s: %s", path.name, {k: v[-1] for k, v in result.psnr.items()})
    return result


def evaluate(folders: Sequence[Path], scale: int, methods: Dict[str, Method], with_ssim: bool = True) -> List[SetResult]:
    return [evaluate_set(Path(f), scale, methods, with_ssim) for f in folders]


_SET_ALIASES = {("BSDS500", "val"): "BSD100", ("BSDS500", "test"): "BSD500-test"}


def set_name(folder: Path) -> str:
    """How the literature names a folder's set: BSDS500/val is BSD100, BSDS500/test the BSD500 test set."""
    folder = Path(folder)
    return _SET_ALIASES.get((folder.parent.name, folder.name), folder.name)
