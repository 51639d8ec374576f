"""Training ESPCN on luma patches, with the paper's recipe as the starting point.

Paper: 17r x 17r HR sub-images, tanh, the last layer learning 10x slower, Adam. Added here: multi-scale
and dihedral augmentation, larger patches, a cosine learning-rate schedule and validation on held-back
training images each epoch, keeping the best weights. LR patches are cut from images degraded with the
same MATLAB-compatible bicubic as the evaluation, so training and testing see the same blur.
"""
from dataclasses import asdict, dataclass
import logging
import math
from pathlib import Path
import platform
import time
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import __version__, images
from . import device as devices
from . import weights as weight_files
from .errors import VsrError
from .evaluate import degrade, image_files, luma, modcrop
from .metrics import psnr
from .model import HALO, ESPCN
from .color import to_uint8_torch
from .resize import imresize_torch

log = logging.getLogger(__name__)

WARM_EPOCHS = 2  # constant learning rate; the last of them times an epoch for --time-budget

# Folder names of the evaluation sets: training on them would make every reported number a lie.
EVALUATION_SETS = {"set5", "set14", "bsd100", "b100", "urban100", "manga109", "val", "test"}


@dataclass
class Recipe:
    """Everything that determines a training run; stored in the weights file it produces."""

    scale: int = 3
    epochs: int = 30
    patches_per_epoch: int = 131072
    batch: int = 128
    patch: int = 32  # LR input edge; the loss sees its centre, (patch - 2 * HALO) LR pixels, times scale
    lr: float = 3e-3  # the paper's 10x slower last layer kept; 3e-3 beat 1e-3 and 1e-2 in a 600-step trial
    lr_final: float = 1e-5
    last_layer_lr_factor: float = 0.1
    augment_scales: Tuple[float, ...] = (1.0, 0.9, 0.8, 0.7, 0.6)
    holdout_every: int = 20  # every n-th training image (sorted) is held back for validation
    seed: int = 0


@dataclass
class Dataset:
    """All augmented images zero-padded into one stack per resolution, so a batch is one gather on the device."""

    lr: torch.Tensor  # uint8 (N, H, W)
    hr: torch.Tensor  # uint8 (N, rH, rW)
    positions: torch.Tensor  # float (N,): how many patch positions each image has (sampling weight)
    rows: torch.Tensor  # long (N,): valid top-left rows per image
    cols: torch.Tensor  # long (N,)


def split_files(folders: Sequence[Path], holdout_every: int) -> Tuple[List[Path], List[Path]]:
    """All images of ``folders`` -> (training, held back). Deterministic, so runs are comparable."""
    files: List[Path] = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise VsrError(f"training folder not found: {folder}")
        if folder.name.lower() in EVALUATION_SETS:
            raise VsrError(f"refusing to train on {folder}: it looks like an evaluation set")
        found = image_files(folder)
        if not found:
            raise VsrError(f"no images in {folder}")
        files += found
    held = files[holdout_every - 1 :: holdout_every] if holdout_every > 0 else []
    held_set = set(held)
    return [f for f in files if f not in held_set], held


def build_dataset(files: Sequence[Path], recipe: Recipe, device: torch.device, progress: bool = False) -> Dataset:
    """HR luma at each augmentation scale, modcropped, with its MATLAB-bicubic LR, stacked on ``device``."""
    r, p = recipe.scale, recipe.patch
    pairs = []
    for path in tqdm(files, desc="preparing", unit="img", leave=False, disable=not progress):
        y = torch.from_numpy(luma(images.read(path))).to(device, torch.float64)
        for s in recipe.augment_scales:
            hr = modcrop(y if s == 1.0 else to_uint8_torch(imresize_torch(y, s)).double(), r)
            if min(hr.shape) // r >= p:
                pairs.append((to_uint8_torch(imresize_torch(hr, 1.0 / r)), hr.to(torch.uint8)))
    if not pairs:
        raise VsrError(f"no training image is large enough for {p}px LR patches at x{r}")
    h = max(lr.shape[0] for lr, _ in pairs)
    w = max(lr.shape[1] for lr, _ in pairs)
    lr_all = torch.zeros((len(pairs), h, w), dtype=torch.uint8, device=device)
    hr_all = torch.zeros((len(pairs), r * h, r * w), dtype=torch.uint8, device=device)
    for i, (lr, hr) in enumerate(pairs):
        lr_all[i, : lr.shape[0], : lr.shape[1]] = lr
        hr_all[i, : hr.shape[0], : hr.shape[1]] = hr
    rows = torch.tensor([lr.shape[0] - p + 1 for lr, _ in pairs], device=device)
    cols = torch.tensor([lr.shape[1] - p + 1 for lr, _ in pairs], device=device)
    return Dataset(lr_all, hr_all, (rows * cols).double(), rows, cols)


def sample_batch(data: Dataset, recipe: Recipe, gen: torch.Generator) -> Tuple[torch.Tensor, torch.Tensor]:
    """A batch of random (LR patch, HR centre) pairs, uniform over all patch positions, gathered on the device."""
    p, r = recipe.patch, recipe.scale
    n = recipe.batch
    inner = (p - 2 * HALO) * r
    dev = data.lr.device
    which = torch.multinomial(data.positions, n, replacement=True, generator=gen)
    top = (torch.rand(n, generator=gen, device=dev, dtype=torch.float64) * data.rows[which]).long()
    left = (torch.rand(n, generator=gen, device=dev, dtype=torch.float64) * data.cols[which]).long()
    a = torch.arange(p, device=dev)
    lr = data.lr[which[:, None, None], (top[:, None] + a)[:, :, None], (left[:, None] + a)[:, None, :]]
    b = torch.arange(inner, device=dev)
    hrow = ((top + HALO) * r)[:, None] + b
    hcol = ((left + HALO) * r)[:, None] + b
    hr = data.hr[which[:, None, None], hrow[:, :, None], hcol[:, None, :]]
    return lr, hr


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """One of the 8 rotations/flips of the last two axes; bicubic degradation commutes with all of them."""
    x = torch.rot90(x, k % 4, dims=(-2, -1))
    return x.flip(-1) if k >= 4 else x


@torch.inference_mode()
def validate(model: ESPCN, pairs: Sequence[Tuple[np.ndarray, np.ndarray]], scale: int, device: torch.device) -> float:
    """Mean PSNR (protocol: 8-bit, shave = scale) over held-back images."""
    model.eval()
    scores = []
    for lr, hr in pairs:
        x = torch.from_numpy(lr).to(device).float().div_(255)[None, None]
        sr = model(x).clamp_(0, 1).mul_(255).round_().to(torch.uint8)[0, 0].cpu().numpy()
        scores.append(psnr(sr, hr, border=scale))
    model.train()
    return float(np.mean(scores))


def train(
    folders: Sequence[Path],
    out: Path,
    recipe: Recipe,
    device: str = "auto",
    time_budget_minutes: Optional[float] = None,
    command: str = "",
    progress: bool = True,
) -> dict:
    """Train, validating every epoch, and keep the best weights at ``out``; returns the saved metadata.

    The learning rate is constant through the first ``WARM_EPOCHS`` epochs and follows a cosine to
    ``lr_final`` over the rest. With ``time_budget_minutes``, the number of epochs is chosen after those
    (the last one timed, past start-up costs) and written into the file's recipe, so ``--epochs N`` with
    that number reproduces the run exactly.
    """
    dev = devices.resolve(device)
    torch.manual_seed(recipe.seed)
    gen = torch.Generator(device=dev).manual_seed(recipe.seed)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    out = Path(out)
    if not out.parent.is_dir():
        raise VsrError(f"output folder does not exist: {out.parent}")

    train_files, held_files = split_files(folders, recipe.holdout_every)
    if not held_files:
        raise VsrError("no images held back for validation: give more images or a smaller --holdout-every")
    log.info("training x%d on %d images, validating on %d, device %s", recipe.scale, len(train_files), len(held_files), dev)
    started = time.monotonic()
    data = build_dataset(train_files, recipe, dev, progress)
    val_pairs = []
    for path in held_files:
        hr = modcrop(luma(images.read(path)), recipe.scale)
        val_pairs.append((degrade(hr, recipe.scale), hr))

    model = ESPCN(recipe.scale).to(dev).train()
    body = [p for n, p in model.named_parameters() if not n.startswith("conv3")]
    optimizer = torch.optim.Adam(
        [{"params": body, "lr": recipe.lr},
         {"params": list(model.conv3.parameters()), "lr": recipe.lr * recipe.last_layer_lr_factor}]
    )
    steps_per_epoch = max(1, recipe.patches_per_epoch // recipe.batch)
    floor = recipe.lr_final / recipe.lr

    def lr_factor(step: int) -> float:
        decay_steps = (recipe.epochs - WARM_EPOCHS) * steps_per_epoch
        if step < WARM_EPOCHS * steps_per_epoch or decay_steps <= 0:
            return 1.0
        t = min(step - WARM_EPOCHS * steps_per_epoch, decay_steps) / decay_steps
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    meta = {
        "architecture": "ESPCN (Shi et al. 2016): conv5x5 1-64 tanh, conv3x3 64-32 tanh, conv3x3 32-r^2, pixel shuffle",
        "input": "BT.601 studio-range luma / 255",
        "training_data": [Path(f).name for f in folders],
        "training_images": len(train_files),
        "validation_images": len(held_files),
        "command": command,
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "cpu",
        "torch": str(torch.__version__),
        "vsr": __version__,
    }
    best = -math.inf
    epoch = 0
    rotations = torch.Generator().manual_seed(recipe.seed)
    while epoch < recipe.epochs:
        epoch += 1
        epoch_start = time.monotonic()
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch}/{recipe.epochs}", unit="step",
                   leave=False, disable=not progress)
        for _ in bar:
            lr_patch, hr_patch = sample_batch(data, recipe, gen)
            k = int(torch.randint(0, 8, (1,), generator=rotations))
            x = dihedral(lr_patch, k).unsqueeze(1).float().div_(255)
            target = dihedral(hr_patch, k).unsqueeze(1).float().div_(255)
            loss = F.mse_loss(model.forward_valid(x), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        score = validate(model, val_pairs, recipe.scale, dev)
        minutes = (time.monotonic() - started) / 60
        if epoch == WARM_EPOCHS and time_budget_minutes is not None:
            per_epoch = (time.monotonic() - epoch_start) / 60
            recipe.epochs = max(epoch, epoch + int((time_budget_minutes - minutes) / per_epoch))
            meta["epochs_chosen_for_time_budget_minutes"] = time_budget_minutes
            log.info("epoch %d took %.2f min: %d epochs fit in %.1f minutes", epoch, per_epoch, recipe.epochs, time_budget_minutes)
        meta["recipe"] = asdict(recipe)
        improved = score > best
        if improved:
            best = score
            meta.update(best_epoch=epoch, validation_psnr=round(score, 3), minutes=round(minutes, 2))
            weight_files.save(model, out, meta)
        log.info("epoch %d/%d: loss %.3e, validation PSNR %.3f dB%s (%.1f min)",
                 epoch, recipe.epochs, loss.item(), score, " (best, saved)" if improved else "", minutes)
    return meta
