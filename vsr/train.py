"""Training ESPCN on luma patches, with the paper's recipe as the starting point.

Paper: 17r x 17r HR sub-images, tanh, the last layer learning 10x slower, Adam. Added here: multi-scale
and dihedral augmentation, larger patches, a cosine learning-rate schedule and validation on held-back
training images each epoch, keeping the best weights. LR patches are cut from images degraded with the
same MATLAB-compatible bicubic as the evaluation, so training and testing see the same blur.

A run is resumable: its checkpoint (model, optimizer, step, every random state, best-so-far, learning
curve) is written atomically every few minutes and when a signal (Ctrl-C, SIGTERM, SIGHUP) stops it, and a resumed run
replays exactly what the unbroken run would have done (same device type and thread count: bit-exact).
"""
import contextlib
from dataclasses import asdict, dataclass
import hashlib
import json
import logging
import math
from pathlib import Path
import platform
import random
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import __version__, devices, images, interrupts
from . import weight_files
from .errors import VsrError
from .recipe import LOSSES, Recipe
from .color import to_uint8_torch
from .evaluate import image_files
from .model import CHANNELS, HALO, ESPCN
from .protocol import degrade, degrade_torch, luma, modcrop, psnr_y
from .resize import imresize_torch

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "vsr-train-checkpoint-1"
CHARBONNIER_EPS = 1e-3  # a quarter of an 8-bit level: L1 away from zero, smooth at it

# Folder names of the evaluation sets: training on them would make every reported number a lie.
EVALUATION_SETS = {"set5", "set14", "bsd100", "b100", "urban100", "manga109", "val", "test"}


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
                pairs.append((degrade_torch(hr, r), hr.to(torch.uint8)))
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
    """Mean PSNR (protocol: rounded to 8 bits by vsr's one rule, shave = scale) over held-back images."""
    model.eval()
    scores = []
    for lr, hr in pairs:
        x = torch.from_numpy(lr).to(device).float().div_(255)[None, None]
        sr = to_uint8_torch(model(x).clamp_(0, 1).mul_(255))[0, 0].cpu().numpy()
        scores.append(psnr_y(sr, hr, scale))
    model.train()
    return float(np.mean(scores))


def loss_function(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """MSE is what PSNR measures; L1 and Charbonnier (smooth L1) often train small SR networks better."""
    if name == "mse":
        return F.mse_loss
    if name == "l1":
        return F.l1_loss
    if name == "charbonnier":
        return lambda out, target: torch.sqrt((out - target).square() + CHARBONNIER_EPS ** 2).mean()
    raise VsrError(f"unknown loss {name!r}: use one of {', '.join(LOSSES)}", exit_code=2)


def lr_factor(recipe: Recipe, step: int, steps_per_epoch: int) -> float:
    """Learning-rate multiplier at ``step``: 1 through the warm epochs, then a cosine to ``lr_final``.
    ``lr_final == lr`` makes it constant, so such a run can be extended without changing its past."""
    warm = recipe.warm_epochs * steps_per_epoch
    decay = (recipe.epochs - recipe.warm_epochs) * steps_per_epoch
    if step < warm or decay <= 0:
        return 1.0
    floor = recipe.lr_final / recipe.lr
    t = min(step - warm, decay) / decay
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))


def file_digest(path: Path) -> str:
    """Names a weights file by content, so a renamed --init file still resumes and a changed one does not."""
    return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def default_checkpoint(out: Path) -> Path:
    """Where a run writing ``out`` keeps its checkpoint unless told otherwise: beside it."""
    return Path(out).with_suffix(".ckpt")


def save_checkpoint(path: Path, state: Dict[str, Any]) -> None:
    """Temp file, then rename: a crash, a reader or a ``git add`` never sees half a checkpoint."""
    weight_files.write_tagged(path, state)


def load_checkpoint(path: Path) -> Dict[str, Any]:
    """Read a checkpoint with ``weights_only=True`` (tensors and plain types; nothing else is unpickled)."""
    path = Path(path)
    if not path.is_file():
        raise VsrError(f"no checkpoint to resume at {path}", exit_code=2)
    return weight_files.read_tagged(path, CHECKPOINT_FORMAT, "vsr training checkpoint")


def _plain(value: Any) -> Any:
    """JSON types only (tuples become lists), so stored and requested recipes compare equal."""
    return json.loads(json.dumps(value))


def _check_same_recipe(path: Path, saved: Dict[str, Any], requested: Dict[str, Any]) -> None:
    """A resumed run must be the run that was interrupted, or 'resumed and unbroken agree' means nothing."""
    diffs = [f"{k} {saved['requested'].get(k)!r} there, {v!r} here" for k, v in requested.items()
             if saved["requested"].get(k) != v]
    if diffs:
        raise VsrError(f"checkpoint {path} is of another recipe ({'; '.join(diffs)}): "
                       "resume with the options that started it", exit_code=2)


def _rng_states(sampler: torch.Generator, rotations: torch.Generator) -> Dict[str, Any]:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"sampler": sampler.get_state(), "sampler_device": sampler.device.type,
            "rotations": rotations.get_state(), "torch": torch.get_rng_state(),
            "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
            "python": random.getstate()}


def _restore_rng(states: Dict[str, Any], sampler: torch.Generator, rotations: torch.Generator, reseed: int) -> None:
    if states["sampler_device"] == sampler.device.type:
        sampler.set_state(states["sampler"])
    else:  # a CUDA generator's state means nothing to the CPU's, and vice versa
        log.warning("checkpoint was written on %s, resuming on %s: patch sampling continues from a new seed",
                    states["sampler_device"], sampler.device.type)
        sampler.manual_seed(reseed)
    rotations.set_state(states["rotations"])
    torch.set_rng_state(states["torch"])
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    random.setstate(states["python"])


@torch.no_grad()
def _update_ema(ema: ESPCN, model: ESPCN, decay: float, step: int) -> None:
    decay = min(decay, (1 + step) / (10 + step))  # short memory at first, so the average forgets the start
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p, 1 - decay)


def _cpu_state(model: ESPCN) -> Dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def _save_weights(out: Path, scale: int, state: Dict[str, torch.Tensor], meta: Dict[str, Any]) -> None:
    model = ESPCN.for_state_dict(scale, state)
    model.load_state_dict(state)
    weight_files.save(model, out, meta)


def _device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "cpu"


def train(
    folders: Sequence[Path],
    out: Path,
    recipe: Recipe,
    device: str = "auto",
    time_budget_minutes: Optional[float] = None,
    command: str = "",
    progress: bool = True,
    checkpoint: Optional[Path] = None,
    checkpoint_every_minutes: Optional[float] = 5.0,
    resume: bool = False,
    init: Optional[Path] = None,
    amp: bool = False,
    compile_step: bool = False,
) -> dict:
    """Train, validating every epoch, and keep the best weights at ``out``; returns the saved metadata.

    The learning rate is constant through the first ``recipe.warm_epochs`` epochs and follows a cosine to
    ``lr_final`` over the rest. With ``time_budget_minutes``, the number of epochs is chosen after those
    (the last one timed, past start-up costs) and written into the file's recipe, so ``--epochs N`` with
    that number reproduces the run exactly. ``checkpoint`` (default: beside ``out``) is written every
    ``checkpoint_every_minutes`` (0: every step), at the end, and when a signal (Ctrl-C, SIGTERM, SIGHUP)
    stops the run, which then raises ``VsrError`` with exit code 130; ``resume`` continues from it. ``init``
    starts from an existing weights file (fine-tuning). ``amp`` runs the convolutions in bfloat16 (the
    weights, Adam and the loss stay float32); ``compile_step`` uses ``torch.compile`` (with CUDA graphs on
    a GPU), for the launch-bound small steps of a GPU. Neither is part of the recipe: a run may resume
    with or without.
    """
    run = _Training(folders, Path(out), recipe, devices.resolve(device), command, progress, checkpoint, resume,
                    init, amp, compile_step)
    run.epochs(time_budget_minutes, checkpoint_every_minutes)
    return run.finish()


class _Training:
    """One training session in its phases: set-up (``__init__``: data, model, optimizer, a resumed
    state), ``step`` (one batch), ``end_epoch`` (validation, the best weights kept), ``snapshot`` (the
    checkpoint), driven by ``epochs`` and closed by ``finish``."""

    def __init__(self, folders: Sequence[Path], out: Path, recipe: Recipe, dev: torch.device, command: str,
                 progress: bool, checkpoint: Optional[Path], resume: bool, init: Optional[Path], amp: bool,
                 compile_step: bool):
        if not out.parent.is_dir():
            raise VsrError(f"output folder does not exist: {out.parent}")
        self.out, self.dev, self.progress, self.amp = out, dev, progress, amp
        self.checkpoint = Path(checkpoint) if checkpoint is not None else default_checkpoint(out)
        self.loss_fn = loss_function(recipe.loss)
        start_weights = None
        if init is not None:
            start_weights, _ = weight_files.load(init, scale=recipe.scale)
            recipe.init = file_digest(init)
        self.requested = _plain(asdict(recipe))
        saved = load_checkpoint(self.checkpoint) if resume else None
        if saved is not None:
            _check_same_recipe(self.checkpoint, saved, self.requested)
            recipe = Recipe(**dict(saved["recipe"], augment_scales=tuple(saved["recipe"]["augment_scales"])))
        self.recipe = recipe
        if dev.type == "cuda":
            torch.backends.cudnn.benchmark = True
        train_files, held_files = self._load_data(folders, saved)
        torch.manual_seed(recipe.seed)
        self.sampler = torch.Generator(device=dev).manual_seed(recipe.seed)
        self.rotations = torch.Generator().manual_seed(recipe.seed)
        self._build_model(saved, start_weights, compile_step)
        self.steps_per_epoch = max(1, recipe.patches_per_epoch // recipe.batch)
        session = {"command": command, "device": _device_name(dev), "threads": torch.get_num_threads(),
                   "torch": str(torch.__version__), "vsr": __version__, "amp": amp, "compile": compile_step}
        self.step_no, self.best, self.best_epoch, self.best_state = 0, -math.inf, 0, None
        self.curve: List[Dict[str, Any]] = []
        self.loss_sum = torch.zeros((), device=dev)
        self.elapsed = 0.0  # seconds of this run before this session
        if saved is None:
            self.meta = {
                "architecture": self.model.description(),
                "input": "BT.601 studio-range luma / 255",
                "training_data": [Path(f).name for f in folders],
                "training_images": len(train_files),
                "validation_images": len(held_files),
                "command": command,
                "device": session["device"],
                "torch": session["torch"],
                "vsr": __version__,
                "recipe": _plain(asdict(recipe)),
            }
            if init is not None:
                self.meta["init"] = f"{Path(init).name} ({recipe.init})"
            self.meta["sessions"] = []
        else:
            self._resume(saved)
        self.meta["sessions"].append(dict(session, start_step=self.step_no))
        self.started = time.monotonic()
        if saved is None:  # the starting point, on the curve and a candidate for best (fine-tuning may not beat it)
            score = validate(self.evaluated, self.val_pairs, recipe.scale, dev)
            self.record(0, score, None)
            log.info("start: validation PSNR %.3f dB", score)

    # ---- set-up ------------------------------------------------------------------------------
    def _load_data(self, folders: Sequence[Path], saved: Optional[Dict[str, Any]]) -> Tuple[List[Path], List[Path]]:
        """The training patches' source images (resident on the device) and the validation pairs."""
        recipe = self.recipe
        train_files, held_files = split_files(folders, recipe.holdout_every)
        if not held_files:
            raise VsrError("no images held back for validation: give more images or a smaller --holdout-every")
        self.names = [f"{p.parent.name}/{p.name}" for p in train_files]
        if saved is not None and saved["training_files"] != self.names:
            raise VsrError(f"checkpoint {self.checkpoint} trained on other images: resume with the same --data",
                           exit_code=2)
        log.info("training x%d on %d images, validating on %d, device %s, %d threads", recipe.scale,
                 len(train_files), len(held_files), self.dev, torch.get_num_threads())
        self.data = build_dataset(train_files, recipe, self.dev, self.progress)
        self.val_pairs = []
        for path in held_files:
            hr = modcrop(luma(images.read(path)), recipe.scale)
            self.val_pairs.append((degrade(hr, recipe.scale), hr))
        return train_files, held_files

    def _build_model(self, saved: Optional[Dict[str, Any]], start_weights: Optional[ESPCN],
                     compile_step: bool) -> None:
        """The model (the interrupted run's widths, a fine-tuning start, or ``CHANNELS``), its EMA and Adam."""
        recipe, dev = self.recipe, self.dev
        if saved is not None:  # the run that was interrupted, with its widths even if CHANNELS changed since
            model = ESPCN.for_state_dict(recipe.scale, saved["model"])
        elif start_weights is not None:
            model = ESPCN(recipe.scale, start_weights.channels)
            model.load_state_dict(start_weights.state_dict())
        else:
            model = ESPCN(recipe.scale, CHANNELS)
        # channels_last: oneDNN and cuDNN skip a layout reorder per convolution; faster at 1 CPU thread and on a
        # quiet 2-core machine, slower at 2 threads when the other core is busy (results/training.md)
        self.model = model.to(dev, memory_format=torch.channels_last).train()
        self.ema = None
        if recipe.ema > 0:
            ema = ESPCN(recipe.scale, model.channels).to(dev, memory_format=torch.channels_last)
            self.ema = ema.train().requires_grad_(False)
            self.ema.load_state_dict(self.model.state_dict())
        self.evaluated = self.ema if self.ema is not None else self.model  # what is validated and saved
        self.optimizer = torch.optim.Adam(
            self.model.param_groups(recipe.lr, recipe.last_layer_lr_factor),
            fused=dev.type == "cuda",  # one kernel for all parameters instead of several per tensor
        )
        self.forward = self.model.forward_valid
        self.graphs = compile_step and dev.type == "cuda"
        if compile_step:
            self.forward = torch.compile(self.forward, mode="reduce-overhead" if self.graphs else None)
        self.base_lrs = [group["lr"] for group in self.optimizer.param_groups]

    def _resume(self, saved: Dict[str, Any]) -> None:
        """Everything the interrupted session had: weights, Adam, step, best, curve, random states."""
        self.model.load_state_dict(saved["model"])
        if self.ema is not None:
            self.ema.load_state_dict(saved["ema"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.step_no, self.loss_sum = saved["step"], saved["epoch_loss_sum"].to(self.dev)
        best = saved["best"]
        self.best, self.best_epoch, self.best_state = best["psnr"], best["epoch"], best["state_dict"]
        self.curve, self.meta, self.elapsed = saved["curve"], saved["meta"], saved["elapsed_seconds"]
        _restore_rng(saved["rng"], self.sampler, self.rotations, reseed=self.recipe.seed + self.step_no)
        if self.best_state is not None:  # ``out`` may have moved past the checkpoint; the replay will get there again
            _save_weights(self.out, self.recipe.scale, self.best_state, self.meta)
        log.info("resuming %s at step %d of %d (%d samples seen, best %.3f dB at epoch %d)", self.checkpoint,
                 self.step_no, self.total_steps, self.step_no * self.recipe.batch, self.best, self.best_epoch)

    @property
    def total_steps(self) -> int:
        return self.recipe.epochs * self.steps_per_epoch

    # ---- a step ------------------------------------------------------------------------------
    def step(self) -> None:
        """One batch: the learning rate of this step, a random rotation of random patches, Adam, the EMA."""
        recipe = self.recipe
        factor = lr_factor(recipe, self.step_no, self.steps_per_epoch)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * factor
        if self.graphs:  # the previous step's graph outputs are done with
            torch.compiler.cudagraph_mark_step_begin()
        lr_patch, hr_patch = sample_batch(self.data, recipe, self.sampler)
        k = int(torch.randint(0, 8, (1,), generator=self.rotations))
        x = dihedral(lr_patch, k).unsqueeze(1).float().div_(255)
        target = dihedral(hr_patch, k).unsqueeze(1).float().div_(255)
        with torch.autocast(self.dev.type, dtype=torch.bfloat16, enabled=self.amp):
            output = self.forward(x)
        loss = self.loss_fn(output.float(), target)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.ema is not None:
            _update_ema(self.ema, self.model, recipe.ema, self.step_no)
        self.loss_sum += loss.detach()
        self.step_no += 1

    # ---- validation --------------------------------------------------------------------------
    def end_epoch(self, epoch: int, seconds: float, steps: int, time_budget_minutes: Optional[float]) -> None:
        """Validate, keep the weights if they are the best so far, and log the epoch (``steps`` of it ran
        in this session, in ``seconds``). After the warm epochs, a time budget sets the number of epochs."""
        recipe = self.recipe
        rate = steps * recipe.batch / seconds
        mean_loss = float(self.loss_sum) / self.steps_per_epoch
        self.loss_sum.zero_()
        score = validate(self.evaluated, self.val_pairs, recipe.scale, self.dev)
        if (epoch == recipe.warm_epochs and time_budget_minutes is not None
                and "epochs_chosen_for_time_budget_minutes" not in self.meta):
            per_epoch = seconds / steps * self.steps_per_epoch / 60
            recipe.epochs = max(epoch, epoch + int((time_budget_minutes - self.minutes()) / per_epoch))
            self.meta["epochs_chosen_for_time_budget_minutes"] = time_budget_minutes
            log.info("epoch %d took %.2f min: %d epochs fit in %.1f minutes", epoch, per_epoch,
                     recipe.epochs, time_budget_minutes)
        improved = self.record(epoch, score, mean_loss)
        log.info("epoch %d/%d: loss %.3e, validation PSNR %.3f dB%s, %.0f samples/s, %d samples (%.1f min)",
                 epoch, recipe.epochs, mean_loss, score, " (best, saved)" if improved else "", rate,
                 self.step_no * recipe.batch, self.curve[-1]["minutes"])

    def minutes(self) -> float:
        """Minutes of training so far, every session of the run."""
        return (self.elapsed + time.monotonic() - self.started) / 60

    def record(self, epoch: int, score: float, mean_loss: Optional[float]) -> bool:
        """A point on the curve; the weights are saved when it is the best so far."""
        minutes = self.minutes()
        samples = self.step_no * self.recipe.batch
        self.curve.append({"epoch": epoch, "samples": samples, "psnr": round(score, 4),
                           "loss": mean_loss, "minutes": round(minutes, 2)})
        self.meta.update(recipe=_plain(asdict(self.recipe)), samples_seen=samples, curve=self.curve)
        if not score > self.best:  # NaN never is
            return False
        self.best, self.best_epoch, self.best_state = score, epoch, _cpu_state(self.evaluated)
        self.meta.update(best_epoch=epoch, validation_psnr=round(score, 3), minutes=round(minutes, 2))
        weight_files.save(self.evaluated, self.out, self.meta)
        return True

    # ---- checkpoint --------------------------------------------------------------------------
    def snapshot(self) -> Dict[str, Any]:
        """Everything a resumed session needs to go on exactly as this one would have."""
        return {
            "format": CHECKPOINT_FORMAT, "recipe": _plain(asdict(self.recipe)), "requested": self.requested,
            "training_files": self.names, "step": self.step_no, "samples": self.step_no * self.recipe.batch,
            "model": _cpu_state(self.model), "ema": _cpu_state(self.ema) if self.ema is not None else None,
            "optimizer": self.optimizer.state_dict(), "epoch_loss_sum": self.loss_sum.detach().cpu(),
            "best": {"psnr": self.best, "epoch": self.best_epoch, "state_dict": self.best_state},
            "rng": _rng_states(self.sampler, self.rotations), "curve": self.curve, "meta": self.meta,
            "elapsed_seconds": self.elapsed + time.monotonic() - self.started,
        }

    # ---- the loop ----------------------------------------------------------------------------
    def epochs(self, time_budget_minutes: Optional[float], checkpoint_every_minutes: Optional[float]) -> None:
        """Steps and epochs to the end, a checkpoint every few minutes and at the end; a signal stops the
        loop after its step (never half a step) and the checkpoint is written."""
        recipe, every, per_epoch = self.recipe, checkpoint_every_minutes, self.steps_per_epoch
        stop = threading.Event()
        with interrupts.instead(stop.set):
            last_save = time.monotonic()
            while self.step_no < self.total_steps and not stop.is_set():
                epoch, first = self.step_no // per_epoch + 1, self.step_no
                end = epoch * per_epoch
                epoch_start = time.monotonic()
                bar = tqdm(total=per_epoch, initial=self.step_no - (epoch - 1) * per_epoch, unit="sample",
                           unit_scale=recipe.batch, desc=f"epoch {epoch}/{recipe.epochs}", leave=False,
                           disable=not self.progress)  # counts steps, shows samples and samples/s
                while self.step_no < end and not stop.is_set():
                    if every is not None and time.monotonic() - last_save >= every * 60:
                        save_checkpoint(self.checkpoint, self.snapshot())
                        last_save = time.monotonic()
                    self.step()
                    bar.update()
                bar.close()
                if self.step_no < end:  # stopped inside the epoch
                    break
                self.end_epoch(epoch, time.monotonic() - epoch_start, self.step_no - first, time_budget_minutes)
            save_checkpoint(self.checkpoint, self.snapshot())

    def finish(self) -> dict:
        """The best weights with the whole run's curve, or ``VsrError`` (exit 130) when a signal stopped it."""
        if self.step_no < self.total_steps:
            raise VsrError(f"interrupted at step {self.step_no} of {self.total_steps}: checkpoint {self.checkpoint} "
                           "written; continue with the same command and --resume", exit_code=130)
        _save_weights(self.out, self.recipe.scale, self.best_state, self.meta)
        return self.meta
