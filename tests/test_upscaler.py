"""The Python API: shapes and dtypes of every entry point, exact tiling, bad input, and real quality."""
import cv2
import numpy as np
import pytest
import torch

from conftest import smooth_image
from vsr import Upscaler, VsrError
from vsr.protocol import degrade, luma, matlab_bicubic, modcrop
from vsr import images
from vsr.metrics import psnr
from vsr.weight_files import shipped_path


@pytest.fixture(params=[2, 3, 4])
def up(request, weights_file):
    return Upscaler(request.param, device="cpu", weights=weights_file(request.param))


def test_upscale_y_2d_and_3d(up):
    r = up.scale
    y = smooth_image(11, 17, channels=1)
    out = up.upscale_y(y)
    assert out.dtype == np.uint8 and out.shape == (11 * r, 17 * r)
    batch = np.stack([y, 255 - y, y // 2])
    outs = up.upscale_y(batch)
    assert outs.dtype == np.uint8 and outs.shape == (3, 11 * r, 17 * r)
    np.testing.assert_array_equal(outs[0], out)  # a frame's result does not depend on its batch
    np.testing.assert_array_equal(outs[2], up.upscale_y(batch[2]))


@pytest.mark.parametrize("subsampling", [(2, 2), (1, 2), (1, 1)], ids=["420", "422", "444"])
@pytest.mark.parametrize("size", [(16, 24), (15, 23), (3, 5)], ids=["even", "odd", "tiny"])
def test_upscale_yuv_planes(up, subsampling, size):
    r = up.scale
    h, w = size
    sy, sx = subsampling
    ch, cw = -(-h // sy), -(-w // sx)  # video formats round chroma up
    y = smooth_image(h, w, channels=1, seed=1)
    u = np.full((ch, cw), 90, np.uint8)
    v = np.full((ch, cw), 200, np.uint8)
    y2, u2, v2 = up.upscale_yuv420(y, u, v)
    assert all(p.dtype == np.uint8 for p in (y2, u2, v2))
    assert y2.shape == (r * h, r * w)
    assert u2.shape == v2.shape == (-(-r * h // sy), -(-r * w // sx))
    assert np.all(u2 == 90) and np.all(v2 == 200)  # constant chroma stays constant
    np.testing.assert_array_equal(y2, up.upscale_y(y))


def test_chroma_is_bicubic(weights_file):
    """U and V match OpenCV's bicubic (same kernel, pixel-centre alignment), an independent implementation."""
    up = Upscaler(2, device="cpu", weights=weights_file(2))
    u = smooth_image(10, 12, channels=1, seed=3)
    v = 255 - u
    _, u2, v2 = up.upscale_yuv420(np.zeros((20, 24), np.uint8), u, v)
    for plane, hr in ((u, u2), (v, v2)):
        ref = cv2.resize(plane, (24, 20), interpolation=cv2.INTER_CUBIC)
        assert np.abs(hr.astype(int) - ref)[4:-4, 4:-4].max() <= 1


def test_upscale_rgb(up):
    r = up.scale
    rgb = smooth_image(9, 14, seed=2)
    out = up.upscale_rgb(rgb)
    assert out.dtype == np.uint8 and out.shape == (9 * r, 14 * r, 3)


def test_upscale_rgb_keeps_grey_grey(weights_file):
    """Chroma goes around the network: grey in, grey out, whatever the (here untrained) luma weights do."""
    up = Upscaler(3, device="cpu", weights=weights_file(3))
    grey = np.repeat(smooth_image(8, 10, channels=1)[:, :, None], 3, axis=2)
    out = up.upscale_rgb(grey).astype(int)
    assert np.abs(out[:, :, 0] - out[:, :, 1]).max() <= 1 and np.abs(out[:, :, 2] - out[:, :, 1]).max() <= 1


@pytest.mark.parametrize("tile,size", [(7, (19, 26)), (1, (4, 5)), (1000, (19, 26))])
def test_tiling_equals_untiled(weights_file, tile, size):
    torch.manual_seed(0)
    whole = Upscaler(3, device="cpu", weights=weights_file(3))
    tiled = Upscaler(3, device="cpu", weights=weights_file(3), tile=tile)
    y = torch.rand(2, 1, *size)
    a, b = whole.upscale_luma_tensor(y), tiled.upscale_luma_tensor(y)
    assert a.shape == b.shape == (2, 1, 3 * size[0], 3 * size[1]) and a.dtype == torch.float32
    torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    y8 = smooth_image(*size, channels=1)
    assert np.abs(whole.upscale_y(y8).astype(int) - tiled.upscale_y(y8)).max() <= 1


def test_chroma_tensor(weights_file):
    up = Upscaler(2, device="cpu", weights=weights_file(2))
    c = torch.rand(3, 2, 5, 7)
    out = up.upscale_chroma_tensor(c, (10, 14))
    assert out.shape == (3, 2, 10, 14) and float(out.min()) >= 0 and float(out.max()) <= 1


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.float32), np.zeros(5, np.uint8), np.zeros((2, 2, 2, 2), np.uint8),
                                 [[1, 2], [3, 4]], np.zeros((0, 4), np.uint8)])
def test_bad_luma_is_a_vsr_error(weights_file, bad):
    up = Upscaler(2, device="cpu", weights=weights_file(2))
    with pytest.raises(VsrError):
        up.upscale_y(bad)


def test_bad_rgb_and_planes(weights_file):
    up = Upscaler(2, device="cpu", weights=weights_file(2))
    with pytest.raises(VsrError):
        up.upscale_rgb(np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(VsrError):
        up.upscale_rgb(np.zeros((4, 4), np.uint8))
    with pytest.raises(VsrError):
        up.upscale_yuv420(np.zeros((4, 4), np.uint8), np.zeros((2, 2), np.uint8), np.zeros((2, 3), np.uint8))


@pytest.mark.parametrize("kwargs,code", [({"scale": 5}, 2), ({"scale": 3, "tile": 0}, 2),
                                         ({"scale": 3, "precision": "fp8"}, 2), ({"scale": 3, "device": "tpu"}, 1)])
def test_bad_arguments(weights_file, kwargs, code):
    with pytest.raises(VsrError) as info:
        Upscaler(device=kwargs.pop("device", "cpu"), weights=weights_file(3), **kwargs)
    assert info.value.exit_code == code


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown when CUDA is absent")
def test_cuda_without_gpu_is_a_vsr_error(weights_file):
    with pytest.raises(VsrError, match="no CUDA"):
        Upscaler(3, device="cuda", weights=weights_file(3))


def test_weights_of_another_scale_are_refused(weights_file):
    with pytest.raises(VsrError, match="x2, not x3"):
        Upscaler(3, device="cpu", weights=weights_file(2))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_shipped_weights_beat_bicubic_on_a_real_image(shared_data, scale):
    """The standard protocol on Set5's butterfly, with the weights that ship in the package."""
    if not shipped_path(scale).is_file():
        pytest.skip(f"shipped weights {shipped_path(scale)} not present")
    up = Upscaler(scale, device="cpu")
    assert up.weights_path == shipped_path(scale)
    hr = modcrop(luma(images.read(shared_data / "images" / "Set5" / "butterfly.png")), scale)
    lr = degrade(hr, scale)
    gain = psnr(up.upscale_y(lr), hr, border=scale) - psnr(matlab_bicubic(lr, scale), hr, border=scale)
    assert gain > 1.0, f"ESPCN x{scale} gains only {gain:.2f} dB over bicubic"


def test_shipped_weights_carry_their_metadata():
    for scale in (2, 3, 4):
        if not shipped_path(scale).is_file():
            pytest.skip(f"shipped weights {shipped_path(scale)} not present")
        meta = Upscaler(scale, device="cpu").meta
        assert meta["scale"] == scale and meta["recipe"]["scale"] == scale
        assert meta["training_data"] and not any(s in str(meta["training_data"]) for s in ("Set5", "Set14", "val"))
        assert {"Set5", "Set14", "BSD100"} <= set(meta["metrics"])
