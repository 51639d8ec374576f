"""Promises of ``vsr upscale`` for video that no other test checked, each decoded back from the output:
batching (1, 3 and 8 frames a call give the same file), audio samples copied unchanged, ``--no-audio`` and
``--no-subtitles``, ``--pix-fmt nv12``, 4:2:2 and grey inputs into encoders that cannot take them,
``.partial-N`` names for a second interrupted run, and fp16/bf16 against fp32.

The network is ``nearest_weights`` (an ESPCN that enlarges by nearest neighbour), so the luma of every output
frame is known exactly; chroma is compared with OpenCV's bicubic of the input's chroma (tests/reference.py).
"""
from fractions import Fraction
import signal
import subprocess
import time

import av
import numpy as np
import pytest

from reference import HUES, check_hues, chroma_error, decode, hue_blocks, read_planes, subsample, write_planes, \
    ycbcr_planes
from reliability_contract import ENV, VSR
from vsr import Upscaler
from vsr.cli import main
from vsr.video import EncodeOptions, upscale_video

from video_fixtures import (  # noqa: F401 - fixtures
    make_video, nearest, nearest_weights, one_thread, subtitle_texts, up2, with_subtitles,
)


@pytest.fixture(scope="module")
def nn2(tmp_path_factory):
    return nearest_weights(tmp_path_factory.mktemp("w") / "nn2.pt", 2)


def planes_of(path):
    return [read_planes(f) for f in decode(path)]


def audio_samples(path):
    """Every decoded audio sample of the first audio stream, as one array (channels x samples)."""
    with av.open(str(path)) as c:
        return np.concatenate([f.to_ndarray().reshape(f.layout.nb_channels if hasattr(f.layout, "nb_channels")
                                                      else len(f.layout.channels), -1)
                               for f in c.decode(audio=0)], axis=1)


def packets(path, kind):
    """(pts, bytes) of every packet of the first stream of ``kind``, in file order."""
    with av.open(str(path)) as c:
        stream = getattr(c.streams, kind)[0]
        return [(p.pts, bytes(p)) for p in c.demux(stream) if p.size]


def test_batches_of_1_3_and_8_give_the_same_frames_and_packets(tmp_path, up2, nn2):
    """13 frames: batch 3 and 8 end on a partial batch; audio and subtitle packets interleave with them.
    Batch 3 goes through the CLI's ``--batch``."""
    src = with_subtitles(make_video(tmp_path / "in.mkv", frames=13).path, tmp_path / "subs.mkv")
    in_luma = [read_planes(f)[0] for f in decode(src)]
    runs = {}
    for batch in (1, 3, 8):
        out = tmp_path / f"b{batch}.mkv"
        if batch == 3:
            assert main(["-q", "upscale", str(src), str(out), "--scale", "2", "--weights", str(nn2), "--codec", "ffv1",
                         "--batch", "3", "--device", "cpu", "--no-progress"]) == 0
        else:
            assert upscale_video(src, out, up2, EncodeOptions(codec="ffv1"), batch=batch).frames == 13
        runs[batch] = out
    frames = {b: planes_of(p) for b, p in runs.items()}
    for b in (3, 8):
        assert len(frames[b]) == 13
        for k, (x, y) in enumerate(zip(frames[1], frames[b])):
            assert all(np.array_equal(p, q) for p, q in zip(x, y)), (b, k)
    for k, planes in enumerate(frames[1]):
        assert np.abs(planes[0].astype(int) - nearest(in_luma[k], 2)).max() <= 1, k  # frame k is input frame k
    times = [[f.pts * f.time_base for f in decode(p)] for p in runs.values()]
    assert times[0] == times[1] == times[2] == [Fraction(k, 25) for k in range(13)]
    audio_in = packets(src, "audio")
    for b, out in runs.items():
        assert [d for _, d in packets(out, "audio")] == [d for _, d in audio_in], b
        pts = [p for p, _ in packets(out, "audio")]
        assert pts == sorted(pts), b
        texts = subtitle_texts(out)
        assert [t for t in texts if b"Hello" in t or b"World" in t] == texts and len(texts) == 2, b


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_audio_samples_are_copied_unchanged(tmp_path, up2, suffix):
    """Decoded samples of input and output are equal (same container: MP4's edit list trims AAC priming,
    which an MP4 -> MKV copy does not carry; see the report)."""
    src = make_video(tmp_path / f"in{suffix}", frames=25)
    out = tmp_path / f"out{suffix}"
    upscale_video(src.path, out, up2)
    a, b = audio_samples(src.path), audio_samples(out)
    assert a.shape == b.shape and a.shape[1] > 40000
    assert np.array_equal(a, b)
    assert [d for _, d in packets(src.path, "audio")] == [d for _, d in packets(out, "audio")]


@pytest.mark.parametrize("flags, audio, subtitles", [
    ([], 1, 1), (["--no-audio"], 0, 1), (["--no-subtitles"], 1, 0), (["--no-audio", "--no-subtitles"], 0, 0),
])
def test_no_audio_and_no_subtitles(tmp_path, nn2, flags, audio, subtitles):
    src = with_subtitles(make_video(tmp_path / "in.mkv", frames=6).path, tmp_path / "subs.mkv")
    out = tmp_path / "out.mkv"
    assert main(["-q", "upscale", str(src), str(out), "--scale", "2", "--weights", str(nn2), "--no-progress",
                 *flags]) == 0
    with av.open(str(out)) as c:
        assert (len(c.streams.audio), len(c.streams.subtitles), len(c.streams.video)) == (audio, subtitles, 1)
    if audio:
        assert np.array_equal(audio_samples(out), audio_samples(src))
    assert len(decode(out)) == 6


def hue_clip(path, sub, frames=3):
    """Hue blocks as a lossless clip with chroma subsampled by ``sub`` (rows, cols); returns its planes."""
    y, cb, cr = ycbcr_planes(hue_blocks())
    size = (y.shape[0] // sub[0], y.shape[1] // sub[1])
    planes = (y, subsample(cb, size), subsample(cr, size))
    fmt = {(2, 2): "yuv420p", (1, 2): "yuv422p", (1, 1): "yuv444p"}[sub]
    write_planes(path, [planes] * frames, fmt)
    return planes


@pytest.mark.parametrize("codec, suffix, decoded", [("rawvideo", ".nut", "nv12"), ("libx264", ".mkv", "yuv420p")])
def test_pix_fmt_nv12(tmp_path, nn2, codec, suffix, decoded):
    """nv12 (interleaved CbCr) decoded back: luma and chroma where they belong, Cb before Cr. Raw video keeps
    nv12 in the file; H.264 takes nv12 in (lossless here) and decodes as yuv420p."""
    y, u, v = hue_clip(tmp_path / "in.mkv", (2, 2))
    out = tmp_path / f"out{suffix}"
    quality = ["--crf", "0"] if codec == "libx264" else []
    assert main(["-q", "upscale", str(tmp_path / "in.mkv"), str(out), "--scale", "2", "--weights", str(nn2),
                 "--pix-fmt", "nv12", "--codec", codec, *quality, "--no-progress"]) == 0
    frames = decode(out)
    assert len(frames) == 3
    for f in frames:
        assert f.format.name == decoded
        if decoded == "nv12":
            luma, uv = read_planes(f)
        else:
            luma, cb, cr = read_planes(f)
            uv = np.stack([cb, cr], axis=-1).reshape(cb.shape[0], -1)
        assert np.abs(luma.astype(int) - nearest(y, 2)).max() <= 1
        for out_plane, plane in ((uv[:, 0::2], u), (uv[:, 1::2], v)):
            mean, top = chroma_error(out_plane, plane)
            assert mean < 0.3 and top <= 1.0, (mean, top)
        check_hues(f.to_ndarray(format="rgb24"), 2)


def upscale_x2(tmp_path, weights, codec, extra):
    """``vsr upscale`` tmp_path/in.mkv at x2 with ``codec``; the 3 frames decoded back."""
    out = tmp_path / "out.mkv"
    assert main(["-q", "upscale", str(tmp_path / "in.mkv"), str(out), "--scale", "2", "--weights", str(weights),
                 "--codec", codec, *extra, "--no-progress"]) == 0
    frames = decode(out)
    assert len(frames) == 3
    return frames


@pytest.mark.parametrize("codec, extra, expected, lossless", [
    ("libx264", ["--crf", "0"], "yuv422p", True),  # kept as 4:2:2
    ("mpeg4", ["-e", "b=8M"], "yuv420p", False),  # takes only 4:2:0
])
def test_422_input(tmp_path, nn2, codec, extra, expected, lossless):
    y, u, v = hue_clip(tmp_path / "in.mkv", (1, 2))
    frames = upscale_x2(tmp_path, nn2, codec, extra)
    for f in frames:
        assert f.format.name == expected and (f.width, f.height) == (2 * y.shape[1], 2 * y.shape[0])
        oy, ou, ov = read_planes(f)
        assert np.abs(oy.astype(int) - nearest(y, 2)).mean() < (0.01 if lossless else 2.0)
        for out_plane, plane in ((ou, u), (ov, v)):
            mean, top = chroma_error(out_plane, plane)
            assert mean < (0.3 if lossless else 2.0), (mean, top)
        check_hues(f.to_ndarray(format="rgb24"), 2)


@pytest.mark.parametrize("codec, extra, lossless", [
    ("libvpx-vp9", [], False),
    ("mpeg4", ["-e", "b=8M"], False),
])
def test_grey_input_into_colour_encoders(tmp_path, nn2, codec, extra, lossless):
    """Neither encoder takes grey: the output is 4:2:0 with neutral chroma and the upscaled grey as luma."""
    y = ycbcr_planes(hue_blocks())[0]
    write_planes(tmp_path / "in.mkv", [(y,)] * 3, "gray")
    frames = upscale_x2(tmp_path, nn2, codec, extra)
    for f in frames:
        assert f.format.name == "yuv420p"
        oy, ou, ov = read_planes(f)
        assert np.abs(oy.astype(int) - nearest(y, 2)).mean() < (0.01 if lossless else 2.0)
        for c in (ou, ov):
            assert np.abs(c.astype(int) - 128).max() <= (0 if lossless else 2)


def test_second_interrupted_run_is_partial_1(tmp_path, nn2):
    """An interrupted run never overwrites an earlier partial file: the second one is ``out.partial-1.mp4``."""
    src = make_video(tmp_path / "in.mkv", width=160, height=120, frames=300)
    earlier = tmp_path / "out.partial.mp4"
    earlier.write_bytes(b"an earlier partial file")
    out = tmp_path / "out.mp4"
    # Input on a pipe that stops half way: the run cannot finish before the signal, however loaded the machine.
    proc = subprocess.Popen(VSR + ["upscale", "-", str(out), "--scale", "2", "--weights", str(nn2), "--no-progress"],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    data = src.path.read_bytes()
    proc.stdin.write(data[: len(data) // 2])
    proc.stdin.flush()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        temps = [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]
        if temps and temps[0].stat().st_size > 1000:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)  # closes stdin too
    assert proc.returncode == 130, err.decode()
    second = tmp_path / "out.partial-1.mp4"
    assert str(second).encode() in err
    assert earlier.read_bytes() == b"an earlier partial file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv", "out.partial-1.mp4", "out.partial.mp4"]
    times = [f.pts * f.time_base for f in decode(second)]
    assert 0 < len(times) < 300 and times == [Fraction(k, 25) for k in range(len(times))]


@pytest.mark.parametrize("precision, floor", [("bf16", 35.0), ("fp16", 45.0)])
def test_reduced_precision_is_close_to_fp32(precision, floor):
    """bf16/fp16 output within a few code values of fp32 (and really computed in that precision)."""
    import torch

    from conftest import smooth_image
    from vsr.metrics import psnr

    img = smooth_image(24, 32, channels=1, seed=3)
    ref = Upscaler(3, "cpu", precision="fp32").upscale_y(img)
    up = Upscaler(3, "cpu", precision=precision, backend="torch")
    assert up.dtype == {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    out = up.upscale_y(img)
    assert out.shape == ref.shape and out.dtype == np.uint8
    assert psnr(out, ref) > floor
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 12
    assert not np.array_equal(out, ref) or precision == "fp16"
    rgb = smooth_image(24, 32, seed=4)
    assert psnr(up.upscale_rgb(rgb), Upscaler(3, "cpu", precision="fp32").upscale_rgb(rgb)) > floor - 3
