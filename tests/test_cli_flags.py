"""The model flags (--scale, --device, --weights, --precision, --backend, --tile, --batch, --frames) mean the
same on every command that has them: one definition in the parser, and each command builds its
``Upscaler`` from them, so asking for a backend, a precision or tiles really gets them."""
import argparse
import json
from pathlib import Path
from typing import Dict, List

import cv2
import numpy as np
import pytest
import torch

from conftest import smooth_image
from video_fixtures import make_video
from vsr import backends
from vsr.cli import build_parser, main
from vsr.cli import common
from vsr.errors import VsrError
from vsr.upscaler import Upscaler, _dtype

RUNS_THE_MODEL = ("upscale", "bench", "live", "eval")
FLAGS_OF = {
    "upscale": set(common.MODEL_FLAGS),
    "bench": set(common.MODEL_FLAGS),
    "live": set(common.MODEL_FLAGS) - {"batch"},  # one frame at a time: the newest, never a queue
    "eval": set(common.MODEL_FLAGS) - {"batch", "frames"},  # images, one by one
    "train": {"scale", "device"},  # its own --batch (patches per step) and --init (the starting weights)
}


def subcommands() -> Dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sub.choices


def action(parser: argparse.ArgumentParser, flag: str) -> argparse.Action:
    return next(a for a in parser._actions if f"--{flag}" in a.option_strings)


def described(a: argparse.Action) -> tuple:
    return a.option_strings, a.dest, a.type, a.default, a.choices, a.metavar, a.help


@pytest.mark.parametrize("flag", list(common.MODEL_FLAGS))
def test_each_flag_is_defined_once_for_every_command(flag):
    commands = subcommands()
    having = sorted(c for c, flags in FLAGS_OF.items() if flag in flags)
    assert having, flag
    first = described(action(commands[having[0]], flag))
    for name in having:
        assert described(action(commands[name], flag)) == first, name
        assert action(commands[name], flag).help == common.MODEL_FLAGS[flag][1]["help"]


def test_each_command_has_its_subset_and_no_other_meaning():
    commands = subcommands()
    for name, flags in FLAGS_OF.items():
        options = {o for a in commands[name]._actions for o in a.option_strings}
        for flag in common.MODEL_FLAGS:
            if flag in flags:
                assert f"--{flag}" in options, (name, flag)
            elif flag != "batch" or name != "train":
                assert f"--{flag}" not in options, (name, flag)
    train_batch = action(commands["train"], "batch")
    assert "training step" in train_batch.help and "not frames per network call" in train_batch.help
    assert "--weights" not in {o for a in commands["train"]._actions for o in a.option_strings}


def test_choices_agree_with_the_library():
    assert common.BACKENDS == backends.BACKENDS
    for precision in common.PRECISIONS:
        _dtype(precision, torch.device("cpu"))
    with pytest.raises(VsrError):
        _dtype("fp8", torch.device("cpu"))


# ---- each command honours each flag ------------------------------------------------------------
@pytest.fixture
def built(monkeypatch) -> List[Upscaler]:
    """Every Upscaler the command builds, and how often each ran tiled."""
    made: List[Upscaler] = []
    init, tiled = Upscaler.__init__, Upscaler._tiled

    def spy_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.tiled_calls = 0
        made.append(self)

    def spy_tiled(self, *args, **kwargs):
        self.tiled_calls += 1
        return tiled(self, *args, **kwargs)

    monkeypatch.setattr(Upscaler, "__init__", spy_init)
    monkeypatch.setattr(Upscaler, "_tiled", spy_tiled)
    return made


@pytest.fixture
def inputs(tmp_path, weights_file) -> Dict[str, Path]:
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f"img{i}.png"), smooth_image(30, 27, seed=i)[:, :, ::-1])
    return {"video": make_video(tmp_path / "clip.y4m", width=48, height=36, frames=3, codec="rawvideo", audio=None).path,
            "image": folder / "img0.png", "folder": folder, "weights": weights_file(2)}


def command(name: str, inputs: Dict[str, Path], out: Path, *flags: str) -> List[str]:
    """``vsr NAME`` on the small inputs at x2 on the CPU, its scores (if any) into ``out``."""
    common_flags = ["--scale", "2", "--device", "cpu", "--weights", str(inputs["weights"]), *flags]
    return {
        "upscale": ["upscale", str(inputs["image"]), str(out.with_suffix(".png")), "-y"],
        "upscale video": ["upscale", str(inputs["video"]), str(out.with_suffix(".mkv")), "--frames", "2", "-y"],
        "bench": ["bench", str(inputs["video"]), "--frames", "2", "--no-ssim", "--no-e2e", "--json", str(out), "-y"],
        "live": ["live", "--source", str(inputs["video"]), "--no-window", "--frames", "2"],
        "eval": ["eval", str(inputs["folder"]), "--no-ssim", "--json", str(out)],
    }[name] + common_flags


@pytest.mark.parametrize("name", RUNS_THE_MODEL + ("upscale video",))
@pytest.mark.parametrize("backend, precision, dtype", [("torch", "fp32", torch.float32),
                                                        ("onnxruntime", "fp32", torch.float32),
                                                        ("torch", "bf16", torch.bfloat16)])
def test_backend_and_precision_are_honoured(name, backend, precision, dtype, inputs, built, tmp_path, capsys):
    argv = command(name, inputs, tmp_path / "r.json", "--backend", backend, "--precision", precision)
    assert main(["-v", *argv]) == 0
    assert built and all(u.backend == backend and u.dtype == dtype for u in built)
    assert f"{dtype}, backend {backend}" in capsys.readouterr().err  # what -v says
    if name == "bench":  # and what the results say they were measured with
        env = json.loads((tmp_path / "r.json").read_text())
        assert (env["backend"], env["precision"], env["batch"]) == (backend, str(dtype)[6:], 1)  # CPU: 1 frame a call


@pytest.mark.parametrize("name", ["bench", "live", "eval"])
def test_tiles_give_the_untiled_result(name, inputs, built, tmp_path, monkeypatch):
    seen: List[Dict[bytes, bytes]] = []  # live drops frames by timing: compare the frames both runs upscaled
    upscale_yuv420 = Upscaler.upscale_yuv420
    monkeypatch.setattr(Upscaler, "upscale_yuv420",
                        lambda self, *p: seen[-1].setdefault(p[0].tobytes(), upscale_yuv420(self, *p)))
    scores = []
    for k, tile in enumerate((None, "8")):
        seen.append({})
        out = tmp_path / f"r{k}.json"
        assert main(command(name, inputs, out, *(["--tile", tile] if tile else []))) == 0
        if name != "live":
            scores.append(json.loads(out.read_text()))
    assert [u.tile for u in built] == [None, 8] and built[0].tiled_calls == 0 and built[1].tiled_calls > 0
    if name == "live":
        common_frames = seen[0].keys() & seen[1].keys()
        assert common_frames and all(np.array_equal(seen[0][f], seen[1][f]) for f in common_frames)
    elif name == "bench":
        assert scores[0]["clips"][0]["psnr"] == scores[1]["clips"][0]["psnr"]
    else:
        assert scores[0] == scores[1]


def test_bf16_upscale_is_close_to_fp32_but_not_it(inputs, tmp_path):
    outs = {}
    for precision in ("fp32", "bf16"):
        path = tmp_path / f"{precision}.png"
        assert main(["upscale", str(inputs["image"]), str(path), "--scale", "2", "--device", "cpu",
                     "--precision", precision]) == 0  # the shipped weights
        outs[precision] = cv2.imread(str(path)).astype(int)
    diff = np.abs(outs["fp32"] - outs["bf16"])
    assert diff.max() > 0 and diff.mean() < 1.0


@pytest.mark.parametrize("name, flag", [(name, flag) for name, flags in FLAGS_OF.items() for flag in common.COUNTS
                                         if flag in flags or (name, flag) == ("train", "batch")])
def test_counts_below_one_are_the_same_one_line_error(name, flag, inputs, tmp_path, capsys):
    argv = (["train", "--data", str(inputs["folder"]), "--out", str(tmp_path / "w.pt"), "--device", "cpu"]
            if name == "train" else command(name, inputs, tmp_path / "r.json"))
    assert main([*argv, f"--{flag}", "0"]) == 2
    assert capsys.readouterr().err == f"vsr: error: --{flag} must be at least 1, not 0\n"


def test_ray_refuses_what_its_workers_cannot_honour(inputs, tmp_path, capsys):
    """--frames only: segments are cut from the whole file. (--precision, --backend, --tile and --hwaccel
    reach the workers: tests/test_ray_scaleout.py.)"""
    code = main(["upscale", str(inputs["video"]), str(tmp_path / "o.mp4"), "--ray", "local", "--frames", "5"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("vsr: error: --frames is not supported with --ray: ") and err.count("\n") == 1
