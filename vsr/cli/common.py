"""Arguments and checks shared by several subcommands."""
import argparse
from pathlib import Path
import sys
from typing import TYPE_CHECKING, Any, Dict, Optional, Sequence, Tuple

from ..errors import VsrError

if TYPE_CHECKING:  # built by model_spec and build_upscaler, which import it: parsing needs no torch
    from ..upscaler import Upscaler, UpscalerSpec

# Spelled here so that parsing needs no torch; a test keeps each equal to the library's.
SCALES = (2, 3, 4)  # vsr.model.SCALES
PRECISIONS = ("auto", "fp32", "fp16", "bf16")  # what vsr.upscaler understands
BACKENDS = ("auto", "torch", "onnxruntime", "openvino")  # vsr.backends.BACKENDS

# The flags of every command that runs the network, each defined once so that it means the same on all of
# them; a command takes the ones that apply to it (``vsr train``: scale and device).
MODEL_FLAGS: Dict[str, Tuple[Tuple[str, ...], Dict[str, Any]]] = {
    "scale": (("-s", "--scale"), dict(type=int, choices=SCALES, default=3, help="upscaling factor (default 3)")),
    "device": (("--device",), dict(default="auto", help="auto (CUDA if available), cpu, cuda or cuda:N")),
    "weights": (("--weights",), dict(type=Path, metavar="FILE",
                                     help="a weights file from 'vsr train' instead of the shipped one")),
    "precision": (("--precision",), dict(default="auto", choices=PRECISIONS,
                                         help="network precision (auto: fp16 on CUDA, fp32 on the CPU)")),
    "backend": (("--backend",), dict(default="auto", choices=BACKENDS,
                                     help="what runs the network: onnxruntime (fp32 on the CPU only), openvino "
                                          "(fp32 or bf16 on the CPU; the vsr[openvino] extra) or torch "
                                          "(auto: onnxruntime where it can, else torch)")),
    "tile": (("--tile",), dict(type=int, metavar="N",
                               help="process frames in overlapping tiles of N LR pixels: less memory, same result")),
    "batch": (("--batch",), dict(type=int, metavar="N",
                                 help="frames per network call (default 8 on a GPU, 1 on the CPU and for live "
                                      "streams)")),
    "frames": (("--frames",), dict(type=int, metavar="N", help="stop after N frames of each input")),
}
COUNTS = ("tile", "batch", "frames")  # flags that take a positive number


def add_model_arguments(parser: argparse.ArgumentParser, flags: Sequence[str] = tuple(MODEL_FLAGS)) -> None:
    """Add the model flags named in ``flags`` (default: all), each as ``MODEL_FLAGS`` defines it."""
    for name in flags:
        names, options = MODEL_FLAGS[name]
        parser.add_argument(*names, **options)


def check_counts(args: argparse.Namespace) -> None:
    """The same usage error on every command for a count below 1 (a one-line error, not argparse's usage)."""
    for name in COUNTS:
        n = getattr(args, name, None)
        if n is not None and n < 1:
            raise VsrError(f"--{name} must be at least 1, not {n}", exit_code=2)


def model_spec(args: argparse.Namespace) -> "UpscalerSpec":
    """The network and how to run it, from the model flags: the one value every command (and Ray) uses."""
    from ..upscaler import UpscalerSpec

    return UpscalerSpec(args.scale, device=args.device, weights=args.weights, tile=args.tile,
                        precision=args.precision, backend=args.backend)


def build_upscaler(args: argparse.Namespace, scale: Optional[int] = None) -> "Upscaler":
    """The ``Upscaler`` that the model flags ask for, at ``scale`` (default --scale; --weights is for --scale
    only, other scales get the shipped weights)."""
    return model_spec(args).build(scale)


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
