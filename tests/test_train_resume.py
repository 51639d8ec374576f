"""``vsr train``: checkpoints, --resume (bit-exact against an unbroken run), signals, --init, --threads.

Tiny runs on generated images (3 epochs of 3 steps of 16 patches), in process except the SIGTERM test.
"""
import math
import os
from pathlib import Path
import signal
import subprocess
import sys
import time

import cv2
import pytest
import torch

from conftest import smooth_image
from vsr import train as training
from vsr import weight_files
from vsr.cli import main
from vsr.protocol import degrade, luma, modcrop
from vsr.train import Recipe, load_checkpoint, loss_function, lr_factor, validate

TINY = ["--scale", "3", "--epochs", "3", "--patches-per-epoch", "48", "--batch", "16", "--patch", "12",
        "--holdout-every", "4", "--device", "cpu", "--ema", "0.9", "--no-progress"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("train") / "tiny"
    path.mkdir()
    for i in range(8):
        cv2.imwrite(str(path / f"img{i}.png"), smooth_image(60, 66, seed=i)[:, :, ::-1])
    return path


@pytest.fixture(autouse=True)
def keep_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def run(capsys, *args) -> tuple:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def interrupt_at(monkeypatch, call: int, action) -> None:
    """Make the ``call``-th batch sampling (1-based) do ``action`` first: a signal, or a crash."""
    real = training.sample_batch
    calls = []

    def sample(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            action()
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "sample_batch", sample)


def assert_same_run(a: dict, b: dict) -> None:
    assert a["step"] == b["step"] == 9
    for part in ("model", "ema"):
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert [(c["psnr"], c["loss"]) for c in a["curve"]] == [(c["psnr"], c["loss"]) for c in b["curve"]]
    assert a["best"]["epoch"] == b["best"]["epoch"] and a["best"]["psnr"] == b["best"]["psnr"]
    assert all(torch.equal(a["best"]["state_dict"][k], b["best"]["state_dict"][k]) for k in a["best"]["state_dict"])


@pytest.fixture(scope="module")
def unbroken(folder, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("unbroken") / "w.pt"
    assert main(["train", "--data", str(folder), "--out", str(out), *TINY]) == 0
    state = load_checkpoint(out.with_suffix(".ckpt"))
    _, meta = weight_files.load(out, scale=3)
    return dict(state, out_meta=meta, out=out)


@pytest.mark.parametrize("call", [5, 6], ids=["inside-an-epoch", "at-its-last-step"])
def test_interrupted_then_resumed_equals_unbroken_bit_for_bit(folder, tmp_path, unbroken, monkeypatch, capsys, call):
    out = tmp_path / "w.pt"
    interrupt_at(monkeypatch, call, lambda: os.kill(os.getpid(), signal.SIGINT))  # epoch 2 is calls 4-6
    code, _, err = run(capsys, "train", "--data", folder, "--out", out, *TINY)
    assert code == 130 and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert f"interrupted at step {call} of 9" in last and "--resume" in last, err
    assert load_checkpoint(out.with_suffix(".ckpt"))["step"] == call  # the step in flight was finished, not cut
    monkeypatch.undo()
    code, printed, err = run(capsys, "train", "--data", folder, "--out", out, *TINY, "--resume")
    assert code == 0, err
    assert "resuming" in err and "144 samples seen" in printed
    resumed = load_checkpoint(out.with_suffix(".ckpt"))
    assert_same_run(unbroken, resumed)
    _, meta = weight_files.load(out, scale=3)
    assert meta["validation_psnr"] == unbroken["out_meta"]["validation_psnr"]
    assert len(meta["sessions"]) == 2 and meta["sessions"][1]["start_step"] == call


def test_resume_keeps_the_widths_of_the_run_it_continues(folder, tmp_path, monkeypatch, capsys):
    """A checkpoint made before a change of ``model.CHANNELS`` resumes as the run it was (no shape error)."""
    out = tmp_path / "w.pt"
    monkeypatch.setattr(training, "CHANNELS", (16, 8))
    interrupt_at(monkeypatch, 5, lambda: os.kill(os.getpid(), signal.SIGINT))
    assert run(capsys, "train", "--data", folder, "--out", out, *TINY)[0] == 130
    monkeypatch.undo()  # back to the shipped widths
    code, _, err = run(capsys, "train", "--data", folder, "--out", out, *TINY, "--resume")
    assert code == 0 and "Traceback" not in err, err
    model, _ = weight_files.load(out, scale=3)
    assert model.channels == (16, 8)
    assert load_checkpoint(out.with_suffix(".ckpt"))["model"]["conv1.weight"].shape[0] == 16


def test_a_crash_resumes_from_the_periodic_checkpoint(folder, tmp_path, unbroken, monkeypatch, capsys):
    """As after kill -9 or a power cut: only the checkpoint written every N minutes (here: every step) is left."""
    out = tmp_path / "w.pt"

    def crash():
        raise RuntimeError("simulated crash")

    interrupt_at(monkeypatch, 8, crash)
    with pytest.raises(RuntimeError):
        main(["train", "--data", str(folder), "--out", str(out), *TINY, "--checkpoint-every", "0"])
    assert load_checkpoint(out.with_suffix(".ckpt"))["step"] == 7
    monkeypatch.undo()
    capsys.readouterr()
    assert run(capsys, "train", "--data", folder, "--out", out, *TINY, "--resume")[0] == 0
    assert_same_run(unbroken, load_checkpoint(out.with_suffix(".ckpt")))


def test_resume_refuses_another_recipe_a_missing_checkpoint_and_a_silent_restart(folder, unbroken, tmp_path, capsys):
    out = unbroken["out"]
    code, _, err = run(capsys, "train", "--data", folder, "--out", out, *TINY, "--lr", "1e-3", "--resume")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "lr 0.003 there, 0.001 here" in err, err
    code, _, err = run(capsys, "train", "--data", folder, "--out", tmp_path / "new.pt", *TINY, "--resume")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "no checkpoint" in err, err
    out.unlink()  # the weights are gone, the checkpoint is not: starting over needs -y
    code, _, err = run(capsys, "train", "--data", folder, "--out", out, *TINY)
    assert code == 1 and "--resume" in err and len(err.strip().splitlines()) == 1, err
    out.with_suffix(".ckpt").write_bytes(b"not a checkpoint")
    code, _, err = run(capsys, "train", "--data", folder, "--out", out, *TINY, "--resume")
    assert code == 1 and "not a vsr training checkpoint" in err and "Traceback" not in err, err


def test_init_starts_from_the_given_weights_and_threads_are_capped(folder, tmp_path, weights_file, capsys):
    out = tmp_path / "w.pt"
    start = weights_file(3)
    code, _, err = run(capsys, "train", "--data", folder, "--out", out, *TINY, "--epochs", "1",
                       "--init", start, "--threads", "1")
    assert code == 0, err
    state = load_checkpoint(out.with_suffix(".ckpt"))
    model, _ = weight_files.load(start, scale=3)
    held = [folder / "img3.png", folder / "img7.png"]  # every 4th, sorted
    pairs = [(degrade(hr, 3), hr) for hr in (modcrop(luma(cv2.imread(str(p))[:, :, ::-1]), 3) for p in held)]
    assert state["curve"][0]["samples"] == 0
    assert state["curve"][0]["psnr"] == round(validate(model, pairs, 3, torch.device("cpu")), 4)
    assert state["recipe"]["init"].startswith("sha256:") and state["meta"]["init"].startswith(start.name)
    assert state["meta"]["sessions"][0]["threads"] == 1 == torch.get_num_threads()
    code, _, err = run(capsys, "train", "--data", folder, "--out", out, *TINY, "--epochs", "1", "--resume")
    assert code == 2 and "init" in err, err  # the same command means the same --init


def test_sigterm_writes_the_checkpoint_and_exits_130(folder, tmp_path):
    out = tmp_path / "w.pt"
    ckpt = out.with_suffix(".ckpt")
    proc = subprocess.Popen([sys.executable, "-m", "vsr", "train", "--data", str(folder), "--out", str(out),
                             *TINY, "--epochs", "100000", "--checkpoint-every", "0", "--threads", "1"],
                            stderr=subprocess.PIPE, text=True)
    try:
        while not ckpt.exists() and proc.poll() is None:  # training has begun once a checkpoint exists
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=120)[1]
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted at step" in err.strip().splitlines()[-1], err
    assert load_checkpoint(ckpt)["step"] >= 1


def test_schedule_and_losses():
    recipe = Recipe(epochs=10, warm_epochs=2, lr=1e-3, lr_final=1e-5)
    assert lr_factor(recipe, 0, 100) == lr_factor(recipe, 199, 100) == 1.0
    assert math.isclose(lr_factor(recipe, 1000, 100), 0.01) and lr_factor(recipe, 600, 100) < 0.51
    constant = Recipe(epochs=10, lr=1e-3, lr_final=1e-3)
    assert all(lr_factor(constant, s, 100) == 1.0 for s in range(0, 1200, 37))
    a, b = torch.zeros(4), torch.tensor([0.0, 0.5, -0.5, 1.0])
    assert math.isclose(float(loss_function("l1")(a, b)), 0.5)
    assert math.isclose(float(loss_function("mse")(a, b)), 0.375)
    charbonnier = float(loss_function("charbonnier")(a, b))
    assert 0.5 < charbonnier < 0.5 + 1e-3 and math.isclose(float(loss_function("charbonnier")(a, a)), 1e-3, rel_tol=1e-6)


def test_amp_runs_the_convolutions_in_bfloat16_and_keeps_float32_weights(folder, tmp_path, unbroken, capsys):
    out = tmp_path / "w.pt"
    code, _, err = run(capsys, "train", "--data", folder, "--out", out, *TINY, "--amp")
    assert code == 0, err
    state = load_checkpoint(out.with_suffix(".ckpt"))
    assert state["meta"]["sessions"][0]["amp"] is True
    assert all(v.dtype == torch.float32 for v in state["model"].values())
    assert all(t.dtype == torch.float32 for s in state["optimizer"]["state"].values() for k, t in s.items() if k != "step")
    assert not torch.equal(state["model"]["conv1.weight"], unbroken["model"]["conv1.weight"])  # bfloat16 did run
    assert state["curve"][-1]["psnr"] > state["curve"][0]["psnr"] + 3  # and it trains
