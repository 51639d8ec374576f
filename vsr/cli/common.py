"""Arguments and checks shared by several subcommands."""
import argparse
from pathlib import Path

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
