"""Reading and writing still images (PNG, JPEG, BMP, grey or colour) with OpenCV."""
from pathlib import Path
from typing import Union

import cv2
import numpy as np

from .errors import VsrError
from .files import write_atomic

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def is_image_path(path: Union[str, Path]) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def read(path: Union[str, Path]) -> np.ndarray:
    """uint8 RGB (H, W, 3), or (H, W) for a grey image; alpha is dropped, 16-bit is reduced to 8."""
    path = Path(path)
    if not path.is_file():
        raise VsrError(f"input not found: {path}")
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise VsrError(f"cannot read image {path}: not an image OpenCV can decode")
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise VsrError(f"cannot read image {path}: unsupported sample type {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3:
        img = cv2.cvtColor(img[:, :, :3], cv2.COLOR_BGR2RGB)
    return img


def write(path: Union[str, Path], img: np.ndarray) -> None:
    """Write RGB or grey ``img`` via a temporary file, so ``path`` never holds a partial image."""
    path = Path(path)
    data = cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if img.ndim == 3 else img
    suffix = path.suffix.lower() or ".png"
    try:
        ok, buf = cv2.imencode(suffix, data)
    except cv2.error:  # OpenCV raises, rather than returning False, for a suffix it has no encoder for
        ok = False
    if not ok:
        raise VsrError(f"cannot write {path}: OpenCV cannot encode an image as {suffix}")
    write_atomic(path, buf.tobytes())
