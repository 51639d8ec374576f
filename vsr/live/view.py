"""What the live window shows: ESPCN alone, a split screen against bicubic, or the two side by side.

Pure functions of BGR frames, so the window, the snapshot key and the tests all see the same pixels.
"""
from enum import Enum
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
WHITE = (255, 255, 255)
YELLOW = (0, 220, 255)
DIVIDER_COLOUR = (0, 220, 255)


class Mode(Enum):
    ESPCN = "espcn"
    SPLIT = "split"
    SIDE = "side-by-side"

    def next(self) -> "Mode":
        modes = list(Mode)
        return modes[(modes.index(self) + 1) % len(modes)]

    @property
    def needs_bicubic(self) -> bool:
        return self is not Mode.ESPCN


def opencv_bicubic(lr: np.ndarray, scale: int) -> np.ndarray:
    """The baseline ESPCN is judged against on screen: OpenCV's cubic kernel (a = -0.75), which Upscaler
    applies to chroma; not MATLAB imresize's (a = -0.5) that ``vsr.protocol.matlab_bicubic`` scores with."""
    return cv2.resize(lr, (lr.shape[1] * scale, lr.shape[0] * scale), interpolation=cv2.INTER_CUBIC)


def compose(mode: Mode, sr: np.ndarray, bic: Optional[np.ndarray], divider: float,
            labels: bool = True) -> np.ndarray:
    """The full-resolution picture for ``mode``; ``divider`` is the split's position in [0, 1]."""
    if mode is Mode.ESPCN:
        out = sr.copy()
        if labels:
            _label(out, "ESPCN", left=True)
        return out
    if bic is None or bic.shape != sr.shape:
        raise ValueError(f"{mode.value} needs a bicubic frame the size of the SR one")
    if mode is Mode.SIDE:
        left, right = sr.copy(), bic.copy()
        if labels:
            _label(left, "ESPCN", left=True)
            _label(right, "bicubic", left=True)
        return np.hstack([left, right])
    width = sr.shape[1]
    x = int(round(min(max(divider, 0.0), 1.0) * width))
    out = bic.copy()
    out[:, :x] = sr[:, :x]
    thickness = max(1, width // 640)
    cv2.line(out, (x, 0), (x, out.shape[0] - 1), DIVIDER_COLOUR, thickness)
    if labels:
        _label(out, "ESPCN", left=True)
        _label(out, "bicubic", left=False)
    return out


def draw_overlay(img: np.ndarray, lines: Sequence[str]) -> None:
    """Write ``lines`` at the bottom left on a dark band, sized to stay legible when the window is fitted."""
    if not lines:
        return
    scale, thick = _font(img)
    (_, text_h), base = cv2.getTextSize("Ag", FONT, scale, thick)
    step = text_h + base + 4 * thick
    width = max(cv2.getTextSize(line, FONT, scale, thick)[0][0] for line in lines) + 4 * step // 3
    height = step * len(lines) + step // 2
    top = max(0, img.shape[0] - height)
    band = img[top:, : min(width, img.shape[1])]
    band[:] = (band * 0.35).astype(np.uint8)
    for i, line in enumerate(lines):
        y = top + step * (i + 1)
        cv2.putText(img, line, (step // 2, y), FONT, scale, WHITE, thick, cv2.LINE_AA)


def fit(size: Tuple[int, int], bounds: Tuple[int, int]) -> Tuple[int, int]:
    """(width, height) ``size`` shrunk, keeping its shape, to fit within ``bounds``; never enlarged."""
    factor = min(1.0, bounds[0] / size[0], bounds[1] / size[1])
    return max(1, int(size[0] * factor)), max(1, int(size[1] * factor))


def _font(img: np.ndarray) -> Tuple[float, int]:
    scale = max(0.4, img.shape[0] / 1000)
    return scale, max(1, int(round(scale * 1.5)))


def _label(img: np.ndarray, text: str, left: bool) -> None:
    scale, thick = _font(img)
    (w, h), base = cv2.getTextSize(text, FONT, scale, thick)
    pad = h // 2 + 2
    x = pad if left else img.shape[1] - w - pad
    y = pad + h
    cv2.rectangle(img, (x - pad // 2, y - h - pad // 2), (x + w + pad // 2, y + base + pad // 2), (0, 0, 0), -1)
    cv2.putText(img, text, (x, y), FONT, scale, YELLOW, thick, cv2.LINE_AA)
