"""vsr: real-time video super-resolution with ESPCN (Shi et al., CVPR 2016)."""
import logging

__version__ = "0.1.0"

from .errors import VsrError  # noqa: E402
from .model import ESPCN, SCALES  # noqa: E402
from .upscaler import Upscaler  # noqa: E402

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["ESPCN", "SCALES", "Upscaler", "VsrError", "__version__"]
