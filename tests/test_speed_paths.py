"""The fast paths stay faithful to the plain fp32 PyTorch network: backends, tiles and the OOM fallback."""
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch

from conftest import smooth_image
from vsr import backends
from vsr.errors import VsrError
from vsr.evaluate import evaluate_set
from vsr.metrics import psnr
from vsr.upscaler import Upscaler
from vsr.weight_files import shipped_path

needs_ort = pytest.mark.skipif(not backends.onnxruntime_available(), reason="onnxruntime or onnx not importable")


def shipped(scale: int) -> Path:
    path = shipped_path(scale)
    if not path.is_file():
        pytest.skip(f"shipped weights {path.name} not present")
    return path


def real_frame(data: Path, scale: int):
    """The first frame of a real clip, area-shrunk so that x``scale`` gives 1920x1080, as Y, U, V planes."""
    clip = data / "video" / "sam2" / "01_dog.mp4"
    if not clip.is_file():
        pytest.skip(f"{clip} not present")
    with av.open(str(clip)) as container:
        frame = next(container.decode(video=0)).reformat(format="yuv420p")
    h, w = 1080 // scale, 1920 // scale
    sizes = [(w, h), (w // 2, h // 2), (w // 2, h // 2)]
    planes = [np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width] for p in frame.planes]
    return [cv2.resize(p, s, interpolation=cv2.INTER_AREA) for p, s in zip(planes, sizes)]


@needs_ort
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_onnxruntime_matches_the_fp32_reference_on_a_real_frame(shared_data, scale):
    """>= 50 dB against plain fp32 PyTorch on a real 1080p-output frame, with the shipped weights."""
    y, u, v = real_frame(shared_data, scale)
    ref = Upscaler(scale, "cpu", weights=shipped(scale), backend="torch", precision="fp32")
    fast = Upscaler(scale, "cpu", weights=shipped(scale), backend="onnxruntime")
    expected, got = ref.upscale_yuv420(y, u, v), fast.upscale_yuv420(y, u, v)
    assert got[0].shape == (1080, 1920)
    assert psnr(got[0], expected[0]) >= 50
    np.testing.assert_array_equal(got[1], expected[1])  # chroma takes the same (PyTorch) path
    luma = torch.from_numpy(y).float().div(255)[None, None]
    diff = (fast.upscale_luma_tensor(luma) - ref.upscale_luma_tensor(luma)).abs().max()
    assert float(diff) < 1e-4


@needs_ort
def test_onnxruntime_keeps_the_set5_score(shared_data):
    """The standard protocol (Set5 x3, Y, shave 3): the fast path scores within 0.05 dB of fp32."""
    ref = Upscaler(3, "cpu", weights=shipped(3), backend="torch", precision="fp32")
    fast = Upscaler(3, "cpu", weights=shipped(3), backend="onnxruntime")
    result = evaluate_set(shared_data / "images" / "Set5", 3, {"ref": ref.upscale_y, "fast": fast.upscale_y},
                          with_ssim=False)
    assert abs(result.mean_psnr("fast") - result.mean_psnr("ref")) <= 0.05


@needs_ort
@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("tile,size", [(7, (19, 26)), (1, (5, 4)), (64, (19, 26))])
def test_onnxruntime_tiles_equal_its_whole_frame(weights_file, scale, tile, size):
    torch.manual_seed(scale)
    whole = Upscaler(scale, "cpu", weights=weights_file(scale), backend="onnxruntime")
    tiled = Upscaler(scale, "cpu", weights=weights_file(scale), backend="onnxruntime", tile=tile)
    ref = Upscaler(scale, "cpu", weights=weights_file(scale), backend="torch")
    y = torch.rand(2, 1, *size)
    a, b = whole.upscale_luma_tensor(y), tiled.upscale_luma_tensor(y)
    assert a.shape == (2, 1, scale * size[0], scale * size[1]) and a.dtype == torch.float32
    torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    torch.testing.assert_close(a, ref.upscale_luma_tensor(y), rtol=0, atol=1e-5)


@pytest.mark.parametrize("backend", ["torch", pytest.param("onnxruntime", marks=needs_ort)])
def test_out_of_memory_falls_back_to_tiles(weights_file, caplog, backend):
    """When the device refuses a whole frame, the frame is tiled, and the result is the untiled one.

    The network is wrapped so that it refuses inputs larger than one OOM tile, as a full device would;
    the convolutions themselves are the real ones.
    """
    up = Upscaler(2, "cpu", weights=weights_file(2), backend=backend)
    expected = up.upscale_y(smooth_image(300, 280, channels=1))
    net = up._net

    def small_only(x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] * x.shape[-1] > 270 * 270:
            raise torch.OutOfMemoryError("simulated: frame too large for the device")
        return net(x)

    up._net = small_only
    with caplog.at_level("WARNING"):
        got = up.upscale_y(smooth_image(300, 280, channels=1))
    assert "tiling" in caplog.text
    np.testing.assert_array_equal(got, expected)


def test_auto_backend_choice(weights_file):
    fp32 = Upscaler(3, "cpu", weights=weights_file(3))
    assert fp32.backend == ("onnxruntime" if backends.onnxruntime_available() else "torch")
    assert Upscaler(3, "cpu", weights=weights_file(3), precision="bf16").backend == "torch"
    assert Upscaler(3, "cpu", weights=weights_file(3), backend="torch").backend == "torch"


@pytest.mark.parametrize("kwargs", [{"backend": "tensorrt"}, {"backend": "onnxruntime", "precision": "bf16"}])
def test_bad_backend_is_a_usage_error(weights_file, kwargs):
    with pytest.raises(VsrError) as info:
        Upscaler(3, "cpu", weights=weights_file(3), **kwargs)
    assert info.value.exit_code == 2


@needs_ort
def test_onnx_graph_is_the_model(weights_file):
    """The hand-built ONNX graph computes ``forward_valid`` on batches of any size."""
    up = Upscaler(4, "cpu", weights=weights_file(4), backend="onnxruntime")
    x = torch.rand(3, 1, 12, 17)
    torch.testing.assert_close(up._net(x), up.model.forward_valid(x), rtol=0, atol=1e-5)


# Peak memory against video length: tests/test_memory_bounded.py (a clip large and long enough that buffering
# it would exceed the margin 3.5x; the 64x48 version that stood here could not fail).


def test_the_default_install_is_the_fast_cpu_path():
    """ONNX Runtime is a dependency, not an extra, and fp32 CPU work picks it without being asked."""
    import configparser

    setup = configparser.ConfigParser()
    setup.read(Path(__file__).resolve().parents[1] / "setup.cfg")
    required = {line.split(">")[0].split("=")[0].strip() for line in setup["options"]["install_requires"].split("\n")}
    assert {"onnxruntime", "onnx"} <= required
    assert Upscaler(3, "cpu", weights=shipped(3)).backend == "onnxruntime"
