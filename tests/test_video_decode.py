"""``open_video`` on its own, as readers of HR frames use it: info, planes, timestamps, other streams."""
from fractions import Fraction

import av
import numpy as np
import pytest

from vsr import VsrError
from vsr.video import open_video
from vsr.video.decode import RGB_MATRIX

from video_fixtures import make_video


def test_ten_bit_info_and_planes(tmp_path):
    src = make_video(tmp_path / "in.mkv", pix_fmt="yuv420p10le", codec="ffv1", frames=5, width=62, height=46,
                     color=dict(color_range=1, colorspace=1, color_primaries=1, color_trc=1))
    with open_video(src.path) as video:
        info = video.info
        frames = list(video)
    assert (info.width, info.height, info.pix_fmt, info.bit_depth) == (62, 46, "yuv420p10le", 10)
    assert info.frame_rate == 25 and info.converted is None and info.codec == "ffv1"
    assert (info.color.range, info.color.space, info.color.primaries, info.color.transfer) == (1, 1, 1, 1)
    assert len(frames) == 5 and [f.index for f in frames] == list(range(5))
    assert [f.pts * f.time_base for f in frames] == [Fraction(i, 25) for i in range(5)]
    y, u, v = frames[0].planes
    assert (y.shape, u.shape, v.shape) == ((46, 62), (23, 31), (23, 31)) and y.dtype == np.uint16
    assert 64 <= y.min() and y.max() <= 940  # studio-range 10-bit samples, not scaled to 8 bits


def test_rgb_is_converted_and_says_how(tmp_path):
    src = make_video(tmp_path / "rgb.nut", pix_fmt="rgb24", codec="rawvideo", audio=None, frames=2)
    with open_video(src.path) as video:
        assert video.info.layout.name == "yuv444p" and RGB_MATRIX in video.info.converted
        assert [p.shape for p in next(iter(video)).planes] == [(48, 64)] * 3


def test_items_interleave_audio_no_later_than_video(tmp_path):
    src = make_video(tmp_path / "in.mp4", frames=20)
    with open_video(src.path) as video:
        items = list(video.items(limit=10))
    frames = [i for i in items if not isinstance(i, av.Packet)]
    packets = [i for i in items if isinstance(i, av.Packet)]
    assert len(frames) == 10 and packets
    assert all(p.pts * p.time_base < Fraction(10, 25) for p in packets)  # cut where the video stops


def test_missing_and_non_video_inputs(tmp_path):
    with pytest.raises(VsrError, match="input not found"):
        open_video(tmp_path / "nope.mp4")
    with pytest.raises(VsrError, match="folder"):
        open_video(tmp_path)
