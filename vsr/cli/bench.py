"""``vsr bench``: quality and speed on the Xiph 1080p clips (or any clips), ESPCN beside bicubic."""
import argparse
import logging
from pathlib import Path
from typing import List, Sequence, Tuple

from ..bench import xiph
from ..errors import VsrError
from .common import add_model_arguments, build_upscaler, check_output

log = logging.getLogger(__name__)

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "samples"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench", help="PSNR and fps on the Xiph 1080p video set (or any clips)",
        description="HR frames are degraded with MATLAB-compatible bicubic, brought back by ESPCN and by "
                    "bicubic, and scored on Y (8-bit, border shaved by the scale); decode, SR and end-to-end "
                    "speeds are timed with a warm-up excluded. Without CLIPs: the downloaded Xiph clips, "
                    "else the bundled samples.",
        epilog="examples:\n  vsr bench --download                 fetch the default Xiph subset (~10 GB)\n"
               "  vsr bench --scale 3 --frames 50 --plot psnr.png\n"
               "  vsr bench clip.mp4 --scale 4 --json out.json --csv out.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("clips", nargs="*", metavar="CLIP",
                   help=f"video files or Xiph clip names ({', '.join(xiph.CATALOGUE)}; "
                        "with --download also 'all')")
    add_model_arguments(p)
    p.add_argument("--hwaccel", choices=("none", "cuda"), default="none",
                   help="cuda: decode the clips with the GPU's NVDEC where it can, else warn and decode in software")
    p.add_argument("--no-ssim", action="store_true", help="PSNR only (faster)")
    p.add_argument("--no-e2e", action="store_true", help="skip the end-to-end pipeline timing")
    p.add_argument("--json", type=Path, help="write results with per-frame arrays as JSON")
    p.add_argument("--csv", type=Path, help="write per-frame PSNR/SSIM as CSV")
    p.add_argument("--plot", type=Path, metavar="FILE.png", help="draw per-frame PSNR, one panel per clip")
    p.add_argument("-y", "--overwrite", action="store_true", help="replace existing --json/--csv/--plot files")
    g = p.add_argument_group("Xiph clips")
    g.add_argument("--download", action="store_true",
                   help="download CLIPs (default: the documented subset of eight) into the cache, then stop")
    g.add_argument("--list", action="store_true", help="list the Xiph catalogue and what is downloaded")
    g.add_argument("--cache-dir", type=Path, help="where clips are kept (default $XDG_CACHE_HOME/vsr/xiph)")
    g.add_argument("--mirror", metavar="URL", help=f"download from URL instead of {xiph.BASE_URL}")
    g.add_argument("--no-progress", action="store_true", help="no download progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..bench import download, plot, report, run as bench_run

    cache = args.cache_dir or xiph.default_cache_dir()
    if args.list:
        print(_catalogue(cache))
        return 0
    if args.download:
        base = args.mirror or xiph.BASE_URL
        download.check_base_url(base, mirror=args.mirror is not None)
        for clip in xiph.lookup(args.clips or xiph.DEFAULT_SUBSET):
            path = download.fetch(clip, cache, base, progress=not args.no_progress)
            print(f"{clip.name}: {path}")
        return 0
    if args.mirror:
        raise VsrError("--mirror only applies with --download", exit_code=2)
    if args.plot and args.plot.suffix.lower() != ".png":
        raise VsrError(f"--plot writes a PNG file, not {args.plot.suffix or 'no extension'}", exit_code=2)
    for out in (args.json, args.csv, args.plot):
        if out is not None:
            check_output(out, args.overwrite)
    sources = _sources(args.clips, cache)
    upscaler = build_upscaler(args)
    batch = args.batch or upscaler.default_batch
    results = bench_run.measure(sources, upscaler, max_frames=args.frames, batch=batch,
                                with_ssim=not args.no_ssim, end_to_end=not args.no_e2e, hwaccel=args.hwaccel)
    env = report.environment(upscaler, batch)
    print(report.table(results, env))
    if args.json:
        report.write_json(args.json, results, env)
        print(f"per-frame results (JSON): {args.json}")
    if args.csv:
        report.write_text(args.csv, report.csv_text(results))
        print(f"per-frame results (CSV): {args.csv}")
    if args.plot:
        plot.write(args.plot, results, args.scale)
        print(f"per-frame PSNR plot: {args.plot}")
    return 0


def _sources(names: Sequence[str], cache: Path) -> List[Tuple[str, Path]]:
    """(name, path) of each clip to bench: files as given, Xiph names from the cache, or the fallback."""
    if names:
        return [_source(n, cache) for n in names]
    wanted = xiph.lookup(xiph.DEFAULT_SUBSET)
    found = [(p.stem, p) for p in xiph.cached(cache, wanted)]
    if found:
        if len(found) < len(wanted):
            log.info("benchmarking %d of the %d default Xiph clips (the rest are not downloaded)", len(found), len(wanted))
        return found
    samples = sorted(SAMPLES_DIR.glob("*.y4m"))
    gb = sum(c.expected_size for c in wanted) / 1e9
    log.warning("the Xiph 1080p clips are not downloaded (run 'vsr bench --download' to fetch the default %d, "
                "%.0f GB, into %s); benchmarking the bundled samples instead", len(wanted), gb, cache)
    if not samples:
        raise VsrError(f"no Xiph clips downloaded and no bundled samples in {SAMPLES_DIR}; "
                       "run 'vsr bench --download' or name a video file")
    return [(p.stem, p) for p in samples]


def _source(name: str, cache: Path) -> Tuple[str, Path]:
    path = Path(name)
    if path.is_file():
        return path.stem, path
    if name in xiph.CATALOGUE:
        cached = xiph.cache_path(cache, xiph.CATALOGUE[name])
        if cached.is_file():
            return cached.stem, cached
        raise VsrError(f"Xiph clip {name} is not downloaded; run 'vsr bench --download {name}'")
    raise VsrError(f"not a video file or a Xiph clip name: {name}")


def _catalogue(cache: Path) -> str:
    lines = [f"Xiph 1080p clips ({xiph.BASE_URL}); cache {cache}; * = default subset",
             f"{'clip':<18}{'fps':>4}{'frames':>8}{'seconds':>9}{'GB':>7}  downloaded"]
    for clip in xiph.CATALOGUE.values():
        mark = "*" if clip.name in xiph.DEFAULT_SUBSET else " "
        have = "yes" if xiph.cache_path(cache, clip).is_file() else "no"
        lines.append(f"{mark}{clip.name:<17}{int(clip.fps):>4}{clip.frames:>8}{clip.seconds:>9.1f}"
                     f"{clip.expected_size / 1e9:>7.2f}  {have}")
    return "\n".join(lines)
