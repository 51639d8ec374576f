"""``vsr upscale``: an image or a video in, the same upscaled out."""
import argparse
import logging
from pathlib import Path

from .. import images
from ..upscaler import Upscaler
from .common import add_model_arguments, check_output

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("upscale", help="upscale an image or a video",
                       description="Upscale an image (PNG, JPEG, BMP) with ESPCN.")
    p.add_argument("input", type=Path, help="input image")
    p.add_argument("output", type=Path, help="output image")
    add_model_arguments(p)
    p.add_argument("--tile", type=int, help="process in tiles of this many LR pixels (saves memory)")
    p.add_argument("-y", "--overwrite", action="store_true", help="replace an existing output")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    check_output(args.output, args.overwrite, [args.input])
    img = images.read(args.input)
    upscaler = Upscaler(args.scale, device=args.device, weights=args.weights, tile=args.tile)
    out = upscaler.upscale_y(img) if img.ndim == 2 else upscaler.upscale_rgb(img)
    images.write(args.output, out)
    log.info("%s: %dx%d -> %dx%d", args.output, img.shape[1], img.shape[0], out.shape[1], out.shape[0])
    return 0
