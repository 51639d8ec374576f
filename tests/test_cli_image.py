"""The ``vsr`` command on images: upscale, eval, train, and every user mistake as one line with an exit code."""
import hashlib
import json
import os
from pathlib import Path
import subprocess
import sys

import cv2
import numpy as np
import pytest

import vsr
from conftest import smooth_image
from vsr import images, weight_files
from vsr.cli import main
from vsr.protocol import degrade, luma, matlab_bicubic, modcrop
from vsr.metrics import psnr


def vsr_cmd(*args: str, cwd=None) -> subprocess.CompletedProcess:
    """Run the real command in a fresh interpreter, as a user would."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "vsr", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def run_main(capsys, *args: str) -> subprocess.CompletedProcess:
    """``main`` in this process (fast); an escaping exception fails the test, so no traceback goes unseen."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, captured.out, captured.err)


def assert_one_line_error(proc, code, *words):
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines and "error:" in lines[-1], proc.stderr
    if code == 1:
        assert len(lines) == 1 and lines[0].startswith("vsr: error:"), proc.stderr
    for word in words:
        assert word in lines[-1], proc.stderr


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def colour_png(tmp_path) -> Path:
    path = tmp_path / "in.png"
    cv2.imwrite(str(path), smooth_image(20, 31)[:, :, ::-1])
    return path


def test_python_m_vsr_version():
    proc = vsr_cmd("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"vsr {vsr.__version__}"


def test_console_script_help():
    exe = Path(sys.executable).with_name("vsr")
    if not exe.exists():
        pytest.skip("console script not installed next to this interpreter")
    proc = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0
    for word in ("upscale", "eval", "train", "examples:", "--version"):
        assert word in proc.stdout


def test_no_command_prints_help_and_exits_2(capsys):
    proc = run_main(capsys)
    assert proc.returncode == 2 and "usage:" in proc.stderr


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_upscale_colour_png(tmp_path, colour_png, weights_file, scale):
    out = tmp_path / "out.png"
    before = digest(colour_png)
    assert main(["upscale", str(colour_png), str(out), "--scale", str(scale),
                 "--weights", str(weights_file(scale)), "--device", "cpu"]) == 0
    img = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert img.shape == (20 * scale, 31 * scale, 3) and img.dtype == np.uint8
    assert digest(colour_png) == before  # the input is never modified


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp"])
def test_upscale_grey_images_stay_grey(tmp_path, weights_file, suffix):
    src, out = tmp_path / f"grey{suffix}", tmp_path / f"out{suffix}"
    cv2.imwrite(str(src), smooth_image(17, 12, channels=1))
    assert main(["upscale", str(src), str(out), "-s", "3", "--weights", str(weights_file(3)), "--device", "cpu"]) == 0
    img = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert img.shape == (51, 36)


def test_upscale_with_shipped_weights_in_a_subprocess(tmp_path, colour_png):
    if not weight_files.shipped_path(3).is_file():
        pytest.skip("shipped weights not present")
    out = tmp_path / "big.jpg"
    proc = vsr_cmd("upscale", colour_png, out, "--scale", "3", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert cv2.imread(str(out)).shape == (60, 93, 3)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_tiled_cli_output_equals_untiled(tmp_path, colour_png, weights_file):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    w = str(weights_file(2))
    assert main(["upscale", str(colour_png), str(a), "-s", "2", "--weights", w, "--device", "cpu"]) == 0
    assert main(["upscale", str(colour_png), str(b), "-s", "2", "--weights", w, "--device", "cpu", "--tile", "8"]) == 0
    diff = np.abs(cv2.imread(str(a)).astype(int) - cv2.imread(str(b)))
    assert diff.max() <= 1


def test_refuses_to_overwrite_without_y(tmp_path, colour_png, weights_file, capsys):
    out = tmp_path / "out.png"
    out.write_bytes(b"precious")
    args = ["upscale", str(colour_png), str(out), "-s", "2", "--weights", str(weights_file(2)), "--device", "cpu"]
    assert main(args) == 1
    assert "exists" in capsys.readouterr().err and out.read_bytes() == b"precious"
    assert main(args + ["-y"]) == 0
    assert cv2.imread(str(out)).shape == (40, 62, 3)


def test_refuses_to_write_over_its_input(colour_png, weights_file):
    before = digest(colour_png)
    assert main(["upscale", str(colour_png), str(colour_png), "-y", "--weights", str(weights_file(3)),
                 "--device", "cpu"]) == 1
    assert digest(colour_png) == before


def test_errors_in_a_real_process_are_one_line_without_traceback(tmp_path, colour_png):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(os.urandom(2000))
    assert_one_line_error(vsr_cmd("upscale", colour_png, tmp_path / "out.png", "--weights", corrupt), 1, "corrupt.pt")
    assert_one_line_error(vsr_cmd("upscale", colour_png, tmp_path / "out.png", "--scale", "5"), 2, "scale")
    assert not (tmp_path / "out.png").exists()


def test_user_mistakes_are_one_line_errors(tmp_path, colour_png, weights_file, capsys):
    out = tmp_path / "out.png"
    w = weights_file(3)
    assert_one_line_error(run_main(capsys, "upscale", tmp_path / "missing.png", out, "--weights", w), 1, "missing.png")
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"\x89PNG but not really" * 20)
    assert_one_line_error(run_main(capsys, "upscale", garbage, out, "--weights", w), 1, "garbage.png")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(colour_png.read_bytes()[:60])
    assert_one_line_error(run_main(capsys, "upscale", truncated, out, "--weights", w), 1, "truncated.png")
    assert_one_line_error(run_main(capsys, "upscale", colour_png, out, "--weights", tmp_path / "nope.pt"), 1, "nope.pt")
    assert_one_line_error(run_main(capsys, "upscale", colour_png, out, "--weights", weights_file(2), "-s", "3"), 1, "x2")
    assert_one_line_error(run_main(capsys, "upscale", colour_png, tmp_path / "no" / "out.png", "--weights", w), 1, "folder")
    assert not out.exists()
    odd = tmp_path / "out.xyz"
    assert_one_line_error(run_main(capsys, "upscale", colour_png, odd, "--weights", w, "--device", "cpu"), 1, ".xyz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.png", "in.png", "truncated.png"]


@pytest.mark.parametrize("args", [["--scale", "5"], ["--scale", "three"], ["--tile", "0"], ["--frobnicate"]])
def test_usage_errors_exit_2(tmp_path, colour_png, weights_file, capsys, args):
    proc = run_main(capsys, "upscale", colour_png, tmp_path / "out.png", "--weights", weights_file(3), "--device", "cpu", *args)
    assert_one_line_error(proc, 2)
    assert not (tmp_path / "out.png").exists()


@pytest.fixture
def image_folder(tmp_path) -> Path:
    folder = tmp_path / "tiny"
    folder.mkdir()
    for i, (h, w) in enumerate([(48, 50), (37, 61), (64, 64)]):
        cv2.imwrite(str(folder / f"img{i}.png"), smooth_image(h, w, seed=i)[:, :, ::-1])
    cv2.imwrite(str(folder / "grey.bmp"), smooth_image(40, 40, channels=1, seed=9))
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_eval_on_a_generated_folder(tmp_path, image_folder, weights_file, capsys):
    w = tmp_path / "w.pt"
    w.write_bytes(weights_file(3).read_bytes())
    report = tmp_path / "report.json"
    assert main(["eval", str(image_folder), "-s", "3", "--weights", str(w), "--device", "cpu",
                 "--json", str(report), "--write-metrics"]) == 0
    out = capsys.readouterr().out
    assert "tiny" in out and "bicubic" in out and "ESPCN" in out
    data = json.loads(report.read_text())["tiny"]
    assert data["images"] == ["grey.bmp", "img0.png", "img1.png", "img2.png"]
    for name, score in zip(data["images"], data["psnr"]["bicubic"]):  # the protocol, step by step
        hr = modcrop(luma(images.read(image_folder / name)), 3)
        assert score == pytest.approx(psnr(matlab_bicubic(degrade(hr, 3), 3), hr, border=3))
    assert len(data["ssim"]["ESPCN"]) == 4 and all(-1 <= s <= 1 for s in data["ssim"]["ESPCN"])
    meta = weight_files.load(w)[1]
    assert meta["metrics"]["tiny"]["bicubic_psnr"] == pytest.approx(np.mean(data["psnr"]["bicubic"]), abs=1e-3)


def test_eval_errors(tmp_path, image_folder, weights_file, capsys):
    assert_one_line_error(run_main(capsys, "eval", tmp_path / "nowhere", "--weights", weights_file(3)), 1, "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(run_main(capsys, "eval", empty, "--weights", weights_file(3)), 1, "no images")
    assert_one_line_error(run_main(capsys, "eval", image_folder, "--write-metrics"), 2, "--weights")


def test_train_one_tiny_epoch(tmp_path, image_folder, capsys):
    for i in range(3, 7):
        cv2.imwrite(str(image_folder / f"img{i}.png"), smooth_image(80, 90, seed=i)[:, :, ::-1])
    out = tmp_path / "mine_x3.pt"
    assert main(["train", "--data", str(image_folder), "--scale", "3", "--out", str(out), "--epochs", "1",
                 "--patches-per-epoch", "32", "--batch", "16", "--patch", "12", "--holdout-every", "4",
                 "--device", "cpu"]) == 0
    assert "best validation PSNR" in capsys.readouterr().out
    model, meta = weight_files.load(out, scale=3)
    assert meta["recipe"]["epochs"] == 1 and meta["recipe"]["patch"] == 12 and meta["best_epoch"] == 1
    assert meta["training_data"] == ["tiny"] and meta["training_images"] + meta["validation_images"] == 8
    assert isinstance(meta["validation_psnr"], float)
    up = vsr.Upscaler(3, device="cpu", weights=out)  # a user's own file works through the API
    assert up.upscale_y(np.zeros((5, 6), np.uint8)).shape == (15, 18)


def test_train_refuses_evaluation_sets_and_existing_output(tmp_path, image_folder, capsys):
    set5 = tmp_path / "Set5"
    image_folder.rename(set5)
    proc = run_main(capsys, "train", "--data", set5, "--out", tmp_path / "w.pt", "--device", "cpu")
    assert_one_line_error(proc, 1, "Set5")
    existing = tmp_path / "exists.pt"
    existing.write_bytes(b"x")
    assert_one_line_error(run_main(capsys, "train", "--data", set5, "--out", existing), 1, "exists")
    assert_one_line_error(run_main(capsys, "train", "--data", tmp_path / "void", "--out", tmp_path / "v.pt"), 1, "void")
    assert existing.read_bytes() == b"x"


@pytest.mark.parametrize("option", [["--epochs", "0"], ["--batch", "0"], ["--patches-per-epoch", "0"], ["--lr", "-1"],
                                    ["--patch", "8"]])
def test_train_rejects_impossible_recipes(tmp_path, image_folder, capsys, option):
    out = tmp_path / "w.pt"
    assert_one_line_error(run_main(capsys, "train", "--data", image_folder, "--out", out, *option), 2, option[0])
    assert not out.exists()



def test_parsing_needs_no_heavy_library_and_the_scales_agree():
    """--help and --version answer before torch, OpenCV or PyAV load (they take seconds on a busy machine)."""
    code = ("import sys\nfrom vsr.cli import build_parser\nfrom vsr.cli.common import SCALES\n"
            "build_parser().format_help()\n"
            "print(sorted(m for m in ('torch', 'cv2', 'av', 'onnx', 'onnxruntime', 'numpy') if m in sys.modules))\n"
            "print(SCALES)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    loaded, scales = run.stdout.splitlines()
    assert loaded == "[]"
    from vsr.model import SCALES
    assert scales == str(SCALES)
