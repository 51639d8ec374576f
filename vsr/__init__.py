"""vsr: real-time video super-resolution with ESPCN (Shi et al., CVPR 2016).

``ESPCN``, ``SCALES``, ``Upscaler`` and ``UpscalerSpec`` are imported on first use, so that ``python -m vsr`` can take
charge of Ctrl-C before torch (seconds to import) is loaded.
"""
import importlib
import logging
import os

# OpenMP worker threads that spin while idle take the cores from the decoder, the encoder and any
# other program; on a busy CPU every parallel op then waits a scheduler time slice (~20 ms measured
# on 2 cores, see benchmarks/results/speed-cpu-ways.md). Sleeping threads cost microseconds to wake.
# Read once, when torch loads OpenMP, so it must be set before the first ``import torch``.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

from .errors import VsrError  # noqa: E402

_LAZY = {"ESPCN": "model", "SCALES": "model", "Upscaler": "upscaler", "UpscalerSpec": "upscaler"}

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["ESPCN", "SCALES", "Upscaler", "UpscalerSpec", "VsrError", "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
