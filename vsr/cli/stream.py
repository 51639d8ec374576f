"""The streaming options of ``vsr upscale`` (network inputs, real time, reconnection) and their output.

Kept apart from ``upscale.py`` so the option parsing, the live progress line and the summary of a
stream live in one place; the work itself is in ``vsr.video.network`` and ``vsr.video.realtime``.
"""
import argparse
from dataclasses import dataclass, field
import sys
from typing import Any, Dict, List, Optional

from ..errors import VsrError

REALTIME_CHOICES = ("drop", "bicubic", "off")
DEFAULT_RECONNECT_S = 60.0


def add_stream_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("streams")
    g.add_argument("-I", "--input-option", action="append", default=[], metavar="KEY=VALUE",
                   help="FFmpeg option for reading the input (repeatable), e.g. -I rtsp_transport=udp, "
                        "-I listen=1 to wait for an RTMP sender, -I rtsp_flags=listen")
    g.add_argument("-O", "--output-option", action="append", default=[], metavar="KEY=VALUE",
                   help="FFmpeg option for the output's muxer (repeatable), over vsr's defaults, e.g. "
                        "-O hls_list_size=0 to keep every HLS segment, -O hls_time=4")
    g.add_argument("--realtime", choices=REALTIME_CHOICES,
                   help="when SR is slower than a live input: drop the oldest waiting frames (default for "
                        "live streams), send bicubic frames in their place, or off: process every frame "
                        "(default for files)")
    g.add_argument("--reconnect", type=float, nargs="?", const=DEFAULT_RECONNECT_S, metavar="SECONDS",
                   help="when a live input stalls or disconnects, keep reopening it for up to SECONDS "
                        f"(default {DEFAULT_RECONNECT_S:g}) and resume the output; without it the run "
                        "ends with exit code 1")


@dataclass
class StreamSettings:
    input_options: Dict[str, str] = field(default_factory=dict)
    realtime: Optional[str] = None
    reconnect: Optional[float] = None
    live: bool = False

    def pipeline_arguments(self, progress: Optional["LiveProgress"]) -> Dict[str, Any]:
        from ..video.network import Realtime
        return dict(input_options=self.input_options,
                    realtime=Realtime(self.realtime) if self.realtime else None,
                    reconnect=self.reconnect, status=progress.update if progress else None)


def stream_settings(args: argparse.Namespace) -> StreamSettings:
    from ..video.network import is_live, is_url
    options = key_values(args.input_option, "input option")
    if args.reconnect is not None and args.reconnect <= 0:
        raise VsrError("--reconnect must be a positive number of seconds", exit_code=2)
    if args.reconnect is not None and not is_live(args.input):
        raise VsrError("--reconnect applies to live stream inputs (rtsp, rtmp, udp, tcp, srt)", exit_code=2)
    if args.realtime in ("drop", "bicubic") and not is_url(args.input):
        raise VsrError("--realtime drop/bicubic applies to streams: a file is read as fast as it decodes, "
                       "so most of its frames would be dropped", exit_code=2)
    if options and not is_url(args.input):
        raise VsrError("--input-option applies to stream URLs; a file is read as it is", exit_code=2)
    live = is_live(args.input) and args.realtime != "off" or args.realtime in ("drop", "bicubic")
    return StreamSettings(options, args.realtime, args.reconnect, live=live)


def key_values(pairs: List[str], what: str) -> Dict[str, str]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise VsrError(f"{what} must be KEY=VALUE, not {pair!r}", exit_code=2)
        options[key] = value
    return options


class LiveProgress:
    """A progress line for a live stream, which has no frame total: frames, fps, latency, drops."""

    def __init__(self):
        from tqdm import tqdm
        self.bar = tqdm(total=None, unit="frame", file=sys.stderr, dynamic_ncols=True, leave=False)

    def update(self, status: Any) -> None:
        self.bar.update(status.frames - self.bar.n)
        shed = f"dropped {status.dropped}" + (f", bicubic {status.fallback}" if status.fallback else "")
        self.bar.set_postfix_str(f"{status.fps:.1f} fps, latency {status.latency_ms:.0f} ms, {shed}", refresh=False)

    def close(self) -> None:
        self.bar.close()


def live_progress(settings: StreamSettings, disabled: bool) -> Optional[LiveProgress]:
    return LiveProgress() if settings.live and not disabled else None


def summary_line(summary: Any) -> str:
    """The run in one line; a live run says how it kept up instead of how much of a file it did."""
    line = f"{summary.frames} frames in {summary.seconds:.1f} s ({summary.fps:.2f} fps) -> {summary.output}"
    if not summary.live:
        return line
    seen = summary.frames + summary.dropped
    share = 100 * summary.dropped / seen if seen else 0.0
    extra = (f"; latency in vsr median {summary.latency_ms:.0f} ms, p95 {summary.latency_p95_ms:.0f} ms; "
             f"dropped {summary.dropped} ({share:.1f}%)")
    if summary.fallback:
        extra += f", bicubic {summary.fallback}"
    if summary.reconnects:
        extra += f", reconnected {summary.reconnects}x"
    return line + extra
