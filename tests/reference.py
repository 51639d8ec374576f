"""Independent references for the known-answer tests: computed here, not with the code under test.

- ``bicubic_plane``: chroma upscaled with OpenCV's bicubic (the same kernel as PyTorch's ``bicubic``,
  a = -0.75, half-pixel centres), so a swapped, shifted or skipped chroma plane shows at once;
- ``read_planes``: every plane of every decoded frame, read straight from PyAV's buffers;
- ``hue_blocks``: a colour image of blocks whose hues are known, and ``dominant`` to read them back;
- ``real_image``: an image from the shared data, cropped so that its LR size is even at x3.
"""
from fractions import Fraction
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import av
import cv2
import numpy as np

from vsr.color import rgb_to_ycbcr, to_uint8

# Block colours (RGB) and the channel that must dominate after any amount of upscaling.
HUES = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220), "yellow": (230, 220, 30)}
DOMINANT = {"red": "r", "green": "g", "blue": "b", "yellow": "rg"}


def bicubic_plane(plane: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """float (h, w) -> float (H, W) = size, OpenCV bicubic (no rounding)."""
    return cv2.resize(plane.astype(np.float32), (size[1], size[0]), interpolation=cv2.INTER_CUBIC)


def chroma_error(out: np.ndarray, plane_in: np.ndarray) -> Tuple[float, float]:
    """(mean, max) absolute difference between an output chroma plane and the bicubic reference."""
    ref = np.clip(bicubic_plane(plane_in, out.shape), 0, 255)
    d = np.abs(out.astype(np.float64) - ref)
    return float(d.mean()), float(d.max())


def read_planes(frame: av.VideoFrame) -> List[np.ndarray]:
    """Each plane of a decoded frame as (height, width) samples, without the row padding."""
    out = []
    for plane in frame.planes:
        dtype = np.uint16 if frame.format.components[0].bits > 8 else np.uint8
        rows = np.frombuffer(plane, dtype).reshape(plane.height, -1)
        out.append(rows[:, : plane.width * (2 if frame.format.name.startswith("nv") and plane is not frame.planes[0] else 1)].copy())
    return out


def decode(path: Path) -> List[av.VideoFrame]:
    with av.open(str(path)) as c:
        return list(c.decode(video=0))


def frame_times(path: Path) -> List[Fraction]:
    with av.open(str(path)) as c:
        return [f.pts * f.time_base for f in c.decode(video=0)]


def hue_blocks(block: int = 12) -> np.ndarray:
    """uint8 RGB: four blocks of known hue in a row, on a mid-grey background with a border."""
    img = np.full((block * 3, block * 9, 3), 128, np.uint8)
    for k, rgb in enumerate(HUES.values()):
        img[block: 2 * block, block * (1 + 2 * k): block * (2 + 2 * k)] = rgb
    return img


def block_centres(scale: int, block: int = 12) -> Dict[str, Tuple[int, int]]:
    """(row, col) of each hue block's centre in an image ``scale`` times ``hue_blocks(block)``."""
    return {name: (int(scale * 1.5 * block), int(scale * block * (1.5 + 2 * k))) for k, name in enumerate(HUES)}


def dominant(rgb: np.ndarray) -> str:
    """Which channels of an RGB pixel clearly dominate: 'r', 'g', 'b' or 'rg'."""
    r, g, b = (int(x) for x in rgb)
    if r > b + 80 and g > b + 80:
        return "rg"
    top = max(r, g, b)
    others = sorted((r, g, b))[1]
    assert top > others + 80, (r, g, b)
    return "rgb"[(r, g, b).index(top)]


def check_hues(rgb: np.ndarray, scale: int, block: int = 12) -> None:
    """Assert that each hue block of an upscaled ``hue_blocks`` image kept its hue (channel order)."""
    for name, (row, col) in block_centres(scale, block).items():
        assert dominant(rgb[row, col]) == DOMINANT[name], (name, rgb[row, col])


def ycbcr_planes(rgb: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 BT.601 studio-range Y, Cb, Cr of an RGB image (rounded)."""
    ycc = to_uint8(rgb_to_ycbcr(rgb))
    return ycc[..., 0], ycc[..., 1], ycc[..., 2]


def subsample(plane: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """Area-average a chroma plane to (h, w) = size, as an encoder's 4:2:0/4:2:2 conversion would."""
    return cv2.resize(plane, (size[1], size[0]), interpolation=cv2.INTER_AREA)


def write_planes(path: Path, frames: Sequence[Tuple[np.ndarray, ...]], pix_fmt: str, codec: str = "ffv1",
                 rate: int = 10, options: Dict[str, str] = None, size: Tuple[int, int] = None) -> Path:
    """A video whose frames hold exactly these planes (lossless codec by default); ``size`` (w, h) for packed
    formats, whose one plane is wider than the picture."""
    w, h = size or frames[0][0].shape[::-1]
    with av.open(str(path), "w") as out:
        s = out.add_stream(codec, rate=rate, options=options or {})
        s.width, s.height, s.pix_fmt = w, h, pix_fmt
        for i, planes in enumerate(frames):
            f = av.VideoFrame(w, h, pix_fmt)
            for plane, data in zip(f.planes, planes):
                rows = np.frombuffer(plane, np.uint8).reshape(plane.height, -1)
                view = rows[:, : data.shape[1]]
                view[...] = data
            f.pts = i
            f.time_base = Fraction(1, rate)
            out.mux(s.encode(f))
        out.mux(s.encode(None))
    return path


def real_image(data: Path, name: str = "Set5/butterfly.png", size: int = 252) -> np.ndarray:
    """A real RGB image from the shared data, cropped to ``size`` x ``size`` (LR size even at x3)."""
    from vsr import images

    img = images.read(data / "images" / name)
    return np.ascontiguousarray(img[:size, :size])
