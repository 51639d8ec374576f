"""Where the network runs: PyTorch, ONNX Runtime (a dependency too, for its faster CPU convolutions), or
OpenVINO (the ``vsr[openvino]`` extra: bf16 on CPUs with AVX512-BF16 or AMX).

On a CPU, ONNX Runtime's convolutions (blocked NCHWc layout, conv + tanh fused) run ESPCN about 2-3x
faster than PyTorch's, with the same fp32 arithmetic (outputs agree to ~1e-6); see
benchmarks/results/speed-cpu.md. On CUDA PyTorch stays, since fp16 tensor cores and batched frames
already keep the GPU busy without another install. Both backends compute ``ESPCN.forward_valid``:
unpadded convolutions on a (N, 1, H, W) float tensor, so tiles and padding stay in ``Upscaler``.

OpenVINO compiles the same ONNX graph and runs it in fp32 or, asked for bf16, converts weights and
activations itself (its ``INFERENCE_PRECISION_HINT``): the PyTorch copy stays fp32.
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
try:
    import openvino as ov
except ImportError:
    ov = None

log = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnxruntime", "openvino")
OPENVINO_PRECISIONS = {torch.float32: "f32", torch.bfloat16: "bf16"}

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
    if backend == "openvino":
        if device.type != "cpu" or dtype not in OPENVINO_PRECISIONS:
            raise VsrError("the openvino backend runs fp32 or bf16 on the CPU only (use --device cpu)", exit_code=2)
        if ov is None or onnx is None:
            raise VsrError("the openvino backend needs OpenVINO: pip install 'vsr[openvino]'")
        if dtype == torch.bfloat16 and "BF16" not in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
            raise VsrError("this CPU has no bf16 instructions (AVX512-BF16 or AMX) for OpenVINO: use --precision fp32")
    return backend


def weights_dtype(backend: str, dtype: torch.dtype) -> torch.dtype:
    """The dtype the PyTorch copy of the weights is kept in: OpenVINO converts to ``dtype`` itself."""
    return torch.float32 if backend == "openvino" else dtype


def create(backend: str, model: ESPCN, dtype: torch.dtype = torch.float32) -> Net:
    """The unpadded forward pass of ``model`` (on its device, in ``weights_dtype``) on ``backend``, computing
    in ``dtype``."""
    if backend == "onnxruntime":
        return OnnxRuntimeNet(model)
    if backend == "openvino":
        return OpenVinoNet(model, OPENVINO_PRECISIONS[dtype])
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


class OpenVinoNet:
    """``ESPCN.forward_valid`` compiled by OpenVINO for the CPU, in ``precision`` ("f32" or "bf16");
    float32 tensors in and out. One inference stream, latency first, ``torch.get_num_threads()`` threads."""

    def __init__(self, model: ESPCN, precision: str, threads: int = 0):
        core = ov.Core()
        config = {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY",
                  "INFERENCE_NUM_THREADS": threads or torch.get_num_threads(), "NUM_STREAMS": 1}
        self.compiled = core.compile_model(core.read_model(model.onnx_bytes(), b""), "CPU", config)
        self.request = self.compiled.create_infer_request()
        log.debug("openvino %s, %s, %d threads", ov.__version__, precision, config["INFERENCE_NUM_THREADS"])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self.request.infer({0: x.detach().to(torch.float32).contiguous().numpy()})[0]
        return torch.from_numpy(out.copy())  # the request reuses its output buffer
