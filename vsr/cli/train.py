"""``vsr train``: train ESPCN weights for one scale, resumably."""
import argparse
import logging
from pathlib import Path
import shlex
import sys

from ..errors import VsrError
from ..recipe import LOSSES, Recipe
from .common import add_model_arguments, check_output

DEFAULTS = Recipe()
log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train ESPCN weights",
                       description="Train ESPCN on images, validating on held-back images each epoch. "
                                   "Ctrl-C, SIGTERM or SIGHUP writes a checkpoint and stops (exit 130); "
                                   "the same command with --resume continues exactly where it stopped.")
    p.add_argument("--data", type=Path, nargs="+", required=True, help="folders of training images")
    add_model_arguments(p, ("scale", "device"))
    p.add_argument("--out", type=Path, required=True, help="weights file to write (the best epoch)")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--epochs", type=int, default=DEFAULTS.epochs)
    p.add_argument("--patches-per-epoch", type=int, default=DEFAULTS.patches_per_epoch)
    p.add_argument("--batch", type=int, default=DEFAULTS.batch, metavar="N",
                   help=f"LR patches per training step (default {DEFAULTS.batch}; not frames per network call "
                        "as on the other commands)")
    p.add_argument("--patch", type=int, default=DEFAULTS.patch, help="LR patch edge in pixels")
    p.add_argument("--lr", type=float, default=DEFAULTS.lr, help="Adam learning rate (last layer: a tenth)")
    p.add_argument("--lr-final", type=float, default=DEFAULTS.lr_final,
                   help="learning rate the cosine ends at (equal to --lr: constant)")
    p.add_argument("--warm-epochs", type=int, default=DEFAULTS.warm_epochs,
                   help="epochs at the full learning rate before the cosine")
    p.add_argument("--loss", choices=LOSSES, default=DEFAULTS.loss)
    p.add_argument("--ema", type=float, default=DEFAULTS.ema, metavar="DECAY",
                   help="validate and save an exponential moving average of the weights (e.g. 0.999; 0: off)")
    p.add_argument("--init", type=Path, metavar="WEIGHTS", help="start from this weights file (fine-tuning)")
    p.add_argument("--seed", type=int, default=DEFAULTS.seed)
    p.add_argument("--holdout-every", type=int, default=DEFAULTS.holdout_every,
                   help="hold back every n-th image for validation")
    p.add_argument("--time-budget", type=float, metavar="MINUTES",
                   help="choose the number of epochs after the warm epochs so training fits this many minutes "
                        "(the chosen number is stored in the weights file's recipe)")
    p.add_argument("--checkpoint", type=Path, help="checkpoint file (default: --out with suffix .ckpt)")
    p.add_argument("--checkpoint-every", type=float, default=5.0, metavar="MINUTES",
                   help="write the checkpoint this often (default 5; 0: every step)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the checkpoint (the recipe options must be the ones that started it)")
    p.add_argument("--amp", action="store_true",
                   help="bfloat16 convolutions, float32 weights (for GPUs; slow on most CPUs)")
    p.add_argument("--compile", action="store_true", help="torch.compile the training step (CUDA graphs on a GPU)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("-y", "--overwrite", action="store_true")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..train import default_checkpoint, train

    checkpoint = args.checkpoint or default_checkpoint(args.out)
    if not args.resume:
        check_output(args.out, args.overwrite)
        if checkpoint.exists() and not args.overwrite:
            raise VsrError(f"checkpoint {checkpoint} exists: continue that run with --resume, "
                           "or start over with -y")
    if args.patch <= 8:
        raise VsrError("--patch must be larger than 8 (the network's context)", exit_code=2)
    for option in ("epochs", "patches_per_epoch"):
        if getattr(args, option) < 1:
            raise VsrError(f"--{option.replace('_', '-')} must be at least 1", exit_code=2)
    if not args.lr > 0 or not args.lr_final > 0:
        raise VsrError("--lr and --lr-final must be positive", exit_code=2)
    if args.warm_epochs < 0 or args.checkpoint_every < 0:
        raise VsrError("--warm-epochs and --checkpoint-every cannot be negative", exit_code=2)
    if not 0 <= args.ema < 1:
        raise VsrError("--ema must be at least 0 and less than 1", exit_code=2)
    if args.threads is not None:
        if args.threads < 1:
            raise VsrError("--threads must be at least 1", exit_code=2)
        torch.set_num_threads(args.threads)
        try:
            torch.set_num_interop_threads(args.threads)
        except RuntimeError:  # fixed once any inter-op work ran (an in-process caller's earlier run)
            log.debug("inter-op threads already set")
    recipe = Recipe(scale=args.scale, epochs=args.epochs, patches_per_epoch=args.patches_per_epoch,
                    batch=args.batch, patch=args.patch, lr=args.lr, lr_final=args.lr_final,
                    warm_epochs=args.warm_epochs, loss=args.loss, ema=args.ema, seed=args.seed,
                    holdout_every=args.holdout_every)
    command = "vsr " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    meta = train(args.data, args.out, recipe, device=args.device, time_budget_minutes=args.time_budget,
                 command=command, progress=not args.no_progress and sys.stderr.isatty(),
                 checkpoint=checkpoint, checkpoint_every_minutes=args.checkpoint_every,
                 resume=args.resume, init=args.init, amp=args.amp,
                 compile_step=args.compile)
    print(f"{args.out}: best validation PSNR {meta['validation_psnr']:.3f} dB at epoch {meta['best_epoch']} "
          f"({meta['samples_seen']} samples seen)")
    return 0
