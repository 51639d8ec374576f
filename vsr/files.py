"""Writing files so that a reader never sees half of one."""
import os
from pathlib import Path
import tempfile
from typing import Union

from .errors import VsrError


def write_atomic(path: Union[str, Path], data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".vsr-tmp", dir=path.parent)
    except OSError as exc:
        raise VsrError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; outputs and weights are meant to be shared
        os.replace(tmp, path)
    except OSError as exc:
        raise VsrError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
