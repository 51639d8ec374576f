"""The ``vsr`` command: argument parsing, logging to stderr, and one-line errors with exit codes.

Exit codes: 0 success, 1 failure, 2 usage error, 130 interrupted (SIGINT, SIGTERM, SIGHUP: see
``vsr.interrupts``). Each subcommand lives in its own module with ``add_parser(subparsers)`` and
``run(args) -> int``. Parsing imports nothing heavy, so ``--help`` and ``--version`` answer at once; a
command's ``run`` imports what it needs, after ``main`` has loaded the heavy libraries in the start-up
phase, where a signal simply ends the process.
"""
import argparse
import importlib
import logging
import sys
from typing import List, Optional

from .. import __version__
from .. import interrupts
from ..errors import OUT_OF_MEMORY, VsrError
from . import bench, evaluate, live, train, upscale
from .common import check_counts

COMMANDS = (upscale, evaluate, train, live, bench)

# Seconds to import, with C extensions in which a KeyboardInterrupt can be lost or abort the interpreter
# (protobuf under onnx); every command needs them, so they load before a command runs.
HEAVY_MODULES = ("numpy", "torch", "onnx", "onnxruntime", "cv2", "av")
OPTIONAL_HEAVY_MODULES = ("openvino",)  # an extra: imported here too when installed

EPILOG = """examples:
  vsr upscale samples/dog_320x180.y4m out.mp4 --scale 3   upscale a video (sound and timing kept)
  vsr upscale samples/dog_320x180.png big.png --scale 3   upscale an image
  vsr live --source samples/dog_320x180.y4m --loop        live preview, ESPCN beside bicubic
  vsr bench --frames 10                                   PSNR and fps (the bundled sample if no Xiph clips)
  vsr eval Set5/ Set14/ --scale 3                         PSNR/SSIM on folders of your HR images
"""


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prefix = "" if record.levelno < logging.WARNING else f"{record.levelname.lower()}: "
        return f"vsr: {prefix}{record.getMessage()}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vsr",
        description="Real-time video super-resolution with ESPCN (Shi et al., CVPR 2016).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vsr {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debugging detail")
    parser.add_argument("-q", "--quiet", action="store_true", help="log only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    with interrupts.handled():
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        for module in HEAVY_MODULES:  # until a command runs, nothing is open that an interrupt must close
            importlib.import_module(module)
        for module in OPTIONAL_HEAVY_MODULES:
            try:
                importlib.import_module(module)
            except ImportError:
                pass
        interrupts.started()
        return interrupts.finished(_run_command(args))  # a later signal keeps this code


def _run_command(args: argparse.Namespace) -> int:
    """The command's exit code; every way it can end is one line on stderr at most."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    root = logging.getLogger("vsr")
    saved = root.handlers[:], root.level, root.propagate  # restored, for callers that run main() in-process
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO)
    root.propagate = False
    try:
        check_counts(args)
        return args.run(args)
    except VsrError as exc:
        print(f"vsr: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("vsr: interrupted", file=sys.stderr)
        return interrupts.EXIT_INTERRUPTED
    except BrokenPipeError:
        return 1
    except MemoryError:
        print(f"vsr: error: {OUT_OF_MEMORY}", file=sys.stderr)
        return 1
    finally:
        root.handlers[:], root.propagate = saved[0], saved[2]
        root.setLevel(saved[1])
