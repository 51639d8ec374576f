"""Write the training sets as 8-bit luma PNGs (what 'vsr train' reads from them), small enough to carry to a GPU.

    python benchmarks/prepare_luma.py ../shared/data/images .gpu/data
"""
from pathlib import Path
import sys

import cv2

from vsr import images
from vsr.evaluate import image_files
from vsr.protocol import luma

SETS = {"T91": "T91", "General-100": "General-100", "train": "BSDS500/train"}


def main(src: Path, dst: Path) -> None:
    for name, sub in SETS.items():
        out = dst / name
        out.mkdir(parents=True, exist_ok=True)
        for path in image_files(src / sub):
            cv2.imwrite(str(out / f"{path.stem}.png"), luma(images.read(path)), [cv2.IMWRITE_PNG_COMPRESSION, 9])


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
