"""The ``vsr`` command: argument parsing, logging to stderr, and one-line errors with exit codes.

Exit codes: 0 success, 1 failure, 2 usage error, 130 interrupted. Each subcommand lives in its own
module with ``add_parser(subparsers)`` and ``run(args) -> int``.
"""
import argparse
import logging
import sys
from typing import List, Optional

from .. import __version__
from ..errors import VsrError
from . import bench, evaluate, live, train, upscale

COMMANDS = (upscale, evaluate, train, live, bench)

EPILOG = """examples:
  vsr upscale samples/sample.png big.png --scale 3     upscale an image
  vsr eval ../shared/data/images/Set5 --scale 3         PSNR/SSIM against bicubic
  vsr train --data T91 General-100 --scale 3 --out x3.pt
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
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    root = logging.getLogger("vsr")
    saved = root.handlers[:], root.level, root.propagate  # restored, for callers that run main() in-process
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO)
    root.propagate = False
    try:
        return args.run(args)
    except VsrError as exc:
        print(f"vsr: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("vsr: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except MemoryError:
        print("vsr: error: out of memory (try --tile or a smaller --batch)", file=sys.stderr)
        return 1
    finally:
        root.handlers[:], root.propagate = saved[0], saved[2]
        root.setLevel(saved[1])
