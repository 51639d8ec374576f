"""vsr: real-time video super-resolution with ESPCN (Shi et al., CVPR 2016).

``ESPCN``, ``SCALES`` and ``Upscaler`` are imported on first use, so that ``python -m vsr`` can take
charge of Ctrl-C before torch (seconds to import) is loaded.
"""
import importlib
import logging

__version__ = "0.1.0"

from .errors import VsrError  # noqa: E402

_LAZY = {"ESPCN": "model", "SCALES": "model", "Upscaler": "upscaler"}

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["ESPCN", "SCALES", "Upscaler", "VsrError", "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
