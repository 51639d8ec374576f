"""``vsr.video.encode.VideoSink``: what an interrupted flush leaves in the file."""
from fractions import Fraction
import threading

import av
import numpy as np
import pytest

from vsr.video import encode
from vsr.video.encode import VideoSink
from vsr.video.frame import Frame, StreamDescription
from vsr.video.layout import parse

TB = Fraction(1, 25)


def _frames(n: int, width: int = 96, height: int = 64):
    """A gradient moving a little each frame: the encoder uses B-frames (noise would be a scene cut each time)."""
    x = np.arange(width)[None, :] + np.arange(height)[:, None]
    for i in range(n):
        y = (64 + 64 * np.sin((x + 2 * i) / 9.0)).astype(np.uint8)
        c = np.full((height // 2, width // 2), 128, np.uint8)
        yield Frame((y, c, c.copy()), i, TB, i)


@pytest.mark.parametrize("written", range(20, 28))
def test_a_flush_cut_short_leaves_no_hole(tmp_path, monkeypatch, written):
    """The encoder emits in decode order (a P-frame before the B-frames shown before it). Cutting its
    flush at the exit deadline left files that skip frames in their middle (test_reliability_signals'
    mid-stream partial: frames 53 and 55 missing, 54 and 56 present). The file must hold the first
    ``muxed`` frames written, at their own times, and say so."""
    monkeypatch.setattr(encode, "FLUSH_GRACE", 0.0)  # cut right after the first packet of the flush
    out = tmp_path / "cut.mp4"
    sink = VideoSink(str(out), StreamDescription(96, 64, parse("yuv420p"), Fraction(25), TB))
    for frame in _frames(written):
        sink.write(frame)
    stop = threading.Event()
    stop.set()
    sink.close(stop)
    with av.open(str(out)) as c:
        times = sorted(f.pts * f.time_base for f in c.decode(video=0))
    assert 0 < sink.muxed < written and len(times) == sink.muxed
    assert times == [i * TB for i in range(sink.muxed)]
