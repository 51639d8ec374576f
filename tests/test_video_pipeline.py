"""``upscale_video`` on small generated files, decoded back: sizes, timestamps, audio, tags, samples."""
from fractions import Fraction
import logging

import av
import numpy as np
import pytest

from vsr import VsrError
from vsr.color import rgb_to_y
from vsr.video import EncodeOptions, upscale_video

from video_fixtures import (  # noqa: F401 - fixtures
    make_video, nearest, one_thread, probe, subtitle_texts, texture, up2, up3, with_subtitles,
)


def assert_same_timeline(src, out, scale):
    assert (out.width, out.height) == (scale * src.width, scale * src.height)
    assert len(out.pts) == len(src.pts)
    assert out.pts == src.pts


def assert_same_audio(src, out, fps):
    assert [(a["codec"], a["channels"]) for a in out.audio] == [(a["codec"], a["channels"]) for a in src.audio]
    for a, b in zip(src.audio, out.audio):
        assert abs(a["duration"] - b["duration"]) <= 1 / fps


def test_mp4_with_audio_tags_and_metadata(tmp_path, up3):
    tags = dict(color_range=1, colorspace=1, color_primaries=1, color_trc=1)
    src = make_video(tmp_path / "in.mp4", color=tags, metadata={"title": "vsr test", "artist": "nobody"})
    summary = upscale_video(src.path, tmp_path / "out.mp4", up3)
    a, b = probe(src.path), probe(tmp_path / "out.mp4")
    assert_same_timeline(a, b, 3)
    assert_same_audio(a, b, 25)
    assert b.color == a.color == tags
    assert b.metadata["title"] == "vsr test" and b.metadata["artist"] == "nobody"
    assert summary.frames == 12 and summary.output == str(tmp_path / "out.mp4")
    assert set(summary.busy) == {"decode", "sr", "encode"} and summary.fps > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4"]  # no temporary left


def test_variable_frame_rate_stays_variable(tmp_path, up2):
    pts = [0, 40, 80, 200, 210, 300, 333, 500, 900, 1000]
    src = make_video(tmp_path / "vfr.mkv", pts=pts, time_base=Fraction(1, 1000))
    upscale_video(src.path, tmp_path / "out.mkv", up2)
    a, b = probe(src.path), probe(tmp_path / "out.mkv")
    assert a.pts == [Fraction(t, 1000) for t in pts]
    assert_same_timeline(a, b, 2)
    assert_same_audio(a, b, 10)


def test_ten_bit_keeps_ten_bit_precision(tmp_path, up2):
    src = make_video(tmp_path / "in10.mkv", pix_fmt="yuv420p10le", codec="ffv1", frames=4, audio=None)
    upscale_video(src.path, tmp_path / "out.mkv", up2, EncodeOptions(codec="ffv1"))
    a, b = probe(src.path, keep_luma=True), probe(tmp_path / "out.mkv", keep_luma=True)
    assert b.pix_fmt == "yuv420p10le"
    assert_same_timeline(a, b, 2)
    for lr, hr in zip(a.planes, b.planes):
        assert np.abs(hr.astype(int) - nearest(lr, 2)).max() <= 1  # 10-bit values survive, not 8-bit ones
    assert any((lr % 4).any() for lr in a.planes)


def test_ten_bit_x264_output_is_ten_bit(tmp_path, up2):
    src = make_video(tmp_path / "in10.mp4", pix_fmt="yuv420p10le", frames=4)
    upscale_video(src.path, tmp_path / "out.mp4", up2)
    b = probe(tmp_path / "out.mp4")
    assert b.pix_fmt == "yuv420p10le" and (b.width, b.height) == (128, 96)


@pytest.mark.parametrize("suffix", [".y4m", ".mp4"])
def test_odd_size_is_exactly_three_times(tmp_path, up3, suffix):
    src = make_video(tmp_path / "odd.y4m", width=63, height=47, codec="wrapped_avframe", audio=None)
    out = tmp_path / f"out{suffix}"
    upscale_video(src.path, out, up3)
    a, b = probe(src.path, keep_luma=True), probe(out, keep_luma=True)
    assert (b.width, b.height) == (189, 141) and len(b.pts) == 12
    if suffix == ".y4m":  # raw frames: every luma sample is where the network put it
        assert b.pix_fmt == "yuv420p"
        for lr, hr in zip(a.planes, b.planes):
            assert np.abs(hr.astype(int) - nearest(lr, 3)).max() <= 1
    else:  # x264 cannot hold odd-sized 4:2:0, so chroma goes to full resolution instead
        assert b.pix_fmt == "yuv444p"


def test_444_stays_444(tmp_path, up2):
    src = make_video(tmp_path / "in.mp4", pix_fmt="yuv444p", frames=6)
    upscale_video(src.path, tmp_path / "out.mp4", up2)
    a, b = probe(src.path), probe(tmp_path / "out.mp4")
    assert b.pix_fmt == "yuv444p"
    assert_same_timeline(a, b, 2)
    assert_same_audio(a, b, 25)


def test_grey_stays_grey_and_pcm_is_copied(tmp_path, up2):
    src = make_video(tmp_path / "grey.mkv", pix_fmt="gray", codec="ffv1", audio="pcm_s16le", frames=6)
    upscale_video(src.path, tmp_path / "out.mkv", up2, EncodeOptions(codec="ffv1"))
    a, b = probe(src.path, keep_luma=True), probe(tmp_path / "out.mkv", keep_luma=True)
    assert b.pix_fmt == "gray"
    assert_same_timeline(a, b, 2)
    assert_same_audio(a, b, 25)
    assert all(np.abs(hr.astype(int) - nearest(lr, 2)).max() <= 1 for lr, hr in zip(a.planes, b.planes))


def test_rgb_is_converted_with_bt601(tmp_path, up2):
    src = make_video(tmp_path / "rgb.nut", pix_fmt="rgb24", codec="rawvideo", audio=None, frames=3)
    upscale_video(src.path, tmp_path / "out.mkv", up2, EncodeOptions(codec="ffv1"))
    b = probe(tmp_path / "out.mkv", keep_luma=True)
    assert b.pix_fmt == "yuv444p" and (b.width, b.height) == (128, 96)
    assert b.color["colorspace"] == 5 and b.color["color_range"] == 1  # BT.601 (bt470bg), studio range
    for i, hr in enumerate(b.planes):
        expected = nearest(rgb_to_y(texture(64, 48, i)), 2)
        assert np.abs(hr - expected).mean() < 1.0


def test_frame_limit_cuts_audio_too(tmp_path, up2):
    src = make_video(tmp_path / "in.mkv", frames=20)
    summary = upscale_video(src.path, tmp_path / "out.mkv", up2, max_frames=5)
    b = probe(tmp_path / "out.mkv")
    assert summary.frames == 5 and len(b.pts) == 5
    assert b.pts == probe(src.path).pts[:5]
    assert abs(b.audio[0]["duration"] - 5 / 25) <= 1 / 25


def test_webm_reencodes_audio_it_cannot_carry(tmp_path, up2, caplog):
    src = make_video(tmp_path / "in.mp4", frames=6)
    with caplog.at_level(logging.WARNING, logger="vsr"):
        upscale_video(src.path, tmp_path / "out.webm", up2, EncodeOptions(codec="libvpx-vp9"))
    a, b = probe(src.path), probe(tmp_path / "out.webm")
    assert b.codec == "vp9" and b.audio[0]["codec"] == "opus" and b.audio[0]["channels"] == 2
    assert abs(a.audio[0]["duration"] - b.audio[0]["duration"]) <= 1 / 25
    assert_same_timeline(a, b, 2)
    assert "re-encoding it to" in caplog.text


def test_y4m_output_drops_audio_with_a_warning(tmp_path, up2, caplog):
    src = make_video(tmp_path / "in.mp4", frames=4)
    with caplog.at_level(logging.WARNING, logger="vsr"):
        upscale_video(src.path, tmp_path / "out.y4m", up2)
    b = probe(tmp_path / "out.y4m")
    assert len(b.pts) == 4 and not b.audio
    assert "dropped" in caplog.text


def test_existing_output_and_same_file_are_refused(tmp_path, up2):
    src = make_video(tmp_path / "in.mp4", frames=2, audio=None)
    (tmp_path / "out.mp4").write_bytes(b"keep me")
    with pytest.raises(VsrError, match="exists"):
        upscale_video(src.path, tmp_path / "out.mp4", up2)
    assert (tmp_path / "out.mp4").read_bytes() == b"keep me"
    with pytest.raises(VsrError, match="same file"):
        upscale_video(src.path, src.path, up2, overwrite=True)
    upscale_video(src.path, tmp_path / "out.mp4", up2, overwrite=True)
    assert len(probe(tmp_path / "out.mp4").pts) == 2


def test_error_in_a_stage_stops_the_run_and_leaves_nothing(tmp_path, up2):
    src = make_video(tmp_path / "in.mkv", frames=30)

    def fail(done, total):
        if done == 3:
            raise VsrError("disk on fire")

    with pytest.raises(VsrError, match="disk on fire"):
        upscale_video(src.path, tmp_path / "out.mkv", up2, progress=fail)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv"]


def test_unreadable_input_is_a_one_line_error(tmp_path, up2):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 10)
    with pytest.raises(VsrError, match="cannot read"):
        upscale_video(bad, tmp_path / "out.mp4", up2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.mp4"]


@pytest.mark.parametrize("suffix, codec", [(".mkv", "srt"), (".mp4", "mov_text")])
def test_subtitles_are_copied_or_converted(tmp_path, up2, suffix, codec):
    src = with_subtitles(make_video(tmp_path / "in.mkv", frames=12).path, tmp_path / "subs.mkv")
    out = tmp_path / f"out{suffix}"
    upscale_video(src, out, up2)
    with av.open(str(out)) as c:
        assert [s.codec_context.name for s in c.streams.subtitles] == [codec]
    texts = subtitle_texts(out)
    assert any(b"Hello" in t for t in texts) and any(b"World" in t for t in texts)
    assert len(probe(out).pts) == 12
