"""Out of device memory mid-video falls back to tiles with the same output; and the security rules hold:
no shell built from input, weights never unpickled as objects, downloads never downgraded to HTTP.
"""
import logging
from pathlib import Path
import re
import urllib.request

import numpy as np
import pytest
import torch

from vsr import Upscaler, VsrError
from vsr.bench import download
from vsr.video import EncodeOptions, upscale_video

from video_fixtures import make_video, probe

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(p for folder in ("vsr", "benchmarks", "tests") for p in (ROOT / folder).rglob("*.py"))


class _Warnings(logging.Handler):
    """Collects vsr's warnings on its own logger (the CLI's main() turns propagation to the root off)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_video_run_survives_out_of_memory_with_identical_frames(tmp_path, weights_file):
    """The device refuses every whole frame (as a full GPU would); the run tiles and loses nothing."""
    torch.set_num_threads(1)
    src = make_video(tmp_path / "in.mkv", width=300, height=280, frames=3, audio=None)
    lossless = EncodeOptions(codec="ffv1")
    normal = Upscaler(2, "cpu", weights=weights_file(2), backend="torch")
    upscale_video(src.path, tmp_path / "normal.mkv", normal, lossless)

    starved = Upscaler(2, "cpu", weights=weights_file(2), backend="torch")
    net, refused = starved._net, []

    def whole_frames_refused(x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] * x.shape[-1] > 270 * 270:  # more than one OOM tile (256 px + halo)
            refused.append(tuple(x.shape))
            raise torch.OutOfMemoryError("simulated: the device is full")
        return net(x)

    starved._net = whole_frames_refused
    warnings, logger = _Warnings(), logging.getLogger("vsr")
    logger.addHandler(warnings)
    try:
        summary = upscale_video(src.path, tmp_path / "tiled.mkv", starved, lossless)
    finally:
        logger.removeHandler(warnings)
    assert summary.frames == 3 and len(refused) == 3
    assert any("tiling" in m for m in warnings.messages)
    a, b = probe(tmp_path / "normal.mkv", keep_luma=True), probe(tmp_path / "tiled.mkv", keep_luma=True)
    assert a.pts == b.pts and len(a.planes) == 3
    for x, y in zip(a.planes, b.planes):
        np.testing.assert_array_equal(x, y)


def _calls(pattern: str):
    """(file, line number, line) of every source line matching ``pattern``."""
    regex = re.compile(pattern)
    return [(p.relative_to(ROOT), i, line) for p in SOURCES
            for i, line in enumerate(p.read_text().splitlines(), 1) if regex.search(line)]


def test_no_shell_commands_anywhere():
    # Patterns are split so that this file does not match itself.
    found = _calls(r"shell\s*=\s*" + "True|os\\.system\\(|os\\.popen\\(|subprocess\\.getoutput|" + "commands\\.getoutput")
    assert found == []


def test_every_torch_load_is_weights_only():
    calls = _calls(r"torch\.load\(")
    assert calls, "weights are read somewhere"
    for path, number, line in calls:
        text = (ROOT / path).read_text().splitlines()
        call = " ".join(text[number - 1: number + 2])  # a call may wrap onto the next lines
        assert "weights_only=True" in call, f"{path}:{number}: {line.strip()}"


def test_redirect_from_https_to_http_is_refused():
    handler = download._NoDowngrade()
    request = urllib.request.Request("https://media.xiph.org/video/derf/y4m/x.y4m")
    with pytest.raises(VsrError, match="non-HTTPS"):
        handler.redirect_request(request, None, 302, "Found", {}, "http://evil.example/x.y4m")
    same = handler.redirect_request(request, None, 302, "Found", {}, "https://mirror.example/x.y4m")
    assert same.full_url == "https://mirror.example/x.y4m"
