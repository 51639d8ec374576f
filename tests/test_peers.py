"""benchmarks/peers.py: OpenCV's ESPCN/FSRCNN graphs on plain cv2.dnn, as dnn_superres runs them."""
import cv2
import numpy as np
import pytest

from benchmarks import peers
from conftest import smooth_image
from vsr import images
from vsr.protocol import luma, modcrop
from vsr.metrics import psnr


@pytest.fixture(scope="module")
def peer_dir(shared_data):
    root = shared_data / "peer-models"
    reason = peers.unavailable_reason(root)
    if reason:
        pytest.skip(reason)
    return root


@pytest.mark.parametrize("name", list(peers.MODELS))
@pytest.mark.parametrize("scale", peers.SCALES)
def test_shapes_and_types(peer_dir, name, scale):
    model = peers.PeerModel(name, scale, root=peer_dir)
    y = smooth_image(13, 21, channels=1)
    out = model.upscale_y(y)
    assert out.dtype == np.uint8 and out.shape == (13 * scale, 21 * scale)
    bgr = model.upscale_bgr(smooth_image(13, 21))
    assert bgr.dtype == np.uint8 and bgr.shape == (13 * scale, 21 * scale, 3)


def test_colour_path_runs_the_network_on_full_range_luma(peer_dir):
    """For a grey image, OpenCV's YCrCb luma is the grey itself, so colour and luma paths agree."""
    model = peers.PeerModel("ESPCN", 2, root=peer_dir)
    grey = smooth_image(16, 16, channels=1)
    out = model.upscale_bgr(np.dstack([grey] * 3))
    assert np.abs(out[:, :, 1].astype(int) - model.upscale_y(grey)).max() <= 1


def test_peers_beat_bicubic_on_the_degradation_they_were_trained_for(peer_dir, shared_data):
    """Proves the sub-pixel rearrangement is right: a wrong order costs several dB instead of gaining one."""
    model = peers.PeerModel("ESPCN", 3, root=peer_dir)
    gains = []
    for name in ("baby.png", "butterfly.png"):
        hr = modcrop(luma(images.read(shared_data / "images" / "Set5" / name)), 3)
        lr = cv2.resize(hr, None, fx=1 / 3, fy=1 / 3, interpolation=cv2.INTER_CUBIC)
        up = cv2.resize(lr, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
        gains.append(psnr(model.upscale_y(lr), hr, border=3) - psnr(up, hr, border=3))
    assert np.mean(gains) > 0.5, gains


def test_unknown_names_and_missing_files(tmp_path):
    with pytest.raises(ValueError):
        peers.model_path("EDSR", 3)
    with pytest.raises(ValueError):
        peers.model_path("ESPCN", 5)
    assert not peers.available(tmp_path)
    assert "not found" in peers.unavailable_reason(tmp_path)
    with pytest.raises(FileNotFoundError):
        peers.PeerModel("ESPCN", 3, root=tmp_path)
