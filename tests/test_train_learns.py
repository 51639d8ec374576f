"""``vsr train`` learns: a few hundred steps on ten real images bring the network from noise (~5 dB) to within
2.5 dB of bicubic on images it never saw. A broken optimizer (no step, gradients lost, a learning rate gone
to zero) stays near the random start, 20 dB below the floor asked for here.

The score is computed here, with the public API (``Upscaler(weights=...)``) on held-out BSDS500 *test*
images, not taken from the trainer's own log.
"""
import re

import numpy as np
import pytest

from vsr import Upscaler, images
from vsr.cli import main
from vsr.protocol import degrade, luma, matlab_bicubic, modcrop
from vsr.metrics import psnr

R = 3


@pytest.mark.slow
def test_a_few_hundred_steps_approach_bicubic(tmp_path, shared_data, capsys):
    train_dir = tmp_path / "trainset"
    train_dir.mkdir()
    for f in sorted((shared_data / "images" / "BSDS500" / "train").iterdir())[:12]:
        (train_dir / f.name).write_bytes(f.read_bytes())
    out = tmp_path / "x3.pt"
    assert main(["train", "--data", str(train_dir), "--scale", str(R), "--out", str(out), "--epochs", "3",
                 "--patches-per-epoch", "1600", "--batch", "16", "--device", "cpu", "--no-progress",
                 "--holdout-every", "6"]) == 0
    printed = capsys.readouterr().out
    m = re.search(r"best validation PSNR ([\d.]+) dB at epoch (\d+)", printed)
    assert m, printed
    assert float(m.group(1)) > 20 and int(m.group(2)) > 1  # it kept improving after the first epoch

    up = Upscaler(R, "cpu", weights=out)
    gaps = []
    for f in sorted((shared_data / "images" / "BSDS500" / "test").iterdir())[:3]:
        hr = modcrop(luma(images.read(f)), R)
        lr = degrade(hr, R)
        sr, bic = psnr(up.upscale_y(lr), hr, border=R), psnr(matlab_bicubic(lr, R), hr, border=R)
        assert sr > 20, (f.name, sr)
        gaps.append(bic - sr)
    assert np.mean(gaps) < 2.5, gaps
