"""``vsr upscale ... --ray ADDRESS``: the command-line side of scale-out (arguments, checks, messages).

``vsr.cli.upscale`` adds these arguments and calls ``run_ray`` only when ``--ray`` is given, so the
ordinary path never imports Ray. The workers get the model flags as one ``UpscalerSpec``, the same value
the single-machine path builds its ``Upscaler`` from.
"""
import argparse
import logging
from pathlib import Path
import sys
from typing import TYPE_CHECKING, List, Tuple

from ..cluster import DEFAULT_SECONDS
from ..errors import VsrError
from .common import FrameProgress, model_spec

if TYPE_CHECKING:
    from ..video.encode import EncodeOptions

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("scale-out on Ray (needs the vsr[ray] extra)")
    g.add_argument("--ray", metavar="ADDRESS",
                   help="cut the video at keyframes and upscale the segments on Ray workers: 'local' starts "
                        "Ray here, 'auto' joins the running cluster (or RAY_ADDRESS), ray://HOST:10001 a "
                        "remote one; INPUT and OUTPUT may then be folders")
    g.add_argument("--workers", type=int, help="how many workers (default: one per GPU, else one per CPU)")
    g.add_argument("--segment-seconds", type=float, default=DEFAULT_SECONDS, metavar="S",
                   help=f"cut about every S seconds, at the next keyframe (default {DEFAULT_SECONDS:g})")
    g.add_argument("--work-dir", type=Path, metavar="DIR",
                   help="where finished segments wait to be joined (default: .vsr-work beside the output)")
    g.add_argument("--resume", action="store_true",
                   help="reuse the segments an interrupted run with the same input and options finished")


def run_ray(args: argparse.Namespace, options: "EncodeOptions") -> int:
    """Upscale one file or a folder of files on Ray; 0 when all succeed, 1 when any failed."""
    from ..cluster.scheduler import ClusterOptions, ClusterRun  # imports Ray, PyAV and torch

    pairs = _pairs(args)
    if args.workers is not None and args.workers < 1:
        raise VsrError(f"--workers must be at least 1, not {args.workers}", exit_code=2)
    cluster = ClusterOptions(
        model_spec(args), address=args.ray, batch=args.batch, hwaccel=args.hwaccel,
        encode=options, segment_seconds=args.segment_seconds,
        work_dir=args.work_dir, resume=args.resume, overwrite=args.overwrite, workers=args.workers,
    )
    bar = FrameProgress(disabled=args.no_progress or not sys.stderr.isatty())
    try:
        reports = ClusterRun(pairs, cluster, progress=bar.update).run()
    finally:
        bar.close()
    for r in reports:
        if r.error is None:
            reused = f", {r.reused} reused" if r.reused else ""
            log.info("%s: %d frames, %d segments%s, %.1f s -> %s", r.source, r.frames, r.segments, reused,
                     r.seconds, r.output)
        else:
            log.error("%s: %s", r.source, r.error)
    failed = sum(r.error is not None for r in reports)
    if failed and len(reports) > 1:
        log.error("%d of %d files failed", failed, len(reports))
    return 1 if failed else 0


def _pairs(args: argparse.Namespace) -> List[Tuple[Path, Path]]:
    """(input, output) pairs: one file, or every video in a folder into an output folder."""
    for name, what in ((args.input, "input"), (args.output, "output")):
        if name == "-":
            raise VsrError(f"--ray cannot use standard {'input' if what == 'input' else 'output'}: name a file",
                           exit_code=2)
    if args.frames is not None:  # segments are cut from the whole file before any frame is decoded
        raise VsrError("--frames is not supported with --ray: the video is cut into segments of the whole "
                       "file (cut it first, e.g. with ffmpeg -frames:v N)", exit_code=2)
    if (args.format or Path(args.output).suffix.lower()) in ("yuv4mpegpipe", "y4m", ".y4m"):
        raise VsrError("--ray cannot write y4m (raw frames cannot be joined by stream copy)", exit_code=2)
    source, output = Path(args.input), Path(args.output)
    if not source.is_dir():
        return [(source, output)]
    if output.exists() and not output.is_dir():
        raise VsrError(f"input {source} is a folder, so the output must be a folder too, not {output}", exit_code=2)
    if output.resolve() == source.resolve():
        raise VsrError("the output folder must differ from the input folder", exit_code=2)
    from ..cluster.plan import videos_in

    videos = videos_in(source)
    if not videos:
        raise VsrError(f"no videos in {source}")
    try:
        output.mkdir(exist_ok=True)
    except OSError as exc:
        raise VsrError(f"cannot create {output}: {exc.strerror or exc}") from None
    return [(v, output / v.name) for v in videos]
