"""Finished segments on disk, with a JSON manifest saying exactly what they were made from.

``--resume`` reuses a segment only when the manifest's key (the input's fingerprint, every option that
changes the pixels or the bitstream, the weights' hash, the segment plan) equals the current run's and
the segment file still has the size and hash recorded when it was written. Anything else starts the
input afresh, so a changed command never mixes outputs. The manifest is JSON, never pickle: a work
folder may sit on shared storage that others can write.
"""
import hashlib
import json
import logging
from pathlib import Path
import shutil
from typing import Dict, Optional

from ..errors import VsrError
from ..files import write_atomic

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT = 1


class SegmentStore:
    """One input's work folder: ``seg-NNNNN.nut`` files and ``manifest.json``."""

    def __init__(self, folder: Path, key: dict, resume: bool):
        self.folder = folder
        self.key = key
        self.done: Dict[int, dict] = {}
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise VsrError(f"cannot create work folder {folder}: {exc.strerror or exc}") from None
        old = self._load()
        if old is not None and resume:
            if old.get("key") == key:
                self.done = {int(i): rec for i, rec in old.get("done", {}).items() if self._intact(int(i), rec)}
                log.info("%s: reusing %d finished segments", folder, len(self.done))
            else:
                changed = sorted(k for k in set(key) | set(old.get("key", {}))
                                 if key.get(k) != old.get("key", {}).get(k))
                log.warning("%s holds segments of a different run (%s changed); starting afresh",
                            folder, ", ".join(changed) or "format")
        elif old is not None:
            log.info("%s: discarding earlier segments (--resume would reuse them)", folder)
        if not self.done:
            self._clear()
        self._write()

    def path(self, index: int) -> Path:
        return self.folder / f"seg-{index:05d}.nut"

    def save(self, index: int, data: bytes, sha256: str, frames: int) -> None:
        """Keep a finished segment: the file first, then the manifest that vouches for it."""
        write_atomic(self.path(index), data)
        self.done[index] = {"file": self.path(index).name, "size": len(data), "sha256": sha256, "frames": frames}
        self._write()

    def remove(self) -> None:
        """Delete the folder once its segments are joined into the output."""
        shutil.rmtree(self.folder, ignore_errors=True)

    # ---- internals --------------------------------------------------------------------------
    def _load(self) -> Optional[dict]:
        path = self.folder / MANIFEST
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
            return data if isinstance(data, dict) and data.get("format") == FORMAT else {}
        except (OSError, ValueError):
            log.warning("%s is unreadable; starting afresh", path)
            return {}

    def _intact(self, index: int, record: dict) -> bool:
        path = self.path(index)
        try:
            data = path.read_bytes()
        except OSError:
            return False
        return len(data) == record.get("size") and hashlib.sha256(data).hexdigest() == record.get("sha256")

    def _clear(self) -> None:
        for p in self.folder.glob("seg-*.nut"):
            p.unlink()

    def _write(self) -> None:
        body = {"format": FORMAT, "key": self.key, "done": {str(i): r for i, r in sorted(self.done.items())}}
        write_atomic(self.folder / MANIFEST, json.dumps(body, indent=1, sort_keys=True).encode())
