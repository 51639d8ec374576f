"""BT.601 studio-range colour conversion, MATLAB-style rounding, and PSNR/SSIM on inputs with known answers."""
import math

import numpy as np
import pytest
import torch

from vsr.color import rgb_to_y, rgb_to_ycbcr, to_samples_torch, to_uint8, to_uint8_torch, ycbcr_to_rgb
from vsr.metrics import psnr, shave, ssim


def test_studio_range_extremes():
    black, white = np.zeros((1, 1, 3), np.uint8), np.full((1, 1, 3), 255, np.uint8)
    np.testing.assert_allclose(rgb_to_ycbcr(black)[0, 0], [16, 128, 128])
    np.testing.assert_allclose(rgb_to_ycbcr(white)[0, 0], [235, 128, 128], atol=1e-9)
    red = np.array([[[255, 0, 0]]], np.uint8)
    np.testing.assert_allclose(rgb_to_ycbcr(red)[0, 0], [16 + 65.481, 128 - 37.797, 128 + 112.0])


def test_y_matches_the_full_conversion():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (9, 7, 3), dtype=np.uint8)
    np.testing.assert_allclose(rgb_to_y(rgb), rgb_to_ycbcr(rgb)[:, :, 0])


def test_round_trip_is_exact_in_float_and_within_rounding_in_uint8():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    ycc = rgb_to_ycbcr(rgb)
    np.testing.assert_allclose(ycbcr_to_rgb(ycc), rgb, atol=1e-9)
    back = ycbcr_to_rgb(to_uint8(ycc))  # 8-bit YCbCr loses a little
    assert np.abs(to_uint8(back).astype(int) - rgb).max() <= 2


def test_to_uint8_rounds_half_away_from_zero_and_saturates():
    x = np.array([0.5, 1.5, 2.5, 254.5, -0.4, -3.0, 300.0, 1.49])
    np.testing.assert_array_equal(to_uint8(x), [1, 2, 3, 255, 0, 0, 255, 1])
    assert to_uint8(x).dtype == np.uint8


def test_to_uint8_torch_matches_numpy_on_non_negative_values():
    x = np.array([0.0, 0.5, 1.5, 2.5, 127.49999, 254.5, 255.7, 400.0])
    np.testing.assert_array_equal(to_uint8_torch(torch.from_numpy(x)).numpy(), to_uint8(x))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_to_samples_torch_rounds_halves_up_clips_and_copies_unless_told(dtype):
    """The one rounding rule at 8 and 10 bits, whatever the float type; ``inplace=False`` leaves the input as
    it was (the protocol and the trainer reuse theirs), ``inplace=True`` may overwrite it."""
    x = torch.tensor([-7.0, -0.6, 0.49, 0.5, 1.5, 2.5, 127.5, 254.5, 255.4, 300.0, 1019.5, 1023.5, 1e6], dtype=dtype)
    kept = x.clone()
    eight = to_samples_torch(x, 8)
    assert eight.dtype == torch.uint8 and torch.equal(x, kept)
    assert eight.tolist() == [0, 0, 0, 1, 2, 3, 128, 255, 255, 255, 255, 255, 255]
    ten = to_samples_torch(x, 10)
    assert ten.dtype == torch.uint16 and torch.equal(x, kept)
    assert ten.int().tolist() == [0, 0, 0, 1, 2, 3, 128, 255, 255, 300, 1020, 1023, 1023]
    assert torch.equal(to_samples_torch(x.clone(), 10, inplace=True), ten)


def test_psnr_known_values():
    a = np.full((10, 10), 100, np.uint8)
    b = a.copy()
    assert psnr(a, b) == math.inf
    b[0, 0] = 110  # mse = 100 / 100 = 1
    assert psnr(a, b) == pytest.approx(20 * math.log10(255))
    assert psnr(a, b, border=1) == math.inf  # the differing pixel is in the shaved border
    assert psnr(a, a + 10) == pytest.approx(10 * math.log10(255**2 / 100))


def test_psnr_uses_no_uint8_wraparound():
    a, b = np.zeros((4, 4), np.uint8), np.full((4, 4), 255, np.uint8)
    assert psnr(a, b) == pytest.approx(0.0) and psnr(b, a) == pytest.approx(0.0)


def test_psnr_shape_mismatch_is_an_error():
    with pytest.raises(ValueError):
        psnr(np.zeros((4, 4)), np.zeros((4, 5)))


def test_shave():
    assert shave(np.zeros((10, 12)), 3).shape == (4, 6)
    assert shave(np.zeros((10, 12)), 0).shape == (10, 12)


def test_ssim_of_constant_images_is_the_luminance_term():
    a, b = np.full((32, 32), 100.0), np.full((32, 32), 110.0)
    c1 = (0.01 * 255) ** 2
    expected = (2 * 100 * 110 + c1) / (100**2 + 110**2 + c1)
    assert ssim(a, b) == pytest.approx(expected, rel=1e-9)


def test_ssim_identity_symmetry_and_degradation():
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (48, 48)).astype(np.uint8)
    noisy = np.clip(img + rng.normal(0, 10, img.shape), 0, 255).astype(np.uint8)
    noisier = np.clip(img + rng.normal(0, 40, img.shape), 0, 255).astype(np.uint8)
    assert ssim(img, img) == pytest.approx(1.0)
    assert ssim(img, noisy) == pytest.approx(ssim(noisy, img))
    assert 0 < ssim(img, noisier) < ssim(img, noisy) < 1
    assert ssim(img, 255 - img) < 0  # anti-correlated structure
