"""Real clips: the shipped sample (quality against bicubic) and ../shared/data/video (skipped if absent)."""
from pathlib import Path

import av
import numpy as np
import pytest

from vsr import Upscaler
from vsr.protocol import degrade, matlab_bicubic, modcrop
from vsr.metrics import psnr
from vsr.video import EncodeOptions, open_video, upscale_video
from vsr.weight_files import shipped_path

from video_fixtures import one_thread, probe, up2  # noqa: F401 - fixtures

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "dog_320x180.y4m"
VIDEO = ROOT.parent / "shared" / "data" / "video"


def clip(name: str) -> Path:
    path = VIDEO / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


@pytest.mark.skipif(not shipped_path(3).is_file(), reason="shipped x3 weights not present yet")
def test_sample_beats_bicubic_on_y(tmp_path):
    """Downscale the sample, upscale it back through the whole pipeline, score Y against the original."""
    scale, frames = 3, 4
    with open_video(SAMPLE) as video:
        hr_y = [modcrop(f.planes[0].copy(), scale) for f, _ in zip(video, range(frames))]
    lr_path = tmp_path / "lr.y4m"  # luma only: the score is on Y
    with av.open(str(lr_path), "w") as out:
        s = out.add_stream("wrapped_avframe", rate=30)
        s.height, s.width = degrade(hr_y[0], scale).shape
        s.pix_fmt = "gray"
        for i, y in enumerate(hr_y):
            frame = av.VideoFrame.from_ndarray(degrade(y, scale), format="gray")
            frame.pts = i
            out.mux(s.encode(frame))
        out.mux(s.encode(None))
    upscale_video(lr_path, tmp_path / "sr.y4m", Upscaler(scale, "cpu"))
    sr = probe(tmp_path / "sr.y4m", keep_luma=True)
    with open_video(lr_path) as video:
        lr_y = [f.planes[0] for f in video]
    for ref, out, low in zip(hr_y, sr.planes, lr_y):
        assert out.shape == ref.shape
        ours, base = psnr(ref, out, border=scale), psnr(ref, matlab_bicubic(low, scale), border=scale)
        assert ours > base + 0.1, (ours, base)


def test_realshort_with_aac(tmp_path, up2):
    src = clip("imageio/realshort.mp4")
    upscale_video(src, tmp_path / "out.mp4", up2)
    a, b = probe(src), probe(tmp_path / "out.mp4")
    assert (b.width, b.height) == (640, 480)
    assert b.pts == a.pts and len(b.pts) == 36
    assert [(x["codec"], x["channels"]) for x in b.audio] == [(x["codec"], x["channels"]) for x in a.audio]
    assert abs(a.audio[0]["duration"] - b.audio[0]["duration"]) <= 1 / 30


def test_yuv444_with_mp3(tmp_path, up2):
    src = clip("imageio/cockatoo.mp4")
    summary = upscale_video(src, tmp_path / "out.mp4", up2, EncodeOptions(preset="ultrafast"), max_frames=3)
    b = probe(tmp_path / "out.mp4")
    assert summary.frames == 3 and b.pts == probe(src).pts[:3]
    assert (b.width, b.height, b.pix_fmt) == (2560, 1440, "yuv444p")
    assert b.audio[0]["codec"] == probe(src).audio[0]["codec"] and abs(b.audio[0]["duration"] - 3 / 20) <= 1 / 20 + 0.03  # mp3 frames: 24 ms


def test_rgb_cinepak_avi(tmp_path, up2):
    src = clip("opencv/tree.avi")
    upscale_video(src, tmp_path / "out.mp4", up2, max_frames=5)
    b = probe(tmp_path / "out.mp4")
    assert (b.width, b.height, b.pix_fmt) == (640, 480, "yuv444p") and b.pts == probe(src).pts[:5]


def test_audio_first_and_frames_out_of_order(tmp_path, up2):
    """box.mp4 decodes with timestamps 0, 101, 67, 134, 34 ms: those that go backwards continue at the
    nominal frame rate (an encoder cannot take them), the others are kept."""
    src = clip("opencv/box.mp4")
    upscale_video(src, tmp_path / "out.mp4", up2, EncodeOptions(preset="ultrafast"), max_frames=4)
    a, b = probe(src), probe(tmp_path / "out.mp4")
    assert len(b.pts) == 4 and b.pts[:2] == a.pts[:2] and b.pts == sorted(set(b.pts))
    assert (b.width, b.height) == (1280, 960)
    assert [x["codec"] for x in b.audio] == [x["codec"] for x in a.audio]
