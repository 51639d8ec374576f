"""The protocol (``vsr.protocol``): its torch twins equal its numpy steps, its numbers are the ones vsr has
always reported (published tables and committed results depend on them), and training validates with it."""
import numpy as np
import pytest
import torch

from conftest import smooth_image
from vsr import images
from vsr.evaluate import evaluate_set
from vsr.model import ESPCN
from vsr.protocol import (degrade, degrade_torch, eight_bit, luma, matlab_bicubic, matlab_bicubic_torch, modcrop,
                          psnr_y, psnr_y_torch, ssim_y)
from vsr.train import validate

# Computed with the code before the protocol had one module (commit b11bb11, vsr.evaluate's numpy steps):
# MATLAB-bicubic baseline on Set5 at x3, per image (baby, bird, butterfly, head, woman).
SET5_X3_BICUBIC_PSNR = [33.90258702897244, 32.56704443842286, 24.034818991749418, 32.87506471877517,
                        28.559687563241745]
SET5_X3_BICUBIC_SSIM = [0.9036847664278495, 0.9255569093744888, 0.8216330185414293, 0.8000457287185018,
                        0.8893655898579457]
BRIDGE_X3_BICUBIC = (24.402304046305044, 0.64826397207384)  # Set14's grey image: luma is the image itself


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_torch_twins_equal_the_numpy_steps(scale):
    hr = smooth_image(60, 84, channels=1, seed=scale)
    hr_t = torch.from_numpy(np.stack([hr, hr[::-1].copy()]))
    lr = degrade_torch(hr_t, scale).numpy()
    assert np.array_equal(lr[0], degrade(hr, scale)) and np.array_equal(lr[1], degrade(hr[::-1], scale))
    sr = matlab_bicubic_torch(torch.from_numpy(lr), scale)
    assert np.array_equal(sr.numpy()[0], matlab_bicubic(lr[0], scale))
    want = [psnr_y(s, h, scale) for s, h in zip(sr.numpy(), hr_t.numpy())]
    assert psnr_y_torch(sr, hr_t, scale) == pytest.approx(want, abs=1e-12)


def test_modcrop_and_eight_bit():
    assert modcrop(np.zeros((10, 14, 3)), 4).shape == (8, 12, 3)
    assert modcrop(torch.zeros(10, 14), 3).shape == (9, 12)
    ten = np.array([[0, 1, 2, 1021, 1022, 1023]], np.uint16)
    assert eight_bit(ten, 10).tolist() == [[0, 0, 1, 255, 255, 255]]  # +0.5 then floor, clipped


def test_set5_x3_numbers_do_not_move(shared_data):
    """``vsr eval``'s protocol gives, to the last bit, the per-image numbers it gave before."""
    result = evaluate_set(shared_data / "images" / "Set5", 3, {"bicubic": lambda lr: matlab_bicubic(lr, 3)})
    assert result.images == ["baby.png", "bird.png", "butterfly.png", "head.png", "woman.png"]
    assert result.psnr["bicubic"] == pytest.approx(SET5_X3_BICUBIC_PSNR, abs=1e-9)
    assert result.ssim["bicubic"] == pytest.approx(SET5_X3_BICUBIC_SSIM, abs=1e-9)
    assert result.mean("psnr", "bicubic") == result.mean_psnr("bicubic") == pytest.approx(np.mean(SET5_X3_BICUBIC_PSNR))
    assert result.min("psnr", "bicubic") == pytest.approx(min(SET5_X3_BICUBIC_PSNR))


def test_grey_image_numbers_do_not_move(shared_data):
    hr = modcrop(luma(images.read(shared_data / "images" / "Set14" / "bridge.bmp")), 3)
    assert hr.shape == (510, 510)
    sr = matlab_bicubic(degrade(hr, 3), 3)
    assert (psnr_y(sr, hr, 3), ssim_y(sr, hr, 3)) == pytest.approx(BRIDGE_X3_BICUBIC, abs=1e-9)


def constant_model(value: float) -> ESPCN:
    """An x3 network whose every output pixel is ``value``: zero weights, the last layer's bias."""
    model = ESPCN(3)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.conv3.bias.fill_(value)
    return model


def test_validation_rounds_by_vsrs_one_rule():
    """An output of exactly 114.5 (in 8-bit levels) is 115, as ``to_uint8`` rounds, not 114 (half to even)."""
    model = constant_model(114.5 / 255)
    hr = np.tile(np.arange(110, 116, dtype=np.uint8), (30, 5))
    lr = np.zeros((10, 10), np.uint8)
    want = psnr_y(np.full_like(hr, 115), hr, 3)
    assert want != psnr_y(np.full_like(hr, 114), hr, 3)
    assert validate(model, [(lr, hr)], 3, torch.device("cpu")) == pytest.approx(want, abs=1e-12)
