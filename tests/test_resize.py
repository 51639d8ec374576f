"""MATLAB-compatible imresize: properties of MATLAB's kernel and coordinates, and the published bicubic numbers."""
import numpy as np
import pytest
import torch

from vsr.evaluate import evaluate_set
from vsr.protocol import matlab_bicubic
from vsr.resize import imresize, imresize_torch, output_size, resize_matrix


@pytest.mark.parametrize("scale", [2, 3, 4, 1 / 2, 1 / 3, 1 / 4, 0.9])
def test_constant_image_stays_constant(scale):
    img = np.full((17, 23), 137, np.uint8)
    out = imresize(img, scale)
    np.testing.assert_allclose(out, 137.0, atol=1e-9)


@pytest.mark.parametrize("shape,scale,expected", [((17, 10), 1 / 3, (6, 4)), ((18, 12), 1 / 3, (6, 4)),
                                                  ((5, 7), 3, (15, 21)), ((9, 9), 0.5, (5, 5)), ((4, 6, 3), 2, (8, 12, 3))])
def test_output_size_is_ceil_of_scaled_size(shape, scale, expected):
    assert imresize(np.zeros(shape, np.uint8), scale).shape == expected


def test_output_size_is_robust_to_float_error():
    assert output_size(300, 1 / 3) == 100
    assert output_size(255, 0.2) == 51


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_upscaling_reproduces_a_quadratic_at_matlab_coordinates(scale):
    """Keys' cubic with a = -0.5 (MATLAB's) is exact on quadratics; OpenCV's a = -0.75 is not.

    MATLAB maps output pixel i (1-based) to input coordinate i / s + (1 - 1 / s) / 2.
    """
    n = 40
    x = np.arange(1, n + 1, dtype=np.float64)
    f = lambda t: 0.1 * (t - 17.3) ** 2 + 2 * t  # noqa: E731
    out = imresize(np.tile(f(x), (3, 1)), scale)[1]
    u = np.arange(1, scale * n + 1) / scale + 0.5 * (1 - 1 / scale)
    inner = slice(3 * scale, -3 * scale)  # away from the mirrored borders
    np.testing.assert_allclose(out[inner], f(u[inner]), atol=1e-9)


@pytest.mark.parametrize("scale", [1 / 2, 1 / 3, 1 / 4])
def test_shrinking_reproduces_a_ramp(scale):
    x = np.arange(1, 61, dtype=np.float64)
    out = imresize(np.tile(3 * x + 5, (8, 1)), scale)[1]
    u = np.arange(1, len(out) + 1) / scale + 0.5 * (1 - 1 / scale)
    np.testing.assert_allclose(out[3:-3], 3 * u[3:-3] + 5, atol=1e-9)


def test_shrinking_is_antialiased():
    """A 1-pixel stripe pattern shrunk x1/3 averages out; plain bicubic sampling would keep 0s and 255s."""
    stripes = np.tile(np.array([0, 255] * 30, np.uint8), (12, 1))
    out = imresize(stripes, 1 / 3)[2, 2:-2]
    assert np.all(np.abs(out - 127.5) < 20), out


def test_matrix_rows_sum_to_one_and_mirror_at_borders():
    m = resize_matrix(10, 30, 3.0)
    np.testing.assert_allclose(m.sum(axis=1), 1.0)
    assert m.shape == (30, 10)
    assert np.count_nonzero(m[:, 5:]) and np.all(m[0, 4:] == 0)


def test_colour_channels_resize_independently():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (13, 9, 3), dtype=np.uint8)
    out = imresize(img, 1 / 2)
    for c in range(3):
        np.testing.assert_allclose(out[:, :, c], imresize(img[:, :, c], 1 / 2), atol=1e-9)


@pytest.mark.parametrize("scale", [3, 1 / 3])
def test_torch_matches_numpy(scale):
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (2, 1, 21, 16)).astype(np.float64)
    out = imresize_torch(torch.from_numpy(img), scale).numpy()
    for i in range(2):
        np.testing.assert_allclose(out[i, 0], imresize(img[i, 0], scale), atol=1e-9)


# Bicubic PSNR on Y, the standard protocol, as published (e.g. Kim et al. VDSR 2016, Table 2).
PUBLISHED_BICUBIC = [("Set5", 3, 30.39), ("Set14", 3, 27.54), ("BSDS500/val", 3, 27.21),
                     ("Set5", 2, 33.66), ("Set5", 4, 28.42)]


@pytest.mark.parametrize("folder,scale,expected", PUBLISHED_BICUBIC)
def test_bicubic_matches_published_numbers(shared_data, folder, scale, expected):
    result = evaluate_set(shared_data / "images" / folder, scale, {"bicubic": lambda lr: matlab_bicubic(lr, scale)},
                          with_ssim=False)
    assert result.mean_psnr("bicubic") == pytest.approx(expected, abs=0.05)
