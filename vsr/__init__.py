"""vsr: real-time video super-resolution with ESPCN (Shi et al., CVPR 2016)."""
import logging
import os

# OpenMP worker threads that spin while idle take the cores from the decoder, the encoder and any
# other program; on a busy CPU every parallel op then waits a scheduler time slice (~20 ms measured
# on 2 cores, see benchmarks/results/speed-cpu.md). Sleeping threads cost microseconds to wake.
# Read once, when torch loads OpenMP, so it must be set before the first ``import torch``.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

from .errors import VsrError  # noqa: E402
from .model import ESPCN, SCALES  # noqa: E402
from .upscaler import Upscaler  # noqa: E402

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["ESPCN", "SCALES", "Upscaler", "VsrError", "__version__"]
