"""``vsr live``: a camera or video super-resolved in a window, beside bicubic, in real time."""
import argparse
from pathlib import Path
import sys
from typing import TYPE_CHECKING, Optional

from .. import interrupts
from ..errors import VsrError
from .common import add_model_arguments, build_upscaler
from .stream import key_values

if TYPE_CHECKING:  # imported by run(), so that parsing needs no torch or OpenCV
    from ..live.app import Live, Stats
    from ..live.capture import Capture
    from ..live.record import Recording
    from ..live.window import PreviewWindow


KEYS = """keys in the window:
  q, Esc        quit
  space         pause / resume
  m             cycle ESPCN, split screen, side by side
  o             overlay (fps, latency, dropped frames) on / off
  s             save a PNG snapshot of the view (its name is printed)
  2, 3, 4       switch the scale
  arrows, drag  move the split screen's divider
Ctrl-C, SIGTERM or SIGHUP stop like q (a recording is kept) with exit code 130. --weights applies to --scale; the 2/3/4 keys use the
shipped weights for the other scales.

examples:
  vsr live                                          camera 0, x3
  vsr live --camera 1 --size 640x360 --scale 3      640x360 to 1080p
  vsr live --source samples/dog_320x180.y4m --loop  the bundled clip, over and over
  vsr live --source clip.mp4 --no-window --frames 100
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "live", help="live preview of a camera or video, ESPCN beside bicubic",
        description="Show a camera (or a video played as if it were one) upscaled in real time, "
                    "ESPCN beside bicubic. Frames that arrive while the previous one is still being "
                    "upscaled are dropped, never queued, so the picture does not lag.",
        epilog=KEYS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("--camera", type=int, metavar="N", help="camera number (default 0)")
    source.add_argument("--source", metavar="FILE_OR_URL",
                        help="a video file or stream URL (rtsp://, rtmp://, udp://, tcp://, http(s)://) instead "
                             "of a camera")
    p.add_argument("-I", "--input-option", action="append", default=[], metavar="KEY=VALUE",
                   help="FFmpeg option for reading a --source URL (repeatable), e.g. -I rtsp_transport=udp")
    add_model_arguments(p, ("scale", "device", "weights", "precision", "backend", "tile", "frames"))
    p.add_argument("--size", metavar="WxH", help="capture size (frames are resized to it)")
    p.add_argument("--max-frames", type=int, dest="frames", help=argparse.SUPPRESS)  # its name before 0.2
    p.add_argument("--loop", action="store_true",
                   help="play a --source file again from the start when it ends (default: stop there)")
    p.add_argument("--record", type=Path, metavar="FILE",
                   help="also write the upscaled stream to FILE (mp4, mkv, ...; the scale keys are then off)")
    p.add_argument("-y", "--overwrite", action="store_true", help="replace an existing --record file")
    p.add_argument("--no-window", action="store_true", help="run headless, printing the fps figures")
    p.add_argument("--snapshot-dir", type=Path, default=Path("."), metavar="DIR",
                   help="where the s key saves PNG snapshots (default: the current folder)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..live.capture import open_camera, open_source, parse_size
    from ..live.record import Recording
    from ..live.window import PreviewWindow

    if args.loop and args.source is None:
        raise VsrError("--loop plays a --source file again; a camera does not end", exit_code=2)
    size = parse_size(args.size) if args.size else None
    if not args.snapshot_dir.is_dir():
        raise VsrError(f"snapshot folder does not exist: {args.snapshot_dir}")
    recording = Recording(args.record, args.overwrite, args.source or "-") if args.record else None
    window = None if args.no_window else PreviewWindow()
    capture = None
    try:
        capture = (open_source(args.source, size, key_values(args.input_option, "input option"), loop=args.loop)
                   if args.source is not None
                   else open_camera(args.camera or 0, size))
        live = _live(args, capture, window, recording)
        stats = _run_until_stopped(live)
    except BaseException:
        if recording is not None:
            kept = recording.abort()
            if kept:
                print(f"recorded (partial): {kept}", flush=True)
        raise
    finally:
        if window is not None:
            window.close()
        if capture is not None:
            capture.close()
    if recording is not None:
        saved = recording.close()
        print(f"recorded: {saved} ({recording.frames} frames)" if saved else "recorded nothing: no frame came",
              flush=True)
    _summary(stats)
    if interrupts.requested():  # stopped as q stops it, but by a signal: the exit code says so
        print("vsr: interrupted", file=sys.stderr)
        return interrupts.EXIT_INTERRUPTED
    return 0


def _live(args: argparse.Namespace, capture: "Capture", window: Optional["PreviewWindow"],
          recording: Optional["Recording"]) -> "Live":
    """The session: one Upscaler per scale, made when first asked for; figures printed when headless."""
    from ..live.app import Live

    return Live(
        capture,
        lambda scale: build_upscaler(args, scale),
        args.scale,
        window=window,
        snapshot_dir=args.snapshot_dir,
        recorder=recording,
        max_frames=args.frames,
        on_snapshot=lambda path: print(f"snapshot: {path}", flush=True),
        on_stats=lambda stats: print(stats.line(), flush=True),
        on_end=lambda name, frames: print(f"{name} ended after {frames} frames (--loop plays it again)"
                                          + ("; q closes the window" if window is not None else ""), flush=True),
    )


def _run_until_stopped(live: "Live") -> "Stats":
    """Run the loop; Ctrl-C, SIGTERM or SIGHUP end it as q does (headless, that is the way to stop)."""
    with interrupts.instead(live.stop):
        return live.run()


def _summary(stats: "Stats") -> None:
    print(f"vsr live: {stats.frames} frames in {stats.seconds:.1f} s on {stats.device} at x{stats.scale}: "
          f"SR {stats.sr_fps:.1f} fps, capture {stats.capture_fps:.1f} fps, "
          f"mean latency {stats.latency_ms:.0f} ms, dropped {stats.dropped}", flush=True)
