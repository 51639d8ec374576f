"""Known answers on a real image: the shipped ESPCN beats bicubic by a clear margin through every public path,
and chroma equals an independently computed bicubic (OpenCV), with hues and channel order kept.

The image is Set5's butterfly (shared data; skipped without it), cropped to 252x252 so that its LR size (84x84
at x3) is even. The shipped x3 weights beat MATLAB bicubic on it by ~3.2 dB on Y; the margin asked for is
1.5 dB, which any path that swaps ESPCN for bicubic (or feeds the network the wrong channel) misses.
Every video output is decoded back from the file before it is judged.
"""
import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from reference import (bicubic_plane, check_hues, chroma_error, decode, hue_blocks, read_planes, real_image,
                       subsample, write_planes, ycbcr_planes)
from vsr import Upscaler, images
from vsr.cli import main
from vsr.color import rgb_to_y, to_uint8
from vsr.protocol import degrade, luma, matlab_bicubic, modcrop
from vsr.metrics import psnr, ssim
from vsr.resize import imresize

R = 3
MARGIN = 1.5  # dB on Y over MATLAB bicubic; the shipped weights give ~3.2 on this image


@pytest.fixture(scope="module")
def up():
    return Upscaler(R, "cpu")


@pytest.fixture(scope="module")
def hr(shared_data):
    """HR RGB (252x252) and its Y."""
    rgb = real_image(shared_data)
    return rgb, luma(rgb)


@pytest.fixture(scope="module")
def lr_rgb(hr):
    """LR RGB by the protocol's MATLAB bicubic, channel by channel."""
    return to_uint8(imresize(hr[0], 1.0 / R))


def gain(out_y: np.ndarray, lr_y: np.ndarray, hr_y: np.ndarray) -> float:
    """dB by which ``out_y`` beats MATLAB bicubic of ``lr_y`` against ``hr_y`` (protocol border)."""
    return psnr(out_y, hr_y, border=R) - psnr(matlab_bicubic(lr_y, R), hr_y, border=R)


def rgb_gain(out_rgb: np.ndarray, lr: np.ndarray, hr_y: np.ndarray) -> float:
    """The same for RGB results: Y of the output against Y of MATLAB bicubic on each channel."""
    bic = to_uint8(imresize(lr, float(R)))
    y = lambda img: to_uint8(rgb_to_y(img))
    return psnr(y(out_rgb), hr_y, border=R) - psnr(y(bic), hr_y, border=R)


def test_upscale_y(up, hr):
    lr = degrade(hr[1], R)
    out = up.upscale_y(lr)
    assert out.shape == hr[1].shape
    assert gain(out, lr, hr[1]) > MARGIN
    batch = up.upscale_y(np.stack([lr, lr[::-1]]))  # (N, H, W) gives the same frames
    assert np.array_equal(batch[0], out) and np.array_equal(batch[1], up.upscale_y(np.ascontiguousarray(lr[::-1])))


@pytest.mark.parametrize("sub", [(2, 2), (1, 2), (1, 1)], ids=["420", "422", "444"])
def test_upscale_yuv420(up, hr, lr_rgb, sub):
    y, cb, cr = ycbcr_planes(lr_rgb)
    y = degrade(hr[1], R)
    size = (y.shape[0] // sub[0], y.shape[1] // sub[1])
    u, v = subsample(cb, size), subsample(cr, size)
    oy, ou, ov = up.upscale_yuv420(y, u, v)
    assert gain(oy, y, hr[1]) > MARGIN
    assert ou.shape == ov.shape == (R * size[0], R * size[1])
    for out, plane in ((ou, u), (ov, v)):
        mean, top = chroma_error(out, plane)
        assert top <= 1.0 and mean < 0.3, (mean, top)


def test_upscale_rgb_luma_is_espcn_and_chroma_bicubic(up, hr, lr_rgb):
    out = up.upscale_rgb(lr_rgb)
    assert out.shape == hr[0].shape
    assert rgb_gain(out, lr_rgb, hr[1]) > MARGIN
    ycc_in = [p.astype(np.float64) for p in ycbcr_planes(lr_rgb)]
    _, ocb, ocr = ycbcr_planes(out)
    for o, p in ((ocb, ycc_in[1]), (ocr, ycc_in[2])):
        d = np.abs(o.astype(np.float64) - np.clip(bicubic_plane(p, o.shape), 0, 255))
        assert d.mean() < 1.0, d.mean()  # rounding through RGB and back


def test_upscale_rgb_keeps_hues():
    """A channel-order probe: red stays red, blue blue (a BGR/RGB or Cb/Cr mix-up turns them around)."""
    up = Upscaler(2, "cpu")
    check_hues(up.upscale_rgb(hue_blocks()), 2)


def test_cli_image(tmp_path, hr, lr_rgb):
    src, out = tmp_path / "lr.png", tmp_path / "sr.png"
    images.write(src, lr_rgb)
    assert main(["-q", "upscale", str(src), str(out), "--scale", str(R), "--device", "cpu"]) == 0
    got = images.read(out)
    assert got.shape == hr[0].shape
    assert rgb_gain(got, lr_rgb, hr[1]) > MARGIN
    hue_in, hue_out = tmp_path / "hues.png", tmp_path / "hues_x3.png"
    images.write(hue_in, hue_blocks())
    assert main(["-q", "upscale", str(hue_in), str(hue_out), "--scale", str(R), "--device", "cpu"]) == 0
    check_hues(images.read(hue_out), R)


def video_frames(hr_rgb: np.ndarray):
    """Four different HR frames from the real image (flips and a transpose) and their LR 4:2:0 planes."""
    views = [hr_rgb, hr_rgb[:, ::-1], hr_rgb[::-1], hr_rgb.transpose(1, 0, 2)]
    hr_frames, lr_planes = [], []
    for v in views:
        v = np.ascontiguousarray(v)
        hr_y = luma(v)
        lr = to_uint8(imresize(v, 1.0 / R))
        _, cb, cr = ycbcr_planes(lr)
        y = degrade(hr_y, R)
        half = (y.shape[0] // 2, y.shape[1] // 2)
        hr_frames.append(hr_y)
        lr_planes.append((y, subsample(cb, half), subsample(cr, half)))
    return hr_frames, lr_planes


def check_video(path: Path, hr_frames, lr_planes, margin: float = MARGIN, chroma_mean: float = 0.3,
                chroma_max: float = 1.0) -> None:
    frames = decode(path)
    assert len(frames) == len(hr_frames)
    for frame, hr_y, planes in zip(frames, hr_frames, lr_planes):
        assert frame.format.name == "yuv420p" and (frame.width, frame.height) == hr_y.shape[::-1]
        y, u, v = read_planes(frame)
        assert gain(y, planes[0], hr_y) > margin
        for out, plane in ((u, planes[1]), (v, planes[2])):
            mean, top = chroma_error(out, plane)
            assert mean < chroma_mean and top <= chroma_max, (mean, top)


def test_cli_video_luma_beats_bicubic_and_chroma_is_bicubic(tmp_path, hr):
    hr_frames, lr_planes = video_frames(hr[0])
    src = write_planes(tmp_path / "lr.mkv", lr_planes, "yuv420p")
    out = tmp_path / "sr.mkv"
    assert main(["-q", "upscale", str(src), str(out), "--scale", str(R), "--device", "cpu", "--codec", "ffv1",
                 "--no-progress"]) == 0
    check_video(out, hr_frames, lr_planes)


def test_cli_video_hues_survive_a_lossy_encoder(tmp_path):
    """The default encoder (libx264): hue blocks decoded back keep their colours."""
    rgb = hue_blocks()
    y, cb, cr = ycbcr_planes(rgb)
    half = (y.shape[0] // 2, y.shape[1] // 2)
    src = write_planes(tmp_path / "hues.mkv", [(y, subsample(cb, half), subsample(cr, half))] * 3, "yuv420p")
    out = tmp_path / "hues.mp4"
    assert main(["-q", "upscale", str(src), str(out), "--scale", "2", "--device", "cpu", "--no-progress"]) == 0
    frames = decode(out)
    assert len(frames) == 3
    for f in frames:
        check_hues(f.to_ndarray(format="rgb24"), 2)


class Tee:
    """A live recorder that keeps every frame it is given and passes it on to a real recording."""

    def __init__(self, inner):
        self.inner = inner
        self.frames = []

    def write(self, frame, seconds):
        self.frames.append(frame.copy())
        self.inner.write(frame, seconds)


def test_live_and_its_recording(tmp_path, hr, lr_rgb):
    """``vsr live`` on a file whose frames are the LR image: the frames it shows and the file it records both
    beat bicubic; the shown frames' chroma is bicubic of the LR chroma (a BGR/RGB swap fails this)."""
    from vsr.live.app import Live
    from vsr.live.capture import open_source
    from vsr.live.record import Recording

    bgr = cv2.cvtColor(lr_rgb, cv2.COLOR_RGB2BGR)
    src = tmp_path / "lr.mkv"
    write_planes(src, [(np.dstack([bgr, np.zeros_like(bgr[..., :1])]).reshape(bgr.shape[0], -1),)] * 4, "bgr0",
                 rate=5, size=bgr.shape[1::-1])
    rec = Recording(tmp_path / "rec.mkv", overwrite=False, source=str(src))
    tee = Tee(rec)
    capture = open_source(str(src))
    try:
        Live(capture, lambda s: Upscaler(s, "cpu"), R, window=None, recorder=tee).run()
    finally:
        capture.close()
    rec.close()
    assert tee.frames
    _, cb, cr = [p.astype(np.float64) for p in ycbcr_planes(lr_rgb)]
    for shown in tee.frames:
        rgb = cv2.cvtColor(shown, cv2.COLOR_BGR2RGB)
        assert rgb_gain(rgb, lr_rgb, hr[1]) > MARGIN
        _, ocb, ocr = ycbcr_planes(rgb)
        for o, p in ((ocb, cb), (ocr, cr)):
            assert np.abs(o - np.clip(bicubic_plane(p, o.shape), 0, 255)).mean() < 1.0
    recorded = decode(tmp_path / "rec.mkv")
    assert len(recorded) == len(tee.frames)
    for f in recorded:
        y = read_planes(f)[0]
        assert psnr(y, hr[1], border=R) - psnr(to_uint8(rgb_to_y(to_uint8(imresize(lr_rgb, float(R))))), hr[1],
                                                  border=R) > 1.0  # libx264 at crf 18 costs a little


def test_eval_espcn_column_equals_an_independent_computation(tmp_path, shared_data, up, capsys):
    folder = tmp_path / "known"
    folder.mkdir()
    names = ["bird.png", "butterfly.png"]
    for n in names:
        (folder / n).write_bytes((shared_data / "images" / "Set5" / n).read_bytes())
    out = tmp_path / "eval.json"
    assert main(["eval", str(folder), "--scale", str(R), "--device", "cpu", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    got = json.loads(out.read_text())["known"]
    assert got["images"] == names
    want = {"ESPCN": ([], []), "bicubic": ([], [])}
    for n in names:
        hr_y = modcrop(luma(images.read(folder / n)), R)
        lr = degrade(hr_y, R)
        for method, sr in (("ESPCN", up.upscale_y(lr)), ("bicubic", matlab_bicubic(lr, R))):
            want[method][0].append(psnr(sr, hr_y, border=R))
            want[method][1].append(ssim(sr, hr_y, border=R))
    for method, (p, s) in want.items():
        assert got["psnr"][method] == pytest.approx(p, abs=1e-9), method
        assert got["ssim"][method] == pytest.approx(s, abs=1e-9), method
    assert min(np.subtract(want["ESPCN"][0], want["bicubic"][0])) > MARGIN
    row = next(line for line in printed.splitlines() if line.startswith("known"))
    cells = row.split()
    assert f"{np.mean(want['ESPCN'][0]):.2f}" in cells and f"{np.mean(want['bicubic'][0]):.2f}" in cells
    assert cells[-1] == f"{np.mean(want['ESPCN'][0]) - np.mean(want['bicubic'][0]):+.2f}"


def test_bench_json_equals_recomputed_values(tmp_path, hr, up, capsys):
    """``vsr bench --json``: every per-frame and mean PSNR/SSIM equals a computation from the decoded clip."""
    hr_frames = []
    for k in range(3):
        v = np.ascontiguousarray(np.roll(hr[0], 7 * k, axis=1)[:192, :240])
        y, cb, cr = ycbcr_planes(v)
        hr_frames.append((y, subsample(cb, (96, 120)), subsample(cr, (96, 120))))
    clip = write_planes(tmp_path / "clip.mkv", hr_frames, "yuv420p")
    out = tmp_path / "bench.json"
    assert main(["-q", "bench", str(clip), "--scale", str(R), "--device", "cpu", "--frames", "3", "--no-e2e",
                 "--json", str(out)]) == 0
    capsys.readouterr()
    got = json.loads(out.read_text())
    (c,) = got["clips"]
    assert (c["frames"], c["width"], c["height"]) == (3, 240, 192)
    want = {"ESPCN": ([], []), "bicubic": ([], [])}
    for f in decode(clip):
        hr_y = read_planes(f)[0]
        lr = degrade(hr_y, R)
        for method, sr in (("ESPCN", up.upscale_y(lr)), ("bicubic", matlab_bicubic(lr, R))):
            want[method][0].append(psnr(sr, hr_y, border=R))
            want[method][1].append(ssim(sr, hr_y, border=R))
    for method, (p, s) in want.items():
        assert c["psnr"][method] == pytest.approx(p, abs=0.01), method
        assert c["ssim"][method] == pytest.approx(s, abs=1e-4), method
        assert c["mean_psnr"][method] == pytest.approx(np.mean(p), abs=0.01)
        assert c["min_psnr"][method] == pytest.approx(np.min(p), abs=0.01)
        assert c["mean_ssim"][method] == pytest.approx(np.mean(s), abs=1e-4)
    assert c["mean_psnr"]["ESPCN"] - c["mean_psnr"]["bicubic"] > MARGIN
    assert got["scale"] == R and got["precision"] == "float32"
