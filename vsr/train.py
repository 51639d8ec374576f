"""Training ESPCN on luma patches, with the paper's recipe as the starting point.

Paper: 17r x 17r HR sub-images, tanh, the last layer learning 10x slower, Adam. Added here: multi-scale
and dihedral augmentation, larger patches, a cosine learning-rate schedule and validation on held-back
training images each epoch, keeping the best weights. LR patches are cut from images degraded with the
same MATLAB-compatible bicubic as the evaluation, so training and testing see the same blur.
"""
from dataclasses import asdict, dataclass, field
import logging
import math
from pathlib import Path
import platform
import time
from typing import Callable, List, Optional, Sequence, Tuple

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

# Folder names of the evaluation sets: training on them would make every reported number a lie.
EVALUATION_SETS = {"set5", "set14", "bsd100", "b100", "urban100", "manga109", "val", "test"}


@dataclass
class Recipe:
    """Everything that determines a training run; stored in the weights file it produces."""

    scale: int = 3
    epochs: int = 40
    patches_per_epoch: int = 262144
    batch: int = 512
    patch: int = 32  # LR input edge; the loss sees its centre, (patch - 2 * HALO) LR pixels, times scale
    lr: float = 1e-3
    lr_final: float = 1e-5
    last_layer_lr_factor: float = 0.1
    augment_scales: Tuple[float, ...] = (1.0, 0.9, 0.8, 0.7, 0.6)
    holdout_every: int = 20  # every n-th training image (sorted) is held back for validation
    seed: int = 0


@dataclass
class Dataset:
    lr: List[torch.Tensor] = field(default_factory=list)  # uint8 (h, w) per augmented image
    hr: List[torch.Tensor] = field(default_factory=list)  # uint8 (rh, rw)


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
    """HR luma at each augmentation scale, modcropped, with its MATLAB-bicubic LR, stored on ``device``."""
    data = Dataset()
    r = recipe.scale
    for path in tqdm(files, desc="preparing", unit="img", leave=False, disable=not progress):
        y = torch.from_numpy(luma(images.read(path))).to(device, torch.float64)
        for s in recipe.augment_scales:
            hr = modcrop(y if s == 1.0 else to_uint8_torch(imresize_torch(y, s)).double(), r)
            if min(hr.shape) // r < recipe.patch:
                continue
            data.hr.append(hr.to(torch.uint8))
            data.lr.append(to_uint8_torch(imresize_torch(hr, 1.0 / r)))
    if not data.lr:
        raise VsrError(f"no training image is large enough for {recipe.patch}px LR patches at x{r}")
    return data


def sample_patches(data: Dataset, recipe: Recipe, count: int, gen: torch.Generator) -> Tuple[torch.Tensor, torch.Tensor]:
    """``count`` random (LR patch, HR centre) pairs, chosen uniformly over all patch positions."""
    p, r = recipe.patch, recipe.scale
    inner = p - 2 * HALO
    positions = torch.tensor([(lr.shape[0] - p + 1) * (lr.shape[1] - p + 1) for lr in data.lr], dtype=torch.float64)
    which = torch.multinomial(positions, count, replacement=True, generator=gen)
    device = data.lr[0].device
    lr_out = torch.empty((count, p, p), dtype=torch.uint8, device=device)
    hr_out = torch.empty((count, inner * r, inner * r), dtype=torch.uint8, device=device)
    arange_lr = torch.arange(p, device=device)
    arange_hr = torch.arange(inner * r, device=device)
    for i in torch.unique(which).tolist():
        slots = (which == i).nonzero().squeeze(1).to(device)
        lr, hr = data.lr[i], data.hr[i]
        n = slots.numel()
        top = torch.randint(0, lr.shape[0] - p + 1, (n,), generator=gen).to(device)
        left = torch.randint(0, lr.shape[1] - p + 1, (n,), generator=gen).to(device)
        rows = (top[:, None] + arange_lr)[:, :, None]
        cols = (left[:, None] + arange_lr)[:, None, :]
        lr_out[slots] = lr[rows, cols]
        hrows = ((top + HALO) * r)[:, None] + arange_hr
        hcols = ((left + HALO) * r)[:, None] + arange_hr
        hr_out[slots] = hr[hrows[:, :, None], hcols[:, None, :]]
    return lr_out, hr_out


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
    max_minutes: Optional[float] = None,
    command: str = "",
    progress: bool = True,
    on_epoch: Optional[Callable[[int, float, float], None]] = None,
) -> dict:
    """Train, validating every epoch, and keep the best weights at ``out``; returns the saved metadata."""
    dev = devices.resolve(device)
    torch.manual_seed(recipe.seed)
    gen = torch.Generator().manual_seed(recipe.seed)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    out = Path(out)
    if not out.parent.is_dir():
        raise VsrError(f"output folder does not exist: {out.parent}")

    train_files, held_files = split_files(folders, recipe.holdout_every)
    if not held_files:
        raise VsrError("no images held back for validation: give more images or a smaller --holdout-every")
    log.info("training x%d on %d images, validating on %d, device %s", recipe.scale, len(train_files), len(held_files), dev)
    data = build_dataset(train_files, recipe, dev, progress)
    val_pairs = []
    for path in held_files:
        hr = modcrop(luma(images.read(path)), recipe.scale)
        val_pairs.append((degrade(hr, recipe.scale), hr))

    model = ESPCN(recipe.scale).to(dev).train()
    last = list(model.conv3.parameters())
    body = [p for n, p in model.named_parameters() if not n.startswith("conv3")]
    optimizer = torch.optim.Adam(
        [{"params": body, "lr": recipe.lr}, {"params": last, "lr": recipe.lr * recipe.last_layer_lr_factor}]
    )
    steps_per_epoch = max(1, recipe.patches_per_epoch // recipe.batch)
    total = recipe.epochs * steps_per_epoch
    floor = recipe.lr_final / recipe.lr
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
    )

    meta = {
        "architecture": "ESPCN (Shi et al. 2016): conv5x5 1-64 tanh, conv3x3 64-32 tanh, conv3x3 32-r^2, pixel shuffle",
        "input": "BT.601 studio-range luma / 255",
        "recipe": asdict(recipe),
        "training_data": [f"{Path(f).name}" for f in folders],
        "training_images": len(train_files),
        "validation_images": len(held_files),
        "command": command,
        "device": str(torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "cpu"),
        "torch": torch.__version__,
        "vsr": __version__,
    }
    best = -math.inf
    started = time.monotonic()
    stopped_early = False
    for epoch in range(1, recipe.epochs + 1):
        lr_patches, hr_patches = sample_patches(data, recipe, steps_per_epoch * recipe.batch, gen)
        order = torch.randperm(lr_patches.shape[0], generator=gen).to(dev)
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch}/{recipe.epochs}", unit="step",
                   leave=False, disable=not progress)
        running = 0.0
        for step in bar:
            idx = order[step * recipe.batch : (step + 1) * recipe.batch]
            k = int(torch.randint(0, 8, (1,), generator=gen))
            x = dihedral(lr_patches[idx], k).unsqueeze(1).float().div_(255)
            target = dihedral(hr_patches[idx], k).unsqueeze(1).float().div_(255)
            loss = F.mse_loss(model.forward_valid(x), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            if step % 50 == 0:
                running = loss.item()
                bar.set_postfix(loss=f"{running:.2e}")
        score = validate(model, val_pairs, recipe.scale, dev)
        minutes = (time.monotonic() - started) / 60
        improved = score > best
        if improved:
            best = score
            meta.update(best_epoch=epoch, validation_psnr=round(score, 3), epochs_run=epoch, minutes=round(minutes, 2))
            weight_files.save(model, out, meta)
        log.info("epoch %d/%d: loss %.3e, validation PSNR %.3f dB%s (%.1f min)",
                 epoch, recipe.epochs, running, score, " (best, saved)" if improved else "", minutes)
        if on_epoch:
            on_epoch(epoch, score, minutes)
        if max_minutes is not None and minutes >= max_minutes and epoch < recipe.epochs:
            stopped_early = True
            log.warning("stopping after epoch %d: --max-minutes %.1f reached", epoch, max_minutes)
            break
    if stopped_early:  # record it in the file, so the recipe is not mistaken for a finished run
        model_best, saved = weight_files.load(out)
        saved["stopped_early_after_epoch"] = epoch
        weight_files.save(model_best, out, saved)
        meta = saved
    return meta
