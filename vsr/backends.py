"""Where the network runs: PyTorch, or ONNX Runtime (a dependency too, for its faster CPU convolutions).

On a CPU, ONNX Runtime's convolutions (blocked NCHWc layout, conv + tanh fused) run ESPCN about 2-3x
faster than PyTorch's, with the same fp32 arithmetic (outputs agree to ~1e-6); see
benchmarks/results/speed-cpu.md. On CUDA PyTorch stays, since fp16 tensor cores and batched frames
already keep the GPU busy without another install. Both backends compute ``ESPCN.forward_valid``:
unpadded convolutions on a (N, 1, H, W) float tensor, so tiles and padding stay in ``Upscaler``.
"""
import logging
from typing import Callable

import torch

from .errors import VsrError
from .model import ESPCN

# Imported with this module rather than on first use: `python -m vsr` imports its modules while Ctrl-C
# still ends it cleanly, whereas a KeyboardInterrupt landing inside these imports later was lost or
# aborted the interpreter (protobuf's C extension), seen as a flaky start-up signal test.
try:
    import onnx
    import onnxruntime as ort
except ImportError:
    onnx = ort = None

log = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnxruntime")

Net = Callable[[torch.Tensor], torch.Tensor]


def onnxruntime_available() -> bool:
    """True when onnxruntime and onnx import (they are dependencies, but a trimmed environment may lack them)."""
    return ort is not None and onnx is not None


def choose(backend: str, device: torch.device, dtype: torch.dtype) -> str:
    """``auto``: ONNX Runtime for fp32 on the CPU when installed, PyTorch otherwise."""
    if backend not in BACKENDS:
        raise VsrError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}", exit_code=2)
    if backend == "auto":
        fast = device.type == "cpu" and dtype == torch.float32 and onnxruntime_available()
        return "onnxruntime" if fast else "torch"
    if backend == "onnxruntime":
        if device.type != "cpu" or dtype != torch.float32:
            raise VsrError("the onnxruntime backend runs fp32 on the CPU only (use --device cpu, fp32)", exit_code=2)
        if not onnxruntime_available():
            raise VsrError("the onnxruntime backend needs onnxruntime and onnx: pip install onnxruntime onnx")
    return backend


def create(backend: str, model: ESPCN) -> Net:
    """The unpadded forward pass of ``model`` (already on its device and dtype) on ``backend``."""
    if backend == "onnxruntime":
        return OnnxRuntimeNet(model)
    return model.forward_valid


class OnnxRuntimeNet:
    """``ESPCN.forward_valid`` as an ONNX Runtime session; CPU float32 tensors in and out."""

    def __init__(self, model: ESPCN, threads: int = 0):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        # Idle worker threads sleep instead of spinning, leaving the cores to the decoder and encoder.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(model.onnx_bytes(), options, providers=["CPUExecutionProvider"])
        log.debug("onnxruntime %s session with %d threads", ort.__version__, options.intra_op_num_threads)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self.session.run(None, {"x": x.detach().to(torch.float32).contiguous().numpy()})[0]
        return torch.from_numpy(out)
