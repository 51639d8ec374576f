"""Per-frame PSNR of ESPCN against bicubic, one panel per clip, drawn with OpenCV (no plotting library)."""
import math
from pathlib import Path
from typing import List, Sequence, Tuple

import cv2
import numpy as np

from .. import images
from .run import BICUBIC, ESPCN, ClipResult

PANEL_W, PANEL_H = 720, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 24, 44, 44
HEADER = 64
FONT = cv2.FONT_HERSHEY_SIMPLEX
INK, GRID, FAINT, PAPER = (40, 40, 40), (225, 225, 225), (110, 110, 110), (255, 255, 255)
# RGB: ESPCN blue, bicubic orange, then further methods.
COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (148, 103, 189), (214, 39, 40), (140, 86, 75)]


def _methods(results: Sequence[ClipResult]) -> List[str]:
    found = {m for r in results for m in r.psnr}
    return [ESPCN, BICUBIC] + sorted(found - {ESPCN, BICUBIC})


def _ticks(lo: float, hi: float, count: int = 5) -> Tuple[float, float, List[float]]:
    """A rounded axis range around [lo, hi] and ticks at a 1-2-5 step."""
    span = max(hi - lo, 0.5)
    raw = span / count
    step = min((m * 10 ** math.floor(math.log10(raw)) for m in (1, 2, 5, 10)), key=lambda s: abs(s - raw))
    start, stop = math.floor(lo / step) * step, math.ceil(hi / step) * step
    if stop - start < step:
        stop = start + step
    ticks = [start + i * step for i in range(int(round((stop - start) / step)) + 1)]
    return start, stop, ticks


def _text(img: np.ndarray, text: str, org: Tuple[int, int], scale: float = 0.45, colour=INK, thick: int = 1,
          align: str = "left") -> None:
    (w, h), _ = cv2.getTextSize(text, FONT, scale, thick)
    x, y = org
    if align == "right":
        x -= w
    elif align == "centre":
        x -= w // 2
    cv2.putText(img, text, (x, y + h // 2), FONT, scale, colour, thick, cv2.LINE_AA)


def _panel(result: ClipResult, methods: Sequence[str]) -> np.ndarray:
    img = np.full((PANEL_H, PANEL_W, 3), PAPER, np.uint8)
    x0, x1, y0, y1 = LEFT, PANEL_W - RIGHT, TOP, PANEL_H - BOTTOM
    present = [m for m in methods if m in result.psnr]
    values = np.concatenate([result.psnr[m] for m in present])
    finite = values[np.isfinite(values)]
    lo, hi, ticks = _ticks(float(finite.min()), float(finite.max())) if finite.size else _ticks(0, 1)
    n = result.frames

    def px(i: float, v: float) -> Tuple[int, int]:
        fx = i / (n - 1) if n > 1 else 0.5
        fy = (min(max(v, lo), hi) - lo) / (hi - lo)
        return int(round(x0 + fx * (x1 - x0))), int(round(y1 - fy * (y1 - y0)))

    for t in ticks:
        _, y = px(0, t)
        cv2.line(img, (x0, y), (x1, y), GRID, 1, cv2.LINE_AA)
        _text(img, f"{t:g}", (x0 - 8, y), 0.4, FAINT, align="right")
    for i in [t for t in _ticks(0, max(n - 1, 1), 6)[2] if t <= n - 1 and t == int(t)]:
        x, _ = px(i, lo)
        cv2.line(img, (x, y1), (x, y1 + 4), FAINT, 1, cv2.LINE_AA)
        _text(img, str(int(i)), (x, y1 + 14), 0.4, FAINT, align="centre")
    cv2.rectangle(img, (x0, y0), (x1, y1), FAINT, 1, cv2.LINE_AA)
    for m in reversed(present):  # ESPCN drawn last, on top
        colour = COLOURS[methods.index(m) % len(COLOURS)]
        pts = np.array([px(i, v) for i, v in enumerate(result.psnr[m])], np.int32)
        if n > 1:
            cv2.polylines(img, [pts], False, colour, 2, cv2.LINE_AA)
        for p in pts if n <= 60 else ():
            cv2.circle(img, tuple(int(c) for c in p), 3, colour, -1, cv2.LINE_AA)
    gain = result.mean("psnr", ESPCN) - result.mean("psnr", BICUBIC)
    title = (f"{result.name}   ESPCN {result.mean('psnr', ESPCN):.2f} dB   bicubic {result.mean('psnr', BICUBIC):.2f} dB"
             f"   gain {gain:+.2f} dB")
    _text(img, title, (x0, TOP // 2), 0.5, INK, 1)
    _text(img, "frame", ((x0 + x1) // 2, PANEL_H - 12), 0.4, FAINT, align="centre")
    _text(img, "dB", (x0 - 36, y0 - 14), 0.4, FAINT)
    return img


def draw(results: Sequence[ClipResult], scale: int) -> np.ndarray:
    """The whole figure as uint8 RGB: a header with the legend, then panels in up to two columns."""
    methods = _methods(results)
    cols = 1 if len(results) == 1 else 2
    rows = math.ceil(len(results) / cols)
    fig = np.full((HEADER + rows * PANEL_H, cols * PANEL_W, 3), PAPER, np.uint8)
    _text(fig, f"Per-frame PSNR on Y, x{scale}: ESPCN against bicubic", (LEFT, 20), 0.6, INK, 1)
    x = LEFT
    for i, m in enumerate(methods):
        if not any(m in r.psnr for r in results):
            continue
        colour = COLOURS[i % len(COLOURS)]
        cv2.line(fig, (x, 46), (x + 28, 46), colour, 3, cv2.LINE_AA)
        _text(fig, m, (x + 36, 46), 0.5, INK)
        x += 36 + cv2.getTextSize(m, FONT, 0.5, 1)[0][0] + 28
    for k, r in enumerate(results):
        row, col = divmod(k, cols)
        fig[HEADER + row * PANEL_H:HEADER + (row + 1) * PANEL_H, col * PANEL_W:(col + 1) * PANEL_W] = _panel(r, methods)
    return fig


def write(path: Path, results: Sequence[ClipResult], scale: int) -> None:
    images.write(path, draw(results, scale))
