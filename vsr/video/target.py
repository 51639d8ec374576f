"""Where the output goes, so the output path never holds a half-written file.

The file is written under a hidden temporary name beside the target and renamed onto it only on
success (a rename within one folder is atomic). An interrupted run keeps what it wrote, finalized,
under a name that says it is partial; a failed run leaves nothing. ``-`` means standard output.
"""
import logging
import os
from pathlib import Path
import sys
from typing import BinaryIO, Optional, Union

from ..errors import VsrError

log = logging.getLogger(__name__)


class OutputTarget:
    """The output path (or stdout) and its temporary twin; ``commit``, ``keep_partial`` or ``discard``."""

    def __init__(self, output: Union[str, Path], overwrite: bool, source: Union[str, Path]):
        self.stdout = str(output) == "-"
        self.path = None if self.stdout else Path(output)
        self.temp: Optional[Path] = None
        if self.path is None:
            return
        if str(source) != "-" and _same_file(Path(source), self.path):
            raise VsrError(f"output {self.path} is the same file as the input")
        if self.path.is_dir():
            raise VsrError(f"output {self.path} is a folder")
        if self.path.exists() and not overwrite:
            raise VsrError(f"output {self.path} exists (use -y to overwrite)")
        if not self.path.parent.resolve().is_dir():
            raise VsrError(f"output folder does not exist: {self.path.parent}")
        self.temp = self.path.with_name(f".{self.path.stem}.vsr-{os.getpid()}{self.path.suffix}")

    @property
    def writable(self) -> Union[str, BinaryIO]:
        """What to hand to the muxer: the temporary path, or stdout's binary stream."""
        return sys.stdout.buffer if self.temp is None else str(self.temp)

    @property
    def name(self) -> str:
        return "stdout" if self.path is None else str(self.path)

    def commit(self) -> str:
        if self.temp is None:
            return self.name
        try:
            os.replace(self.temp, self.path)
        except OSError as exc:
            self.discard()
            raise VsrError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        return str(self.path)

    def keep_partial(self) -> str:
        """Rename the finalized temporary file to ``<stem>.partial<suffix>`` (never over another file)."""
        if self.temp is None:
            return self.name
        stem, suffix = self.path.stem, self.path.suffix
        partial = self.path.with_name(f"{stem}.partial{suffix}")
        n = 1
        while partial.exists():
            partial = self.path.with_name(f"{stem}.partial-{n}{suffix}")
            n += 1
        os.replace(self.temp, partial)
        return str(partial)

    def discard(self) -> None:
        if self.temp is not None and self.temp.exists():
            self.temp.unlink()


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b) or a.resolve() == b.resolve()
    except OSError:
        return False
