"""Arguments and checks shared by several subcommands."""
import argparse
from pathlib import Path
import sys
from typing import Optional

from ..errors import VsrError

SCALES = (2, 3, 4)  # = vsr.model.SCALES (a test keeps them equal); spelled here so parsing needs no torch


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-s", "--scale", type=int, choices=SCALES, default=3, help="upscaling factor (default 3)")
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda or cuda:N")
    parser.add_argument("--weights", type=Path, help="a weights file from 'vsr train' instead of the shipped one")


def check_output(path: Path, overwrite: bool, inputs=()) -> None:
    """Refuse to clobber an existing file or an input, and fail early when the folder is missing."""
    if any(Path(i).resolve() == path.resolve() for i in inputs if str(i) != "-"):
        raise VsrError(f"output {path} is the same file as the input")
    if path.exists() and not overwrite:
        raise VsrError(f"output {path} exists (use -y to overwrite)")
    if not path.parent.resolve().is_dir():
        raise VsrError(f"output folder does not exist: {path.parent}")


class FrameProgress:
    """A tqdm bar on stderr over frames, created at the first update, when the total is known."""

    def __init__(self, disabled: bool):
        self.disabled = disabled
        self.bar = None  # a tqdm, once the first frame is in

    def update(self, done: int, total: Optional[int]) -> None:
        if self.disabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="frame", file=sys.stderr, dynamic_ncols=True, leave=False)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
