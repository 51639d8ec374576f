"""``vsr train``: train ESPCN weights for one scale."""
import argparse
from pathlib import Path
import shlex
import sys

from ..errors import VsrError
from ..train import Recipe, train
from .common import check_output

DEFAULTS = Recipe()


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train ESPCN weights",
                       description="Train ESPCN on images, validating on held-back images each epoch.")
    p.add_argument("--data", type=Path, nargs="+", required=True, help="folders of training images")
    p.add_argument("-s", "--scale", type=int, choices=(2, 3, 4), default=3)
    p.add_argument("--out", type=Path, required=True, help="weights file to write (the best epoch)")
    p.add_argument("--device", default="auto")
    p.add_argument("--epochs", type=int, default=DEFAULTS.epochs)
    p.add_argument("--patches-per-epoch", type=int, default=DEFAULTS.patches_per_epoch)
    p.add_argument("--batch", type=int, default=DEFAULTS.batch)
    p.add_argument("--patch", type=int, default=DEFAULTS.patch, help="LR patch edge in pixels")
    p.add_argument("--lr", type=float, default=DEFAULTS.lr, help="Adam learning rate (last layer: a tenth)")
    p.add_argument("--seed", type=int, default=DEFAULTS.seed)
    p.add_argument("--holdout-every", type=int, default=DEFAULTS.holdout_every,
                   help="hold back every n-th image for validation")
    p.add_argument("--time-budget", type=float, metavar="MINUTES",
                   help="choose the number of epochs after epoch 1 so training fits this many minutes "
                        "(the chosen number is stored in the weights file's recipe)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("-y", "--overwrite", action="store_true")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    check_output(args.out, args.overwrite)
    if args.patch <= 8:
        raise VsrError("--patch must be larger than 8 (the network's context)", exit_code=2)
    for option in ("epochs", "patches_per_epoch", "batch"):
        if getattr(args, option) < 1:
            raise VsrError(f"--{option.replace('_', '-')} must be at least 1", exit_code=2)
    if not args.lr > 0:
        raise VsrError("--lr must be positive", exit_code=2)
    recipe = Recipe(scale=args.scale, epochs=args.epochs, patches_per_epoch=args.patches_per_epoch,
                    batch=args.batch, patch=args.patch, lr=args.lr, seed=args.seed,
                    holdout_every=args.holdout_every)
    command = "vsr " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    meta = train(args.data, args.out, recipe, device=args.device, time_budget_minutes=args.time_budget,
                 command=command, progress=not args.no_progress and sys.stderr.isatty())
    print(f"{args.out}: best validation PSNR {meta['validation_psnr']:.3f} dB at epoch {meta['best_epoch']}")
    return 0
