"""OpenCV's super-resolution peers (ESPCN, FSRCNN, FSRCNN-small frozen TensorFlow graphs) on plain opencv-python.

Users meet these models through opencv-contrib's ``dnn_superres``; we are not allowed that package, so this
module does what ``DnnSuperResImpl::upsample`` does for them, with ``cv2.dnn`` alone:

* the network sees one channel, Y as float32 / 255 (for a colour image: ``cvtColor(BGR2YCrCb)``, full range);
* its output is scaled by 255 and saturated to uint8 (round half to even, as ``convertTo`` does);
* for colour, Cr and Cb are enlarged with ``cv2.resize``'s default interpolation (bilinear) and merged back.

``dnn_superres`` supplies the graphs' ``DepthToSpace`` op itself, as a custom layer, because OpenCV's
TensorFlow importer cannot build it. Python layers here cannot change a tensor's shape, so ours passes the
r*r sub-pixel channels through unchanged and we rearrange the net's output in numpy. That is exact because
the graphs' only layers after ``DepthToSpace`` are element-wise (ESPCN: tanh; FSRCNN: a power/shift), and
element-wise maps commute with the rearrangement; ``PeerModel`` checks this for each file it loads.

    from benchmarks.peers import PeerModel
    peer = PeerModel("ESPCN", 3)            # ../shared/data/peer-models/opencv-espcn/ESPCN_x3.pb
    y_hr = peer.upscale_y(y_lr)             # uint8 (H, W) -> uint8 (3H, 3W)
"""
from pathlib import Path
from typing import Dict, Optional, Union

import cv2
import numpy as np

PEER_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "peer-models"
MODELS: Dict[str, str] = {
    "ESPCN": "opencv-espcn/ESPCN_x{scale}.pb",
    "FSRCNN": "opencv-fsrcnn/FSRCNN_x{scale}.pb",
    "FSRCNN-small": "opencv-fsrcnn/FSRCNN-small_x{scale}.pb",
}
SCALES = (2, 3, 4)


# Layer types that act on each value alone, so they may run before the sub-pixel rearrangement.
ELEMENTWISE = {"TanH", "Sigmoid", "ReLU", "Power", "Identity"}


class _DepthToSpaceDeferred:
    """Passes the sub-pixel channels through; ``PeerModel`` rearranges the net's output afterwards."""

    def __init__(self, params, blobs):
        pass

    def getMemoryShapes(self, inputs):  # noqa: N802 (OpenCV's name)
        return inputs

    def forward(self, inputs):
        return [inputs[0]]


def _register_layer() -> None:
    """(Re-)register our DepthToSpace. Registering a name twice aborts the interpreter inside OpenCV, which
    would happen if this file were imported under two module names (``peers`` and ``benchmarks.peers``)."""
    cv2.dnn_unregisterLayer("DepthToSpace")
    cv2.dnn_registerLayer("DepthToSpace", _DepthToSpaceDeferred)


def model_path(name: str, scale: int, root: Union[str, Path] = PEER_DIR) -> Path:
    """Where the .pb file of peer ``name`` at ``scale`` lives under ``root``."""
    if name not in MODELS:
        raise ValueError(f"unknown peer {name!r}: one of {', '.join(MODELS)}")
    if scale not in SCALES:
        raise ValueError(f"peer scale must be one of {SCALES}, not {scale}")
    return Path(root) / MODELS[name].format(scale=scale)


def unavailable_reason(root: Union[str, Path] = PEER_DIR) -> Optional[str]:
    """Why the peers cannot run here, or None when they can (benchmarks and tests skip them otherwise).

    OpenCV 5.1 removed ``cv2.dnn.readNetFromTensorflow``, the only way to load these graphs; vsr itself
    does not need it, so the peers are optional: ``pip install 'vsr[peers]'`` pins an OpenCV that has it.
    """
    missing = [model_path(n, s, root) for n in MODELS for s in SCALES if not model_path(n, s, root).is_file()]
    if missing:
        return f"peer model files not found under {root} (e.g. {missing[0].name})"
    if not hasattr(cv2.dnn, "readNetFromTensorflow"):
        return (f"OpenCV {cv2.__version__} has no TensorFlow importer (removed in 5.1): "
                "pip install 'vsr[peers]' to compare with OpenCV's ESPCN/FSRCNN")
    return None


def available(root: Union[str, Path] = PEER_DIR) -> bool:
    """True when the peers can run: their files are present and OpenCV can load them."""
    return unavailable_reason(root) is None


class PeerModel:
    """One OpenCV peer network at one scale, run on the CPU by ``cv2.dnn`` (classic engine)."""

    def __init__(self, name: str, scale: int, root: Union[str, Path] = PEER_DIR, path: Optional[Path] = None):
        self.name, self.scale = name, scale
        self.path = Path(path) if path is not None else model_path(name, scale, root)
        if not self.path.is_file():
            raise FileNotFoundError(f"peer model not found: {self.path}")
        if not hasattr(cv2.dnn, "readNetFromTensorflow"):
            raise RuntimeError(unavailable_reason(self.path.parents[1]))
        _register_layer()
        self.net = cv2.dnn.readNetFromTensorflow(str(self.path), "", cv2.dnn.ENGINE_CLASSIC)
        names = list(self.net.getLayerNames())
        if "DepthToSpace" not in names:
            raise ValueError(f"{self.path} has no DepthToSpace layer: not an OpenCV dnn_superres model")
        after = {self.net.getLayer(n).type for n in names[names.index("DepthToSpace") + 1 :]}
        if not after <= ELEMENTWISE:
            raise ValueError(f"{self.path}: layers after DepthToSpace are not element-wise: {sorted(after)}")

    def upscale_float(self, y: np.ndarray) -> np.ndarray:
        """float32 luma (H, W) in [0, 1] -> float32 (rH, rW), neither clipped nor rounded."""
        h, w = y.shape
        r = self.scale
        self.net.setInput(np.ascontiguousarray(y, dtype=np.float32)[None, None])
        sub = self.net.forward()  # (1, r*r, H, W), channel dy*r + dx (TensorFlow's depth order)
        return sub.reshape(r, r, h, w).transpose(2, 0, 3, 1).reshape(r * h, r * w)

    def upscale_y(self, y: np.ndarray) -> np.ndarray:
        """uint8 luma (H, W) -> uint8 (rH, rW), as ``dnn_superres`` treats a one-channel image."""
        out = self.upscale_float(y.astype(np.float32) / np.float32(255))
        return _to_uint8(out * np.float32(255))

    def upscale_bgr(self, bgr: np.ndarray) -> np.ndarray:
        """uint8 BGR (H, W, 3) -> uint8 BGR (rH, rW, 3), exactly ``dnn_superres``'s colour path."""
        ycrcb = cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb).astype(np.float32) / np.float32(255)
        y = self.upscale_float(ycrcb[:, :, 0])
        crcb = cv2.resize(ycrcb[:, :, 1:], None, fx=self.scale, fy=self.scale)
        merged = _to_uint8(np.dstack([y, crcb]) * np.float32(255))
        return cv2.cvtColor(merged, cv2.COLOR_YCrCb2BGR)

    def upscale_rgb(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 RGB (H, W, 3) -> uint8 RGB (rH, rW, 3), through ``upscale_bgr``."""
        return self.upscale_bgr(rgb[:, :, ::-1])[:, :, ::-1].copy()


def _to_uint8(x: np.ndarray) -> np.ndarray:
    """``Mat::convertTo(CV_8U)``: round half to even, saturate."""
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)
