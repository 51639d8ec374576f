"""Weight files: a state dict plus the metadata that says how it was made and how well it scores.

Like torchvision's weights, every file carries its recipe and metrics. Files are plain ``torch.save``
dicts of tensors, strings and numbers, read back with ``weights_only=True`` so no arbitrary object is
ever unpickled.
"""
from datetime import datetime, timezone
import io
import json
import logging
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union
import warnings

import torch

from .errors import VsrError
from .files import write_atomic
from .model import ESPCN, SCALES

log = logging.getLogger(__name__)

SHIPPED_DIR = Path(__file__).with_name("weights")
FORMAT = "vsr-espcn-1"


def shipped_path(scale: int) -> Path:
    """Where the weights bundled with vsr for ``scale`` live."""
    return SHIPPED_DIR / f"espcn_x{scale}.pt"


def save(model: ESPCN, path: Union[str, Path], meta: Dict[str, Any]) -> None:
    """Write ``model`` and ``meta`` atomically: a reader never sees a half-written file."""
    path = Path(path)
    payload = {
        "format": FORMAT,
        "scale": model.scale,
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        # Plain JSON types only, so the file loads with weights_only=True.
        "meta": json.loads(json.dumps(
            dict(meta, scale=model.scale, saved=datetime.now(timezone.utc).isoformat(timespec="seconds")), default=str)),
    }
    write_tagged(path, payload)


def write_tagged(path: Union[str, Path], payload: Dict[str, Any]) -> None:
    """``torch.save`` of a dict of tensors and plain types, written atomically (weights, training checkpoints)."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_atomic(path, buffer.getvalue())


def read_tagged(path: Union[str, Path], fmt: str, kind: str) -> Dict[str, Any]:
    """A dict written by ``write_tagged`` whose ``"format"`` is ``fmt``, read with ``weights_only=True``;
    ``VsrError`` naming ``kind`` (e.g. "vsr weights file") for anything else."""
    path = Path(path)
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickle protocols before failing
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or foreign files
        raise VsrError(f"cannot read {path}: not a {kind} ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise VsrError(f"cannot read {path}: not a {kind}")
    return payload


def load(path: Union[str, Path], scale: Optional[int] = None) -> Tuple[ESPCN, Dict[str, Any]]:
    """Read a weights file into a CPU ``ESPCN`` of the file's widths; ``VsrError`` with a one-line reason if it
    is unusable."""
    path = Path(path)
    if not path.is_file():
        raise VsrError(f"weights file not found: {path}")
    payload = read_tagged(path, FORMAT, "vsr weights file")
    file_scale = payload.get("scale")
    if file_scale not in SCALES:
        raise VsrError(f"weights file {path} has an invalid scale: {file_scale!r}")
    if scale is not None and file_scale != scale:
        raise VsrError(f"weights file {path} is for x{file_scale}, not x{scale}")
    try:  # the widths come from the tensors' shapes, so files of any widths (and every old file) load
        model = ESPCN.for_state_dict(file_scale, payload["state_dict"])
        model.load_state_dict(payload["state_dict"])
    except (RuntimeError, KeyError, TypeError, AttributeError, IndexError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise VsrError(f"weights file {path} does not fit ESPCN x{file_scale}: {first}") from None
    meta = payload.get("meta") or {}
    log.debug("loaded %s (x%d)", path, file_scale)
    return model.eval(), meta
