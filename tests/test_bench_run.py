"""``vsr bench`` measurement and reports on small generated clips (and a real one when shared data exists)."""
import csv
import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch

from video_fixtures import make_video
from vsr import weight_files
from vsr.bench.run import BICUBIC, ESPCN, measure_clip
from vsr.bench.timing import DECODE, SR
from vsr.cli import bench as cli_bench
from vsr.cli import main
from vsr.protocol import degrade, matlab_bicubic
from vsr.metrics import psnr, ssim
from vsr.upscaler import Upscaler
from vsr.video import open_video


SAMPLE = cli_bench.SAMPLES_DIR / "dog_320x180.y4m"


@pytest.fixture
def clip(tmp_path) -> Path:
    """A lossless 4:2:0 y4m, 96x72, 5 frames: a crop of the bundled real sample (camera footage)."""
    if not SAMPLE.is_file():
        pytest.skip(f"bundled sample {SAMPLE.name} not present")
    path = tmp_path / "tiny.y4m"
    with open_video(SAMPLE) as video, av.open(str(path), "w", options={"strict": "-1"}) as out:
        stream = out.add_stream("rawvideo", rate=25)
        stream.width, stream.height, stream.pix_fmt = 96, 72, "yuv420p"
        for k, f in zip(range(5), video):
            y, u, v = f.planes
            planar = np.concatenate([y[54:126, 112:208], u[27:63, 56:104].reshape(-1, 96),
                                     v[27:63, 56:104].reshape(-1, 96)])
            frame = av.VideoFrame.from_ndarray(planar, format="yuv420p")
            frame.pts = k
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def read_luma(path: Path, frames: int):
    with open_video(path) as video:
        return [f.planes[0].copy() for f, _ in zip(video, range(frames))]


# Bicubic per frame on ``clip`` at x3, computed with the code before the protocol had one module (b11bb11).
CLIP_X3_BICUBIC_PSNR = [27.943756602938826, 27.833236592495126, 27.661590741765675, 27.582629717154052,
                        27.48105212233934]
CLIP_X3_BICUBIC_SSIM = [0.8129061428907083, 0.8115586340264129, 0.8046169454060728, 0.7969190490632597,
                        0.7900344045320598]


def test_bench_numbers_do_not_move(clip, weights_file):
    """``vsr bench``'s protocol (degradation, baseline and scores on the device) gives the numbers it gave before."""
    result = measure_clip(clip, Upscaler(3, device="cpu", weights=weights_file(3)), batch=2, end_to_end=False)
    assert result.psnr[BICUBIC] == pytest.approx(CLIP_X3_BICUBIC_PSNR, abs=1e-9)
    assert result.ssim[BICUBIC] == pytest.approx(CLIP_X3_BICUBIC_SSIM, abs=1e-9)
    assert result.min("psnr", BICUBIC) == pytest.approx(min(CLIP_X3_BICUBIC_PSNR), abs=1e-9)


def test_scores_equal_the_numpy_protocol(clip, weights_file):
    """Per-frame PSNR/SSIM of the bench are exactly those of degrade -> method -> metrics on each frame."""
    up = Upscaler(3, device="cpu", weights=weights_file(3))
    result = measure_clip(clip, up, batch=2, end_to_end=False)
    assert result.frames == 5 and result.size == (96, 72)
    for k, hr in enumerate(read_luma(clip, 5)):
        lr = degrade(hr, 3)
        for method, sr in ((ESPCN, up.upscale_y(lr)), (BICUBIC, matlab_bicubic(lr, 3))):
            assert result.psnr[method][k] == pytest.approx(psnr(sr, hr, border=3), abs=1e-9)
            assert result.ssim[method][k] == pytest.approx(ssim(sr, hr, border=3), abs=1e-9)
    assert {DECODE, SR, BICUBIC} <= set(result.seconds)
    assert result.timed_frames[SR] == 5 and result.fps(SR) > 0


def test_psnr_of_a_known_error():
    a = np.full((20, 20), 100, np.uint8)
    b = a.copy()
    b[2:-2, 2:-2] += 5  # only the unshaved centre differs, by 5 everywhere there
    assert psnr(a, b, border=2) == pytest.approx(20 * np.log10(255 / 5))
    assert ssim(a, a, border=2) == pytest.approx(1.0)


def test_extra_methods_are_scored_and_timed(clip, weights_file):
    up = Upscaler(2, device="cpu", weights=weights_file(2))
    nearest = lambda lr: cv2.resize(lr, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)  # noqa: E731
    result = measure_clip(clip, up, max_frames=3, with_ssim=False, end_to_end=False, extra_methods={"nearest": nearest})
    assert len(result.psnr["nearest"]) == 3 and result.timed_frames["nearest"] == 3 and not result.ssim
    assert np.mean(result.psnr["nearest"]) < np.mean(result.psnr[BICUBIC])


def shipped(scale: int) -> Path:
    path = weight_files.shipped_path(scale)
    if not path.is_file():
        pytest.skip(f"trained weights {path.name} not present")
    return path


def test_cli_bench_outputs_and_espcn_beats_bicubic(clip, tmp_path, capsys):
    shipped(3)
    out = {k: tmp_path / f"r.{k}" for k in ("json", "csv", "png")}
    code = main(["bench", str(clip), "--scale", "3", "--device", "cpu", "--batch", "2",
                 "--json", str(out["json"]), "--csv", str(out["csv"]), "--plot", str(out["png"])])
    assert code == 0
    captured = capsys.readouterr()
    table = captured.out
    assert "tiny" in table and "ESPCN" in table and "float32" in table
    assert all(f": {path}" in table for path in out.values())  # says where each report went
    assert "vsr-bench-" not in captured.err + table  # and names no temporary file
    data = json.loads(out["json"].read_text())
    assert data["scale"] == 3 and data["batch"] == 2 and data["precision"] == "float32"
    assert data["device"].startswith("cpu") and data["versions"]["torch"] == torch.__version__
    assert {"av", "opencv", "numpy", "vsr"} <= set(data["versions"])
    (c,) = data["clips"]
    assert c["frames"] == 5 and c["width"] == 96 and c["height"] == 72
    assert len(c["psnr"]["ESPCN"]) == len(c["psnr"]["bicubic"]) == len(c["ssim"]["ESPCN"]) == 5
    assert set(c["fps"]) == {"decode", "sr", "bicubic", "end-to-end", "ESPCN"} and all(v > 0 for v in c["fps"].values())
    assert c["fps"]["ESPCN"] == c["fps"]["sr"]  # the SR stage's first key, kept for scripts that read it
    assert c["mean_psnr"]["ESPCN"] > c["mean_psnr"]["bicubic"]
    assert all(e > b for e, b in zip(c["psnr"]["ESPCN"], c["psnr"]["bicubic"]))
    rows = list(csv.DictReader(out["csv"].read_text().splitlines()))
    assert len(rows) == 5 and float(rows[0]["psnr_ESPCN"]) == pytest.approx(c["psnr"]["ESPCN"][0], abs=1e-4)
    png = cv2.imread(str(out["png"]))
    assert png is not None and png.shape[1] >= 600 and png.std() > 10


def test_lr_frames_are_cropped_to_the_chroma_subsampling(tmp_path, weights_file):
    """105 wide at x3: an LR width of 35 would make the 4:2:0 end-to-end encode fall back to 4:4:4."""
    src = make_video(tmp_path / "odd.y4m", width=105, height=72, frames=2, codec="rawvideo", audio=None)
    result = measure_clip(src.path, Upscaler(3, device="cpu", weights=weights_file(3)), with_ssim=False)
    assert result.size == (102, 72) and result.frames == 2


def test_fallback_to_bundled_samples_says_how_to_download(clip, tmp_path, monkeypatch, capsys, weights_file):
    samples = tmp_path / "samples"
    samples.mkdir()
    clip.rename(samples / "sample.y4m")
    monkeypatch.setattr(cli_bench, "SAMPLES_DIR", samples)
    code = main(["bench", "--cache-dir", str(tmp_path / "empty"), "--weights", str(weights_file(3)),
                 "--device", "cpu", "--frames", "2", "--no-ssim", "--no-e2e"])
    captured = capsys.readouterr()
    assert code == 0 and "sample" in captured.out
    warnings = [line for line in captured.err.splitlines() if "not downloaded" in line]
    assert len(warnings) == 1 and "vsr bench --download" in warnings[0] and "samples" in warnings[0]


def test_out_of_the_box_run_benches_the_bundled_sample(tmp_path, capsys):
    shipped(3)
    if not list(cli_bench.SAMPLES_DIR.glob("*.y4m")):
        pytest.skip("no bundled sample clip")
    code = main(["bench", "--cache-dir", str(tmp_path), "--frames", "3", "--no-ssim", "--no-e2e"])
    captured = capsys.readouterr()
    assert code == 0 and "vsr bench --download" in captured.err
    row = next(line for line in captured.out.splitlines() if line.startswith("dog_"))
    assert float(row.split()[-1]) > 0  # ESPCN gains over bicubic on the real sample


def test_cached_xiph_clip_is_benched_by_name(tmp_path, weights_file, capsys):
    cache = tmp_path / "cache"
    cache.mkdir()
    make_video(cache / "crowd_run_1080p50.y4m", width=1920, height=1080, frames=1, codec="rawvideo", audio=None)
    code = main(["bench", "crowd_run", "--cache-dir", str(cache), "--scale", "4", "--weights", str(weights_file(4)),
                 "--device", "cpu", "--no-ssim", "--no-e2e"])
    out = capsys.readouterr().out
    assert code == 0 and "crowd_run_1080p50" in out and "1920x1080" in out


@pytest.mark.parametrize("argv, code, message", [
    (["bench", "nope"], 1, "not a video file or a Xiph clip name"),
    (["bench", "park_joy", "--cache-dir", "/nonexistent-vsr"], 1, "vsr bench --download park_joy"),
    (["bench", "x.y4m", "--plot", "p.jpg"], 2, "PNG"),
    (["bench", "x.y4m", "--frames", "0"], 2, "--frames"),
    (["bench", "--mirror", "http://127.0.0.1/"], 2, "--mirror only applies with --download"),
    (["bench", "--download", "--mirror", "ftp://example.org/"], 2, "must be https or http"),
])
def test_usage_errors_are_one_line(argv, code, message, capsys):
    assert main(argv) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_existing_report_is_not_overwritten(clip, tmp_path, capsys):
    existing = tmp_path / "r.json"
    existing.write_text("keep")
    assert main(["bench", str(clip), "--json", str(existing)]) == 1
    assert existing.read_text() == "keep" and "exists" in capsys.readouterr().err


def test_real_clip_from_shared_data(shared_data, tmp_path):
    shipped(4)
    path = shared_data / "video" / "sam2" / "bedroom.mp4"
    result = measure_clip(path, Upscaler(4, device="cpu"), max_frames=2, with_ssim=False)
    assert result.size == (960, 536) and result.frames == 2  # LR 240x134: 4:2:0 needs even sizes
    assert result.mean("psnr", ESPCN) > result.mean("psnr", BICUBIC)
    assert result.timed_frames["end-to-end"] == 2


def test_benchmark_video_tables_have_every_figure(clip, monkeypatch):
    """``benchmarks/video.py`` builds its tables from ``measure_clip``; a stage renamed under it (the SR stage
    was timed as "ESPCN" once) leaves a row without figures, or stops the script before it writes anything."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    video_bench = pytest.importorskip("video")
    up = Upscaler(3, device="cpu")
    result = measure_clip(clip, up, name="tiny", max_frames=3, end_to_end=False,
                          extra_methods={"peer": lambda y: matlab_bicubic(y, 3)})
    quality = video_bench.quality_table([result], ["peer"])
    speed = video_bench.peer_speed_table([result], ["peer"])
    assert len(quality) == 4 and len(speed) == 5, (quality, speed)
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ")[1].strip(" |") for line in speed[2:]}
    assert float(rows["vsr ESPCN (Y + chroma, SR stage)"]) == pytest.approx(result.fps(SR), abs=0.05)
    assert float(rows["bicubic, MATLAB-compatible (Y)"]) == pytest.approx(result.fps(BICUBIC), abs=0.05)
    assert float(rows["peer (Y)"]) == pytest.approx(result.fps("peer"), abs=0.05)
    assert "None" not in "".join(quality + speed) and "nan" not in "".join(quality + speed)
