"""What determines a training run, as plain values: ``vsr train`` parses its options against these
defaults without loading torch, and every weights file stores the recipe that made it."""
from dataclasses import dataclass
from typing import Tuple

LOSSES = ("mse", "l1", "charbonnier")


@dataclass
class Recipe:
    """Everything that determines a training run; stored in the weights file it produces and compared on resume."""

    scale: int = 3
    epochs: int = 30
    patches_per_epoch: int = 131072
    batch: int = 128
    patch: int = 32  # LR input edge; the loss sees its centre, (patch - 2 * model.HALO) LR pixels, times scale
    lr: float = 3e-3  # the paper's 10x slower last layer kept; 3e-3 beat 1e-3 and 1e-2 in a 600-step trial
    lr_final: float = 1e-5
    warm_epochs: int = 2  # constant learning rate, then a cosine; the last one times an epoch for --time-budget
    last_layer_lr_factor: float = 0.1
    loss: str = "mse"  # mse, l1 or charbonnier
    ema: float = 0.0  # decay of an exponential moving average of the weights, validated and saved (0: off)
    augment_scales: Tuple[float, ...] = (1.0, 0.9, 0.8, 0.7, 0.6)
    holdout_every: int = 20  # every n-th training image (sorted) is held back for validation
    seed: int = 0
    init: str = ""  # sha256 of the weights file the run started from (--init); "" for a random start
