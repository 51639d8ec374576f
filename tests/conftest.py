"""Shared fixtures: the shared data folder (tests skip cleanly without it) and small generated weights/images."""
import logging
from pathlib import Path
import signal

import numpy as np
import pytest
import torch

from vsr import weight_files
from vsr.model import ESPCN

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# A shell without job control starts background commands (`pytest ... &`) with Ctrl-C ignored, and an
# ignored SIGINT is inherited by every vsr the tests start: their Ctrl-C tests would then test nothing
# (vsr, like any program, keeps an inherited SIG_IGN). The suite tests Ctrl-C, so it takes it back.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def restore_vsr_logging():
    """``vsr.cli.main`` takes over the ``vsr`` logger (own handler, no propagation); undo that after each
    test, or pytest's ``caplog`` would see no vsr log record in every test that runs after it."""
    logger = logging.getLogger("vsr")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout; tests that need it skip when it is absent."""
    if not (DATA / "images").is_dir():
        pytest.skip(f"shared data not found at {DATA}")
    return DATA


@pytest.fixture(scope="session")
def weights_file(tmp_path_factory):
    """``weights_file(scale)``: a real, loadable weights file with untrained (seeded) parameters."""
    folder = tmp_path_factory.mktemp("weights")

    def make(scale: int) -> Path:
        path = folder / f"untrained_x{scale}.pt"
        if not path.exists():
            torch.manual_seed(scale)
            weight_files.save(ESPCN(scale), path, {"note": "untrained, for tests"})
        return path

    return make


def smooth_image(h: int, w: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A uint8 image with structure at several scales, like a photo rather than noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    planes = []
    for c in range(channels):
        f = rng.uniform(2, 9, size=2)
        plane = 0.5 + 0.25 * np.sin(2 * np.pi * (f[0] * xx + c * 0.3)) * np.cos(2 * np.pi * f[1] * yy)
        plane += 0.15 * ((xx * (3 + c) + yy * 5) % 1.0 > 0.5)
        planes.append(plane)
    img = np.clip(np.stack(planes, axis=-1) * 255 + rng.normal(0, 3, (h, w, channels)), 0, 255).astype(np.uint8)
    return img[:, :, 0] if channels == 1 else img
